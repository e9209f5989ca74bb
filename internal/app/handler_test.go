package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"testing"
	"time"

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

// TestHandlerMetrics runs the handler over the wire-level SageMaker emulator,
// a file store and the real Slack sender to a local Slack, all on one fake
// clock, and reads the metrics line each invocation writes: one per poll
// and push, failed or not, none for an event the function ignores.
func TestHandlerMetrics(t *testing.T) {
	clock := testenv.NewClock(start)
	emu := emulator.New(emulator.WithClock(clock.Now))
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	sm := sagemaker.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(srv.URL),
		HTTPClient:   testenv.HTTPClient(),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	})
	store, err := state.OpenFile(filepath.Join(t.TempDir(), "state.json"), 24*time.Hour, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	sl := testenv.NewSlack(t)
	var logs, out bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	watcher := watch.New(labeling.NewSource(sm, labeling.Filter{}),
		store, slack.NewWebhookSender(sl.WebhookURL(), &http.Client{Timeout: 10 * time.Second}), log, clock,
		watch.Options{
			Rules:   watch.Rules{AlertOn: map[labeling.Status]bool{labeling.StatusCompleted: true, labeling.StatusFailed: true}, Lookback: time.Hour},
			Overlap: 10 * time.Minute, DeadlineMargin: time.Second,
			Retrier: watch.Retrier{Attempts: 1}, // a failed post is pending at once, with no backoff on the clock
		})
	h := app.NewHandler(watcher, log, &out, function, clock.Now)

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
				"AlertsSent": 1.0, "AlertsPending": 0.0, "Transitions": 1.0, "RunDuration": 0.0,
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
