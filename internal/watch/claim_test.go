package watch_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labelwatch/labelwatch/internal/state"
	"github.com/labelwatch/labelwatch/internal/watch"
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

// stuckReleases is a store whose releases hang until their context ends,
// as on a DynamoDB that stopped answering.
type stuckReleases struct {
	state.Store
}

func (s stuckReleases) Release(ctx context.Context, job, owner string) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestReleaseLeavesTimeToAnswer checks that a run whose claims cannot be
// released stops trying a fifth of DeadlineMargin before its invocation's
// deadline, so that the function answers, and says in one line how many
// claims it leaves to expire; once they have, the next run alerts each job
// once.
func TestReleaseLeavesTimeToAnswer(t *testing.T) {
	t.Parallel()
	h := newHarness(t, backends[1])
	h.put(job("seed-old", completed, start.Add(-48*time.Hour)))
	h.mustRun(setup{})
	names := h.jobs("cut-off", 3, failed, h.clock.Now())
	h.clock.Advance(time.Minute)

	margin := time.Second
	deadline := time.Now().Add(3 * margin)
	ctx, cancel := context.WithDeadline(t.Context(), deadline)
	defer cancel()
	// The first claim's answer is lost: the run releases every claim it made.
	store := stuckReleases{Store: &lostClaims{Store: h.store}}
	if _, err := h.runCtx(ctx, h.watcher(setup{store: store, opts: watch.Options{DeadlineMargin: margin, Concurrency: 1}})); err == nil {
		t.Fatal("run with a lost claim succeeded")
	}
	if ctx.Err() != nil {
		t.Errorf("the run returned after its invocation's deadline")
	}
	if !strings.Contains(h.logs.String(), `"msg":"claims left to expire: no time to release them before the deadline","claims":`) {
		t.Errorf("no line says how many claims are left to expire:\n%s", h.logs.String())
	}
	h.clock.Advance(time.Hour) // every lease has expired
	if sum := h.mustRun(setup{}); sum.Alerted != 3 {
		t.Errorf("next run: %+v, want the three jobs alerted", sum)
	}
	checkEachOnce(t, h.messages(), names...)
}
