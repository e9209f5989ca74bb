package watch

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"sync"
	"time"

	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/state"
)

// The listings a page can come from: they are counted and sifted apart.
type origin int

const (
	givenJobs  origin = iota // jobs a push, an apply or a first run's chunk gives
	modified                 // the jobs modified since the cursor, less OVERLAP
	inProgress               // the jobs in progress, however long ago modified
)

// A page is one page of a listing, or the error that ended it.
type page struct {
	from origin
	jobs []labeling.Job
	err  error
}

// A feed yields pages, reading on ctx: a failed state load cancels ctx, and
// so a listing still going on.
type feed func(ctx context.Context) iter.Seq[page]

// given feeds jobs, as one page.
func given(jobs ...labeling.Job) feed {
	return func(context.Context) iter.Seq[page] {
		return func(yield func(page) bool) { yield(page{from: givenJobs, jobs: jobs}) }
	}
}

// pages feeds the pages list yields, from the listing named from.
func pages(from origin, list func(ctx context.Context) iter.Seq2[[]labeling.Job, error]) feed {
	return func(ctx context.Context) iter.Seq[page] {
		return func(yield func(page) bool) {
			for jobs, err := range list(ctx) {
				if err != nil && from == inProgress {
					err = fmt.Errorf("list jobs in progress: %w", err)
				}
				if !yield(page{from: from, jobs: jobs, err: err}) || err != nil {
					return
				}
			}
		}
	}
}

// listModified feeds the jobs modified since since.
func (w *Watcher) listModified(since time.Time) feed {
	return pages(modified, func(ctx context.Context) iter.Seq2[[]labeling.Job, error] {
		return w.source.Modified(ctx, since)
	})
}

// listRunning feeds the jobs in progress when r's rules speak of them (a
// stalled job is not modified), else nothing. A warm function starts
// listing them now, ahead of the consumer; stop ends a listing nobody
// consumes.
func (w *Watcher) listRunning(ctx context.Context, r run) (running feed, stop func()) {
	if !r.rules.watchesRunning() {
		return nil, func() {}
	}
	running = pages(inProgress, w.source.Running)
	if !w.seeded.Load() {
		return running, func() {}
	}
	return ahead(ctx, running)
}

// merge feeds the pages of every feed (nil ones aside) as they come,
// listing all of them at once: a cycle's two listings cost the time of the
// longer, not of both. It stops at the first error, or when its consumer
// stops.
func merge(feeds ...feed) feed {
	feeds = slices.DeleteFunc(feeds, func(f feed) bool { return f == nil })
	if len(feeds) == 1 {
		return feeds[0]
	}
	return func(parent context.Context) iter.Seq[page] {
		return func(yield func(page) bool) {
			ctx, cancel := context.WithCancel(parent)
			out := make(chan page)
			var wg sync.WaitGroup
			for _, f := range feeds {
				wg.Go(func() { pump(ctx, f, out) })
			}
			go func() {
				wg.Wait()
				close(out)
			}()
			defer func() {
				cancel()
				for range out { // until every lister has stopped
				}
			}()
			for p := range out {
				if !yield(p) || p.err != nil {
					return
				}
			}
			// A lister that saw ctx end may have stopped without a word.
			if err := parent.Err(); err != nil {
				yield(page{err: err})
			}
		}
	}
}

// ahead starts listing f now, before its consumer asks: it feeds the pages
// listed ahead, then the rest as they come. stop ends a listing nobody
// consumes; it is safe to call after the feed was consumed.
func ahead(ctx context.Context, f feed) (listed feed, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	out := make(chan page, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(out)
		pump(ctx, f, out)
	}()
	stop = func() {
		cancel()
		<-done
	}
	listed = func(ctx context.Context) iter.Seq[page] {
		return func(yield func(page) bool) {
			for {
				select {
				case p, ok := <-out:
					if !ok || !yield(p) || p.err != nil {
						return
					}
				case <-ctx.Done():
					yield(page{err: ctx.Err()})
					return
				}
			}
		}
	}
	return listed, stop
}

// pump sends f's pages to out until f ends, fails (the error is sent too)
// or ctx ends.
func pump(ctx context.Context, f feed, out chan<- page) {
	for p := range f(ctx) {
		select {
		case out <- p:
		case <-ctx.Done():
			return
		}
		if p.err != nil {
			return
		}
	}
}

// A listing is what a run's listings found, counted by the one goroutine
// that consumes them (sift) and returned to the cycle: the cursor is
// advanced by it.
type listing struct {
	newest  time.Time // the newest modification listed
	oldest  time.Time // the oldest modification listed
	listed  int       // jobs listed as modified
	unread  int       // jobs listed as the cursor saw them, or idle as it left them: decided without a read
	running int       // jobs listed as in progress
	// jobs is every job listed as modified, as listed. A job listed twice,
	// differently, has a zero Listing, which no cursor keeps: the cycle
	// acts on one of the two listings only, so the next cycle reads the job
	// again.
	jobs map[string]state.Listing
	// idle is the idle jobs, as listed, for the next cursor's Idle: those
	// decided so, and those listed as the cursor left them idle.
	idle map[string]state.Idle
}

func newListing() listing {
	return listing{jobs: map[string]state.Listing{}}
}

// rest remembers the job named name as idle.
func (l *listing) rest(name string, idle state.Idle) {
	if l.idle == nil {
		l.idle = map[string]state.Idle{}
	}
	l.idle[name] = idle
}

// sift counts the jobs of p and returns those whose state must be read. A
// job listed as modified exactly as the last complete cycle saw it is
// unchanged: that cycle committed it as it is before it wrote the cursor. A
// job that changed since has a later LastModifiedTime (or, stamped in the
// same millisecond, another status), a job that became visible late
// (modified before the cursor, listed only now) is not in Seen, and a stale
// listing shows an older time; each of those is read and decided. A job
// listed in progress as the cursor left it idle, under the same rules and
// before its Until, stays idle.
func (l *listing) sift(p page, r run) []labeling.Job {
	switch p.from {
	case modified:
		read := make([]labeling.Job, 0, len(p.jobs))
		for _, job := range p.jobs {
			l.add(job)
			if r.cursor.Saw(job) {
				l.unread++
				continue
			}
			read = append(read, job)
		}
		return read
	case inProgress:
		l.running += len(p.jobs)
		if len(r.cursor.Idle) == 0 || r.cursor.IdleRules != r.fingerprint {
			return p.jobs
		}
		read := make([]labeling.Job, 0, len(p.jobs))
		for _, job := range p.jobs {
			if !r.cursor.Rests(job, r.now) {
				read = append(read, job)
				continue
			}
			l.unread++
			l.rest(job.Name, r.cursor.Idle[job.Name])
		}
		return read
	}
	return p.jobs
}

// add counts one job listed as modified.
func (l *listing) add(job labeling.Job) {
	l.listed++
	if job.ModifiedAt.After(l.newest) {
		l.newest = job.ModifiedAt
	}
	if l.listed == 1 || job.ModifiedAt.Before(l.oldest) {
		l.oldest = job.ModifiedAt
	}
	seen := state.Listing{ModifiedAt: job.ModifiedAt, Status: job.Status}
	if before, twice := l.jobs[job.Name]; twice && (before.Status != seen.Status || !before.ModifiedAt.Equal(seen.ModifiedAt)) {
		seen = state.Listing{}
	}
	l.jobs[job.Name] = seen
}

// seenAfter is the jobs listed that were modified after t, as listed: the
// Seen of a cursor whose overlap window starts at t. Every one of them was
// committed, or needed nothing, when the cycle advances its cursor.
func (l *listing) seenAfter(t time.Time) map[string]state.Listing {
	seen := map[string]state.Listing{}
	for name, job := range l.jobs {
		if job.ModifiedAt.After(t) {
			seen[name] = job
		}
	}
	return seen
}
