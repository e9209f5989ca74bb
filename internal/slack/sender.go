package slack

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"

	slackapi "github.com/slack-go/slack"

	"github.com/labelwatch/labelwatch/internal/clock"
)

// Modes a Sender delivers in.
const (
	ModeWebhook = "webhook"
	ModeBot     = "bot"
	ModePrint   = "print"
)

// Capabilities are what a notifier can do besides posting a message. Every
// notifier states them, and a wrapper (a credential read from a secret, the
// mentions of failures, a tee) states those of what it wraps, so that no
// layer hides them: whether a job gets a living card depends on them.
type Capabilities struct {
	// Edit: the notifier can replace a message it posted (chat.update) and
	// reply in its thread. A bot token can; an incoming webhook cannot.
	Edit bool
	// Channel is the ID of the channel new messages go to, as Slack
	// answers it (C0123456789), or "" while it is not known: a webhook's,
	// or a channel configured by name before the first post answered its
	// ID. A card in another channel is not where the job's news goes now.
	Channel string
}

// Sender delivers messages to one Slack destination, by incoming webhook or
// by chat.postMessage and chat.update with a bot token. Each Send is one
// attempt; it says whether a failure is worth retrying and leaves when and
// how often to the caller. A Sender is safe for concurrent use, and neither its errors nor its
// String ever contain the webhook URL or the token.
type Sender struct {
	mode          string
	webhook       string           // the incoming webhook URL, a secret
	api           *slackapi.Client // the Web API client, for ModeBot
	channel       string
	hc            *http.Client // the caller's client, its transport recording answers
	clock         clock.Clock  // what a Retry-After date is counted from
	destination   string       // where s delivers, without secrets, for String
	misconfigured error        // why s cannot deliver, found up front; every Send returns it
	secrets       []string     // strings no error may contain

	mu        sync.Mutex // guards channelID
	channelID string     // channel's ID: channel itself when it is one, else as the first post answered it
}

// NewWebhookSender returns a Sender that posts to the incoming webhook at
// webhookURL with hc (nil means a client without a timeout, so the context
// of each Send bounds it), counting a Retry-After date from the time on c
// (nil means clock.System{}). A malformed URL is reported, as a final
// error, by every Send.
func NewWebhookSender(webhookURL string, hc *http.Client, c clock.Clock) *Sender {
	s := &Sender{mode: ModeWebhook, webhook: webhookURL, hc: recordingClient(hc), clock: orSystem(c), destination: "slack incoming webhook"}
	s.secrets = webhookSecrets(webhookURL)
	u, err := url.Parse(webhookURL)
	switch {
	case err != nil || webhookURL == "":
		s.misconfigured = errors.New("post to slack webhook: the webhook URL is empty or not a URL")
	case u.Scheme != "https" && u.Scheme != "http" || u.Host == "":
		s.misconfigured = errors.New("post to slack webhook: the webhook URL is not an http(s) URL with a host")
	default:
		s.destination += " at " + u.Scheme + "://" + u.Host + "/" + redacted
	}
	return s
}

// webhookSecrets are the parts of a webhook URL that grant posting: the URL,
// its path and each long path segment (Slack's are team, hook and secret).
func webhookSecrets(webhookURL string) []string {
	secrets := []string{webhookURL}
	u, err := url.Parse(webhookURL)
	if err != nil {
		return secrets
	}
	if len(u.Path) >= 8 {
		secrets = append(secrets, u.Path)
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if len(seg) >= 8 && seg != "services" {
			secrets = append(secrets, seg)
		}
	}
	if len(u.RawQuery) >= 8 {
		secrets = append(secrets, u.RawQuery)
	}
	return secrets
}

// NewBotSender returns a Sender that calls chat.postMessage (and
// chat.update, for an edit) with token to post in channel (an ID such as
// C0123456789, or a name), using hc (nil means a client without a timeout)
// against the Web API at apiURL ("" means Slack's own,
// https://slack.com/api/), and counting a Retry-After date from the time on
// c (nil means clock.System{}).
func NewBotSender(token, channel, apiURL string, hc *http.Client, c clock.Clock) *Sender {
	if apiURL == "" {
		apiURL = slackapi.APIURL
	}
	if !strings.HasSuffix(apiURL, "/") {
		apiURL += "/" // slack-go appends the method name
	}
	s := &Sender{mode: ModeBot, channel: channel, hc: recordingClient(hc), clock: orSystem(c)}
	if channelIDPattern.MatchString(channel) {
		s.channelID = channel
	}
	if token != "" {
		s.secrets = []string{token}
	}
	s.api = slackapi.New(token, slackapi.OptionAPIURL(apiURL), slackapi.OptionHTTPClient(s.hc))
	s.destination = "slack chat.postMessage to channel " + strconv.Quote(channel) + " at " + apiURL
	u, err := url.Parse(apiURL)
	switch {
	case token == "":
		s.misconfigured = errors.New("chat.postMessage: no bot token")
	case channel == "":
		s.misconfigured = errors.New("chat.postMessage: no channel")
	case err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "":
		s.misconfigured = errors.New("chat.postMessage: the Web API URL is not an http(s) URL with a host")
		s.destination = "slack chat.postMessage to channel " + strconv.Quote(channel)
	}
	return s
}

// orSystem is c, or the system clock for a nil c.
func orSystem(c clock.Clock) clock.Clock {
	if c == nil {
		return clock.System{}
	}
	return c
}

// channelIDPattern matches a conversation ID (a public or private
// channel's, or a direct message's), as opposed to a channel's name.
var channelIDPattern = regexp.MustCompile(`^[CGD][A-Z0-9]{6,}$`)

// Capabilities says what s can do: edit and reply with a bot token, not
// with a webhook, and the ID of its channel once known.
func (s *Sender) Capabilities() Capabilities {
	if s.mode != ModeBot {
		return Capabilities{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return Capabilities{Edit: true, Channel: s.channelID}
}

// String describes where s delivers, without the webhook's path or the
// token, so it can go in logs.
func (s *Sender) String() string { return s.destination }

// Send makes one attempt to deliver m and says where Slack put it. With a
// bot token, a message with m.Edit set replaces the text and blocks of that
// message (chat.update; an Edit without a Channel means s's channel) and
// answers where it is; one with m.Thread set (and no Edit, which comes
// first) is posted as a reply under that message, shown in the channel too
// when m.Broadcast; any other is posted in s's channel. An incoming webhook
// can neither edit nor reply: it posts every m as a new message in its
// channel, Edit and Thread notwithstanding, and Send answers a zero Posted,
// since a webhook does not say where the message went.
//
// Send reports retry true when trying again later may succeed: HTTP 5xx,
// 429 (the error then has a RetryAfter method saying how long to wait, and
// wraps a *slackapi.RateLimitedError), network errors and timeouts, and
// answers that show Slack may not have posted. It reports false for
// failures that need a person (invalid_auth, channel_not_found, no_service,
// other 4xx) and when ctx is done, since the caller is then stopping anyway.
// An error that shows the credential is no longer valid wraps
// ErrInvalidCredential; one that shows Slack refused the message itself
// (too long, invalid blocks) wraps ErrRejected; one that shows the message
// to edit or reply under is gone wraps ErrNotEditable. Send never posts
// m.Fallback nor posts an edit anew: those are the caller's choices.
func (s *Sender) Send(ctx context.Context, m Message) (Posted, bool, error) {
	if s.misconfigured != nil {
		return Posted{}, false, s.misconfigured
	}
	if m.To.Webhook != "" {
		return Posted{}, false, fmt.Errorf("post to slack webhook %q: %w", m.To.Webhook, errNoWebhooks)
	}
	if s.mode == ModeWebhook {
		if m.To.Channel != "" {
			return Posted{}, false, fmt.Errorf("post to channel %q: a route to a channel needs a bot token, and the credential is an incoming webhook", m.To.Channel)
		}
		retry, err := s.postWebhook(ctx, m)
		return Posted{}, retry, err
	}
	return s.postMessage(ctx, m)
}

func (s *Sender) postWebhook(ctx context.Context, m Message) (bool, error) {
	const op = "post to slack webhook"
	msg := &slackapi.WebhookMessage{Text: m.Text}
	if len(m.Blocks) > 0 {
		msg.Blocks = &slackapi.Blocks{BlockSet: m.Blocks}
	}
	if _, err := json.Marshal(msg); err != nil {
		return false, s.fail(op, fmt.Errorf("encode message: %w", err))
	}
	ans := &answer{keepBody: true}
	err := slackapi.PostWebhookCustomHTTPContext(context.WithValue(ctx, answerKey{}, ans), s.webhook, s.hc, msg)
	if err != nil {
		return s.classify(ctx, op, err, ans)
	}
	// slack-go checks only the status code. Slack's webhook answers "ok"
	// once it has posted; a 200 with anything else comes from something in
	// between (a proxy, a captive portal) or from a changed API, and the
	// message has most likely not been posted. That is retryable: a
	// duplicate alert is cheaper than a lost one, and the caller's retry
	// budget bounds the attempts.
	if body := strings.TrimSpace(string(ans.body)); body != "ok" {
		got := s.answerText(ans.body)
		if got == "" {
			got = "an empty answer"
		}
		return true, s.fail(op, fmt.Errorf("status 200 with %s, want \"ok\"", got))
	}
	return false, nil
}

// postMessage posts m with the Web API: chat.update for an edit,
// chat.postMessage for a reply or a new message.
func (s *Sender) postMessage(ctx context.Context, m Message) (Posted, bool, error) {
	var (
		op      string
		channel = s.channel
		opts    = []slackapi.MsgOption{slackapi.MsgOptionText(m.Text, false)}
		gone    func(code string) bool // whether an error code says the message to edit or reply under is gone
	)
	switch {
	case m.Edit != (Posted{}):
		if m.Edit.Channel != "" {
			channel = m.Edit.Channel
		}
		op = "chat.update of message " + strconv.Quote(m.Edit.TS) + " in channel " + strconv.Quote(channel)
		// Always send the blocks, "[]" for none: without them Slack keeps
		// the old ones, and an edit to a text-only message would show the
		// old card under the new text.
		opts = append(opts, slackapi.MsgOptionBlocks(m.Blocks...))
		gone = cannotEdit
	case m.Thread != (Posted{}):
		if m.Thread.Channel != "" {
			channel = m.Thread.Channel
		}
		op = "chat.postMessage in the thread of " + strconv.Quote(m.Thread.TS) + " in channel " + strconv.Quote(channel)
		opts = append(opts, slackapi.MsgOptionTS(m.Thread.TS))
		if m.Broadcast {
			opts = append(opts, slackapi.MsgOptionBroadcast())
		}
		gone = threadGone
	default:
		channel = cmp.Or(m.To.Channel, channel)
		op = "chat.postMessage to channel " + strconv.Quote(channel)
	}
	if _, err := json.Marshal(m.Blocks); err != nil {
		return Posted{}, false, s.fail(op, fmt.Errorf("encode blocks: %w", err))
	}
	if len(m.Blocks) > 0 && m.Edit == (Posted{}) {
		opts = append(opts, slackapi.MsgOptionBlocks(m.Blocks...))
	}
	ans := &answer{}
	actx := context.WithValue(ctx, answerKey{}, ans)
	var (
		gotChannel, ts string
		err            error
	)
	if m.Edit != (Posted{}) {
		gotChannel, ts, _, err = s.api.UpdateMessageContext(actx, channel, m.Edit.TS, opts...)
	} else {
		gotChannel, ts, err = s.api.PostMessageContext(actx, channel, opts...)
	}
	if err != nil {
		var api slackapi.SlackErrorResponse
		if gone != nil && errors.As(err, &api) && gone(api.Err) {
			return Posted{}, false, s.fail(op, notEditable{api})
		}
		retry, err := s.classify(ctx, op, err, ans)
		return Posted{}, retry, err
	}
	p := Posted{Channel: gotChannel, TS: ts}
	if m.Edit == (Posted{}) && m.Thread == (Posted{}) && m.To.Channel == "" && gotChannel != "" {
		s.mu.Lock()
		s.channelID = cmp.Or(s.channelID, gotChannel)
		s.mu.Unlock()
	}
	if m.Edit != (Posted{}) {
		// chat.update answers the channel and ts; should an answer lack
		// them, the message is still where it was.
		p.Channel, p.TS = cmp.Or(p.Channel, channel), cmp.Or(p.TS, m.Edit.TS)
	}
	return p, false, nil
}
