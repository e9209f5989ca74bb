package reliability

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labelwatch/labelwatch/internal/labeling"
)

// The fake Slack's credentials. Each carries the marker "SECRET" so that a
// test can search any output for it.
const (
	hookPath    = "/services/T0SECRET1/B0SECRET2/SECRETwebhookPath42"
	goodToken   = "test-good-bot-token-SECRET-1234"
	goodChannel = "C0ALERTS01"
)

// slackFault is how the fake Slack answers one request instead of posting
// the message and answering as Slack does.
type slackFault struct {
	name       string
	status     int           // answer this status (0: 200)
	body       string        // with this body
	header     http.Header   // and these headers
	reset      bool          // drop the connection (TCP RST) instead of answering
	delay      time.Duration // answer this late; nothing is posted if the client gave up
	post       bool          // post the message before misbehaving: the client cannot tell it went out
	hold       bool          // post, signal held, then answer nothing until the client goes away
	holdBefore bool          // signal held before posting, then answer nothing until the client goes away
}

// The faults the fake Slack can show.
func statusFault(code int, body string) slackFault {
	return slackFault{name: fmt.Sprintf("HTTP %d %s", code, body), status: code, body: body}
}

func resetFault() slackFault { return slackFault{name: "connection reset", reset: true} }

func slowFault(d time.Duration) slackFault {
	return slackFault{name: "slow answer " + d.String(), delay: d}
}

func rateLimitFault(retryAfter string) slackFault {
	h := http.Header{}
	if retryAfter != "" {
		h.Set("Retry-After", retryAfter)
	}
	return slackFault{name: "429 Retry-After " + retryAfter, status: http.StatusTooManyRequests, body: "rate_limited", header: h}
}

// okBodyFault is a webhook answer 200 with a body other than "ok", as a
// proxy or captive portal in between gives: the message was not posted.
func okBodyFault(body string) slackFault {
	return slackFault{name: "200 " + body, status: http.StatusOK, body: body}
}

// lostAnswerFault posts the message and then drops the connection: Slack
// has it, the client sees a network error.
func lostAnswerFault() slackFault {
	return slackFault{name: "posted, answer lost", post: true, reset: true}
}

// alertKey is one alert: a job's move into a status.
type alertKey struct {
	Job    string
	Status labeling.Status
}

func (k alertKey) String() string { return k.Job + "→" + string(k.Status) }

// postedMessage is one message the fake Slack posted.
type postedMessage struct {
	Raw       []byte // the request body as sent
	Text      string
	Blocks    []block
	Alerts    []alertKey // the alerts it carries, read back from its blocks
	Digest    bool
	Truncated bool // a digest that lists only some of its jobs
}

// block is a Block Kit block as slack-go serializes it.
type block struct {
	Type     string        `json:"type"`
	Text     *textObject   `json:"text,omitempty"`
	Fields   []*textObject `json:"fields,omitempty"`
	Elements []element     `json:"elements,omitempty"`
}

type textObject struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// element is a context element (a text object) or an action (a button).
type element struct {
	Type  string          `json:"type"`
	Text  json.RawMessage `json:"text,omitempty"` // a string in context, an object in a button
	Value string          `json:"value,omitempty"`
	URL   string          `json:"url,omitempty"`
}

// fakeSlack is a local Slack that serves both delivery modes: incoming
// webhooks at hookPath and chat.postMessage under /api/. It answers as Slack
// does (webhook: 200 "ok", 404 "no_service" on another path; Web API: JSON
// with ok and error, invalid_auth for another token, channel_not_found for
// another channel), records every request and every posted message, and
// misbehaves on demand.
type fakeSlack struct {
	URL     string // base URL; the webhook is URL+hookPath, the Web API URL+"/api/"
	srv     *httptest.Server
	onAllow func(alerts []alertKey) // told of alerts posted whose answer the client never got

	mu       sync.Mutex
	idle     *sync.Cond    // signalled when active drops
	active   int           // requests being handled, but for held ones
	latency  time.Duration // every answer this late; nothing is posted if the client gave up
	faults   []slackFault
	requests []time.Time
	posted   []postedMessage
	held     chan struct{} // a hold fault took effect
}

func newFakeSlack(t testing.TB) *fakeSlack {
	t.Helper()
	s := &fakeSlack{held: make(chan struct{}, 16)}
	s.idle = sync.NewCond(&s.mu)
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.srv.CloseClientConnections()
		s.srv.Close()
	})
	s.URL = s.srv.URL
	return s
}

// Settle waits until every request being handled is answered, except those
// a hold fault keeps on purpose, and returns how many messages carrying any
// of keys were posted. A client that gave up (its deadline, its timeout) may
// leave its request still being handled: Settle tells whether Slack took it.
func (s *fakeSlack) Settle(keys []alertKey) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.active > 0 {
		s.idle.Wait()
	}
	n := 0
	for _, m := range s.posted {
		if slices.ContainsFunc(m.Alerts, func(k alertKey) bool { return slices.Contains(keys, k) }) {
			n++
		}
	}
	return n
}

// WebhookURL is the incoming webhook's URL, a secret.
func (s *fakeSlack) WebhookURL() string { return s.URL + hookPath }

// APIURL is the Web API's base URL.
func (s *fakeSlack) APIURL() string { return s.URL + "/api/" }

// FailNext makes the next n requests show f. Faults queue up in order.
func (s *fakeSlack) FailNext(n int, f slackFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, f)
	}
}

// ClearFaults drops the faults not shown yet and the latency.
func (s *fakeSlack) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
	s.latency = 0
}

// SetLatency delays every later answer by d, as slowFault does.
func (s *fakeSlack) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Requests is how many requests arrived, failed ones included.
func (s *fakeSlack) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

// RequestTimes is when each request arrived.
func (s *fakeSlack) RequestTimes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.requests...)
}

// Posted is every message posted so far, in order.
func (s *fakeSlack) Posted() []postedMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]postedMessage(nil), s.posted...)
}

// Held is signalled each time a hold fault takes effect.
func (s *fakeSlack) Held() <-chan struct{} { return s.held }

func (s *fakeSlack) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.active++
	s.mu.Unlock()
	var once sync.Once
	done := func() {
		once.Do(func() {
			s.mu.Lock()
			s.active--
			s.idle.Broadcast()
			s.mu.Unlock()
		})
	}
	defer done()
	body, _ := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	s.mu.Lock()
	s.requests = append(s.requests, time.Now())
	var f *slackFault
	if len(s.faults) > 0 {
		f = &s.faults[0]
		s.faults = s.faults[1:]
	}
	delay := s.latency
	s.mu.Unlock()

	if f != nil && f.delay > 0 {
		delay = f.delay
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return // the client gave up: nothing is posted
		}
	}
	if f != nil && f.holdBefore {
		done() // held on purpose: Settle does not wait for it
		s.held <- struct{}{}
		<-r.Context().Done()
		return
	}
	if f != nil && !f.post && !f.hold && (f.reset || f.status != 0) {
		s.misbehave(w, f)
		return
	}

	webhook := r.URL.Path == hookPath
	api := r.URL.Path == "/api/chat.postMessage"
	var msg postedMessage
	switch {
	case webhook:
		var m struct {
			Text   string  `json:"text"`
			Blocks []block `json:"blocks"`
		}
		if json.Unmarshal(body, &m) != nil || (m.Text == "" && len(m.Blocks) == 0) {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			return
		}
		msg = postedMessage{Raw: body, Text: m.Text, Blocks: m.Blocks}
	case api:
		form, err := url.ParseQuery(string(body))
		if err != nil {
			apiAnswer(w, "invalid_form_data")
			return
		}
		token := form.Get("token")
		if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			token = bearer
		}
		switch {
		case token != goodToken:
			apiAnswer(w, "invalid_auth")
			return
		case form.Get("channel") != goodChannel:
			apiAnswer(w, "channel_not_found")
			return
		}
		msg = postedMessage{Raw: body, Text: form.Get("text")}
		if b := form.Get("blocks"); b != "" && json.Unmarshal([]byte(b), &msg.Blocks) != nil {
			apiAnswer(w, "invalid_blocks")
			return
		}
	default:
		http.Error(w, "no_service", http.StatusNotFound)
		return
	}
	msg.Alerts, msg.Digest, msg.Truncated = readAlerts(msg.Blocks)
	s.mu.Lock()
	s.posted = append(s.posted, msg)
	s.mu.Unlock()

	if f != nil && (f.post || f.hold) {
		// Posted, but the client will not learn it: a retry duplicates.
		if s.onAllow != nil {
			s.onAllow(msg.Alerts)
		}
		if f.hold {
			done()
			s.held <- struct{}{}
			<-r.Context().Done()
			return
		}
		s.misbehave(w, f)
		return
	}
	if api {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true,"channel":"`+goodChannel+`","ts":"1700000000.000100"}`)
		return
	}
	_, _ = io.WriteString(w, "ok")
}

func (s *fakeSlack) misbehave(w http.ResponseWriter, f *slackFault) {
	if f.reset {
		hj, ok := w.(http.Hijacker)
		if !ok {
			panic("fake Slack cannot hijack")
		}
		conn, _, err := hj.Hijack()
		if err != nil {
			return
		}
		if tcp, ok := conn.(*net.TCPConn); ok {
			_ = tcp.SetLinger(0)
		}
		_ = conn.Close()
		return
	}
	for k, vs := range f.header {
		w.Header()[k] = vs
	}
	w.WriteHeader(f.status)
	_, _ = io.WriteString(w, f.body)
}

// apiAnswer is a Web API error answer: HTTP 200 with ok false.
func apiAnswer(w http.ResponseWriter, code string) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"ok":false,"error":"`+code+`"}`)
}

// digestLine is one job's line in a digest, as slack.RenderDigest writes it:
// "EMOJI NAME · STATUS (was PREVIOUS) · ...".
var digestLine = regexp.MustCompile(`^\S+ ([A-Za-z0-9-]+) · ([A-Za-z]+) \((?:was [^)]*|new job)\) · `)

// readAlerts reads back which alerts a message carries: one alert's header
// and Status field, or every job line of a digest.
func readAlerts(blocks []block) (alerts []alertKey, digest, truncated bool) {
	if len(blocks) == 0 || blocks[0].Type != "header" || blocks[0].Text == nil {
		return nil, false, false
	}
	header := blocks[0].Text.Text
	if strings.HasPrefix(header, "🚨 ") {
		for _, b := range blocks[1:] {
			if b.Type == "section" && b.Text != nil {
				for _, line := range strings.Split(b.Text.Text, "\n") {
					if m := digestLine.FindStringSubmatch(line); m != nil {
						alerts = append(alerts, alertKey{Job: m[1], Status: labeling.Status(m[2])})
					}
				}
			}
			if b.Type == "context" {
				for _, e := range b.Elements {
					var text string
					if json.Unmarshal(e.Text, &text) == nil && strings.HasPrefix(text, "… and ") {
						truncated = true
					}
				}
			}
		}
		return alerts, true, truncated
	}
	i := strings.LastIndex(header, ": ")
	if i < 0 {
		return nil, false, false
	}
	name := header[i+2:]
	for _, b := range blocks {
		for _, f := range b.Fields {
			if rest, ok := strings.CutPrefix(f.Text, "*Status*\n"); ok {
				if _, status, ok := strings.Cut(rest, " "); ok {
					return []alertKey{{Job: name, Status: labeling.Status(status)}}, false, false
				}
			}
		}
	}
	return nil, false, false
}
