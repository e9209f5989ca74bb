package watch_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/watch"
)

// TestFirstRunResumes checks that a first run too long for one invocation
// goes on where it stopped, never from nothing: the invocation that
// reaches its deadline part-way succeeds with what it recorded, the next
// one lists only the jobs created after that and sets the cursor, and the
// only alerts are the LOOKBACK ones, each once. It runs on the deployed
// store only: the file store, for local runs, rewrites its file on each of
// the 5,000 writes.
func TestFirstRunResumes(t *testing.T) {
	t.Parallel()
	for _, b := range backends[1:] {
		t.Run(b.name, func(t *testing.T) {
			h := newHarness(t, b)
			const n = 5 * watch.FirstRunChunk
			names := make([]string, n)
			for i := range names {
				names[i] = fmt.Sprintf("old-%05d", i)
				j := job(names[i], completed, start.Add(-2*time.Hour-time.Duration(n-i)*time.Minute))
				j.CreatedAt = start.Add(-time.Duration(2*n-i) * time.Minute)
				h.put(j)
			}
			// Two jobs ended within LOOKBACK: the only alerts.
			for _, name := range []string{"old-04998", "old-04999"} {
				h.emu.Update(name, func(j *labeling.Job) { j.Status, j.ModifiedAt = failed, start.Add(-10*time.Minute) })
			}

			// The deadline comes while page 25 of 50 is being taken: two
			// chunks of 1,000 are recorded.
			ctx, cutOff := context.WithCancel(t.Context())
			first := h.watcher(setup{afterPage: func(page int) {
				if page == 25 {
					cutOff()
				}
			}})
			sum, err := first.Poll(ctx)
			if err != nil || !sum.FirstRun || sum.Advanced || sum.Recorded != 2*watch.FirstRunChunk || sum.Alerted != 0 {
				t.Fatalf("cut-off first run: %+v, %v; want %d recorded, no cursor, no error", sum, err, 2*watch.FirstRunChunk)
			}
			if _, ok := h.cursor(); ok {
				t.Fatal("cursor set by an unfinished first run")
			}
			h.checkStored(completed, false, names[:2*watch.FirstRunChunk]...)

			h.clock.Advance(time.Minute)
			calls := h.listCalls()
			sum = h.mustRun(setup{})
			if !sum.FirstRun || !sum.Advanced || sum.Alerted != 2 || sum.Recorded != n-2*watch.FirstRunChunk-2 {
				t.Errorf("resumed first run: %+v; want the rest recorded, 2 alerts and the cursor", sum)
			}
			// It listed from where the cut-off run got (one job again, at
			// the chunk's edge), not from the start.
			if got := h.listCalls() - calls; got != 31 {
				t.Errorf("resumed first run: %d list calls, want 31 (3,001 jobs)", got)
			}
			if c, ok := h.cursor(); !ok || !c.Equal(start.Add(-watch.DefaultClockSkew).Truncate(time.Millisecond)) {
				t.Errorf("cursor %v (set %v), want when the first run began, less the clock skew", c, ok)
			}
			h.checkStored(completed, false, names[:n-2]...)
			h.checkStored(failed, true, "old-04998", "old-04999")
			checkEachOnce(t, h.messages(), "old-04998", "old-04999")

			h.clock.Advance(time.Minute)
			sum = h.mustRun(setup{})
			if sum.FirstRun || sum.Alerted != 0 {
				t.Errorf("the run after: %+v, want a regular run, nothing sent", sum)
			}
		})
	}
}
