package watch

import (
	"context"
	"time"

	"github.com/labelwatch/labelwatch/internal/state"
)

// advance moves a poll's cursor, every job of the cycle being committed.
// The next cycle lists the overlap window before it again; the cursor
// remembers how this cycle saw the jobs there, so those need no read. It
// moves to the newest modification listed, or to when the listing began
// (less the skew between this host's clock and SageMaker's) if that is
// later: the next cycle lists from OVERLAP before either, and a job
// modified before that was visible to this listing. So a burst is listed
// again only by the cycles that start within OVERLAP of it, not by every
// cycle until some newer job is modified.
// The cursor is written only when that changes what the next cycle lists
// or reads: a newer job, a job listed now that would drop out of the
// window, or a job in progress that became idle or busy. A quiet cycle
// writes nothing.
func (w *Watcher) advance(ctx context.Context, r run, found listing, sum *Summary) error {
	cursor := r.cursor
	at := later(found.newest, r.now.Add(-w.opts.ClockSkew))
	idleChanged := !cursor.KeepsIdle(found.idle, r.fingerprint)
	moves := found.newest.After(cursor.At) || (found.listed > 0 && !found.oldest.After(at.Add(-w.opts.Overlap))) || idleChanged
	if idleChanged && !at.After(cursor.At) {
		// A cursor is never written again at the same time (two runs
		// racing could move it back otherwise), and it may be ahead of
		// this host's clock (SageMaker's is ahead, or the newest job was
		// modified since the listing began): a millisecond on, well within
		// OVERLAP, carries the idle jobs.
		at = cursor.At.Add(time.Millisecond)
	}
	if !at.After(cursor.At) || !moves {
		return nil
	}
	next := state.Cursor{At: at, Seen: found.seenAfter(at.Add(-w.opts.Overlap)), Idle: found.idle, IdleRules: r.fingerprint}
	if err := w.store.AdvanceCursor(ctx, next); err != nil {
		return err
	}
	sum.Cursor, sum.Advanced = at, true
	return nil
}
