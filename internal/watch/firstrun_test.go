package watch_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/watch"
)

// TestFirstRunResumes checks that a first run too long for one invocation
// goes on where it stopped, never from nothing: the invocation that
// reaches its deadline part-way succeeds with what it recorded, the next
// one lists only the jobs created after that and sets the cursor, and the
// only alerts are the LOOKBACK ones, each once. The jobs that finished
// before LOOKBACK get no record; one in five is in progress and does. It
// runs on the deployed store only: the file store, for local runs, rewrites
// its file on each write.
func TestFirstRunResumes(t *testing.T) {
	t.Parallel()
	for _, b := range backends[1:] {
		t.Run(b.name, func(t *testing.T) {
			h := newHarness(t, b)
			const n = 5 * watch.FirstRunChunk
			names := make([]string, n)
			var running, done []string
			for i := range names {
				names[i] = fmt.Sprintf("old-%05d", i)
				status := completed
				if i%5 == 0 {
					status = inProgress
				}
				j := job(names[i], status, start.Add(-2*time.Hour-time.Duration(n-i)*time.Minute))
				j.CreatedAt = start.Add(-time.Duration(2*n-i) * time.Minute)
				h.put(j)
				if status == inProgress {
					running = append(running, names[i])
				} else if i < n-2 {
					done = append(done, names[i])
				}
			}
			// Two jobs ended within LOOKBACK: the only alerts.
			for _, name := range []string{"old-04998", "old-04999"} {
				h.emu.Update(name, func(j *labeling.Job) { j.Status, j.ModifiedAt = failed, start.Add(-10*time.Minute) })
			}

			// The deadline comes while page 25 of 50 is being taken: two
			// chunks of 1,000 are done, their 400 jobs in progress recorded.
			ctx, cutOff := context.WithCancel(t.Context())
			first := h.watcher(setup{afterPage: func(page int) {
				if page == 25 {
					cutOff()
				}
			}})
			sum, err := first.Poll(ctx)
			if err != nil || !sum.FirstRun || sum.Advanced || sum.Recorded != 2*watch.FirstRunChunk/5 || sum.Alerted != 0 {
				t.Fatalf("cut-off first run: %+v, %v; want %d recorded, no cursor, no error", sum, err, 2*watch.FirstRunChunk/5)
			}
			if _, ok := h.cursor(); ok {
				t.Fatal("cursor set by an unfinished first run")
			}
			h.checkStored(inProgress, false, running[:2*watch.FirstRunChunk/5]...)

			h.clock.Advance(time.Minute)
			calls := h.listCalls()
			sum = h.mustRun(setup{})
			if !sum.FirstRun || !sum.Advanced || sum.Alerted != 2 || sum.Recorded != (n-2*watch.FirstRunChunk)/5 {
				t.Errorf("resumed first run: %+v; want the other %d jobs in progress recorded, 2 alerts and the cursor", sum, (n-2*watch.FirstRunChunk)/5)
			}
			// It listed from where the cut-off run got (one job again, at
			// the chunk's edge), not from the start.
			if got := h.listCalls() - calls; got != 31 {
				t.Errorf("resumed first run: %d list calls, want 31 (3,001 jobs)", got)
			}
			c, ok, err := h.store.Cursor(t.Context())
			began := start.Add(-watch.DefaultClockSkew).Truncate(time.Millisecond)
			if err != nil || !ok || !c.At.Equal(began) || !c.Origin.Equal(began) {
				t.Errorf("cursor %v, origin %v (set %v, %v), want both when the first run began, less the clock skew", c.At, c.Origin, ok, err)
			}
			h.checkStored(inProgress, false, running...)
			h.checkNotStored(done...)
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

// TestOldFinishedJobsNeedNoRecord checks that the first run records no job
// that finished before LOOKBACK, and that no later cycle alerts them: they
// are not modified since, so no cycle lists them. A job created after the
// first run and found finished without a record alerts, as before.
func TestOldFinishedJobsNeedNoRecord(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			h := newHarness(t, b)
			old := h.jobs("old", 50, completed, start.Add(-48*time.Hour))
			h.put(job("recent", failed, start.Add(-10*time.Minute)), job("busy", inProgress, start.Add(-48*time.Hour)))
			sum := h.mustRun(setup{})
			if !sum.FirstRun || sum.Listed != 52 || sum.Recorded != 1 || sum.Alerted != 1 {
				t.Fatalf("first run: %+v; want 52 listed, the job in progress recorded, the recent failure alerted", sum)
			}
			h.checkNotStored(old...)
			h.checkStored(inProgress, false, "busy")

			h.clock.Advance(time.Minute)
			h.put(job("new", stopped, h.clock.Now()))
			sum = h.mustRun(setup{})
			if sum.Alerted != 1 || sum.Recorded != 0 {
				t.Errorf("the cycle after: %+v, want the new job alerted", sum)
			}
			h.checkStored(stopped, true, "new")
			checkEachOnce(t, h.messages(), "recent", "new")
		})
	}
}

// TestNoAlertLostAfterTheFirstRun checks that a job reaching an alerting
// status after the first run is alerted, however long before the first run
// it was created and whether or not the first run recorded it: the first run
// may not have listed it (a filter widened since, or a listing that missed
// it). Jobs that ended before the first run still alert nothing. On every
// store the function may use: the file, dynalite and moto's DynamoDB.
func TestNoAlertLostAfterTheFirstRun(t *testing.T) {
	t.Parallel()
	stores := append(slices.Clone(backends), motoBackend)
	for _, b := range stores {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			t.Run("NAME_CONTAINS widened, then a newly watched job fails", func(t *testing.T) {
				h := newHarness(t, b)
				h.put(job("team-a-cats", inProgress, start.Add(-48*time.Hour)),
					job("team-b-dogs", inProgress, start.Add(-48*time.Hour)),
					job("team-b-old", completed, start.Add(-48*time.Hour)))
				if sum := h.mustRun(setup{nameContains: "team-a"}); !sum.FirstRun || sum.Listed != 1 {
					t.Fatalf("first run: %+v, want team-a's one job listed", sum)
				}
				h.checkNotStored("team-b-dogs")

				h.clock.Advance(time.Minute)
				h.set(failed, []string{"team-b-dogs"}, func(j *labeling.Job) { j.FailureReason = "ClientError: access denied" })
				sum := h.mustRun(setup{nameContains: "team"})
				if sum.Alerted != 1 {
					t.Errorf("widened run: %+v, want team-b-dogs alerted", sum)
				}
				h.checkStored(failed, true, "team-b-dogs")
				h.clock.Advance(time.Minute)
				h.mustRun(setup{nameContains: "team"})
				checkEachOnce(t, h.messages(), "team-b-dogs")
			})
			t.Run("a job first listed after the first run, created long before it", func(t *testing.T) {
				h := newHarness(t, b)
				h.put(job("seed-old", completed, start.Add(-48*time.Hour)))
				if sum := h.mustRun(setup{}); !sum.FirstRun {
					t.Fatalf("first run: %+v", sum)
				}
				h.clock.Advance(time.Minute)
				late := job("late", failed, h.clock.Now())
				late.CreatedAt = start.Add(-72 * time.Hour)
				h.put(late)
				sum := h.mustRun(setup{})
				if sum.Alerted != 1 || sum.Recorded != 0 {
					t.Errorf("run after: %+v, want the late job alerted", sum)
				}
				h.checkStored(failed, true, "late")
				checkEachOnce(t, h.messages(), "late")
			})
		})
	}
}
