package reliability

import (
	"errors"
	"testing"
	"time"

	"github.com/labelwatch/labelwatch/internal/emulator"
	"github.com/labelwatch/labelwatch/internal/labeling"
)

// TestSageMakerFaults runs a cycle with three alerts due among 250 jobs
// (three listing pages) while ListLabelingJobs misbehaves, then stops the
// faults and checks that every alert was posted exactly once and the state
// converged.
func TestSageMakerFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault func(e *env)
		check func(t *testing.T, e *env, o outcome)
	}{
		{
			name:  "throttling burst absorbed by the SDK's retries",
			fault: func(e *env) { e.emu.FailNext(2, emulator.Throttle) },
			check: func(t *testing.T, e *env, o outcome) { delivered(t, o) },
		},
		{
			name:  "throttling burst past the SDK's retries",
			fault: func(e *env) { e.emu.FailNext(3, emulator.Throttle) },
			check: func(t *testing.T, e *env, o outcome) {
				nothingSent(t, e, o)
				errorSays(t, o.err, "list labeling jobs page 1", "ThrottlingException")
			},
		},
		{
			name: "throttling burst on a later page",
			fault: func(e *env) {
				e.onListRequest(func(n int) {
					if n == 2 {
						e.emu.FailNext(3, emulator.Throttle)
					}
				})
			},
			check: func(t *testing.T, e *env, o outcome) {
				nothingSent(t, e, o)
				errorSays(t, o.err, "list labeling jobs page 2")
			},
		},
		{
			name:  "500 retried",
			fault: func(e *env) { e.emu.FailNext(2, emulator.InternalFailure) },
			check: func(t *testing.T, e *env, o outcome) { delivered(t, o) },
		},
		{
			name:  "503 past the SDK's retries",
			fault: func(e *env) { e.emu.FailNext(3, emulator.ServiceUnavailable) },
			check: func(t *testing.T, e *env, o outcome) { nothingSent(t, e, o) },
		},
		{
			name:  "empty pages with a token",
			fault: func(e *env) { e.emu.FailNext(3, emulator.EmptyPageWithToken) },
			check: func(t *testing.T, e *env, o outcome) {
				delivered(t, o)
				if o.sum.Listed != 250 {
					t.Errorf("listed %d jobs, want all 250 through the empty pages", o.sum.Listed)
				}
			},
		},
		{
			name:  "repeated NextToken on the first page",
			fault: func(e *env) { e.emu.FailNext(1, emulator.RepeatToken) },
			check: func(t *testing.T, e *env, o outcome) {
				// A first page answered with the token of the first page
				// starts the listing over once; nothing is lost or doubled.
				delivered(t, o)
			},
		},
		{
			name: "repeated NextToken on a later page",
			fault: func(e *env) {
				e.onListRequest(func(n int) {
					if n == 2 {
						e.emu.FailNext(1, emulator.RepeatToken)
					}
				})
			},
			check: func(t *testing.T, e *env, o outcome) {
				nothingSent(t, e, o)
				errorIs(t, o.err, labeling.ErrRepeatedToken)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			jobs := e.seed(250)
			e.clock.Advance(time.Minute)
			// One due job on each page.
			due := e.finish(jobs[10], jobs[120], jobs[240])
			tt.fault(e)
			sum, err := e.run(e.watcher(watcherConfig{}), 10*time.Second)
			o := outcome{sum: sum, err: err, requests: e.slack.Requests(), due: due}
			tt.check(t, e, o)
			e.onListRequest(nil)
			e.check()
			expectCounts(t, e.converge(), once(due))
		})
	}
}

// TestRepeatedTokenLosesNothing is the case a silently cut-short listing
// gets wrong: a job changed 20 minutes ago sits on page 3, one changed just
// now on page 1. A listing that stops at a repeated token on page 2 and
// still advances the cursor to page 1's change never lists the page 3 job
// again (the next listing starts 10 minutes before the cursor).
func TestRepeatedTokenLosesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	jobs := e.seed(250)
	e.clock.Advance(30 * time.Minute)
	due := e.finish(jobs[240])
	e.clock.Advance(20 * time.Minute)
	due = append(due, e.finish(jobs[5])...)
	e.onListRequest(func(n int) {
		if n == 2 {
			e.emu.FailNext(1, emulator.RepeatToken)
		}
	})
	sum, err := e.run(e.watcher(watcherConfig{}), 10*time.Second)
	if !errors.Is(err, labeling.ErrRepeatedToken) || sum.Advanced {
		t.Errorf("cycle: %+v, %v; want it to fail on the repeated token and keep the cursor", sum, err)
	}
	e.check()
	expectCounts(t, e.converge(), once(due))
}

// TestStaleListings covers LastModifiedTime moving backwards: a listing that
// shows a job as it was before (an eventually consistent read) must not
// alert or undo anything, and a job whose status moved forward while its
// LastModifiedTime moved back must still alert.
func TestStaleListings(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	jobs := e.seed(5)
	e.clock.Advance(time.Minute)
	due := e.finish(jobs[0]) // Completed
	e.move(jobs[1], labeling.StatusInProgress)
	if sum, err := e.run(e.watcher(watcherConfig{}), 10*time.Second); err != nil || sum.Alerted != 1 {
		t.Fatalf("cycle: %+v, %v", sum, err)
	}
	done, _ := e.emu.Job(jobs[0])
	running, _ := e.emu.Job(jobs[1])

	// A stale read: the finished job shows as in progress, a minute older.
	e.clock.Advance(time.Minute)
	e.emu.Update(jobs[0], func(j *labeling.Job) {
		j.Status = labeling.StatusInProgress
		j.ModifiedAt = done.ModifiedAt.Add(-time.Minute)
	})
	sum, err := e.run(e.watcher(watcherConfig{}), 10*time.Second)
	if err != nil || sum.Stale != 1 || sum.Alerted != 0 {
		t.Errorf("stale cycle: %+v, %v; want the stale listing ignored", sum, err)
	}
	if rec := e.record(jobs[0]); rec.Status != labeling.StatusCompleted {
		t.Errorf("stale listing undid the record: %s", rec.Status)
	}
	// The read catches up: no second alert.
	e.emu.Update(jobs[0], func(j *labeling.Job) { *j = done })

	// The running job fails, but SageMaker stamps the change earlier than
	// the change before it (within the overlap).
	e.emu.Update(jobs[1], func(j *labeling.Job) {
		j.Status = labeling.StatusFailed
		j.FailureReason = "InternalServerError: the labeling job failed"
		j.ModifiedAt = running.ModifiedAt.Add(-30 * time.Second)
	})
	e.ledger.moved(jobs[1], labeling.StatusFailed)
	due = append(due, alertKey{jobs[1], labeling.StatusFailed})
	e.clock.Advance(time.Minute)
	if sum, err := e.run(e.watcher(watcherConfig{}), 10*time.Second); err != nil || sum.Alerted != 1 {
		t.Errorf("cycle after the backwards stamp: %+v, %v; want the failure alerted", sum, err)
	}
	e.check()
	expectCounts(t, e.converge(), once(due))
}

// TestCursorTies changes jobs at the very millisecond the cursor ends on,
// after the cycle listed: the next cycle, listing from the overlap before
// the cursor, must see them.
func TestCursorTies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	jobs := e.seed(150)
	e.clock.Advance(time.Minute)
	due := e.finish(jobs[0], jobs[149])
	var late []alertKey
	src := &hookSource{Source: labeling.NewSource(e.sm, labeling.Filter{}), afterList: func() {
		// Same instant as the newest listed change: a tie at the cursor.
		if late == nil {
			late = e.finish(jobs[50], jobs[51], jobs[52])
		}
	}}
	sum, err := e.run(e.watcher(watcherConfig{source: src}), 10*time.Second)
	if err != nil || sum.Alerted != 2 || !sum.Advanced || !sum.Cursor.Equal(e.clock.Now()) {
		t.Errorf("cycle: %+v, %v; want two alerted and the cursor at now", sum, err)
	}
	sum, err = e.run(e.watcher(watcherConfig{}), 10*time.Second)
	if err != nil || sum.Alerted != 3 {
		t.Errorf("next cycle: %+v, %v; want the three tied jobs alerted", sum, err)
	}
	e.check()
	expectCounts(t, e.converge(), once(append(due, late...)))
}
