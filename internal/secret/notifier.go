package secret

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/labelwatch/labelwatch/internal/clock"
	"github.com/labelwatch/labelwatch/internal/slack"
)

// Sender delivers one Slack message, says where Slack put it and whether a
// failure is worth retrying, and what it can do: a *slack.Sender built from
// a credential.
type Sender interface {
	Send(ctx context.Context, m slack.Message) (slack.Posted, bool, error)
	Capabilities() slack.Capabilities
}

// DefaultMaxAge is how long a credential read from the secret is used
// before Capabilities reads the secret again, though Slack still takes it: a
// secret rotated from a webhook to a bot token (which keeps cards) or back,
// its old credential still working, takes effect within it.
const DefaultMaxAge = 15 * time.Minute

// DefaultRecheck is how long after a read that found the credential
// unchanged a refused Send does not read the secret again. A credential
// revoked and not yet replaced then costs one read per minute, however many
// alerts a run sends, not one per alert.
const DefaultRecheck = time.Minute

// Notifier delivers messages with the Slack credential held in one secret.
// It reads the secret when it is made, keeps the credential in memory, and
// reads it again when Slack says the credential no longer works
// (slack.ErrInvalidCredential): if the secret then holds another one, the
// refused message is sent once more, at once, with it. It also reads it
// again when asked for its Capabilities DefaultMaxAge after the last read,
// so that a credential rotated while the old one still works is taken up.
// That is the whole of its retrying: whether and when to retry any other failure stays with the
// caller (watch.Retrier), to whom each Send answers as its Sender does.
//
// A Notifier is safe for concurrent use. Sends refused together cause one
// read of the secret.
type Notifier struct {
	reader  *Reader
	build   func(Slack) Sender
	log     *slog.Logger
	clock   clock.Clock
	recheck time.Duration
	maxAge  time.Duration

	refreshing sync.Mutex // held while the secret is read again

	mu      sync.Mutex // guards the fields below
	cred    Slack
	sender  Sender
	version int       // counts the credentials taken into use
	checked time.Time // when a read last found cred unchanged; zero if none has
	read    time.Time // when the secret was last read
}

// NewNotifier reads the credential in reader's secret and returns a
// Notifier that sends through build(credential). build must not fail: a
// Sender reports a credential it cannot use on each Send. c is the clock
// of the recheck interval (DefaultRecheck) and of the credential's age
// (DefaultMaxAge).
func NewNotifier(ctx context.Context, reader *Reader, build func(Slack) Sender, log *slog.Logger, c clock.Clock) (*Notifier, error) {
	cred, err := reader.Read(ctx)
	if err != nil {
		return nil, err
	}
	return &Notifier{
		reader: reader, build: build, log: log.With("secret", reader.ARN()), clock: c, recheck: DefaultRecheck, maxAge: DefaultMaxAge,
		cred: cred, sender: build(cred), version: 1, read: c.Now(),
	}, nil
}

// String describes where n delivers, without the credential.
func (n *Notifier) String() string {
	sender, _ := n.current()
	return fmt.Sprintf("%v, credential from secret %s", sender, n.reader.ARN())
}

// Send delivers m as its Sender does (see slack.Sender.Send) and answers
// where Slack put it. When Slack refuses the credential, Send reads the
// secret again and, if it holds another credential, sends m once more with
// it. A message posted or edited with one bot token stays editable with the
// next one as long as both belong to the same app.
func (n *Notifier) Send(ctx context.Context, m slack.Message) (slack.Posted, bool, error) {
	sender, version := n.current()
	posted, retry, err := sender.Send(ctx, m)
	if err == nil || !errors.Is(err, slack.ErrInvalidCredential) {
		return posted, retry, err
	}
	fresh, rerr := n.refresh(ctx, version)
	switch {
	case rerr != nil:
		// The refusal is the news; the failed read says why it stands.
		return slack.Posted{}, false, fmt.Errorf("%w (and reading the secret again failed: %w)", err, rerr)
	case fresh == nil:
		return posted, retry, err
	}
	return fresh.Send(ctx, m)
}

// Capabilities are those of the credential in use: a bot token edits, a
// webhook does not. A run asks for them as it starts; when the credential
// was read DefaultMaxAge ago or more, Capabilities first reads the secret
// again (within the Reader's timeout), so a secret rotated from a webhook to
// a bot token or back, the old credential still working, takes effect at
// the start of a run, never part way through one.
func (n *Notifier) Capabilities() slack.Capabilities {
	n.renew(context.Background())
	sender, _ := n.current()
	return sender.Capabilities()
}

// renew reads the secret again when the credential in use was read
// DefaultMaxAge ago or more, and takes what it holds into use. A read that
// fails leaves the credential in use, to be tried again a DefaultMaxAge on.
func (n *Notifier) renew(ctx context.Context) {
	n.mu.Lock()
	stale := n.clock.Now().Sub(n.read) >= n.maxAge
	n.mu.Unlock()
	if !stale {
		return
	}
	n.refreshing.Lock()
	defer n.refreshing.Unlock()
	n.mu.Lock()
	stale = n.clock.Now().Sub(n.read) >= n.maxAge // another Send may have renewed it meanwhile
	n.mu.Unlock()
	if !stale {
		return
	}
	fresh, err := n.reader.Read(ctx)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.read = n.clock.Now()
	switch {
	case err != nil:
		n.log.Warn("reading the Slack secret again failed; the credential in use stays", "error", err)
	case !fresh.Same(n.cred):
		n.adopt(fresh)
		n.log.Info("the Slack secret holds a new credential; taken into use")
	}
}

// adopt takes cred into use, from a new version on. n.mu must be held.
func (n *Notifier) adopt(cred Slack) {
	n.cred, n.sender, n.version, n.checked = cred, n.build(cred), n.version+1, time.Time{}
}

// current is the sender in use and the version of its credential.
func (n *Notifier) current() (Sender, int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.sender, n.version
}

// refresh reads the secret again after Slack refused the credential of
// version. It returns the sender of a newer credential, or nil when the
// secret holds the same one or was read too recently to be worth reading
// again. One refresh runs at a time, and one that finds another has already
// taken a newer credential into use takes that without a read.
func (n *Notifier) refresh(ctx context.Context, version int) (Sender, error) {
	n.refreshing.Lock()
	defer n.refreshing.Unlock()
	n.mu.Lock()
	sender, current, checked, cred := n.sender, n.version, n.checked, n.cred
	n.mu.Unlock()
	if current != version {
		return sender, nil
	}
	if !checked.IsZero() && n.clock.Now().Sub(checked) < n.recheck {
		return nil, nil
	}
	fresh, err := n.reader.Read(ctx)
	if err != nil {
		n.log.Error("slack refused the credential, and reading its secret again failed", "error", err)
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.read = n.clock.Now()
	if fresh.Same(cred) {
		n.checked = n.clock.Now()
		n.log.Error("slack refused the credential, and its secret still holds the same one: replace it in the secret")
		return nil, nil
	}
	n.adopt(fresh)
	n.log.Info("slack refused the credential; took the new one from its secret and retrying the message")
	return n.sender, nil
}
