package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/labelwatch/labelwatch/internal/app"
	"github.com/labelwatch/labelwatch/internal/emulator"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

// These tests run the real bootstrap under the Lambda Runtime Interface
// Emulator, invoked with events/scheduled.json, against the SageMaker
// emulator, dynalite and a local Slack endpoint. The SDK finds the local
// services through AWS_ENDPOINT_URL_* only, as it would in production.

var (
	dynaliteURL string
	bootstrap   string
)

func TestMain(m *testing.M) {
	os.Exit(func() int {
		ctx, cancel := context.WithTimeout(context.Background(), testenv.StartTimeout)
		defer cancel()
		srv, err := testenv.StartDynalite(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer srv.Close()
		dynaliteURL = srv.URL
		if bootstrap, err = testenv.Bootstrap(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}())
}

// slackServer is a local Slack: an incoming webhook at /services/... and
// chat.postMessage at /api/. It records what it accepts and can be told to
// fail.
type slackServer struct {
	*httptest.Server
	mu       sync.Mutex
	messages []map[string]any
	failWith int // answer every post with this HTTP status while set
}

func newSlackServer(t *testing.T) *slackServer {
	s := &slackServer{}
	s.Server = httptest.NewServer(s)
	t.Cleanup(s.Close)
	return s
}

func (s *slackServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failWith != 0 {
		http.Error(w, "service_unavailable", s.failWith)
		return
	}
	var msg map[string]any
	if strings.HasPrefix(r.URL.Path, "/api/chat.postMessage") {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		var blocks any
		json.Unmarshal([]byte(form.Get("blocks")), &blocks)
		msg = map[string]any{"channel": form.Get("channel"), "token": form.Get("token"), "text": form.Get("text"), "blocks": blocks}
		s.messages = append(s.messages, msg)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true,"channel":"C0TEST","ts":"1.2"}`)
		return
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	s.messages = append(s.messages, msg)
	io.WriteString(w, "ok")
}

func (s *slackServer) fail(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failWith = status
}

// texts returns the fallback text of every accepted message, in order.
func (s *slackServer) texts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.messages {
		text, _ := m["text"].(string)
		out = append(out, text)
	}
	return out
}

// pageRequests counts the distinct ListLabelingJobs requests the function
// makes. The SDK may send one request twice: on a fast loopback connection
// net/http now and then fails a request whose body smithy-go has closed
// (aws/aws-sdk-go-v2#2737), and the SDK's retryer sends it again. A retry is
// the same page, not another one.
type pageRequests struct {
	next http.Handler
	mu   sync.Mutex
	last string // the previous request's body
	n    int
}

func (p *pageRequests) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Amz-Target") == "SageMaker.ListLabelingJobs" {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		// A cycle's requests differ in NextToken, and cycles in their time
		// filter: only a retry repeats the request just before it.
		p.mu.Lock()
		if string(body) != p.last {
			p.n++
		}
		p.last = string(body)
		p.mu.Unlock()
	}
	p.next.ServeHTTP(w, r)
}

func (p *pageRequests) distinct() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// stack is one deployed labelwatch: a function, its table, the account's
// SageMaker and a Slack channel.
type stack struct {
	t      *testing.T
	emu    *emulator.Emulator
	pages  *pageRequests
	slack  *slackServer
	lambda *testenv.Lambda
	event  []byte
}

// newStack starts a function with env added to the defaults; "{slack}" in
// env stands for the local Slack server's URL.
func newStack(t *testing.T, env ...string) *stack {
	t.Helper()
	table := "labelwatch-" + strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	testenv.CreateTable(t, dynamodb.NewFromConfig(testenv.AWSConfig(dynaliteURL)), table)
	s := &stack{t: t, emu: emulator.New(), slack: newSlackServer(t)}
	s.pages = &pageRequests{next: s.emu}
	sm := httptest.NewServer(s.pages)
	t.Cleanup(sm.Close)
	base := []string{
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"AWS_ENDPOINT_URL_SAGEMAKER=" + sm.URL, "AWS_ENDPOINT_URL_DYNAMODB=" + dynaliteURL,
		"AWS_LAMBDA_FUNCTION_TIMEOUT=10", "DEADLINE_MARGIN=2s",
		"STATE_TABLE=" + table, "SLACK_PACE=0s",
	}
	if !hasSlackMode(env) {
		base = append(base, "SLACK_WEBHOOK_URL={slack}/services/TESTSECRET/hook")
	}
	var all []string
	for _, e := range append(base, env...) {
		all = append(all, strings.ReplaceAll(e, "{slack}", s.slack.URL))
	}
	s.lambda = testenv.StartLambda(t, bootstrap, all...)
	event, err := os.ReadFile(filepath.Join("..", "..", "events", "scheduled.json"))
	if err != nil {
		t.Fatal(err)
	}
	s.event = event
	return s
}

func hasSlackMode(env []string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, "SLACK_WEBHOOK_URL=") || strings.HasPrefix(e, "SLACK_BOT_TOKEN=") {
			return true
		}
	}
	return false
}

func (s *stack) invoke() app.Result {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	body, err := s.lambda.Invoke(ctx, s.event)
	if err != nil {
		s.t.Fatalf("%v\n%s", err, s.lambda.Output())
	}
	var r app.Result
	if err := json.Unmarshal(body, &r); err != nil {
		s.t.Fatalf("decode %q: %v\n%s", body, err, s.lambda.Output())
	}
	return r
}

// ok invokes and fails the test unless the run completed without error.
func (s *stack) ok() app.Result {
	s.t.Helper()
	r := s.invoke()
	if r.ErrorMessage != "" {
		s.t.Fatalf("invocation failed: %s (%s)\n%s", r.ErrorMessage, r.ErrorType, s.lambda.Output())
	}
	return r
}

func (s *stack) wantTexts(want ...string) {
	s.t.Helper()
	got := s.slack.texts()
	if len(got) != len(want) {
		s.t.Fatalf("Slack got %d messages, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			s.t.Errorf("message %d = %q, want it to contain %q", i, got[i], want[i])
		}
	}
}

func TestLifecycle(t *testing.T) {
	s := newStack(t)
	now := time.Now()
	at := func(d time.Duration) time.Time { return now.Add(d) }

	// First run: the old finished job and the running ones are recorded
	// silently; only the job that failed within LOOKBACK alerts.
	s.emu.Put(labeling.Job{Name: "old-done", Status: labeling.StatusCompleted, CreatedAt: at(-72 * time.Hour), ModifiedAt: at(-70 * time.Hour)})
	s.emu.Put(labeling.Job{Name: "old-failed", Status: labeling.StatusFailed, CreatedAt: at(-72 * time.Hour), ModifiedAt: at(-3 * time.Hour)})
	s.emu.Put(labeling.Job{Name: "recent-failed", Status: labeling.StatusFailed, CreatedAt: at(-2 * time.Hour), ModifiedAt: at(-10 * time.Minute), FailureReason: "ClientError: boom"})
	for _, name := range []string{"cats", "dogs", "birds"} {
		s.emu.Put(labeling.Job{Name: name, Status: labeling.StatusInProgress, CreatedAt: at(-time.Hour), ModifiedAt: at(-30 * time.Minute)})
	}
	s.emu.Put(labeling.Job{Name: "fresh", Status: labeling.StatusInitializing, CreatedAt: at(-time.Minute)})
	r := s.ok()
	if !r.FirstRun || r.Listed != 7 || r.Alerted != 1 {
		t.Fatalf("first run = %+v", r)
	}
	s.wantTexts("recent-failed")

	// Each alerting transition alerts once; the silent ones do not.
	s.emu.Update("cats", func(j *labeling.Job) { j.Status = labeling.StatusCompleted })
	s.emu.Update("dogs", func(j *labeling.Job) {
		j.Status = labeling.StatusFailed
		j.FailureReason = "ClientError: <!channel> <@U123> <https://x|y> &amp; `rm` \nline two"
	})
	s.emu.Update("birds", func(j *labeling.Job) { j.Status = labeling.StatusStopping })
	s.emu.Update("fresh", func(j *labeling.Job) { j.Status = labeling.StatusInProgress })
	r = s.ok()
	if r.FirstRun || r.Transitions != 4 || r.Alerted != 2 {
		t.Fatalf("second run = %+v", r)
	}
	s.wantTexts("recent-failed", "cats", "dogs")

	s.emu.Update("birds", func(j *labeling.Job) { j.Status = labeling.StatusStopped })
	s.ok()
	s.wantTexts("recent-failed", "cats", "dogs", "birds")

	// Many cycles later, nothing is alerted again.
	for range 10 {
		if r := s.ok(); r.Alerted != 0 || r.Transitions != 0 {
			t.Fatalf("quiet run = %+v", r)
		}
	}
	s.wantTexts("recent-failed", "cats", "dogs", "birds")

	// The failure reason arrived escaped: literal text, no mention, no link.
	dogs := s.slack.texts()[2]
	for _, want := range []string{"&lt;!channel&gt;", "&lt;@U123&gt;", "&lt;https://x|y&gt;", "&amp;amp;"} {
		if !strings.Contains(dogs, want) {
			t.Errorf("fallback text %q lacks %q", dogs, want)
		}
	}
	if strings.Contains(dogs, "<!channel>") || strings.Contains(dogs, "<@U123>") {
		t.Errorf("fallback text carries live markup: %q", dogs)
	}
}

func TestFiltersAndPages(t *testing.T) {
	s := newStack(t, "NAME_CONTAINS=prod", "IGNORE_CREATED_BEFORE=2026-01-01T00:00:00Z", "DIGEST_THRESHOLD=1000")
	created := time.Now().Add(-time.Hour)
	for i := range 250 {
		s.emu.Put(labeling.Job{Name: fmt.Sprintf("prod-batch-%03d", i), Status: labeling.StatusInProgress, CreatedAt: created})
	}
	s.emu.Put(labeling.Job{Name: "staging-batch", Status: labeling.StatusInProgress, CreatedAt: created})
	s.emu.Put(labeling.Job{Name: "prod-ancient", Status: labeling.StatusInProgress, CreatedAt: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)})
	if r := s.ok(); r.Listed != 250 {
		t.Fatalf("first run listed %d jobs, want the 250 matching ones", r.Listed)
	}
	before := s.pages.distinct()
	for _, j := range s.emu.Jobs() {
		s.emu.Update(j.Name, func(j *labeling.Job) { j.Status = labeling.StatusCompleted })
	}
	r := s.ok()
	if r.Listed != 250 || r.Alerted != 250 {
		t.Fatalf("second run = %+v", r)
	}
	if pages := s.pages.distinct() - before; pages != 3 {
		t.Errorf("listed 250 jobs in %d pages, want 3", pages)
	}
	for _, text := range s.slack.texts() {
		if strings.Contains(text, "staging-batch") || strings.Contains(text, "prod-ancient") {
			t.Errorf("filtered job alerted: %q", text)
		}
	}
	if r := s.ok(); r.Alerted != 0 {
		t.Fatalf("third run alerted again: %+v", r)
	}
}

func TestSlackOutageThenRecovery(t *testing.T) {
	s := newStack(t)
	s.emu.Put(labeling.Job{Name: "cats", Status: labeling.StatusInProgress, CreatedAt: time.Now().Add(-time.Hour)})
	s.ok()
	s.emu.Update("cats", func(j *labeling.Job) { j.Status = labeling.StatusFailed; j.FailureReason = "ClientError: boom" })

	s.slack.fail(http.StatusServiceUnavailable)
	r := s.invoke()
	if r.ErrorMessage == "" || !strings.Contains(r.ErrorMessage, "not delivered") {
		t.Fatalf("run during the outage = %+v, want an error saying the alert is pending", r)
	}
	if strings.Contains(r.ErrorMessage+s.lambda.Output(), "TESTSECRET") {
		t.Errorf("the webhook URL leaked into the error or logs:\n%s\n%s", r.ErrorMessage, s.lambda.Output())
	}
	if got := s.slack.texts(); len(got) != 0 {
		t.Fatalf("accepted messages during the outage: %q", got)
	}

	s.slack.fail(0)
	if r := s.ok(); r.Alerted != 1 {
		t.Fatalf("run after the outage = %+v", r)
	}
	s.ok()
	s.wantTexts("cats")
}

func TestBotToken(t *testing.T) {
	s := newStack(t, "SLACK_BOT_TOKEN=test-bot-token-SECRET", "SLACK_CHANNEL=C0TEST", "SLACK_API_URL={slack}/api/")
	s.emu.Put(labeling.Job{Name: "cats", Status: labeling.StatusInProgress, CreatedAt: time.Now().Add(-time.Hour)})
	s.ok()
	s.emu.Update("cats", func(j *labeling.Job) { j.Status = labeling.StatusCompleted })
	s.ok()
	s.wantTexts("cats")
	s.slack.mu.Lock()
	defer s.slack.mu.Unlock()
	if m := s.slack.messages[0]; m["channel"] != "C0TEST" || m["token"] != "test-bot-token-SECRET" || m["blocks"] == nil {
		t.Errorf("chat.postMessage got channel %v, token %v, blocks %v", m["channel"], m["token"], m["blocks"] != nil)
	}
}
