package reliability

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/watch"
)

// TestDeadlineMidCycle gives a cycle of twelve alerts too little time, Slack
// taking 150 ms a post: the cycle stops before its deadline, records what
// went out, releases the rest, keeps the cursor, and the next run finishes.
func TestDeadlineMidCycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	jobs := e.seed(20)
	e.clock.Advance(time.Minute)
	due := e.finish(jobs[:12]...)
	e.slack.SetLatency(300 * time.Millisecond)
	// 2 s of work for twelve posts of 300 ms each: some go out, not all.
	// The 1 s margin leaves the commits and releases time even on a loaded
	// machine (the deployed default is 5 s).
	opts := watch.Options{DigestThreshold: 100, DeadlineMargin: time.Second}
	const timeout = 3 * time.Second
	// That the run ends before the deadline itself is shown without a
	// stopwatch by TestLambdaDeadline: Lambda reports no timeout there.
	sum, err := e.run(e.watcher(watcherConfig{opts: opts}), timeout)
	errorIs(t, err, watch.ErrPending)
	errorIs(t, err, context.DeadlineExceeded)
	if sum.Alerted == 0 || sum.Alerted+sum.Pending != len(due) || sum.Advanced {
		t.Errorf("cycle: %+v; want some alerted, the rest pending, the cursor kept", sum)
	}
	posted := map[string]bool{}
	for _, m := range e.posted() {
		for _, k := range m.Alerts {
			posted[k.Job] = true
		}
	}
	// The post the deadline cut off may have been taken by Slack without the
	// client learning it: the documented at-least-once case. At most that one
	// job is posted but stored as not posted, and the next run posts it again.
	var cut []alertKey
	for _, k := range due {
		rec := e.record(k.Job)
		switch {
		case rec.Lease != nil:
			t.Errorf("job %s still claimed after the cycle stopped", k.Job)
		case posted[k.Job] && rec.Status == k.Status:
		case posted[k.Job] && rec.Status == labeling.StatusInitializing:
			cut = append(cut, k)
		case !posted[k.Job] && rec.Status != labeling.StatusInitializing:
			t.Errorf("job %s not posted but stored %s", k.Job, rec.Status)
		case posted[k.Job]:
			t.Errorf("job %s posted but stored %s", k.Job, rec.Status)
		}
	}
	if len(cut) > 1 || len(posted) != sum.Alerted+len(cut) {
		t.Errorf("%d jobs posted, the cycle says %d, %d cut off by the deadline (at most 1)", len(posted), sum.Alerted, len(cut))
	}
	// The next run, with time enough, sends the rest without a new change.
	e.slack.SetLatency(0)
	sum, err = e.run(e.watcher(watcherConfig{opts: opts}), 10*time.Second)
	if err != nil || sum.Alerted != len(due)-len(posted)+len(cut) || !sum.Advanced {
		t.Errorf("next cycle: %+v, %v; want the rest alerted and the cursor advanced", sum, err)
	}
	e.check()
	want := once(due)
	for _, k := range cut {
		want[k] = 2
	}
	expectCounts(t, e.converge(), want)
}

// TestOverlappingRuns runs four watchers at once on one table, round after
// round, with Slack and DynamoDB slow enough that their cycles interleave:
// every alert is claimed by one of them and posted once.
func TestOverlappingRuns(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	jobs := e.seed(60)
	e.slack.SetLatency(10 * time.Millisecond)
	e.proxy.SetLatency(2 * time.Millisecond)
	var watchers []*watch.Watcher
	for i := range 4 {
		// Two of them post digests above three alerts.
		threshold := 100
		if i%2 == 1 {
			threshold = 3
		}
		watchers = append(watchers, e.watcher(watcherConfig{name: fmt.Sprintf("w%d", i), opts: watch.Options{DigestThreshold: threshold}}))
	}
	var due []alertKey
	contended := 0
	for round := range 3 {
		e.clock.Advance(time.Minute)
		due = append(due, e.finish(jobs[round*20:round*20+12]...)...)
		var wg sync.WaitGroup
		sums := make([]watch.Summary, len(watchers))
		errs := make([]error, len(watchers))
		for i, w := range watchers {
			wg.Go(func() { sums[i], errs[i] = e.run(w, 20*time.Second) })
		}
		wg.Wait()
		alerted := 0
		for i := range watchers {
			if errs[i] != nil {
				t.Errorf("round %d, watcher %d: %v", round, i, errs[i])
			}
			alerted += sums[i].Alerted
			contended += sums[i].Contended
		}
		if alerted != 12 {
			t.Errorf("round %d: %d alerted in all, want 12", round, alerted)
		}
		e.check()
	}
	if contended == 0 {
		t.Errorf("the watchers never contended for a job: they did not overlap")
	}
	expectCounts(t, e.converge(), once(due))
}

var errKilled = errors.New("process killed")

// crashStep is where TestCrash kills a cycle.
type crashStep int

const (
	afterList crashStep = iota
	afterPost
	afterStateWrite
	beforeCursor
)

// killer stands for the process of one cycle: once killed, its context is
// cancelled and every later call to the store or to Slack fails without
// effect, as if the process were gone.
type killer struct {
	mu     sync.Mutex
	dead   bool
	cancel context.CancelFunc
}

func (k *killer) kill() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.dead = true
	k.cancel()
}

func (k *killer) alive() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dead {
		return errKilled
	}
	return nil
}

// TestCrash kills a cycle at each step (after listing, after Slack accepted
// a post, after the state write, before the cursor write) and runs fresh
// watchers: at once, while the dead run's claims live, and after they
// expire. No alert is lost; the only duplicates are of posts Slack accepted
// that the dead run could not record, one each.
func TestCrash(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		step   crashStep
		due    int
		digest bool
		// what the fresh run right after the crash does, and how often each
		// alert is posted in the end
		freshAlerted, freshContended int
		twice                        int // the first this many alerts end up posted twice
	}{
		{name: "after listing", step: afterList, due: 3, freshAlerted: 3},
		{name: "after posting", step: afterPost, due: 3, freshContended: 3, twice: 1},
		{name: "after posting a digest", step: afterPost, due: 12, digest: true, freshContended: 12, twice: 12},
		{name: "after the state write", step: afterStateWrite, due: 3, freshContended: 2},
		{name: "before the cursor write", step: beforeCursor, due: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			jobs := e.seed(20)
			e.clock.Advance(time.Minute)
			due := e.finish(jobs[:tt.due]...)

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			k := &killer{cancel: cancel}
			store := &hookStore{Store: e.store(),
				before: func(_ context.Context, op, _ string, _ labeling.Status) error {
					if err := k.alive(); err != nil {
						return err
					}
					if tt.step == beforeCursor && op == "AdvanceCursor" {
						k.kill()
						return errKilled
					}
					return nil
				},
				after: func(op, _ string, _ labeling.Status, err error) {
					if tt.step == afterStateWrite && op == "Commit" && err == nil {
						k.kill()
					}
				},
			}
			notifier := &hookNotifier{Notifier: e.webhook(2 * time.Second),
				before: k.alive,
				after: func(err error) {
					if tt.step == afterPost && err == nil {
						k.kill()
					}
				},
			}
			source := &hookSource{Source: labelingSource(e), afterList: func() {
				if tt.step == afterList {
					k.kill()
				}
			}}
			threshold := 100
			if tt.digest {
				threshold = 10
			}
			opts := watch.Options{DigestThreshold: threshold}
			_, err := e.watcher(watcherConfig{name: "dying", store: store, notifier: notifier, source: source, opts: opts}).Poll(ctx)
			if err == nil {
				t.Errorf("the killed cycle returned no error")
			}
			if k.alive() == nil {
				t.Fatalf("the cycle never reached the step to kill it at")
			}
			e.check()

			// A fresh run at once: the dead run's claims still live.
			sum, err := e.run(e.watcher(watcherConfig{name: "fresh", opts: opts}), 10*time.Second)
			if err != nil || sum.Alerted != tt.freshAlerted || sum.Contended != tt.freshContended {
				t.Errorf("fresh cycle: %+v, %v; want %d alerted, %d contended", sum, err, tt.freshAlerted, tt.freshContended)
			}
			e.check()

			// After the claims expire, the rest goes out.
			want := once(due)
			for _, k := range due[:tt.twice] {
				want[k] = 2
			}
			expectCounts(t, e.converge(), want)
		})
	}
}

func labelingSource(e *env) watch.Source { return labeling.NewSource(e.sm, labeling.Filter{}) }
