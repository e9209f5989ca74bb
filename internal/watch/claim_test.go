package watch_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/labelwatch/labelwatch/internal/state"
)

// lostClaims writes the first claim it is asked for, then fails it as if
// its answer were lost to the deadline: the claim is in the table, the run
// does not know it.
type lostClaims struct {
	state.Store
	once sync.Once
}

func (s *lostClaims) Claim(ctx context.Context, prev state.Record, lease state.Lease) error {
	err := s.Store.Claim(ctx, prev, lease)
	lost := false
	s.once.Do(func() { lost = err == nil })
	if lost {
		return context.DeadlineExceeded
	}
	return err
}

// TestClaimOfUnknownFateReleased checks that a claim that failed otherwise
// than on its condition, though written, is released by the failing run:
// the next run alerts at once, without waiting for the lease to expire.
func TestClaimOfUnknownFateReleased(t *testing.T) {
	t.Parallel()
	h := newHarness(t, backends[1])
	h.put(job("seed-old", completed, start.Add(-48*time.Hour)))
	h.mustRun(setup{})
	h.put(job("lost", failed, h.clock.Now()))
	h.clock.Advance(time.Minute)
	if _, err := h.runCtx(t.Context(), h.watcher(setup{store: &lostClaims{Store: h.store}})); err == nil {
		t.Fatal("run with a lost claim succeeded")
	}
	if rec := h.records("lost")["lost"]; rec.Lease != nil {
		t.Errorf("record after the failed run holds %+v, want the claim released", *rec.Lease)
	}
	sum := h.mustRun(setup{}) // no time passes: no lease could have expired
	if sum.Alerted != 1 || sum.Contended != 0 {
		t.Errorf("next run: %+v, want the job alerted", sum)
	}
	checkEachOnce(t, h.messages(), "lost")
}
