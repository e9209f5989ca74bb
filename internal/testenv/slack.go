package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// The credentials a Slack accepts. Each carries the marker "SECRET", so a
// test can search any output for them; every segment of the webhook path
// does too.
const (
	SlackHookPath = "/services/T0SECRET1/B0SECRET2/SECRETwebhookPath42"
	SlackToken    = "test-good-bot-token-SECRET-1234"
	SlackChannel  = "C0ALERTS01"
)

// More channels of the bot's: SlackChannelName names SlackChannel (a post
// to it lands there, and Slack answers SlackChannel's ID), and
// SlackOtherChannel is a second channel, where a credential posted before
// it was changed. Any other channel is channel_not_found.
const (
	SlackChannelName  = "labeling-alerts"
	SlackOtherChannel = "C0OTHERS02"
)

// Slack's size limits for one message, as this Slack enforces them: at most
// SlackMaxBlocks blocks, and at most SlackMaxBlockText characters of text in
// all its blocks. Slack does not document the second; it refuses messages
// from about 11,300 to 13,200 characters with msg_blocks_too_long
// (slackapi/bolt-js issues 2509 and 2867).
const (
	SlackMaxBlocks    = 50
	SlackMaxBlockText = 12000
)

// SlackSecrets is what no output may show: the bot token, and the webhook
// path and each of its segments (a redaction that keeps one is no redaction).
func SlackSecrets() []string {
	return append([]string{SlackToken, SlackHookPath}, strings.Split(strings.TrimPrefix(SlackHookPath, "/services/"), "/")...)
}

// Slack is a local Slack for tests. It serves both ways to post: an incoming
// webhook (WebhookURL) and the Web API's chat.postMessage and chat.update
// (APIURL, with SlackToken and SlackChannel), and answers as Slack does: the
// webhook 200 "ok", 400 "invalid_payload" for a body that is no message, 404
// "no_service" on another path; the Web API HTTP 200 with JSON, ok true with
// the channel and the message's ts, or ok false with invalid_auth for another
// token, channel_not_found for a channel other than SlackChannel (or its name,
// SlackChannelName), SlackOtherChannel and those Open made, the code Gone set for a channel
// gone, no_text, invalid_blocks.
// chat.postMessage takes thread_ts and reply_broadcast, and answers
// thread_not_found for a thread_ts that is no message in the channel (never
// posted, or deleted: see Delete); chat.update answers message_not_found for
// a ts that is no message in the channel. Both refuse a message too big as
// Slack does (SlackMaxBlocks, SlackMaxBlockText): ok false and
// invalid_blocks or msg_blocks_too_long; the webhook answers 400
// "invalid_blocks".
//
// It records every message it takes, as it stands after any edits, every
// call that changed something (Calls), and counts every request; on demand
// it answers late (SetLatency) or shows faults (FailNext), for every method
// alike. Its methods are safe to call while it serves requests.
type Slack struct {
	URL string // the base URL: the webhook is URL+SlackHookPath, the Web API URL+"/api/"

	srv  *httptest.Server
	held chan struct{}

	mu       sync.Mutex
	idle     *sync.Cond // signalled when active drops
	active   int        // requests being handled, but for held ones
	latency  time.Duration
	faults   []SlackFault
	requests int
	messages []SlackMessage
	calls    []SlackCall
	posted   int               // chat.postMessage calls taken, for the next ts
	gone     map[string]string // channel ID → the error every call in it gets (Gone)
	opened   map[string]bool   // channels made beside SlackChannel and SlackOtherChannel (Open)
}

// SlackMessage is a message Slack took, as it stands now: after a
// chat.update, Text and Blocks are the latest ones.
type SlackMessage struct {
	Text    string
	Blocks  []json.RawMessage // each block as sent
	Channel string            // chat.postMessage's channel; "" from a webhook
	Hook    string            // the named webhook that posted it (HookURL); "" from another way
	TS      string            // chat.postMessage's answer: the message's ts
	Raw     []byte            // the body of the request that posted it
	// ThreadTS is the ts of the message this one replies under, "" for a
	// message in the channel; Broadcast marks a reply shown in the channel
	// too (reply_broadcast).
	ThreadTS  string
	Broadcast bool
	// Edits counts the chat.update calls that changed the message.
	Edits int
	// Unacknowledged is set when a fault took the message and then kept
	// the client from learning it (SlackFault.Post): a retry posts it
	// again.
	Unacknowledged bool
}

// SlackCall is one call Slack accepted and acted on: a post by webhook or
// chat.postMessage, or a chat.update. Refused calls and faults that took
// nothing are not calls.
type SlackCall struct {
	Method    string // "webhook", "chat.postMessage" or "chat.update"
	Channel   string // "" for a webhook
	Hook      string // the named webhook (HookURL); "" for another way
	TS        string // the message posted or updated; "" for a webhook
	ThreadTS  string
	Broadcast bool
	Text      string
	Blocks    []json.RawMessage
	Raw       []byte // the request body as sent
}

// String describes c in a word or three, as tests of cards compare calls:
// "post" (a message of its own, by API or webhook), "edit TS", "reply TS"
// (in the thread of the message TS) or "reply TS broadcast" (shown in the
// channel too).
func (c SlackCall) String() string {
	switch {
	case c.Method == SlackUpdate:
		return "edit " + c.TS
	case c.ThreadTS != "" && c.Broadcast:
		return "reply " + c.ThreadTS + " broadcast"
	case c.ThreadTS != "":
		return "reply " + c.ThreadTS
	default:
		return "post"
	}
}

// The methods a SlackCall names.
const (
	SlackWebhook     = "webhook"
	SlackPostMessage = "chat.postMessage"
	SlackUpdate      = "chat.update"
)

// SlackFault is how Slack answers one request instead of as Slack does. Of
// Hold, Reset and Status, the first one set is shown.
type SlackFault struct {
	// Status, with Body and Header, is the answer to give instead.
	Status int
	Body   string
	Header http.Header
	// Reset ends the connection with a TCP RST and no answer.
	Reset bool
	// Hold answers nothing until the client goes away (its timeout, its
	// context, its process), after a signal on Held.
	Hold bool
	// Delay answers this late instead of after SetLatency's delay; a
	// request whose client goes away first has no effect.
	Delay time.Duration
	// Post takes the message, as Slack would, before showing the fault, so
	// the client cannot tell that it went out; without Post the fault
	// takes nothing.
	Post bool
}

// misbehaves reports whether f answers otherwise than Slack would.
func (f SlackFault) misbehaves() bool { return f.Hold || f.Reset || f.Status != 0 }

// NewSlack starts a Slack for the rest of the test.
func NewSlack(t testing.TB) *Slack {
	t.Helper()
	s := &Slack{held: make(chan struct{}, 64)}
	s.idle = sync.NewCond(&s.mu)
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.srv.CloseClientConnections() // ends held requests
		s.srv.Close()
	})
	s.URL = s.srv.URL
	return s
}

// WebhookURL is the incoming webhook's URL, a secret.
func (s *Slack) WebhookURL() string { return s.URL + SlackHookPath }

// HookURL is the URL of another incoming webhook, as routes name them in
// the Slack secret: name says which its messages came by
// (SlackMessage.Hook). A secret, like WebhookURL.
func (s *Slack) HookURL(name string) string { return NewSlackHookURL(s.URL, name) }

// NewSlackHookURL is HookURL of the Slack at base URL.
func NewSlackHookURL(base, name string) string { return base + SlackHookPath + "/" + name }

// APIURL is the Web API's base URL, as slack-go's OptionAPIURL takes it.
func (s *Slack) APIURL() string { return s.URL + "/api/" }

// FailNext makes the next n requests show f. Faults queue up in the order
// given.
func (s *Slack) FailNext(n int, f SlackFault) {
	f.Header = f.Header.Clone()
	s.locked(func() { s.faults = append(s.faults, slices.Repeat([]SlackFault{f}, n)...) })
}

// SetLatency delays every later answer by d. A request whose client goes
// away during the delay has no effect.
func (s *Slack) SetLatency(d time.Duration) {
	s.locked(func() { s.latency = d })
}

// ClearFaults drops the faults not shown yet and the latency.
func (s *Slack) ClearFaults() {
	s.locked(func() { s.faults, s.latency = nil, 0 })
}

// locked runs f holding s.mu.
func (s *Slack) locked(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}

// Requests is how many requests Slack has received, failed ones included.
func (s *Slack) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Gone makes every later call in channel fail with code, as Slack answers
// for a channel archived (is_archived), deleted (channel_not_found) or that
// the bot was removed from (not_in_channel). Its messages stay recorded.
func (s *Slack) Gone(channel, code string) {
	s.locked(func() {
		if s.gone == nil {
			s.gone = map[string]string{}
		}
		s.gone[channel] = code
	})
}

// Open makes channels that the bot may post to, beside SlackChannel and
// SlackOtherChannel, as a person creating them and inviting the bot would.
func (s *Slack) Open(channels ...string) {
	s.locked(func() {
		if s.opened == nil {
			s.opened = map[string]bool{}
		}
		for _, c := range channels {
			s.opened[c] = true
		}
	})
}

// isOpen reports whether Open made channel.
func (s *Slack) isOpen(channel string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opened[channel]
}

// Messages is every message Slack took and still holds (see Delete), in the
// order they were posted, each with its latest text and blocks.
func (s *Slack) Messages() []SlackMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.messages)
}

// Calls is every call Slack accepted, in the order it took them.
func (s *Slack) Calls() []SlackCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// Delete removes the message with ts, as a person deleting it in Slack
// would: a later chat.update of it answers message_not_found, and a reply
// under it thread_not_found. It reports whether there was such a message.
func (s *Slack) Delete(ts string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.find("", ts)
	if i < 0 {
		return false
	}
	s.messages = slices.Delete(s.messages, i, i+1)
	return true
}

// find is the index of the Web API message with ts (in channel, unless
// channel is ""), or -1. s.mu must be held.
func (s *Slack) find(channel, ts string) int {
	if ts == "" {
		return -1
	}
	return slices.IndexFunc(s.messages, func(m SlackMessage) bool {
		return m.TS == ts && (channel == "" || m.Channel == channel)
	})
}

// Settle waits until every request being handled is answered, but those a
// Hold keeps on purpose. A client that gave up (its timeout, its context)
// may leave its request being handled; after Settle, Messages tells whether
// Slack took it.
func (s *Slack) Settle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.active > 0 {
		s.idle.Wait()
	}
}

// Held receives a value each time a Hold takes effect: the request is in,
// and its message taken if the fault says Post. It keeps the last 64 a test
// has not received.
func (s *Slack) Held() <-chan struct{} { return s.held }

// begin counts a request and takes the fault it is to show and its delay.
func (s *Slack) begin() (SlackFault, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	s.active++
	var f SlackFault
	if len(s.faults) > 0 {
		f, s.faults = s.faults[0], s.faults[1:]
	}
	if f.Delay > 0 {
		return f, f.Delay
	}
	return f, s.latency
}

func (s *Slack) serve(w http.ResponseWriter, r *http.Request) {
	f, delay := s.begin()
	var once sync.Once
	done := func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.active--
			s.idle.Broadcast()
		})
	}
	defer done()
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil || !sleep(r.Context(), delay) {
		return // the client went away
	}
	if f.misbehaves() && !f.Post {
		s.misbehave(w, r, f, done)
		return
	}
	c, refusal := read(r, body, s.isOpen)
	if refusal != nil {
		refusal(w)
		return
	}
	c.Raw = body
	s.mu.Lock()
	c, refusal = s.take(c, f.misbehaves())
	s.mu.Unlock()
	switch {
	case refusal != nil:
		refusal(w)
	case f.misbehaves():
		s.misbehave(w, r, f, done)
	case c.Method == SlackWebhook:
		_, _ = io.WriteString(w, "ok")
	default:
		apiAnswer(w, map[string]any{"ok": true, "channel": c.Channel, "ts": c.TS})
	}
}

// take carries out call c, which read found well formed: it posts or edits
// the message and records the call, or refuses a ts that is no message.
// unacknowledged marks a post the client will not learn of. s.mu must be
// held.
func (s *Slack) take(c SlackCall, unacknowledged bool) (SlackCall, func(http.ResponseWriter)) {
	if code := s.gone[c.Channel]; code != "" && c.Method != SlackWebhook {
		return c, apiError(code)
	}
	switch c.Method {
	case SlackUpdate:
		i := s.find(c.Channel, c.TS)
		if i < 0 {
			return c, apiError("message_not_found")
		}
		m := &s.messages[i]
		m.Text, m.Edits = c.Text, m.Edits+1
		if c.Blocks != nil {
			// Without blocks, Slack keeps the ones the message has; "[]"
			// removes them.
			m.Blocks = c.Blocks
		}
	case SlackPostMessage:
		if c.ThreadTS != "" && s.find(c.Channel, c.ThreadTS) < 0 {
			return c, apiError("thread_not_found")
		}
		s.posted++
		c.TS = fmt.Sprintf("1700000000.%06d", s.posted*100)
		fallthrough
	default:
		s.messages = append(s.messages, SlackMessage{
			Text: c.Text, Blocks: c.Blocks, Channel: c.Channel, Hook: c.Hook, TS: c.TS, Raw: c.Raw,
			ThreadTS: c.ThreadTS, Broadcast: c.Broadcast, Unacknowledged: unacknowledged,
		})
	}
	s.calls = append(s.calls, c)
	return c, nil
}

// misbehave answers r as f says; done ends the request for Settle.
func (s *Slack) misbehave(w http.ResponseWriter, r *http.Request, f SlackFault, done func()) {
	switch {
	case f.Hold:
		done() // held on purpose: Settle does not wait for it
		select {
		case s.held <- struct{}{}:
		default:
		}
		<-r.Context().Done()
	case f.Reset:
		reset(w)
	default:
		maps.Copy(w.Header(), f.Header)
		w.WriteHeader(f.Status)
		_, _ = io.WriteString(w, f.Body)
	}
}

// read reads the call a request makes, as Slack does; for a request Slack
// refuses, it returns refusal, which writes Slack's answer.
func read(r *http.Request, body []byte, opened func(channel string) bool) (c SlackCall, refusal func(http.ResponseWriter)) {
	switch {
	case r.Method == http.MethodPost && (r.URL.Path == SlackHookPath || strings.HasPrefix(r.URL.Path, SlackHookPath+"/")):
		c.Hook = strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, SlackHookPath), "/")
		var m struct {
			Text   string            `json:"text"`
			Blocks []json.RawMessage `json:"blocks"`
		}
		if json.Unmarshal(body, &m) != nil || (m.Text == "" && len(m.Blocks) == 0) {
			return c, func(w http.ResponseWriter) {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, "invalid_payload")
			}
		}
		c.Method, c.Text, c.Blocks = SlackWebhook, m.Text, m.Blocks
		if code := tooBig(m.Blocks); code != "" {
			// A webhook answers a message it refuses with 400 and a word;
			// for blocks that is invalid_blocks, whatever the cause.
			return c, func(w http.ResponseWriter) {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, "invalid_blocks")
			}
		}
		return c, nil
	case r.URL.Path == "/api/"+SlackPostMessage:
		return readAPICall(r, body, SlackPostMessage, opened)
	case r.URL.Path == "/api/"+SlackUpdate:
		return readAPICall(r, body, SlackUpdate, opened)
	case strings.HasPrefix(r.URL.Path, "/api/"):
		return c, apiError("unknown_method")
	default:
		return c, func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, "no_service")
		}
	}
}

// readAPICall reads a chat.postMessage or chat.update call as slack-go
// sends it: a form with the token (or an Authorization header), the
// channel, the text and the blocks as JSON; a thread_ts and reply_broadcast
// for a reply, the ts of the message to change for an update. Blocks is nil
// when the form has none, and empty for "[]".
func readAPICall(r *http.Request, body []byte, method string, opened func(channel string) bool) (c SlackCall, refusal func(http.ResponseWriter)) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return c, apiError("invalid_form_data")
	}
	token := form.Get("token")
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		token = bearer
	}
	channel := form.Get("channel")
	switch {
	case token != SlackToken:
		return c, apiError("invalid_auth")
	case channel == SlackChannelName || channel == "#"+SlackChannelName:
		channel = SlackChannel
	case channel != SlackChannel && channel != SlackOtherChannel && !opened(channel):
		return c, apiError("channel_not_found")
	}
	c.Method, c.Channel, c.Text = method, channel, form.Get("text")
	if method == SlackUpdate {
		if c.TS = form.Get("ts"); c.TS == "" {
			return c, apiError("message_not_found")
		}
	} else {
		c.ThreadTS = form.Get("thread_ts")
		c.Broadcast = c.ThreadTS != "" && form.Get("reply_broadcast") == "true"
	}
	if form.Has("blocks") {
		c.Blocks = []json.RawMessage{}
		if json.Unmarshal([]byte(form.Get("blocks")), &c.Blocks) != nil {
			return c, apiError("invalid_blocks")
		}
	}
	if c.Text == "" && len(c.Blocks) == 0 {
		return c, apiError("no_text")
	}
	if code := tooBig(c.Blocks); code != "" {
		return c, apiError(code)
	}
	return c, nil
}

// tooBig is the Web API's error for blocks Slack refuses for their size,
// or "" for blocks within the limits.
func tooBig(blocks []json.RawMessage) string {
	if len(blocks) > SlackMaxBlocks {
		return "invalid_blocks"
	}
	if BlockText(blocks) > SlackMaxBlockText {
		return "msg_blocks_too_long"
	}
	return ""
}

// BlockText is how many characters of text blocks hold: the runes of every
// "text" string in them, at any depth (headers, sections, fields, context
// elements, buttons).
func BlockText(blocks []json.RawMessage) int {
	n := 0
	_ = EachBlockObject(blocks, func(o map[string]any) {
		if s, ok := o["text"].(string); ok {
			n += utf8.RuneCountInString(s)
		}
	})
	return n
}

// EachBlockObject calls f with every JSON object in blocks (each block as
// Slack receives it), at any depth: blocks, text objects, elements. It
// fails on a block that is not JSON, after visiting the others.
func EachBlockObject(blocks []json.RawMessage, f func(map[string]any)) error {
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			f(v)
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	var errs []error
	for _, b := range blocks {
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			errs = append(errs, fmt.Errorf("block %s: %w", b, err))
			continue
		}
		walk(v)
	}
	return errors.Join(errs...)
}

// apiError is the Web API's answer to a call it refuses: HTTP 200, ok false.
func apiError(code string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) { apiAnswer(w, map[string]any{"ok": false, "error": code}) }
}

func apiAnswer(w http.ResponseWriter, answer map[string]any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(answer)
}

// sleep waits d, and reports false if ctx ends first.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	select {
	case <-time.After(d):
		return true
	case <-ctx.Done():
		return false
	}
}

// SlackRateLimit is Slack's answer to a client that posts too fast: 429,
// with a Retry-After header of retryAfter (seconds) unless it is "".
func SlackRateLimit(retryAfter string) SlackFault {
	f := SlackFault{Status: http.StatusTooManyRequests, Body: "rate_limited"}
	if retryAfter != "" {
		f.Header = http.Header{"Retry-After": {retryAfter}}
	}
	return f
}
