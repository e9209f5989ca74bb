package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/labelwatch/labelwatch/internal/clock"
	"github.com/labelwatch/labelwatch/internal/labeling"
)

// Distinctive stand-ins for the secrets; no error may contain them.
const (
	testToken   = "test-bot-token-SECRET"
	testHook    = "/services/TESTSECRET/hook"
	testChannel = "C0TESTCHAN"
)

// checkNoSecrets fails t if err, or any error it wraps, shows the token or
// the webhook's path.
func checkNoSecrets(t *testing.T, err error, serverURL string) {
	t.Helper()
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		msg := e.Error()
		for _, secret := range []string{testToken, "TESTSECRET", testHook, serverURL + testHook, "SECRET"} {
			if strings.Contains(msg, secret) {
				t.Errorf("error %T %q contains secret %q", e, msg, secret)
			}
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, inner := range u.Unwrap() {
				walk(inner)
			}
		}
	}
	walk(err)
	if s := fmt.Sprintf("%+v %#v", err, err); strings.Contains(s, "SECRET") {
		t.Errorf("formatted error %s contains a secret", s)
	}
}

// reply answers with status and body.
func reply(status int, body string, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// apiReply answers a Web API call with 200 and a JSON body.
func apiReply(body string) http.HandlerFunc {
	return reply(http.StatusOK, body, "Content-Type", "application/json; charset=utf-8")
}

// resetConn hijacks the connection and resets it without answering.
func resetConn(t *testing.T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		if tcp, ok := conn.(*net.TCPConn); ok {
			_ = tcp.SetLinger(0) // close with RST, not FIN
		}
		_ = conn.Close()
	}
}

// hang answers only when the request is abandoned or release is closed.
func hang(release <-chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
}

// testMessage is a real rendered alert, so the server sees real blocks.
func testMessage() Message {
	j := job()
	j.FailureReason = "<!channel> & friends"
	return RenderAlert(Alert{Job: j, Previous: labeling.StatusInProgress})
}

// checkWebhookRequest is a webhook handler that checks what slack-go sent
// and answers "ok".
func checkWebhookRequest(t *testing.T, m Message) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != testHook {
			t.Errorf("request %s %s, want POST %s", r.Method, r.URL.Path, testHook)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		var got struct {
			Text   string            `json:"text"`
			Blocks []json.RawMessage `json:"blocks"`
		}
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			t.Errorf("decode webhook body: %v", err)
		}
		if got.Text != m.Text {
			t.Errorf("text %q, want %q", got.Text, m.Text)
		}
		if len(got.Blocks) != len(m.Blocks) {
			t.Errorf("%d blocks, want %d", len(got.Blocks), len(m.Blocks))
		}
		checkBlockTypes(t, got.Blocks)
		_, _ = io.WriteString(w, "ok")
	}
}

// checkBotRequest is a Web API handler that checks the chat.postMessage
// form slack-go sent and answers ok.
func checkBotRequest(t *testing.T, m Message) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/chat.postMessage" {
			t.Errorf("request %s %s, want POST /api/chat.postMessage", r.Method, r.URL.Path)
		}
		if err := r.ParseForm(); err != nil {
			t.Errorf("parse form: %v", err)
		}
		if got := r.PostForm.Get("token"); got != testToken {
			t.Errorf("token %q, want the configured one", got)
		}
		if got := r.PostForm.Get("channel"); got != testChannel {
			t.Errorf("channel %q, want %q", got, testChannel)
		}
		if got := r.PostForm.Get("text"); got != m.Text {
			t.Errorf("text %q, want %q", got, m.Text)
		}
		var blocks []json.RawMessage
		if err := json.Unmarshal([]byte(r.PostForm.Get("blocks")), &blocks); err != nil {
			t.Errorf("blocks are not a JSON list: %v", err)
		}
		if len(blocks) != len(m.Blocks) {
			t.Errorf("%d blocks, want %d", len(blocks), len(m.Blocks))
		}
		checkBlockTypes(t, blocks)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true,"channel":"`+testChannel+`","ts":"1700000000.000100"}`)
	}
}

func checkBlockTypes(t *testing.T, blocks []json.RawMessage) {
	t.Helper()
	var types []string
	for _, b := range blocks {
		var v struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			t.Errorf("block %s: %v", b, err)
		}
		types = append(types, v.Type)
	}
	if want := "header section section context"; strings.Join(types, " ") != want {
		t.Errorf("block types %v, want %s", types, want)
	}
}

func TestSend(t *testing.T) {
	m := testMessage()
	// now is the senders' clock's time, so a Retry-After date asks for a
	// wait known to the second.
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	type check func(t *testing.T, err error)
	wantStatus := func(code int, body string) check {
		return func(t *testing.T, err error) {
			var sce slackapi.StatusCodeError
			if !errors.As(err, &sce) || sce.Code != code {
				t.Errorf("error %v is not a StatusCodeError %d", err, code)
			}
			if body != "" && !strings.Contains(err.Error(), body) {
				t.Errorf("error %q does not say %q", err, body)
			}
		}
	}
	wantRate := func(d time.Duration) check {
		return func(t *testing.T, err error) {
			var rl *slackapi.RateLimitedError
			if !errors.As(err, &rl) {
				t.Fatalf("error %v is no RateLimitedError", err)
			}
			if rl.RetryAfter != d {
				t.Errorf("RetryAfter %v, want %v", rl.RetryAfter, d)
			}
			// The retrier reads the wait through this method, not slack-go's type.
			asks, ok := errors.AsType[interface {
				error
				RetryAfter() time.Duration
			}](err)
			if !ok || asks.RetryAfter() != d {
				t.Errorf("error %v does not ask for a wait of %v through RetryAfter()", err, d)
			}
		}
	}
	wantAPI := func(code string) check {
		return func(t *testing.T, err error) {
			var ser slackapi.SlackErrorResponse
			if !errors.As(err, &ser) || ser.Err != code {
				t.Errorf("error %v is not Slack's %q", err, code)
			}
		}
	}
	wantTimeout := func(t *testing.T, err error) {
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("error %v is not a timeout", err)
		}
	}
	wantText := func(s string) check {
		return func(t *testing.T, err error) {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error %q does not say %q", err, s)
			}
		}
	}

	tests := []struct {
		name      string
		mode      string
		handler   func(t *testing.T, release <-chan struct{}) http.HandlerFunc
		timeout   time.Duration // of the HTTP client; 0 means 10s
		wantRetry bool
		wantErr   bool
		// wantInvalid: the error says the credential no longer works
		// (ErrInvalidCredential), so a rotated one is worth fetching.
		wantInvalid bool
		check       check
	}{
		{name: "webhook ok", mode: ModeWebhook,
			handler: func(t *testing.T, _ <-chan struct{}) http.HandlerFunc { return checkWebhookRequest(t, m) }},
		{name: "bot ok", mode: ModeBot,
			handler: func(t *testing.T, _ <-chan struct{}) http.HandlerFunc { return checkBotRequest(t, m) }},

		{name: "webhook 500", mode: ModeWebhook, wantRetry: true, wantErr: true, check: wantStatus(500, ""),
			handler: func(*testing.T, <-chan struct{}) http.HandlerFunc { return reply(500, "<html>oops</html>") }},
		{name: "webhook 502", mode: ModeWebhook, wantRetry: true, wantErr: true, check: wantStatus(502, ""),
			handler: func(*testing.T, <-chan struct{}) http.HandlerFunc { return reply(502, "") }},
		{name: "webhook 503", mode: ModeWebhook, wantRetry: true, wantErr: true, check: wantStatus(503, ""),
			handler: func(*testing.T, <-chan struct{}) http.HandlerFunc { return reply(503, "") }},
		{name: "bot 500", mode: ModeBot, wantRetry: true, wantErr: true, check: wantStatus(500, ""),
			handler: func(*testing.T, <-chan struct{}) http.HandlerFunc { return reply(500, "") }},
		{name: "bot 502", mode: ModeBot, wantRetry: true, wantErr: true, check: wantStatus(502, ""),
			handler: func(*testing.T, <-chan struct{}) http.HandlerFunc { return reply(502, "") }},
		{name: "bot 503", mode: ModeBot, wantRetry: true, wantErr: true, check: wantStatus(503, ""),
			handler: func(*testing.T, <-chan struct{}) http.HandlerFunc { return reply(503, "") }},

		{name: "webhook 429 Retry-After 3", mode: ModeWebhook, wantRetry: true, wantErr: true, check: wantRate(3 * time.Second),
			handler: func(*testing.T, <-chan struct{}) http.HandlerFunc {
				return reply(429, "rate_limited", "Retry-After", "3")
			}},
		{name: "bot 429 Retry-After 3", mode: ModeBot, wantRetry: true, wantErr: true, check: wantRate(3 * time.Second),
			handler: func(*testing.T, <-chan struct{}) http.HandlerFunc {
				return reply(429, `{"ok":false,"error":"ratelimited"}`, "Retry-After", "3")
			}},
		{name: "webhook 429 without Retry-After", mode: ModeWebhook, wantRetry: true, wantErr: true, check: wantRate(defaultRetryAfter),
			handler: func(*testing.T, <-chan struct{}) http.HandlerFunc { return reply(429, "rate_limited") }},
		{name: "bot 429 with a date in the past", mode: ModeBot, wantRetry: true, wantErr: true, check: wantRate(0),
			handler: func(*testing.T, <-chan struct{}) http.HandlerFunc {
				return reply(429, "", "Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT")
			}},
		{name: "webhook 429 with a date 90s ahead", mode: ModeWebhook, wantRetry: true, wantErr: true, check: wantRate(90 * time.Second),
			handler: func(*testing.T, <-chan struct{}) http.HandlerFunc {
				return reply(429, "rate_limited", "Retry-After", now.Add(90*time.Second).Format(http.TimeFormat))
			}},
		{name: "bot ok:false ratelimited", mode: ModeBot, wantRetry: true, wantErr: true, check: wantRate(7 * time.Second),
			handler: func(*testing.T, <-chan struct{}) http.HandlerFunc {
				return reply(200, `{"ok":false,"error":"ratelimited"}`, "Retry-After", "7", "Content-Type", "application/json")
			}},
		{name: "bot ok:false rate_limited", mode: ModeBot, wantRetry: true, wantErr: true, check: wantRate(4 * time.Second),
			handler: func(*testing.T, <-chan struct{}) http.HandlerFunc {
				return reply(200, `{"ok":false,"error":"rate_limited"}`, "Retry-After", "4", "Content-Type", "application/json")
			}},
		{name: "bot ok:false rate_limited without Retry-After", mode: ModeBot, wantRetry: true, wantErr: true, check: wantRate(time.Second),
			handler: func(*testing.T, <-chan struct{}) http.HandlerFunc {
				return apiReply(`{"ok":false,"error":"rate_limited"}`)
			}},

		{name: "bot invalid_auth", mode: ModeBot, wantErr: true, wantInvalid: true, check: wantAPI("invalid_auth"),
			handler: func(*testing.T, <-chan struct{}) http.HandlerFunc {
				return apiReply(`{"ok":false,"error":"invalid_auth"}`)
			}},
		{name: "bot not_authed", mode: ModeBot, wantErr: true, wantInvalid: true, check: wantAPI("not_authed"),
			handler: func(*testing.T, <-chan struct{}) http.HandlerFunc {
				return apiReply(`{"ok":false,"error":"not_authed"}`)
			}},
		{name: "bot account_inactive", mode: ModeBot, wantErr: true, wantInvalid: true, check: wantAPI("account_inactive"),
			handler: func(*testing.T, <-chan struct{}) http.HandlerFunc {
				return apiReply(`{"ok":false,"error":"account_inactive"}`)
			}},
		{name: "bot token_expired", mode: ModeBot, wantErr: true, wantInvalid: true, check: wantAPI("token_expired"),
			handler: func(*testing.T, <-chan struct{}) http.HandlerFunc {
				return apiReply(`{"ok":false,"error":"token_expired"}`)
			}},
		{name: "bot channel_not_found", mode: ModeBot, wantErr: true, check: wantAPI("channel_not_found"),
			handler: func(*testing.T, <-chan struct{}) http.HandlerFunc {
				return apiReply(`{"ok":false,"error":"channel_not_found"}`)
			}},
		{name: "bot not_in_channel", mode: ModeBot, wantErr: true, check: wantAPI("not_in_channel"),
			handler: func(*testing.T, <-chan struct{}) http.HandlerFunc {
				return apiReply(`{"ok":false,"error":"not_in_channel"}`)
			}},
		{name: "bot token_revoked", mode: ModeBot, wantErr: true, wantInvalid: true, check: wantAPI("token_revoked"),
			handler: func(*testing.T, <-chan struct{}) http.HandlerFunc {
				return apiReply(`{"ok":false,"error":"token_revoked"}`)
			}},
		{name: "bot internal_error", mode: ModeBot, wantRetry: true, wantErr: true, check: wantAPI("internal_error"),
			handler: func(*testing.T, <-chan struct{}) http.HandlerFunc {
				return apiReply(`{"ok":false,"error":"internal_error"}`)
			}},
		{name: "bot 200 with HTML", mode: ModeBot, wantRetry: true, wantErr: true, check: wantText("decode answer: "),
			handler: func(*testing.T, <-chan struct{}) http.HandlerFunc { return reply(200, "<html>proxy</html>") }},
		{name: "bot 404", mode: ModeBot, wantErr: true, check: wantStatus(404, ""),
			handler: func(*testing.T, <-chan struct{}) http.HandlerFunc { return reply(404, "") }},

		{name: "webhook 404 no_service", mode: ModeWebhook, wantErr: true, wantInvalid: true, check: wantStatus(404, `"no_service"`),
			handler: func(*testing.T, <-chan struct{}) http.HandlerFunc { return reply(404, "no_service") }},
		{name: "webhook 403 invalid_token", mode: ModeWebhook, wantErr: true, wantInvalid: true, check: wantStatus(403, `"invalid_token"`),
			handler: func(*testing.T, <-chan struct{}) http.HandlerFunc { return reply(403, "invalid_token") }},
		{name: "webhook 400 invalid_payload", mode: ModeWebhook, wantErr: true, check: wantStatus(400, `"invalid_payload"`),
			handler: func(*testing.T, <-chan struct{}) http.HandlerFunc { return reply(400, "invalid_payload") }},
		{name: "webhook 410 channel_is_archived", mode: ModeWebhook, wantErr: true, wantInvalid: true, check: wantStatus(410, `"channel_is_archived"`),
			handler: func(*testing.T, <-chan struct{}) http.HandlerFunc { return reply(410, "channel_is_archived") }},
		{name: "webhook 404 echoing the URL", mode: ModeWebhook, wantErr: true, wantInvalid: true, check: wantStatus(404, `"no such hook <redacted>"`),
			handler: func(*testing.T, <-chan struct{}) http.HandlerFunc { return reply(404, "no such hook "+testHook) }},
		// Slack posted nothing it admits to; see postWebhook for why that is retryable.
		{name: "webhook 200 not ok", mode: ModeWebhook, wantRetry: true, wantErr: true, check: wantText(`"not ok"`),
			handler: func(*testing.T, <-chan struct{}) http.HandlerFunc { return reply(200, "not ok") }},
		{name: "webhook 200 empty", mode: ModeWebhook, wantRetry: true, wantErr: true, check: wantText("status 200 with an empty answer"),
			handler: func(*testing.T, <-chan struct{}) http.HandlerFunc { return reply(200, "") }},

		{name: "webhook connection reset", mode: ModeWebhook, wantRetry: true, wantErr: true, check: wantText("<redacted>"),
			handler: func(t *testing.T, _ <-chan struct{}) http.HandlerFunc { return resetConn(t) }},
		{name: "bot connection reset", mode: ModeBot, wantRetry: true, wantErr: true,
			handler: func(t *testing.T, _ <-chan struct{}) http.HandlerFunc { return resetConn(t) }},
		{name: "webhook client timeout", mode: ModeWebhook, timeout: 100 * time.Millisecond, wantRetry: true, wantErr: true, check: wantTimeout,
			handler: func(_ *testing.T, release <-chan struct{}) http.HandlerFunc { return hang(release) }},
		{name: "bot client timeout", mode: ModeBot, timeout: 100 * time.Millisecond, wantRetry: true, wantErr: true, check: wantTimeout,
			handler: func(_ *testing.T, release <-chan struct{}) http.HandlerFunc { return hang(release) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			srv := httptest.NewServer(tt.handler(t, release))
			t.Cleanup(srv.Close)
			t.Cleanup(func() { close(release) }) // runs before srv.Close

			timeout := tt.timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			hc := &http.Client{Timeout: timeout}
			var s *Sender
			if tt.mode == ModeWebhook {
				s = NewWebhookSender(srv.URL+testHook, hc, clock.NewFake(now))
			} else {
				s = NewBotSender(testToken, testChannel, srv.URL+"/api/", hc, clock.NewFake(now))
			}
			_, retry, err := s.Send(context.Background(), m)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Send error = %v, want error %v", err, tt.wantErr)
			}
			if retry != tt.wantRetry {
				t.Errorf("Send retry = %v, want %v (error %v)", retry, tt.wantRetry, err)
			}
			if err == nil {
				return
			}
			t.Logf("retry=%v error: %v", retry, err)
			prefix := "post to slack webhook: "
			if tt.mode == ModeBot {
				prefix = `chat.postMessage to channel "` + testChannel + `": `
			}
			if !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("error %q does not start with %q", err, prefix)
			}
			checkNoSecrets(t, err, srv.URL)
			if got := errors.Is(err, ErrInvalidCredential); got != tt.wantInvalid {
				t.Errorf("errors.Is(err, ErrInvalidCredential) = %v, want %v (error %v)", got, tt.wantInvalid, err)
			}
			if tt.check != nil {
				tt.check(t, err)
			}
		})
	}
}

// TestSendCanceled checks that a Send whose context ends mid-request reports
// the context's error, not a retryable network error.
func TestSendCanceled(t *testing.T) {
	for _, mode := range []string{ModeWebhook, ModeBot} {
		t.Run(mode, func(t *testing.T) {
			arrived := make(chan struct{})
			release := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(arrived)
				hang(release)(w, r)
			}))
			t.Cleanup(srv.Close)
			t.Cleanup(func() { close(release) })

			s := NewWebhookSender(srv.URL+testHook, nil, clock.System{})
			if mode == ModeBot {
				s = NewBotSender(testToken, testChannel, srv.URL+"/api", nil, clock.System{})
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				<-arrived
				cancel()
			}()
			_, retry, err := s.Send(ctx, testMessage())
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Send error = %v, want context.Canceled", err)
			}
			if retry {
				t.Error("Send says retry after its context ended")
			}
			checkNoSecrets(t, err, srv.URL)
		})
	}
}

func TestSendConcurrent(t *testing.T) {
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		n++
		fail := n%2 == 0
		mu.Unlock()
		if fail {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, "no_service")
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	s := NewWebhookSender(srv.URL+testHook, srv.Client(), clock.System{})
	var wg sync.WaitGroup
	var okCount, failCount int
	for range 20 {
		wg.Go(func() {
			_, _, err := s.Send(context.Background(), testMessage())
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				okCount++
			case strings.Contains(err.Error(), "no_service"):
				failCount++
			default:
				t.Errorf("unexpected error %v", err)
			}
		})
	}
	wg.Wait()
	if okCount != 10 || failCount != 10 {
		t.Errorf("%d ok and %d failed, want 10 and 10: answers got mixed up", okCount, failCount)
	}
}

func TestSenderConfig(t *testing.T) {
	tests := []struct {
		name       string
		sender     *Sender
		wantMode   string
		wantString string
		wantErr    string // "" means Send reaches the network
	}{
		{"webhook", NewWebhookSender("https://example.test"+testHook, nil, clock.System{}), ModeWebhook,
			"slack incoming webhook at https://example.test/<redacted>", ""},
		{"webhook empty", NewWebhookSender("", nil, clock.System{}), ModeWebhook, "slack incoming webhook", "webhook URL is empty"},
		{"webhook not http", NewWebhookSender("ftp://example.test"+testHook, nil, clock.System{}), ModeWebhook, "slack incoming webhook", "not an http(s) URL"},
		{"webhook unparseable", NewWebhookSender("https://exa mple.test/%zz"+testHook, nil, clock.System{}), ModeWebhook, "slack incoming webhook", "not a URL"},
		{"bot", NewBotSender(testToken, testChannel, "", nil, clock.System{}), ModeBot,
			`slack chat.postMessage to channel "C0TESTCHAN" at https://slack.com/api/`, ""},
		{"bot without token", NewBotSender("", testChannel, "", nil, clock.System{}), ModeBot,
			`slack chat.postMessage to channel "C0TESTCHAN" at https://slack.com/api/`, "no bot token"},
		{"bot without channel", NewBotSender(testToken, "", "", nil, clock.System{}), ModeBot,
			`slack chat.postMessage to channel "" at https://slack.com/api/`, "no channel"},
		{"bot bad API URL", NewBotSender(testToken, testChannel, "slack.com/api", nil, clock.System{}), ModeBot,
			`slack chat.postMessage to channel "C0TESTCHAN"`, "Web API URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.sender.Capabilities().Edit; got != (tt.wantMode == ModeBot) {
				t.Errorf("Capabilities().Edit = %v for a %s sender", got, tt.wantMode)
			}
			if got := tt.sender.String(); got != tt.wantString {
				t.Errorf("String = %q, want %q", got, tt.wantString)
			}
			if tt.wantErr == "" {
				return
			}
			_, retry, err := tt.sender.Send(context.Background(), testMessage())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || retry {
				t.Errorf("Send = %v, %v; want a final error saying %q", retry, err, tt.wantErr)
			}
			checkNoSecrets(t, err, "")
		})
	}
}

// TestRedactedURLError checks the error for a request that never reached a
// server: the URL net/http puts in it is gone.
func TestRedactedURLError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now: connection refused
	s := NewWebhookSender("http://"+addr+testHook, nil, clock.System{})
	_, retry, err := s.Send(context.Background(), testMessage())
	if err == nil || !retry {
		t.Fatalf("Send = %v, %v; want a retryable error", retry, err)
	}
	var ue *url.Error
	if !errors.As(err, &ue) || ue.URL != "<redacted>" {
		t.Errorf("error %v does not hold a redacted *url.Error", err)
	}
	checkNoSecrets(t, err, "http://"+addr)
}

// TestSendRejected checks that Slack refusing the message itself (too long,
// invalid blocks) is final and ErrRejected, and that nothing else is.
func TestSendRejected(t *testing.T) {
	tests := []struct {
		name         string
		mode         string
		handler      http.HandlerFunc
		wantRejected bool
	}{
		{"bot msg_blocks_too_long", ModeBot, apiReply(`{"ok":false,"error":"msg_blocks_too_long"}`), true},
		{"bot invalid_blocks", ModeBot, apiReply(`{"ok":false,"error":"invalid_blocks"}`), true},
		{"bot invalid_blocks_format", ModeBot, apiReply(`{"ok":false,"error":"invalid_blocks_format"}`), true},
		{"bot msg_too_long", ModeBot, apiReply(`{"ok":false,"error":"msg_too_long"}`), true},
		{"bot channel_not_found", ModeBot, apiReply(`{"ok":false,"error":"channel_not_found"}`), false},
		{"bot invalid_auth", ModeBot, apiReply(`{"ok":false,"error":"invalid_auth"}`), false},
		{"webhook 400 invalid_blocks", ModeWebhook, reply(400, "invalid_blocks"), true},
		{"webhook 400 invalid_blocks_format", ModeWebhook, reply(400, "invalid_blocks_format"), true},
		{"webhook 400 invalid_payload", ModeWebhook, reply(400, "invalid_payload"), true},
		{"webhook 400 echoing the URL", ModeWebhook, reply(400, "invalid_blocks "+testHook), false},
		{"webhook 404 no_service", ModeWebhook, reply(404, "no_service"), false},
		{"webhook 500", ModeWebhook, reply(500, "invalid_blocks"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			t.Cleanup(srv.Close)
			s := NewBotSender(testToken, testChannel, srv.URL+"/api/", nil, clock.System{})
			if tt.mode == ModeWebhook {
				s = NewWebhookSender(srv.URL+testHook, nil, clock.System{})
			}
			m := testMessage()
			m.Fallback = &Message{Text: "minimal"}
			_, retry, err := s.Send(t.Context(), m)
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if got := errors.Is(err, ErrRejected); got != tt.wantRejected {
				t.Errorf("errors.Is(err, ErrRejected) = %v, want %v (error %v)", got, tt.wantRejected, err)
			}
			if tt.wantRejected && retry {
				t.Errorf("a rejected message is retryable: %v", err)
			}
			checkNoSecrets(t, err, srv.URL)
		})
	}

	// A secret in the answer replaces the error, which stays ErrRejected.
	srv := httptest.NewServer(apiReply(`{"ok":false,"error":"msg_blocks_too_long"}`))
	t.Cleanup(srv.Close)
	s := NewBotSender(testToken, testChannel, srv.URL+"/api/"+testToken+"/", nil, clock.System{})
	if _, _, err := s.Send(t.Context(), testMessage()); !errors.Is(err, ErrRejected) || strings.Contains(err.Error(), testToken) {
		t.Errorf("error %v: want ErrRejected without the token", err)
	}
}
