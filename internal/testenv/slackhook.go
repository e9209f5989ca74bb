package testenv

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
)

// slackHookPath is the path of a SlackHook's URL. It looks like Slack's and
// carries the marker "SECRET", so a test can check that no error or log line
// shows the URL.
const slackHookPath = "/services/T0TESTTEAM/B0TESTHOOK/SECRETtestHookToken"

// SlackHook is a Slack incoming webhook for tests: an httptest server that
// answers as Slack does (200 "ok" for a JSON message, 400 "invalid_payload"
// for anything else, 404 "no_service" on another path), records each
// message it accepts, and fails on demand.
type SlackHook struct {
	// URL is the webhook URL to post to.
	URL string

	mu       sync.Mutex
	messages []json.RawMessage
	faults   []hookFault
	requests int
}

type hookFault struct {
	status int
	body   string
	header http.Header
}

// NewSlackHook starts a SlackHook for the rest of the test.
func NewSlackHook(t testing.TB) *SlackHook {
	t.Helper()
	h := &SlackHook{}
	srv := httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(srv.Close)
	h.URL = srv.URL + slackHookPath
	return h
}

// Messages returns the JSON payload of every message the hook accepted, in
// the order it accepted them. A slack-go webhook payload is
// {"text": ..., "blocks": [...]}.
func (h *SlackHook) Messages() []json.RawMessage {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.messages)
}

// Requests is how many requests the hook has received, failed ones included.
func (h *SlackHook) Requests() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.requests
}

// FailNext makes the next n requests answer status with body and header
// instead of accepting the message. Faults queue up in the order given; a
// failed request records no message.
func (h *SlackHook) FailNext(n int, status int, body string, header http.Header) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for range n {
		h.faults = append(h.faults, hookFault{status: status, body: body, header: header.Clone()})
	}
}

func (h *SlackHook) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	h.mu.Lock()
	defer h.mu.Unlock()
	h.requests++
	if len(h.faults) > 0 {
		f := h.faults[0]
		h.faults = h.faults[1:]
		maps.Copy(w.Header(), f.header)
		w.WriteHeader(f.status)
		_, _ = io.WriteString(w, f.body)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != slackHookPath {
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "no_service")
		return
	}
	var msg struct {
		Text   string            `json:"text"`
		Blocks []json.RawMessage `json:"blocks"`
	}
	if err != nil || json.Unmarshal(body, &msg) != nil || (msg.Text == "" && len(msg.Blocks) == 0) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, "invalid_payload")
		return
	}
	h.messages = append(h.messages, json.RawMessage(body))
	_, _ = io.WriteString(w, "ok")
}
