package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"

	"github.com/labelwatch/labelwatch/internal/app"
	"github.com/labelwatch/labelwatch/internal/emulator"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/slack"
	"github.com/labelwatch/labelwatch/internal/state"
	"github.com/labelwatch/labelwatch/internal/testenv"
	"github.com/labelwatch/labelwatch/internal/watch"
)

var start = time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)

const (
	function = "labelwatch-LabelwatchFunction-AbC123"
	job      = "street-signs-batch-07"
)

func event(source, detailType string, resources ...string) json.RawMessage {
	b, err := json.Marshal(map[string]any{
		"version": "0", "id": "6f1c2a9e", "source": source, "detail-type": detailType,
		"account": "123456789012", "region": "us-east-1", "time": "2026-01-02T15:07:42Z",
		"resources": resources, "detail": map[string]any{},
	})
	if err != nil {
		panic(err)
	}
	return b
}

var (
	scheduled = event("aws.events", "Scheduled Event", "arn:aws:events:us-east-1:123456789012:rule/labelwatch-schedule")
	pushed    = func(name string) json.RawMessage {
		return event("aws.sagemaker", "SageMaker Ground Truth Labeling Job State Change",
			"arn:aws:sagemaker:us-east-1:123456789012:labeling-job/"+name)
	}
)

// wired is a Handler wired as OpenHandler wires it, on the emulator emu, a
// file store on clock and the test's Slack by webhook, with what it writes.
type wired struct {
	handler   *app.Handler
	slack     *testenv.Slack
	store     state.Store
	logs, out bytes.Buffer // the log lines, the metrics lines
}

func newWired(t *testing.T, emu *emulator.Emulator, clock *testenv.Clock, opts watch.Options, handlerOpts ...app.Option) *wired {
	t.Helper()
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	sm := sagemaker.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(srv.URL),
		HTTPClient:   testenv.HTTPClient(),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	})
	store, err := state.OpenFile(filepath.Join(t.TempDir(), "state.json"), 24*time.Hour, clock)
	if err != nil {
		t.Fatal(err)
	}
	w := &wired{slack: testenv.NewSlack(t), store: store}
	log := slog.New(slog.NewJSONHandler(&w.logs, nil))
	watcher := watch.New(labeling.NewSource(sm, labeling.Filter{}),
		store, slack.NewWebhookSender(w.slack.WebhookURL(), &http.Client{Timeout: 10 * time.Second}, clock), log, clock, opts)
	w.handler = app.NewHandler(watcher, log, &w.out, function, clock, handlerOpts...)
	return w
}

// TestHandlerMetrics runs the handler over the wire-level SageMaker emulator,
// a file store and the real Slack sender to a local Slack, all on one fake
// clock, and reads the metrics line each invocation writes: one per poll
// and push, failed or not, none for an event the function ignores.
func TestHandlerMetrics(t *testing.T) {
	clock := testenv.NewClock(start)
	emu := emulator.New(emulator.WithClock(clock))
	w := newWired(t, emu, clock, watch.Options{
		Rules:   watch.Rules{AlertOn: map[labeling.Status]bool{labeling.StatusCompleted: true, labeling.StatusFailed: true}, Lookback: time.Hour},
		Overlap: 10 * time.Minute, DeadlineMargin: time.Second,
		Retrier: watch.Retrier{Attempts: 1}, // a failed post is pending at once, with no backoff on the clock
	})
	h, sl, out := w.handler, w.slack, &w.out

	type want struct {
		err     bool
		trigger string         // "" for no metrics line
		members map[string]any // the line's members but _aws
	}
	for _, step := range []struct {
		name   string
		before func()
		event  json.RawMessage
		want   want
	}{
		{
			name:  "first poll, no cursor",
			event: scheduled,
			want: want{trigger: "poll", members: map[string]any{
				"PollsCompleted": 1.0, "JobsListed": 0.0, "Transitions": 0.0, "AlertsSent": 0.0, "AlertsPending": 0.0, "RunDuration": 0.0,
				"CursorLag": 30.0, // an empty account: the cursor is where the listing began, less the clock skew
			}},
		},
		{
			name: "poll sets the cursor",
			before: func() {
				emu.Put(labeling.Job{Name: job, Status: labeling.StatusInProgress}) // modified at start
				clock.Advance(5 * time.Minute)
			},
			event: scheduled,
			want: want{trigger: "poll", members: map[string]any{
				"PollsCompleted": 1.0, "JobsListed": 1.0, "Transitions": 1.0, "AlertsSent": 0.0, "AlertsPending": 0.0, "RunDuration": 0.0,
				"CursorLag": 30.0, // the job is 5 minutes old: the listing's start less the skew is later
			}},
		},
		{
			name: "failed poll, alert pending",
			before: func() {
				emu.Update(job, func(j *labeling.Job) { j.Status = labeling.StatusCompleted })
				clock.Advance(2 * time.Minute)
				sl.FailNext(1, testenv.SlackFault{Status: http.StatusInternalServerError})
			},
			event: scheduled,
			want: want{err: true, trigger: "poll", members: map[string]any{
				"PollsCompleted": 0.0, "JobsListed": 1.0, "Transitions": 1.0, "AlertsSent": 0.0, "AlertsPending": 1.0, "RunDuration": 0.0,
				"CursorLag": 150.0, // the cursor stays where it was until the alert is sent
			}},
		},
		{
			name:   "push sends the pending alert",
			before: func() { clock.Advance(time.Minute) },
			event:  pushed(job),
			want: want{trigger: "push", members: map[string]any{
				"AlertsSent": 1.0, "Transitions": 1.0, "RunDuration": 0.0,
			}},
		},
		{
			name:  "push of a job that does not exist",
			event: pushed("no-such-job"),
			want:  want{},
		},
		{
			name:  "event the function does not handle",
			event: json.RawMessage(`{"source":"aws.s3","detail-type":"Object Created"}`),
			want:  want{},
		},
	} {
		t.Run(step.name, func(t *testing.T) {
			if step.before != nil {
				step.before()
			}
			out.Reset()
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			if _, err := h.Invoke(ctx, step.event); (err != nil) != step.want.err {
				t.Errorf("Invoke: %v, want error %t", err, step.want.err)
			}
			if step.want.trigger == "" {
				if out.Len() > 0 {
					t.Errorf("metrics written for an ignored event:\n%s", out.String())
				}
				return
			}
			var line map[string]any
			if err := json.Unmarshal(out.Bytes(), &line); err != nil {
				t.Fatalf("no one metrics line: %v\n%s", err, out.String())
			}
			meta, _ := line["_aws"].(map[string]any)
			if ts, want := meta["Timestamp"], float64(clock.Now().UnixMilli()); ts != want {
				t.Errorf("Timestamp %v, want the clock's %v", ts, want)
			}
			delete(line, "_aws")
			wantMembers := map[string]any{"FunctionName": function, "Trigger": step.want.trigger}
			for k, v := range step.want.members {
				wantMembers[k] = v
			}
			if !reflect.DeepEqual(line, wantMembers) {
				t.Errorf("metrics line members\n%v\nwant\n%v", line, wantMembers)
			}
		})
	}
}

// TestPushOfJobElsewhere pushes events about jobs in several places to a
// handler in several places, and checks that only a job in the function's
// own account and region is described: any other is ignored, with one
// warning, before any SageMaker call. The emulator has the job, so a job
// taken for the function's own is described and alerts.
func TestPushOfJobElsewhere(t *testing.T) {
	const (
		fnARN     = "arn:aws:lambda:us-east-1:123456789012:function:labelwatch"
		aliasARN  = "arn:aws:lambda:us-east-1:123456789012:function:labelwatch:live"
		rieARN    = "arn:aws:lambda:us-east-1:012345678912:function:labelwatch" // the Lambda Runtime Interface Emulator's, whatever AWS_REGION is
		chinaARN  = "arn:aws-cn:lambda:cn-north-1:123456789012:function:labelwatch"
		here      = "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/" + job
		otherAcct = "arn:aws:sagemaker:us-east-1:210987654321:labeling-job/" + job
		otherRgn  = "arn:aws:sagemaker:eu-west-1:123456789012:labeling-job/" + job
		china     = "arn:aws-cn:sagemaker:cn-north-1:123456789012:labeling-job/" + job
	)
	tests := []struct {
		name    string
		invoked string // the function ARN Lambda invokes by; "" for a call outside Lambda
		opts    []app.Option
		job     string // the event's job ARN
		because string // the warning's reason, "" for a push
	}{
		{name: "in Lambda, the function's own job", invoked: fnARN, opts: []app.Option{app.WithRegion("us-east-1")}, job: here},
		{name: "in Lambda, a job of another account", invoked: fnARN, opts: []app.Option{app.WithRegion("us-east-1")}, job: otherAcct,
			because: "the job is in account 210987654321, not in the function's account 123456789012"},
		{name: "in Lambda, a job of another region", invoked: fnARN, opts: []app.Option{app.WithRegion("us-east-1")}, job: otherRgn,
			because: "the job is in region eu-west-1, not in the function's region us-east-1"},
		{name: "in Lambda, a job of another partition", invoked: fnARN, opts: []app.Option{app.WithRegion("us-east-1")}, job: china,
			because: "the job is in partition aws-cn, not in the function's partition aws"},
		{name: "invoked by an alias", invoked: aliasARN, job: otherAcct, because: "account 210987654321"},
		{name: "without a region given, the invoked ARN's", invoked: fnARN, job: otherRgn, because: "region eu-west-1, not in the function's region us-east-1"},
		{name: "without a region given, the invoked ARN's own job", invoked: fnARN, job: here},
		{name: "in China", invoked: chinaARN, opts: []app.Option{app.WithRegion("cn-north-1")}, job: china},
		// Under the emulator the ARN's region is always us-east-1: the
		// region given, AWS_REGION, is where the SageMaker client reads.
		{name: "the region given wins over the ARN's", invoked: rieARN, opts: []app.Option{app.WithRegion("eu-west-1")},
			job: "arn:aws:sagemaker:eu-west-1:012345678912:labeling-job/" + job},
		{name: "the region given, a job of the ARN's region", invoked: rieARN, opts: []app.Option{app.WithRegion("eu-west-1")},
			job: "arn:aws:sagemaker:us-east-1:012345678912:labeling-job/" + job, because: "region us-east-1, not in the function's region eu-west-1"},
		// Outside Lambda the account is not known, and only the region is
		// compared.
		{name: "outside Lambda, a job of another account", opts: []app.Option{app.WithRegion("us-east-1")}, job: otherAcct},
		{name: "outside Lambda, a job of another region", opts: []app.Option{app.WithRegion("us-east-1")}, job: otherRgn,
			because: "region eu-west-1, not in the function's region us-east-1"},
		{name: "outside Lambda, no region given", job: otherRgn},
		{name: "an unreadable function ARN, a job of another account", invoked: "function:labelwatch", opts: []app.Option{app.WithRegion("us-east-1")}, job: otherAcct},
		{name: "an unreadable function ARN, a job of another region", invoked: "function:labelwatch", opts: []app.Option{app.WithRegion("us-east-1")}, job: otherRgn,
			because: "region eu-west-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emu := emulator.New()
			emu.Put(labeling.Job{Name: job, Status: labeling.StatusCompleted, CreatedAt: start.Add(-time.Hour), ModifiedAt: start})
			w := newWired(t, emu, testenv.NewClock(start.Add(time.Minute)),
				watch.Options{Rules: watch.Rules{AlertOn: map[labeling.Status]bool{labeling.StatusCompleted: true}, Lookback: time.Hour}, DeadlineMargin: time.Second},
				tt.opts...)
			h, sl, store, logs, out := w.handler, w.slack, w.store, &w.logs, &w.out

			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			if tt.invoked != "" {
				ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: "r-1", InvokedFunctionArn: tt.invoked})
			}
			event := event("aws.sagemaker", "SageMaker Ground Truth Labeling Job State Change", tt.job)
			r, err := h.Invoke(ctx, event)
			if err != nil {
				t.Fatalf("Invoke: %v", err)
			}
			var warnings []map[string]any
			for _, line := range bytes.Split(logs.Bytes(), []byte("\n")) {
				var l map[string]any
				if json.Unmarshal(line, &l) == nil && l["msg"] == "event ignored" {
					warnings = append(warnings, l)
				}
			}
			described := emu.Calls("DescribeLabelingJob")
			if tt.because == "" {
				if r.Trigger != app.TriggerPush || r.Alerted != 1 || described != 1 || len(warnings) != 0 || len(sl.Messages()) != 1 {
					t.Errorf("result %+v, %d described, %d warnings, %d posted; want the job described, alerted and posted, no warning",
						r, described, len(warnings), len(sl.Messages()))
				}
				return
			}
			if r != (app.Result{Trigger: app.TriggerIgnored}) {
				t.Errorf("result %+v, want an ignored event", r)
			}
			if described != 0 || len(sl.Messages()) != 0 || out.Len() != 0 {
				t.Errorf("%d described, %d posted, metrics %q; want none of them", described, len(sl.Messages()), out.String())
			}
			if len(warnings) != 1 {
				t.Fatalf("%d event ignored warnings, want 1:\n%s", len(warnings), logs.String())
			}
			if w := warnings[0]; w["level"] != "WARN" || !strings.Contains(fmt.Sprint(w["reason"]), tt.because) {
				t.Errorf("warning %v, want level WARN and a reason saying %q", w, tt.because)
			}
			if records, err := store.Load(ctx, []string{job}); err != nil || len(records) != 0 {
				t.Errorf("stored %v (%v), want nothing", records, err)
			}
		})
	}
}
