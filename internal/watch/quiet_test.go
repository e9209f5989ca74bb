package watch_test

import (
	"testing"
	"time"

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
