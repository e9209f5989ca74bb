package watch

import (
	"context"
	"crypto/rand"
	"errors"

	"time"

	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/slack"
	"github.com/labelwatch/labelwatch/internal/state"
)

// A run is one poll, push or apply: what it holds to, fixed when it starts.
type run struct {
	kind string // "poll", "push" or "apply": its summary line's name
	// rules are Options.Rules as the notifier can follow them now: cards
	// only when it can edit, in the channel it posts to.
	rules       Rules
	fingerprint string    // rules.fingerprint(), for Cursor.IdleRules
	now         time.Time // when it started, on the Watcher's clock
	owner       string    // names this run's claims
	firstRun    bool      // the jobs are a first run's: only those ended within Lookback alert
	pushed      bool      // the jobs came with events: they are subject to the push budget
	// cursor is the cursor a poll lists from, nil for any other run: a job
	// is idle, or ended before the origin, only against a cursor.
	cursor *state.Cursor
	// router picks each job's destinations (nil: fallback, the notifier's
	// own, takes every message).
	router   Router
	fallback Destination
	// settle is the invocation's own context, which ends DeadlineMargin
	// after the run's work context: what Slack accepted is committed on it,
	// and claims not sent are released, even as the deadline nears.
	settle context.Context
}

// begin starts a run of kind: it fixes the run's settings and returns the
// work context, which ends DeadlineMargin before ctx's deadline.
func (w *Watcher) begin(ctx context.Context, kind string) (run, context.Context, context.CancelFunc) {
	r := run{kind: kind, rules: w.opts.Rules, now: w.clock.Now(), owner: rand.Text()[:16], settle: ctx, router: w.opts.Router, fallback: DefaultDestination}
	var can slack.Capabilities
	if w.notifier != nil {
		can = w.notifier.Capabilities()
	}
	r.rules.Cards = r.rules.Cards && can.Edit
	if r.rules.Cards {
		r.rules.Channel = can.Channel
	}
	r.fingerprint = r.rules.fingerprint()
	if r.router != nil && r.router.String() != "" {
		r.fingerprint += ", routes " + r.router.String()
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		work, cancel := context.WithCancel(ctx)
		return r, work, cancel
	}
	work, cancel := context.WithDeadline(ctx, deadline.Add(-w.opts.DeadlineMargin))
	return r, work, cancel
}

// Poll runs one scheduled cycle: it lists the jobs modified since the
// cursor, and those in progress when the rules speak of them, acts on them,
// and advances the cursor once every one is settled. It stops
// DeadlineMargin before ctx's deadline, keeping the cursor, and returns an
// error wrapping ErrPending when any alert is left for the next run.
func (w *Watcher) Poll(ctx context.Context) (Summary, error) {
	r, ctx, cancel := w.begin(ctx, "poll")
	defer cancel()
	var sum Summary

	// 1. List. A warm function, whose cursor an earlier invocation seeded,
	// starts listing the jobs in progress while it reads the cursor: that
	// listing needs none.
	running, stop := w.listRunning(ctx, r)
	defer stop()
	cursor, seeded, err := w.store.Cursor(ctx)
	if err != nil {
		return w.report(r, sum, err)
	}
	if !seeded {
		r.firstRun = true
		return w.firstRun(ctx, r, cursor.Baseline)
	}
	w.seeded.Store(true)
	r.cursor = &cursor
	sum.Cursor = cursor.At
	jobs := merge(w.listModified(cursor.At.Add(-w.opts.Overlap)), running)

	// 2. Load the stored state of the jobs listed, a batch at a time while
	// listing goes on, and decide each; jobs listed as the cursor saw them,
	// or idle as it left them, need no read.
	decided, found, err := w.decide(ctx, r, jobs, &sum)
	stop() // a listing ahead is over, also when deciding stopped early
	sum.count(found)
	if err == nil {
		// 3-5. Claim, send, and commit what Slack accepted.
		var claimed decisions
		if claimed, err = w.claim(ctx, r, w.ration(decided), &sum); err == nil {
			err = w.commit(r, w.send(ctx, r, claimed, &sum), &sum)
		}
	}
	if err != nil && !errors.Is(err, ErrPending) {
		return w.report(r, sum, err)
	}

	// 6. Advance the cursor, once every job of the cycle is settled.
	if sum.Pending == 0 && sum.Contended == 0 {
		if err := w.advance(ctx, r, found, &sum); err != nil {
			return w.report(r, sum, err)
		}
	}
	return w.report(r, sum, err)
}

// Push acts on the job an EventBridge event names, as Describe reads it now:
// the event's own status may be late or out of order. It never moves the
// cursor. It fails with labeling.ErrNotFound or labeling.ErrNotWatched, and
// nothing done, for a job that is gone or outside the filters.
func (w *Watcher) Push(ctx context.Context, name string) (Summary, error) {
	r, ctx, cancel := w.begin(ctx, "push")
	defer cancel()
	r.pushed = true

	// 1. Read the one job.
	job, err := w.source.Describe(ctx, name)
	if errors.Is(err, labeling.ErrNotFound) || errors.Is(err, labeling.ErrNotWatched) {
		return Summary{}, err // nothing to do; the caller says why, once
	}
	if err != nil {
		return w.report(r, Summary{}, err, "job", name)
	}
	sum := Summary{Job: job.Name}

	// 2. Load its stored state and decide.
	decided, _, err := w.decide(ctx, r, given(job), &sum)
	if err == nil {
		// In a storm of pushes the job is left to the poll, which digests it.
		decided, err = w.budgetPushes(ctx, r, w.ration(decided), &sum)
	}
	if err == nil {
		// 3-5. Claim, send, and commit what Slack accepted.
		var claimed decisions
		if claimed, err = w.claim(ctx, r, decided, &sum); err == nil {
			err = w.commit(r, w.send(ctx, r, claimed, &sum), &sum)
		}
	}
	return w.report(r, sum, err, "job", job.Name)
}

// Apply decides, claims, sends and commits jobs read from any source, as a
// run that is not the first: a job never seen before that is in an alerting
// status alerts. It stops DeadlineMargin before ctx's deadline and returns
// an error wrapping ErrPending when any alert is left for the next run.
func (w *Watcher) Apply(ctx context.Context, jobs []labeling.Job) (Summary, error) {
	r, ctx, cancel := w.begin(ctx, "apply")
	defer cancel()
	var sum Summary
	return w.report(r, sum, w.act(ctx, r, given(jobs...), &sum))
}

// act runs the stages from load to commit on jobs: Apply's, and each chunk
// of a first run's.
func (w *Watcher) act(ctx context.Context, r run, jobs feed, sum *Summary) error {
	decided, _, err := w.decide(ctx, r, jobs, sum)
	if err != nil {
		return err
	}
	claimed, err := w.claim(ctx, r, w.ration(decided), sum)
	if err != nil {
		return err
	}
	return w.commit(r, w.send(ctx, r, claimed, sum), sum)
}
