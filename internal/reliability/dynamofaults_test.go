package reliability

import (
	"context"
	"errors"
	"fmt"
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
// proxy in front of dynalite, or of moto for the transactions) misbehaves,
// checks what that cycle did, then stops the faults and checks that every
// alert was posted exactly once and the state converged.
func TestDynamoFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault func(e *env, wc *watcherConfig)
		check func(t *testing.T, e *env, o outcome)
		want  func(due []alertKey) map[alertKey]int // default: once each
		// transact puts the table on moto (newTransactEnv), where a
		// digest's claims go in TransactWriteItems; dynalite has none,
		// and there they go one by one, as UpdateItems.
		transact bool
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
				runBeforeFirstClaim(e, wc, watcherConfig{name: "concurrent"}, 3)
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

		// The crash points of a digest's claims in one transaction. The
		// first cycle (seed) records its five jobs one by one: every
		// TransactWriteItems the proxy counts is the digest's.
		{
			// The transaction is written but its answer is lost, and the
			// SDK sends it again with the same ClientRequestToken. DynamoDB
			// answers a repeat within ten minutes as it did the first
			// (success, nothing written again), and the run alerts all
			// three. moto 5.2.1 ignores the token and evaluates the
			// conditions again, against the claims the first call wrote:
			// it cancels the transaction, every item
			// ConditionalCheckFailed, so the run reports the three
			// contended and sends nothing; the claims it did not know it
			// held expire, and the next run sends. Either way each alert
			// goes once; this checks what must hold either way.
			name:     "digest's claim transaction written, answer lost",
			transact: true,
			fault: func(e *env, wc *watcherConfig) {
				wc.opts.DigestThreshold = 2
				e.proxy.FailNext("TransactWriteItems", 1, testenv.LostAnswer)
			},
			check: func(t *testing.T, e *env, o outcome) {
				if n := e.proxy.Calls("TransactWriteItems"); n != 2 {
					t.Errorf("%d TransactWriteItems calls, want 2: the one whose answer was lost, and the SDK's retry", n)
				}
				switch {
				case o.err == nil && o.sum.Alerted == 3 && o.sum.Digest && o.sum.Advanced:
					t.Log("the repeat was answered as the first was, as DynamoDB does")
				case o.err == nil && o.sum.Alerted == 0 && o.sum.Contended == 3 && !o.sum.Advanced:
					t.Log("the repeat was cancelled, as moto does")
					// While the claims live, no run sends the alerts.
					if n := e.slack.Requests(); n != 0 {
						t.Errorf("%d Slack requests, want none", n)
					}
					sum, err := e.run(e.watcher(watcherConfig{name: "second"}), 10*time.Second)
					if err != nil || sum.Contended != 3 || sum.Alerted != 0 {
						t.Errorf("second cycle: %+v, %v; want the jobs still contended while the claims live", sum, err)
					}
				default:
					t.Errorf("cycle: %+v, %v; want the digest's three alerted and the cursor advanced, or the three contended and nothing sent", o.sum, o.err)
				}
				for _, k := range o.due {
					if rec := e.record(k.Job); rec.Lease == nil && rec.AlertedAt.IsZero() {
						t.Errorf("job %s: %+v; want the lost call's claim, or the alert committed", k.Job, rec)
					}
				}
			},
		},
		{
			// Every try of the transaction is throttled: nothing is
			// claimed or sent, and the next run sends each alert once.
			name:     "digest's claim transaction throttled past retries",
			transact: true,
			fault: func(e *env, wc *watcherConfig) {
				wc.opts.DigestThreshold = 2
				e.proxy.FailNext("TransactWriteItems", 3, testenv.ThroughputExceeded)
			},
			check: func(t *testing.T, e *env, o outcome) {
				nothingSent(t, e, o)
				errorSays(t, o.err, "claim alert", "ProvisionedThroughputExceededException")
				if n := e.proxy.Calls("TransactWriteItems"); n != 3 {
					t.Errorf("%d TransactWriteItems calls, want the SDK's 3 attempts", n)
				}
			},
		},
		{
			// Another run claims (and alerts) one of the digest's jobs
			// between this run's load and its claims. The transaction is
			// cancelled with that job's condition failed and the others'
			// not; this run leaves that job to the other, and claims and
			// alerts the other two in a second transaction.
			name:     "digest's claim transaction cancelled: a concurrent run claimed one of its jobs",
			transact: true,
			fault: func(e *env, wc *watcherConfig) {
				wc.opts.DigestThreshold = 2
				// It watches job-0001 alone (NAME_CONTAINS).
				only := labeling.NewSource(e.sm, labeling.Filter{NameContains: "job-0001"})
				runBeforeFirstClaim(e, wc, watcherConfig{name: "concurrent", source: only}, 1)
			},
			check: func(t *testing.T, e *env, o outcome) {
				if o.err != nil || o.sum.Alerted != 2 || o.sum.Contended != 1 {
					t.Errorf("cycle: %+v, %v; want job-0001 contended, the other two alerted", o.sum, o.err)
				}
				if n := e.proxy.Calls("TransactWriteItems"); n != 2 {
					t.Errorf("%d TransactWriteItems calls, want 2: the one cancelled, and the one of the two jobs left", n)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var e *env
			if tt.transact {
				e = newTransactEnv(t)
			} else {
				e = newEnv(t)
			}
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

// runBeforeFirstClaim makes wc's run, just before its first claim, wait
// for a concurrent cycle of other, which must alert alerted jobs.
func runBeforeFirstClaim(e *env, wc *watcherConfig, other watcherConfig, alerted int) {
	var once sync.Once
	wc.store = &hookStore{Store: e.store(), before: func(_ context.Context, op, _ string, _ labeling.Status) error {
		if op == "Claim" {
			once.Do(func() {
				sum, err := e.run(e.watcher(other), 10*time.Second)
				if err != nil || sum.Alerted != alerted {
					e.t.Errorf("concurrent cycle: %+v, %v; want %d alerted", sum, err, alerted)
				}
			})
		}
		return nil
	}}
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

// TestDynamoBatchSaveFaults runs a cycle whose records that need no
// message, more than DigestThreshold of them, are saved in transactions
// (SaveAll, on moto: dynalite has no TransactWriteItems), while those
// transactions fail: a storm of jobs moving on silently, with one alert
// due beside it, and a first run recording the jobs in progress. It checks
// what that cycle did, then stops the faults and checks that no job was
// alerted wrongly or twice, every due alert was posted once, and the table
// holds every job at its listed status.
func TestDynamoBatchSaveFaults(t *testing.T) {
	t.Parallel()
	const (
		jobs  = 6
		storm = jobs - 1 // of a cycle after the first: job-0000 to job-0004 move on; job-0005 alerts
	)
	tests := []struct {
		name     string
		firstRun bool // the cycle is the first run, recording the six jobs
		fault    func(e *env)
		check    func(t *testing.T, e *env, o outcome)
	}{
		{
			// The storm's transaction is written, its answer lost, and the
			// SDK sends it again with the same ClientRequestToken.
			// DynamoDB answers the repeat as the first (success): the run
			// records the five. moto 5.2.1 evaluates the conditions again,
			// against the versions the first call wrote, and cancels: the
			// run reports the five contended and keeps the cursor. Either
			// way the first call's saves stand, and the alert beside them
			// goes once.
			name:  "storm's saves written, answer lost",
			fault: func(e *env) { e.proxy.FailNext("TransactWriteItems", 1, testenv.LostAnswer) },
			check: func(t *testing.T, e *env, o outcome) {
				if n := e.proxy.Calls("TransactWriteItems"); n != 2 {
					t.Errorf("%d TransactWriteItems calls, want 2: the one whose answer was lost, and the SDK's retry", n)
				}
				savesAnswerLost(t, o, storm, 1)
				stored(t, e, storm, labeling.StatusInProgress)
			},
		},
		{
			// Every try of the storm's transaction is throttled: the cycle
			// fails before it sends anything (the alert's claim is
			// released), and nothing of the storm is saved.
			name:  "storm's saves throttled past retries",
			fault: func(e *env) { e.proxy.FailNext("TransactWriteItems", 3, testenv.ThroughputExceeded) },
			check: func(t *testing.T, e *env, o outcome) {
				if n := e.proxy.Calls("TransactWriteItems"); n != 3 {
					t.Errorf("%d TransactWriteItems calls, want the SDK's 3 attempts", n)
				}
				nothingSent(t, e, o)
				errorSays(t, o.err, "save state of job", "ProvisionedThroughputExceededException")
				stored(t, e, storm, labeling.StatusInitializing)
				if o.sum.Recorded != 0 {
					t.Errorf("cycle: %d recorded, want 0: no save was stored", o.sum.Recorded)
				}
			},
		},
		{
			// As for the storm: DynamoDB answers the repeat as the first,
			// and the first run ends; moto cancels it, and the first run,
			// finding its jobs contended, stops there and goes on next
			// run (as when another first run holds them). Either way the
			// records the first call wrote stand.
			name:     "first run's records written, answer lost",
			firstRun: true,
			fault:    func(e *env) { e.proxy.FailNext("TransactWriteItems", 1, testenv.LostAnswer) },
			check: func(t *testing.T, e *env, o outcome) {
				if n := e.proxy.Calls("TransactWriteItems"); n != 2 {
					t.Errorf("%d TransactWriteItems calls, want 2: the one whose answer was lost, and the SDK's retry", n)
				}
				if !o.sum.FirstRun {
					t.Errorf("cycle: %+v; want the first run", o.sum)
				}
				savesAnswerLost(t, o, jobs, 0)
				stored(t, e, jobs, labeling.StatusInitializing)
			},
		},
		{
			// Every try of the first run's transaction is throttled: the
			// first run fails, having recorded nothing and set no cursor,
			// and the next run is the first run again.
			name:     "first run's records throttled past retries",
			firstRun: true,
			fault:    func(e *env) { e.proxy.FailNext("TransactWriteItems", 3, testenv.ThroughputExceeded) },
			check: func(t *testing.T, e *env, o outcome) {
				if n := e.proxy.Calls("TransactWriteItems"); n != 3 {
					t.Errorf("%d TransactWriteItems calls, want the SDK's 3 attempts", n)
				}
				if !o.sum.FirstRun || o.sum.Advanced {
					t.Errorf("cycle: %+v; want a first run that set no cursor", o.sum)
				}
				if o.sum.Recorded != 0 {
					t.Errorf("cycle: %d recorded, want 0: no record was stored", o.sum.Recorded)
				}
				errorSays(t, o.err, "save state of job", "ProvisionedThroughputExceededException")
				if c := e.cursor(); !c.IsZero() {
					t.Errorf("cursor set to %v", c)
				}
				stored(t, e, jobs, "")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newTransactEnv(t)
			var names []string
			var due []alertKey
			if tt.firstRun {
				names = e.putJobs(jobs)
			} else {
				// The first cycle records the six one by one (no more
				// than the default DigestThreshold).
				names = e.seed(jobs)
				e.clock.Advance(time.Minute)
				for _, job := range names[:storm] {
					e.move(job, labeling.StatusInProgress)
				}
				due = e.finish(names[storm])
			}
			tt.fault(e)
			w := e.watcher(watcherConfig{opts: watch.Options{DigestThreshold: 2}})
			sum, err := e.run(w, 10*time.Second)
			tt.check(t, e, outcome{sum: sum, err: err, requests: e.slack.Requests(), due: due})
			e.check()
			if tt.firstRun {
				// A job that ends after the first run alerts once, whether
				// the next run is a cycle or the first run again.
				e.clock.Advance(time.Minute)
				due = e.finish(names[0])
			}
			expectCounts(t, e.converge(), once(due))
		})
	}
}

// savesAnswerLost checks a cycle whose transaction of n silent saves was
// written but its answer lost: with no error and its alerts delivered, it
// recorded the n and advanced the cursor (DynamoDB answers the SDK's
// repeat as the first), or reported the n contended and kept the cursor
// (moto evaluates the repeat's conditions again).
func savesAnswerLost(t *testing.T, o outcome, n, alerts int) {
	t.Helper()
	switch {
	case o.err == nil && o.sum.Alerted == alerts && o.sum.Recorded == n && o.sum.Contended == 0 && o.sum.Advanced:
		t.Log("the repeat was answered as the first was, as DynamoDB does")
	case o.err == nil && o.sum.Alerted == alerts && o.sum.Recorded == 0 && o.sum.Contended == n && !o.sum.Advanced:
		t.Log("the repeat was cancelled, as moto does")
	default:
		t.Errorf("cycle: %+v, %v; want %d alerted and the %d saves recorded, or contended", o.sum, o.err, alerts, n)
	}
}

// stored checks that the first n jobs (job-0000 upwards) are stored with
// status (not stored, for ""), holding no claim.
func stored(t *testing.T, e *env, n int, status labeling.Status) {
	t.Helper()
	for i := range n {
		job := fmt.Sprintf("job-%04d", i)
		if rec := e.record(job); rec.Status != status || rec.Lease != nil {
			t.Errorf("job %s: stored %q, lease %v; want %q and no claim", job, rec.Status, rec.Lease, status)
		}
	}
}
