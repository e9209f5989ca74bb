package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/labelwatch/labelwatch/internal/app"
	"github.com/labelwatch/labelwatch/internal/clock"
	"github.com/labelwatch/labelwatch/internal/config"
	"github.com/labelwatch/labelwatch/internal/emulator"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/state"
)

// step is one moment of the demo scenario: how much later it is, what
// changes in the account, then one real cycle.
type step struct {
	title  string
	later  time.Duration
	change func(emu *emulator.Emulator, now time.Time)
}

const (
	workteam = "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/ml-labelers"
	bucket   = "s3://acme-ml-datasets"
)

var scenario = []step{
	{"First run: labelwatch records what the account already holds", 0, func(emu *emulator.Emulator, now time.Time) {
		old := now.Add(-72 * time.Hour)
		for _, name := range []string{"retail-shelves-2025", "invoice-fields-v1", "road-signs-eu"} {
			emu.Put(job(name, labeling.StatusCompleted, old, old.Add(20*time.Hour), labeling.Counters{Total: 5000, Human: 3100, Machine: 1900}))
		}
		emu.Put(job("bird-species-v3", labeling.StatusInProgress, now.Add(-3*time.Hour), now.Add(-10*time.Minute), labeling.Counters{Total: 1200, Human: 1200, Unlabeled: 2800}))
		emu.Put(job("street-scenes-seg", labeling.StatusInitializing, now.Add(-5*time.Minute), now.Add(-5*time.Minute), labeling.Counters{Unlabeled: 900}))
		emu.Put(job("medical-xray-triage", labeling.StatusInProgress, now.Add(-26*time.Hour), now.Add(-30*time.Minute), labeling.Counters{Total: 310, Human: 310, Unlabeled: 1690}))
		recent := job("sentiment-tweets-fr", labeling.StatusFailed, now.Add(-2*time.Hour), now.Add(-20*time.Minute), labeling.Counters{Total: 120, Human: 120, Unlabeled: 880})
		recent.FailureReason = "ClientError: Annotation consolidation Lambda arn:aws:lambda:us-east-1:123456789012:function:acs-sentiment timed out after 300 seconds for 14 data objects."
		emu.Put(recent)
	}},
	{"pedestrian-boxes starts: its card is posted; the jobs the first run saw get none", 10 * time.Minute, func(emu *emulator.Emulator, now time.Time) {
		emu.Put(job("pedestrian-boxes", labeling.StatusInitializing, now, now, labeling.Counters{Unlabeled: 2000}))
		emu.Update("street-scenes-seg", func(j *labeling.Job) { j.Status = labeling.StatusInProgress })
		emu.Update("bird-species-v3", func(j *labeling.Job) {
			j.Counters = labeling.Counters{Total: 3400, Human: 2100, Machine: 1300, Unlabeled: 600}
		})
	}},
	{"pedestrian-boxes labels: its card is edited in place, 50% is told in its thread", time.Hour, func(emu *emulator.Emulator, now time.Time) {
		emu.Update("pedestrian-boxes", func(j *labeling.Job) {
			j.Status = labeling.StatusInProgress
			j.Counters = labeling.Counters{Total: 1080, Human: 1080, Unlabeled: 920}
		})
	}},
	{"bird-species-v3 completes, street-scenes-seg fails, medical-xray-triage is being stopped", time.Hour, func(emu *emulator.Emulator, now time.Time) {
		emu.Update("bird-species-v3", func(j *labeling.Job) {
			j.Status = labeling.StatusCompleted
			j.Counters = labeling.Counters{Total: 3980, Human: 2400, Machine: 1580, Failed: 20}
			j.OutputManifest = bucket + "/bird-species-v3/output/bird-species-v3/manifests/output/output.manifest"
		})
		emu.Update("street-scenes-seg", func(j *labeling.Job) {
			j.Status = labeling.StatusFailed
			j.FailureReason = "ClientError: Unable to read input manifest " + bucket + "/street-scenes/input.manifest: Access Denied (Service: Amazon S3; Status Code: 403). Check the job's execution role."
		})
		emu.Update("medical-xray-triage", func(j *labeling.Job) { j.Status = labeling.StatusStopping })
	}},
	{"Six hours on, pedestrian-boxes has not moved: a stuck warning in its thread, shown in the channel", 6 * time.Hour, func(emu *emulator.Emulator, now time.Time) {
		emu.Update("medical-xray-triage", func(j *labeling.Job) { j.Status = labeling.StatusStopped })
	}},
	{"pedestrian-boxes completes: its card shows the end, the outcome is a reply; a job with hostile text fails", time.Hour, func(emu *emulator.Emulator, now time.Time) {
		emu.Update("pedestrian-boxes", func(j *labeling.Job) {
			j.Status = labeling.StatusCompleted
			j.Counters = labeling.Counters{Total: 2000, Human: 1400, Machine: 600}
			j.OutputManifest = bucket + "/pedestrian-boxes/output/pedestrian-boxes/manifests/output/output.manifest"
		})
		// SageMaker would refuse this name; labelwatch escapes it anyway.
		hostile := job("x-<!channel>-&-*bold*-`tick`", labeling.StatusFailed, now.Add(-40*time.Minute), now, labeling.Counters{Unlabeled: 50})
		hostile.FailureReason = "ClientError: <!channel> <@U024BE7LH> see <https://evil.example|your bank> &amp; ```\nrm -rf /\n```"
		emu.Put(hostile)
	}},
	{"Nothing changes: a quiet cycle sends nothing", time.Minute, func(*emulator.Emulator, time.Time) {}},
}

func job(name string, status labeling.Status, created, modified time.Time, c labeling.Counters) labeling.Job {
	return labeling.Job{
		Name: name, Status: status, CreatedAt: created, ModifiedAt: modified, Counters: c,
		Workteam:      workteam,
		InputManifest: bucket + "/" + name + "/input.manifest",
	}
}

// demo plays the scenario against a SageMaker emulator on loopback, running
// the unchanged cycle once per step. The SDK reaches the emulator through
// AWS_ENDPOINT_URL_SAGEMAKER, as any other endpoint.
func demo(ctx context.Context, getenv func(string) string, statePath string, stdout, stderr io.Writer) error {
	cfg, err := config.LoadLocal(getenv)
	if err != nil {
		return err
	}
	if cfg.Slack.Mode == config.ModePrint {
		cfg.Slack.Pace = 0 // nothing to rate-limit when only printing
	}
	if len(cfg.Milestones) == 0 {
		cfg.Milestones = []int{50, 90} // the demo shows one
	}
	// The demo's time starts now and moves only when a step says so, or
	// when the watcher waits, so that the scenario's hours pass in an instant.
	clk := clock.NewFake(time.Now().UTC().Truncate(time.Second))
	emu := emulator.New(emulator.WithClock(clk))
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("start SageMaker emulator: %w", err)
	}
	server := &http.Server{Handler: emu, ReadHeaderTimeout: 5 * time.Second}
	go server.Serve(listener)
	defer server.Close()

	// The demo must never reach a real account: fixed fake credentials, a
	// fixed region, and SageMaker on loopback.
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_SAGEMAKER": "http://" + listener.Addr().String(),
		"AWS_REGION":                 "us-east-1",
		"AWS_ACCESS_KEY_ID":          "demo",
		"AWS_SECRET_ACCESS_KEY":      "demo",
		"AWS_SESSION_TOKEN":          "",
		"AWS_PROFILE":                "",
		"AWS_ENDPOINT_URL":           "",
	} {
		if err := os.Setenv(k, v); err != nil {
			return fmt.Errorf("set %s: %w", k, err)
		}
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithHTTPClient(app.AWSHTTPClient()))
	if err != nil {
		return fmt.Errorf("load AWS configuration: %w", err)
	}

	if statePath == "" {
		dir, err := os.MkdirTemp("", "labelwatch-demo-")
		if err != nil {
			return fmt.Errorf("create state directory: %w", err)
		}
		defer os.RemoveAll(dir)
		statePath = filepath.Join(dir, "state.json")
	}
	store, err := state.OpenFile(statePath, cfg.Retention, clk)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	watcher := app.NewWatcher(cfg, awsCfg, store, notifier(cfg.Slack, stdout), log, clk)

	fmt.Fprintf(stdout, "labelwatch demo: SageMaker emulator at %s, state in %s\n", listener.Addr(), statePath)
	for i, s := range scenario {
		s.change(emu, clk.Advance(s.later))
		fmt.Fprintf(stdout, "\n%s\n== cycle %d: %s\n%s\n", strings.Repeat("=", 78), i+1, s.title, strings.Repeat("=", 78))
		sum, err := watcher.Poll(ctx)
		fmt.Fprintf(stdout, "-- %s\n", describe(sum))
		if err != nil {
			return loggedError{fmt.Errorf("cycle %d: %w", i+1, err)}
		}
	}
	return nil
}
