// Package state keeps what labelwatch knows between runs: the last status it
// saw for each labeling job, claims on alerts being sent, and the listing
// cursor. DynamoStore is the deployed store; FileStore serves local runs.
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
type Store interface {
	// Cursor returns the cursor the last complete cycle left; ok is false
	// before the first complete cycle.
	Cursor(ctx context.Context) (c Cursor, ok bool, err error)
	// AdvanceCursor replaces the cursor with c when c.At is later than the
	// stored cursor's; a cursor already at or past c.At is left as it is,
	// Seen included, without error. Times are kept to the millisecond, and
	// of c.Seen only the MaxSeen jobs modified last.
	AdvanceCursor(ctx context.Context, c Cursor) error
	// Load returns the records of up to MaxBatch jobs in one round trip (plus
	// retries of unprocessed keys). Jobs with no record are absent from the map.
	Load(ctx context.Context, jobs []string) (map[string]Record, error)
	// Save records a status change that needs no alert. It drops any
	// expired lease, and fails with ErrConflict when the record changed or
	// a live lease is held.
	Save(ctx context.Context, prev Record, status labeling.Status, modifiedAt time.Time) error
	// Claim takes a lease on alerting prev.Job's move to lease.Target. It
	// fails with ErrConflict when the record changed or a live lease is held.
	Claim(ctx context.Context, prev Record, lease Lease) error
	// Commit records the alerted status once Slack accepted the alert and
	// drops the lease. It fails with ErrConflict unless the lease is still
	// owner's; an expired lease nobody else has claimed since still is.
	Commit(ctx context.Context, job, owner string, status labeling.Status, modifiedAt, alertedAt time.Time) error
	// Release drops owner's lease without changing the status, so the alert
	// stays pending for the next try. Like Commit, it fails with ErrConflict
	// unless the lease is still owner's.
	Release(ctx context.Context, job, owner string) error
}
