package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/labelwatch/labelwatch/internal/app"
	"github.com/labelwatch/labelwatch/internal/labeling"
)

// TestSmoke runs the whole benchmark on a small account: the real bootstrap
// under the Lambda emulator, quiet, steady and a burst big enough for a
// digest, then five pushed events. run itself fails when a cycle's
// transitions, alerts or Slack posts are not what the scenario requires, or
// when a push does not alert once at the minimum of calls.
func TestSmoke(t *testing.T) {
	// No deadline of its own: go test's -timeout catches a hang, with every
	// goroutine's stack, and a loaded machine is not mistaken for one.
	ctx := t.Context()
	out := filepath.Join(t.TempDir(), "PERFORMANCE.md")
	var log bytes.Buffer
	args := []string{"-out", out, "-jobs", "1000", "-steady", "20", "-burst", "150",
		"-latency", "0s", "-paced=false", "-push", "5", "-coldstarts", "1", "-arm64=false", "-share=false",
		"-scale", "1000", "-firstrun", ""}
	if err := run(ctx, args, &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	doc, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"## Budgets",
		"| quiet: 0 modified, 0 finishing | 0s | 1 |",
		"## Against a floor",
		"## Where the burst's CPU goes",
		"## Scale: quiet and burst by account size",
		"| 1000 | ", // the scale curve's account
		"Quiet cycle's list calls for jobs modified: 1 at 1000 jobs; one at every size: met.",
		"| steady: 20 modified, 2 finishing | 0s | 21 |",
		"| burst: 150 modified, 15 finishing | 0s | 151 |",
		"| 1 (1) |", // the burst's one digest
		"## Push: one state change event, one alert",
		"| push: 5 events, one job finishing each | 20ms | 5 |",
		"| push: 5 events, one job finishing each | 20ms | 1.00/1 = 1.00 | 1.00/1 = 1.00 | 3.00/3 = 1.00 | 1.00/1 = 1.00 | **6.00/6 = 1.00** |",
		"| Push: event in → Slack post accepted under 1s at 20ms per call, in every one of 5 events | median ",
		"| Push: calls per alert at the minimum",
		"Cold start:",
		"- CPU share: **not measured** (-share=false); the at-share figures are estimates",
		"## Memory size: time and cost\n\nNot measured (no CPU quota can be set: -share=false).",
		" *estimate* |",
	} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("the report lacks %q:\n%s", want, doc)
		}
	}
}

// TestFirstRunResumes deploys into an account too large for one invocation
// with a short timeout: every invocation after the first resumes where the
// one before stopped, and the last sets the cursor (run fails otherwise).
// The first run records only the jobs running or ended within LOOKBACK, so
// 20,000 jobs are needed for a second invocation with 1 s of work (timeout
// less margin); it must hold the listing of one chunk (watch.FirstRunChunk
// jobs), or an invocation saves no Baseline and the next starts over.
func TestFirstRunResumes(t *testing.T) {
	out := filepath.Join(t.TempDir(), "PERFORMANCE.md")
	var log bytes.Buffer
	args := []string{"-out", out, "-jobs", "1000", "-latency", "0s", "-paced=false", "-push", "0", "-coldstarts", "1",
		"-arm64=false", "-share=false", "-profile=false", "-only", "quiet", "-scale", "",
		"-firstrun", "20000", "-firstrun-timeout", "3s", "-firstrun-margin", "2s"}
	if err := run(t.Context(), args, &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	doc, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	if !strings.Contains(text, "then the cursor was set") || strings.Contains(text, "**1 invocation(s)") {
		t.Errorf("want a first run of several invocations that sets the cursor:\n%s", text)
	}
}

func TestMinimum(t *testing.T) {
	tests := []struct {
		name string
		scn  scenario
		acct shape
		want minimum
	}{
		{"quiet: one list call finds the overlap window, three the jobs in progress, which are idle", scenario{}, shape{overlap: 23, running: 300, pool: 277},
			minimum{listPages: 1 + 3, modifiedPages: 1 + 3, runningPages: 3, cursorRead: 1}},
		{"steady: the overlap window takes a second page; alerts one by one", scenario{modified: 100, finishing: 10, starting: 10}, shape{overlap: 23, running: 300, pool: 277},
			minimum{listPages: 2 + 4, modifiedPages: 1 + 4, runningPages: 4, cursorRead: 1, batchReads: 1, writes: 10 + 10 + 10 + 1, slack: 10}},
		{"burst: one digest", scenario{modified: 10_000, finishing: 1_000, starting: 1_000}, shape{overlap: 23, running: 300, pool: 277},
			minimum{listPages: 101 + 13, modifiedPages: 100 + 13, runningPages: 13, cursorRead: 1, batchReads: 100, writes: 1_000 + 1_000 + 1_000 + 1, slack: 1}},
		{"a page and one job, nothing in progress", scenario{modified: 101}, shape{},
			minimum{listPages: 2, modifiedPages: 2, cursorRead: 1, batchReads: 2, writes: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.scn.minimum(10, tt.acct); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestCallBudget judges the budget on all calls together, and shows the
// narrow reading and the worst category without judging them.
func TestCallBudget(t *testing.T) {
	steady := scenario{name: "steady", modified: 100, finishing: 10, starting: 10}
	cycle := func(smCalls, writes int) measurement {
		return measurement{
			scn: steady, min: steady.minimum(10, shape{overlap: 23}), smCalls: smCalls, slackCalls: 10,
			ddbCalls: map[string]int{"GetItem": 1, "BatchGetItem": 1, "UpdateItem": writes},
		}
	}
	tests := []struct {
		name     string
		cycles   []measurement
		met      bool
		measured []string
	}{
		// The 10 jobs started are in progress when listed: one more list
		// page, and no read beyond the modified jobs'.
		{"at the minimum", []measurement{cycle(3, 31)}, true, []string{
			"all calls: worst 46/46 = 1.00 (steady @ 0s)",
			"narrow reading: worst 46/45 = 1.02 (steady @ 0s)",
			"one category alone, either reading: worst SageMaker 3/2 = 1.50 (steady @ 0s)",
		}},
		{"over in all", []measurement{cycle(3, 31), cycle(3, 34)}, false, []string{
			"all calls: over in 1 of 2: steady @ 0s (49/46 = 1.07)",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := (&report{cycles: tt.cycles}).callBudget()
			if b.met != tt.met {
				t.Errorf("met = %v, want %v: %s", b.met, tt.met, b.measured)
			}
			for _, want := range tt.measured {
				if !strings.Contains(b.measured, want) {
					t.Errorf("measured %q lacks %q", b.measured, want)
				}
			}
		})
	}
}

// TestCheckPush: a pushed event must alert once, with exactly the minimum
// of calls.
func TestCheckPush(t *testing.T) {
	alerted := app.Result{Trigger: app.TriggerPush, Transitions: 1, Alerted: 1}
	tests := []struct {
		name   string
		result app.Result
		made   pushCalls
		want   []string
	}{
		{"one alert at the minimum", alerted, pushMinimum(), nil},
		{"no alert", app.Result{Trigger: app.TriggerPush}, pushCalls{sageMaker: 1, reads: 1},
			[]string{"0 transitions, 0 alerted, 0 pending, 0 contended; want 1, 1, 0, 0", "no Slack post",
				"1 SageMaker calls, 1 DynamoDB reads, 0 DynamoDB writes; want 1, 1, 3"}},
		{"two posts", alerted, pushCalls{sageMaker: 1, reads: 1, writes: 3, slack: 2}, []string{"2 Slack posts, want 1"}},
		{"a retried Describe", alerted, pushCalls{sageMaker: 2, reads: 1, writes: 3, slack: 1},
			[]string{"2 SageMaker calls, 1 DynamoDB reads, 3 DynamoDB writes; want 1, 1, 3"}},
		{"ignored", app.Result{Trigger: app.TriggerIgnored}, pushCalls{sageMaker: 1},
			[]string{`the handler took it for "ignored", not a push`, "0 transitions, 0 alerted, 0 pending, 0 contended; want 1, 1, 0, 0",
				"no Slack post", "1 SageMaker calls, 0 DynamoDB reads, 0 DynamoDB writes; want 1, 1, 3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := checkPush(tt.result, tt.made); !slices.Equal(got, tt.want) {
				t.Errorf("checkPush = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestStateChangeEvent: a pushed event is the sample, about another job.
func TestStateChangeEvent(t *testing.T) {
	sample := []byte(`{"version":"0","id":"x","detail-type":"SageMaker Ground Truth Labeling Job State Change","source":"aws.sagemaker",` +
		`"account":"123456789012","time":"2026-01-02T15:07:42Z","region":"us-east-1",` +
		`"resources":["arn:aws:sagemaker:us-east-1:123456789012:labeling-job/street-signs-batch-07"],"detail":{"LabelingJobStatus":"Completed"}}`)
	job := labeling.Job{
		Name: "bench-job-000042", ARN: "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/bench-job-000042",
		Status: labeling.StatusFailed, ModifiedAt: time.Date(2026, 11, 22, 10, 0, 1, 0, time.UTC),
	}
	raw, err := stateChangeEvent(sample, "labelbench-push-0001", job)
	if err != nil {
		t.Fatal(err)
	}
	var ev events.EventBridgeEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.ID != "labelbench-push-0001" || ev.Source != "aws.sagemaker" || ev.DetailType != "SageMaker Ground Truth Labeling Job State Change" ||
		!slices.Equal(ev.Resources, []string{job.ARN}) || string(ev.Detail) != `{"LabelingJobStatus":"Failed"}` || ev.Time != job.ModifiedAt {
		t.Errorf("event = %+v, detail %s", ev, ev.Detail)
	}
}

func TestPeakHeap(t *testing.T) {
	out := "START\ngc 1 @0.004s 2%: 0.010+1.2+0.003 ms clock, 0.020+0.1/0.9/0.4+0.006 ms cpu, 4->5->1 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P\n" +
		`{"level":"INFO","msg":"cycle complete"}` + "\n" +
		"gc 2 @1.500s 1%: 0.011+2.0+0.004 ms clock, 0.022+0.2/1.8/0.3+0.008 ms cpu, 17->19->6 MB, 18 MB goal, 0 MB stacks, 0 MB globals, 2 P\n" +
		"gc 3 @1.700s 1%: 0.011+2.0+0.004 ms clock, 0.022+0.2/1.8/0.3+0.008 ms cpu, " + `{"level":"INFO","msg":"alert sent"}` + "\n" +
		"21->22->8 MB, 24 MB goal, 0 MB stacks, 0 MB globals, 2 P\n" // split by a log line
	if got := peakHeap(out); got != 21 {
		t.Errorf("peakHeap = %d, want 21", got)
	}
	if got := peakHeap("no collections"); got != 0 {
		t.Errorf("peakHeap without collections = %d, want 0", got)
	}
}

func TestOverLimits(t *testing.T) {
	block := `{"type":"section","text":{"type":"mrkdwn","text":"ok"}}`
	many := `{"text":"t","blocks":[` + strings.Repeat(block+",", 50) + block + `]}`
	long := `{"text":"t","blocks":[{"type":"header","text":{"type":"plain_text","text":"` + strings.Repeat("x", 151) + `"}}]}`
	tests := []struct {
		name, body string
		want       int
	}{
		{"within limits", `{"text":"t","blocks":[` + block + `]}`, 0},
		{"51 blocks", many, 1},
		{"long header", long, 1},
		{"not JSON", "text", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := overLimits([]byte(tt.body)); len(got) != tt.want {
				t.Errorf("overLimits = %q, want %d findings", got, tt.want)
			}
		})
	}
}

// TestBilledCost: Lambda bills duration rounded up to the millisecond, times
// memory in GB, at the arm64 price; a month adds the requests.
func TestBilledCost(t *testing.T) {
	tests := []struct {
		name     string
		wall     time.Duration
		memoryMB int
		want     float64
	}{
		{"190 ms at 512 MB", 190 * time.Millisecond, 512, 0.5 * 0.190 * 0.0000133334},
		{"a fraction of a millisecond is billed whole", 189*time.Millisecond + 200*time.Microsecond, 512, 0.5 * 0.190 * 0.0000133334},
		{"21 s at 128 MB", 21 * time.Second, 128, 0.125 * 21 * 0.0000133334},
		{"1 GB", time.Second, 1024, 0.0000133334},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := billedCost(tt.wall, tt.memoryMB); math.Abs(got-tt.want) > 1e-15 {
				t.Errorf("billedCost(%v, %d) = %g, want %g", tt.wall, tt.memoryMB, got, tt.want)
			}
		})
	}
	d := deployment{memoryMB: 128, scheduleMinutes: 5}
	if got := d.monthRuns(); got != 8640 {
		t.Errorf("runs in a month every 5 minutes = %d, want 8640", got)
	}
	want := 8640*0.5*0.190*0.0000133334 + 30*0.5*5*0.0000133334 + 8670*0.20/1e6
	if got := monthCost(190*time.Millisecond, 5*time.Second, 512, d); math.Abs(got-want) > 1e-12 {
		t.Errorf("a month at 512 MB = %g, want %g", got, want)
	}
	for x, want := range map[float64]string{0: "$0", 0.5 * 0.190 * 0.0000133334: "$0.00000127", 0.005491: "$0.00549", 1.5: "$1.50", 12.345: "$12.35"} {
		if got := dollars(x); got != want {
			t.Errorf("dollars(%g) = %q, want %q", x, got, want)
		}
	}
}

// TestParseDeployment reads the memory size and the default schedule from a
// template's lines, and fails when it cannot tell which function's they are.
func TestParseDeployment(t *testing.T) {
	const params = "Parameters:\n  ScheduleMinutes:\n    Type: Number\n    # every few minutes\n    Default: 10\n    AllowedValues: [1, 5, 10]\n  Other:\n    Default: 3\n"
	const function = "Resources:\n  Fn:\n    Properties:\n      MemorySize: 512\n      Events:\n        Schedule: !FindInMap [Schedule, !Ref ScheduleMinutes, Expression]\n"
	tests := []struct {
		name string
		text string
		want deployment
		err  string
	}{
		{"one function", params + function, deployment{memoryMB: 512, scheduleMinutes: 10}, ""},
		{"no MemorySize", params + "Resources:\n  Fn:\n", deployment{}, "no MemorySize line"},
		{"two functions", params + function + "  Other:\n    Properties:\n      MemorySize: 256\n", deployment{}, "2 MemorySize lines"},
		{"no schedule", function, deployment{}, "no ScheduleMinutes parameter"},
		{"no Default", "Parameters:\n  ScheduleMinutes:\n    Type: Number\n  Other:\n    Default: 3\n" + function, deployment{}, "no Default under it"},
		{"not a size", params + "      MemorySize: big\n", deployment{}, `MemorySize "big" is not a number of MB`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDeployment(tt.text)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one with %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
	if _, err := readDeployment(); err != nil {
		t.Errorf("the repository's template: %v", err)
	}
}

// TestSweepVerdict names the smallest size that meets the budgets, and the
// cost of a month there against the template's size.
func TestSweepVerdict(t *testing.T) {
	point := func(mb int, quiet, burst time.Duration) sizePoint {
		q := measurement{scn: scenario{name: "quiet", latency: budgetBurstAt}, invoke: quiet}
		b := measurement{scn: scenario{name: "burst", latency: budgetBurstAt, modified: 10_000, finishing: 1_000}, invoke: burst}
		return sizePoint{memoryMB: mb, quiet: []measurement{q}, burst: &b}
	}
	d := deployment{memoryMB: 128, scheduleMinutes: 5}
	month := func(mb int, quiet, burst time.Duration) string { return dollars(monthCost(quiet, burst, mb, d)) }
	tests := []struct {
		name   string
		points []sizePoint
		want   string
	}{
		{"a larger size", []sizePoint{point(128, 190*time.Millisecond, 21*time.Second), point(512, 60*time.Millisecond, 6*time.Second)},
			"512 MB is the smallest size measured that meets these budgets; a month costs " + month(512, 60*time.Millisecond, 6*time.Second) +
				" there against " + month(128, 190*time.Millisecond, 21*time.Second) + " at the template's 128 MB."},
		{"the template's", []sizePoint{point(128, 90*time.Millisecond, 9*time.Second)}, "The template's 128 MB already meets these budgets"},
		{"none", []sizePoint{point(128, 190*time.Millisecond, 21*time.Second), point(256, 120*time.Millisecond, 11*time.Second)},
			"No size measured meets these budgets. The cheapest month is at "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &report{deployed: d, sweep: sizeSweep{points: tt.points}}
			if got := r.sweepVerdict(); !strings.Contains(got, tt.want) {
				t.Errorf("verdict %q lacks %q", got, tt.want)
			}
			var b strings.Builder
			r.renderSweep(func(format string, args ...any) { fmt.Fprintf(&b, format, args...) })
			if !strings.Contains(b.String(), "| 128 MB (template) | 7.2% |") {
				t.Errorf("the section lacks the template's row:\n%s", b.String())
			}
		})
	}
}
