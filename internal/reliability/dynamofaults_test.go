package reliability

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/state"
	"github.com/labelwatch/labelwatch/internal/testenv"
	"github.com/labelwatch/labelwatch/internal/watch"
)

// TestDynamoFaults runs a cycle with three alerts due while DynamoDB (the
// proxy in front of dynalite) misbehaves, checks what that cycle did, then
// stops the faults and checks that every alert was posted exactly once and
// the state converged.
func TestDynamoFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault func(e *env, wc *watcherConfig)
		check func(t *testing.T, e *env, o outcome)
		want  func(due []alertKey) map[alertKey]int // default: once each
	}{
		{
			name: "throttling absorbed by the SDK's retries",
			fault: func(e *env, _ *watcherConfig) {
				e.proxy.FailNext("GetItem", 2, testenv.Throttle)
				e.proxy.FailNext("BatchGetItem", 2, testenv.ThroughputExceeded)
				e.proxy.FailNext("UpdateItem", 2, testenv.Throttle)
			},
			check: func(t *testing.T, e *env, o outcome) {
				delivered(t, o)
				if n := e.proxy.Calls("GetItem"); n < 3 {
					t.Errorf("%d GetItem calls, want the throttled ones retried", n)
				}
			},
		},
		{
			name: "throttling past the SDK's retries fails the claims",
			fault: func(e *env, wc *watcherConfig) {
				// One write at a time, so the first claim takes all three.
				wc.opts.Concurrency = 1
				e.proxy.FailNext("UpdateItem", 3, testenv.ThroughputExceeded)
			},
			check: func(t *testing.T, e *env, o outcome) {
				nothingSent(t, e, o)
				errorSays(t, o.err, "claim alert", "ProvisionedThroughputExceededException")
			},
		},
		{
			name:  "internal errors past the SDK's retries fail the load",
			fault: func(e *env, _ *watcherConfig) { e.proxy.FailNext("BatchGetItem", 3, testenv.InternalError) },
			check: func(t *testing.T, e *env, o outcome) {
				nothingSent(t, e, o)
				errorSays(t, o.err, "load job state")
			},
		},
		{
			name:  "connection resets absorbed",
			fault: func(e *env, _ *watcherConfig) { e.proxy.FailNext("", 2, testenv.Reset) },
			check: func(t *testing.T, e *env, o outcome) { delivered(t, o) },
		},
		{
			name: "unprocessed keys asked for again",
			fault: func(e *env, _ *watcherConfig) {
				e.proxy.FailNext("BatchGetItem", 2, testenv.Unprocessed)
				e.proxy.FailNext("BatchGetItem", 1, testenv.UnprocessedAll)
			},
			check: func(t *testing.T, e *env, o outcome) {
				delivered(t, o)
				if n := e.proxy.Calls("BatchGetItem"); n < 1+4 { // the first cycle's, then 3 partial answers and the rest
					t.Errorf("%d BatchGetItem calls, want the unprocessed keys asked for again", n)
				}
			},
		},
		{
			name:  "unprocessed keys past the store's retries fail the load",
			fault: func(e *env, _ *watcherConfig) { e.proxy.FailNext("BatchGetItem", 6, testenv.UnprocessedAll) },
			check: func(t *testing.T, e *env, o outcome) {
				nothingSent(t, e, o)
				errorSays(t, o.err, "unprocessed after 6 attempts")
			},
		},
		{
			name:  "latency",
			fault: func(e *env, _ *watcherConfig) { e.proxy.SetLatency(20 * time.Millisecond) },
			check: func(t *testing.T, e *env, o outcome) { delivered(t, o) },
		},
		{
			// The claim is written but its answer is lost; the SDK's retry
			// then fails its condition. The run leaves the job alone; the
			// claim it did not know it held expires and the next run sends.
			name:  "claim written, answer lost",
			fault: failUpdatesAt("Claim", 1, testenv.LostAnswer),
			check: func(t *testing.T, e *env, o outcome) {
				if o.err != nil || o.sum.Contended != 1 || o.sum.Alerted != 2 || o.sum.Advanced {
					t.Errorf("cycle: %+v, %v; want one job contended, two alerted, the cursor kept", o.sum, o.err)
				}
				// Before the lease expires, no other run sends it.
				sum, err := e.run(e.watcher(watcherConfig{name: "second"}), 10*time.Second)
				if err != nil || sum.Contended != 1 || sum.Alerted != 0 {
					t.Errorf("second cycle: %+v, %v; want the job still contended", sum, err)
				}
			},
		},
		{
			// The commit is written but its answer is lost: the run reports
			// the alert as not recorded, yet the table has it, so nothing
			// is posted again.
			name:  "commit written, answer lost",
			fault: failUpdatesAt("Commit", 1, testenv.LostAnswer),
			check: func(t *testing.T, e *env, o outcome) {
				errorIs(t, o.err, watch.ErrPending)
				if o.sum.Alerted != 2 || o.sum.Pending != 1 || o.sum.Advanced {
					t.Errorf("cycle: %+v; want two alerted, one pending, the cursor kept", o.sum)
				}
			},
		},
		{
			// Slack accepted, then every try of the commit is throttled: the
			// claim stays until it expires and the alert goes out once more.
			// This is the at-least-once case; the duplicate is bounded to one.
			name:  "commit throttled past retries after Slack accepted",
			fault: failUpdatesAt("Commit", 3, testenv.Throttle),
			check: func(t *testing.T, e *env, o outcome) {
				errorIs(t, o.err, watch.ErrPending)
				errorSays(t, o.err, "message sent but not recorded")
				if o.sum.Alerted != 2 || o.sum.Pending != 1 {
					t.Errorf("cycle: %+v; want two alerted, one pending", o.sum)
				}
				// While the claim lives, no run sends it again.
				sum, err := e.run(e.watcher(watcherConfig{name: "second"}), 10*time.Second)
				if err != nil || sum.Contended != 1 || sum.Alerted != 0 {
					t.Errorf("second cycle: %+v, %v; want the job still contended", sum, err)
				}
				if n := len(e.slack.Messages()); n != 3 {
					t.Errorf("%d messages before the lease expired, want 3", n)
				}
			},
			want: func(due []alertKey) map[alertKey]int {
				m := once(due)
				m[due[0]] = 2
				return m
			},
		},
		{
			// The three alerts go as one digest, whose jobs are committed
			// with one BatchWriteItem; it is written but its answer is
			// lost. Unlike a conditional commit, a put written twice is
			// the same put: the SDK's retry writes it again, and the run
			// records all three.
			name: "digest's batched commit written, answer lost",
			fault: func(e *env, wc *watcherConfig) {
				wc.opts.DigestThreshold = 2
				e.proxy.FailNext("BatchWriteItem", 1, testenv.LostAnswer)
			},
			check: func(t *testing.T, e *env, o outcome) {
				delivered(t, o)
				if !o.sum.Digest {
					t.Errorf("cycle: %+v; want one digest", o.sum)
				}
				if n := e.proxy.Calls("BatchWriteItem"); n != 2 {
					t.Errorf("%d BatchWriteItem calls, want 2: the one whose answer was lost, and the SDK's retry", n)
				}
				for _, k := range o.due {
					if rec := e.record(k.Job); rec.Status != k.Status || rec.Lease != nil || rec.AlertedAt.IsZero() {
						t.Errorf("job %s: %+v; want it committed", k.Job, rec)
					}
				}
			},
		},
		{
			// Slack took the digest, then every try of its batched commit
			// is throttled: the claims stay until they expire, and the
			// digest's alerts go out once more, each once: the
			// at-least-once case, bounded to one duplicate.
			name: "digest's batched commit throttled past retries after Slack accepted",
			fault: func(e *env, wc *watcherConfig) {
				wc.opts.DigestThreshold = 2
				e.proxy.FailNext("BatchWriteItem", 3, testenv.Throttle)
			},
			check: func(t *testing.T, e *env, o outcome) {
				errorIs(t, o.err, watch.ErrPending)
				errorSays(t, o.err, "message sent but not recorded")
				if o.sum.Pending != 3 || !o.sum.Digest {
					t.Errorf("cycle: %+v; want one digest, its three jobs pending", o.sum)
				}
				sum, err := e.run(e.watcher(watcherConfig{name: "second"}), 10*time.Second)
				if err != nil || sum.Contended != 3 || sum.Alerted != 0 {
					t.Errorf("second cycle: %+v, %v; want the jobs still contended while the claims live", sum, err)
				}
			},
			want: func(due []alertKey) map[alertKey]int {
				m := map[alertKey]int{}
				for _, k := range due {
					m[k] = 2
				}
				return m
			},
		},
		{
			// Another run changes a job between this run's load and its
			// claim: the claim's condition fails and this run leaves the job
			// to the other, which alerts it.
			name: "conditional check fails: a concurrent run claims first",
			fault: func(e *env, wc *watcherConfig) {
				var once sync.Once
				wc.store = &hookStore{Store: e.store(), before: func(_ context.Context, op, _ string, _ labeling.Status) error {
					if op == "Claim" {
						once.Do(func() {
							sum, err := e.run(e.watcher(watcherConfig{name: "concurrent"}), 10*time.Second)
							if err != nil || sum.Alerted != 3 {
								e.t.Errorf("concurrent cycle: %+v, %v", sum, err)
							}
						})
					}
					return nil
				}}
			},
			check: func(t *testing.T, e *env, o outcome) {
				if o.err != nil || o.sum.Alerted != 0 || o.sum.Contended != 3 {
					t.Errorf("cycle: %+v, %v; want all three lost to the concurrent run", o.sum, o.err)
				}
			},
		},
		{
			// A direct write (an operator, an older deploy) moves a job's
			// record between load and claim: the claim fails with
			// ErrConflict and the next run decides on the new record.
			name: "conditional check fails: the record changed under the run",
			fault: func(e *env, wc *watcherConfig) {
				var once sync.Once
				wc.store = &hookStore{Store: e.store(), before: func(ctx context.Context, op, job string, _ labeling.Status) error {
					if op == "Claim" {
						once.Do(func() {
							rec := e.record(job)
							next := rec
							next.Status, next.ModifiedAt = labeling.StatusInProgress, rec.ModifiedAt.Add(time.Second)
							if err := e.directStore().Save(ctx, rec, next); err != nil {
								e.t.Errorf("direct write: %v", err)
							}
						})
					}
					return nil
				}}
			},
			check: func(t *testing.T, e *env, o outcome) {
				if o.err != nil || o.sum.Alerted != 2 || o.sum.Contended != 1 || o.sum.Advanced {
					t.Errorf("cycle: %+v, %v; want one conflict, two alerted, the cursor kept", o.sum, o.err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			jobs := e.seed(5)
			e.clock.Advance(time.Minute)
			due := e.finish(jobs[:3]...)
			wc := watcherConfig{}
			tt.fault(e, &wc)
			sum, err := e.run(e.watcher(wc), 10*time.Second)
			o := outcome{sum: sum, err: err, requests: e.slack.Requests(), due: due}
			tt.check(t, e, o)
			e.check()
			counts := e.converge()
			want := once(due)
			if tt.want != nil {
				want = tt.want(due)
			}
			expectCounts(t, counts, want)
		})
	}
}

// TestDynamoTableMissing checks that a missing table fails the cycle with an
// error naming it, before anything is listed or posted.
func TestDynamoTableMissing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const table = "labelwatch-state-missing"
	store := state.NewDynamoStore(e.ddb, table, time.Hour, e.clock)
	_, err := e.run(e.watcher(watcherConfig{store: store}), 10*time.Second)
	var missing *types.ResourceNotFoundException
	if !errors.As(err, &missing) {
		t.Errorf("error %v, want a ResourceNotFoundException", err)
	}
	errorSays(t, err, strconv.Quote(table), "not found")
	if n := e.lists.Load(); n != 0 {
		t.Errorf("%d listings with no table to record them in", n)
	}
	if n := e.slack.Requests(); n != 0 {
		t.Errorf("%d Slack requests with no table to record them in", n)
	}
}

// delivered checks a cycle that alerted all its jobs and advanced the cursor.
func delivered(t *testing.T, o outcome) {
	t.Helper()
	if o.err != nil || o.sum.Alerted != len(o.due) || !o.sum.Advanced {
		t.Errorf("cycle: %+v, %v; want every alert delivered and the cursor advanced", o.sum, o.err)
	}
}

// nothingSent checks a cycle that failed before sending anything and left
// no claim behind.
func nothingSent(t *testing.T, e *env, o outcome) {
	t.Helper()
	if o.err == nil || o.sum.Alerted != 0 || o.sum.Advanced {
		t.Errorf("cycle: %+v, %v; want a failed cycle that sent nothing", o.sum, o.err)
	}
	if n := e.slack.Requests(); n != 0 {
		t.Errorf("%d Slack requests, want none", n)
	}
	if c := e.cursor(); c.After(e.clock.Now().Add(-time.Minute)) {
		t.Errorf("cursor moved to %v", c)
	}
	for _, k := range o.due {
		if rec := e.record(k.Job); rec.Status != labeling.StatusInitializing || rec.Live(e.clock.Now()) {
			t.Errorf("job %s: stored %s, lease %v; want its old status and no live claim", k.Job, rec.Status, rec.Lease)
		}
	}
}

// failUpdatesAt makes the next n UpdateItem calls fail with f, once, when
// the cycle first calls op (Claim, Commit, ...) on its store.
func failUpdatesAt(op string, n int, f testenv.DynamoFault) func(e *env, wc *watcherConfig) {
	return func(e *env, wc *watcherConfig) {
		var once sync.Once
		wc.store = &hookStore{Store: e.store(), before: func(_ context.Context, called, _ string, _ labeling.Status) error {
			if called == op {
				once.Do(func() { e.proxy.FailNext("UpdateItem", n, f) })
			}
			return nil
		}}
	}
}
