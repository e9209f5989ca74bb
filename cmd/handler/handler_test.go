package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/labelwatch/labelwatch/internal/app"
	"github.com/labelwatch/labelwatch/internal/config"
	"github.com/labelwatch/labelwatch/internal/emulator"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/state"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

// These tests run the real bootstrap under the Lambda Runtime Interface
// Emulator, invoked with events/scheduled.json and
// events/labeling-job-state-change.json, against the SageMaker emulator,
// dynalite and a local Slack endpoint. The SDK finds the local
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

// slackPost is the one operation the gate in front of Slack tells apart.
const slackPost = "post"

// texts is the fallback text of every message Slack took, in order.
func (s *stack) texts() []string {
	var out []string
	for _, m := range s.slack.Messages() {
		out = append(out, m.Text)
	}
	return out
}

// leakedSecret returns the first of the local Slack's credentials that out
// holds, or "": the bot token, or a segment of the webhook's path.
func leakedSecret(out string) string {
	secrets := testenv.SlackSecrets()
	for _, secret := range secrets {
		if strings.Contains(out, secret) {
			return secret
		}
	}
	return ""
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
// SageMaker and a Slack channel. The function reaches SageMaker, DynamoDB and
// Slack through gates, which pass every call on until a test asks them to
// hold some.
type stack struct {
	t         *testing.T
	emu       *emulator.Emulator // the function's own region of its own account
	estate    *emulator.Estate   // every account and region SageMaker serves, emu's included
	pages     *pageRequests
	sagemaker *gate // in front of the emulator; operations by X-Amz-Target
	dynamo    *gate // in front of dynalite; operations by X-Amz-Target
	slack     *testenv.Slack
	slackGate *gate // in front of slack; every post is one operation, slackPost
	lambda    *testenv.Lambda
	env       []string // the function's environment, for more instances
	table     string
	store     *state.DynamoStore      // the function's table, read directly
	event     []byte                  // events/scheduled.json: a poll
	sample    []byte                  // events/labeling-job-state-change.json
	events    int                     // state change events made so far
	started   map[*testenv.Lambda]int // invocations started on each instance
}

// newStack starts a function with env added to the defaults; "{slack}" in
// env stands for the base URL through which it reaches the local Slack.
func newStack(t *testing.T, env ...string) *stack {
	t.Helper()
	return buildStack(t, func(s *stack, slackURL string) []string {
		base := []string{
			"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
			"AWS_ENDPOINT_URL_SAGEMAKER=" + s.sagemaker.serve(), "AWS_ENDPOINT_URL_DYNAMODB=" + s.dynamo.serve(),
			"AWS_LAMBDA_FUNCTION_TIMEOUT=10", "DEADLINE_MARGIN=2s",
			"STATE_TABLE=" + s.table, "SLACK_PACE=0s",
		}
		if !hasSlackMode(env) {
			base = append(base, "SLACK_WEBHOOK_URL={slack}"+testenv.SlackHookPath)
		}
		var out []string
		for _, e := range append(base, env...) {
			out = append(out, strings.ReplaceAll(e, "{slack}", slackURL))
		}
		return out
	})
}

// buildStack starts a function whose whole environment (but what
// testenv.LambdaEnviron gives every function) is environ's, called once s
// has its table and gates, with the base URL of the gate to the local Slack.
func buildStack(t *testing.T, environ func(s *stack, slackURL string) []string) *stack {
	t.Helper()
	// A table name is 3 to 255 of [a-zA-Z0-9_.-].
	table := "labelwatch-" + strings.Map(func(r rune) rune {
		if r == '.' || r == '-' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' {
			return r
		}
		return '-'
	}, strings.ToLower(t.Name()))
	table = table[:min(len(table), 255)]
	ddb := dynamodb.NewFromConfig(testenv.AWSConfig(dynaliteURL))
	testenv.CreateTable(t, ddb, table)
	t.Cleanup(func() { // so that -count=N can make it again
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := ddb.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)}); err != nil {
			t.Errorf("delete table %s: %v", table, err)
		}
	})
	estate := emulator.NewEstate(testenv.LambdaAccount)
	s := &stack{t: t, emu: estate.Add(emulator.Place{Account: testenv.LambdaAccount, Region: "us-east-1"}), estate: estate,
		slack: testenv.NewSlack(t), table: table,
		store:   state.NewDynamoStore(ddb, table, config.DefaultRetention, nil),
		started: map[*testenv.Lambda]int{}}
	s.pages = &pageRequests{next: estate}
	s.sagemaker = newGate(t, s.pages, awsOperation)
	s.dynamo = newGate(t, proxy(t, dynaliteURL), awsOperation)
	s.slackGate = newGate(t, proxy(t, s.slack.URL), func(*http.Request) string { return slackPost })
	s.env = environ(s, s.slackGate.serve())
	s.lambda = s.instance()
	s.event = readEvent(t, "scheduled.json")
	s.sample = readEvent(t, "labeling-job-state-change.json")
	return s
}

// use makes s report to t, a subtest of the test that made s, until the
// function it returns is called.
func (s *stack) use(t *testing.T) (restore func()) {
	prev := s.t
	s.t = t
	return func() { s.t = prev }
}

// instance starts another instance of the function, as Lambda does for an
// invocation that arrives while every instance is busy.
func (s *stack) instance() *testenv.Lambda {
	s.t.Helper()
	return testenv.StartLambda(s.t, bootstrap, s.env...)
}

func readEvent(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// proxy forwards to the server at base (dynalite, the local Slack), passing
// the client's Accept-Encoding through as it is.
func proxy(t *testing.T, base string) http.Handler {
	target, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	transport := &http.Transport{DisableCompression: true}
	t.Cleanup(transport.CloseIdleConnections)
	return &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport: transport,
	}
}

// awsOperation is the operation an AWS JSON request calls, such as
// "BatchGetItem" for X-Amz-Target DynamoDB_20120810.BatchGetItem.
func awsOperation(r *http.Request) string {
	target := r.Header.Get("X-Amz-Target")
	return target[strings.LastIndexByte(target, '.')+1:]
}

func hasSlackMode(env []string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, "SLACK_WEBHOOK_URL=") || strings.HasPrefix(e, "SLACK_BOT_TOKEN=") {
			return true
		}
	}
	return false
}

// stateChange is events/labeling-job-state-change.json for the emulator's
// job name, with status as the event's detail and an id of its own; the
// rest of the sample is kept as it is.
func (s *stack) stateChange(name string, status labeling.Status) []byte {
	s.t.Helper()
	job, ok := s.emu.Job(name)
	if !ok {
		s.t.Fatalf("no job %q in the emulator to make an event for", name)
	}
	return s.stateChangeFor(status, job.ARN)
}

// stateChangeFor is stateChange with resources set to arns as they are.
func (s *stack) stateChangeFor(status labeling.Status, arns ...string) []byte {
	s.t.Helper()
	s.events++
	return s.edit(s.sample, map[string]any{
		"id":        fmt.Sprintf("6f1c2a9e-3b7d-4e0a-9c55-%012d", s.events),
		"resources": arns,
		"detail":    map[string]labeling.Status{"LabelingJobStatus": status},
	})
}

// edit returns the JSON object event with the members in set replaced; a
// nil value removes its member.
func (s *stack) edit(event []byte, set map[string]any) []byte {
	s.t.Helper()
	var members map[string]json.RawMessage
	if err := json.Unmarshal(event, &members); err != nil {
		s.t.Fatal(err)
	}
	for k, v := range set {
		if v == nil {
			delete(members, k)
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			s.t.Fatal(err)
		}
		members[k] = b
	}
	b, err := json.Marshal(members)
	if err != nil {
		s.t.Fatal(err)
	}
	return b
}

// eventID is the id of event, or "" when it has none (or is no object).
func eventID(event []byte) string {
	var ev struct {
		ID any `json:"id"`
	}
	_ = json.Unmarshal(event, &ev)
	id, _ := ev.ID.(string)
	return id
}

// invocation is one invocation in flight.
type invocation struct {
	lambda *testenv.Lambda
	done   chan struct{} // closed once it returned
	body   []byte
	err    error
}

// start invokes l with event and returns at once.
func (s *stack) start(l *testenv.Lambda, event []byte) *invocation {
	s.started[l]++
	inv := &invocation{lambda: l, done: make(chan struct{})}
	go func() {
		defer close(inv.done)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		inv.body, inv.err = l.Invoke(ctx, event)
	}()
	return inv
}

// wait returns what inv returned, failed or not.
func (s *stack) wait(inv *invocation) app.Result {
	s.t.Helper()
	<-inv.done
	if inv.err != nil {
		s.t.Fatalf("%v\n%s", inv.err, inv.lambda.Output())
	}
	var r app.Result
	if err := json.Unmarshal(inv.body, &r); err != nil {
		s.t.Fatalf("decode %q: %v\n%s", inv.body, err, inv.lambda.Output())
	}
	return r
}

// succeeded fails the test unless r is the result of a completed run.
func (s *stack) succeeded(l *testenv.Lambda, r app.Result) app.Result {
	s.t.Helper()
	if r.ErrorMessage != "" {
		s.t.Fatalf("invocation failed: %s (%s)\n%s", r.ErrorMessage, r.ErrorType, l.Output())
	}
	return r
}

// invoke polls, failed or not.
func (s *stack) invoke() app.Result {
	s.t.Helper()
	return s.wait(s.start(s.lambda, s.event))
}

// ok polls and fails the test unless the run completed without error.
func (s *stack) ok() app.Result {
	s.t.Helper()
	return s.send(s.event)
}

// send invokes the function with event and fails the test unless the run
// completed without error.
func (s *stack) send(event []byte) app.Result {
	s.t.Helper()
	return s.succeeded(s.lambda, s.wait(s.start(s.lambda, event)))
}

func (s *stack) wantTexts(want ...string) {
	s.t.Helper()
	got := s.texts()
	if len(got) != len(want) {
		s.t.Fatalf("Slack got %d messages, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			s.t.Errorf("message %d = %q, want it to contain %q", i, got[i], want[i])
		}
	}
}

// logLine is one JSON log line of the function.
type logLine map[string]any

// logs returns the function's JSON log lines in output (what s.output
// returns, or a part of it) whose msg is msg.
func logs(output, msg string) []logLine {
	var out []logLine
	for _, line := range strings.Split(output, "\n") {
		var l logLine
		if json.Unmarshal([]byte(line), &l) == nil && l["msg"] == msg {
			out = append(out, l)
		}
	}
	return out
}

// lastLines are the messages one of which ends every invocation: the
// summary of a poll or a push, or the warning for an event ignored.
var lastLines = []string{"poll complete", "poll incomplete", "push complete", "push incomplete", "event ignored"}

// output is what instance l printed, once it holds every line of the
// invocations started on l so far. The function writes its lines before it
// answers, but they reach Output through the emulator's and exec's copying,
// which may still be under way when the answer arrives; each invocation's
// last line (lastLines) says its lines are in. So this waits for lines
// known to come, which a loaded machine delays but cannot reorder.
func (s *stack) output(l *testenv.Lambda) string {
	s.t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(time.Minute)
	for {
		out := l.Output()
		ended := 0
		for _, msg := range lastLines {
			ended += len(logs(out, msg))
		}
		switch {
		case ended > s.started[l]:
			s.t.Fatalf("%d invocations ended with one of %q, more than the %d started:\n%s", ended, lastLines, s.started[l], out)
		case ended == s.started[l]:
			return out
		}
		select {
		case <-tick.C:
		case <-deadline:
			s.t.Fatalf("after a minute %d of %d invocations have logged their last line (one of %q):\n%s", ended, s.started[l], lastLines, out)
		}
	}
}

// record is the stored state of job, read directly from the table.
func (s *stack) record(job string) (state.Record, bool) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	records, err := s.store.Load(ctx, []string{job})
	if err != nil {
		s.t.Fatal(err)
	}
	r, ok := records[job]
	return r, ok
}

// cursor is the stored cursor, read directly from the table.
func (s *stack) cursor() (state.Cursor, bool) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, ok, err := s.store.Cursor(ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	return c, ok
}

// items is how many items the table holds, the cursor included.
func (s *stack) items() int {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The minute's push counts ("#tally-…") are the storm budget, not state.
	out, err := dynamodb.NewFromConfig(testenv.AWSConfig(dynaliteURL)).Scan(ctx, &dynamodb.ScanInput{
		TableName: aws.String(s.table), ConsistentRead: aws.Bool(true),
		FilterExpression:          aws.String("NOT begins_with(pk, :tally)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":tally": &types.AttributeValueMemberS{Value: "#tally-"}},
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return int(out.Count)
}

// wantAlerted fails the test unless job's stored state is status, alerted
// and committed (no claim left).
func (s *stack) wantAlerted(job string, status labeling.Status) {
	s.t.Helper()
	r, ok := s.record(job)
	if !ok || r.Status != status || r.AlertedAt.IsZero() || r.Lease != nil {
		s.t.Errorf("stored state of %s = %+v (found %v), want %s, alerted, no lease", job, r, ok, status)
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
	dogs := s.texts()[2]
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
	if r.Listed != 250 || r.Alerted != 250 || r.Running != 0 {
		t.Fatalf("second run = %+v", r)
	}
	// Three pages of modified jobs, and one (empty) of the jobs in
	// progress, which STUCK_AFTER's default has the poll list too.
	if pages := s.pages.distinct() - before; pages != 4 {
		t.Errorf("listed 250 jobs in %d pages, want 3 and one of jobs in progress", pages)
	}
	for _, text := range s.texts() {
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

	// More failures than the run has time to meet.
	s.slack.FailNext(1000, testenv.SlackFault{Status: http.StatusServiceUnavailable, Body: "service_unavailable"})
	r := s.invoke()
	if r.ErrorMessage == "" || !strings.Contains(r.ErrorMessage, "not delivered") {
		t.Fatalf("run during the outage = %+v, want an error saying the alert is pending", r)
	}
	if out := s.output(s.lambda); leakedSecret(r.ErrorMessage+out) != "" {
		t.Errorf("the webhook URL leaked into the error or logs:\n%s\n%s", r.ErrorMessage, out)
	}
	if got := s.texts(); len(got) != 0 {
		t.Fatalf("accepted messages during the outage: %q", got)
	}

	s.slack.ClearFaults()
	if r := s.ok(); r.Alerted != 1 {
		t.Fatalf("run after the outage = %+v", r)
	}
	s.ok()
	s.wantTexts("cats")
}

func TestBotToken(t *testing.T) {
	s := newStack(t, "SLACK_BOT_TOKEN="+testenv.SlackToken, "SLACK_CHANNEL="+testenv.SlackChannel, "SLACK_API_URL={slack}/api/")
	s.emu.Put(labeling.Job{Name: "cats", Status: labeling.StatusInProgress, CreatedAt: time.Now().Add(-time.Hour)})
	s.ok()
	s.emu.Update("cats", func(j *labeling.Job) { j.Status = labeling.StatusCompleted })
	s.ok()
	s.wantTexts("cats")
	// Slack takes a chat.postMessage only with its token and channel.
	if m := s.slack.Messages()[0]; m.Channel != testenv.SlackChannel || m.TS == "" || len(m.Blocks) == 0 {
		t.Errorf("chat.postMessage took channel %q, ts %q, %d blocks; want %s, a ts and the blocks", m.Channel, m.TS, len(m.Blocks), testenv.SlackChannel)
	}
}
