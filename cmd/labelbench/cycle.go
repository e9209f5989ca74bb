package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labelwatch/labelwatch/cmd/labelbench/internal/floorwire"
	"github.com/labelwatch/labelwatch/internal/app"
	"github.com/labelwatch/labelwatch/internal/config"
	"github.com/labelwatch/labelwatch/internal/watch"
)

// scenario is one measured cycle: how many jobs changed since the cursor,
// how many of those finished (and alert) or started (a silent transition),
// the latency every AWS call gets, and whether Slack posts are paced.
type scenario struct {
	name      string
	modified  int // jobs whose LastModifiedTime moved past the cursor
	finishing int // of those, InProgress -> Completed, Failed or Stopped
	starting  int // of those, Initializing -> InProgress; the rest only progress
	latency   time.Duration
	paced     bool // SLACK_PACE at its default instead of 0s
}

func (s scenario) String() string {
	text := fmt.Sprintf("%s @ %v", s.name, s.latency)
	if s.paced {
		text += ", default pace"
	}
	return text
}

// changing is the scenario name in which modified jobs change at latency:
// a tenth of them finish, a tenth start, the rest only progress.
func changing(name string, modified int, latency time.Duration) scenario {
	return scenario{name: name, modified: modified, finishing: modified / 10, starting: modified / 10, latency: latency}
}

// label is how the report's tables name s.
func (s scenario) label() string {
	label := fmt.Sprintf("%s: %d modified, %d finishing", s.name, s.modified, s.finishing)
	if s.paced {
		label += ", *default pace*"
	}
	return label
}

// scenarios are quiet, steady and burst at each latency, then steady and
// burst again with Slack pacing at its default, as far as -only lets them.
func scenarios(o options) []scenario {
	base := []scenario{{name: "quiet"}, changing("steady", o.steady, 0), changing("burst", o.burst, 0)}
	var all []scenario
	for _, d := range o.latencies {
		for _, s := range base {
			s.latency = d
			all = append(all, s)
		}
	}
	if o.paced {
		for _, s := range base[1:] {
			s.latency, s.paced = o.latencies[0], true
			all = append(all, s)
		}
	}
	return slices.DeleteFunc(all, func(s scenario) bool { return !o.wants(s.name) })
}

// tally is a number of calls of each kind.
type tally struct{ sageMaker, reads, writes, slack int }

// calls is one kind of call: how many were made and the fewest possible.
type calls struct {
	what        string
	made, least int
}

// against pairs each kind of call made with its least.
func against(made, least tally) []calls {
	return []calls{{"SageMaker", made.sageMaker, least.sageMaker}, {"DynamoDB reads", made.reads, least.reads},
		{"DynamoDB writes", made.writes, least.writes}, {"Slack", made.slack, least.slack}}
}

func (c calls) ratio() float64 { return ratio(c.made, c.least) }

func (c calls) String() string {
	return fmt.Sprintf("%d/%d = %s", c.made, c.least, fmtRatio(c.ratio()))
}

// total adds up cs.
func total(cs []calls) calls {
	sum := calls{what: "all calls"}
	for _, c := range cs {
		sum.made += c.made
		sum.least += c.least
	}
	return sum
}

// minimum is the fewest calls a cycle can make, as issue 4 counts them, with
// the listing of the jobs in progress (issue 11) added.
type minimum struct {
	// calls.sageMaker is ceil(modified/100) list pages, at least 1, where
	// modified counts every job the API returns for (cursor - OVERLAP,
	// now]: OVERLAP is a product requirement, and a listing cannot leave its
	// jobs out; plus runningPages. calls.reads is the GetItem of the cursor
	// every cycle starts with, plus ceil(modified/100) BatchGetItem of the
	// jobs modified since the cursor: those in progress the cycle before
	// left idle need none (the cursor remembers them), and those that
	// changed since are among the modified. calls.writes is one per job
	// whose status changed, one claim per alert and one cursor write;
	// calls.slack one message per alert, or one digest for more than the
	// threshold.
	calls tally
	// narrowPages is the narrower reading of calls.sageMaker:
	// ceil(modified/100), at least 1, counting only the jobs modified since
	// the cursor; plus runningPages.
	narrowPages int
	// runningPages is ceil(running/100): the listing of the jobs in
	// progress, which cards and progress warnings need every cycle.
	runningPages int
}

// shape is what of the account a scenario's minimum depends on.
type shape struct {
	overlap int // jobs in the overlap window before the cursor
	running int // jobs in progress before the scenario, not counting those it finishes
}

// minimum is the least s can cost in an account of shape a.
func (s scenario) minimum(digestThreshold int, a shape) minimum {
	pages := func(n int) int { return (n + 99) / 100 }
	running := pages(a.running + s.starting) // the jobs started are in progress when listed
	m := minimum{runningPages: running, narrowPages: max(1, pages(s.modified)) + running}
	m.calls.sageMaker = max(1, pages(s.modified+a.overlap)) + running
	m.calls.reads = 1 + pages(s.modified)
	// A progressing job's moved counters need no write: without cards the
	// function stores them once a quarter of STUCK_AFTER (an hour and a
	// half by default), and the settling cycle stored them minutes before.
	m.calls.writes = s.finishing + s.starting + s.finishing
	if s.modified > 0 {
		m.calls.writes++ // the cursor moves past the newest modification
	}
	// One message per alert, or a digest: at least one message, more when
	// Slack's size limits make the function split it.
	m.calls.slack = s.finishing
	if s.finishing > digestThreshold {
		m.calls.slack = 1
	}
	return m
}

// measurement is what one measured cycle did and cost.
type measurement struct {
	scn    scenario
	shape  shape // of the account the scenario ran in
	min    minimum
	result app.Result
	invoke time.Duration // the invocation's round trip through the emulator
	counters
	slack  slackStats
	heapMB int   // the most heap in use at any GC of the process; 0 when no GC ran
	rssKiB int64 // VmHWM of the function process

	floor   floorRun     // the floor program's run of the same calls, beside this one
	atShare *measurement // the same scenario with the function at its CPU share; nil when not measured
	runs    int          // of an at-share measurement: how many runs it is the median of
	notes   []string     // what is worth a look, such as retried calls
}

// calls is each kind of call the cycle made, against its minimum. narrow
// takes the minimum of list pages for the jobs modified since the cursor
// only, leaving out those the overlap window lists again.
func (m measurement) calls(narrow bool) []calls {
	least := m.min.calls
	if narrow {
		least.sageMaker = m.min.narrowPages
	}
	return against(m.made(), least)
}

// floorCPURatio is the function's CPU time over the floor's, 0 when the
// floor used none.
func (m measurement) floorCPURatio() float64 {
	if m.floor.cpu <= 0 {
		return 0
	}
	return float64(m.cpuFn) / float64(m.floor.cpu)
}

// slackStats is what the webhook's posts looked like.
type slackStats struct {
	largest int           // bytes of the largest post Slack took
	minGap  time.Duration // shortest time between two posts; 0 with fewer than two
}

// measure sets the account up for s, starts a fresh function under the
// Runtime Interface Emulator, warms it with one quiet cycle, applies s and
// measures the next cycle, beside the floor's run of the same minimum. With
// share, the function process alone is moved into that cgroup, at its CPU
// share, for the measured cycle.
func (b *bench) measure(ctx context.Context, s scenario, share *shareGroup) (measurement, error) {
	m := measurement{scn: s, shape: b.acct.shape()}
	m.min = s.minimum(b.cfg.DigestThreshold, m.shape)
	st, at, err := b.prepare(ctx, s.finishing, s.starting)
	if err != nil {
		return m, err
	}
	fn, warm, err := b.launch(ctx, b.lambdaEnv(s.paced, "GODEBUG=gctrace=1"), b.event, share)
	if err != nil {
		return m, err
	}
	defer fn.Close()
	if warm.Transitions != 0 {
		return m, fmt.Errorf("warm-up cycle: %+v", warm)
	}
	if err := b.modify(s, st, at); err != nil {
		return m, err
	}
	b.setLatency(s.latency)
	if m.floor, err = b.floor(ctx, s, m.min, at, share); err != nil {
		return m, err
	}
	if err := b.cycle(ctx, fn, s.latency, &m); err != nil {
		return m, err
	}
	return m, b.unstage(ctx, st)
}

// shareRuns is how many times a quiet or steady cycle is measured at the
// CPU share.
const shareRuns = 3

// measureAtShare measures s with the function in share. A cycle that takes
// milliseconds of CPU varies by half from one run to the next (where a CFS
// period falls, what else the two cores run): those are measured shareRuns
// times, each from the same staged state, and the run whose CPU ratio to
// its floor is the median (the lower middle one of an even number) is kept.
func (b *bench) measureAtShare(ctx context.Context, s scenario, share *shareGroup) (*measurement, error) {
	runs := 1
	if s.modified <= b.opts.steady && !s.paced {
		runs = shareRuns
	}
	var all []measurement
	for i := range runs {
		b.logf("%s: measuring at the CPU share (%d of %d)", s, i+1, runs)
		m, err := b.measure(ctx, s, share)
		if err != nil {
			return nil, err
		}
		b.logf("%s at the CPU share: %v, function CPU %v, floor CPU %v", s, m.invoke.Round(time.Millisecond), m.cpuFn, m.floor.cpu)
		all = append(all, m)
	}
	slices.SortStableFunc(all, func(a, b measurement) int { return cmp.Compare(a.floorCPURatio(), b.floorCPURatio()) })
	median := all[(len(all)-1)/2]
	median.runs = runs
	return &median, nil
}

// cycle invokes fn, warm, with the scheduled event at latency and fills m
// in with what the cycle did and cost.
func (b *bench) cycle(ctx context.Context, fn *function, latency time.Duration, m *measurement) error {
	before := b.count(fn.pid)
	b.setLatency(latency)
	var err error
	m.result, _, m.invoke, err = fn.invoke(ctx, b.event)
	b.setLatency(0)
	if err != nil {
		return err
	}
	m.counters = b.count(fn.pid).minus(before)
	m.rssKiB, m.heapMB = peakRSS(fn.pid), peakHeap(fn.Output())
	for _, call := range b.slack.Calls()[before.accepted:] {
		m.slack.largest = max(m.slack.largest, len(call.Raw))
	}
	posts := b.hook.arrived(before.posts)
	for i := 1; i < len(posts); i++ {
		if gap := posts[i].Sub(posts[i-1]); m.slack.minGap == 0 || gap < m.slack.minGap {
			m.slack.minGap = gap
		}
	}
	if m.smErrors > 0 {
		m.notes = append(m.notes, fmt.Sprintf("the SageMaker emulator answered %d calls with an error", m.smErrors))
	}
	if pages := max(1, (m.result.Listed+99)/100) + (m.result.Running+99)/100; m.sageMaker > pages {
		m.notes = append(m.notes, fmt.Sprintf("%d SageMaker calls for %d pages listed: the SDK retried", m.sageMaker, pages))
	}
	if n := m.posts - m.accepted; n > 0 {
		m.notes = append(m.notes, fmt.Sprintf("Slack refused %d of %d posts", n, m.posts))
	}
	return nil
}

// floorRun is what the floor program did, and its CPU and wall time,
// measured from outside as the function's are.
type floorRun struct {
	floorwire.Result
	cpu, wall time.Duration
}

// floor runs the floor program for s, the account modified and the cursor
// at at, with the AWS latency already set: the calls s's minimum counts,
// made with the function's SDK clients and nothing else. With share, it
// works at the function's CPU share (it joins the cgroup once its clients
// are built and warm, as the function does after its warm-up).
func (b *bench) floor(ctx context.Context, s scenario, m minimum, at time.Time, share *shareGroup) (floorRun, error) {
	var run floorRun
	bin, err := b.buildTool(ctx, "floor", "-s -w")
	if err != nil {
		return run, err
	}
	after := s.finishing // commits
	if s.modified > 0 {
		after++ // the cursor
	}
	args := []string{
		"-table", table, "-write-table", floorTable, "-webhook", b.webhook(),
		"-since", at.Add(-b.cfg.Overlap).Format(time.RFC3339Nano), "-cursor", at.Format(time.RFC3339Nano),
		"-writes-before", strconv.Itoa(s.starting + s.finishing), // transitions recorded, claims
		"-writes-after", strconv.Itoa(after),
		"-posts", strconv.Itoa(m.calls.slack),
		"-concurrency", strconv.Itoa(watch.DefaultConcurrency),
	}
	if s.paced {
		args = append(args, "-pace", config.DefaultSlackPace.String())
	}
	t, err := startTool(ctx, "floor", bin, args, b.lambdaEnv(false))
	if err != nil {
		return run, err
	}
	defer t.close()
	if err := share.enter(t.pid()); err != nil {
		return run, err
	}
	defer share.leave(t.pid())
	cpu, start := cpuTime(t.pid()), time.Now()
	err = t.answer("go", &run.Result)
	run.wall, run.cpu = time.Since(start), cpuTime(t.pid())-cpu
	return run, err
}

// childNamed returns the child of parent whose command is name, or 0.
func childNamed(parent int, name string) int {
	for _, pid := range children(parent) {
		if command(pid) == name {
			return pid
		}
	}
	return 0
}

// command is pid's command name, or "" when it cannot be read.
func command(pid int) string {
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(comm))
}

// descendantNamed returns the first process under root, at any depth,
// whose command starts with prefix, or 0.
func descendantNamed(root int, prefix string) int {
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, child := range children(pid) {
			if name := command(child); name != "" && strings.HasPrefix(name, prefix) {
				return child
			}
			queue = append(queue, child)
		}
	}
	return 0
}

// children are pid's child processes.
func children(pid int) []int {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var out []int
	for _, t := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		for _, f := range strings.Fields(string(b)) {
			if child, err := strconv.Atoi(f); err == nil {
				out = append(out, child)
			}
		}
	}
	return out
}

// peakRSS is the process's VmHWM (the most resident memory it has had) in
// KiB, or 0 when it cannot be read.
func peakRSS(pid int) int64 {
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	_, rest, _ := strings.Cut(string(status), "VmHWM:")
	kib, _ := strconv.ParseInt(strings.Fields(rest + " 0")[0], 10, 64)
	return kib
}

// cpuTime is the CPU time pid has used, or 0 when it cannot be read: the
// nanoseconds on CPU of each of its threads (/proc/PID/task/*/schedstat),
// or, where the kernel keeps no schedstat, user plus system time from
// /proc/PID/stat in ticks of 10 ms (USER_HZ). A Go process keeps its
// threads for its life, so no thread's time is lost between two readings.
func cpuTime(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread ended between the glob and the read
		}
		ns, _ := strconv.ParseInt(strings.Fields(string(b) + " 0")[0], 10, 64)
		sum += time.Duration(ns)
	}
	if len(tasks) > 0 {
		return sum
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces; the fields after it do not.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// gcLine matches GODEBUG=gctrace=1's "A->B->C MB, D MB goal": the heap at
// the start of a collection, at its end, and the live heap it marked. It
// does not anchor on "gc N @": the emulator interleaves the function's
// stderr with its stdout, which can split a trace line.
var gcLine = regexp.MustCompile(`(\d+)->(\d+)->(\d+) MB, \d+ MB goal`)

// peakHeap is the largest heap at the start of any collection the function
// logged, in MB, or 0 when it logged none.
func peakHeap(output string) int {
	peak := 0
	for _, m := range gcLine.FindAllStringSubmatch(output, -1) {
		if n, err := strconv.Atoi(m[1]); err == nil {
			peak = max(peak, n)
		}
	}
	return peak
}
