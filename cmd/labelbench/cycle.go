package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/labelwatch/labelwatch/cmd/labelbench/internal/floorwire"
	"github.com/labelwatch/labelwatch/internal/app"
	"github.com/labelwatch/labelwatch/internal/config"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

// measurement is what one measured cycle did.
type measurement struct {
	scn scenario
	min minimum

	invoke time.Duration // the invocation's round trip through the emulator
	result app.Result

	smCalls    int
	ddbCalls   map[string]int
	capacity   float64
	slackCalls int
	slack      slackStats
	smConns    int64
	ddbConns   int64

	heapMB  int   // the most heap in use at any GC of the process; 0 when no GC ran
	rssKiB  int64 // VmHWM of the function process
	cpuFunc time.Duration
	cpuDDB  time.Duration // dynalite's CPU time during the cycle
	cpuHarn time.Duration // this process's: the SageMaker emulator, proxy and relay

	floor floorwire.Result // the floor program's run of the same calls, beside this one

	atShare *measurement // the same scenario with the function at its CPU share; nil when not measured
	runs    int          // of an at-share measurement: how many runs it is the median of

	problems []string // where the cycle did not do what the scenario requires
	notes    []string // what else is worth a look, such as retried calls
}

// calls is each kind of call the cycle made, against its minimum. narrow
// takes the minimum of list pages for the jobs modified since the cursor
// only, leaving out those the overlap window lists again.
func (m measurement) calls(narrow bool) []calls {
	pages := m.min.listPages
	if narrow {
		pages = m.min.modifiedPages
	}
	return []calls{
		{"SageMaker", m.smCalls, pages},
		{"DynamoDB reads", m.ddbReads(), m.min.cursorRead + m.min.batchReads},
		{"DynamoDB writes", m.ddbWrites(), m.min.writes},
		{"Slack", m.slackCalls, m.min.slack},
	}
}

func (m measurement) ddbReads() int  { return m.ddbCalls["GetItem"] + m.ddbCalls["BatchGetItem"] }
func (m measurement) ddbWrites() int { return m.ddbTotal() - m.ddbReads() }

func (m measurement) ddbTotal() int {
	n := 0
	for _, c := range m.ddbCalls {
		n += c
	}
	return n
}

// measure sets the account up for s, starts a fresh function under the
// Runtime Interface Emulator, warms it with one quiet cycle, applies s and
// measures the next cycle. With share, the function process alone is moved
// into that cgroup, at its CPU share, for the measured cycle.
func (b *bench) measure(ctx context.Context, s scenario, share *shareGroup) (measurement, error) {
	m := measurement{scn: s, min: s.minimum(config.DefaultDigestThreshold, b.acct.shape())}
	st, err := b.stage(ctx, s.finishing, s.starting)
	if err != nil {
		return m, err
	}
	at, err := b.settle(ctx)
	if err != nil {
		return m, err
	}
	env := append(b.lambdaEnv(s.paced), "GODEBUG=gctrace=1")
	fn, err := testenv.LaunchLambda(b.bootstrap, env...)
	if err != nil {
		return m, err
	}
	defer fn.Kill()
	cycle := func() (app.Result, time.Duration, error) {
		r, _, took, err := invoke(ctx, fn, b.event)
		return r, took, err
	}
	// The first invocation starts the process and runs a quiet cycle; what
	// is measured is a warm function's cycle.
	warm, _, err := cycle()
	if err != nil {
		return m, err
	}
	if warm.ErrorMessage != "" || warm.Transitions != 0 {
		return m, fmt.Errorf("warm-up cycle: %+v\n%s", warm, fn.Output())
	}
	pid, err := functionPid(fn.Pid())
	if err != nil {
		return m, err
	}
	if err := share.enter(pid); err != nil {
		return m, err
	}
	// Deferred after fn.Kill, so it runs before it: the cgroup is left
	// empty for its removal whether or not the process is gone by then.
	defer share.leave(pid)

	if err := b.modify(s, st, at); err != nil {
		return m, err
	}
	b.emu.SetLatency(s.latency)
	b.proxy.SetLatency(s.latency)
	if m.floor, err = b.floor(ctx, s, m.min, at, share); err != nil {
		return m, err
	}
	if err := b.cycleOnce(ctx, fn, pid, s, &m); err != nil {
		return m, err
	}
	if err := b.unstage(ctx, st); err != nil {
		return m, err
	}
	m.problems = m.check(b.acct.shape())
	if pages := max(1, (m.result.Listed+99)/100) + (m.result.Running+99)/100; m.smCalls > pages {
		m.notes = append(m.notes, fmt.Sprintf("%d SageMaker calls for %d pages listed: the SDK retried", m.smCalls, pages))
	}
	return m, nil
}

// cycleOnce invokes fn, warm, with the scheduled event at s's AWS latency
// and fills m in with what the cycle did and cost.
func (b *bench) cycleOnce(ctx context.Context, fn *testenv.Lambda, pid int, s scenario, m *measurement) error {
	dynalitePid := childNamed(os.Getpid(), "node")
	smBefore, ddbBefore, capBefore := b.sageMakerCalls(), b.proxy.AllCalls(), b.proxy.CapacityUnits()
	slackBefore, smConnsBefore, ddbConnsBefore := b.hook.count(), b.smConns.Load(), b.ddb.conns.Load()
	smErrorsBefore := b.smErrors.Load()
	cpuFunc, cpuDDB, cpuHarn := cpuTime(pid), cpuTime(dynalitePid), cpuTime(os.Getpid())
	b.emu.SetLatency(s.latency)
	b.proxy.SetLatency(s.latency)

	var err error
	m.result, _, m.invoke, err = invoke(ctx, fn, b.event)

	b.emu.SetLatency(0)
	b.proxy.SetLatency(0)
	if err != nil {
		return err
	}
	m.cpuFunc, m.cpuDDB, m.cpuHarn = cpuTime(pid)-cpuFunc, cpuTime(dynalitePid)-cpuDDB, cpuTime(os.Getpid())-cpuHarn
	m.smCalls = b.sageMakerCalls() - smBefore
	m.ddbCalls = map[string]int{}
	for op, n := range b.proxy.AllCalls() {
		if d := n - ddbBefore[op]; d > 0 {
			m.ddbCalls[op] = d
		}
	}
	m.capacity = b.proxy.CapacityUnits() - capBefore
	m.slack = b.hook.since(slackBefore)
	m.slackCalls = m.slack.posts
	m.smConns, m.ddbConns = b.smConns.Load()-smConnsBefore, b.ddb.conns.Load()-ddbConnsBefore
	if n := b.smErrors.Load() - smErrorsBefore; n > 0 {
		m.notes = append(m.notes, fmt.Sprintf("the SageMaker emulator answered %d calls with an error", n))
	}
	m.rssKiB = peakRSS(pid)
	m.heapMB = peakHeap(fn.Output())
	m.rssKiB = peakRSS(pid)
	m.heapMB = peakHeap(fn.Output())
	return nil
}

// invoke sends event to fn and returns the handler's result, when it was
// sent and how long the round trip through the emulator took.
func invoke(ctx context.Context, fn *testenv.Lambda, event []byte) (app.Result, time.Time, time.Duration, error) {
	ictx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	start := time.Now()
	body, err := fn.Invoke(ictx, event)
	took := time.Since(start)
	var r app.Result
	if err == nil {
		err = json.Unmarshal(body, &r)
	}
	if err != nil {
		return r, start, took, fmt.Errorf("invoke: %w\n%s", err, fn.Output())
	}
	return r, start, took, nil
}

// sageMakerCalls is how many calls the emulator has answered so far.
func (b *bench) sageMakerCalls() int {
	return b.emu.Calls("ListLabelingJobs") + b.emu.Calls("DescribeLabelingJob")
}

// check lists where the cycle did not do what s requires.
func (m measurement) check(a shape) []string {
	var bad []string
	r, s := m.result, m.scn
	if r.ErrorMessage != "" {
		bad = append(bad, "the handler failed: "+r.ErrorMessage)
	}
	if r.Listed != s.modified+a.overlap {
		bad = append(bad, fmt.Sprintf("listed %d jobs, want %d", r.Listed, s.modified+a.overlap))
	}
	if r.Running != a.running+s.starting {
		bad = append(bad, fmt.Sprintf("listed %d jobs in progress, want %d", r.Running, a.running+s.starting))
	}
	if r.Transitions != s.finishing+s.starting || r.Alerted != s.finishing || r.Pending != 0 || r.Contended != 0 {
		bad = append(bad, fmt.Sprintf("%d transitions, %d alerted, %d pending, %d contended; want %d, %d, 0, 0",
			r.Transitions, r.Alerted, r.Pending, r.Contended, s.finishing+s.starting, s.finishing))
	}
	digest := s.finishing > config.DefaultDigestThreshold
	switch {
	case digest && m.slackCalls < m.min.slack:
		bad = append(bad, fmt.Sprintf("%d Slack posts, want a digest of at least %d", m.slackCalls, m.min.slack))
	case !digest && m.slackCalls != m.min.slack:
		bad = append(bad, fmt.Sprintf("%d Slack posts, want %d", m.slackCalls, m.min.slack))
	}
	bad = append(bad, m.slack.over...)
	return bad
}

// functionPid finds the bootstrap: the child process of the emulator.
func functionPid(rie int) (int, error) {
	if pid := childNamed(rie, "bootstrap"); pid != 0 {
		return pid, nil
	}
	return 0, errNoBootstrap
}

// childNamed returns the child of parent whose command is name, or 0.
func childNamed(parent int, name string) int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", parent))
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				continue
			}
			if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.TrimSpace(string(comm)) == name {
				return pid
			}
		}
	}
	return 0
}

// peakRSS is the process's VmHWM (the most resident memory it has had) in
// KiB, or 0 when it cannot be read.
func peakRSS(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kib, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kib
		}
	}
	return 0
}

// clockTick is USER_HZ, the unit of /proc/PID/stat's CPU times; Linux fixes
// it at 100 for user space.
const clockTick = 10 * time.Millisecond

// cpuTime is the CPU time pid has used, or 0 when it cannot be read: the
// nanoseconds on CPU of each of its threads (/proc/PID/task/*/schedstat),
// or, where the kernel keeps no schedstat, user plus system time from
// /proc/PID/stat in 10 ms ticks. A Go process keeps its threads for its
// life, so no thread's time is lost between two readings.
func cpuTime(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	if d, ok := schedTime(pid); ok {
		return d
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces; the fields after it do not.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * clockTick
}

// schedTime sums the first field of every thread's schedstat: its time on
// CPU in nanoseconds.
func schedTime(pid int) (time.Duration, bool) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		return 0, false
	}
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread ended between the glob and the read
		}
		fields := strings.Fields(string(b))
		if len(fields) == 0 {
			return 0, false
		}
		ns, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, false
		}
		sum += time.Duration(ns)
	}
	return sum, true
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
