package watch_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/labelwatch/labelwatch/internal/state"
	"github.com/labelwatch/labelwatch/internal/watch"
)

// TestQuietAfterBurst checks that once OVERLAP (and the clock skew) had
// passed since a burst when the run before began, a run in which nothing
// changed costs one list call and no state read, however many jobs the
// burst moved: the cursor moves past the burst by time, not only when a
// newer job is modified. More jobs
// move than a cursor remembers (state.MaxSeen), so before the cursor moved
// by time the run after the burst listed them all again and read a third.
func TestQuietAfterBurst(t *testing.T) {
	t.Parallel()
	h := newHarness(t, backends[1])
	opts := watch.Options{Overlap: 2 * time.Second, ClockSkew: time.Second}
	const n = 3000
	names := h.jobs("burst", n, inProgress, start.Add(-time.Hour))
	if sum := h.mustRun(setup{opts: opts}); !sum.FirstRun || sum.Recorded != n {
		t.Fatalf("first run: %+v", sum)
	}

	h.clock.Advance(time.Minute)
	h.set(stopping, names) // all at one instant, silently
	// The burst's run comes a little later, as a scheduled one does: past
	// the skew, within OVERLAP of it the cursor could not pass the burst.
	h.clock.Advance(30 * time.Second)
	if sum := h.mustRun(setup{opts: opts}); sum.Recorded != n {
		t.Fatalf("the burst's run: %+v, want %d recorded", sum, n)
	}

	for _, wait := range []time.Duration{time.Minute, time.Hour} {
		h.clock.Advance(wait)
		h.store.takeLoads()
		calls := h.listCalls()
		sum := h.mustRun(setup{opts: opts})
		checkSummary(t, sum, watch.Summary{})
		if got := h.listCalls() - calls; got != 1 {
			t.Errorf("%v after the burst: %d list calls, want 1", wait, got)
		}
		if loads := h.store.takeLoads(); len(loads) != 0 {
			t.Errorf("%v after the burst: state loads of %v, want none", wait, loads)
		}
	}
}

// TestQuietAtAnySize checks that a run in which nothing changed costs one
// list call, one state read (the cursor) and no write, whether the account
// holds 1,000 jobs or 100,000; and one list call more, with no read, when
// cards and warnings list the jobs in progress and there are none.
func TestQuietAtAnySize(t *testing.T) {
	t.Parallel()
	for _, size := range []int{1_000, 100_000} {
		h := newHarness(t, backends[1])
		for i := range size {
			h.put(job(fmt.Sprintf("done-%06d", i), completed, start.Add(-48*time.Hour+time.Duration(i)*time.Millisecond)))
		}
		if err := h.store.AdvanceCursor(t.Context(), state.Cursor{At: start.Add(-time.Hour)}); err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			rules     watch.Rules
			listCalls int
		}{
			{defaultRules(), 1},
			{cardRules(func(r *watch.Rules) { r.StuckAfter = 6 * time.Hour }), 2},
		} {
			h.clock.Advance(time.Minute)
			calls := h.listCalls()
			sum := h.mustRun(setup{opts: watch.Options{Rules: tt.rules}, notifier: h.bot()})
			checkSummary(t, sum, watch.Summary{})
			if got := h.listCalls() - calls; got != tt.listCalls {
				t.Errorf("%d jobs, cards %v: %d list calls, want %d", size, tt.rules.Cards, got, tt.listCalls)
			}
			if loads := h.store.takeLoads(); len(loads) != 0 {
				t.Errorf("%d jobs: loads of %v, want none", size, loads)
			}
		}
	}
}

// gatedCursor holds a cursor read, once armed, until the listing of the
// jobs in progress has begun.
type gatedCursor struct {
	state.Store
	armed   bool
	begun   chan struct{}
	begunMu sync.Once
}

func (s *gatedCursor) Cursor(ctx context.Context) (state.Cursor, bool, error) {
	if s.armed {
		select {
		case <-s.begun:
		case <-ctx.Done():
			return state.Cursor{}, false, fmt.Errorf("the cursor read waited for a listing that never began: %w", ctx.Err())
		}
	}
	return s.Store.Cursor(ctx)
}

// TestWarmRunListsAhead checks that a warm watcher, which found the cursor
// seeded before, lists the jobs in progress while it reads the cursor: the
// cursor read here is held until that listing begins, so a watcher that
// listed after it would wait out the deadline and fail. The cycle decides
// as a cold one does.
func TestWarmRunListsAhead(t *testing.T) {
	t.Parallel()
	h := newHarness(t, backends[1])
	h.jobs("busy", 250, inProgress, start.Add(-time.Hour))
	gate := &gatedCursor{Store: h.store, begun: make(chan struct{})}
	w := h.watcher(setup{
		opts:           watch.Options{Rules: cardRules()},
		notifier:       h.bot(),
		store:          gate,
		listingRunning: func() { gate.begunMu.Do(func() { close(gate.begun) }) },
	})
	if sum, err := h.runCtx(t.Context(), w); err != nil || !sum.FirstRun {
		t.Fatalf("first run: %+v, %v", sum, err)
	}

	// A cold watcher reads the cursor first: it has no reason to think it
	// seeded. The warm one must not wait for the cursor to list.
	gate.armed = true
	h.clock.Advance(time.Minute)
	h.set(inProgress, []string{"busy-007"}, progressed(10, 0))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	h.store.takeLoads()
	sum, err := h.runCtx(ctx, w)
	if err != nil {
		t.Fatalf("warm run: %v", err)
	}
	if sum.Running != 250 || sum.Transitions != 0 {
		t.Errorf("warm run: %+v, want 250 in progress and no transition", sum)
	}
	if loads := h.store.takeLoads(); len(loads) != 3 {
		t.Errorf("warm run loaded %v, want the 250 jobs in progress in 3 batches", loads)
	}
}

// TestIdleJobsNeedNoRead checks that jobs in progress a cycle found nothing
// to do for are not read again while they are listed alike: a quiet cycle
// with jobs in progress reads only the cursor. A job that moves is read
// (once, though both listings show it), and once more the cycle after, to find it
// idle; the stuck warning's time makes the stalled jobs read again when it
// comes; and a watcher under other rules reads them all.
func TestIdleJobsNeedNoRead(t *testing.T) {
	t.Parallel()
	h := newHarness(t, backends[1])
	const n = 150
	names := h.jobs("busy", n, inProgress, start.Add(-time.Hour))
	h.set(inProgress, names, progressed(10, 0))
	rules := cardRules(func(r *watch.Rules) { r.StuckAfter = 6 * time.Hour })
	run := func(what string, r watch.Rules) (watch.Summary, int) {
		t.Helper()
		h.clock.Advance(time.Minute)
		h.store.takeLoads()
		sum := h.mustRun(setup{opts: watch.Options{Rules: r}, notifier: h.bot()})
		read := 0
		for _, l := range h.store.takeLoads() {
			read += l
		}
		return sum, read
	}
	if sum, _ := run("first run", rules); !sum.FirstRun {
		t.Fatalf("first run: %+v", sum)
	}
	// The first cycle after it reads them, and remembers them idle.
	if _, read := run("first cycle", rules); read != n {
		t.Errorf("first cycle read %d jobs, want %d", read, n)
	}
	c, _, err := h.store.Cursor(t.Context())
	if err != nil || len(c.Idle) != n {
		t.Fatalf("cursor after the first cycle: %d idle jobs, %v; want %d", len(c.Idle), err, n)
	}
	if sum, read := run("quiet", rules); read != 0 || sum.Unread < n {
		t.Errorf("quiet cycle: read %d jobs, known %d; want none read, %d known", read, sum.Unread, n)
	}
	h.set(inProgress, names[7:8], progressed(40, 0))
	if _, read := run("one moved", rules); read != 1 {
		t.Errorf("one job moved: read %d jobs, want it once (listed alike as modified and in progress)", read)
	}
	// It had something to do then (its counters stored), so it is read
	// once more, found idle, and then left alone.
	if _, read := run("after it moved", rules); read != 1 {
		t.Errorf("the cycle after: read %d jobs, want the one that moved", read)
	}
	if _, read := run("quiet again", rules); read != 0 {
		t.Errorf("quiet again: read %d jobs, want none", read)
	}
	other := rules
	other.StuckAfter = 5 * time.Hour
	if _, read := run("other rules", other); read != n {
		t.Errorf("under other rules: read %d jobs, want all %d", read, n)
	}
	if _, read := run("back to the rules", rules); read != n {
		t.Errorf("back under the first rules: read %d jobs, want all %d", read, n)
	}
	// Six hours after they last moved, the stalled jobs are read and
	// warned about (MaxNews a run).
	h.clock.Advance(6 * time.Hour)
	sum, read := run("stalled", rules)
	if read < n-1 || sum.News != watch.MaxNews {
		t.Errorf("six hours on: read %d jobs, told %d; want the %d stalled ones read and %d told", read, sum.News, n-1, watch.MaxNews)
	}
}

// TestIdleRememberedWhenTheCursorStays checks that the idle jobs are
// remembered also when the cursor would not move: here the newest job was
// modified ahead of the host's clock, so the cycle after the first run
// moves the cursor a millisecond to write them, and the next reads nothing.
func TestIdleRememberedWhenTheCursorStays(t *testing.T) {
	t.Parallel()
	h := newHarness(t, backends[1])
	h.jobs("busy", 5, inProgress, start.Add(-time.Hour))
	h.put(job("ahead", completed, start.Add(time.Hour)))
	rules := cardRules(func(r *watch.Rules) { r.StuckAfter = 6 * time.Hour })
	opts := setup{opts: watch.Options{Rules: rules}, notifier: h.bot()}
	if sum := h.mustRun(opts); !sum.FirstRun {
		t.Fatalf("first run: %+v", sum)
	}
	before, _ := h.cursor()
	h.clock.Advance(time.Minute)
	h.store.takeLoads()
	if sum := h.mustRun(opts); !sum.Advanced {
		t.Errorf("cycle after the first run: %+v, want the cursor written with the idle jobs", sum)
	}
	if at, _ := h.cursor(); !at.Equal(before.Add(time.Millisecond)) {
		t.Errorf("cursor at %v, want a millisecond after %v", at, before)
	}
	h.store.takeLoads()
	h.clock.Advance(time.Minute)
	if sum := h.mustRun(opts); sum.Advanced {
		t.Errorf("quiet cycle: %+v, want no cursor write", sum)
	}
	if loads := h.store.takeLoads(); len(loads) != 0 {
		t.Errorf("quiet cycle loaded %v, want nothing", loads)
	}
}
