// Package watch decides and delivers labelwatch's alerts. Apply takes
// labeling jobs from any source and, for each, decides whether it moved into
// an alerting status, claims the alert, sends it and commits what Slack
// accepted. Poll feeds it the jobs modified since the cursor and then
// advances the cursor; Push feeds it the one job an EventBridge event names.
package watch

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/slack"
	"github.com/labelwatch/labelwatch/internal/state"
)

// Source reads labeling jobs, within the user's filters.
type Source interface {
	// Modified lists the jobs modified after since, a page at a time.
	Modified(ctx context.Context, since time.Time) iter.Seq2[[]labeling.Job, error]
	// Describe reads one job. It fails with labeling.ErrNotFound when the
	// job does not exist and labeling.ErrNotWatched when it is outside the
	// filters.
	Describe(ctx context.Context, name string) (labeling.Job, error)
}

// Notifier delivers one Slack message and says whether a failure is worth
// retrying.
type Notifier interface {
	Send(ctx context.Context, m slack.Message) (retry bool, err error)
}

// Clock is a Watcher's time: the time of state records and leases, and the
// waits of pacing and backoff. Tests give a fake one, so nothing they check
// depends on how fast a loaded machine runs.
type Clock interface {
	Now() time.Time
	// After sends the time on the channel once d has passed, as time.After.
	After(d time.Duration) <-chan time.Time
}

// SystemClock is the Clock of the real world.
type SystemClock struct{}

// Now is time.Now.
func (SystemClock) Now() time.Time { return time.Now() }

// After is time.After.
func (SystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Options tune a Watcher. Zero values take the defaults noted.
type Options struct {
	Rules           Rules
	Overlap         time.Duration // how far before the cursor to list again
	DeadlineMargin  time.Duration // stop this long before the invocation deadline
	DigestThreshold int           // more alerts than this in one cycle become one digest
	Pace            time.Duration // least time between two Slack posts
	Concurrency     int           // state reads and writes in flight; default DefaultConcurrency
	Retrier         Retrier       // default DefaultRetrier
	ClockSkew       time.Duration // how far two hosts' clocks may differ; leases outlive the deadline by this; default DefaultClockSkew
}

// DefaultConcurrency is how many state reads and writes a cycle keeps in
// flight unless Options say otherwise. The AWS clients keep as many idle
// connections (app.AWSHTTPClient), so a burst reuses them.
const DefaultConcurrency = 32

// DefaultClockSkew is how far apart the clocks of two Lambda hosts are
// assumed to be at most.
const DefaultClockSkew = 30 * time.Second

// Watcher polls and pushes. It holds no state between invocations: all of it
// is in the Store.
type Watcher struct {
	source   Source
	store    state.Store
	notifier Notifier
	log      *slog.Logger
	clock    Clock
	opts     Options
}

// New returns a Watcher.
func New(source Source, store state.Store, notifier Notifier, log *slog.Logger, clock Clock, opts Options) *Watcher {
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Retrier.Attempts <= 0 {
		opts.Retrier = DefaultRetrier
	}
	if opts.DigestThreshold <= 0 {
		opts.DigestThreshold = 10
	}
	if opts.ClockSkew <= 0 {
		opts.ClockSkew = DefaultClockSkew
	}
	return &Watcher{source: source, store: store, notifier: notifier, log: log, clock: clock, opts: opts}
}

// Summary counts what one poll or push did.
type Summary struct {
	// The job a push was for, named as SageMaker names it (an event's
	// ARN lower-cases the name).
	Job string

	// The poll's own counts; zero for a push.
	FirstRun bool
	Listed   int
	Known    int // listed as the cursor saw them, so not read: unchanged
	Cursor   time.Time
	Advanced bool

	// What Apply did with the jobs.
	Transitions int // jobs whose status differs from the stored one
	Recorded    int // transitions stored without an alert
	Alerted     int // alerts Slack accepted and that are committed
	Pending     int // alerts not delivered; retried by the next poll
	Contended   int // jobs another run holds or changed meanwhile
	Stale       int // readings older than the stored state
	Digest      bool

	Duration time.Duration
}

// ErrPending is returned (wrapped) by Poll, Push and Apply when some alert is
// not delivered.
var ErrPending = errors.New("alerts pending")

// due is one job Apply must act on.
type due struct {
	job     labeling.Job
	rec     state.Record
	verdict Verdict
}

// Poll runs one scheduled cycle: it lists the jobs modified since the
// cursor, applies them, and advances the cursor once every one is settled.
// It stops DeadlineMargin before ctx's deadline, keeping the cursor, and
// returns an error wrapping ErrPending when any alert is left for the next
// run.
func (w *Watcher) Poll(ctx context.Context) (Summary, error) {
	start := w.clock.Now()
	var sum Summary
	work, cancel := w.workContext(ctx)
	defer cancel()

	// 1. Where the last complete cycle ended, and the jobs it saw there.
	cursor, seeded, err := w.store.Cursor(work)
	if err != nil {
		return w.finish("poll", sum, start, err)
	}
	sum.FirstRun, sum.Cursor = !seeded, cursor.At
	var since time.Time
	if seeded {
		since = cursor.At.Add(-w.opts.Overlap)
	}

	// 2-5. List the jobs modified since then and apply them as pushed jobs
	// are: their state is loaded a batch at a time while listing goes on,
	// except for those listed as the cursor saw them, which are settled.
	found := &listed{jobs: map[string]state.Listing{}}
	applied, err := w.apply(ctx, work, found.changed(w.source, since, cursor), !seeded, start)
	sum = merge(sum, applied)
	sum.Listed, sum.Known = found.listed, found.known
	if err != nil && !errors.Is(err, ErrPending) {
		return w.finish("poll", sum, start, err)
	}

	// 6. Advance the cursor only when every job of the cycle is committed.
	// The next cycle lists the overlap window before it again; the cursor
	// remembers how this cycle saw the jobs there, so those need no read.
	if sum.Pending == 0 && sum.Contended == 0 && found.newest.After(cursor.At) {
		next := state.Cursor{At: found.newest, Seen: found.seenAfter(found.newest.Add(-w.opts.Overlap))}
		if err := w.store.AdvanceCursor(work, next); err != nil {
			return w.finish("poll", sum, start, err)
		}
		sum.Cursor, sum.Advanced = found.newest, true
	}
	return w.finish("poll", sum, start, err)
}

// Push applies the job an EventBridge event names, as Describe reads it now:
// the event's own status may be late or out of order. It never moves the
// cursor. It fails with labeling.ErrNotFound or labeling.ErrNotWatched, and
// nothing done, for a job that is gone or outside the filters.
func (w *Watcher) Push(ctx context.Context, name string) (Summary, error) {
	start := w.clock.Now()
	work, cancel := w.workContext(ctx)
	defer cancel()
	job, err := w.source.Describe(work, name)
	if errors.Is(err, labeling.ErrNotFound) || errors.Is(err, labeling.ErrNotWatched) {
		return Summary{}, err // nothing to do; the caller says why, once
	}
	if err != nil {
		return w.finish("push", Summary{}, start, err, "job", name)
	}
	sum, err := w.apply(ctx, work, only(job), false, start)
	sum.Job = job.Name
	return w.finish("push", sum, start, err, "job", job.Name)
}

// Apply decides, claims, sends and commits jobs read from any source, as a
// run that is not the first: a job never seen before that is in an alerting
// status alerts. It stops DeadlineMargin before ctx's deadline and returns
// an error wrapping ErrPending when any alert is left for the next run.
func (w *Watcher) Apply(ctx context.Context, jobs []labeling.Job) (Summary, error) {
	start := w.clock.Now()
	work, cancel := w.workContext(ctx)
	defer cancel()
	sum, err := w.apply(ctx, work, only(jobs...), false, start)
	return w.finish("apply", sum, start, err)
}

// feed yields the jobs to apply, a page at a time, reading on ctx: a failed
// state load cancels ctx, and so a listing still going on.
type feed func(ctx context.Context) iter.Seq2[[]labeling.Job, error]

// only feeds jobs, as one page.
func only(jobs ...labeling.Job) feed {
	return func(context.Context) iter.Seq2[[]labeling.Job, error] {
		return func(yield func([]labeling.Job, error) bool) { yield(jobs, nil) }
	}
}

// apply is Apply within work, the context that ends DeadlineMargin before
// ctx does; commits and releases run on ctx, inside that margin.
func (w *Watcher) apply(ctx, work context.Context, jobs feed, firstRun bool, now time.Time) (Summary, error) {
	var sum Summary
	owner := runID()

	// Load the stored state of the jobs and decide each.
	dues, err := w.decide(work, jobs, firstRun, now)
	if err != nil {
		return sum, err
	}
	var silent, alerts []due
	for _, d := range dues {
		switch d.verdict {
		case Stale:
			sum.Stale++
			w.log.Info("stale reading ignored", "job", d.job.Name, "read", d.job.Status, "stored", d.rec.Status)
		case Contended:
			sum.Contended++
		case Baseline, Silent:
			silent = append(silent, d)
		case Alert:
			alerts = append(alerts, d)
		}
	}
	sum.Transitions = len(silent) + len(alerts)

	// Record silent transitions and claim the alerts, together.
	claimed, contended, err := w.recordAndClaim(work, silent, alerts, owner, now)
	sum.Recorded = len(silent) - contended.silent
	sum.Contended += contended.silent + contended.alerts
	if err != nil {
		w.releaseAll(ctx, claimed, owner)
		sum.Pending += len(claimed)
		return sum, err
	}

	// Send, and commit each alert once Slack accepted it.
	sum.Digest = len(claimed) > w.opts.DigestThreshold
	sent, pending, failure := w.deliver(ctx, work, claimed, owner, sum.Digest)
	sum.Alerted, sum.Pending = sent, pending
	if sum.Pending > 0 {
		// The first failure says why (invalid_auth, a timeout, ...), so the
		// invocation's error is enough to act on without reading the logs.
		return sum, fmt.Errorf("%d of %d alerts not delivered, retried next run: %w: %w", sum.Pending, len(alerts), ErrPending, failure)
	}
	return sum, nil
}

// merge adds what apply did to a poll's summary.
func merge(poll, applied Summary) Summary {
	poll.Transitions, poll.Recorded, poll.Alerted = applied.Transitions, applied.Recorded, applied.Alerted
	poll.Pending, poll.Contended, poll.Stale, poll.Digest = applied.Pending, applied.Contended, applied.Stale, applied.Digest
	return poll
}

// workContext ends DeadlineMargin before ctx's deadline, leaving the margin
// to commit or release what is in flight.
func (w *Watcher) workContext(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, deadline.Add(-w.opts.DeadlineMargin))
}

// listed is what list found.
type listed struct {
	newest time.Time // the newest modification listed
	listed int
	known  int // jobs listed as the cursor saw them, decided without a read
	// jobs is every job listed, as listed. A job listed twice, differently,
	// has a zero Listing, which no cursor keeps: the cycle acts on one of
	// the two listings only, so the next cycle reads the job again.
	jobs map[string]state.Listing
}

// add counts one listed job.
func (c *listed) add(job labeling.Job) {
	c.listed++
	if job.ModifiedAt.After(c.newest) {
		c.newest = job.ModifiedAt
	}
	l := state.Listing{ModifiedAt: job.ModifiedAt, Status: job.Status}
	if before, twice := c.jobs[job.Name]; twice && (before.Status != l.Status || !before.ModifiedAt.Equal(l.ModifiedAt)) {
		l = state.Listing{}
	}
	c.jobs[job.Name] = l
}

// seenAfter is the jobs listed that were modified after t, as listed: the
// Seen of a cursor whose overlap window starts at t. Every one of them was
// committed, or needed nothing, when the cycle advances its cursor.
func (c *listed) seenAfter(t time.Time) map[string]state.Listing {
	seen := map[string]state.Listing{}
	for name, job := range c.jobs {
		if job.ModifiedAt.After(t) {
			seen[name] = job
		}
	}
	return seen
}

// changed feeds the jobs source lists as modified since since, but for
// those the cursor saw as they are now, and counts every job listed.
func (c *listed) changed(source Source, since time.Time, cursor state.Cursor) feed {
	return func(ctx context.Context) iter.Seq2[[]labeling.Job, error] {
		return func(yield func([]labeling.Job, error) bool) {
			for page, err := range source.Modified(ctx, since) {
				if err != nil {
					yield(nil, err)
					return
				}
				changed := make([]labeling.Job, 0, len(page))
				for _, job := range page {
					c.add(job)
					// A job listed exactly as the last complete cycle saw
					// it is unchanged, without reading its state: that
					// cycle committed it as it is before it wrote the
					// cursor. A job that changed since has a later
					// LastModifiedTime (or, stamped in the same
					// millisecond, another status), a job that became
					// visible late (modified before the cursor, listed
					// only now) is not in Seen, and a stale listing shows
					// an older time; each of those is read and decided.
					if cursor.Saw(job) {
						c.known++
						continue
					}
					changed = append(changed, job)
				}
				if !yield(changed, nil) {
					return
				}
			}
		}
	}
}

// decide loads the stored state of the jobs fed, MaxBatch at a time and
// concurrently, while the feed goes on, and returns the jobs to act on,
// sorted by name, one per job: a job read twice (it moved between list
// pages) is acted on as modified last.
func (w *Watcher) decide(ctx context.Context, jobs feed, firstRun bool, now time.Time) ([]due, error) {
	var (
		mu   sync.Mutex
		dues []due
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(w.opts.Concurrency)
	load := func(batch []labeling.Job) {
		g.Go(func() error {
			names := make([]string, len(batch))
			for i, job := range batch {
				names[i] = job.Name
			}
			records, err := w.store.Load(gctx, names)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			for _, job := range batch {
				rec := records[job.Name]
				rec.Job = job.Name
				if v := w.opts.Rules.Decide(job, rec, firstRun, now); v != Unchanged {
					dues = append(dues, due{job: job, rec: rec, verdict: v})
				}
			}
			return nil
		})
	}
	var batch []labeling.Job
	for page, err := range jobs(gctx) {
		if err != nil {
			// A failed load cancels the feed too; report the load.
			return nil, cmp.Or(g.Wait(), err)
		}
		for _, job := range page {
			batch = append(batch, job)
			if len(batch) == state.MaxBatch {
				load(batch)
				batch = nil
			}
		}
	}
	if len(batch) > 0 {
		load(batch)
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	slices.SortFunc(dues, func(a, b due) int {
		return cmp.Or(cmp.Compare(a.job.Name, b.job.Name), b.job.ModifiedAt.Compare(a.job.ModifiedAt))
	})
	return slices.CompactFunc(dues, func(a, b due) bool { return a.job.Name == b.job.Name }), nil
}

type contention struct{ silent, alerts int }

// recordAndClaim stores the silent transitions and claims the alerts, all
// concurrently. It returns the alerts this run now owns.
func (w *Watcher) recordAndClaim(ctx context.Context, silent, alerts []due, owner string, now time.Time) ([]due, contention, error) {
	var (
		mu      sync.Mutex
		claimed []due
		lost    contention
	)
	lease := state.Lease{Owner: owner, Until: w.leaseUntil(ctx, now)}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(w.opts.Concurrency)
	for _, d := range silent {
		g.Go(func() error {
			err := w.store.Save(gctx, d.rec, d.job.Status, d.job.ModifiedAt)
			if errors.Is(err, state.ErrConflict) {
				mu.Lock()
				lost.silent++
				mu.Unlock()
				return nil
			}
			if err == nil && !d.job.Status.Known() {
				w.log.Warn("unknown labeling job status recorded", "job", d.job.Name, "status", d.job.Status)
			}
			return err
		})
	}
	for _, d := range alerts {
		g.Go(func() error {
			l := lease
			l.Target = d.job.Status
			err := w.store.Claim(gctx, d.rec, l)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, state.ErrConflict):
				lost.alerts++
				w.log.Info("alert claimed by another run", "job", d.job.Name, "status", d.job.Status)
				return nil
			case err != nil:
				return err
			}
			claimed = append(claimed, d)
			return nil
		})
	}
	err := g.Wait()
	slices.SortFunc(claimed, func(a, b due) int { return cmp.Compare(a.job.Name, b.job.Name) })
	return claimed, lost, err
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

// deliver sends the claimed alerts, one message each or, when digest is
// set, as a digest of one or more messages, paced to Slack's rate, and
// commits the alerts of each message once Slack accepted it: a digest that
// fails part way leaves only the alerts of its unsent messages pending.
// When Slack refuses a message itself (slack.ErrRejected: too long, invalid
// blocks), its minimal text form goes out instead, so that no alert is
// blocked for ever by a payload Slack will never take. It returns how many
// alerts were committed and how many are pending, and the first failure
// when some are.
func (w *Watcher) deliver(ctx, work context.Context, claimed []due, owner string, digest bool) (sent, pending int, failure error) {
	// Each message and the alerts it carries, each alert in exactly one.
	type post struct {
		msg  slack.Message
		dues []due
		what string // for errors: "alert for job …", "digest part k/n"
	}
	var posts []post
	if digest {
		byName := make(map[string]due, len(claimed))
		alerts := make([]slack.Alert, len(claimed))
		for i, d := range claimed {
			byName[d.job.Name] = d
			alerts[i] = slack.Alert{Job: d.job, Previous: d.rec.Status}
		}
		parts := slack.RenderDigest(alerts)
		for k, p := range parts {
			carried := make([]due, len(p.Alerts))
			for i, a := range p.Alerts {
				carried[i] = byName[a.Job.Name]
			}
			posts = append(posts, post{msg: p.Message, dues: carried, what: fmt.Sprintf("digest part %d/%d", k+1, len(parts))})
		}
	} else {
		for _, d := range claimed {
			a := slack.Alert{Job: d.job, Previous: d.rec.Status}
			msg := slack.RenderAlert(a)
			if msg.Fallback == nil {
				minimal := slack.AlertFallback(a)
				msg.Fallback = &minimal
			}
			posts = append(posts, post{msg: msg, dues: []due{d}, what: fmt.Sprintf("alert for job %q", d.job.Name)})
		}
	}

	var next time.Time
	// send posts m, paced after the post before; retry policy is the
	// Retrier's.
	send := func(m slack.Message) error {
		if err := waitUntil(work, w.clock, next); err != nil {
			return fmt.Errorf("stop sending: %w", err)
		}
		next = w.clock.Now().Add(w.opts.Pace)
		err := w.opts.Retrier.Do(work, w.clock, func(ctx context.Context) (bool, error) {
			return w.notifier.Send(ctx, m)
		})
		// Slack asked for quiet: post nothing more to the channel before
		// Retry-After has passed (and nothing more this run if that is
		// past the deadline).
		if after, ok := retryAfter(err); ok {
			next = w.clock.Now().Add(after)
		}
		return err
	}
	for i, p := range posts {
		if err := waitUntil(work, w.clock, next); err != nil {
			var rest []due
			for _, q := range posts[i:] {
				rest = append(rest, q.dues...)
			}
			w.releaseAll(ctx, rest, owner)
			return sent, pending + len(rest), cmp.Or(failure, fmt.Errorf("stop sending: %w", err))
		}
		err := send(p.msg)
		minimal := false
		if errors.Is(err, slack.ErrRejected) && p.msg.Fallback != nil {
			refused := err
			if err = send(*p.msg.Fallback); err == nil {
				minimal = true
				w.log.Warn("slack refused the message; its minimal form went out instead", "message", p.what, "jobs", len(p.dues), "error", refused)
			} else {
				err = fmt.Errorf("%w; minimal form: %w", refused, err)
			}
		}
		for _, d := range p.dues {
			if minimal {
				w.log.Info("alert sent in minimal form", "job", d.job.Name, "status", d.job.Status, "previous", d.rec.Status)
				continue
			}
			w.logDecision(d, err)
		}
		if err != nil {
			w.releaseAll(ctx, p.dues, owner)
			pending += len(p.dues)
			failure = cmp.Or(failure, fmt.Errorf("send %s: %w", p.what, err))
			continue
		}
		s, pn, err := w.commitAll(ctx, p.dues, owner)
		sent, pending, failure = sent+s, pending+pn, cmp.Or(failure, err)
	}
	return sent, pending, failure
}

func (w *Watcher) logDecision(d due, err error) {
	log := w.log.With("job", d.job.Name, "status", d.job.Status, "previous", d.rec.Status)
	if err != nil {
		log.Error("alert not delivered; pending for the next run", "error", err)
		return
	}
	log.Info("alert sent")
}

// commitAll records the alerted status of jobs whose alert Slack accepted.
// It runs on the invocation's context, inside the margin the work context
// left, so an alert that went out is recorded even as the deadline nears.
func (w *Watcher) commitAll(ctx context.Context, claimed []due, owner string) (sent, pending int, failure error) {
	var mu sync.Mutex
	at := w.clock.Now()
	var g errgroup.Group
	g.SetLimit(w.opts.Concurrency)
	for _, d := range claimed {
		g.Go(func() error {
			err := w.store.Commit(ctx, d.job.Name, owner, d.job.Status, d.job.ModifiedAt, at)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				// Slack has it; the lease will expire and the next run will
				// send it once more: the one duplicate a crash can cause.
				w.log.Error("alert sent but not recorded; it may be sent once more", "job", d.job.Name, "error", err)
				pending++
				failure = cmp.Or(failure, fmt.Errorf("alert sent but not recorded: %w", err))
				return nil
			}
			sent++
			return nil
		})
	}
	g.Wait()
	return sent, pending, failure
}

// releaseAll gives up this run's claims so the next run can retry at once.
func (w *Watcher) releaseAll(ctx context.Context, claimed []due, owner string) {
	var g errgroup.Group
	g.SetLimit(w.opts.Concurrency)
	for _, d := range claimed {
		g.Go(func() error {
			if err := w.store.Release(ctx, d.job.Name, owner); err != nil {
				// The lease expires by itself; the alert is still pending.
				w.log.Warn("release claim", "job", d.job.Name, "error", err)
			}
			return nil
		})
	}
	g.Wait()
}

// finish logs the one summary line of a poll, push or apply (kind), with
// attrs first, and returns sum and err.
func (w *Watcher) finish(kind string, sum Summary, start time.Time, err error, attrs ...any) (Summary, error) {
	sum.Duration = w.clock.Now().Sub(start)
	counts := []any{
		"first_run", sum.FirstRun, "listed", sum.Listed, "known", sum.Known, "transitions", sum.Transitions,
		"recorded", sum.Recorded, "alerted", sum.Alerted, "pending", sum.Pending,
		"contended", sum.Contended, "stale", sum.Stale, "digest", sum.Digest,
		"cursor", sum.Cursor, "cursor_advanced", sum.Advanced, "duration_ms", sum.Duration.Milliseconds(),
	}
	if kind != "poll" {
		counts = []any{
			"transitions", sum.Transitions, "recorded", sum.Recorded, "alerted", sum.Alerted,
			"pending", sum.Pending, "contended", sum.Contended, "stale", sum.Stale, "duration_ms", sum.Duration.Milliseconds(),
		}
	}
	attrs = append(attrs, counts...)
	if err != nil {
		w.log.Error(kind+" incomplete", append(attrs, "error", err)...)
		return sum, err
	}
	w.log.Info(kind+" complete", attrs...)
	return sum, nil
}

// waitUntil blocks until clock reaches t or until ctx is done. It returns at
// once when the wait would outlast ctx's deadline.
func waitUntil(ctx context.Context, clock Clock, t time.Time) error {
	d := t.Sub(clock.Now())
	if d <= 0 {
		return ctx.Err()
	}
	if !fits(ctx, d) {
		return fmt.Errorf("wait %v: %w", d.Round(time.Millisecond), errGaveUp)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-clock.After(d):
		return nil
	}
}

func runID() string {
	return rand.Text()[:16]
}
