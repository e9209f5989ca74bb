package reliability

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/labelwatch/labelwatch/internal/emulator"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/testenv"
	"github.com/labelwatch/labelwatch/internal/watch"
)

var (
	soakSeed   = flag.Uint64("soak.seed", 20260302, "TestSoak: seed of the random walks and faults (a failure prints it)")
	soakCycles = flag.Int("soak.cycles", 100, "TestSoak: cycles to run with faults")
	soakJobs   = flag.Int("soak.jobs", 500, "TestSoak: labeling jobs")
	soakFaults = flag.Float64("soak.faults", 0.35, "TestSoak: chance that a cycle runs with faults")
)

// TestSoak walks many jobs at random through the API's state machine
// (Initializing -> InProgress -> Completed | Failed | Stopping -> Stopped),
// one watch cycle a fake minute, with random faults from every part of the
// suite in a share of the cycles. After every cycle it checks that no alert
// was posted twice (beyond the duplicates the ledger allows for a post Slack
// accepted and the run could not record) and none for a status a job never
// had; after every cycle that ran without faults and completed, that every
// job's current alerting status was posted; and at the end, once faults
// stop, that the state converged.
//
// Replay a failure with the seed it prints: go test -run TestSoak
// ./internal/reliability/ -soak.seed=N (and the same -soak.* flags).
func TestSoak(t *testing.T) {
	t.Parallel()
	seed, cycles, jobs, rate := *soakSeed, *soakCycles, *soakJobs, *soakFaults
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d", seed)
			t.Logf("replay: go test -count=1 -run TestSoak ./internal/reliability/ -soak.seed=%d -soak.cycles=%d -soak.jobs=%d -soak.faults=%v", seed, cycles, jobs, rate)
		}
	})
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	e := newEnv(t)
	s := &soak{e: e, rng: rng, step: min(0.08, 8/float64(cycles))}

	// Four in five jobs exist from the start; the rest appear later, some
	// already past their first statuses (they started and maybe finished
	// between two cycles).
	initial := jobs * 4 / 5
	names := e.seed(initial)
	s.jobs = names
	late := map[int][]string{}
	for i := initial; i < jobs; i++ {
		at := 1 + rng.IntN(max(1, cycles*3/4))
		late[at] = append(late[at], fmt.Sprintf("job-%04d", i))
	}

	faulty, clean := 0, 0
	start := time.Now()
	for c := 1; c <= cycles; c++ {
		e.clock.Advance(time.Minute)
		for _, name := range late[c] {
			s.create(name)
		}
		s.walk()
		plan := s.plan(rate)
		sum, err := s.cycle(plan)
		if len(plan.faults) > 0 {
			faulty++
		}
		counts := e.check()
		if t.Failed() {
			t.Fatalf("cycle %d (faults %v): %+v, %v", c, plan.faults, sum, err)
		}
		if len(plan.faults) == 0 {
			if err == nil && sum.Pending == 0 && sum.Contended == 0 {
				clean++
				e.ledger.checkDelivered(t, counts)
			}
			if t.Failed() {
				t.Fatalf("cycle %d, without faults: %+v, %v", c, sum, err)
			}
		}
	}
	counts := e.converge()
	unacked := unacknowledged(e.posted())
	dups, allowed := 0, 0
	for k, n := range counts {
		dups += n - 1
		allowed += e.ledger.allowed(k) + unacked[k]
	}
	t.Logf("seed %d: %d jobs, %d cycles (%d with faults, %d clean without), %d alerts posted in %d messages, %d duplicates (%d allowed), %v",
		seed, jobs, cycles, faulty, clean, len(counts), len(e.slack.Messages()), dups, allowed, time.Since(start).Round(time.Millisecond))
	if clean == 0 {
		t.Errorf("no cycle ran clean without faults: the liveness check never ran")
	}
}

// soak is the state of one TestSoak.
type soak struct {
	e    *env
	rng  *rand.Rand
	step float64 // chance a job moves on in a cycle
	jobs []string
}

// create puts a job the watcher has never seen, and walks it a few steps.
func (s *soak) create(name string) {
	s.e.emu.Put(labeling.Job{Name: name, Status: labeling.StatusInitializing, CreatedAt: s.e.clock.Now()})
	s.e.ledger.baseline(name, "")
	s.e.ledger.moved(name, labeling.StatusInitializing)
	s.jobs = append(s.jobs, name)
	for range s.rng.IntN(4) {
		s.advance(name)
	}
}

// walk moves each unfinished job on with chance step, sometimes twice.
func (s *soak) walk() {
	for _, name := range s.jobs {
		if s.rng.Float64() >= s.step {
			continue
		}
		s.advance(name)
		if s.rng.Float64() < 0.25 {
			s.advance(name)
		}
	}
}

// advance moves a job one step along the API's state machine.
func (s *soak) advance(name string) {
	j, _ := s.e.emu.Job(name)
	var next labeling.Status
	switch j.Status {
	case labeling.StatusInitializing:
		next = labeling.StatusInProgress
	case labeling.StatusInProgress:
		switch r := s.rng.Float64(); {
		case r < 0.5:
			next = labeling.StatusCompleted
		case r < 0.75:
			next = labeling.StatusFailed
		default:
			next = labeling.StatusStopping
		}
	case labeling.StatusStopping:
		next = labeling.StatusStopped
	default:
		return // finished
	}
	s.e.move(name, next)
}

// soakPlan is how one cycle runs.
type soakPlan struct {
	faults   []string
	watchers int           // run this many at once
	timeout  time.Duration // each one's deadline
	slackTO  time.Duration // the Slack client's timeout
	crash    *crashStep
	stale    []string // jobs listed as they were before, this cycle only
	ties     int      // jobs changed right after the listing, at its instant
	sm       []emulator.Fault
	after    []func()
}

// plan draws the faults of one cycle, at chance rate, one to three of them.
func (s *soak) plan(rate float64) *soakPlan {
	p := &soakPlan{watchers: 1, timeout: 20 * time.Second, slackTO: 2 * time.Second}
	if s.rng.Float64() >= rate {
		return p
	}
	e, rng := s.e, s.rng
	burst := func(n int) int { return 1 + rng.IntN(n) }
	ops := []string{"GetItem", "BatchGetItem", "UpdateItem", ""}
	for range 1 + rng.IntN(3) {
		var name string
		switch rng.IntN(20) {
		case 0:
			n := burst(6)
			code := []int{500, 502, 503}[rng.IntN(3)]
			e.slack.FailNext(n, testenv.SlackFault{Status: code, Body: "server_error"})
			name = fmt.Sprintf("slack %d x%d", code, n)
		case 1:
			n := burst(4)
			e.slack.FailNext(n, testenv.SlackFault{Reset: true})
			name = fmt.Sprintf("slack reset x%d", n)
		case 2:
			n := burst(2)
			p.slackTO = 100 * time.Millisecond
			e.slack.FailNext(n, testenv.SlackFault{Delay: time.Second})
			name = fmt.Sprintf("slack slow x%d", n)
		case 3:
			n := burst(4)
			e.slack.FailNext(n, testenv.SlackRateLimit("0"))
			name = fmt.Sprintf("slack 429 x%d", n)
		case 4:
			n := burst(3)
			e.slack.FailNext(n, testenv.SlackFault{Status: http.StatusOK, Body: "<html>portal</html>"})
			name = fmt.Sprintf("slack 200 not ok x%d", n)
		case 5:
			n := burst(3)
			e.slack.FailNext(n, testenv.SlackFault{Status: http.StatusNotFound, Body: "no_service"})
			name = fmt.Sprintf("slack 404 no_service x%d", n)
		case 6:
			e.slack.FailNext(1, lostAnswer)
			name = "slack posted, answer lost"
		case 7:
			op, n := ops[rng.IntN(len(ops))], burst(5)
			f := []testenv.DynamoFault{testenv.Throttle, testenv.ThroughputExceeded, testenv.InternalError, testenv.Reset}[rng.IntN(4)]
			e.proxy.FailNext(op, n, f)
			name = fmt.Sprintf("dynamodb %v on %q x%d", f, op, n)
		case 8:
			e.proxy.FailNext("UpdateItem", 1, testenv.LostAnswer)
			name = "dynamodb UpdateItem answer lost"
		case 9:
			n := burst(7)
			f := []testenv.DynamoFault{testenv.Unprocessed, testenv.UnprocessedAll}[rng.IntN(2)]
			e.proxy.FailNext("BatchGetItem", n, f)
			name = fmt.Sprintf("dynamodb %v x%d", f, n)
		case 10:
			e.proxy.SetLatency(2 * time.Millisecond)
			p.after = append(p.after, func() { e.proxy.SetLatency(0) })
			name = "dynamodb latency"
		case 11:
			n := burst(4)
			f := []emulator.Fault{emulator.Throttle, emulator.InternalFailure, emulator.ServiceUnavailable}[rng.IntN(3)]
			for range n {
				p.sm = append(p.sm, f)
			}
			name = fmt.Sprintf("sagemaker %d x%d", f, n)
		case 12:
			p.sm = append(p.sm, emulator.RepeatToken)
			name = "sagemaker repeated token"
		case 13:
			n := burst(3)
			for range n {
				p.sm = append(p.sm, emulator.EmptyPageWithToken)
			}
			name = fmt.Sprintf("sagemaker empty page x%d", n)
		case 14:
			p.stale = s.staleCandidates(burst(5))
			name = fmt.Sprintf("stale listing of %d jobs", len(p.stale))
		case 15:
			p.ties = burst(5)
			name = fmt.Sprintf("%d changes tied with the cursor", p.ties)
		case 16:
			p.timeout = time.Duration(300+rng.IntN(400)) * time.Millisecond
			e.slack.SetLatency(20 * time.Millisecond)
			name = fmt.Sprintf("deadline %v", p.timeout)
		case 17, 18:
			step := crashStep(rng.IntN(4))
			p.crash = &step
			name = fmt.Sprintf("crash at step %d", step)
		case 19:
			p.watchers = 2 + rng.IntN(2)
			e.slack.SetLatency(5 * time.Millisecond)
			name = fmt.Sprintf("%d overlapping runs", p.watchers)
		}
		p.faults = append(p.faults, name)
	}
	return p
}

// staleCandidates picks up to n jobs whose current status is already
// stored: a lagging read can show them as they were before.
func (s *soak) staleCandidates(n int) []string {
	var out []string
	for range 4 * n {
		name := s.jobs[s.rng.IntN(len(s.jobs))]
		j, _ := s.e.emu.Job(name)
		if j.Status == labeling.StatusInitializing || s.e.record(name).Status != j.Status {
			continue
		}
		out = append(out, name)
		if len(out) == n {
			break
		}
	}
	return out
}

// cycle runs the watchers of one cycle under plan p, then stops every fault
// and restores the stale jobs.
func (s *soak) cycle(p *soakPlan) (watch.Summary, error) {
	e := s.e
	defer func() {
		e.slack.ClearFaults()
		e.proxy.ClearFaults()
		e.onListRequest(nil)
		for _, f := range p.after {
			f()
		}
	}()
	// SageMaker faults are handed to the emulator one list request at a
	// time, so none is left over for a later cycle.
	if len(p.sm) > 0 {
		var mu sync.Mutex
		queue := p.sm
		e.onListRequest(func(n int) {
			mu.Lock()
			defer mu.Unlock()
			// A repeated token is shown on a later page, where it cuts the
			// listing short.
			if len(queue) > 0 && (queue[0] != emulator.RepeatToken || n > 1) {
				e.emu.FailNext(1, queue[0])
				queue = queue[1:]
			}
		})
	}
	for _, name := range p.stale {
		j, _ := e.emu.Job(name)
		hist := e.ledger.historyOf(name)
		var before labeling.Status
		for i := len(hist) - 1; i > 0; i-- {
			if hist[i] != j.Status && hist[i] != "" {
				before = hist[i]
				break
			}
		}
		if before == "" {
			continue
		}
		e.emu.Update(name, func(x *labeling.Job) {
			x.Status = before
			x.ModifiedAt = j.ModifiedAt.Add(-time.Duration(1+s.rng.IntN(300)) * time.Second)
		})
		defer e.emu.Update(name, func(x *labeling.Job) { *x = j })
	}
	wc := watcherConfig{
		notifier: e.webhook(p.slackTO),
		opts:     watch.Options{DigestThreshold: 10, Concurrency: 16},
	}
	if p.ties > 0 {
		var once sync.Once
		wc.source = &hookSource{Source: labelingSource(e), afterList: func() {
			once.Do(func() {
				for range p.ties {
					s.advance(s.jobs[s.rng.IntN(len(s.jobs))])
				}
			})
		}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	if p.crash != nil {
		k := &killer{cancel: cancel}
		step := *p.crash
		wc.store = &hookStore{Store: e.store(),
			before: func(_ context.Context, op, _ string, _ labeling.Status) error {
				if err := k.alive(); err != nil {
					return err
				}
				if step == beforeCursor && op == "AdvanceCursor" {
					k.kill()
					return errKilled
				}
				return nil
			},
			after: func(op, _ string, _ labeling.Status, err error) {
				if step == afterStateWrite && op == "Commit" && err == nil {
					k.kill()
				}
			},
		}
		wc.notifier = &hookNotifier{Notifier: wc.notifier, before: k.alive, after: func(err error) {
			if step == afterPost && err == nil {
				k.kill()
			}
		}}
		if wc.source == nil {
			wc.source = labelingSource(e)
		}
		wc.source = &hookSource{Source: wc.source, afterList: func() {
			if step == afterList {
				k.kill()
			}
		}}
	}
	if p.watchers == 1 {
		return e.watcher(wc).Poll(ctx)
	}
	var (
		wg   sync.WaitGroup
		sums = make([]watch.Summary, p.watchers)
		errs = make([]error, p.watchers)
	)
	for i := range p.watchers {
		w := e.watcher(wc)
		wg.Go(func() { sums[i], errs[i] = w.Poll(ctx) })
	}
	wg.Wait()
	// One summary for the cycle: contention between the runs is expected.
	sum := sums[0]
	var firstErr error
	for i := range sums {
		if errs[i] != nil && firstErr == nil {
			firstErr = errs[i]
		}
		if i > 0 {
			sum.Pending += sums[i].Pending
		}
	}
	return sum, firstErr
}
