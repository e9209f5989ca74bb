// Package state keeps what labelwatch knows between runs: the last status it
// saw for each labeling job, claims on alerts being sent, the listing
// cursor, and counters that concurrent runs share. DynamoStore is the
// deployed store; FileStore serves local runs.
package state

import (
	"context"
	"errors"
	"time"

	"github.com/labelwatch/labelwatch/internal/labeling"
)

// ErrConflict means the record changed since it was read (another run wrote
// it, or holds a live claim on it). The caller re-reads; nothing was written.
var ErrConflict = errors.New("job state changed concurrently")

// MaxBatch is the most job names one Load call takes (BatchGetItem's limit).
const MaxBatch = 100

// Record is the stored state of one labeling job.
type Record struct {
	Job        string
	Status     labeling.Status // last status committed; "" if none yet
	ModifiedAt time.Time       // the job's LastModifiedTime when Status was committed
	AlertedAt  time.Time       // when the last alert for this job was accepted by Slack; zero if never
	// Version counts writes to the record; 0 means no record exists. Every
	// write is conditional on the version the writer read.
	Version int64
	Lease   *Lease // a claim on an alert being sent, or nil
	// Card is the job's living Slack message, nil when none was posted.
	Card *Card
	// Progress is what labelwatch has told about the job while it ran.
	Progress Progress
}

// Card is where a job's living Slack message is, and what it shows. Channel
// and TS are what Slack answered when the message was posted: an edit of the
// message needs both.
type Card struct {
	Channel, TS string
	Shown       string // the fingerprint of what the card shows now
}

// Progress is what labelwatch saw and said of an unfinished job. It is kept
// so that a run can tell a stall from progress, and announces each milestone
// and warning once, not once a run.
type Progress struct {
	Counters     labeling.Counters // as last seen
	MovedAt      time.Time         // when Counters were first seen as they are; zero when not tracked
	Milestone    int               // the highest progress milestone (percent) announced; 0 none
	Stuck        bool              // a stuck warning went out for the stall that began at MovedAt
	FailedWarned bool              // the failed-objects warning went out
}

// Lease is a run's claim on sending one alert. Until it expires no other run
// may send that alert or change the record; after it expires (the claimant
// died mid-send) another run may claim again.
type Lease struct {
	Owner  string          // the run holding the claim
	Target labeling.Status // the status being alerted
	Until  time.Time
}

// Live reports whether the record holds a claim that has not expired at now.
func (r Record) Live(now time.Time) bool {
	return r.Lease != nil && now.Before(r.Lease.Until)
}

// Cursor is where the last complete cycle ended: the newest LastModifiedTime
// it listed, and the jobs it listed within OVERLAP before that, as it listed
// them. The cursor is only written once every job of its cycle is committed,
// so a job that a later listing shows exactly as Seen has it needs no read of
// its state: nothing about it changed that the store does not already hold.
type Cursor struct {
	At   time.Time
	Seen map[string]Listing // by job name; at most MaxSeen of them
	// Idle is the jobs in progress the cycle listed and had nothing to do
	// for, as listed: a later cycle that lists one of them alike, before
	// its Until, needs no read of its state. By job name; at most MaxIdle.
	Idle map[string]Idle
	// IdleRules names the rules the Idle jobs were judged idle under: a
	// cycle under other rules (a changed STUCK_AFTER, say) reads them all.
	IdleRules string
	// Origin is when the first run began (its Baseline's Began): a job
	// created before it that has no record was finished when the first run
	// listed it, long enough ago that it was not alerted. Zero in tables
	// whose first run predates it. AdvanceCursor keeps the stored Origin
	// when c has none.
	Origin time.Time
	// Baseline is a first run's progress, while it has not finished; set
	// only when Store.Cursor's ok is false.
	Baseline *Baseline
}

// Baseline is how far a first run that has not finished got: the next
// invocation resumes there instead of starting over.
type Baseline struct {
	// Began is when the first run's first invocation began listing, less
	// the clocks' skew: the cursor the first run ends with.
	Began time.Time
	// CreatedAfter: every job created up to it is recorded; the listing
	// resumes with the jobs created after it.
	CreatedAfter time.Time
}

// Listing is one job as a listing showed it: enough to tell whether the job
// changed since.
type Listing struct {
	ModifiedAt time.Time // LastModifiedTime, kept to the millisecond
	Status     labeling.Status
}

// Saw reports whether c's cycle listed job exactly as it is listed now: the
// same LastModifiedTime to the millisecond and the same status. The status
// is compared too so that a second change stamped in the same millisecond
// as the first (after the listing that saw the first) is not taken for the
// first.
func (c Cursor) Saw(job labeling.Job) bool {
	seen, ok := c.Seen[job.Name]
	return ok && seen.Status == job.Status && millis(seen.ModifiedAt) == millis(job.ModifiedAt)
}

// Idle is a job in progress as a cycle listed it when that cycle found
// nothing to do for it and nothing pending about it.
type Idle struct {
	Listing
	Counters labeling.Counters
	// Until is when time alone may give the job something to do (its stuck
	// warning, or its moved counters' store); zero when nothing would.
	Until time.Time
}

// Rests reports whether job is listed exactly as c's cycle left it idle
// (the same LastModifiedTime to the millisecond, status and counters) and
// now is before the idle entry's Until: nothing about it can have changed
// that its stored state does not already account for.
func (c Cursor) Rests(job labeling.Job, now time.Time) bool {
	idle, ok := c.Idle[job.Name]
	return ok && idle.Status == job.Status && millis(idle.ModifiedAt) == millis(job.ModifiedAt) &&
		idle.Counters == job.Counters && (idle.Until.IsZero() || now.Before(idle.Until))
}

// KeepsIdle reports whether a cursor written with idle, judged idle under
// rules, would keep the idle jobs c keeps: the same jobs (of them, the
// MaxIdle whose names sort first), each listed alike with the same Until,
// to the millisecond. A cycle need not write its cursor for them when it
// does.
func (c Cursor) KeepsIdle(idle map[string]Idle, rules string) bool {
	kept, err := keepIdle(idle)
	if err != nil || len(kept) != len(c.Idle) || len(kept) > 0 && c.IdleRules != rules {
		return false
	}
	for job, b := range kept {
		a, ok := c.Idle[job]
		if !ok || a.Status != b.Status || a.Counters != b.Counters || !a.ModifiedAt.Equal(b.ModifiedAt) || !a.Until.Equal(b.Until) {
			return false
		}
	}
	return true
}

// MaxIdle is the most idle jobs a cursor remembers (those whose names sort
// first). Ground Truth's limits keep the jobs in progress to a few hundred;
// each takes under 120 bytes of the cursor item. A job left out is read.
const MaxIdle = 1000

// MaxSeen is the most jobs a cursor remembers; AdvanceCursor keeps those
// modified last. It bounds the cursor item: with the longest job names (63
// characters) and statuses, MaxSeen jobs take about 180 KB of DynamoDB's
// 400 KB item limit, and a strongly consistent read of them about 45 read
// units, where reading their records would take 2,000. A job left out is
// only read again (as every job was before the cursor remembered any), which
// is safe. So many jobs fall in the overlap window only when thousands are
// modified within OVERLAP.
const MaxSeen = 2000

// Store is what the watch cycle needs from persistent state. Every write is
// conditional: it returns ErrConflict (wrapped) and changes nothing when the
// record's Version is no longer the one in prev.
//
// Save and Commit write the whole state a record carries, from next: Job,
// Status, ModifiedAt, AlertedAt, Card and Progress, each exactly as given, so
// a zero time, a nil Card or a zero Progress removes what was stored. (The
// store owns Version and Lease; theirs in next are ignored.) A caller that
// changes one part passes the record it read with that part changed. Times
// are kept to the millisecond.
type Store interface {
	// Cursor returns the cursor the last complete cycle left; ok is false
	// before the first complete cycle, and c then holds only the Baseline
	// of a first run that has not finished, or nil.
	Cursor(ctx context.Context) (c Cursor, ok bool, err error)
	// AdvanceCursor replaces the cursor with c when c.At is later than the
	// stored cursor's; a cursor already at or past c.At is left as it is,
	// Seen included, without error. Times are kept to the millisecond, and
	// of c.Seen only the MaxSeen jobs modified last. c.Baseline is ignored:
	// the first cursor removes the stored baseline, since the first
	// complete cycle ends the first run.
	AdvanceCursor(ctx context.Context, c Cursor) error
	// SaveBaseline records a first run's progress. It is kept only while
	// no cursor is set, and only when b.CreatedAfter is later than the
	// stored one's (a slower invocation cannot move it back); otherwise it
	// changes nothing and returns nil. Times are kept to the millisecond;
	// both must be set.
	SaveBaseline(ctx context.Context, b Baseline) error
	// Load returns the records of up to MaxBatch jobs in one round trip (plus
	// retries of unprocessed keys). Jobs with no record are absent from the map.
	Load(ctx context.Context, jobs []string) (map[string]Record, error)
	// Save writes next, a change that needs no Slack message, over prev. It
	// drops any expired lease, and fails with ErrConflict when the record
	// changed or a live lease is held. next.Job must be prev.Job.
	Save(ctx context.Context, prev, next Record) error
	// Claim takes a lease on alerting prev.Job's move to lease.Target. It
	// fails with ErrConflict when the record changed or a live lease is held.
	Claim(ctx context.Context, prev Record, lease Lease) error
	// Commit writes next once Slack accepted what was sent for it, and drops
	// the lease. It fails with ErrConflict unless the lease is still
	// owner's; an expired lease nobody else has claimed since still is.
	Commit(ctx context.Context, owner string, next Record) error
	// Release drops owner's lease without changing the status, so the alert
	// stays pending for the next try. Like Commit, it fails with ErrConflict
	// unless the lease is still owner's.
	Release(ctx context.Context, job, owner string) error
	// Tally adds one to the counter named key and returns its new value.
	// Concurrent calls each see a distinct value (1, 2, 3, ...). A counter
	// is kept until expires (DynamoDB's TTL deletes it some time after);
	// the caller puts the period it counts in the key, so a counter that
	// outlives its period is never read again. key is 1 to MaxTallyKey
	// letters, digits and hyphens; expires is kept to the second.
	Tally(ctx context.Context, key string, expires time.Time) (int, error)
}

// A BatchCommitter commits many claimed jobs at once: what a Store may do
// besides Commit (both of labelwatch's do).
type BatchCommitter interface {
	// CommitAll commits each of jobs as Commit does, all claimed by
	// owner with leases live until until, and returns each one's error
	// (nil when it was written). While those leases are live no other run
	// writes the records: every other write is conditional on no live
	// lease, or on the lease being its writer's. So before until the store
	// may write them without a condition, in as few calls as its API
	// takes; from until on, it commits each as Commit does.
	CommitAll(ctx context.Context, owner string, until time.Time, jobs []Committing) []error
}

// A BatchClaimer claims many jobs at once: what a Store may do besides
// Claim.
type BatchClaimer interface {
	// ClaimAll claims each of jobs for lease (its Target that job's own
	// status, targets[i]) as Claim does, and returns each one's error:
	// ErrConflict (wrapped) for a job whose record changed or holds a live
	// lease, nil for one claimed.
	ClaimAll(ctx context.Context, jobs []Record, targets []labeling.Status, lease Lease) []error
}

// A BatchSaver saves many records at once: what a Store may do besides
// Save.
type BatchSaver interface {
	// SaveAll saves each of jobs as Save does, and returns each one's
	// error: ErrConflict (wrapped) for a job whose record changed or holds
	// a live lease, nil for one saved.
	SaveAll(ctx context.Context, jobs []Saving) []error
}

// Saving is one job of a SaveAll: the record read, and the one to write
// over it.
type Saving struct {
	Prev, Next Record
}

// Committing is one job of a CommitAll: the record to write, and the
// version its claim left (the version read, plus one).
type Committing struct {
	Next    Record
	Claimed int64
}

// MaxTallyKey is the longest key Tally takes.
const MaxTallyKey = 64
