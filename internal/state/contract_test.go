package state

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labelwatch/labelwatch/internal/clock"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

// The contract every Store keeps, run against each implementation.

// t0 is the fake clock's start; whole milliseconds, as the stores keep time.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// retention is what the contract opens stores with.
const retention = 72 * time.Hour

// expiryProbe reads a job's stored expiry, which the Store interface does
// not expose; ok is false when the record has none.
type expiryProbe func(t *testing.T, job string) (expiresAt time.Time, ok bool)

// opener returns a new, empty store that reads time from c.
type opener func(t *testing.T, c clock.Clock) (Store, expiryProbe)

// env is one contract case's store and clock.
type env struct {
	t      *testing.T
	ctx    context.Context
	store  Store
	clock  *testenv.Clock
	expiry expiryProbe
	flaw   racy
}

// concurrent skips a case whose store writes concurrently (a batch's
// transactions, several at once) where the store's server is racy.
func (e env) concurrent() {
	e.t.Helper()
	if e.flaw != "" {
		e.t.Skip(string(e.flaw))
	}
}

// load returns job's record, failing the test on error; ok is false when the
// store has none.
func (e env) load(job string) (Record, bool) {
	e.t.Helper()
	recs, err := e.store.Load(e.ctx, []string{job})
	if err != nil {
		e.t.Fatalf("Load(%q): %v", job, err)
	}
	rec, ok := recs[job]
	return rec, ok
}

func (e env) mustLoad(job string) Record {
	e.t.Helper()
	rec, ok := e.load(job)
	if !ok {
		e.t.Fatalf("Load(%q): no record", job)
	}
	return rec
}

// save writes next over prev and returns the record as stored.
func (e env) save(prev, next Record) Record {
	e.t.Helper()
	if err := e.store.Save(e.ctx, prev, next); err != nil {
		e.t.Fatalf("Save(%q v%d, %s): %v", prev.Job, prev.Version, fmtRecord(next), err)
	}
	return e.mustLoad(prev.Job)
}

// move saves prev moved to status as of modifiedAt; see moved.
func (e env) move(prev Record, status labeling.Status, modifiedAt time.Time) Record {
	e.t.Helper()
	return e.save(prev, moved(prev, status, modifiedAt))
}

// moved is prev with status as of modifiedAt and the rest of its state kept,
// the next state of a run that saw only the status change.
func moved(prev Record, status labeling.Status, modifiedAt time.Time) Record {
	next := prev
	next.Status = status
	next.ModifiedAt = modifiedAt
	return next
}

func (e env) claim(prev Record, owner string, target labeling.Status, d time.Duration) Record {
	e.t.Helper()
	if err := e.store.Claim(e.ctx, prev, Lease{Owner: owner, Target: target, Until: e.clock.Now().Add(d)}); err != nil {
		e.t.Fatalf("Claim(%q v%d) by %s: %v", prev.Job, prev.Version, owner, err)
	}
	return e.mustLoad(prev.Job)
}

// wantRecord fails unless got equals want, comparing times as instants.
func wantRecord(t *testing.T, got, want Record) {
	t.Helper()
	same := got.Job == want.Job && got.Status == want.Status && got.Version == want.Version &&
		got.ModifiedAt.Equal(want.ModifiedAt) && got.AlertedAt.Equal(want.AlertedAt) &&
		(got.Lease == nil) == (want.Lease == nil) && (got.Card == nil) == (want.Card == nil)
	if same && got.Lease != nil {
		same = got.Lease.Owner == want.Lease.Owner && got.Lease.Target == want.Lease.Target &&
			got.Lease.Until.Equal(want.Lease.Until)
	}
	if same && got.Card != nil {
		same = *got.Card == *want.Card
	}
	g, w := got.Progress, want.Progress
	same = same && g.Counters == w.Counters && g.MovedAt.Equal(w.MovedAt) && g.Milestone == w.Milestone &&
		g.Stuck == w.Stuck && g.FailedWarned == w.FailedWarned
	if !same {
		t.Errorf("record:\n got %s\nwant %s", fmtRecord(got), fmtRecord(want))
	}
}

func fmtRecord(r Record) string {
	s := fmt.Sprintf("{Job:%s Status:%q ModifiedAt:%s AlertedAt:%s Version:%d Lease:", r.Job, r.Status,
		r.ModifiedAt.Format(time.RFC3339Nano), r.AlertedAt.Format(time.RFC3339Nano), r.Version)
	if r.Lease == nil {
		s += "nil"
	} else {
		s += fmt.Sprintf("{%s %s %s}", r.Lease.Owner, r.Lease.Target, r.Lease.Until.Format(time.RFC3339Nano))
	}
	s += " Card:"
	if r.Card == nil {
		s += "nil"
	} else {
		s += fmt.Sprintf("%+v", *r.Card)
	}
	p := r.Progress
	return s + fmt.Sprintf(" Progress:{Counters:%+v MovedAt:%s Milestone:%d Stuck:%v FailedWarned:%v}}",
		p.Counters, p.MovedAt.Format(time.RFC3339Nano), p.Milestone, p.Stuck, p.FailedWarned)
}

// wantCursor fails unless got equals want, comparing times as instants.
func wantCursor(t *testing.T, got, want Cursor) {
	t.Helper()
	same := got.At.Equal(want.At) && len(got.Seen) == len(want.Seen)
	for job, w := range want.Seen {
		g, ok := got.Seen[job]
		same = same && ok && g.Status == w.Status && g.ModifiedAt.Equal(w.ModifiedAt)
	}
	same = same && len(got.Idle) == len(want.Idle) && got.IdleRules == want.IdleRules
	for job, w := range want.Idle {
		g, ok := got.Idle[job]
		same = same && ok && g.Status == w.Status && g.ModifiedAt.Equal(w.ModifiedAt) && g.Counters == w.Counters && g.Until.Equal(w.Until)
	}
	if !same {
		t.Errorf("cursor:\n got %s\nwant %s", fmtCursor(got), fmtCursor(want))
	}
}

func fmtCursor(c Cursor) string {
	if len(c.Seen) > 5 {
		return fmt.Sprintf("{At:%s Seen:%d jobs Baseline:%s}", c.At.Format(time.RFC3339Nano), len(c.Seen), fmtBaseline(c.Baseline))
	}
	jobs := slices.Sorted(maps.Keys(c.Seen))
	seen := make([]string, len(jobs))
	for i, job := range jobs {
		seen[i] = fmt.Sprintf("%s@%s:%s", job, c.Seen[job].ModifiedAt.Format(time.RFC3339Nano), c.Seen[job].Status)
	}
	idle := make([]string, 0, len(c.Idle))
	for _, job := range slices.Sorted(maps.Keys(c.Idle)) {
		l := c.Idle[job]
		idle = append(idle, fmt.Sprintf("%s@%s:%s:%+v:until %s", job, l.ModifiedAt.Format(time.RFC3339Nano), l.Status, l.Counters, l.Until.Format(time.RFC3339Nano)))
	}
	return fmt.Sprintf("{At:%s Seen:[%s] Idle:[%s] IdleRules:%q Baseline:%s}", c.At.Format(time.RFC3339Nano), strings.Join(seen, " "), strings.Join(idle, " "), c.IdleRules, fmtBaseline(c.Baseline))
}

// wantBaseline fails unless got equals want (both nil, or the same times as
// instants).
func wantBaseline(t *testing.T, what string, got, want *Baseline) {
	t.Helper()
	same := (got == nil) == (want == nil)
	if same && got != nil {
		same = got.Began.Equal(want.Began) && got.CreatedAfter.Equal(want.CreatedAfter)
	}
	if !same {
		t.Errorf("%s: baseline:\n got %s\nwant %s", what, fmtBaseline(got), fmtBaseline(want))
	}
}

func fmtBaseline(b *Baseline) string {
	if b == nil {
		return "nil"
	}
	return fmt.Sprintf("{Began:%s CreatedAfter:%s}", b.Began.Format(time.RFC3339Nano), b.CreatedAfter.Format(time.RFC3339Nano))
}

func wantConflict(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("%s: got %v, want ErrConflict", what, err)
	}
}

// testStore runs the Store contract against stores made by open. Every case
// gets its own store and runs in parallel with the others.
// racy names a store implementation whose writes are not atomic under
// concurrency (a test double's flaw, not a store's): the concurrent claims
// and concurrent tallies cases say so and do not run. Empty for every real
// one.
type racy string

func testStore(t *testing.T, open opener, flaw racy) {
	const job = "job-1"
	m1 := t0.Add(-time.Hour)
	m2 := t0.Add(-time.Minute)
	// A card and progress with every part set: a time off the millisecond,
	// which the stores cut, and counters no float64 holds exactly.
	card := &Card{Channel: "C0123ABCD", TS: "1772366400.000100", Shown: "InProgress/50"}
	progress := Progress{
		Counters:     labeling.Counters{Total: 1<<53 + 1, Human: 1 << 40, Machine: 1, Failed: 3, Unlabeled: 2147483647},
		MovedAt:      m2.Add(1500 * time.Microsecond),
		Milestone:    50,
		Stuck:        true,
		FailedWarned: true,
	}

	tests := []struct {
		name string
		run  func(e env)
	}{
		{"cursor is unset at first", func(e env) {
			c, ok, err := e.store.Cursor(e.ctx)
			if err != nil || ok || !c.At.IsZero() || c.Seen != nil || c.Baseline != nil {
				e.t.Fatalf("Cursor() = %s, ok %v, %v; want unset, without a baseline", fmtCursor(c), ok, err)
			}
		}},
		{"baseline is kept to the millisecond and only moves forward", func(e env) {
			began := t0.Add(-time.Hour + 1500*time.Microsecond)
			steps := []struct {
				name string
				save Baseline
				want Baseline
			}{
				{"first", Baseline{Began: began, CreatedAfter: m1.Add(999 * time.Microsecond)},
					Baseline{Began: began.Truncate(time.Millisecond), CreatedAfter: m1}},
				{"later", Baseline{Began: began, CreatedAfter: m2},
					Baseline{Began: began.Truncate(time.Millisecond), CreatedAfter: m2}},
				// A slower invocation's progress, and one within the same
				// millisecond, change nothing, however they began.
				{"earlier", Baseline{Began: t0, CreatedAfter: m1.Add(time.Second)},
					Baseline{Began: began.Truncate(time.Millisecond), CreatedAfter: m2}},
				{"same millisecond", Baseline{Began: t0, CreatedAfter: m2.Add(999 * time.Microsecond)},
					Baseline{Began: began.Truncate(time.Millisecond), CreatedAfter: m2}},
				{"a millisecond later", Baseline{Began: t0, CreatedAfter: m2.Add(time.Millisecond)},
					Baseline{Began: t0, CreatedAfter: m2.Add(time.Millisecond)}},
			}
			for _, step := range steps {
				if err := e.store.SaveBaseline(e.ctx, step.save); err != nil {
					e.t.Fatalf("%s: SaveBaseline(%s): %v", step.name, fmtBaseline(&step.save), err)
				}
				c, ok, err := e.store.Cursor(e.ctx)
				if err != nil || ok || !c.At.IsZero() || c.Seen != nil {
					e.t.Fatalf("%s: Cursor() = %s, ok %v, %v; want no cursor", step.name, fmtCursor(c), ok, err)
				}
				wantBaseline(e.t, step.name, c.Baseline, &step.want)
			}
		}},
		{"a complete cycle ends the baseline", func(e env) {
			if err := e.store.SaveBaseline(e.ctx, Baseline{Began: t0, CreatedAfter: m1}); err != nil {
				e.t.Fatalf("SaveBaseline: %v", err)
			}
			// The first run ends with the cursor its baseline began at.
			want := Cursor{At: t0, Seen: map[string]Listing{"job-1": {ModifiedAt: m2, Status: labeling.StatusInProgress}}}
			if err := e.store.AdvanceCursor(e.ctx, want); err != nil {
				e.t.Fatalf("AdvanceCursor(%s): %v", fmtCursor(want), err)
			}
			wantOnlyCursor := func(what string) {
				e.t.Helper()
				got, ok, err := e.store.Cursor(e.ctx)
				if err != nil || !ok {
					e.t.Fatalf("%s: Cursor() = %s, ok %v, %v; want a cursor", what, fmtCursor(got), ok, err)
				}
				wantCursor(e.t, got, want)
				wantBaseline(e.t, what, got.Baseline, nil)
			}
			wantOnlyCursor("after AdvanceCursor")
			// A first-run invocation that outlived the cycle saves nothing.
			if err := e.store.SaveBaseline(e.ctx, Baseline{Began: t0, CreatedAfter: m2}); err != nil {
				e.t.Fatalf("SaveBaseline beside a cursor: %v", err)
			}
			wantOnlyCursor("after a SaveBaseline beside the cursor")
		}},
		{"baseline rejects unset times", func(e env) {
			for name, b := range map[string]Baseline{
				"no start":         {CreatedAfter: m1},
				"no creation time": {Began: t0},
				"neither":          {},
			} {
				if err := e.store.SaveBaseline(e.ctx, b); err == nil || errors.Is(err, ErrConflict) {
					e.t.Errorf("SaveBaseline with %s = %v, want a non-conflict error", name, err)
				}
			}
			c, ok, err := e.store.Cursor(e.ctx)
			if err != nil || ok || c.Baseline != nil {
				e.t.Errorf("after rejected SaveBaseline calls: Cursor() = %s, ok %v, %v; want unset", fmtCursor(c), ok, err)
			}
		}},
		{"cursor only moves forward, Seen with it", func(e env) {
			seen := func(job string, at time.Time) map[string]Listing {
				return map[string]Listing{job: {ModifiedAt: at, Status: labeling.StatusInProgress}}
			}
			steps := []struct {
				to, want Cursor
			}{
				{Cursor{At: t0, Seen: seen("a-1", t0)}, Cursor{At: t0, Seen: seen("a-1", t0)}},
				// Behind or equal: kept, Seen included, no error.
				{Cursor{At: t0.Add(-time.Second), Seen: seen("b-1", t0)}, Cursor{At: t0, Seen: seen("a-1", t0)}},
				{Cursor{At: t0, Seen: seen("b-1", t0)}, Cursor{At: t0, Seen: seen("a-1", t0)}},
				// Forward without Seen: the old Seen goes.
				{Cursor{At: t0.Add(time.Minute)}, Cursor{At: t0.Add(time.Minute)}},
				// Sub-millisecond parts are cut, never rounded up past a job.
				{Cursor{At: t0.Add(time.Hour + 1500*time.Microsecond), Seen: seen("c-1", t0.Add(time.Hour+999*time.Microsecond))},
					Cursor{At: t0.Add(time.Hour + time.Millisecond), Seen: seen("c-1", t0.Add(time.Hour))}},
			}
			for _, step := range steps {
				if err := e.store.AdvanceCursor(e.ctx, step.to); err != nil {
					e.t.Fatalf("AdvanceCursor(%s): %v", fmtCursor(step.to), err)
				}
				got, ok, err := e.store.Cursor(e.ctx)
				if err != nil || !ok {
					e.t.Fatalf("after AdvanceCursor(%s): Cursor() = ok %v, %v", fmtCursor(step.to), ok, err)
				}
				wantCursor(e.t, got, step.want)
			}
		}},
		{"cursor keeps Seen as written", func(e env) {
			want := Cursor{At: t0, Seen: map[string]Listing{
				"job-1":                 {ModifiedAt: t0, Status: labeling.StatusCompleted},
				"job-2":                 {ModifiedAt: m2, Status: labeling.StatusInProgress},
				"job-3":                 {ModifiedAt: m1, Status: "Paused"}, // an unknown status is kept as it is
				strings.Repeat("x", 63): {ModifiedAt: t0.Add(-123 * time.Millisecond), Status: labeling.StatusStopping},
			}}
			if err := e.store.AdvanceCursor(e.ctx, want); err != nil {
				e.t.Fatal(err)
			}
			got, _, err := e.store.Cursor(e.ctx)
			if err != nil {
				e.t.Fatal(err)
			}
			wantCursor(e.t, got, want)
			// The map returned is the caller's.
			clear(got.Seen)
			if again, _, _ := e.store.Cursor(e.ctx); len(again.Seen) != len(want.Seen) {
				e.t.Errorf("clearing the returned Seen left %d jobs in the store, want %d", len(again.Seen), len(want.Seen))
			}
		}},
		{"cursor keeps its Origin when later cursors have none", func(e env) {
			origin := t0.Add(-time.Hour + 1500*time.Microsecond)
			if err := e.store.AdvanceCursor(e.ctx, Cursor{At: t0, Origin: origin}); err != nil {
				e.t.Fatal(err)
			}
			for _, at := range []time.Time{t0, t0.Add(time.Minute)} {
				if at.After(t0) {
					if err := e.store.AdvanceCursor(e.ctx, Cursor{At: at}); err != nil {
						e.t.Fatal(err)
					}
				}
				got, ok, err := e.store.Cursor(e.ctx)
				if err != nil || !ok || !got.Origin.Equal(t0.Add(-time.Hour+time.Millisecond)) {
					e.t.Errorf("cursor at %v: Origin %v (set %v, %v), want %v, cut to the millisecond", at, got.Origin, ok, err, t0.Add(-time.Hour+time.Millisecond))
				}
			}
		}},
		{"cursor keeps Idle as written, with the cursor", func(e env) {
			counters := labeling.Counters{Total: 120, Human: 100, Machine: 20, Failed: 3, Unlabeled: 877}
			want := Cursor{At: t0, IdleRules: "rules-1", Idle: map[string]Idle{
				"job-1": {Listing: Listing{ModifiedAt: m1, Status: labeling.StatusInProgress}, Counters: counters, Until: t0.Add(6 * time.Hour)},
				"job-2": {Listing: Listing{ModifiedAt: m2, Status: labeling.StatusInProgress}}, // no counters yet, no Until
				strings.Repeat("y", 63): {Listing: Listing{ModifiedAt: t0.Add(-123 * time.Millisecond), Status: labeling.StatusInProgress},
					Counters: labeling.Counters{Unlabeled: 5}, Until: t0.Add(90*time.Minute + 999*time.Microsecond)},
			}}
			if err := e.store.AdvanceCursor(e.ctx, want); err != nil {
				e.t.Fatal(err)
			}
			got, _, err := e.store.Cursor(e.ctx)
			if err != nil {
				e.t.Fatal(err)
			}
			// Times are kept to the millisecond, cut.
			y := want.Idle[strings.Repeat("y", 63)]
			y.Until = t0.Add(90 * time.Minute)
			want.Idle[strings.Repeat("y", 63)] = y
			wantCursor(e.t, got, want)
			// A later cursor without Idle drops it.
			if err := e.store.AdvanceCursor(e.ctx, Cursor{At: t0.Add(time.Minute)}); err != nil {
				e.t.Fatal(err)
			}
			got, _, err = e.store.Cursor(e.ctx)
			if err != nil {
				e.t.Fatal(err)
			}
			wantCursor(e.t, got, Cursor{At: t0.Add(time.Minute)})
			// Rests: listed alike, before Until.
			job := labeling.Job{Name: "job-1", Status: labeling.StatusInProgress, ModifiedAt: m1, Counters: counters}
			c := Cursor{Idle: map[string]Idle{"job-1": want.Idle["job-1"]}}
			for _, tt := range []struct {
				what string
				job  labeling.Job
				now  time.Time
				want bool
			}{
				{"alike, before Until", job, t0, true},
				{"at Until", job, t0.Add(6 * time.Hour), false},
				{"counters moved", func() labeling.Job { j := job; j.Counters.Total++; return j }(), t0, false},
				{"modified since", func() labeling.Job { j := job; j.ModifiedAt = j.ModifiedAt.Add(time.Millisecond); return j }(), t0, false},
				{"another job", func() labeling.Job { j := job; j.Name = "job-9"; return j }(), t0, false},
			} {
				if got := c.Rests(tt.job, tt.now); got != tt.want {
					e.t.Errorf("Rests, %s: %v, want %v", tt.what, got, tt.want)
				}
			}
		}},
		{"cursor keeps the MaxSeen jobs modified last", func(e env) {
			const extra = 50
			all := map[string]Listing{}
			want := Cursor{At: t0, Seen: map[string]Listing{}}
			for i := range MaxSeen + extra {
				// Older and older, two jobs a millisecond after the first,
				// named in reverse: the oldest extra ones go, and of the
				// two at the cut (i = MaxSeen-1 and MaxSeen) the one with
				// the earlier name, the later i, stays.
				name := fmt.Sprintf("job-%05d", MaxSeen+extra-i)
				l := Listing{ModifiedAt: t0.Add(-time.Duration((i+1)/2) * time.Millisecond), Status: labeling.StatusInProgress}
				all[name] = l
				if i < MaxSeen-1 || i == MaxSeen {
					want.Seen[name] = l
				}
			}
			if err := e.store.AdvanceCursor(e.ctx, Cursor{At: t0, Seen: all}); err != nil {
				e.t.Fatal(err)
			}
			got, _, err := e.store.Cursor(e.ctx)
			if err != nil {
				e.t.Fatal(err)
			}
			wantCursor(e.t, got, want)
		}},
		{"cursor rejects what no listing could match", func(e env) {
			for name, c := range map[string]Cursor{
				"zero time":         {},
				"empty job name":    {At: t0, Seen: map[string]Listing{"": {ModifiedAt: t0, Status: labeling.StatusCompleted}}},
				"reserved job name": {At: t0, Seen: map[string]Listing{CursorKey: {ModifiedAt: t0, Status: labeling.StatusCompleted}}},
				"no time":           {At: t0, Seen: map[string]Listing{"job-1": {Status: labeling.StatusCompleted}}},
			} {
				if err := e.store.AdvanceCursor(e.ctx, c); err == nil || errors.Is(err, ErrConflict) {
					e.t.Errorf("AdvanceCursor with %s = %v, want a non-conflict error", name, err)
				}
			}
			if _, ok, err := e.store.Cursor(e.ctx); ok || err != nil {
				e.t.Errorf("a rejected cursor was stored (%v)", err)
			}
		}},
		{"load of jobs without records is empty", func(e env) {
			for _, jobs := range [][]string{nil, {}, {"a-1", "b-2"}} {
				recs, err := e.store.Load(e.ctx, jobs)
				if err != nil || len(recs) != 0 {
					e.t.Fatalf("Load(%q) = %v, %v; want empty", jobs, recs, err)
				}
			}
		}},
		{"load takes MaxBatch names and repeats", func(e env) {
			var names []string
			for i := range MaxBatch {
				name := fmt.Sprintf("job-%03d", i)
				names = append(names, name)
				if i%3 == 0 {
					e.move(Record{Job: name}, labeling.StatusInProgress, m1.Add(time.Duration(i)*time.Second))
				}
			}
			recs, err := e.store.Load(e.ctx, append(names, names[0], names[3]))
			if err != nil {
				e.t.Fatalf("Load(%d names): %v", len(names), err)
			}
			if len(recs) != (MaxBatch+2)/3 {
				e.t.Errorf("Load(%d names) returned %d records, want %d", len(names), len(recs), (MaxBatch+2)/3)
			}
			for i := 0; i < MaxBatch; i += 3 {
				wantRecord(e.t, recs[names[i]], Record{Job: names[i], Status: labeling.StatusInProgress, ModifiedAt: m1.Add(time.Duration(i) * time.Second), Version: 1})
			}
			if _, err := e.store.Load(e.ctx, append(names, "one-too-many")); err == nil {
				e.t.Errorf("Load(%d names) succeeded, want error", MaxBatch+1)
			}
		}},
		{"load and writes reject names no job can have", func(e env) {
			if _, err := e.store.Load(e.ctx, []string{CursorKey}); err == nil {
				e.t.Errorf("Load(%q) succeeded, want error", CursorKey)
			}
			err := e.store.Save(e.ctx, Record{Job: ""}, Record{Job: "", Status: labeling.StatusInProgress, ModifiedAt: m1})
			if err == nil || errors.Is(err, ErrConflict) {
				e.t.Errorf("Save of empty job name = %v, want a non-conflict error", err)
			}
			err = e.store.Claim(e.ctx, Record{Job: CursorKey}, Lease{Owner: "a", Target: labeling.StatusCompleted, Until: t0.Add(time.Minute)})
			if err == nil || errors.Is(err, ErrConflict) {
				e.t.Errorf("Claim of %q = %v, want a non-conflict error", CursorKey, err)
			}
			// A "/" joins a store's scope to its jobs' names (DynamoStore.Scope).
			const scoped = "eu-west-1/" + job
			if _, err := e.store.Load(e.ctx, []string{scoped}); err == nil {
				e.t.Errorf("Load(%q) succeeded, want error", scoped)
			}
			err = e.store.Save(e.ctx, Record{Job: scoped}, Record{Job: scoped, Status: labeling.StatusInProgress, ModifiedAt: m1})
			if err == nil || errors.Is(err, ErrConflict) {
				e.t.Errorf("Save of %q = %v, want a non-conflict error", scoped, err)
			}
		}},
		{"save creates, then only from the version read", func(e env) {
			rec := e.move(Record{Job: job}, labeling.StatusInProgress, m1)
			wantRecord(e.t, rec, Record{Job: job, Status: labeling.StatusInProgress, ModifiedAt: m1, Version: 1})

			err := e.store.Save(e.ctx, Record{Job: job}, Record{Job: job, Status: labeling.StatusStopping, ModifiedAt: m2})
			wantConflict(e.t, "Save as new of an existing job", err)
			if !strings.Contains(err.Error(), job) {
				e.t.Errorf("error %q does not name the job", err)
			}

			next := e.move(rec, labeling.StatusCompleted, m2)
			wantRecord(e.t, next, Record{Job: job, Status: labeling.StatusCompleted, ModifiedAt: m2, Version: 2})
			wantConflict(e.t, "Save from a stale version", e.store.Save(e.ctx, rec, moved(rec, labeling.StatusFailed, m2)))
			wantRecord(e.t, e.mustLoad(job), next)
		}},
		{"second claim conflicts", func(e env) {
			rec := e.claim(Record{Job: job}, "run-a", labeling.StatusInProgress, time.Minute)
			wantRecord(e.t, rec, Record{Job: job, Version: 1, Lease: &Lease{Owner: "run-a", Target: labeling.StatusInProgress, Until: t0.Add(time.Minute)}})
			if !rec.Live(e.clock.Now()) {
				e.t.Errorf("fresh lease not live")
			}
			lease := Lease{Owner: "run-b", Target: labeling.StatusInProgress, Until: t0.Add(time.Minute)}
			wantConflict(e.t, "Claim from the version before", e.store.Claim(e.ctx, Record{Job: job}, lease))
			wantConflict(e.t, "Claim over a live lease", e.store.Claim(e.ctx, rec, lease))
			wantRecord(e.t, e.mustLoad(job), rec)
		}},
		{"expired lease can be claimed again", func(e env) {
			rec := e.claim(Record{Job: job}, "run-a", labeling.StatusInProgress, time.Minute)
			e.clock.Advance(time.Minute - time.Millisecond)
			wantConflict(e.t, "Claim a millisecond before expiry",
				e.store.Claim(e.ctx, rec, Lease{Owner: "run-b", Target: labeling.StatusInProgress, Until: e.clock.Now().Add(time.Minute)}))
			e.clock.Advance(time.Millisecond) // exactly Until: expired, as Record.Live has it
			if rec.Live(e.clock.Now()) {
				e.t.Fatalf("lease live at its Until")
			}
			next := e.claim(rec, "run-b", labeling.StatusInProgress, time.Minute)
			wantRecord(e.t, next, Record{Job: job, Version: 2, Lease: &Lease{Owner: "run-b", Target: labeling.StatusInProgress, Until: e.clock.Now().Add(time.Minute)}})
		}},
		{"live lease blocks save; expired lease is dropped by it", func(e env) {
			rec := e.move(Record{Job: job}, labeling.StatusInitializing, m1)
			rec = e.claim(rec, "run-a", labeling.StatusInProgress, time.Minute)
			blocked := moved(rec, labeling.StatusInProgress, m2)
			blocked.Card, blocked.Progress = card, progress
			wantConflict(e.t, "Save under a live lease", e.store.Save(e.ctx, rec, blocked))
			wantRecord(e.t, e.mustLoad(job), rec)
			e.clock.Advance(2 * time.Minute)
			next := e.move(rec, labeling.StatusInProgress, m2)
			wantRecord(e.t, next, Record{Job: job, Status: labeling.StatusInProgress, ModifiedAt: m2, Version: 3})
		}},
		{"owner commits", func(e env) {
			e.claim(e.move(Record{Job: job}, labeling.StatusInProgress, m1), "run-a", labeling.StatusCompleted, time.Minute)
			alerted := t0.Add(3 * time.Second)
			if err := e.store.Commit(e.ctx, "run-a", Record{Job: job, Status: labeling.StatusCompleted, ModifiedAt: m2, AlertedAt: alerted}); err != nil {
				e.t.Fatalf("Commit by owner: %v", err)
			}
			want := Record{Job: job, Status: labeling.StatusCompleted, ModifiedAt: m2, AlertedAt: alerted, Version: 3}
			wantRecord(e.t, e.mustLoad(job), want)
			wantConflict(e.t, "second Commit", e.store.Commit(e.ctx, "run-a", Record{Job: job, Status: labeling.StatusCompleted, ModifiedAt: m2, AlertedAt: alerted}))
			wantRecord(e.t, e.mustLoad(job), want)
		}},
		{"owner commits many at once, as Commit commits each", func(e env) {
			batch, ok := e.store.(BatchCommitter)
			if !ok {
				e.t.Fatal("the store commits no batch")
			}
			// More than one BatchWriteItem takes; each with a state of its
			// own, one with a card and progress, one still running.
			var jobs []Committing
			var want []Record
			for i := range 27 {
				name := fmt.Sprintf("many-%02d", i)
				rec := e.claim(e.move(Record{Job: name}, labeling.StatusInProgress, m1), "run-a", labeling.StatusFailed, time.Minute)
				next := Record{Job: name, Status: labeling.StatusFailed, ModifiedAt: m2, AlertedAt: t0.Add(time.Duration(i) * time.Millisecond)}
				switch i {
				case 3:
					next.Card, next.Progress = card, progress
				case 4:
					next = Record{Job: name, Status: labeling.StatusInProgress, ModifiedAt: m2, Card: card, Progress: progress}
				}
				jobs = append(jobs, Committing{Next: next, Claimed: rec.Version})
				next.Version = rec.Version + 1
				next.Progress.MovedAt = fromMillis(millis(next.Progress.MovedAt)) // kept to the millisecond
				want = append(want, next)
			}
			errs := batch.CommitAll(e.ctx, "run-a", e.clock.Now().Add(time.Minute), jobs)
			for i, err := range errs {
				if err != nil {
					e.t.Errorf("CommitAll of %s: %v", jobs[i].Next.Job, err)
				}
				wantRecord(e.t, e.mustLoad(want[i].Job), want[i])
			}
			if at, ok := e.expiry(e.t, "many-00"); !ok || !at.Equal(t0.Add(retention)) {
				e.t.Errorf("a Failed job committed in a batch expires at %s (set %v), want %s", at, ok, t0.Add(retention))
			}
			if at, ok := e.expiry(e.t, "many-04"); ok {
				e.t.Errorf("a job in progress committed in a batch expires at %s, want never", at)
			}
			// Committed: free for the next run, with no lease left.
			e.claim(e.mustLoad("many-00"), "run-b", labeling.StatusStopped, time.Minute)
		}},
		{"a batch committed after its leases' end commits each as Commit does", func(e env) {
			batch := e.store.(BatchCommitter)
			kept := e.claim(Record{Job: job}, "run-a", labeling.StatusFailed, time.Minute)
			taken := e.claim(Record{Job: "job-2"}, "run-a", labeling.StatusFailed, time.Minute)
			until := e.clock.Now().Add(time.Minute)
			e.clock.Advance(2 * time.Minute)
			e.claim(taken, "run-b", labeling.StatusFailed, time.Minute)
			errs := batch.CommitAll(e.ctx, "run-a", until, []Committing{
				{Next: Record{Job: job, Status: labeling.StatusFailed, ModifiedAt: m2, AlertedAt: t0}, Claimed: kept.Version},
				{Next: Record{Job: "job-2", Status: labeling.StatusFailed, ModifiedAt: m2, AlertedAt: t0}, Claimed: taken.Version},
			})
			if errs[0] != nil {
				e.t.Errorf("CommitAll of a lease expired but not taken over: %v", errs[0])
			}
			wantConflict(e.t, "CommitAll of a lease another run took over", errs[1])
			if rec := e.mustLoad("job-2"); rec.Lease == nil || rec.Lease.Owner != "run-b" || rec.Status != "" {
				e.t.Errorf("the record another run claimed: %s, want its claim kept", fmtRecord(rec))
			}
		}},
		{"many claimed at once; a changed or leased record conflicts", func(e env) {
			e.concurrent()
			batch, ok := e.store.(BatchClaimer)
			if !ok {
				e.t.Fatal("the store claims no batch")
			}
			// More than one TransactWriteItems takes.
			var jobs []Record
			var targets []labeling.Status
			for i := range 130 {
				name := fmt.Sprintf("many-%03d", i)
				prev := Record{Job: name}
				if i%2 == 0 {
					prev = e.move(prev, labeling.StatusInProgress, m1)
				}
				jobs = append(jobs, prev)
				targets = append(targets, labeling.StatusFailed)
			}
			// Another run holds one; one changed since it was read; one was
			// never read as stored.
			e.claim(jobs[7], "run-b", labeling.StatusFailed, time.Minute)
			e.move(jobs[120], labeling.StatusStopping, m2)
			jobs[121].Version = 5
			conflicts := map[int]bool{7: true, 120: true, 121: true}
			until := e.clock.Now().Add(time.Minute)
			errs := batch.ClaimAll(e.ctx, jobs, targets, Lease{Owner: "run-a", Until: until})
			for i, prev := range jobs {
				switch {
				case conflicts[i]:
					wantConflict(e.t, "ClaimAll of "+prev.Job, errs[i])
				case errs[i] != nil:
					e.t.Errorf("ClaimAll of %s: %v", prev.Job, errs[i])
				default:
					want := prev
					want.Version, want.Lease = prev.Version+1, &Lease{Owner: "run-a", Target: labeling.StatusFailed, Until: until}
					wantRecord(e.t, e.mustLoad(prev.Job), want)
				}
			}
			if rec := e.mustLoad(jobs[7].Job); rec.Lease == nil || rec.Lease.Owner != "run-b" {
				e.t.Errorf("the job another run holds: %s, want its claim kept", fmtRecord(rec))
			}
		}},
		{"many saved at once, as Save saves each; a changed or leased record conflicts", func(e env) {
			e.concurrent()
			batch, ok := e.store.(BatchSaver)
			if !ok {
				e.t.Fatal("the store saves no batch")
			}
			// More than one TransactWriteItems takes: new records, records
			// moved on (one with a card and progress), and one whose lease
			// expired.
			var jobs []Saving
			for i := range 130 {
				name := fmt.Sprintf("many-%03d", i)
				prev := Record{Job: name}
				if i%2 == 0 {
					prev = e.move(prev, labeling.StatusInitializing, m1)
				}
				next := Record{Job: name, Status: labeling.StatusInProgress, ModifiedAt: m2}
				if i == 4 {
					next.Card, next.Progress = card, progress
				}
				jobs = append(jobs, Saving{Prev: prev, Next: next})
			}
			jobs[10].Prev = e.claim(jobs[10].Prev, "run-c", labeling.StatusFailed, time.Second)
			e.clock.Advance(2 * time.Second)
			// Another run holds one; one changed since it was read; one was
			// never read as stored.
			e.claim(jobs[7].Prev, "run-b", labeling.StatusFailed, time.Minute)
			e.move(jobs[120].Prev, labeling.StatusStopping, m2)
			jobs[121].Prev.Version = 5
			conflicts := map[int]bool{7: true, 120: true, 121: true}
			errs := batch.SaveAll(e.ctx, jobs)
			for i, j := range jobs {
				switch {
				case conflicts[i]:
					wantConflict(e.t, "SaveAll of "+j.Prev.Job, errs[i])
				case errs[i] != nil:
					e.t.Errorf("SaveAll of %s: %v", j.Prev.Job, errs[i])
				default:
					want := j.Next
					want.Version = j.Prev.Version + 1
					want.Progress.MovedAt = fromMillis(millis(want.Progress.MovedAt)) // kept to the millisecond
					wantRecord(e.t, e.mustLoad(j.Prev.Job), want)
				}
			}
			if rec := e.mustLoad(jobs[7].Prev.Job); rec.Lease == nil || rec.Lease.Owner != "run-b" || rec.Status != jobs[7].Prev.Status {
				e.t.Errorf("the job another run holds: %s, want it as that run claimed it", fmtRecord(rec))
			}
			if rec := e.mustLoad(jobs[120].Prev.Job); rec.Status != labeling.StatusStopping {
				e.t.Errorf("the job changed since read: %s, want the change kept", fmtRecord(rec))
			}
			if _, ok := e.load(jobs[121].Prev.Job); ok {
				e.t.Errorf("a SaveAll that conflicted created a record")
			}
		}},
		{"commit by another run conflicts", func(e env) {
			rec := e.claim(Record{Job: job}, "run-a", labeling.StatusFailed, time.Minute)
			wantConflict(e.t, "Commit by non-owner", e.store.Commit(e.ctx, "run-b", Record{Job: job, Status: labeling.StatusFailed, ModifiedAt: m2, AlertedAt: t0}))
			wantConflict(e.t, "Commit of a job without record", e.store.Commit(e.ctx, "run-a", Record{Job: "job-2", Status: labeling.StatusFailed, ModifiedAt: m2, AlertedAt: t0}))
			wantRecord(e.t, e.mustLoad(job), rec)
			if _, ok := e.load("job-2"); ok {
				e.t.Errorf("failed Commit created a record")
			}
		}},
		{"release keeps the status and frees the job", func(e env) {
			saved := e.move(Record{Job: job}, labeling.StatusInProgress, m1)
			e.claim(saved, "run-a", labeling.StatusCompleted, time.Minute)
			if err := e.store.Release(e.ctx, job, "run-a"); err != nil {
				e.t.Fatalf("Release by owner: %v", err)
			}
			rec := e.mustLoad(job)
			wantRecord(e.t, rec, Record{Job: job, Status: labeling.StatusInProgress, ModifiedAt: m1, Version: 3})
			e.claim(rec, "run-b", labeling.StatusCompleted, time.Minute)
			wantConflict(e.t, "Release of a lease another run holds", e.store.Release(e.ctx, job, "run-a"))
			wantConflict(e.t, "Release of a job without record", e.store.Release(e.ctx, "job-2", "run-a"))
		}},
		{"lease taken over after expiry: old owner can neither commit nor release", func(e env) {
			rec := e.claim(Record{Job: job}, "run-a", labeling.StatusCompleted, time.Minute)
			e.clock.Advance(2 * time.Minute)
			e.claim(rec, "run-b", labeling.StatusCompleted, time.Minute)
			wantConflict(e.t, "Commit by the expired owner", e.store.Commit(e.ctx, "run-a", Record{Job: job, Status: labeling.StatusCompleted, ModifiedAt: m2, AlertedAt: t0}))
			wantConflict(e.t, "Release by the expired owner", e.store.Release(e.ctx, job, "run-a"))
			if err := e.store.Commit(e.ctx, "run-b", Record{Job: job, Status: labeling.StatusCompleted, ModifiedAt: m2, AlertedAt: t0}); err != nil {
				e.t.Fatalf("Commit by the new owner: %v", err)
			}
		}},
		{"owner may commit after its lease expired if nobody claimed", func(e env) {
			e.claim(Record{Job: job}, "run-a", labeling.StatusCompleted, time.Minute)
			e.clock.Advance(2 * time.Minute)
			if err := e.store.Commit(e.ctx, "run-a", Record{Job: job, Status: labeling.StatusCompleted, ModifiedAt: m2, AlertedAt: t0}); err != nil {
				e.t.Fatalf("Commit after expiry: %v", err)
			}
		}},
		{"save and commit write every part of next exactly", func(e env) {
			writes := []struct {
				name     string
				write    func(prev, next Record) error
				versions int64 // how far one write moves the version
			}{
				{"Save", func(prev, next Record) error { return e.store.Save(e.ctx, prev, next) }, 1},
				{"Commit", func(prev, next Record) error {
					e.claim(prev, "run-a", next.Status, time.Minute)
					return e.store.Commit(e.ctx, "run-a", next)
				}, 2}, // the Claim, then the Commit
			}
			steps := []struct {
				name string
				next func(prev Record) Record // from the record as loaded, Version and Lease included: both ignored
			}{
				{"every part set", func(prev Record) Record {
					prev.Status, prev.ModifiedAt, prev.AlertedAt = labeling.StatusInProgress, m1.Add(999*time.Microsecond), t0.Add(1500*time.Microsecond)
					prev.Card, prev.Progress = card, progress
					return prev
				}},
				{"card and progress changed in part", func(prev Record) Record {
					prev.Card = &Card{Channel: card.Channel, TS: card.TS} // nothing shown
					prev.Progress = Progress{Counters: labeling.Counters{Human: 2}, Milestone: 25}
					return prev
				}},
				{"card, progress and times removed", func(prev Record) Record {
					return Record{Job: prev.Job, Status: labeling.StatusInProgress}
				}},
				{"every part set again, terminal", func(prev Record) Record {
					return Record{Job: prev.Job, Status: labeling.StatusCompleted, ModifiedAt: m2, AlertedAt: t0, Card: card, Progress: progress}
				}},
				{"card removed, progress kept", func(prev Record) Record {
					prev.Card = nil
					return prev
				}},
			}
			for _, w := range writes {
				job := "job-" + strings.ToLower(w.name)
				prev := Record{Job: job}
				for _, step := range steps {
					next := step.next(prev)
					if err := w.write(prev, next); err != nil {
						e.t.Fatalf("%s %s: %v", w.name, step.name, err)
					}
					got := e.mustLoad(job)
					want := next
					want.ModifiedAt = next.ModifiedAt.Truncate(time.Millisecond)
					want.AlertedAt = next.AlertedAt.Truncate(time.Millisecond)
					want.Progress.MovedAt = next.Progress.MovedAt.Truncate(time.Millisecond)
					want.Version, want.Lease = prev.Version+w.versions, nil
					e.t.Run(w.name+" "+step.name, func(t *testing.T) { wantRecord(t, got, want) })
					prev = got
				}
			}
		}},
		{"save of progress alone keeps the rest", func(e env) {
			e.claim(e.move(Record{Job: job}, labeling.StatusInProgress, m1), "run-a", labeling.StatusInProgress, time.Minute)
			alerted := Record{Job: job, Status: labeling.StatusInProgress, ModifiedAt: m2, AlertedAt: t0, Card: card}
			if err := e.store.Commit(e.ctx, "run-a", alerted); err != nil {
				e.t.Fatalf("Commit: %v", err)
			}
			rec := e.mustLoad(job)
			next := rec
			next.Progress = progress
			got := e.save(rec, next)
			want := Record{Job: job, Status: labeling.StatusInProgress, ModifiedAt: m2, AlertedAt: t0, Card: card, Progress: progress, Version: rec.Version + 1}
			want.Progress.MovedAt = m2.Add(time.Millisecond)
			wantRecord(e.t, got, want)
		}},
		{"save and commit reject a next state no run could mean", func(e env) {
			rec := e.claim(e.move(Record{Job: job}, labeling.StatusInProgress, m1), "run-a", labeling.StatusCompleted, time.Minute)
			e.clock.Advance(2 * time.Minute) // the lease expired: only the next state stands in Save's way
			tests := []struct {
				name   string
				next   Record
				commit bool // whether Commit must reject it too (a job of its own, for Commit, is fine)
			}{
				{"empty status", Record{Job: job, ModifiedAt: m2}, true},
				{"card without ts", Record{Job: job, Status: labeling.StatusCompleted, Card: &Card{Channel: "C1"}}, true},
				{"card without channel", Record{Job: job, Status: labeling.StatusCompleted, Card: &Card{TS: "1.2"}}, true},
				{"another job", Record{Job: "job-2", Status: labeling.StatusCompleted}, false},
			}
			for _, tt := range tests {
				if err := e.store.Save(e.ctx, rec, tt.next); err == nil || errors.Is(err, ErrConflict) {
					e.t.Errorf("Save of %s = %v, want a non-conflict error", tt.name, err)
				}
				if !tt.commit {
					continue
				}
				if err := e.store.Commit(e.ctx, "run-a", tt.next); err == nil || errors.Is(err, ErrConflict) {
					e.t.Errorf("Commit of %s = %v, want a non-conflict error", tt.name, err)
				}
			}
			wantRecord(e.t, e.mustLoad(job), rec)
			if _, ok := e.load("job-2"); ok {
				e.t.Errorf("a rejected Save created a record of another job")
			}
		}},
		{"tally counts from 1, each key apart", func(e env) {
			const minute, next = "push-202611291405", "push-202611291406"
			expires := t0.Add(2 * time.Minute)
			for _, step := range []struct {
				key  string
				want int
			}{{minute, 1}, {minute, 2}, {minute, 3}, {next, 1}, {minute, 4}, {next, 2}} {
				got, err := e.store.Tally(e.ctx, step.key, expires)
				if err != nil || got != step.want {
					e.t.Fatalf("Tally(%q) = %d, %v; want %d", step.key, got, err, step.want)
				}
			}
			// A tally is no job: loading a job of the same name finds nothing.
			if _, ok := e.load(minute); ok {
				e.t.Errorf("Load(%q) found a record after Tally(%q)", minute, minute)
			}
		}},
		{"tally rejects keys it cannot store", func(e env) {
			longest := strings.Repeat("k", MaxTallyKey)
			for name, k := range map[string]string{
				"empty":        "",
				"too long":     longest + "k",
				"reserved":     CursorKey,
				"space":        "push 1",
				"underscore":   "push_1",
				"slash":        "push/1",
				"non-ASCII":    "püsh-1",
				"trailing NUL": "push-1\x00",
			} {
				if n, err := e.store.Tally(e.ctx, k, t0.Add(time.Minute)); err == nil || errors.Is(err, ErrConflict) {
					e.t.Errorf("Tally of %s key %q = %d, %v; want a non-conflict error", name, k, n, err)
				}
			}
			if n, err := e.store.Tally(e.ctx, "push-1", time.Time{}); err == nil {
				e.t.Errorf("Tally without expiry = %d, want an error", n)
			}
			if n, err := e.store.Tally(e.ctx, longest, t0.Add(time.Minute)); err != nil || n != 1 {
				e.t.Errorf("Tally of a %d-character key = %d, %v; want 1", MaxTallyKey, n, err)
			}
			if n, err := e.store.Tally(e.ctx, "push-1", t0.Add(time.Minute)); err != nil || n != 1 {
				e.t.Errorf("Tally after rejected calls = %d, %v; want 1 (a rejected call counted)", n, err)
			}
		}},
		{"only terminal statuses expire", func(e env) {
			wantExpiry := func(what string, want time.Time) {
				e.t.Helper()
				got, ok := e.expiry(e.t, job)
				switch {
				case want.IsZero() && ok:
					e.t.Errorf("%s: expires at %s, want never", what, got)
				case !want.IsZero() && (!ok || !got.Equal(want)):
					e.t.Errorf("%s: expires at %s (set %v), want %s", what, got, ok, want)
				}
			}
			rec := e.move(Record{Job: job}, labeling.StatusInProgress, m1)
			wantExpiry("InProgress", time.Time{})
			e.claim(rec, "run-a", labeling.StatusCompleted, time.Minute)
			wantExpiry("claimed", time.Time{})
			e.clock.Advance(1500 * time.Millisecond)
			if err := e.store.Commit(e.ctx, "run-a", Record{Job: job, Status: labeling.StatusCompleted, ModifiedAt: m2, AlertedAt: t0}); err != nil {
				e.t.Fatalf("Commit: %v", err)
			}
			// TTL is in whole seconds; the sub-second part is cut.
			wantExpiry("Completed", t0.Add(retention+time.Second))
			rec = e.move(e.mustLoad(job), labeling.StatusStopping, m2) // not a real move; the store does not judge
			wantExpiry("Stopping again", time.Time{})
			e.move(rec, labeling.StatusStopped, m2)
			wantExpiry("Stopped", t0.Add(retention+time.Second))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := testenv.NewClock(t0)
			store, probe := open(t, c)
			tt.run(env{t: t, ctx: context.Background(), store: store, clock: c, expiry: probe, flaw: flaw})
		})
	}

	// Racing runs sharing a budget: each of 16 tallies of one key gets its
	// own count, so together they count exactly 1 to 16.
	t.Run("concurrent tallies", func(t *testing.T) {
		if flaw != "" {
			t.Skip(string(flaw))
		}
		t.Parallel()
		store, _ := open(t, testenv.NewClock(t0))
		const runs = 16
		counts := make(chan int, runs)
		var wg sync.WaitGroup
		for range runs {
			wg.Go(func() {
				n, err := store.Tally(context.Background(), "push-202611291405", t0.Add(time.Minute))
				if err != nil {
					t.Errorf("Tally: %v", err)
				}
				counts <- n
			})
		}
		wg.Wait()
		close(counts)
		var got []int
		for n := range counts {
			got = append(got, n)
		}
		slices.Sort(got)
		want := make([]int, runs)
		for i := range want {
			want[i] = i + 1
		}
		if !slices.Equal(got, want) {
			t.Errorf("%d concurrent tallies counted %v, want %v", runs, got, want)
		}
	})

	// Racing runs: of 8 claims on the same version exactly one wins, whether
	// the record is new or exists.
	t.Run("concurrent claims", func(t *testing.T) {
		if flaw != "" {
			t.Skip(string(flaw))
		}
		t.Parallel()
		c := testenv.NewClock(t0)
		store, _ := open(t, c)
		e := env{t: t, ctx: context.Background(), store: store, clock: c}
		existing := e.move(Record{Job: "job-2"}, labeling.StatusInProgress, m1)
		for _, prev := range []Record{{Job: job}, existing} {
			const runs = 8
			errs := make(chan error, runs)
			var wg sync.WaitGroup
			for i := range runs {
				wg.Go(func() {
					errs <- store.Claim(e.ctx, prev, Lease{Owner: fmt.Sprintf("run-%d", i), Target: labeling.StatusCompleted, Until: t0.Add(time.Minute)})
				})
			}
			wg.Wait()
			close(errs)
			won := 0
			for err := range errs {
				switch {
				case err == nil:
					won++
				case !errors.Is(err, ErrConflict):
					t.Errorf("Claim(%q): %v", prev.Job, err)
				}
			}
			if won != 1 {
				t.Errorf("Claim(%q v%d): %d of %d runs won, want 1", prev.Job, prev.Version, won, runs)
			}
			if rec := e.mustLoad(prev.Job); rec.Lease == nil || rec.Version != prev.Version+1 {
				t.Errorf("after racing claims: %s", fmtRecord(rec))
			}
		}
	})

	// Racing runs claiming many jobs at once (two digests of one storm):
	// of 8 ClaimAll calls over the same 120 jobs, each job is won by one.
	t.Run("concurrent batch claims", func(t *testing.T) {
		if flaw != "" {
			t.Skip(string(flaw))
		}
		t.Parallel()
		c := testenv.NewClock(t0)
		store, _ := open(t, c)
		batch := store.(BatchClaimer)
		var jobs []Record
		var targets []labeling.Status
		for i := range 120 {
			jobs = append(jobs, Record{Job: fmt.Sprintf("storm-%03d", i)})
			targets = append(targets, labeling.StatusFailed)
		}
		const runs = 8
		won := make([][]error, runs)
		var wg sync.WaitGroup
		for r := range runs {
			wg.Go(func() {
				won[r] = batch.ClaimAll(context.Background(), jobs, targets, Lease{Owner: fmt.Sprintf("run-%d", r), Until: t0.Add(time.Minute)})
			})
		}
		wg.Wait()
		for i, job := range jobs {
			n := 0
			for r := range runs {
				switch err := won[r][i]; {
				case err == nil:
					n++
				case !errors.Is(err, ErrConflict):
					t.Errorf("ClaimAll of %s by run-%d: %v", job.Job, r, err)
				}
			}
			if n != 1 {
				t.Errorf("%s: %d of %d runs won it, want 1", job.Job, n, runs)
			}
		}
	})
}
