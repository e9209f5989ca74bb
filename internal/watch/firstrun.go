package watch

import (
	"context"
	"errors"
	"time"

	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/state"
)

// FirstRunChunk is how many jobs a first run lists before it records them
// and saves how far it got.
const FirstRunChunk = 1000

// errContended stops a first run at a chunk another run holds jobs of.
var errContended = errors.New("jobs held by another run")

// firstRun records every job of the account (within the filters) but those
// finished before LOOKBACK, alerting those that ended within it, and then
// sets the cursor, with the first run's start as its Origin. A job finished
// before LOOKBACK needs no record: nothing is alerted about it, and a later
// cycle that lists it without one finds it ended before the origin, and
// records it silently (endedBefore). In a large account the first run may
// take several invocations: it lists the jobs oldest first, saves after
// each FirstRunChunk jobs how far it got (the Baseline), and a later
// invocation resumes there, never from nothing.
// An invocation that reaches its deadline part-way succeeds: the work left
// is not an error, only more of the first run.
func (w *Watcher) firstRun(ctx context.Context, r run, b *state.Baseline) (Summary, error) {
	sum := Summary{FirstRun: true}
	// The cursor the first run ends with is when it began listing, less
	// the clocks' skew: every job modified before then (less OVERLAP) is
	// in the listing, and the first cycle after it lists every change
	// since, also of jobs a later invocation of the first run no longer
	// lists because they were created before where it resumed.
	base := state.Baseline{Began: r.now.Add(-w.opts.ClockSkew)}
	if b != nil {
		base = *b
		w.log.Info("first run resumes", "began", base.Began, "created_after", base.CreatedAfter)
	}
	found := newListing()
	var (
		chunk     []labeling.Job // the jobs to record
		last      labeling.Job   // the last job listed
		sinceSave int            // jobs listed since the baseline was saved
	)
	// record acts on the chunk and saves the progress it makes.
	record := func() error {
		if sinceSave == 0 {
			return nil
		}
		if len(chunk) > 0 {
			contended := sum.Contended
			if err := w.act(ctx, r, given(chunk...), &sum); err != nil {
				return err
			}
			if sum.Contended > contended {
				// Another first run holds some of these jobs: go no further
				// than it can be trusted to get, and resume here next run.
				return errContended
			}
		}
		// Jobs created in the same millisecond as the last one may sit on
		// the next page: resume just before it; recording them twice is
		// harmless.
		base.CreatedAfter = last.CreatedAt.Add(-time.Millisecond)
		chunk, sinceSave = nil, 0
		return w.store.SaveBaseline(ctx, base)
	}
	// Before the first invocation's start, so the same jobs whichever
	// invocation lists them, and never one this invocation would alert.
	finishedLongAgo := base.Began.Add(-w.opts.Rules.Lookback)
	var listErr error
	for page, err := range w.source.Created(ctx, base.CreatedAfter) {
		if err != nil {
			listErr = err
			break
		}
		for _, job := range page {
			found.add(job)
			last = job
			sinceSave++
			if job.Status.Terminal() && job.ModifiedAt.Before(finishedLongAgo) {
				continue // no record: see above
			}
			chunk = append(chunk, job)
		}
		if sinceSave >= FirstRunChunk {
			if listErr = record(); listErr != nil {
				break
			}
		}
	}
	if listErr == nil {
		listErr = record()
	}
	sum.Listed = found.listed
	switch {
	case errors.Is(listErr, errContended), listErr != nil && !errors.Is(listErr, ErrPending) && ctx.Err() != nil:
		// The deadline came, or another run holds jobs: what is recorded
		// stays, and the next invocation goes on from there.
		w.log.Info("first run continues next run", "recorded_until", base.CreatedAfter, "why", listErr.Error())
		return w.report(r, sum, nil)
	case listErr != nil:
		return w.report(r, sum, listErr)
	}
	// A first run done in one invocation listed every job, as a cycle
	// does, so its cursor may be its newest modification, as a cycle's.
	at := base.Began
	if b == nil {
		at = later(found.newest, base.Began)
	}
	next := state.Cursor{At: at, Seen: found.seenAfter(at.Add(-w.opts.Overlap)), Origin: base.Began}
	if err := w.store.AdvanceCursor(ctx, next); err != nil {
		return w.report(r, sum, err)
	}
	w.seeded.Store(true)
	sum.Cursor, sum.Advanced = at, true
	return w.report(r, sum, nil)
}

// endedBefore reports whether job, found with no record, ended before a
// first run that began at origin: it is finished, and was last modified
// before origin by more than OVERLAP (which bounds how late SageMaker shows
// a change, as for the cursor) and LOOKBACK (within which the first run
// alerted the jobs it listed finished). Its end is no news: the first run
// recorded no job that ended before LOOKBACK, and a job it did not list
// (a filter widened since) that ended before it is as old. A later cycle
// records such a job silently. Every other job without a record that is in
// an alerting status alerts, however long ago it was created: it reached
// that status after the first run, or so late before it that the first run
// may not have seen it.
func (w *Watcher) endedBefore(job labeling.Job, origin time.Time) bool {
	return !origin.IsZero() && job.Status.Terminal() && job.ModifiedAt.Before(origin.Add(-min(w.opts.Overlap, w.opts.Rules.Lookback)))
}
