package reliability

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labelwatch/labelwatch/internal/emulator"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/testenv"
	"github.com/labelwatch/labelwatch/internal/watch"
)

var (
	soakSeed    = flag.Uint64("soak.seed", 20260302, "TestSoak: seed of the random walks and faults (a failure prints it)")
	soakCycles  = flag.Int("soak.cycles", 100, "TestSoak: cycles to run with faults")
	soakJobs    = flag.Int("soak.jobs", 500, "TestSoak: labeling jobs, shared out among the sources")
	soakFaults  = flag.Float64("soak.faults", 0.35, "TestSoak: chance that a cycle runs with faults")
	soakSources = flag.Int("soak.sources", 3, "TestSoak: sources watched at once, 1 to 4: the home account's region, its eu-west-1, another account's us-east-1 and eu-west-1")
)

// memberAccount is the other account TestSoak watches (ACCOUNT_ROLES), by
// the display name memberName (ACCOUNT_NAMES).
const (
	memberAccount = "222222222222"
	memberName    = "research"
)

// soakPlaces are the sources TestSoak watches, the first -soak.sources of
// them, keyed as app keys its sources: the function's own account and
// region, another region of its account, and another account in both
// regions. The home and the member account share us-east-1, so only a
// message's account tells their jobs apart.
var soakPlaces = []struct {
	key   string
	place emulator.Place
}{
	{"", emulator.Place{Account: homeAccount, Region: "us-east-1"}},
	{"eu-west-1", emulator.Place{Account: homeAccount, Region: "eu-west-1"}},
	{memberAccount + "/us-east-1", emulator.Place{Account: memberAccount, Region: "us-east-1"}},
	{memberAccount + "/eu-west-1", emulator.Place{Account: memberAccount, Region: "eu-west-1"}},
}

// TestSoak walks many jobs at random through the API's state machine
// (Initializing -> InProgress -> Completed | Failed | Stopping -> Stopped),
// one watch cycle a fake minute, with random faults from every part of the
// suite in a share of the cycles. The function watches several sources
// (-soak.sources): each has its own jobs, every third name of which is also
// a job in each other source, its own cursor and its own watcher, and every
// cycle polls them all at once, sharing one Slack and, within one run of
// the function, Slack's pace. Slack and DynamoDB faults hit whichever
// source meets them; SageMaker faults hit one source: some cycles one
// source's SageMaker refuses every request while the others' answer.
//
// After every cycle it checks, for every source and job, that no alert was
// posted twice (beyond the duplicates the ledger allows for a post Slack
// accepted and the run could not record) and none for a status the job
// never had; that each message was sent by one source and names that
// source's region and account wherever it names a place; after every cycle
// that ran without faults and completed, that every job's current alerting
// status was posted (so a source held back by a fault posts its alerts at
// the next such cycle); after a cycle where a source's SageMaker refused
// every request, that its poll failed and its cursor stayed, and, when that
// was the cycle's only fault, that every other source's poll completed and
// delivered; and at the end, once faults stop, that every source's state
// converged.
//
// Replay a failure with the seed it prints: go test -run TestSoak
// ./internal/reliability/ -soak.seed=N (and the same -soak.* flags).
func TestSoak(t *testing.T) {
	t.Parallel()
	seed, cycles, jobs, rate, sources := *soakSeed, *soakCycles, *soakJobs, *soakFaults, *soakSources
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d", seed)
			t.Logf("replay: go test -count=1 -run TestSoak ./internal/reliability/ -soak.seed=%d -soak.cycles=%d -soak.jobs=%d -soak.faults=%v -soak.sources=%d", seed, cycles, jobs, rate, sources)
		}
	})
	if sources < 1 || sources > len(soakPlaces) {
		t.Fatalf("-soak.sources=%d: want 1 to %d", sources, len(soakPlaces))
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	e := newEnv(t)
	e.accountNames = map[string]string{memberAccount: memberName}
	s := &soak{e: e, rng: rng, step: min(0.08, 8/float64(cycles)), sources: []*source{e.home}}
	for _, p := range soakPlaces[1:sources] {
		s.sources = append(s.sources, e.addSource(p.key, p.place))
	}

	// Four in five jobs of each source exist from the start; the rest
	// appear later, some already past their first statuses (they started
	// and maybe finished between two cycles).
	per := max(1, jobs/sources)
	initial := per * 4 / 5
	late := map[int][]jobRef{}
	for i, src := range s.sources {
		names := soakNames(i, per)
		s.put(src, names[:initial])
		for _, name := range names[initial:] {
			at := 1 + rng.IntN(max(1, cycles*3/4))
			late[at] = append(late[at], jobRef{src, name})
		}
	}
	s.seed(initial)

	faulty, clean, isolated := 0, 0, 0
	start := time.Now()
	for c := 1; c <= cycles; c++ {
		e.clock.Advance(time.Minute)
		for _, ref := range late[c] {
			s.create(ref)
		}
		s.walk()
		// Halfway, one source's SageMaker fails alone at least once.
		plan := s.plan(rate, c == (cycles+1)/2)
		cursors := map[*source]time.Time{}
		for src := range plan.refused {
			cursors[src] = src.cursor()
		}
		res := s.cycle(plan)
		if len(plan.faults) > 0 {
			faulty++
		}
		check := e.checkSources()
		if t.Failed() {
			t.Fatalf("cycle %d (faults %v): %v", c, plan.faults, res)
		}
		for src := range plan.refused {
			if res.errs[src] == nil {
				t.Errorf("%s's SageMaker refused every request, and its poll did not fail: %+v", src, res.sums[src])
			}
			if now := src.cursor(); !now.Equal(cursors[src]) {
				t.Errorf("%s's SageMaker refused every request, and its cursor moved from %v to %v", src, cursors[src], now)
			}
		}
		if plan.isolated {
			isolated++
			for _, src := range s.sources {
				if _, refused := plan.refused[src]; refused {
					continue
				}
				if err := res.errs[src]; err != nil {
					t.Errorf("one source's SageMaker failing held back %s: %v", src, err)
				} else if res.sums[src].Pending == 0 && res.sums[src].Contended == 0 {
					src.ledger.checkDelivered(t, check.counts[src])
				}
			}
		}
		if len(plan.faults) == 0 && res.clean() {
			clean++
			for _, src := range s.sources {
				src.ledger.checkDelivered(t, check.counts[src])
			}
		}
		if t.Failed() {
			t.Fatalf("cycle %d (faults %v): %v", c, plan.faults, res)
		}
	}
	final := e.convergeSources(s.options)
	posted := e.postedBy()
	alerts, dups, allowed, shared := 0, 0, 0, 0
	for _, src := range s.sources {
		unacked := unacknowledged(posted[src])
		for k, n := range final.counts[src] {
			alerts++
			dups += n - 1
			allowed += src.ledger.allowed(k) + unacked[k] + final.taken[src][k]
		}
	}
	in := map[string]int{}
	for _, ref := range s.jobs {
		if in[ref.name]++; in[ref.name] == 2 {
			shared++
		}
	}
	t.Logf("seed %d: %d jobs, %d cycles (%d with faults, %d clean without), %d alerts posted in %d messages (%d digests), %d duplicates (%d allowed), %v",
		seed, len(s.jobs), cycles, faulty, clean, alerts, len(e.slack.Messages()), final.digests, dups, allowed, time.Since(start).Round(time.Millisecond))
	if len(s.sources) > 1 {
		t.Logf("%d sources, %d job names in several; %d cycles with one source's SageMaker failing alone; %d digests",
			len(s.sources), shared, isolated, final.digests)
		// Each source's watcher renders digests of its own jobs: each must
		// say whose they are, or a reader cannot tell two accounts' jobs
		// of one region apart.
		if final.unnamed > 0 {
			t.Errorf("%d of %d digests name no account", final.unnamed, final.digests)
		}
	}
	if clean == 0 {
		t.Errorf("no cycle ran clean without faults: the liveness check never ran")
	}
	if len(s.sources) > 1 && isolated == 0 {
		t.Errorf("no source's SageMaker failed alone: the isolation check never ran")
	}
}

// soakNames are the names of the per jobs of the source at index i: every
// third of them (job-0000, job-0003, ...) is in every source, the others
// are the source's own.
func soakNames(i, per int) []string {
	names := make([]string, per)
	for k := range names {
		n := k
		if k%3 != 0 {
			n = i*per + k
		}
		names[k] = fmt.Sprintf("job-%04d", n)
	}
	return names
}

// soak is the state of one TestSoak.
type soak struct {
	e       *env
	rng     *rand.Rand
	step    float64 // chance a job moves on in a cycle
	sources []*source
	jobs    []jobRef
}

// jobRef is one job: a name in a source.
type jobRef struct {
	src  *source
	name string
}

func (r jobRef) String() string { return r.name + r.src.in() }

// options are the watch options of one run of the function: its sources'
// watchers share their Slack lanes, as app's do, so that pacing and
// Slack's Retry-After hold across them. The digest threshold shrinks with
// the sources, which share the jobs out: a source's cycle has as good a
// chance of a digest as the one source's had.
func (s *soak) options() watch.Options {
	return watch.Options{DigestThreshold: max(1, 10/len(s.sources)), Concurrency: 16, Lanes: &watch.Lanes{}}
}

// put puts jobs in Initializing in src (created a second apart, so that
// listing pages hold them in name order), with their ledger baselines.
func (s *soak) put(src *source, names []string) {
	now := s.e.clock.Now()
	for i, name := range names {
		src.emu.Put(labeling.Job{
			Name: name, Status: labeling.StatusInitializing,
			CreatedAt: now.Add(time.Duration(i-len(names)) * time.Second), ModifiedAt: now,
			Counters: labeling.Counters{Unlabeled: 100},
		})
		src.ledger.baseline(name, labeling.StatusInitializing)
		s.jobs = append(s.jobs, jobRef{src, name})
	}
}

// seed runs the first cycle of every source at once, which records each
// one's n jobs without alerting.
func (s *soak) seed(n int) {
	e := s.e
	e.t.Helper()
	ws := make([]*watch.Watcher, len(s.sources))
	opts := s.options()
	for i, src := range s.sources {
		ws[i] = e.watcher(watcherConfig{src: src, name: "seed", opts: opts})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sums, errs := pollAll(ctx, ws)
	for i, src := range s.sources {
		if sum, err := sums[i], errs[i]; err != nil || !sum.FirstRun || !sum.Advanced || sum.Recorded != n {
			e.t.Fatalf("first cycle of %s: %+v, %v", src, sum, err)
		}
	}
}

// create puts a job the watcher has never seen, and walks it a few steps.
func (s *soak) create(ref jobRef) {
	ref.src.emu.Put(labeling.Job{Name: ref.name, Status: labeling.StatusInitializing, CreatedAt: s.e.clock.Now()})
	ref.src.ledger.baseline(ref.name, "")
	ref.src.ledger.moved(ref.name, labeling.StatusInitializing)
	s.jobs = append(s.jobs, ref)
	for range s.rng.IntN(4) {
		s.advance(ref)
	}
}

// walk moves each unfinished job on with chance step, sometimes twice.
func (s *soak) walk() {
	for _, ref := range s.jobs {
		if s.rng.Float64() >= s.step {
			continue
		}
		s.advance(ref)
		if s.rng.Float64() < 0.25 {
			s.advance(ref)
		}
	}
}

// advance moves a job one step along the API's state machine.
func (s *soak) advance(ref jobRef) {
	j, _ := ref.src.emu.Job(ref.name)
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
	ref.src.move(ref.name, next)
}

// pick is a source at random. With one source it draws nothing, so that a
// seed makes the same cycles as before there were several.
func (s *soak) pick() *source {
	if len(s.sources) == 1 {
		return s.sources[0]
	}
	return s.sources[s.rng.IntN(len(s.sources))]
}

// soakPlan is how one cycle runs.
type soakPlan struct {
	faults   []string
	watchers int           // runs of the function at once, each polling every source
	timeout  time.Duration // each run's deadline
	slackTO  time.Duration // the Slack client's timeout
	crash    *crashStep
	stale    []jobRef // jobs listed as they were before, this cycle only
	ties     int      // jobs of tiesAt changed right after its listing, at its instant
	tiesAt   *source
	sm       map[*source][]emulator.Fault // each source's list requests' faults, in order
	refused  map[*source]string           // sources whose SageMaker answers every request with this error code
	isolated bool                         // one source refused is the cycle's only fault
	after    []func()
}

// refusals are how a source's SageMaker can fail for a whole cycle: its
// account's role refused, its region not enabled, or throttled throughout.
var refusals = []string{"AccessDeniedException", "UnrecognizedClientException", "ThrottlingException"}

// plan draws the faults of one cycle, at chance rate, one to three of them.
// With several sources, a few cycles (and the one where alone is set) have
// one source's SageMaker refuse every request and no other fault.
func (s *soak) plan(rate float64, alone bool) *soakPlan {
	p := &soakPlan{watchers: 1, timeout: 20 * time.Second, slackTO: 2 * time.Second,
		sm: map[*source][]emulator.Fault{}, refused: map[*source]string{}}
	e, rng := s.e, s.rng
	if len(s.sources) > 1 && (alone || rng.Float64() < 0.04) {
		p.faults = append(p.faults, s.refuse(p))
		p.isolated = true
		return p
	}
	if rng.Float64() >= rate {
		return p
	}
	burst := func(n int) int { return 1 + rng.IntN(n) }
	ops := []string{"GetItem", "BatchGetItem", "UpdateItem", "BatchWriteItem", ""}
	kinds := 20
	if len(s.sources) > 1 {
		kinds = 22 // and the faults of one source's SageMaker
	}
	for range 1 + rng.IntN(3) {
		var name string
		switch rng.IntN(kinds) {
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
			src, n := s.pick(), burst(4)
			f := []emulator.Fault{emulator.Throttle, emulator.InternalFailure, emulator.ServiceUnavailable}[rng.IntN(3)]
			for range n {
				p.sm[src] = append(p.sm[src], f)
			}
			name = fmt.Sprintf("sagemaker %d x%d%s", f, n, src.in())
		case 12:
			src := s.pick()
			p.sm[src] = append(p.sm[src], emulator.RepeatToken)
			name = "sagemaker repeated token" + src.in()
		case 13:
			src, n := s.pick(), burst(3)
			for range n {
				p.sm[src] = append(p.sm[src], emulator.EmptyPageWithToken)
			}
			name = fmt.Sprintf("sagemaker empty page x%d%s", n, src.in())
		case 14:
			p.stale = s.staleCandidates(burst(5))
			name = fmt.Sprintf("stale listing of %d jobs", len(p.stale))
		case 15:
			p.ties, p.tiesAt = burst(5), s.pick()
			name = fmt.Sprintf("%d changes tied with the cursor%s", p.ties, p.tiesAt.in())
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
		case 20:
			name = s.refuse(p)
		case 21:
			src := s.pick()
			src.emu.SetLatency(5 * time.Millisecond)
			p.after = append(p.after, func() { src.emu.SetLatency(0) })
			name = "sagemaker latency" + src.in()
		}
		p.faults = append(p.faults, name)
	}
	return p
}

// refuse has one source's SageMaker refuse every request this cycle, and
// names the fault.
func (s *soak) refuse(p *soakPlan) string {
	src, code := s.pick(), refusals[s.rng.IntN(len(refusals))]
	p.refused[src] = code
	return fmt.Sprintf("%s's SageMaker answers %s to every request", src, code)
}

// staleCandidates picks up to n jobs whose current status is already
// stored: a lagging read can show them as they were before.
func (s *soak) staleCandidates(n int) []jobRef {
	var out []jobRef
	for range 4 * n {
		ref := s.jobs[s.rng.IntN(len(s.jobs))]
		j, _ := ref.src.emu.Job(ref.name)
		if j.Status == labeling.StatusInitializing || ref.src.record(ref.name).Status != j.Status || slices.Contains(out, ref) {
			continue
		}
		out = append(out, ref)
		if len(out) == n {
			break
		}
	}
	return out
}

// cycleResult is what one cycle's polls answered, for each source: the
// first run's summary with every run's pending added (contention between
// runs is expected), and the first error of any run.
type cycleResult struct {
	sums map[*source]watch.Summary
	errs map[*source]error
}

// clean reports whether every source's poll completed with nothing
// pending or contended.
func (r cycleResult) clean() bool {
	for src, sum := range r.sums {
		if r.errs[src] != nil || sum.Pending != 0 || sum.Contended != 0 {
			return false
		}
	}
	return true
}

func (r cycleResult) String() string {
	var b strings.Builder
	for _, src := range slices.SortedFunc(maps.Keys(r.sums), func(a, b *source) int { return strings.Compare(a.key, b.key) }) {
		fmt.Fprintf(&b, "\n%s: %+v, %v", src, r.sums[src], r.errs[src])
	}
	return b.String()
}

// cycle runs one cycle under plan p: each run of the function (p.watchers
// of them at once) polls every source at once, then every fault stops and
// the stale jobs are restored.
func (s *soak) cycle(p *soakPlan) cycleResult {
	e := s.e
	defer func() {
		e.slack.ClearFaults()
		e.proxy.ClearFaults()
		for _, src := range s.sources {
			src.onListRequest(nil)
			src.refuseAll("")
		}
		for _, f := range p.after {
			f()
		}
	}()
	// SageMaker faults are handed to a source's emulator one list request
	// at a time, so none is left over for a later cycle.
	for src, queue := range p.sm {
		var mu sync.Mutex
		src.onListRequest(func(n int) {
			mu.Lock()
			defer mu.Unlock()
			// A repeated token is shown on a later page, where it cuts the
			// listing short.
			if len(queue) > 0 && (queue[0] != emulator.RepeatToken || n > 1) {
				src.emu.FailNext(1, queue[0])
				queue = queue[1:]
			}
		})
	}
	for src, code := range p.refused {
		src.refuseAll(code)
	}
	for _, ref := range p.stale {
		j, _ := ref.src.emu.Job(ref.name)
		hist := ref.src.ledger.historyOf(ref.name)
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
		ref.src.emu.Update(ref.name, func(x *labeling.Job) {
			x.Status = before
			x.ModifiedAt = j.ModifiedAt.Add(-time.Duration(1+s.rng.IntN(300)) * time.Second)
		})
		defer ref.src.emu.Update(ref.name, func(x *labeling.Job) { *x = j })
	}
	var tied sync.Once
	tie := func() {
		tied.Do(func() {
			var own []jobRef
			for _, ref := range s.jobs {
				if ref.src == p.tiesAt {
					own = append(own, ref)
				}
			}
			for range p.ties {
				s.advance(own[s.rng.IntN(len(own))])
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	// A crash is of the process: every run and source dies with it.
	var k *killer
	if p.crash != nil {
		k = &killer{cancel: cancel}
	}
	var (
		ws    []*watch.Watcher
		owner []*source
	)
	for run := range p.watchers {
		opts := s.options()
		var notifier watch.Notifier = e.webhook(p.slackTO)
		if k != nil {
			step := *p.crash
			notifier = &hookNotifier{Notifier: notifier, before: k.alive, after: func(err error) {
				if step == afterPost && err == nil {
					k.kill()
				}
			}}
		}
		for _, src := range s.sources {
			wc := watcherConfig{src: src, notifier: notifier, opts: opts, name: fmt.Sprintf("run %d", run)}
			var source watch.Source = src.labeling()
			if src == p.tiesAt && p.ties > 0 {
				source = &hookSource{Source: source, afterList: tie}
			}
			if k != nil {
				step := *p.crash
				wc.store = &hookStore{Store: src.store(),
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
				source = &hookSource{Source: source, afterList: func() {
					if step == afterList {
						k.kill()
					}
				}}
			}
			wc.source = source
			ws = append(ws, e.watcher(wc))
			owner = append(owner, src)
		}
	}
	sums, errs := pollAll(ctx, ws)
	res := cycleResult{sums: map[*source]watch.Summary{}, errs: map[*source]error{}}
	for i, src := range owner {
		if sum, seen := res.sums[src]; seen {
			sum.Pending += sums[i].Pending
			res.sums[src] = sum
		} else {
			res.sums[src] = sums[i]
		}
		if errs[i] != nil && res.errs[src] == nil {
			res.errs[src] = errs[i]
		}
	}
	return res
}
