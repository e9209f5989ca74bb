package watch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/state"
)

// claim stores the records that need no message and claims the jobs that
// need one, all concurrently (many of a kind together: see together), and
// counts what it did into sum. It returns
// the alerts and news this run now owns. When a claim fails otherwise than
// on its condition (the deadline came while it was in flight) it may have
// been written: every claim of the run is released, so that the next run
// need not wait for them to expire; a release of a claim never written
// changes nothing.
func (w *Watcher) claim(ctx context.Context, r run, d decisions, sum *Summary) (decisions, error) {
	var (
		mu                  sync.Mutex
		claimed, unsure     []decision
		lostSilent, lostAny int
		recorded            int // saves written
	)
	lease := state.Lease{Owner: r.owner, Until: w.leaseUntil(ctx, r.now)}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(w.opts.Concurrency)
	// saved takes the outcome of s's save.
	saved := func(s decision, err error) error {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case errors.Is(err, state.ErrConflict):
			lostSilent++
			return nil
		case err != nil:
			return err
		}
		recorded++
		if !s.job.Status.Known() {
			w.log.Warn("unknown labeling job status recorded", "job", s.job.Name, "status", s.job.Status)
		}
		return nil
	}
	// settled takes the outcome of c's claim.
	settled := func(c decision, err error) error {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case errors.Is(err, state.ErrConflict):
			lostAny++
			w.log.Info("job claimed by another run", "job", c.job.Name, "status", c.job.Status)
			return nil
		case err != nil:
			unsure = append(unsure, c)
			return err
		}
		c.until = lease.Until
		claimed = append(claimed, c)
		return nil
	}
	leaseOf := func(c decision) state.Lease {
		l := lease
		l.Target = c.job.Status
		return l
	}

	var saveAll, claimAll func() []error
	if batch, ok := w.store.(state.BatchSaver); ok {
		saveAll = func() []error {
			jobs := make([]state.Saving, len(d.silent))
			for i, s := range d.silent {
				jobs[i] = state.Saving{Prev: s.rec, Next: s.next}
			}
			return batch.SaveAll(gctx, jobs)
		}
	}
	if batch, ok := w.store.(state.BatchClaimer); ok {
		claimAll = func() []error {
			jobs := make([]state.Record, len(d.alerts))
			targets := make([]labeling.Status, len(d.alerts))
			for i, c := range d.alerts {
				jobs[i], targets[i] = c.rec, c.job.Status
			}
			return batch.ClaimAll(gctx, jobs, targets, lease)
		}
	}
	silent := func(i int, err error) error { return saved(d.silent[i], err) }
	alert := func(i int, err error) error { return settled(d.alerts[i], err) }
	news := func(i int, err error) error { return settled(d.news[i], err) }
	w.together(g, len(d.silent), saveAll, func(i int) error { return w.store.Save(gctx, d.silent[i].rec, d.silent[i].next) }, silent)
	w.together(g, len(d.alerts), claimAll, func(i int) error { return w.store.Claim(gctx, d.alerts[i].rec, leaseOf(d.alerts[i])) }, alert)
	w.together(g, len(d.news), nil, func(i int) error { return w.store.Claim(gctx, d.news[i].rec, leaseOf(d.news[i])) }, news)
	err := g.Wait()
	sum.Recorded += recorded
	sum.Contended += lostSilent + lostAny
	if err != nil {
		w.release(r, slices.Concat(claimed, unsure))
		sum.Pending += len(claimed)
		return decisions{}, err
	}
	slices.SortFunc(claimed, func(a, b decision) int { return cmp.Compare(a.rec.Job, b.rec.Job) })
	var out decisions
	for _, c := range claimed {
		if c.verdict == Alert {
			out.alerts = append(out.alerts, c)
		} else {
			out.news = append(out.news, c)
		}
	}
	return out, nil
}

// together makes n writes of one kind on g: in one batch call (all) when
// there are more than DigestThreshold of them (a storm's, a digest's, a
// first run's) and the store batches them (all is not nil), else each
// alone (one(i)), concurrently. took takes each write's outcome.
func (w *Watcher) together(g *errgroup.Group, n int, all func() []error, one func(i int) error, took func(i int, err error) error) {
	if all != nil && n > w.opts.DigestThreshold {
		g.Go(func() error {
			var first error
			for i, err := range all() {
				first = cmp.Or(first, took(i, err))
			}
			return first
		})
		return
	}
	for i := range n {
		g.Go(func() error { return took(i, one(i)) })
	}
}

// leaseUntil is when this run's claims expire: after the invocation's own
// deadline, so no other run can take over an alert this run may still send.
// The deadline is the invocation's, in real time; what is left of it is
// added to now, the Watcher's clock.
func (w *Watcher) leaseUntil(ctx context.Context, now time.Time) time.Time {
	if deadline, ok := ctx.Deadline(); ok {
		return now.Add(time.Until(deadline) + w.opts.DeadlineMargin + w.opts.ClockSkew)
	}
	return now.Add(15 * time.Minute)
}

// commit stores, as each post is sent, the records of its jobs once Slack
// accepted it, and releases the claims of a post Slack did not take, so
// that the next run can retry it at once. It counts what it did into sum,
// and returns an error wrapping ErrPending when some job's message is left
// for the next run. It runs on the run's settle context, inside the margin
// the work context left, so that a message that went out is recorded even
// as the deadline nears.
func (w *Watcher) commit(r run, sent iter.Seq2[post, error], sum *Summary) error {
	var (
		jobs, pending int
		failure       error // the first, when some are pending
	)
	for p, err := range sent {
		jobs += len(p.decisions)
		if err != nil {
			w.release(r, p.decisions)
			pending += len(p.decisions)
			failure = cmp.Or(failure, err)
			continue
		}
		at := w.clock.Now()
		nexts := make([]state.Record, len(p.decisions))
		for i, d := range p.decisions {
			nexts[i] = d.next
			if d.verdict == Alert {
				nexts[i].AlertedAt = at
			}
		}
		for i, err := range w.commitEach(r, p.decisions, nexts) {
			switch d := p.decisions[i]; {
			case err != nil:
				// Slack has it; the lease will expire and the next run
				// will send it once more: the one duplicate a crash can
				// cause.
				w.log.Error("message sent but not recorded; it may be sent once more", "job", d.job.Name, "error", err)
				pending++
				failure = cmp.Or(failure, fmt.Errorf("message sent but not recorded: %w", err))
			case d.verdict == Alert:
				sum.Alerted++
			default:
				sum.News++
			}
		}
	}
	sum.Pending += pending
	if pending > 0 {
		// The first failure says why (invalid_auth, a timeout, ...), so the
		// invocation's error is enough to act on without reading the logs.
		return fmt.Errorf("%d of %d jobs' messages not delivered, retried next run: %w: %w", pending, jobs, ErrPending, failure)
	}
	return nil
}

// commitEach commits the jobs of a post, their records nexts, and returns
// each one's error. A post of several (a digest's part) is committed in as
// few calls as the store takes, while this run's claims on its jobs are
// live (state.BatchCommitter); else each job alone, concurrently.
func (w *Watcher) commitEach(r run, jobs []decision, nexts []state.Record) []error {
	if batch, ok := w.store.(state.BatchCommitter); ok && len(jobs) > 1 {
		until := jobs[0].until
		committing := make([]state.Committing, len(jobs))
		for i, d := range jobs {
			until = earlier(until, d.until)
			committing[i] = state.Committing{Next: nexts[i], Claimed: d.rec.Version + 1}
		}
		// Until the earliest lease's end less the clocks' skew: another
		// host may see a lease end that much sooner.
		return batch.CommitAll(r.settle, r.owner, until.Add(-w.opts.ClockSkew), committing)
	}
	errs := make([]error, len(jobs))
	var g errgroup.Group
	g.SetLimit(w.opts.Concurrency)
	for i := range jobs {
		g.Go(func() error {
			errs[i] = w.store.Commit(r.settle, r.owner, nexts[i])
			return nil
		})
	}
	g.Wait()
	return errs
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// release gives up this run's claims of jobs, so the next run can retry
// them at once.
func (w *Watcher) release(r run, jobs []decision) {
	// Release no later than a fifth of DeadlineMargin before the
	// invocation's deadline, so that the function still answers: a claim
	// left unreleased only expires, and a storm cut off by its deadline
	// may hold thousands.
	ctx := r.settle
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-w.opts.DeadlineMargin/5))
		defer cancel()
	}
	var left atomic.Int64
	var g errgroup.Group
	g.SetLimit(w.opts.Concurrency)
	for _, d := range jobs {
		g.Go(func() error {
			if ctx.Err() != nil {
				left.Add(1)
				return nil
			}
			err := w.store.Release(ctx, d.rec.Job, r.owner)
			switch {
			case errors.Is(err, state.ErrConflict):
				// Not held by this run (a claim never written): nothing
				// to release.
			case err != nil && ctx.Err() != nil:
				left.Add(1)
			case err != nil:
				// The lease expires by itself; the alert is still pending.
				w.log.Warn("release claim", "job", d.job.Name, "record", d.rec.Job, "error", err)
			}
			return nil
		})
	}
	g.Wait()
	if n := left.Load(); n > 0 {
		w.log.Warn("claims left to expire: no time to release them before the deadline", "claims", n)
	}
}
