package state

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/labelwatch/labelwatch/internal/labeling"
)

// Rules both stores share, so that they behave the same under the contract
// tests.

// reservedPrefix starts the keys a store keeps for itself (the cursor and
// tallies). No labeling job name can start with it: names match
// ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}.
const reservedPrefix = "#"

// checkJob rejects names that cannot be a labeling job's and could collide
// with the store's own keys.
func checkJob(job string) error {
	if job == "" {
		return errors.New("empty job name")
	}
	if strings.HasPrefix(job, reservedPrefix) {
		return fmt.Errorf("job name %q: names starting with %q are reserved", job, reservedPrefix)
	}
	if strings.Contains(job, "/") {
		return fmt.Errorf("job name %q: no labeling job name has a %q, which joins a store's scope to its jobs' names", job, "/")
	}
	return nil
}

// validScope reports whether scope is one or two parts of lower-case
// letters, digits and hyphens, joined by "/".
func validScope(scope string) bool {
	parts := strings.Split(scope, "/")
	if len(parts) > 2 {
		return false
	}
	for _, part := range parts {
		if part == "" {
			return false
		}
		for _, c := range []byte(part) {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// checkTally rejects a Tally key that is not 1 to MaxTallyKey letters,
// digits and hyphens (so that it reads the same in a DynamoDB key and a JSON
// file), and a counter without an expiry, which would be kept forever. The
// caller's error names the key.
func checkTally(key string, expires time.Time) error {
	if key == "" {
		return errors.New("empty key")
	}
	if len(key) > MaxTallyKey {
		return fmt.Errorf("key of %d characters, at most %d", len(key), MaxTallyKey)
	}
	for _, c := range []byte(key) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return errors.New("key has characters other than letters, digits and hyphens")
		}
	}
	if expires.IsZero() {
		return errors.New("no expiry")
	}
	return nil
}

// checkBatch returns jobs without repeats (BatchGetItem rejects duplicate
// keys), or an error when they are more than MaxBatch or one is invalid.
func checkBatch(jobs []string) ([]string, error) {
	seen := make(map[string]bool, len(jobs))
	unique := make([]string, 0, len(jobs))
	for _, job := range jobs {
		if err := checkJob(job); err != nil {
			return nil, err
		}
		if !seen[job] {
			seen[job] = true
			unique = append(unique, job)
		}
	}
	if len(unique) > MaxBatch {
		return nil, fmt.Errorf("%d jobs in one load, at most %d", len(unique), MaxBatch)
	}
	return unique, nil
}

// checkCursor returns c as a store keeps it: At and every time of Seen and
// Idle cut to the millisecond, Seen cut to the MaxSeen jobs modified last
// (ties go to the earlier name, so both stores keep the same ones) and Idle
// to the MaxIdle names that sort first. It rejects a
// cursor no later listing could be compared with.
func checkCursor(c Cursor) (Cursor, error) {
	if c.At.IsZero() {
		return Cursor{}, errors.New("zero time")
	}
	type entry struct {
		job string
		Listing
	}
	entries := make([]entry, 0, len(c.Seen))
	for job, l := range c.Seen {
		if err := checkJob(job); err != nil {
			return Cursor{}, fmt.Errorf("seen: %w", err)
		}
		if l.ModifiedAt.IsZero() {
			return Cursor{}, fmt.Errorf("seen: job %q has no modification time", job)
		}
		entries = append(entries, entry{job, Listing{ModifiedAt: fromMillis(millis(l.ModifiedAt)), Status: l.Status}})
	}
	slices.SortFunc(entries, func(a, b entry) int {
		return cmp.Or(b.ModifiedAt.Compare(a.ModifiedAt), strings.Compare(a.job, b.job))
	})
	kept := Cursor{At: fromMillis(millis(c.At))}
	if !c.Origin.IsZero() {
		kept.Origin = fromMillis(millis(c.Origin))
	}
	if len(entries) > 0 {
		kept.Seen = make(map[string]Listing, min(len(entries), MaxSeen))
		for _, e := range entries[:min(len(entries), MaxSeen)] {
			kept.Seen[e.job] = e.Listing
		}
	}
	idle, err := keepIdle(c.Idle)
	if err != nil {
		return Cursor{}, err
	}
	if idle != nil {
		kept.Idle, kept.IdleRules = idle, c.IdleRules
	}
	return kept, nil
}

// keepIdle returns idle as a store keeps it: the MaxIdle jobs whose names
// sort first, their times cut to the millisecond; nil when there are none.
func keepIdle(idle map[string]Idle) (map[string]Idle, error) {
	names := slices.Sorted(maps.Keys(idle))
	var kept map[string]Idle
	for _, job := range names[:min(len(names), MaxIdle)] {
		l := idle[job]
		if err := checkJob(job); err != nil {
			return nil, fmt.Errorf("idle: %w", err)
		}
		if l.ModifiedAt.IsZero() {
			return nil, fmt.Errorf("idle: job %q has no modification time", job)
		}
		if kept == nil {
			kept = make(map[string]Idle, min(len(names), MaxIdle))
		}
		l.ModifiedAt = fromMillis(millis(l.ModifiedAt))
		if !l.Until.IsZero() {
			l.Until = fromMillis(millis(l.Until))
		}
		kept[job] = l
	}
	return kept, nil
}

// checkBaseline returns b as a store keeps it, both times cut to the
// millisecond, or an error when either is unset: a baseline without them
// could not resume a listing, nor end as a cursor.
func checkBaseline(b Baseline) (Baseline, error) {
	if b.Began.IsZero() {
		return Baseline{}, errors.New("baseline has no start time")
	}
	if b.CreatedAfter.IsZero() {
		return Baseline{}, errors.New("baseline has no creation time to resume after")
	}
	return Baseline{Began: fromMillis(millis(b.Began)), CreatedAfter: fromMillis(millis(b.CreatedAfter))}, nil
}

// checkNext rejects a next state that Save or Commit must not write: one
// without a status (a record's status is only ever one a listing showed),
// or a card that no later edit could find.
func checkNext(next Record) error {
	if next.Status == "" {
		return errors.New("empty status")
	}
	if c := next.Card; c != nil && (c.Channel == "" || c.TS == "") {
		return fmt.Errorf("card without a channel or ts (%q, %q)", c.Channel, c.TS)
	}
	return nil
}

// zero reports whether p says nothing, which both stores keep as no
// progress at all rather than as an empty one.
func (p Progress) zero() bool {
	return p.Counters == (labeling.Counters{}) && p.MovedAt.IsZero() && p.Milestone == 0 && !p.Stuck && !p.FailedWarned
}

// checkLease rejects a lease that no Commit or Release could match.
func checkLease(l Lease) error {
	if l.Owner == "" {
		return errors.New("lease has no owner")
	}
	if l.Target == "" {
		return errors.New("lease has no target status")
	}
	if l.Until.IsZero() {
		return errors.New("lease has no expiry")
	}
	return nil
}

// Both stores keep times as epoch milliseconds, so a time comes back
// truncated to the millisecond, in UTC. Truncation errs on the safe side for
// the cursor: a listing from a slightly older cursor only sees a job again.

// millis is t in epoch milliseconds; the zero time is 0 ("not set").
func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMillis is the inverse of millis.
func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// expiry is when a record that now holds status may be deleted: retention
// after now for a terminal status (a finished job will not change again), and
// never (zero) otherwise or when retention is not positive. DynamoDB's TTL
// works in whole seconds, so both stores do.
func expiry(status labeling.Status, now time.Time, retention time.Duration) time.Time {
	if !status.Terminal() || retention <= 0 {
		return time.Time{}
	}
	return time.Unix(now.Add(retention).Unix(), 0).UTC()
}
