package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/labelwatch/labelwatch/internal/clock"
	"github.com/labelwatch/labelwatch/internal/labeling"
)

// fileFormat is written into every state file; a file without it is not
// labelwatch state, and a later incompatible layout gets a new number.
const fileFormat = 1

// FileStore is the Store for local runs: the whole state in one JSON file,
// with the same conditional semantics as DynamoStore.
//
// Every write rewrites the whole file (to a temporary file in the same
// directory, synced, then renamed over the old one, then the directory
// synced), so a crash leaves the old state or the new, never a torn file.
// That costs a write of the whole state per change, which is fine for the
// thousands of jobs a local run sees (10,000 jobs are a few MB), not for a
// deployment. A FileStore is safe for concurrent use within one process;
// two processes must not share a file.
type FileStore struct {
	path      string
	retention time.Duration
	clock     clock.Clock

	mu       sync.Mutex // guards the fields below and the file
	cursor   Cursor     // Baseline unused: see baseline
	baseline *Baseline  // a first run's progress; nil once a cursor is set
	jobs     map[string]fileRecord
	tallies  map[string]fileTally
}

var _ Store = (*FileStore)(nil)

// fileState is the file's content.
type fileState struct {
	Format int                    `json:"format"`
	Cursor time.Time              `json:"cursor,omitzero"`
	Origin time.Time              `json:"origin,omitzero"` // Cursor.Origin; files written before it have none
	Seen   map[string]fileListing `json:"seen,omitempty"`  // Cursor.Seen
	// Idle is Cursor.Idle. Files written before it existed have none.
	Idle      map[string]fileIdle `json:"idle,omitempty"`
	IdleRules string              `json:"idleRules,omitempty"`
	// Baseline is a first run's progress, only while Cursor is unset.
	// Files written before SaveBaseline existed have none.
	Baseline *fileBaseline         `json:"baseline,omitempty"`
	Jobs     map[string]fileRecord `json:"jobs"`
	// Tallies are Tally's counters, by key. Files written before Tally
	// existed have none.
	Tallies map[string]fileTally `json:"tallies,omitempty"`
}

// fileTally is one of Tally's counters.
type fileTally struct {
	N       int       `json:"n"`
	Expires time.Time `json:"expires"` // whole seconds, as DynamoDB's TTL has it
}

// fileBaseline is Baseline with the file's own names.
type fileBaseline struct {
	Began        time.Time `json:"began"`
	CreatedAfter time.Time `json:"createdAfter"`
}

type fileListing struct {
	ModifiedAt time.Time       `json:"modifiedAt"`
	Status     labeling.Status `json:"status"`
}

type fileIdle struct {
	ModifiedAt time.Time         `json:"modifiedAt"`
	Status     labeling.Status   `json:"status"`
	Counters   labeling.Counters `json:"counters"`
	Until      time.Time         `json:"until,omitzero"`
}

type fileRecord struct {
	Status     labeling.Status `json:"status,omitempty"`
	ModifiedAt time.Time       `json:"modifiedAt,omitzero"`
	AlertedAt  time.Time       `json:"alertedAt,omitzero"`
	Version    int64           `json:"version"`
	Lease      *fileLease      `json:"lease,omitempty"`
	ExpiresAt  time.Time       `json:"expiresAt,omitzero"` // set while Status is terminal
	Card       *fileCard       `json:"card,omitempty"`
	Progress   *fileProgress   `json:"progress,omitempty"` // nil when Progress is zero
}

type fileCard struct {
	Channel string `json:"channel"`
	TS      string `json:"ts"`
	Shown   string `json:"shown,omitempty"`
}

// fileProgress is Record.Progress with the file's own names, so that a
// renamed field of labeling.Counters cannot silently change the format.
type fileProgress struct {
	Total        int       `json:"total,omitempty"`
	Human        int       `json:"human,omitempty"`
	Machine      int       `json:"machine,omitempty"`
	Failed       int       `json:"failed,omitempty"`
	Unlabeled    int       `json:"unlabeled,omitempty"`
	MovedAt      time.Time `json:"movedAt,omitzero"`
	Milestone    int       `json:"milestone,omitempty"`
	Stuck        bool      `json:"stuck,omitempty"`
	FailedWarned bool      `json:"failedWarned,omitempty"`
}

type fileLease struct {
	Owner  string          `json:"owner"`
	Target labeling.Status `json:"target"`
	Until  time.Time       `json:"until"`
}

func (r fileRecord) record(job string) Record {
	rec := Record{Job: job, Status: r.Status, ModifiedAt: r.ModifiedAt, AlertedAt: r.AlertedAt, Version: r.Version}
	if r.Lease != nil {
		rec.Lease = &Lease{Owner: r.Lease.Owner, Target: r.Lease.Target, Until: r.Lease.Until}
	}
	if r.Card != nil {
		rec.Card = &Card{Channel: r.Card.Channel, TS: r.Card.TS, Shown: r.Card.Shown}
	}
	if p := r.Progress; p != nil {
		rec.Progress = Progress{
			Counters:     labeling.Counters{Total: p.Total, Human: p.Human, Machine: p.Machine, Failed: p.Failed, Unlabeled: p.Unlabeled},
			MovedAt:      p.MovedAt,
			Milestone:    p.Milestone,
			Stuck:        p.Stuck,
			FailedWarned: p.FailedWarned,
		}
	}
	return rec
}

func (r fileRecord) live(now time.Time) bool {
	return r.Lease != nil && now.Before(r.Lease.Until)
}

// OpenFile opens the state file at path. A missing file is an empty state;
// the first write creates it, so a run that records nothing leaves nothing
// behind. path's directory must exist and take new files: OpenFile checks
// that now rather than at the first write. A file that is not valid
// labelwatch state is an error; it is left as it is. retention and c mean
// what they mean for NewDynamoStore; expired records and tallies are dropped
// at the next write.
func OpenFile(path string, retention time.Duration, c clock.Clock) (*FileStore, error) {
	if c == nil {
		c = clock.System{}
	}
	s := &FileStore{path: path, retention: retention, clock: c, jobs: map[string]fileRecord{}, tallies: map[string]fileTally{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := checkDir(path); err != nil {
			return nil, fmt.Errorf("open state file %s: %w", path, err)
		}
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open state file: %w", err)
	}
	st, err := decodeFile(data)
	if err != nil {
		return nil, fmt.Errorf("open state file %s: corrupt, not overwriting it (move it aside to start afresh): %w", path, err)
	}
	s.cursor = Cursor{At: st.Cursor, Origin: st.Origin}
	if len(st.Seen) > 0 {
		s.cursor.Seen = make(map[string]Listing, len(st.Seen))
		for job, l := range st.Seen {
			s.cursor.Seen[job] = Listing(l)
		}
	}
	for job, l := range st.Idle {
		if s.cursor.Idle == nil {
			s.cursor.Idle = make(map[string]Idle, len(st.Idle))
		}
		s.cursor.Idle[job] = Idle{Listing: Listing{ModifiedAt: l.ModifiedAt, Status: l.Status}, Counters: l.Counters, Until: l.Until}
	}
	if s.cursor.Idle != nil {
		s.cursor.IdleRules = st.IdleRules
	}
	if b := st.Baseline; b != nil {
		s.baseline = &Baseline{Began: b.Began, CreatedAfter: b.CreatedAfter}
	}
	s.jobs = st.Jobs
	s.tallies = st.Tallies
	return s, nil
}

func decodeFile(data []byte) (fileState, error) {
	var st fileState
	if err := json.Unmarshal(data, &st); err != nil {
		return fileState{}, err
	}
	if st.Format != fileFormat {
		return fileState{}, fmt.Errorf("format %d, want %d", st.Format, fileFormat)
	}
	if st.Jobs == nil {
		st.Jobs = map[string]fileRecord{}
	}
	if st.Tallies == nil {
		st.Tallies = map[string]fileTally{}
	}
	for key, t := range st.Tallies {
		if err := checkTally(key, t.Expires); err != nil {
			return fileState{}, fmt.Errorf("tally %q: %w", key, err)
		}
		if t.N < 1 {
			return fileState{}, fmt.Errorf("tally %q: count %d", key, t.N)
		}
	}
	for job, r := range st.Jobs {
		if err := checkJob(job); err != nil {
			return fileState{}, err
		}
		if r.Version < 1 {
			return fileState{}, fmt.Errorf("job %q: version %d", job, r.Version)
		}
	}
	for job := range st.Seen {
		if err := checkJob(job); err != nil {
			return fileState{}, fmt.Errorf("seen: %w", err)
		}
	}
	for job := range st.Idle {
		if err := checkJob(job); err != nil {
			return fileState{}, fmt.Errorf("idle: %w", err)
		}
	}
	if b := st.Baseline; b != nil {
		if _, err := checkBaseline(Baseline{Began: b.Began, CreatedAfter: b.CreatedAfter}); err != nil {
			return fileState{}, err
		}
		if !st.Cursor.IsZero() {
			return fileState{}, errors.New("a first run's baseline beside a cursor")
		}
	}
	return st, nil
}

// Cursor returns the cursor as of the last write, or the baseline before
// the first.
func (s *FileStore) Cursor(ctx context.Context) (Cursor, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cursor.At.IsZero() {
		if s.baseline == nil {
			return Cursor{}, false, nil
		}
		b := *s.baseline
		return Cursor{Baseline: &b}, false, nil
	}
	return Cursor{At: s.cursor.At, Seen: maps.Clone(s.cursor.Seen), Idle: maps.Clone(s.cursor.Idle), IdleRules: s.cursor.IdleRules, Origin: s.cursor.Origin}, true, nil
}

// AdvanceCursor replaces the cursor with c if the stored one is older.
func (s *FileStore) AdvanceCursor(ctx context.Context, c Cursor) error {
	op := fmt.Sprintf("advance cursor to %s", c.At.UTC().Format(time.RFC3339Nano))
	c, err := checkCursor(c)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.cursor.At.Before(c.At) {
		return nil
	}
	old, oldBaseline := s.cursor, s.baseline
	if c.Origin.IsZero() {
		c.Origin = old.Origin
	}
	s.cursor, s.baseline = c, nil // the first complete cycle ends the first run
	if err := s.persist(); err != nil {
		s.cursor, s.baseline = old, oldBaseline
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// SaveBaseline replaces the baseline with b while no cursor is set and the
// stored baseline, if any, resumes earlier than b.
func (s *FileStore) SaveBaseline(ctx context.Context, b Baseline) error {
	op := fmt.Sprintf("save first run's progress to %s", b.CreatedAfter.UTC().Format(time.RFC3339Nano))
	b, err := checkBaseline(b)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.cursor.At.IsZero() || s.baseline != nil && !s.baseline.CreatedAfter.Before(b.CreatedAfter) {
		return nil
	}
	old := s.baseline
	s.baseline = &b
	if err := s.persist(); err != nil {
		s.baseline = old
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// Load returns the records in memory, which are those on disk.
func (s *FileStore) Load(ctx context.Context, jobs []string) (map[string]Record, error) {
	names, err := checkBatch(jobs)
	if err != nil {
		return nil, fmt.Errorf("load job state: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	recs := make(map[string]Record, len(names))
	for _, job := range names {
		if r, ok := s.jobs[job]; ok {
			recs[job] = r.record(job)
		}
	}
	return recs, nil
}

// Save writes next, dropping an expired lease.
func (s *FileStore) Save(ctx context.Context, prev, next Record) error {
	op := fmt.Sprintf("save state of job %q", prev.Job)
	if next.Job != prev.Job {
		return fmt.Errorf("%s: next state is of job %q", op, next.Job)
	}
	if err := checkNext(next); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return s.write(op, prev.Job, func(r fileRecord, now time.Time) (fileRecord, error) {
		if r.Version != prev.Version || r.live(now) {
			return r, ErrConflict
		}
		return s.apply(r, next, now), nil
	})
}

// Claim puts lease on prev.Job's record, creating a record without a status
// for a job seen for the first time.
func (s *FileStore) Claim(ctx context.Context, prev Record, lease Lease) error {
	op := fmt.Sprintf("claim alert for job %q", prev.Job)
	if err := checkLease(lease); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return s.write(op, prev.Job, func(r fileRecord, now time.Time) (fileRecord, error) {
		if r.Version != prev.Version || r.live(now) {
			return r, ErrConflict
		}
		r.Version++
		r.Lease = &fileLease{Owner: lease.Owner, Target: lease.Target, Until: fromMillis(millis(lease.Until))}
		return r, nil
	})
}

// Commit writes next and drops owner's lease, whether or not it has
// expired, as long as no other run has claimed since.
func (s *FileStore) Commit(ctx context.Context, owner string, next Record) error {
	op := fmt.Sprintf("commit alert for job %q", next.Job)
	if err := checkNext(next); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if owner == "" {
		return fmt.Errorf("%s: empty owner", op)
	}
	return s.write(op, next.Job, func(r fileRecord, now time.Time) (fileRecord, error) {
		if r.Lease == nil || r.Lease.Owner != owner {
			return r, ErrConflict
		}
		return s.apply(r, next, now), nil
	})
}

// CommitAll commits each job as Commit does: a file takes one write at a
// time, so there is nothing to save by writing them together.
func (s *FileStore) CommitAll(ctx context.Context, owner string, until time.Time, jobs []Committing) []error {
	errs := make([]error, len(jobs))
	for i, c := range jobs {
		errs[i] = s.Commit(ctx, owner, c.Next)
	}
	return errs
}

var _ BatchCommitter = (*FileStore)(nil)

// ClaimAll claims each job as Claim does.
func (s *FileStore) ClaimAll(ctx context.Context, jobs []Record, targets []labeling.Status, lease Lease) []error {
	errs := make([]error, len(jobs))
	for i, prev := range jobs {
		l := lease
		l.Target = targets[i]
		errs[i] = s.Claim(ctx, prev, l)
	}
	return errs
}

var _ BatchClaimer = (*FileStore)(nil)

// SaveAll saves each job as Save does.
func (s *FileStore) SaveAll(ctx context.Context, jobs []Saving) []error {
	errs := make([]error, len(jobs))
	for i, j := range jobs {
		errs[i] = s.Save(ctx, j.Prev, j.Next)
	}
	return errs
}

var _ BatchSaver = (*FileStore)(nil)

// apply returns r after a Save or Commit of next at now: next's state in
// place of r's, whatever r held, times cut to the millisecond as DynamoStore
// keeps them, one version on, and no lease.
func (s *FileStore) apply(r fileRecord, next Record, now time.Time) fileRecord {
	r.Status = next.Status
	r.ModifiedAt = fromMillis(millis(next.ModifiedAt))
	r.AlertedAt = fromMillis(millis(next.AlertedAt))
	r.Card = nil
	if c := next.Card; c != nil {
		r.Card = &fileCard{Channel: c.Channel, TS: c.TS, Shown: c.Shown}
	}
	r.Progress = nil
	if p := next.Progress; !p.zero() {
		r.Progress = &fileProgress{
			Total:        p.Counters.Total,
			Human:        p.Counters.Human,
			Machine:      p.Counters.Machine,
			Failed:       p.Counters.Failed,
			Unlabeled:    p.Counters.Unlabeled,
			MovedAt:      fromMillis(millis(p.MovedAt)),
			Milestone:    p.Milestone,
			Stuck:        p.Stuck,
			FailedWarned: p.FailedWarned,
		}
	}
	r.Version++
	r.Lease = nil
	r.ExpiresAt = expiry(next.Status, now, s.retention)
	return r
}

// Release drops owner's lease and leaves the status as it was.
func (s *FileStore) Release(ctx context.Context, job, owner string) error {
	op := fmt.Sprintf("release claim on job %q", job)
	if owner == "" {
		return fmt.Errorf("%s: empty owner", op)
	}
	return s.write(op, job, func(r fileRecord, now time.Time) (fileRecord, error) {
		if r.Lease == nil || r.Lease.Owner != owner {
			return r, ErrConflict
		}
		r.Version++
		r.Lease = nil
		return r, nil
	})
}

// write applies change to job's record (the zero record if there is none)
// and persists the result; on any error memory and disk keep the old record.
// Records that expired by now are dropped first, as DynamoDB's TTL would
// have deleted them.
func (s *FileStore) write(op, job string, change func(r fileRecord, now time.Time) (fileRecord, error)) error {
	if err := checkJob(job); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	s.dropExpired(now)
	old, existed := s.jobs[job]
	r, err := change(old, now)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	s.jobs[job] = r
	if err := s.persist(); err != nil {
		if existed {
			s.jobs[job] = old
		} else {
			delete(s.jobs, job)
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// Tally adds one to the counter under the store's lock, so concurrent
// calls in this process each get a count of their own. Every call sets the
// counter's expiry to expires, as DynamoStore does.
func (s *FileStore) Tally(ctx context.Context, name string, expires time.Time) (int, error) {
	op := fmt.Sprintf("tally %q", name)
	if err := checkTally(name, expires); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropExpired(s.clock.Now())
	old, existed := s.tallies[name]
	n := old.N + 1
	s.tallies[name] = fileTally{N: n, Expires: time.Unix(expires.Unix(), 0).UTC()}
	if err := s.persist(); err != nil {
		if existed {
			s.tallies[name] = old
		} else {
			delete(s.tallies, name)
		}
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	return n, nil
}

// dropExpired deletes the records and tallies that expired by now, as
// DynamoDB's TTL would have. The caller holds mu.
func (s *FileStore) dropExpired(now time.Time) {
	maps.DeleteFunc(s.jobs, func(_ string, r fileRecord) bool {
		return !r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt)
	})
	maps.DeleteFunc(s.tallies, func(_ string, t fileTally) bool {
		return !now.Before(t.Expires)
	})
}

// persist replaces the file with the state in memory. The caller holds mu.
func (s *FileStore) persist() error {
	st := fileState{Format: fileFormat, Cursor: s.cursor.At, Origin: s.cursor.Origin, Jobs: s.jobs, Tallies: s.tallies}
	if b := s.baseline; b != nil {
		st.Baseline = &fileBaseline{Began: b.Began, CreatedAfter: b.CreatedAfter}
	}
	if len(s.cursor.Seen) > 0 {
		st.Seen = make(map[string]fileListing, len(s.cursor.Seen))
		for job, l := range s.cursor.Seen {
			st.Seen[job] = fileListing(l)
		}
	}
	if len(s.cursor.Idle) > 0 {
		st.IdleRules = s.cursor.IdleRules
		st.Idle = make(map[string]fileIdle, len(s.cursor.Idle))
		for job, l := range s.cursor.Idle {
			st.Idle[job] = fileIdle{ModifiedAt: l.ModifiedAt, Status: l.Status, Counters: l.Counters, Until: l.Until}
		}
	}
	data, err := json.MarshalIndent(st, "", "\t")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	return writeFileAtomic(s.path, append(data, '\n'))
}

// checkDir checks that a file can be created beside path, the way
// writeFileAtomic will, and leaves nothing behind.
func checkDir(path string) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		var pathErr *fs.PathError
		if errors.As(err, &pathErr) {
			err = pathErr.Err // its path is the temporary file's
		}
		return fmt.Errorf("cannot create files in %s: %w", dir, err)
	}
	err = tmp.Close()
	if rmErr := os.Remove(tmp.Name()); err == nil {
		err = rmErr
	}
	if err != nil {
		return fmt.Errorf("check directory %s: %w", dir, err)
	}
	return nil
}

// writeFileAtomic replaces path with data so that, after a crash at any
// point, path holds either its old content or data. The temporary file
// lives in path's directory because rename is only atomic within one file
// system.
func writeFileAtomic(path string, data []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	// Without this sync a crash after the rename can leave path empty: the
	// rename may reach the disk before the data does.
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync state file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replace state file: %w", err)
	}
	// The rename itself is durable only once the directory is synced.
	// Windows cannot open a directory for syncing.
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync state directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync state directory: %w", err)
	}
	return nil
}
