package watch

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/slack"
	"github.com/labelwatch/labelwatch/internal/state"
)

// A decision is what a run decided for one job: its verdict, the record to
// store, and what to send.
type decision struct {
	job     labeling.Job
	rec     state.Record // the job's record as stored
	verdict Verdict
	next    state.Record   // the record to store: at once when nothing is sent, else once Slack accepted it
	card    *slack.Message // the job's card, to edit when rec has one, else to post; nil for none
	notice  slack.Notice   // progress news to tell
	to      Destination    // where its messages go
	// copy: the decision is a copy of the job's alert to a further
	// destination; rec and next are the copy's record, and previous the
	// status the alert says the job left.
	copy     bool
	previous labeling.Status
	// until is when this run's claim on the job ends, once claimed.
	until time.Time
}

// alert is what d's alert tells.
func (d decision) alert() slack.Alert {
	if d.copy {
		return slack.Alert{Job: d.job, Previous: d.previous}
	}
	return slack.Alert{Job: d.job, Previous: d.rec.Status}
}

// decisions are a run's decided jobs that need something done, each sorted
// by job name.
type decisions struct {
	alerts []decision // transitions into an alerting status
	news   []decision // cards to post or edit, and progress news
	silent []decision // records to store, with no message
}

// A batch is the jobs one state load reads, and what their decisions were:
// the goroutine that loads it writes only its own batch.
type batch struct {
	jobs      []labeling.Job
	decisions []decision
	copies    []decision // of alerts to further destinations
	idle      map[string]state.Idle
}

// decide loads the stored state of the jobs fed, state.MaxBatch at a time
// and concurrently while the feed goes on, decides each, and counts the
// verdicts into sum. A job read twice (it moved between list pages) is
// decided as modified last. It returns what needs doing, and what the
// listings found.
func (w *Watcher) decide(ctx context.Context, r run, jobs feed, sum *Summary) (decisions, listing, error) {
	found := newListing()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(w.opts.Concurrency)
	var loads []*batch
	next := &batch{}
	load := func() {
		b := next
		loads, next = append(loads, b), &batch{}
		g.Go(func() error { return w.load(gctx, r, b) })
	}
	// A job listed twice alike (modified, and in progress) is read once.
	fed := map[string]labeling.Job{}
	for p := range jobs(gctx) {
		if p.err != nil {
			// A failed load cancels the feed too; report the load.
			return decisions{}, found, cmp.Or(g.Wait(), p.err)
		}
		for _, job := range found.sift(p, r) {
			if before, ok := fed[job.Name]; ok && before.Status == job.Status && before.ModifiedAt.Equal(job.ModifiedAt) && before.Counters == job.Counters {
				continue
			}
			fed[job.Name] = job
			next.jobs = append(next.jobs, job)
			if len(next.jobs) == state.MaxBatch {
				load()
			}
		}
	}
	if len(next.jobs) > 0 {
		load()
	}
	if err := g.Wait(); err != nil {
		return decisions{}, found, err
	}

	var all, copies []decision
	for _, b := range loads {
		all = append(all, b.decisions...)
		copies = append(copies, b.copies...)
		for name, idle := range b.idle {
			found.rest(name, idle)
		}
	}
	for _, d := range all {
		delete(found.idle, d.job.Name) // a job listed twice may be idle in one listing only
	}
	// A job listed twice is decided as modified last; so are the copies
	// of its alert.
	newest := func(ds []decision) []decision {
		slices.SortFunc(ds, func(a, b decision) int {
			return cmp.Or(cmp.Compare(a.rec.Job, b.rec.Job), b.job.ModifiedAt.Compare(a.job.ModifiedAt))
		})
		return slices.CompactFunc(ds, func(a, b decision) bool { return a.rec.Job == b.rec.Job })
	}
	all = newest(all)
	last := map[string]time.Time{}
	for _, d := range all {
		last[d.job.Name] = d.job.ModifiedAt
	}
	for _, d := range newest(copies) {
		if at, ok := last[d.job.Name]; !ok || at.Equal(d.job.ModifiedAt) {
			all = append(all, d)
		}
	}

	var out decisions
	for _, d := range all {
		switch {
		case d.verdict == Stale:
			sum.Stale++
			w.log.Info("stale reading ignored", "job", d.job.Name, "read", d.job.Status, "stored", d.rec.Status)
			continue
		case d.verdict == Contended:
			sum.Contended++
			continue
		case d.verdict == Alert:
			out.alerts = append(out.alerts, d)
		case d.speaks():
			out.news = append(out.news, d)
		case d.changes():
			out.silent = append(out.silent, d)
		}
		if d.verdict != Unchanged {
			sum.Transitions++
		}
	}
	return out, found, nil
}

// load reads the records of b's jobs and decides each. Against a cursor, a
// job in progress with nothing to do is idle until time alone may give it
// something to do.
func (w *Watcher) load(ctx context.Context, r run, b *batch) error {
	names := make([]string, len(b.jobs))
	for i, job := range b.jobs {
		names[i] = job.Name
	}
	records, err := w.store.Load(ctx, names)
	if err != nil {
		return err
	}
	var toCopy []copying
	for _, job := range b.jobs {
		rec := records[job.Name]
		rec.Job = job.Name
		dests := r.route(job)
		d := decision{job: job, rec: rec, verdict: r.rules.Decide(job, rec, r.firstRun, r.now), to: dests[0]}
		if d.verdict == Alert && rec.Status == "" && r.cursor != nil && w.endedBefore(job, r.cursor.Origin) {
			d.verdict = Baseline
		}
		r.rules.plan(&d, r.firstRun, r.now, r.homeOf(d.to), r.routed)
		if len(dests) > 1 && r.rules.AlertOn[job.Status] && (d.verdict == Alert || d.verdict == Unchanged) {
			toCopy = append(toCopy, copying{main: d, dests: dests[1:]})
		}
		switch {
		case d.verdict != Unchanged || d.speaks() || d.changes():
			b.decisions = append(b.decisions, d)
		case r.cursor != nil && r.rules.watchesRunning() && job.Status == labeling.StatusInProgress && rec.Version > 0 && rec.Lease == nil:
			if b.idle == nil {
				b.idle = map[string]state.Idle{}
			}
			b.idle[job.Name] = state.Idle{Listing: state.Listing{ModifiedAt: job.ModifiedAt, Status: job.Status}, Counters: job.Counters, Until: r.rules.idleUntil(job, rec)}
		}
	}
	if len(toCopy) > 0 {
		b.copies, err = w.copies(ctx, r, toCopy)
	}
	return err
}

// Verdict is what a cycle does with one listed job.
type Verdict int

// The verdicts, from doing nothing to alerting.
const (
	Unchanged Verdict = iota // stored status equals the listed one
	Stale                    // the listing is older than what is stored (by time or by the state machine); ignore it
	Contended                // another run holds a live claim on the job
	Baseline                 // first run: record without alerting (too old, or not alerting)
	Silent                   // a transition into a status that does not alert
	Alert                    // a transition into an alerting status
)

var verdictNames = [...]string{"unchanged", "stale", "contended", "baseline", "silent", "alert"}

func (v Verdict) String() string { return verdictNames[v] }

// Rules are the transition rules of a cycle, and what it tells of jobs
// still running.
type Rules struct {
	AlertOn  map[labeling.Status]bool
	Lookback time.Duration // first run: how recent a finished job must be to alert

	// Cards keeps one living Slack message per job: posted when a run
	// first sees the job starting, edited as it moves, finished with its
	// outcome as a reply in its thread.
	Cards bool
	// Channel is the ID of the channel cards belong in: the one the
	// notifier posts to now, "" while that is not known. A card in another
	// channel (the credential was changed, or the channel moved) is left
	// there, and the job gets a new card in this one. A run sets it from
	// its notifier.
	Channel string
	// Milestones are the percents done (ascending) whose crossing is told.
	Milestones []int
	// StuckAfter is how long an InProgress job's counters may stand still
	// before a warning; 0 never warns.
	StuckAfter time.Duration
	// FailedShare is the share of processed objects failed for good (0 to
	// 1) above which a running job gets a warning; 0 never warns.
	FailedShare float64
}

// watchesRunning reports whether the rules say anything about jobs that are
// still running, so that a poll must also list the jobs in progress.
func (r Rules) watchesRunning() bool {
	return r.Cards || len(r.Milestones) > 0 || r.StuckAfter > 0 || r.FailedShare > 0
}

// fingerprint names the rules, for Cursor.IdleRules: jobs judged idle under
// other rules are read again.
func (r Rules) fingerprint() string {
	alertOn := slices.Sorted(maps.Keys(r.AlertOn))
	return fmt.Sprintf("alert on %v, lookback %v, cards %v in %q, milestones %v, stuck after %v, failed share %v",
		alertOn, r.Lookback, r.Cards, r.Channel, r.Milestones, r.StuckAfter, r.FailedShare)
}

// idleUntil is when time alone may give a job in progress that plan found
// nothing to do for something to do: storing its moved counters, a quarter
// of StuckAfter after it last stored them, or its stuck warning, StuckAfter
// after they last moved. Zero when neither would come.
func (r Rules) idleUntil(job labeling.Job, rec state.Record) time.Time {
	p := rec.Progress
	switch {
	case r.StuckAfter <= 0 || p.MovedAt.IsZero():
		return time.Time{}
	case p.Counters != job.Counters:
		return p.MovedAt.Add(r.StuckAfter / 4)
	case p.Stuck:
		return time.Time{}
	}
	return p.MovedAt.Add(r.StuckAfter)
}

// Decide says what to do with job given its stored record. firstRun is true
// until a cycle has completed once; now is the cycle's start.
func (r Rules) Decide(job labeling.Job, rec state.Record, firstRun bool, now time.Time) Verdict {
	switch {
	case rec.Live(now):
		return Contended
	case rec.Status == job.Status:
		return Unchanged
	case regresses(rec.Status, job.Status),
		// An older listing is stale too, unless it shows the job further
		// along: a stale read cannot, so the clock that stamped it went
		// back, and ignoring it would lose the alert for good.
		job.ModifiedAt.Before(rec.ModifiedAt) && !advances(rec.Status, job.Status):
		return Stale
	case !r.AlertOn[job.Status]:
		if rec.Status == "" && firstRun {
			return Baseline
		}
		return Silent
	case rec.Status == "" && firstRun && job.ModifiedAt.Before(now.Add(-r.Lookback)):
		return Baseline
	default:
		return Alert
	}
}

// regresses reports whether a job seems to move back along the API's state
// machine (Initializing -> InProgress -> Stopping -> Completed/Failed/
// Stopped), which only a stale listing can show. Unknown statuses never
// regress: a new API value is recorded, not ignored.
func regresses(stored, listed labeling.Status) bool {
	from, to := stored.Stage(), listed.Stage()
	return from >= 0 && to >= 0 && to < from
}

// advances reports whether a job moves forward along the state machine.
func advances(stored, listed labeling.Status) bool {
	from, to := stored.Stage(), listed.Stage()
	return from >= 0 && to >= 0 && to > from
}

// plan fills in what d needs beside its verdict: the record to store and,
// under the card and progress rules, the card to post or edit and the
// progress news to tell. firstRun and now are Decide's.
//
// at is where the job's card belongs now (its first destination's channel,
// if that can hold one), and routed says whether a channel is any of the
// run's destinations'. A card elsewhere than at is left as it was, and the
// job gets a new one at at; but when the job ends, its card is closed in
// any routed channel, wherever its outcome goes.
func (r Rules) plan(d *decision, firstRun bool, now time.Time, at home, routed func(channel string) bool) {
	job, rec := d.job, d.rec
	next := rec
	next.Status, next.ModifiedAt = job.Status, later(rec.ModifiedAt, job.ModifiedAt)
	next.Lease = nil
	moved := rec.Card != nil && r.Cards && (!at.cards || at.channel != "" && rec.Card.Channel != at.channel)
	if d.verdict == Alert {
		moved = rec.Card != nil && r.Cards && r.Channel != "" && !routed(rec.Card.Channel)
	}
	if moved {
		// Not where the job's news goes now: the old card stays as it was.
		next.Card = nil
	}
	d.next = next
	switch d.verdict {
	case Stale, Contended:
		return
	case Alert:
		d.next.Progress = state.Progress{}
		if r.Cards && next.Card != nil {
			d.card = ptr(slack.RenderCard(job))
		}
		return
	}
	if !at.cards {
		r.Cards = false
	}
	if job.Status.Terminal() || !r.watchesRunning() {
		d.next.Progress = state.Progress{}
		return
	}
	// A reading older than the record may show older counters: it is told
	// nothing, so a card never goes back to an older state.
	if d.verdict == Unchanged && job.ModifiedAt.Before(rec.ModifiedAt) {
		d.next = rec
		return
	}

	p := rec.Progress
	tracked := !p.MovedAt.IsZero()
	// Counters that moved are stored when a card shows them (it is written
	// anyway) or, for the stuck warning, once a quarter of STUCK_AFTER has
	// passed since they were stored: a job that labels steadily costs a
	// write per quarter, not one per run, and a stall is told at most a
	// quarter late.
	refresh := !tracked || r.Cards || (r.StuckAfter > 0 && now.Sub(p.MovedAt) >= r.StuckAfter/4)
	if p.Counters != job.Counters && refresh || !tracked {
		p.Counters, p.MovedAt, p.Stuck = job.Counters, now, false
	}
	done := job.Counters.PercentDone()
	crossed := 0
	for _, m := range r.Milestones {
		if done >= float64(m) {
			crossed = m
		}
	}
	if crossed > p.Milestone {
		// A job seen for the first time shows how far it is on its card,
		// or in its outcome: only a crossing seen happen is news.
		if !firstRun && tracked {
			d.notice.Milestone = crossed
		}
		p.Milestone = crossed
	}
	if r.StuckAfter > 0 && job.Status == labeling.StatusInProgress && tracked && !p.Stuck && p.Counters == job.Counters && now.Sub(p.MovedAt) >= r.StuckAfter {
		if !firstRun {
			d.notice.StuckFor = now.Sub(p.MovedAt)
		}
		p.Stuck = true
	}
	if processed := job.Counters.Total + job.Counters.Failed; r.FailedShare > 0 && !p.FailedWarned && processed > 0 {
		if share := float64(job.Counters.Failed) / float64(processed); share > r.FailedShare {
			if !firstRun {
				d.notice.FailedShare = share
			}
			p.FailedWarned = true
		}
	}
	d.next.Progress = p

	// The card is rendered once: to see whether it shows anything new, and
	// to be sent.
	switch {
	case !r.Cards:
	case moved,
		rec.Card == nil && rec.Status == "" && !firstRun && (job.Status == labeling.StatusInitializing || job.Status == labeling.StatusInProgress):
		d.card = ptr(slack.RenderCard(job))
	case rec.Card != nil:
		if card := slack.RenderCard(job); card.Fingerprint() != rec.Card.Shown {
			d.card = &card
		}
	}
}

// speaks reports whether d sends anything to Slack.
func (d decision) speaks() bool {
	return d.verdict == Alert || d.card != nil || d.notice != (slack.Notice{})
}

// changes reports whether d's record differs from the stored one in more
// than the modification time of a job whose status stayed: that alone is
// not worth a write.
func (d decision) changes() bool {
	a, b := d.rec, d.next
	if a.Status != b.Status || a.Version == 0 {
		return true
	}
	pa, pb := a.Progress, b.Progress
	pa.MovedAt, pb.MovedAt = time.Time{}, time.Time{}
	return !a.Progress.MovedAt.Equal(b.Progress.MovedAt) || pa != pb
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func ptr[T any](v T) *T { return &v }
