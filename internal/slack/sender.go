package slack

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	slackapi "github.com/slack-go/slack"
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

// defaultRetryAfter is the wait a 429 without a usable Retry-After header
// asks for: Slack's documented pace is about one message per second per
// channel.
const defaultRetryAfter = time.Second

// maxAnswer is how much of a webhook's answer body is kept: Slack's answers
// are a word ("ok", "no_service"), and anything longer is not from Slack.
const maxAnswer = 512

// redacted stands in for a webhook URL in errors.
const redacted = "<redacted>"

// ErrInvalidCredential marks a Send that Slack refused because the webhook
// URL or the bot token no longer grants posting: the Web API's invalid_auth,
// not_authed, token_revoked, token_expired and account_inactive, and a
// webhook's 403, 404 and 410 (a revoked, removed or disabled hook). Such a
// Send is final: the same credential will not start working. A caller that
// can fetch the credential anew (it may have been rotated) tests for this
// with errors.Is.
var ErrInvalidCredential = errors.New("slack refused the credential")

// ErrRejected marks a Send that Slack refused for the message itself: its
// blocks are too long or not valid Block Kit. The Web API says
// msg_blocks_too_long, invalid_blocks, invalid_blocks_format or
// msg_too_long (HTTP 200, ok false); a webhook answers 400 with
// invalid_payload, invalid_blocks or invalid_blocks_format. Such a Send is
// final: the same message is refused every time. A caller tests for it with
// errors.Is and posts the message's Fallback instead.
var ErrRejected = errors.New("slack refused the message")

// ErrNotEditable marks a Send of a Message with Edit or Thread set that Slack
// refused because the message to edit or reply under is gone or can no
// longer be changed: chat.update's message_not_found, cant_update_message
// and edit_window_closed, and a reply's thread_not_found,
// message_not_found and invalid_thread_ts (someone deleted the message, or
// the workspace's edit window closed), and, for either, is_archived,
// channel_not_found and not_in_channel (the message's channel is gone, or
// the bot left it). Such a Send is final; the caller
// tests for it with errors.Is and posts the message anew, without Edit or
// Thread.
var ErrNotEditable = errors.New("the message to edit or reply under is gone")

// Sender delivers messages to one Slack destination, by incoming webhook or
// by chat.postMessage and chat.update with a bot token. Each Send is one
// attempt; it says
// whether a failure is worth retrying and leaves when and how often to the
// caller. A Sender is safe for concurrent use, and neither its errors nor its
// String ever contain the webhook URL or the token.
type Sender struct {
	mode    string
	webhook string           // the incoming webhook URL, a secret
	api     *slackapi.Client // the Web API client, for ModeBot
	channel string
	hc      *http.Client // the caller's client, its transport recording answers
	where   string       // the destination without secrets, for String
	invalid error        // why this configuration cannot deliver, found up front
	secrets []string     // strings no error may contain

	mu        sync.Mutex // guards channelID
	channelID string     // channel's ID: channel itself when it is one, else as the first post answered it
}

// NewWebhookSender returns a Sender that posts to the incoming webhook at
// webhookURL with hc (nil means a client without a timeout, so the context
// of each Send bounds it). A malformed URL is reported, as a final error, by
// every Send.
func NewWebhookSender(webhookURL string, hc *http.Client) *Sender {
	s := &Sender{mode: ModeWebhook, webhook: webhookURL, hc: recordingClient(hc), where: "slack incoming webhook"}
	s.secrets = webhookSecrets(webhookURL)
	u, err := url.Parse(webhookURL)
	switch {
	case err != nil || webhookURL == "":
		s.invalid = errors.New("post to slack webhook: the webhook URL is empty or not a URL")
	case u.Scheme != "https" && u.Scheme != "http" || u.Host == "":
		s.invalid = errors.New("post to slack webhook: the webhook URL is not an http(s) URL with a host")
	default:
		s.where += " at " + u.Scheme + "://" + u.Host + "/" + redacted
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
// chat.update, for an edit) with token to post in channel (an ID such as C0123456789, or a name), using hc (nil
// means a client without a timeout) against the Web API at apiURL ("" means
// Slack's own, https://slack.com/api/).
func NewBotSender(token, channel, apiURL string, hc *http.Client) *Sender {
	if apiURL == "" {
		apiURL = slackapi.APIURL
	}
	if !strings.HasSuffix(apiURL, "/") {
		apiURL += "/" // slack-go appends the method name
	}
	s := &Sender{mode: ModeBot, channel: channel, hc: recordingClient(hc)}
	if channelIDPattern.MatchString(channel) {
		s.channelID = channel
	}
	if token != "" {
		s.secrets = []string{token}
	}
	s.api = slackapi.New(token, slackapi.OptionAPIURL(apiURL), slackapi.OptionHTTPClient(s.hc))
	s.where = "slack chat.postMessage to channel " + strconv.Quote(channel) + " at " + apiURL
	u, err := url.Parse(apiURL)
	switch {
	case token == "":
		s.invalid = errors.New("chat.postMessage: no bot token")
	case channel == "":
		s.invalid = errors.New("chat.postMessage: no channel")
	case err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "":
		s.invalid = errors.New("chat.postMessage: the Web API URL is not an http(s) URL with a host")
		s.where = "slack chat.postMessage to channel " + strconv.Quote(channel)
	}
	return s
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
func (s *Sender) String() string { return s.where }

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
	if s.invalid != nil {
		return Posted{}, false, s.invalid
	}
	if s.mode == ModeWebhook {
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
		gone    func(code string) bool // the error codes that say the message to edit or reply under is gone
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
		gone = goneEdit
	case m.Thread != (Posted{}):
		if m.Thread.Channel != "" {
			channel = m.Thread.Channel
		}
		op = "chat.postMessage in the thread of " + strconv.Quote(m.Thread.TS) + " in channel " + strconv.Quote(channel)
		opts = append(opts, slackapi.MsgOptionTS(m.Thread.TS))
		if m.Broadcast {
			opts = append(opts, slackapi.MsgOptionBroadcast())
		}
		gone = goneThread
	default:
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
	if m.Edit == (Posted{}) && m.Thread == (Posted{}) && gotChannel != "" {
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

// goneEdit reports whether a chat.update error code says the message cannot
// be edited any more: deleted, not the app's to edit, or past the
// workspace's edit window (chat.update's documented errors).
func goneEdit(code string) bool {
	switch code {
	case "message_not_found", "cant_update_message", "edit_window_closed":
		return true
	}
	return goneChannel(code)
}

// goneThread reports whether a chat.postMessage error code for a reply says
// the message to reply under is gone: thread_not_found is what Slack
// answers for a deleted parent (slackapi/bolt-js#2307); message_not_found
// and invalid_thread_ts are seen for a ts that names no message.
func goneThread(code string) bool {
	switch code {
	case "thread_not_found", "message_not_found", "invalid_thread_ts":
		return true
	}
	return goneChannel(code)
}

// goneChannel reports whether an error code of an edit or a reply says the
// channel the message is in can no longer be written to: archived, deleted,
// or left by the bot. The message is then as gone as a deleted one: the
// caller posts anew, in the channel it posts to now. Should that be the same
// channel, the new post fails for good, as a misconfigured channel does.
func goneChannel(code string) bool {
	switch code {
	case "is_archived", "channel_not_found", "not_in_channel":
		return true
	}
	return false
}

// classify turns a failed attempt into (retry, error), the error stripped of
// the URL that net/http and slack-go put in theirs.
func (s *Sender) classify(ctx context.Context, op string, err error, ans *answer) (bool, error) {
	var (
		rate   *slackapi.RateLimitedError
		status slackapi.StatusCodeError
		api    slackapi.SlackErrorResponse
		urlErr *url.Error
	)
	switch {
	case ans.status == http.StatusTooManyRequests:
		// slack-go makes a RateLimitedError only when Retry-After is a
		// number of seconds; without one, or with a date, it does not.
		if !errors.As(err, &rate) {
			rate = &slackapi.RateLimitedError{RetryAfter: retryAfter(ans.header)}
		}
		return true, s.fail(op, rateLimited{err: rate, after: rate.RetryAfter})
	case errors.As(err, &status):
		var e error = status
		if text := s.answerText(ans.body); text != "" {
			e = fmt.Errorf("%w: %s", status, text) // a webhook says why: no_service, invalid_token, ...
		}
		if s.mode == ModeWebhook && refusedWebhook(status.Code) {
			e = invalidCredential{e}
		}
		if s.mode == ModeWebhook && status.Code == http.StatusBadRequest && rejectedMessage(strings.TrimSpace(string(ans.body))) {
			e = rejected{e}
		}
		return status.Code >= 500, s.fail(op, e)
	case errors.As(err, &api):
		// Slack documents "ratelimited"; "rate_limited" is seen too (HTTP 200,
		// ok: false). Either is a 429: wait as asked, then try again.
		if api.Err == "ratelimited" || api.Err == "rate_limited" {
			after := retryAfter(ans.header)
			return true, s.fail(op, rateLimited{err: fmt.Errorf("%w: %w", api, &slackapi.RateLimitedError{RetryAfter: after}), after: after})
		}
		if invalidTokenError(api.Err) {
			return false, s.fail(op, invalidCredential{api})
		}
		if rejectedMessage(api.Err) {
			return false, s.fail(op, rejected{api})
		}
		return retryableAPIError(api.Err), s.fail(op, api)
	case ctx.Err() != nil:
		// The caller gave up; that, not the transport's view of it, is the news.
		return false, s.fail(op, ctx.Err())
	case errors.As(err, &urlErr):
		safe := &url.Error{Op: urlErr.Op, URL: redacted, Err: urlErr.Err}
		return !permanentTransportError(urlErr), s.fail(op, safe)
	}
	// The answer was cut short or was not Slack's JSON: the message may not
	// have been posted.
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	if errors.As(err, &syntax) || errors.As(err, &typ) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("decode answer: %w", err)
	}
	return true, s.fail(op, err)
}

// rateLimited is Slack asking for quiet. It wraps slack-go's
// RateLimitedError and tells the retrier, through RetryAfter, how long to
// wait, so the retrier need not know slack-go's types.
type rateLimited struct {
	err   error
	after time.Duration
}

func (e rateLimited) Error() string { return e.err.Error() }
func (e rateLimited) Unwrap() error { return e.err }

// RetryAfter is how long Slack asked to wait before the next post.
func (e rateLimited) RetryAfter() time.Duration { return e.after }

// invalidCredential is an error that shows Slack no longer takes the
// credential; it reads as the error it wraps and is ErrInvalidCredential.
type invalidCredential struct{ err error }

func (e invalidCredential) Error() string        { return e.err.Error() }
func (e invalidCredential) Unwrap() error        { return e.err }
func (e invalidCredential) Is(target error) bool { return target == ErrInvalidCredential }

// rejected is an error that shows Slack refused the message itself; it
// reads as the error it wraps and is ErrRejected.
type rejected struct{ err error }

func (e rejected) Error() string        { return e.err.Error() }
func (e rejected) Unwrap() error        { return e.err }
func (e rejected) Is(target error) bool { return target == ErrRejected }

// notEditable is an error that shows the message to edit or reply under is
// gone; it reads as the error it wraps and is ErrNotEditable.
type notEditable struct{ err error }

func (e notEditable) Error() string        { return e.err.Error() }
func (e notEditable) Unwrap() error        { return e.err }
func (e notEditable) Is(target error) bool { return target == ErrNotEditable }

// rejectedMessage reports whether an error code (a Web API error or a
// webhook's 400 body) says the message, not the credential or Slack, is the
// problem: too long or not valid Block Kit.
func rejectedMessage(code string) bool {
	switch code {
	case "msg_blocks_too_long", "invalid_blocks", "invalid_blocks_format", "msg_too_long", "invalid_payload":
		return true
	}
	return false
}

// invalidTokenError reports whether a Web API error code says the token no
// longer works, rather than that this call was wrong (chat.postMessage's and
// every method's documented errors).
func invalidTokenError(code string) bool {
	switch code {
	case "invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive":
		return true
	}
	return false
}

// refusedWebhook reports whether a webhook's status code says the hook
// itself is gone or disabled: 403 (invalid_token, action_prohibited), 404
// (no_service, no_team) and 410 (channel_is_archived and other hooks that
// will not come back). A rotated secret is then worth reading again.
func refusedWebhook(code int) bool {
	return code == http.StatusForbidden || code == http.StatusNotFound || code == http.StatusGone
}

// retryableAPIError reports whether a Web API error code means Slack had a
// passing problem rather than a problem with the request, the token or the
// channel (chat.postMessage's documented errors).
func retryableAPIError(code string) bool {
	switch code {
	case "internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited", "rate_limited", "team_added_to_org":
		return true
	}
	return false
}

// permanentTransportError reports whether a request failed for a reason that
// a later attempt cannot fix: an unparseable URL or a certificate that does
// not verify.
func permanentTransportError(e *url.Error) bool {
	if e.Op == "parse" {
		return true
	}
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
	)
	return errors.As(e.Err, &verify) || errors.As(e.Err, &unknown) || errors.As(e.Err, &hostname) || errors.As(e.Err, &invalid)
}

// fail wraps err with what was being done. Classification has happened by
// now; if a secret still shows in the text (a server echoing the URL, say),
// the error is replaced by its text with the secrets cut out, so no caller
// can print them even by unwrapping. The replacement keeps only
// ErrInvalidCredential, ErrRejected and ErrNotEditable of what err was.
func (s *Sender) fail(op string, err error) error {
	e := fmt.Errorf("%s: %w", op, err)
	msg := e.Error()
	clean := msg
	for _, secret := range s.secrets {
		clean = strings.ReplaceAll(clean, secret, redacted)
	}
	if clean == msg {
		return e
	}
	switch {
	case errors.Is(e, ErrInvalidCredential):
		return invalidCredential{errors.New(clean)}
	case errors.Is(e, ErrRejected):
		return rejected{errors.New(clean)}
	case errors.Is(e, ErrNotEditable):
		return notEditable{errors.New(clean)}
	}
	return errors.New(clean)
}

// retryAfter is the wait a 429's Retry-After header asks for, in seconds or
// as an HTTP date, or defaultRetryAfter when it says neither.
func retryAfter(h http.Header) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t).Round(time.Second), 0)
	}
	return defaultRetryAfter
}

// answerText is a webhook's answer body fit for an error: quoted, short,
// without secrets, and empty when there was none.
func (s *Sender) answerText(body []byte) string {
	text := strings.TrimSpace(strings.ToValidUTF8(string(body), "\uFFFD"))
	for _, secret := range s.secrets {
		text = strings.ReplaceAll(text, secret, redacted)
	}
	if text == "" {
		return ""
	}
	text = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, text)
	if r := []rune(text); len(r) > 100 {
		text = string(r[:100]) + ellipsis
	}
	return strconv.Quote(text)
}

// answer is what the recording transport saw of the response to one Send:
// slack-go keeps the status and headers of a failure to itself (a 429
// without Retry-After becomes a bare StatusCodeError) and never reads a
// webhook's body.
type answer struct {
	keepBody bool
	status   int
	header   http.Header
	body     []byte
}

// answerKey is the context key under which a Send hands its *answer to the
// transport. Each Send has its own, so concurrent Sends do not mix.
type answerKey struct{}

// recordingClient is a shallow copy of hc whose transport records answers.
func recordingClient(hc *http.Client) *http.Client {
	c := &http.Client{}
	if hc != nil {
		*c = *hc
	}
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = recordingTransport{base: base}
	return c
}

// recordingTransport fills in the *answer in a request's context. It runs
// inside http.Client.Do, so the answer is complete when Do returns.
type recordingTransport struct {
	base http.RoundTripper
}

func (t recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	ans, ok := req.Context().Value(answerKey{}).(*answer)
	if !ok {
		return resp, nil
	}
	ans.status, ans.header, ans.body = resp.StatusCode, resp.Header.Clone(), nil
	if ans.keepBody {
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
		if err != nil {
			_ = resp.Body.Close()
			return nil, fmt.Errorf("read answer: %w", err)
		}
		ans.body = body
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
	}
	return resp, nil
}

// Printer stands in for Slack in the local demo and CLI: its Send writes
// each message, formatted by Format, to a writer, under a heading that
// numbers it, so that an edit or a reply can say which message it changes.
// It is safe for concurrent use; messages do not interleave.
type Printer struct {
	mu sync.Mutex
	w  io.Writer
	n  int // messages printed, edits aside
}

// PrintChannel is the Channel of every Posted a Printer answers.
const PrintChannel = "print"

// NewPrinter returns a Printer that writes to w.
func NewPrinter(w io.Writer) *Printer { return &Printer{w: w} }

// Capabilities says a Printer edits and replies as a bot token does, in
// its one channel, PrintChannel.
func (p *Printer) Capabilities() Capabilities {
	return Capabilities{Edit: true, Channel: PrintChannel}
}

// String describes p for logs.
func (p *Printer) String() string { return "printer (messages are printed, not posted)" }

// Send writes m to p's writer under a heading: "── message 4 ──" for a new
// message, "── message 3, edited ──" for an edit of message 3, and "──
// reply to message 3 ──" (with "(also in the channel)" when m.Broadcast)
// for a reply. It answers Posted{Channel: PrintChannel, TS: "4"}, the
// number of the message printed or edited. An edit of, or a reply under, a
// message p did not print fails with ErrNotEditable, as Slack would; a
// write error is final: a broken terminal or pipe does not heal.
func (p *Printer) Send(ctx context.Context, m Message) (Posted, bool, error) {
	if err := ctx.Err(); err != nil {
		return Posted{}, false, fmt.Errorf("print message: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var heading string
	n := p.n + 1
	switch {
	case m.Edit != (Posted{}):
		edited, ok := p.printed(m.Edit)
		if !ok {
			return Posted{}, false, fmt.Errorf("print edit of message %q: %w", m.Edit.TS, ErrNotEditable)
		}
		n, heading = edited, fmt.Sprintf("message %d, edited", edited)
	case m.Thread != (Posted{}):
		parent, ok := p.printed(m.Thread)
		if !ok {
			return Posted{}, false, fmt.Errorf("print reply to message %q: %w", m.Thread.TS, ErrNotEditable)
		}
		heading = fmt.Sprintf("reply to message %d", parent)
		if m.Broadcast {
			heading += " (also in the channel)"
		}
	default:
		heading = fmt.Sprintf("message %d", n)
	}
	if _, err := io.WriteString(p.w, "── "+heading+" ──\n"+Format(m)); err != nil {
		return Posted{}, false, fmt.Errorf("print message: %w", err)
	}
	if n > p.n {
		p.n = n
	}
	return Posted{Channel: PrintChannel, TS: strconv.Itoa(n)}, false, nil
}

// printed is the number of the message at where, if p printed it.
func (p *Printer) printed(where Posted) (int, bool) {
	n, err := strconv.Atoi(where.TS)
	return n, err == nil && where.Channel == PrintChannel && n >= 1 && n <= p.n
}
