package watch_test

import (
	"fmt"
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
			sum := h.mustRun(setup{opts: watch.Options{Rules: tt.rules}})
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
