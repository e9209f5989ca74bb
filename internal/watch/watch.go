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
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/labelwatch/labelwatch/internal/clock"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/slack"
	"github.com/labelwatch/labelwatch/internal/state"
)

// Source reads labeling jobs, within the user's filters.
type Source interface {
	// Modified lists the jobs modified after since, a page at a time.
	Modified(ctx context.Context, since time.Time) iter.Seq2[[]labeling.Job, error]
	// Running lists the jobs in progress, however long ago they were
	// modified, a page at a time.
	Running(ctx context.Context) iter.Seq2[[]labeling.Job, error]
	// Created lists the jobs created after after, oldest first, a page at
	// a time.
	Created(ctx context.Context, after time.Time) iter.Seq2[[]labeling.Job, error]
	// Describe reads one job. It fails with labeling.ErrNotFound when the
	// job does not exist and labeling.ErrNotWatched when it is outside the
	// filters.
	Describe(ctx context.Context, name string) (labeling.Job, error)
}

// Notifier delivers one Slack message (a post, an edit or a reply, as the
// message says), answers where Slack put it, and says whether a failure is
// worth retrying. It states what it can do: a run keeps living cards only
// when it can edit, and keeps them in the channel it posts to. A notifier
// whose credential can change (one read from a secret) states what the
// current one can do, so each run asks anew.
type Notifier interface {
	Send(ctx context.Context, m slack.Message) (at slack.Posted, retry bool, err error)
	Capabilities() slack.Capabilities
}

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
	// ThreadOutcomes keeps the outcome of a job with a card, but for a
	// failure, in the card's thread. By default every outcome is broadcast
	// to the channel too: the card itself was posted long ago, far up.
	ThreadOutcomes bool
}

// DefaultConcurrency is how many state reads and writes a cycle keeps in
// flight unless Options say otherwise. The AWS clients keep as many idle
// connections (app.AWSHTTPClient), so a burst reuses them.
const DefaultConcurrency = 32

// DefaultClockSkew is how far apart the clocks of two Lambda hosts are
// assumed to be at most.
const DefaultClockSkew = 30 * time.Second

// Watcher polls and pushes. It holds no state between invocations: all of it
// is in the Store. It only remembers that it found the cursor seeded, which
// stays so, to list ahead in the next cycle.
type Watcher struct {
	source   Source
	store    state.Store
	notifier Notifier
	log      *slog.Logger
	clock    clock.Clock
	opts     Options
	seeded   atomic.Bool
}

// New returns a Watcher.
func New(source Source, store state.Store, notifier Notifier, log *slog.Logger, clock clock.Clock, opts Options) *Watcher {
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

// A run is what one poll, push or apply holds to, fixed when it starts.
type run struct {
	// rules are Options.Rules as the notifier can follow them now: cards
	// only when it can edit, in the channel it posts to.
	rules       Rules
	fingerprint string // rules.fingerprint(), for Cursor.IdleRules
	firstRun    bool   // the jobs are a first run's: only those ended within Lookback alert
	pushed      bool   // the jobs came with events: they are subject to the push budget
	now         time.Time
}

// begin fixes the settings of a run that starts at now.
func (w *Watcher) begin(now time.Time) run {
	r := run{rules: w.opts.Rules, now: now}
	var can slack.Capabilities
	if w.notifier != nil {
		can = w.notifier.Capabilities()
	}
	r.rules.Cards = r.rules.Cards && can.Edit
	if r.rules.Cards {
		r.rules.Channel = can.Channel
	}
	r.fingerprint = r.rules.fingerprint()
	return r
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
	Running     int // jobs listed as in progress, for their cards and warnings; poll only
	Transitions int // jobs whose status differs from the stored one
	Recorded    int // transitions stored without an alert
	Alerted     int // alerts Slack accepted and that are committed
	Told        int // cards posted or edited and progress news told, committed
	Pending     int // alerts and news not delivered; retried by the next poll
	Deferred    int // pushed alerts and news left to the poll, in a storm of pushes
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
	next    state.Record // the record to store: at once when nothing is sent, else once Slack accepted it
	card    bool         // post the job's card, or edit it when rec has one
	notice  slack.Notice // progress news to tell
}

// Poll runs one scheduled cycle: it lists the jobs modified since the
// cursor, applies them, and advances the cursor once every one is settled.
// It stops DeadlineMargin before ctx's deadline, keeping the cursor, and
// returns an error wrapping ErrPending when any alert is left for the next
// run.
func (w *Watcher) Poll(ctx context.Context) (Summary, error) {
	start := w.clock.Now()
	r := w.begin(start)
	var sum Summary
	work, cancel := w.workContext(ctx)
	defer cancel()

	// Jobs in progress are listed too, however long ago they last changed,
	// when the rules speak of them: a stalled job is not modified. That
	// listing needs no cursor, so a warm function, whose cursor was seeded
	// by an earlier invocation, starts it while it reads the cursor.
	found := &listed{jobs: map[string]state.Listing{}}
	var running feed
	stop := func() {}
	if r.rules.watchesRunning() {
		running = found.inProgress(w.source)
		if w.seeded.Load() {
			running, stop = early(work, running)
		}
	}
	defer stop()

	// 1. Where the last complete cycle ended, and the jobs it saw there.
	cursor, seeded, err := w.store.Cursor(work)
	if err != nil {
		return w.finish("poll", sum, start, err)
	}
	if !seeded {
		r.firstRun = true
		return w.firstRun(ctx, work, r, cursor.Baseline)
	}
	w.seeded.Store(true)
	sum.Cursor = cursor.At
	found.origin = cursor.Origin
	since := cursor.At.Add(-w.opts.Overlap)

	// 2-5. List the jobs modified since then, with those in progress, and
	// apply them as pushed jobs are: their state is loaded a batch at a
	// time while listing goes on, except for those listed as the cursor saw
	// them, which are settled.
	// Jobs in progress listed as the cursor left them idle need no read
	// either, unless the rules changed since.
	jobs := found.changed(w.source, since, cursor)
	if running != nil {
		jobs = together(jobs, found.resting(running, cursor, r.fingerprint, start))
	}
	applied, err := w.apply(ctx, work, r, jobs, found)
	stop() // a listing ahead is over, also when apply stopped early
	sum = add(sum, applied)
	sum.Listed, sum.Known, sum.Running = found.listed, found.known+found.rested, found.running
	if err != nil && !errors.Is(err, ErrPending) {
		return w.finish("poll", sum, start, err)
	}

	// 6. Advance the cursor only when every job of the cycle is committed.
	// The next cycle lists the overlap window before it again; the cursor
	// remembers how this cycle saw the jobs there, so those need no read.
	// It moves to the newest modification listed, or to when the listing
	// began (less the skew between this host's clock and SageMaker's) if
	// that is later: the next cycle lists from OVERLAP before either, and a
	// job modified before that was visible to this listing. So a burst is
	// listed again only by the cycles that start within OVERLAP of it, not
	// by every cycle until some newer job is modified.
	// The cursor is written only when that changes what the next cycle
	// lists or reads: a newer job, a job listed now that would drop out of
	// the window, or a job in progress that became idle or busy. A quiet
	// cycle writes nothing.
	at := later(found.newest, start.Add(-w.opts.ClockSkew))
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
	if sum.Pending == 0 && sum.Contended == 0 && at.After(cursor.At) && moves {
		next := state.Cursor{At: at, Seen: found.seenAfter(at.Add(-w.opts.Overlap)), Idle: found.idle, IdleRules: r.fingerprint}
		if err := w.store.AdvanceCursor(work, next); err != nil {
			return w.finish("poll", sum, start, err)
		}
		sum.Cursor, sum.Advanced = at, true
	}
	return w.finish("poll", sum, start, err)
}

// FirstRunChunk is how many jobs a first run lists before it records them
// and saves how far it got.
const FirstRunChunk = 1000

// firstRun records every job of the account (within the filters) but those
// finished before LOOKBACK, alerting those that ended within it, and then
// sets the cursor, with the first run's start as its Origin. A job finished
// before LOOKBACK needs no record: nothing is alerted about it, and a later
// cycle that lists it without one finds it last modified before the Origin,
// so ended before the first run, and records it silently (endedBefore). In a large account the first run may take several invocations:
// it lists the jobs oldest first, saves after each FirstRunChunk jobs how
// far it got (the Baseline), and a later invocation resumes there, never
// from nothing.
// An invocation that reaches its deadline part-way succeeds: the work left
// is not an error, only more of the first run.
func (w *Watcher) firstRun(ctx, work context.Context, r run, b *state.Baseline) (Summary, error) {
	start := r.now
	sum := Summary{FirstRun: true}
	// The cursor the first run ends with is when it began listing, less
	// the clocks' skew: every job modified before then (less OVERLAP) is
	// in the listing, and the first cycle after it lists every change
	// since, also of jobs a later invocation of the first run no longer
	// lists because they were created before where it resumed.
	base := state.Baseline{Began: start.Add(-w.opts.ClockSkew)}
	if b != nil {
		base = *b
		w.log.Info("first run resumes", "began", base.Began, "created_after", base.CreatedAfter)
	}
	found := &listed{jobs: map[string]state.Listing{}}
	var (
		chunk     []labeling.Job // the jobs to record
		last      labeling.Job   // the last job listed
		sinceSave int            // jobs listed since the baseline was saved
	)
	// record applies the chunk and saves the progress it makes.
	record := func() error {
		if sinceSave == 0 {
			return nil
		}
		if len(chunk) > 0 {
			applied, err := w.apply(ctx, work, r, only(chunk...), nil)
			sum = add(sum, applied)
			if err != nil {
				return err
			}
			if applied.Contended > 0 {
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
		return w.store.SaveBaseline(work, base)
	}
	// Before the first invocation's start, so the same jobs whichever
	// invocation lists them, and never one this invocation would alert.
	finishedLongAgo := base.Began.Add(-w.opts.Rules.Lookback)
	var listErr error
	for page, err := range w.source.Created(work, base.CreatedAfter) {
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
	case errors.Is(listErr, errContended), listErr != nil && !errors.Is(listErr, ErrPending) && work.Err() != nil:
		// The deadline came, or another run holds jobs: what is recorded
		// stays, and the next invocation goes on from there.
		w.log.Info("first run continues next run", "recorded_until", base.CreatedAfter, "why", listErr.Error())
		return w.finish("poll", sum, start, nil)
	case listErr != nil:
		return w.finish("poll", sum, start, listErr)
	}
	// A first run done in one invocation listed every job, as a cycle
	// does, so its cursor may be its newest modification, as a cycle's.
	at := base.Began
	if b == nil {
		at = later(found.newest, base.Began)
	}
	next := state.Cursor{At: at, Seen: found.seenAfter(at.Add(-w.opts.Overlap)), Origin: base.Began}
	if err := w.store.AdvanceCursor(work, next); err != nil {
		return w.finish("poll", sum, start, err)
	}
	w.seeded.Store(true)
	sum.Cursor, sum.Advanced = at, true
	return w.finish("poll", sum, start, nil)
}

// errContended stops a first run at a chunk another run holds jobs of.
var errContended = errors.New("jobs held by another run")

// add adds what apply did to a poll's summary: a cycle's one apply, or
// each chunk of a first run.
func add(sum, applied Summary) Summary {
	sum.Transitions += applied.Transitions
	sum.Recorded += applied.Recorded
	sum.Alerted += applied.Alerted
	sum.Told += applied.Told
	sum.Pending += applied.Pending
	sum.Contended += applied.Contended
	sum.Stale += applied.Stale
	sum.Digest = sum.Digest || applied.Digest
	return sum
}

// Push applies the job an EventBridge event names, as Describe reads it now:
// the event's own status may be late or out of order. It never moves the
// cursor. It fails with labeling.ErrNotFound or labeling.ErrNotWatched, and
// nothing done, for a job that is gone or outside the filters.
func (w *Watcher) Push(ctx context.Context, name string) (Summary, error) {
	start := w.clock.Now()
	r := w.begin(start)
	r.pushed = true
	work, cancel := w.workContext(ctx)
	defer cancel()
	job, err := w.source.Describe(work, name)
	if errors.Is(err, labeling.ErrNotFound) || errors.Is(err, labeling.ErrNotWatched) {
		return Summary{}, err // nothing to do; the caller says why, once
	}
	if err != nil {
		return w.finish("push", Summary{}, start, err, "job", name)
	}
	sum, err := w.apply(ctx, work, r, only(job), nil)
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
	sum, err := w.apply(ctx, work, w.begin(start), only(jobs...), nil)
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
func (w *Watcher) apply(ctx, work context.Context, r run, jobs feed, found *listed) (Summary, error) {
	var sum Summary
	owner := runID()
	now := r.now

	// Load the stored state of the jobs and decide each.
	dues, err := w.decide(work, r, jobs, found)
	if err != nil {
		return sum, err
	}
	var silent, alerts, news []due
	for _, d := range dues {
		switch {
		case d.verdict == Stale:
			sum.Stale++
			w.log.Info("stale reading ignored", "job", d.job.Name, "read", d.job.Status, "stored", d.rec.Status)
			continue
		case d.verdict == Contended:
			sum.Contended++
			continue
		case d.verdict == Alert:
			alerts = append(alerts, d)
		case d.speaks():
			news = append(news, d)
		case d.changes():
			silent = append(silent, d)
		}
		if d.verdict != Unchanged {
			sum.Transitions++
		}
	}
	news, silent = w.ration(news, silent)
	if r.pushed && len(alerts)+len(news) > 0 {
		over, err := w.pushStorm(work, now)
		if err != nil {
			return sum, err
		}
		if over {
			// The poll lists these jobs within one period and digests them
			// with the rest of the storm.
			sum.Deferred = len(alerts) + len(news)
			alerts, news = nil, nil
		}
	}

	// Record what needs no message and claim what does, together.
	claimed, unsure, contended, err := w.recordAndClaim(work, silent, append(alerts, news...), owner, now)
	sum.Recorded = len(silent) - contended.silent
	sum.Contended += contended.silent + contended.alerts
	if err != nil {
		// A claim that failed otherwise than on its condition (the
		// deadline came while it was in flight) may have been written:
		// released too, so that the next run need not wait for it to
		// expire. A release of a claim never written changes nothing.
		w.releaseAll(ctx, append(claimed, unsure...), owner)
		sum.Pending += len(claimed)
		return sum, err
	}

	// Send, and commit each job once Slack accepted what was sent for it:
	// the alerts first, then the news of jobs still running.
	claimedAlerts, claimedNews := split(claimed)
	sum.Digest = len(claimedAlerts) > w.opts.DigestThreshold
	d := w.deliver(ctx, work, w.posts(claimedAlerts, claimedNews, sum.Digest), owner)
	sum.Alerted, sum.Told, sum.Pending = d.alerted, d.told, d.pending
	if sum.Pending > 0 {
		// The first failure says why (invalid_auth, a timeout, ...), so the
		// invocation's error is enough to act on without reading the logs.
		return sum, fmt.Errorf("%d of %d jobs' messages not delivered, retried next run: %w: %w", sum.Pending, len(claimed), ErrPending, d.failure)
	}
	return sum, nil
}

// split separates claimed alerts from claimed news.
func split(claimed []due) (alerts, news []due) {
	for _, d := range claimed {
		if d.verdict == Alert {
			alerts = append(alerts, d)
		} else {
			news = append(news, d)
		}
	}
	return alerts, news
}

// pushStorm reports whether more jobs than DigestThreshold were pushed to
// Slack within the current minute, counting this one: the shared budget of
// all the function's instances, kept in the store. Past it, each pushed job
// is left to the next poll, which digests them: a storm of events (400 jobs
// ending at once is 400 invocations) must not become 400 messages.
func (w *Watcher) pushStorm(ctx context.Context, now time.Time) (bool, error) {
	minute := now.UTC().Truncate(time.Minute)
	n, err := w.store.Tally(ctx, "push-"+minute.Format("200601021504"), minute.Add(time.Hour))
	if err != nil {
		return false, fmt.Errorf("count pushes: %w", err)
	}
	if n > w.opts.DigestThreshold {
		w.log.Info("storm of pushes: job left to the poll, which digests it", "pushed_this_minute", n, "digest_threshold", w.opts.DigestThreshold)
		return true, nil
	}
	return false, nil
}

// MaxNews is the most card posts and edits and progress messages one run
// sends. Slack takes about 50 chat.update calls a minute (Web API tier 3);
// a run on a one-minute schedule keeps well inside that, with room left for
// the alerts. Jobs left over are told by a later run: the listing of jobs
// in progress finds them again.
const MaxNews = 20

// cardEditPace is the least time between two card edits: chat.update is a
// tier-3 method, about 50 calls a minute.
const cardEditPace = 1200 * time.Millisecond

// ration keeps the news one run can send. When more jobs than
// DigestThreshold start in one run, none of them gets a card (their outcome
// is alerted as any other's): a storm of cards would bury the channel. The
// news of jobs in progress, which the next poll lists again, is limited to
// MaxNews: progress news first, then the cards whose record is oldest, so
// that every job's card is edited in turn; the others wait for a later run,
// their record as it is. Every other piece of news is kept, so that the
// cursor never moves past it untold.
func (w *Watcher) ration(news, silent []due) (kept, quiet []due) {
	fresh := 0
	for _, d := range news {
		if d.card && d.rec.Card == nil {
			fresh++
		}
	}
	if fresh > w.opts.DigestThreshold {
		w.log.Info("too many jobs started at once for cards; their outcomes are alerted as usual", "jobs", fresh, "digest_threshold", w.opts.DigestThreshold)
	}
	var running []due
	for _, d := range news {
		if fresh > w.opts.DigestThreshold && d.card && d.rec.Card == nil {
			d.card = false
		}
		switch {
		case d.speaks() && d.job.Status == labeling.StatusInProgress:
			running = append(running, d)
		case d.speaks():
			kept = append(kept, d)
		case d.changes():
			silent = append(silent, d)
		}
	}
	slices.SortStableFunc(running, func(a, b due) int {
		told := func(d due) int {
			if d.notice != (slack.Notice{}) {
				return 0
			}
			return 1
		}
		return cmp.Or(cmp.Compare(told(a), told(b)), a.rec.ModifiedAt.Compare(b.rec.ModifiedAt))
	})
	if len(running) > MaxNews {
		w.log.Info("cards and progress news left for a later run", "jobs", len(running)-MaxNews, "most_per_run", MaxNews)
		running = running[:MaxNews]
	}
	return append(kept, running...), silent
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
	newest  time.Time // the newest modification listed
	oldest  time.Time // the oldest modification listed
	listed  int
	known   int // jobs listed as the cursor saw them, decided without a read
	running int // jobs listed as in progress
	// jobs is every job listed, as listed. A job listed twice, differently,
	// has a zero Listing, which no cursor keeps: the cycle acts on one of
	// the two listings only, so the next cycle reads the job again.
	jobs map[string]state.Listing

	// origin is the cursor's Origin: a job with no record that ended
	// before it was left unrecorded by the first run (endedBefore).
	origin time.Time

	mu     sync.Mutex // guards idle and rested: decide's loads add to idle concurrently
	rested int        // jobs in progress listed as the cursor left them idle, decided without a read
	// idle is the jobs in progress listed with nothing to do, as listed,
	// for the next cursor's Idle: those decided so, and those listed as
	// the cursor left them idle.
	idle map[string]state.Idle
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

// rest remembers job, listed in progress with nothing to do until until.
func (c *listed) rest(job labeling.Job, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idle == nil {
		c.idle = map[string]state.Idle{}
	}
	c.idle[job.Name] = state.Idle{Listing: state.Listing{ModifiedAt: job.ModifiedAt, Status: job.Status}, Counters: job.Counters, Until: until}
}

// busy forgets the jobs that had something to do, however else they were
// listed too.
func (c *listed) busy(dues []due) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range dues {
		delete(c.idle, d.job.Name)
	}
}

// resting feeds f's jobs but for those listed as the cursor left them
// idle, under the same rules, before their Until: those need no read, and
// stay idle.
func (c *listed) resting(f feed, cursor state.Cursor, rules string, now time.Time) feed {
	if len(cursor.Idle) == 0 || cursor.IdleRules != rules {
		return f
	}
	return func(ctx context.Context) iter.Seq2[[]labeling.Job, error] {
		return func(yield func([]labeling.Job, error) bool) {
			for page, err := range f(ctx) {
				if err != nil {
					yield(nil, err)
					return
				}
				busy := make([]labeling.Job, 0, len(page))
				for _, job := range page {
					if !cursor.Rests(job, now) {
						busy = append(busy, job)
						continue
					}
					c.mu.Lock()
					c.rested++
					if c.idle == nil {
						c.idle = map[string]state.Idle{}
					}
					c.idle[job.Name] = cursor.Idle[job.Name]
					c.mu.Unlock()
				}
				if !yield(busy, nil) {
					return
				}
			}
		}
	}
}

// add counts one listed job.
func (c *listed) add(job labeling.Job) {
	c.listed++
	if job.ModifiedAt.After(c.newest) {
		c.newest = job.ModifiedAt
	}
	if c.listed == 1 || job.ModifiedAt.Before(c.oldest) {
		c.oldest = job.ModifiedAt
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

// inProgress feeds the jobs source lists as in progress, and counts them.
// They are not part of the cursor's listing: its window and Seen are the
// modified jobs' only.
func (c *listed) inProgress(source Source) feed {
	return func(ctx context.Context) iter.Seq2[[]labeling.Job, error] {
		return func(yield func([]labeling.Job, error) bool) {
			for page, err := range source.Running(ctx) {
				if err != nil {
					yield(nil, fmt.Errorf("list jobs in progress: %w", err))
					return
				}
				c.running += len(page)
				if !yield(page, nil) {
					return
				}
			}
		}
	}
}

// paged is one page of a feed, or its error.
type paged struct {
	jobs []labeling.Job
	err  error
}

// pump sends f's pages to pages until f ends, fails (the error is sent
// too) or ctx ends.
func pump(ctx context.Context, f feed, pages chan<- paged) {
	for page, err := range f(ctx) {
		select {
		case pages <- paged{page, err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// together feeds the pages of every feed as they come, listing all of them
// at once: a cycle's two listings cost the time of the longer, not of both.
// It stops at the first error, or when its consumer stops.
func together(feeds ...feed) feed {
	return func(ctx context.Context) iter.Seq2[[]labeling.Job, error] {
		return func(yield func([]labeling.Job, error) bool) {
			ctx, cancel := context.WithCancel(ctx)
			pages := make(chan paged)
			var wg sync.WaitGroup
			for _, f := range feeds {
				wg.Go(func() { pump(ctx, f, pages) })
			}
			go func() {
				wg.Wait()
				close(pages)
			}()
			defer func() {
				cancel()
				for range pages { // until every lister has stopped
				}
			}()
			for p := range pages {
				if !yield(p.jobs, p.err) || p.err != nil {
					return
				}
			}
		}
	}
}

// early starts listing f now, before its consumer asks: it feeds the pages
// listed ahead, then the rest as they come. stop ends a listing nobody
// consumes; it is safe to call after the feed was consumed.
func early(ctx context.Context, f feed) (ahead feed, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	pages := make(chan paged, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(pages)
		pump(ctx, f, pages)
	}()
	stop = func() {
		cancel()
		<-done
	}
	ahead = func(ctx context.Context) iter.Seq2[[]labeling.Job, error] {
		return func(yield func([]labeling.Job, error) bool) {
			for {
				select {
				case p, ok := <-pages:
					if !ok || !yield(p.jobs, p.err) || p.err != nil {
						return
					}
				case <-ctx.Done():
					yield(nil, ctx.Err())
					return
				}
			}
		}
	}
	return ahead, stop
}

// decide loads the stored state of the jobs fed, MaxBatch at a time and
// concurrently, while the feed goes on, and returns the jobs to act on,
// sorted by name, one per job: a job read twice (it moved between list
// pages) is acted on as modified last.
func (w *Watcher) decide(ctx context.Context, r run, jobs feed, found *listed) ([]due, error) {
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
				d := due{job: job, rec: rec, verdict: r.rules.Decide(job, rec, r.firstRun, r.now)}
				if d.verdict == Alert && rec.Status == "" && found != nil && w.endedBefore(job, found.origin) {
					d.verdict = Baseline
				}
				r.rules.plan(&d, r.firstRun, r.now)
				switch {
				case d.verdict != Unchanged || d.speaks() || d.changes():
					dues = append(dues, d)
				case found != nil && r.rules.watchesRunning() && job.Status == labeling.StatusInProgress && rec.Version > 0 && rec.Lease == nil:
					found.rest(job, r.rules.idleUntil(job, rec))
				}
			}
			return nil
		})
	}
	var batch []labeling.Job
	// A job listed twice alike (modified, and in progress) is read once.
	fed := map[string]labeling.Job{}
	for page, err := range jobs(gctx) {
		if err != nil {
			// A failed load cancels the feed too; report the load.
			return nil, cmp.Or(g.Wait(), err)
		}
		for _, job := range page {
			if before, ok := fed[job.Name]; ok && before.Status == job.Status && before.ModifiedAt.Equal(job.ModifiedAt) && before.Counters == job.Counters {
				continue
			}
			fed[job.Name] = job
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
	if found != nil {
		found.busy(dues) // a job listed twice may be idle in one listing only
	}
	return slices.CompactFunc(dues, func(a, b due) bool { return a.job.Name == b.job.Name }), nil
}

type contention struct{ silent, alerts int }

// recordAndClaim stores the silent transitions and claims the alerts, all
// concurrently. It returns the alerts this run now owns, and those whose
// claim failed for another reason than its condition: written or not.
func (w *Watcher) recordAndClaim(ctx context.Context, silent, alerts []due, owner string, now time.Time) (claimed, unsure []due, lost contention, err error) {
	var mu sync.Mutex
	lease := state.Lease{Owner: owner, Until: w.leaseUntil(ctx, now)}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(w.opts.Concurrency)
	for _, d := range silent {
		g.Go(func() error {
			err := w.store.Save(gctx, d.rec, d.next)
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
				w.log.Info("job claimed by another run", "job", d.job.Name, "status", d.job.Status)
				return nil
			case err != nil:
				unsure = append(unsure, d)
				return err
			}
			claimed = append(claimed, d)
			return nil
		})
	}
	err = g.Wait()
	slices.SortFunc(claimed, func(a, b due) int { return cmp.Compare(a.job.Name, b.job.Name) })
	return claimed, unsure, lost, err
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

// A post is one Slack message, or a job's card and what goes under it,
// and the jobs it carries: each claimed job is in exactly one post.
type post struct {
	steps []step
	dues  []due
	what  string // for errors: "alert for job …", "digest part k/n"
	// finish are the jobs of a digest part whose cards are edited to their
	// end once the part is committed: the digest told their outcome.
	finish []due
}

// A step is one message of a post.
type step struct {
	msg  slack.Message
	role role
}

type role int

const (
	alone     role = iota // a message of its own
	cardStep              // the job's card: edited when it has one, else posted
	replyStep             // a reply under the job's card, or a message of its own without one
)

// posts turns the claimed jobs into posts: the alerts one each or, when
// digest is set, as a digest of one or more messages; then the news. A job
// with a card gets its card edited and its alert or news as a reply in the
// card's thread, broadcast to the channel too (a failure always, the other
// outcomes unless ThreadOutcomes).
func (w *Watcher) posts(alerts, news []due, digest bool) []post {
	var posts []post
	if digest {
		byName := make(map[string]due, len(alerts))
		all := make([]slack.Alert, len(alerts))
		for i, d := range alerts {
			byName[d.job.Name] = d
			all[i] = slack.Alert{Job: d.job, Previous: d.rec.Status}
		}
		parts := slack.RenderDigest(all)
		for k, p := range parts {
			carried := make([]due, len(p.Alerts))
			var finish []due
			for i, a := range p.Alerts {
				carried[i] = byName[a.Job.Name]
				if carried[i].card {
					finish = append(finish, carried[i])
				}
			}
			posts = append(posts, post{steps: []step{{msg: p.Message}}, dues: carried, finish: finish, what: fmt.Sprintf("digest part %d/%d", k+1, len(parts))})
		}
		alerts = nil
	}
	for _, d := range alerts {
		a := slack.Alert{Job: d.job, Previous: d.rec.Status}
		msg := slack.RenderAlert(a)
		if msg.Fallback == nil {
			minimal := slack.AlertFallback(a)
			msg.Fallback = &minimal
		}
		p := post{dues: []due{d}, what: fmt.Sprintf("alert for job %q", d.job.Name)}
		if d.card {
			msg.Broadcast = d.job.Status == labeling.StatusFailed || !w.opts.ThreadOutcomes
			p.steps = []step{{msg: slack.RenderCard(d.job), role: cardStep}, {msg: msg, role: replyStep}}
		} else {
			p.steps = []step{{msg: msg}}
		}
		posts = append(posts, p)
	}
	for _, d := range news {
		p := post{dues: []due{d}, what: fmt.Sprintf("news of job %q", d.job.Name)}
		if d.card {
			p.steps = append(p.steps, step{msg: slack.RenderCard(d.job), role: cardStep})
		}
		if d.notice != (slack.Notice{}) {
			msg := slack.RenderNotice(d.job, d.notice)
			// A warning is for the channel; a milestone stays in the thread.
			msg.Broadcast = d.notice.StuckFor > 0 || d.notice.FailedShare > 0
			p.steps = append(p.steps, step{msg: msg, role: replyStep})
		}
		posts = append(posts, p)
	}
	return posts
}

// delivery counts what deliver did.
type delivery struct {
	alerted, told, pending int
	failure                error // the first, when some are pending
}

// deliver sends the posts in order, paced to Slack's rate, and commits the
// jobs of each once Slack accepted every message of it: a digest that fails
// part way leaves only the alerts of its unsent messages pending. When Slack
// refuses a message itself (slack.ErrRejected: too long, invalid blocks),
// its minimal text form goes out instead, so that no alert is blocked for
// ever by a payload Slack will never take.
func (w *Watcher) deliver(ctx, work context.Context, posts []post, owner string) delivery {
	var (
		out       delivery
		next      time.Time
		finishing int // cards of digested jobs edited
	)
	// send sends m, paced after the message before; retry policy is the
	// Retrier's.
	send := func(m slack.Message) (slack.Posted, error) {
		if err := waitUntil(work, w.clock, next); err != nil {
			return slack.Posted{}, fmt.Errorf("stop sending: %w", err)
		}
		pace := w.opts.Pace
		if m.Edit != (slack.Posted{}) {
			pace = max(pace, cardEditPace)
		}
		next = w.clock.Now().Add(pace)
		var at slack.Posted
		err := w.opts.Retrier.Do(work, w.clock, func(ctx context.Context) (bool, error) {
			posted, retry, err := w.notifier.Send(ctx, m)
			at = posted
			return retry, err
		})
		// Slack asked for quiet: post nothing more to the channel before
		// Retry-After has passed (and nothing more this run if that is
		// past the deadline).
		if after, ok := retryAfter(err); ok {
			next = w.clock.Now().Add(after)
		}
		return at, err
	}
	for i, p := range posts {
		if err := waitUntil(work, w.clock, next); err != nil {
			var rest []due
			for _, q := range posts[i:] {
				rest = append(rest, q.dues...)
			}
			w.releaseAll(ctx, rest, owner)
			out.pending += len(rest)
			out.failure = cmp.Or(out.failure, fmt.Errorf("stop sending: %w", err))
			return out
		}
		card, minimal, err := w.speak(send, p)
		for _, d := range p.dues {
			w.logDecision(d, minimal, err)
		}
		if err != nil {
			w.releaseAll(ctx, p.dues, owner)
			out.pending += len(p.dues)
			out.failure = cmp.Or(out.failure, fmt.Errorf("send %s: %w", p.what, err))
			continue
		}
		dues := p.dues
		if len(dues) == 1 && card != nil {
			dues = []due{dues[0]}
			dues[0].next.Card = card
		}
		c := w.commitAll(ctx, dues, owner)
		out.alerted, out.told, out.pending = out.alerted+c.alerted, out.told+c.told, out.pending+c.pending
		out.failure = cmp.Or(out.failure, c.failure)
		finishing = w.finishCards(send, p.finish, finishing)
	}
	return out
}

// finishCards edits the cards of jobs a digest part told the end of, once
// the part is committed, MaxNews of them at most in a run (done counts those
// edited so far). An edit is not claimed: the job has ended and its alert is
// recorded, so no other run touches its card; one that fails or does not fit
// leaves the card as it was, and is logged.
func (w *Watcher) finishCards(send func(slack.Message) (slack.Posted, error), jobs []due, done int) int {
	for i, d := range jobs {
		if done >= MaxNews {
			w.log.Info("cards of digested jobs left as they were", "jobs", len(jobs)-i, "most_per_run", MaxNews)
			return done
		}
		m := slack.RenderCard(d.job)
		m.Edit = slack.Posted{Channel: d.next.Card.Channel, TS: d.next.Card.TS}
		if _, err := send(m); err != nil {
			w.log.Warn("card of a digested job not edited", "job", d.job.Name, "error", err)
			if errors.Is(err, slack.ErrNotEditable) {
				continue
			}
			return MaxNews // Slack failing, or the deadline near: no more this run
		}
		done++
	}
	return done
}

// speak sends the steps of p in order and returns the job's card as it
// now is (nil when it has none), and whether a message went out in its
// minimal form. A card that can no longer be edited (deleted, too old) is
// posted anew, and a reply whose card is gone goes to the channel.
func (w *Watcher) speak(send func(slack.Message) (slack.Posted, error), p post) (card *state.Card, minimal bool, err error) {
	if len(p.dues) == 1 && p.dues[0].next.Card != nil {
		c := *p.dues[0].next.Card
		card = &c
	}
	// once sends m, or its minimal form when Slack refuses m itself.
	once := func(m slack.Message) (slack.Posted, error) {
		at, err := send(m)
		if !errors.Is(err, slack.ErrRejected) || m.Fallback == nil {
			return at, err
		}
		refused := err
		f := *m.Fallback
		f.Edit, f.Thread, f.Broadcast = m.Edit, m.Thread, m.Broadcast
		if at, err = send(f); err != nil {
			return at, fmt.Errorf("%w; minimal form: %w", refused, err)
		}
		minimal = true
		w.log.Warn("slack refused the message; its minimal form went out instead", "message", p.what, "jobs", len(p.dues), "error", refused)
		return at, nil
	}
	for _, s := range p.steps {
		m := s.msg
		switch s.role {
		case alone:
			_, err = once(m)
		case cardStep:
			if card != nil {
				m.Edit = slack.Posted{Channel: card.Channel, TS: card.TS}
			}
			at, err := once(m)
			if errors.Is(err, slack.ErrNotEditable) {
				w.log.Warn("card can no longer be edited; posting it anew", "job", p.dues[0].job.Name, "error", err)
				m.Edit = slack.Posted{}
				at, err = once(m)
			}
			if err != nil {
				return card, minimal, err
			}
			card = nil
			if at != (slack.Posted{}) {
				card = &state.Card{Channel: at.Channel, TS: at.TS, Shown: s.msg.Fingerprint()}
			}
		case replyStep:
			if card == nil {
				m.Broadcast = false
			} else {
				m.Thread = slack.Posted{Channel: card.Channel, TS: card.TS}
			}
			_, err = once(m)
			if errors.Is(err, slack.ErrNotEditable) {
				m.Thread, m.Broadcast = slack.Posted{}, false
				_, err = once(m)
			}
		}
		if err != nil {
			return card, minimal, err
		}
	}
	return card, minimal, nil
}

func (w *Watcher) logDecision(d due, minimal bool, err error) {
	log := w.log.With("job", d.job.Name, "status", d.job.Status, "previous", d.rec.Status)
	what := "alert"
	if d.verdict != Alert {
		what = "news"
		log = log.With("card", d.card, "milestone", d.notice.Milestone, "stuck_for", d.notice.StuckFor.String(), "failed_share", d.notice.FailedShare)
	}
	switch {
	case err != nil:
		log.Error(what+" not delivered; pending for the next run", "error", err)
	case minimal:
		log.Info(what + " sent in minimal form")
	default:
		log.Info(what + " sent")
	}
}

// commitAll stores the records of jobs whose messages Slack accepted. It
// runs on the invocation's context, inside the margin the work context
// left, so a message that went out is recorded even as the deadline nears.
func (w *Watcher) commitAll(ctx context.Context, dues []due, owner string) delivery {
	var (
		mu  sync.Mutex
		out delivery
	)
	at := w.clock.Now()
	var g errgroup.Group
	g.SetLimit(w.opts.Concurrency)
	for _, d := range dues {
		g.Go(func() error {
			next := d.next
			if d.verdict == Alert {
				next.AlertedAt = at
			}
			err := w.store.Commit(ctx, owner, next)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				// Slack has it; the lease will expire and the next run will
				// send it once more: the one duplicate a crash can cause.
				w.log.Error("message sent but not recorded; it may be sent once more", "job", d.job.Name, "error", err)
				out.pending++
				out.failure = cmp.Or(out.failure, fmt.Errorf("message sent but not recorded: %w", err))
			case d.verdict == Alert:
				out.alerted++
			default:
				out.told++
			}
			return nil
		})
	}
	g.Wait()
	return out
}

// releaseAll gives up this run's claims so the next run can retry at once.
func (w *Watcher) releaseAll(ctx context.Context, claimed []due, owner string) {
	var g errgroup.Group
	g.SetLimit(w.opts.Concurrency)
	for _, d := range claimed {
		g.Go(func() error {
			err := w.store.Release(ctx, d.job.Name, owner)
			switch {
			case errors.Is(err, state.ErrConflict):
				// Not held by this run (a claim never written): nothing
				// to release.
			case err != nil:
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
		"running", sum.Running, "recorded", sum.Recorded, "alerted", sum.Alerted, "told", sum.Told, "pending", sum.Pending,
		"contended", sum.Contended, "stale", sum.Stale, "digest", sum.Digest,
		"cursor", sum.Cursor, "cursor_advanced", sum.Advanced, "duration_ms", sum.Duration.Milliseconds(),
	}
	if kind != "poll" {
		counts = []any{
			"transitions", sum.Transitions, "recorded", sum.Recorded, "alerted", sum.Alerted, "told", sum.Told,
			"pending", sum.Pending, "deferred", sum.Deferred, "contended", sum.Contended, "stale", sum.Stale, "duration_ms", sum.Duration.Milliseconds(),
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
func waitUntil(ctx context.Context, clock clock.Clock, t time.Time) error {
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
