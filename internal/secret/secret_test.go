package secret

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/labelwatch/labelwatch/internal/clock"
	"github.com/labelwatch/labelwatch/internal/slack"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

// These tests read secrets from moto_server's Secrets Manager over the
// SDK's own protocol, and post to testenv's Slack through slack-go.

// Credentials Slack no longer takes. Like testenv's good ones they carry
// the marker "SECRET", and no log line or error may show them.
const (
	oldToken    = "old-revoked-bot-token-SECRET-0001"
	oldHookPath = "/services/T0SECRET1/B0OLDHOOK/SECREToldWebhookPath7"
)

// secretValues is every credential a test here puts in a secret.
func secretValues(s *testenv.Slack) []string {
	return append(testenv.SlackSecrets(), oldToken, oldHookPath, "B0OLDHOOK", "SECREToldWebhookPath7", s.WebhookURL())
}

// checkHidden fails t if text shows any of the secret values.
func checkHidden(t *testing.T, what, text string, values []string) {
	t.Helper()
	for _, v := range values {
		if strings.Contains(text, v) {
			t.Errorf("%s shows the secret value %q:\n%s", what, v, text)
		}
	}
}

func jsonSecret(fields map[string]string) string {
	b, err := json.Marshal(fields)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestParse(t *testing.T) {
	// The local Slack's webhook path on a host that cannot resolve: nothing
	// here may look like a live Slack credential.
	hook := "https://slack.example.invalid" + testenv.SlackHookPath
	tests := []struct {
		name    string
		in      string
		want    Slack
		wantErr []string // what the error must say
	}{
		{name: "webhook", in: `{"webhook_url": "` + hook + `"}`, want: Slack{WebhookURL: hook}},
		{name: "bot", in: `{"bot_token": " xoxb-SECRET ", "channel": "C0123"}`, want: Slack{BotToken: "xoxb-SECRET", Channel: "C0123"}},
		{name: "other keys are left alone", in: `{"webhook_url": "` + hook + `", "rotated_by": "ops"}`, want: Slack{WebhookURL: hook}},
		{name: "not JSON", in: `webhook_url=` + hook, wantErr: []string{"not JSON", "byte 1"}},
		{name: "cut short", in: `{"bot_token": "xoxb-SECRET`, wantErr: []string{"not JSON"}},
		{name: "a JSON string", in: `"xoxb-SECRET"`, wantErr: []string{"not a JSON object"}},
		{name: "null", in: `null`, wantErr: []string{"not a JSON object"}},
		{name: "empty object", in: `{}`, wantErr: []string{"neither key", `"webhook_url"`, `"bot_token"`}},
		{name: "webhook not a string", in: `{"webhook_url": ["SECRET"]}`, wantErr: []string{`key "webhook_url" is not a JSON string`}},
		{name: "empty webhook", in: `{"webhook_url": "  "}`, wantErr: []string{`key "webhook_url" is empty`}},
		{name: "webhook over http", in: `{"webhook_url": "http://hooks.slack.com/services/SECRET"}`, wantErr: []string{`key "webhook_url" must use https`}},
		{name: "webhook not a URL", in: `{"webhook_url": "SECRET"}`, wantErr: []string{`key "webhook_url" is not an absolute URL`}},
		{name: "token without channel", in: `{"bot_token": "xoxb-SECRET"}`, wantErr: []string{`key "channel" is missing`}},
		{name: "channel without token", in: `{"channel": "C0123"}`, wantErr: []string{`key "bot_token" is missing`}},
		{name: "token a number, channel empty", in: `{"bot_token": 12345, "channel": ""}`, wantErr: []string{`key "bot_token" is not a JSON string`, `key "channel" is empty`}},
		{name: "both", in: `{"webhook_url": "` + hook + `", "bot_token": "xoxb-SECRET", "channel": "C0123"}`, wantErr: []string{"both present"}},
		{name: "named webhooks beside a bot token", in: `{"bot_token": "xoxb-SECRET", "channel": "C0123", "webhooks": {"team-a": " ` + hook + ` ", "team_b": "` + hook + `2"}}`,
			want: Slack{BotToken: "xoxb-SECRET", Channel: "C0123", Webhooks: map[string]string{"team-a": hook, "team_b": hook + "2"}}},
		{name: "named webhooks beside a webhook", in: `{"webhook_url": "` + hook + `", "webhooks": {"team-a": "` + hook + `"}}`,
			want: Slack{WebhookURL: hook, Webhooks: map[string]string{"team-a": hook}}},
		{name: "webhooks not an object", in: `{"webhook_url": "` + hook + `", "webhooks": ["SECRET"]}`, wantErr: []string{`key "webhooks" is not a JSON object`}},
		{name: "named webhooks, each wrong", in: `{"webhook_url": "` + hook + `", "webhooks": {"Team A": "` + hook + `", "b": 7, "c": "http://hooks.slack.com/services/SECRET"}}`,
			wantErr: []string{`a webhook's name "Team A" is not`, `webhook "b" is not a JSON string`, `webhook "c" must use https`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if len(tt.wantErr) == 0 {
				if err != nil || !got.Same(tt.want) {
					t.Fatalf("Parse = %#v, %v; want the credential", got, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse = %#v, want an error", got)
			}
			if !got.Same(Slack{}) {
				t.Error("a failed Parse returned a credential")
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			checkHidden(t, "error", err.Error(), []string{"SECRET", "12345", "webhook_url="})
		})
	}
}

func TestSlackHidesItsFields(t *testing.T) {
	s := Slack{WebhookURL: "https://hooks.example.test/SECRET", BotToken: "xoxb-SECRET", Channel: "C0SECRET"}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		checkHidden(t, format, fmt.Sprintf(format, s), []string{"SECRET"})
	}
	var logs strings.Builder
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "credential", s)
	checkHidden(t, "log line", logs.String(), []string{"SECRET"})
	b, err := json.Marshal(struct{ Credential Slack }{s})
	if err != nil {
		t.Fatal(err)
	}
	checkHidden(t, "JSON", string(b), []string{"SECRET"})
}

// secretsManager is moto's Secrets Manager, reached through a proxy that
// counts GetSecretValue calls.
type secretsManager struct {
	client *secretsmanager.Client // straight to moto, for the test's own calls
	proxy  *secretsmanager.Client // through the counting proxy, for the code under test
	reads  atomic.Int32
}

func newSecretsManager(t *testing.T) *secretsManager {
	t.Helper()
	endpoint := testenv.Moto(t)
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	sm := &secretsManager{}
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") == "secretsmanager.GetSecretValue" {
			sm.reads.Add(1)
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	sm.client = secretsmanager.NewFromConfig(testenv.AWSConfig(endpoint))
	sm.proxy = secretsmanager.NewFromConfig(testenv.AWSConfig(proxy.URL))
	return sm
}

// create makes a secret named name holding value and returns its ARN.
func (sm *secretsManager) create(t *testing.T, name, value string) string {
	t.Helper()
	out, err := sm.client.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
	if err != nil {
		t.Fatalf("create secret %s: %v", name, err)
	}
	return *out.ARN
}

// put makes value the secret's current version, as a rotation does.
func (sm *secretsManager) put(t *testing.T, arn, value string) {
	t.Helper()
	if _, err := sm.client.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(arn), SecretString: aws.String(value)}); err != nil {
		t.Fatalf("put secret value: %v", err)
	}
}

func TestRead(t *testing.T) {
	sm := newSecretsManager(t)
	hook := "https://hooks.slack.com" + testenv.SlackHookPath
	values := append(testenv.SlackSecrets(), hook)
	// A secret ARN moto never made: the six characters after the name are
	// Secrets Manager's.
	missing := "arn:aws:secretsmanager:us-east-1:123456789012:secret:labelwatch/missing-AbCdEf"
	tests := []struct {
		name    string
		value   string // "" means no such secret
		binary  bool
		want    Slack
		wantErr []string
	}{
		{name: "webhook", value: jsonSecret(map[string]string{"webhook_url": hook}), want: Slack{WebhookURL: hook}},
		{name: "bot", value: jsonSecret(map[string]string{"bot_token": testenv.SlackToken, "channel": testenv.SlackChannel}),
			want: Slack{BotToken: testenv.SlackToken, Channel: testenv.SlackChannel}},
		{name: "not found", wantErr: []string{missing, "ResourceNotFoundException", "check SLACK_SECRET_ARN"}},
		{name: "malformed JSON", value: `{"bot_token": "` + testenv.SlackToken + `", channel: C0}`, wantErr: []string{"not JSON"}},
		{name: "token without channel", value: jsonSecret(map[string]string{"bot_token": testenv.SlackToken}), wantErr: []string{`key "channel" is missing`}},
		{name: "binary", binary: true, wantErr: []string{"binary data"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			arn := missing
			switch {
			case tt.binary:
				out, err := sm.client.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
					Name: aws.String(fmt.Sprintf("labelwatch/read-%d", i)), SecretBinary: []byte(testenv.SlackToken),
				})
				if err != nil {
					t.Fatal(err)
				}
				arn = *out.ARN
			case tt.value != "":
				arn = sm.create(t, fmt.Sprintf("labelwatch/read-%d", i), tt.value)
			}
			got, err := NewReader(sm.proxy, arn, 0).Read(context.Background())
			if len(tt.wantErr) == 0 {
				if err != nil || !got.Same(tt.want) {
					t.Fatalf("Read = %#v, %v; want the credential", got, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Read = %#v, want an error", got)
			}
			msg := err.Error()
			t.Logf("error: %v", msg)
			for _, s := range append(tt.wantErr, "read Slack secret "+arn) {
				if !strings.Contains(msg, s) {
					t.Errorf("error does not say %q:\n%s", s, msg)
				}
			}
			if tt.name == "not found" {
				if api, ok := errors.AsType[smithy.APIError](err); !ok || api.ErrorCode() != "ResourceNotFoundException" {
					t.Errorf("error %v does not hold the SDK's ResourceNotFoundException", err)
				}
			}
			checkHidden(t, "error", msg, values)
		})
	}
}

// harness is a Notifier under test with what it talks to.
type harness struct {
	sm       *secretsManager
	slack    *testenv.Slack
	clock    *testenv.Clock
	logs     *testenv.SyncBuffer
	notifier *Notifier
	arn      string
	errs     []string     // the text of every error a Send returned
	posted   slack.Posted // where the last Send put its message
}

// build makes a sender of a credential, as the function does (app.OpenNotifier).
func build(s *testenv.Slack) func(Slack) Sender {
	return func(c Slack) Sender {
		hc := &http.Client{Timeout: 10 * time.Second}
		if c.WebhookURL != "" {
			return slack.NewWebhookSender(c.WebhookURL, hc, testenv.RealClock())
		}
		return slack.NewBotSender(c.BotToken, c.Channel, s.APIURL(), hc, testenv.RealClock())
	}
}

func (h *harness) send(t *testing.T) (bool, error) {
	t.Helper()
	return h.sendMessage(t, slack.Message{Text: "job cats-1 failed"})
}

// sendMessage sends m through the notifier and keeps where it went.
func (h *harness) sendMessage(t *testing.T, m slack.Message) (bool, error) {
	t.Helper()
	posted, retry, err := h.notifier.Send(context.Background(), m)
	h.posted = posted
	if err != nil {
		h.errs = append(h.errs, err.Error(), fmt.Sprintf("%+v %#v", err, err))
	}
	return retry, err
}

func TestNotifierReadsAgainWhenSlackRefuses(t *testing.T) {
	sm := newSecretsManager(t)
	bot := func(token string) map[string]string {
		return map[string]string{"bot_token": token, "channel": testenv.SlackChannel}
	}
	tests := []struct {
		name string
		// first is the secret at cold start; then each step runs in turn.
		first func(s *testenv.Slack) map[string]string
		run   func(t *testing.T, h *harness)
	}{
		{
			name:  "bot token revoked, secret rotated",
			first: func(*testenv.Slack) map[string]string { return bot(oldToken) },
			run: func(t *testing.T, h *harness) {
				h.sm.put(t, h.arn, jsonSecret(bot(testenv.SlackToken)))
				if _, err := h.send(t); err != nil {
					t.Fatalf("Send after rotation: %v", err)
				}
				h.want(t, 1, 2)
				m := h.slack.Messages()
				if m[0].Channel != testenv.SlackChannel {
					t.Errorf("message went to %q, want the bot's channel", m[0].Channel)
				}
				if want := (slack.Posted{Channel: testenv.SlackChannel, TS: m[0].TS}); h.posted != want {
					t.Errorf("Send answered %+v, want %+v, where Slack put it", h.posted, want)
				}
				// The new token stays in use: no further read, and it edits
				// what it posted.
				if _, err := h.sendMessage(t, slack.Message{Text: "job cats-1 failed, edited", Edit: h.posted}); err != nil {
					t.Fatal(err)
				}
				h.want(t, 1, 2)
				if m := h.slack.Messages(); len(m) != 1 || m[0].Text != "job cats-1 failed, edited" || m[0].Edits != 1 {
					t.Errorf("messages after the edit: %+v, want the one message edited", m)
				}
			},
		},
		{
			name:  "invalid_auth, secret rotated to a webhook",
			first: func(*testenv.Slack) map[string]string { return bot(testenv.SlackToken) },
			run: func(t *testing.T, h *harness) {
				h.slack.FailNext(1, testenv.SlackFault{Status: http.StatusOK, Body: `{"ok":false,"error":"invalid_auth"}`})
				h.sm.put(t, h.arn, jsonSecret(map[string]string{"webhook_url": h.slack.WebhookURL()}))
				if _, err := h.send(t); err != nil {
					t.Fatalf("Send after rotation: %v", err)
				}
				h.want(t, 1, 2)
				if m := h.slack.Messages(); m[0].Channel != "" {
					t.Errorf("message went by chat.postMessage, want the webhook")
				}
				if h.posted != (slack.Posted{}) {
					t.Errorf("Send by webhook answered %+v, want a zero Posted", h.posted)
				}
			},
		},
		{
			name:  "webhook removed, secret rotated",
			first: func(s *testenv.Slack) map[string]string { return map[string]string{"webhook_url": s.URL + oldHookPath} },
			run: func(t *testing.T, h *harness) {
				h.sm.put(t, h.arn, jsonSecret(map[string]string{"webhook_url": h.slack.WebhookURL()}))
				if _, err := h.send(t); err != nil {
					t.Fatalf("Send after rotation: %v", err)
				}
				h.want(t, 1, 2)
			},
		},
		{
			name:  "token revoked, secret not rotated yet",
			first: func(*testenv.Slack) map[string]string { return bot(oldToken) },
			run: func(t *testing.T, h *harness) {
				retry, err := h.send(t)
				if err == nil || retry || !errors.Is(err, slack.ErrInvalidCredential) || !strings.Contains(err.Error(), "invalid_auth") {
					t.Fatalf("Send = %v, %v; want a final invalid_auth", retry, err)
				}
				h.want(t, 0, 2)
				// Within the recheck interval, another refusal reads nothing.
				h.clock.Advance(DefaultRecheck / 2)
				if _, err := h.send(t); err == nil {
					t.Fatal("Send with the revoked token succeeded")
				}
				h.want(t, 0, 2)
				// After it, the secret is read again, and now holds a new token.
				h.clock.Advance(DefaultRecheck)
				h.sm.put(t, h.arn, jsonSecret(bot(testenv.SlackToken)))
				if _, err := h.send(t); err != nil {
					t.Fatalf("Send after rotation: %v", err)
				}
				h.want(t, 1, 3)
				if !strings.Contains(h.logs.String(), "still holds the same one") {
					t.Errorf("no log line says the secret needs a new credential:\n%s", h.logs)
				}
			},
		},
		{
			name:  "other failures read nothing",
			first: func(*testenv.Slack) map[string]string { return bot(testenv.SlackToken) },
			run: func(t *testing.T, h *harness) {
				h.slack.FailNext(1, testenv.SlackFault{Status: http.StatusInternalServerError})
				if retry, err := h.send(t); err == nil || !retry {
					t.Errorf("Send on a 500 = %v, %v; want a retryable error", retry, err)
				}
				h.slack.FailNext(1, testenv.SlackFault{Status: http.StatusOK, Body: `{"ok":false,"error":"channel_not_found"}`})
				if retry, err := h.send(t); err == nil || retry || errors.Is(err, slack.ErrInvalidCredential) {
					t.Errorf("Send on channel_not_found = %v, %v; want a final error of another kind", retry, err)
				}
				h.want(t, 0, 1)
			},
		},
		{
			name:  "refusals at once read once",
			first: func(*testenv.Slack) map[string]string { return bot(oldToken) },
			run: func(t *testing.T, h *harness) {
				h.sm.put(t, h.arn, jsonSecret(bot(testenv.SlackToken)))
				var wg sync.WaitGroup
				errs := make([]error, 8)
				for i := range errs {
					wg.Go(func() {
						_, _, errs[i] = h.notifier.Send(context.Background(), slack.Message{Text: "job cats-1 failed"})
					})
				}
				wg.Wait()
				if err := errors.Join(errs...); err != nil {
					t.Fatal(err)
				}
				h.want(t, 8, 2)
			},
		},
		{
			name:  "secret gone when read again",
			first: func(*testenv.Slack) map[string]string { return bot(oldToken) },
			run: func(t *testing.T, h *harness) {
				if _, err := h.sm.client.DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{
					SecretId: aws.String(h.arn), ForceDeleteWithoutRecovery: aws.Bool(true),
				}); err != nil {
					t.Fatal(err)
				}
				retry, err := h.send(t)
				if err == nil || retry || !errors.Is(err, slack.ErrInvalidCredential) {
					t.Fatalf("Send = %v, %v; want a final invalid_auth", retry, err)
				}
				for _, s := range []string{"invalid_auth", "reading the secret again failed", "ResourceNotFoundException", h.arn} {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error does not say %q: %v", s, err)
					}
				}
				h.want(t, 0, 2)
			},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &harness{sm: sm, slack: testenv.NewSlack(t), clock: testenv.NewClock(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)), logs: &testenv.SyncBuffer{}}
			sm.reads.Store(0)
			h.arn = sm.create(t, fmt.Sprintf("labelwatch/rotation-%d", i), jsonSecret(tt.first(h.slack)))
			log := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			n, err := NewNotifier(context.Background(), NewReader(sm.proxy, h.arn, 0), build(h.slack), log, h.clock)
			if err != nil {
				t.Fatal(err)
			}
			h.notifier = n
			tt.run(t, h)
			h.slack.Settle()
			values := secretValues(h.slack)
			checkHidden(t, "the logs", h.logs.String(), values)
			checkHidden(t, "an error", strings.Join(h.errs, "\n"), values)
			checkHidden(t, "String", n.String(), values)
			if !strings.Contains(h.logs.String(), h.arn) && h.sm.reads.Load() > 1 {
				t.Errorf("no log line names the secret it read again:\n%s", h.logs)
			}
		})
	}
}

func TestNewNotifierFailsWithoutTheSecret(t *testing.T) {
	sm := newSecretsManager(t)
	arn := sm.create(t, "labelwatch/cold-start", `{"bot_token": "`+testenv.SlackToken+`"}`)
	s := testenv.NewSlack(t)
	var logs testenv.SyncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	n, err := NewNotifier(context.Background(), NewReader(sm.proxy, arn, 0), build(s), log, clock.System{})
	if err == nil || n != nil {
		t.Fatalf("NewNotifier = %v, %v; want an error", n, err)
	}
	if !strings.Contains(err.Error(), arn) || !strings.Contains(err.Error(), `key "channel" is missing`) {
		t.Errorf("error does not name the secret and the missing key: %v", err)
	}
	checkHidden(t, "error", err.Error(), secretValues(s))
	if s.Requests() != 0 {
		t.Errorf("Slack got %d requests before the credential was known good", s.Requests())
	}
}

// want checks how many messages Slack took and how many times the secret
// was read in all, the cold start's read included.
func (h *harness) want(t *testing.T, messages int, reads int32) {
	t.Helper()
	h.slack.Settle()
	if got := len(h.slack.Messages()); got != messages {
		t.Errorf("Slack took %d messages, want %d", got, messages)
	}
	if got := h.sm.reads.Load(); got != reads {
		t.Errorf("GetSecretValue was called %d times, want %d", got, reads)
	}
}

// TestCapabilitiesFollowTheSecret checks that a Notifier states what the
// credential in its secret can do, and that a secret rotated from a webhook
// to a bot token, or back, while the old credential still works, changes
// them once DefaultMaxAge has passed: the next run asks, and cards start or
// stop. A read that fails leaves the credential in use.
func TestCapabilitiesFollowTheSecret(t *testing.T) {
	sm := newSecretsManager(t)
	s := testenv.NewSlack(t)
	clk := testenv.NewClock(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC))
	webhook := jsonSecret(map[string]string{"webhook_url": s.WebhookURL()})
	bot := jsonSecret(map[string]string{"bot_token": testenv.SlackToken, "channel": testenv.SlackChannel})
	arn := sm.create(t, "labelwatch/capabilities", webhook)
	sm.reads.Store(0)
	var logs testenv.SyncBuffer
	n, err := NewNotifier(context.Background(), NewReader(sm.proxy, arn, 0), build(s), slog.New(slog.NewJSONHandler(&logs, nil)), clk)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		advance time.Duration
		put     string // the secret's new value, "" for none
		want    slack.Capabilities
		reads   int32 // in all, the cold start's included
	}{
		{name: "cold start with a webhook", want: slack.Capabilities{}, reads: 1},
		{name: "rotated to a bot token, read too recently", put: bot, advance: DefaultMaxAge / 2, want: slack.Capabilities{}, reads: 1},
		{name: "its age reached", advance: DefaultMaxAge / 2, want: slack.Capabilities{Edit: true, Channel: testenv.SlackChannel}, reads: 2},
		{name: "asked again at once", want: slack.Capabilities{Edit: true, Channel: testenv.SlackChannel}, reads: 2},
		{name: "rotated back to a webhook", put: webhook, advance: DefaultMaxAge, want: slack.Capabilities{}, reads: 3},
	}
	for _, st := range steps {
		if st.put != "" {
			sm.put(t, arn, st.put)
		}
		clk.Advance(st.advance)
		if got := n.Capabilities(); got != st.want {
			t.Errorf("%s: Capabilities = %+v, want %+v", st.name, got, st.want)
		}
		if got := sm.reads.Load(); got != st.reads {
			t.Errorf("%s: %d reads of the secret, want %d", st.name, got, st.reads)
		}
	}
	// A bot token again, then the secret unreadable: the bot token stays.
	sm.put(t, arn, bot)
	clk.Advance(DefaultMaxAge)
	if got := n.Capabilities(); !got.Edit {
		t.Fatalf("Capabilities = %+v after the rotation to a bot token", got)
	}
	if _, err := sm.client.DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{SecretId: aws.String(arn), ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(DefaultMaxAge)
	if got := n.Capabilities(); !got.Edit {
		t.Errorf("Capabilities = %+v after a failed read, want the bot token's", got)
	}
	if !strings.Contains(logs.String(), "reading the Slack secret again failed") {
		t.Errorf("the failed read is not logged:\n%s", logs.String())
	}
	checkHidden(t, "the logs", logs.String(), secretValues(s))
}
