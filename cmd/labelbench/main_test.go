package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/labelwatch/labelwatch/internal/app"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/state"
)

// runBench runs labelbench with args (after the settings every test shares)
// and returns what it measured.
func runBench(t *testing.T, args ...string) *report {
	t.Helper()
	var log bytes.Buffer
	opts, err := parseOptions(append([]string{"-out", "-", "-jobs", "1000", "-latency", "0s", "-paced=false", "-coldstarts", "1",
		"-arm64=false", "-share=false", "-storm", "0", "-firstrun-running", "0", "-quiet-runs", "0"}, args...), &log)
	if err != nil {
		t.Fatal(err)
	}
	// No deadline of its own: go test's -timeout catches a hang, with every
	// goroutine's stack, and a loaded machine is not mistaken for one.
	rep, err := measureAll(t.Context(), opts, func(format string, args ...any) { fmt.Fprintf(&log, format+"\n", args...) })
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	return rep
}

// judgeCycle fails the test where m did not do what its scenario requires:
// its transitions, alerts and Slack posts, every post taken, and its calls
// within the budget of calls (the quiet cycle's at its minimum). A list
// call the SDK retried (the report notes it) is not the function's: its
// list calls are the pages it listed.
func judgeCycle(t *testing.T, where string, m measurement, digestThreshold int) {
	t.Helper()
	r, s, a, made := m.result, m.scn, m.shape, m.made()
	made.sageMaker = min(made.sageMaker, max(1, (r.Listed+99)/100)+(r.Running+99)/100)
	if r.ErrorMessage != "" {
		t.Errorf("%s: the handler failed: %s", where, r.ErrorMessage)
	}
	if r.Listed != s.modified+a.overlap || r.Running != a.running+s.starting {
		t.Errorf("%s: listed %d jobs and %d in progress, want %d and %d", where, r.Listed, r.Running, s.modified+a.overlap, a.running+s.starting)
	}
	if r.Transitions != s.finishing+s.starting || r.Alerted != s.finishing || r.Pending != 0 || r.Contended != 0 {
		t.Errorf("%s: %d transitions, %d alerted, %d pending, %d contended; want %d, %d, 0, 0",
			where, r.Transitions, r.Alerted, r.Pending, r.Contended, s.finishing+s.starting, s.finishing)
	}
	if digest := s.finishing > digestThreshold; digest && made.slack < m.min.calls.slack || !digest && made.slack != m.min.calls.slack {
		t.Errorf("%s: %d Slack posts, want %d (a digest: at least)", where, made.slack, m.min.calls.slack)
	}
	if m.posts != m.accepted || m.smErrors != 0 {
		t.Errorf("%s: Slack refused %d of %d posts; SageMaker answered %d calls with an error", where, m.posts-m.accepted, m.posts, m.smErrors)
	}
	if all := total(against(made, m.min.calls)); all.ratio() > budgetCallRatio {
		t.Errorf("%s: calls %s, over the budget of %.2f × the minimum", where, all, budgetCallRatio)
	}
	if s.modified == 0 && made != m.min.calls {
		t.Errorf("%s: a quiet cycle made %+v calls, want its minimum %+v", where, made, m.min.calls)
	}
}

// TestSmoke runs the whole benchmark on a small account: the real bootstrap
// under the Lambda emulator, quiet, steady and a burst big enough for a
// digest, then five pushed events, and a scale curve of one account. It
// judges every cycle and every push, and checks the report shows them.
func TestSmoke(t *testing.T) {
	rep := runBench(t, "-steady", "20", "-burst", "150", "-push", "5", "-scale", "1000", "-firstrun", "")
	threshold := rep.cfg.DigestThreshold
	if len(rep.cycles) != 3 {
		t.Errorf("%d cycles measured, want quiet, steady and burst", len(rep.cycles))
	}
	for _, m := range rep.cycles {
		judgeCycle(t, m.scn.String(), m, threshold)
		if m.atShare != nil {
			judgeCycle(t, m.scn.String()+" at the CPU share", *m.atShare, threshold)
		}
	}
	for _, pt := range rep.sweep.points {
		for _, m := range pt.cycles() {
			judgeCycle(t, fmt.Sprintf("%s at %d MB", m.scn, pt.memoryMB), m, threshold)
		}
	}
	for _, sp := range rep.scale {
		judgeCycle(t, fmt.Sprintf("scale %d, quiet", sp.jobs), sp.quiet, threshold)
		judgeCycle(t, fmt.Sprintf("scale %d, burst", sp.jobs), sp.burst, threshold)
		if n := modifiedPages(sp.quiet); n != 1 {
			t.Errorf("scale %d: the quiet cycle made %d list calls for jobs modified, want one at every size", sp.jobs, n)
		}
	}
	if rep.push == nil || len(rep.push.events) != 5 {
		t.Fatalf("push: %+v, want 5 events", rep.push)
	}
	for i, e := range rep.push.events {
		r := e.result
		if r.ErrorMessage != "" || r.Trigger != app.TriggerPush || r.Transitions != 1 || r.Alerted != 1 || r.Pending != 0 || r.Contended != 0 || e.made != pushMinimum() {
			t.Errorf("event %d (job %s): %+v, calls %+v; want one alert at the minimum, %+v", i+1, e.job, r, e.made, pushMinimum())
		}
	}

	doc := rep.render()
	for _, want := range []string{
		"## Budgets",
		"| quiet: 0 modified, 0 finishing | 0s | 1 |",
		"## Against a floor",
		"## Where the burst's CPU goes",
		"## Scale: quiet and burst by account size",
		"| 1000 | ", // the scale curve's account
		"Quiet cycle's list calls for jobs modified: 1 at 1000 jobs.",
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
		if !strings.Contains(doc, want) {
			t.Errorf("the report lacks %q:\n%s", want, doc)
		}
	}
}

// TestFirstRunResumes deploys into an account too large for one invocation
// with a short timeout: every invocation after the first resumes where the
// one before stopped, the alerts are the jobs that ended within LOOKBACK,
// and the last invocation sets the cursor. The first run records only the
// jobs running or ended within LOOKBACK, so 20,000 jobs are needed for a
// second invocation with 1 s of work (timeout less margin); it must hold the
// listing of one chunk (watch.FirstRunChunk jobs), or an invocation saves no
// Baseline and the next starts over.
func TestFirstRunResumes(t *testing.T) {
	rep := runBench(t, "-push", "0", "-profile=false", "-only", "quiet", "-scale", "",
		"-firstrun", "20000", "-firstrun-timeout", "3s", "-firstrun-margin", "2s")
	fr := rep.firstRuns[0]
	if len(fr.steps) < 2 || fr.steps[len(fr.steps)-1].cursor.IsZero() {
		t.Errorf("%d invocation(s), the last with cursor %v; want several, the last setting the cursor", len(fr.steps), fr.steps[len(fr.steps)-1].cursor)
	}
	alerted, listed := 0, 0
	for i, s := range fr.steps {
		alerted, listed = alerted+s.result.Alerted, listed+s.result.Listed
		if s.result.ErrorMessage != "" {
			t.Errorf("invocation %d failed: %s", i+1, s.result.ErrorMessage)
		}
		if i > 0 && s.resumedAfter.IsZero() {
			t.Errorf("invocation %d started over from nothing (the one before saved no Baseline)", i+1)
		}
	}
	if alerted != fr.lookback {
		t.Errorf("%d alerts, want the %d jobs that ended within LOOKBACK", alerted, fr.lookback)
	}
	// Each resumed invocation lists again at most the chunk it was in the
	// middle of, and the jobs of the last millisecond recorded.
	if most := fr.jobs + len(fr.steps)*(state.MaxBatch+1000); listed > most {
		t.Errorf("listed %d jobs in all for %d in the account, want at most %d", listed, fr.jobs, most)
	}
}

func TestMinimum(t *testing.T) {
	tests := []struct {
		name string
		scn  scenario
		acct shape
		want minimum
	}{
		{"quiet: one list call finds the overlap window, three the jobs in progress, which are idle", scenario{}, shape{overlap: 23, running: 300},
			minimum{calls: tally{sageMaker: 1 + 3, reads: 1}, narrowPages: 1 + 3, runningPages: 3}},
		{"steady: the overlap window takes a second page; alerts one by one", scenario{modified: 100, finishing: 10, starting: 10}, shape{overlap: 23, running: 300},
			minimum{calls: tally{sageMaker: 2 + 4, reads: 1 + 1, writes: 10 + 10 + 10 + 1, slack: 10}, narrowPages: 1 + 4, runningPages: 4}},
		{"burst: one digest", scenario{modified: 10_000, finishing: 1_000, starting: 1_000}, shape{overlap: 23, running: 300},
			minimum{calls: tally{sageMaker: 101 + 13, reads: 1 + 100, writes: 1_000 + 1_000 + 1_000 + 1, slack: 1}, narrowPages: 100 + 13, runningPages: 13}},
		{"a page and one job, nothing in progress", scenario{modified: 101}, shape{},
			minimum{calls: tally{sageMaker: 2, reads: 1 + 2, writes: 1}, narrowPages: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.scn.minimum(10, tt.acct); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
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

// TestRenderSweep names the template's size and the cheapest month.
func TestRenderSweep(t *testing.T) {
	point := func(mb int, quiet, burst time.Duration) sizePoint {
		q := measurement{scn: scenario{name: "quiet", latency: budgetBurstAt}, invoke: quiet}
		b := measurement{scn: scenario{name: "burst", latency: budgetBurstAt, modified: 10_000, finishing: 1_000}, invoke: burst}
		return sizePoint{memoryMB: mb, quiet: []measurement{q}, burst: &b}
	}
	d := deployment{memoryMB: 128, scheduleMinutes: 5}
	r := &report{deployed: d, sweep: sizeSweep{points: []sizePoint{point(128, 190*time.Millisecond, 21*time.Second), point(512, 60*time.Millisecond, 6*time.Second)}}}
	var b strings.Builder
	r.renderSweep(func(format string, args ...any) { fmt.Fprintf(&b, format, args...) })
	cheapest := dollars(monthCost(190*time.Millisecond, 21*time.Second, 128, d))
	for _, want := range []string{"| 128 MB (template) | 7.2% | 190 ms | 21000 ms |", "- The cheapest month is at 128 MB (" + cheapest + ")."} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the section lacks %q:\n%s", want, b.String())
		}
	}
}

// TestReadDeployment reads the repository's template as testenv resolves
// it: the function's memory size, its schedule, and its environment.
func TestReadDeployment(t *testing.T) {
	d, err := readDeployment()
	if err != nil {
		t.Fatal(err)
	}
	if d.memoryMB < 128 || d.scheduleMinutes < 1 || d.fn.Env["STATE_TABLE"] != table {
		t.Errorf("deployment = %d MB, every %d minutes, environment %v", d.memoryMB, d.scheduleMinutes, d.fn.Env)
	}
}
