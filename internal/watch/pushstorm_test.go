package watch_test

import (
	"strings"
	"testing"
	"time"

	"github.com/labelwatch/labelwatch/internal/watch"
)

// TestPushStorm checks that pushed alerts share a per-minute budget of
// DIGEST_THRESHOLD: past it, a pushed job is left to the next poll, which
// digests the rest of the storm. A storm of events is not one message each.
func TestPushStorm(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, b)
			opts := watch.Options{DigestThreshold: 3}
			h.put(job("seed-old", completed, start.Add(-48*time.Hour)))
			h.mustRun(setup{opts: opts})

			h.clock.Advance(time.Minute)
			names := h.jobs("storm", 10, inProgress, h.clock.Now())
			h.mustRun(setup{opts: opts})
			h.clock.Advance(time.Minute)
			h.set(completed, names)
			w := h.watcher(setup{opts: opts})
			alerted, deferred := 0, 0
			for _, name := range names {
				sum, err := w.Push(t.Context(), name)
				if err != nil {
					t.Fatalf("push %s: %v", name, err)
				}
				alerted += sum.Alerted
				deferred += sum.Deferred
			}
			if alerted != 3 || deferred != 7 {
				t.Errorf("10 pushes: %d alerted, %d left to the poll; want 3 and 7", alerted, deferred)
			}
			h.checkStored(completed, true, names[:3]...)
			h.checkStored(inProgress, false, names[3:]...)

			h.clock.Advance(time.Minute)
			sum := h.mustRun(setup{opts: opts})
			if sum.Alerted != 7 || !sum.Digest {
				t.Errorf("the poll after the storm: %+v, want the 7 left in a digest", sum)
			}
			msgs := h.messages()
			if len(msgs) != 4 || !strings.HasPrefix(msgs[3].Text, "7 labeling jobs finished") {
				t.Errorf("%d messages, want 3 alerts and one digest of 7", len(msgs))
			}
			h.checkStored(completed, true, names...)

			// A minute later the budget is whole again.
			h.clock.Advance(time.Minute)
			h.put(job("after", completed, h.clock.Now()))
			if sum, err := w.Push(t.Context(), "after"); err != nil || sum.Alerted != 1 {
				t.Errorf("a push a minute later: %+v, %v; want it alerted", sum, err)
			}
		})
	}
}
