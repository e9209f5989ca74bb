package state

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labelwatch/labelwatch/internal/clock"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

func TestFileStore(t *testing.T) {
	testStore(t, func(t *testing.T, c clock.Clock) (Store, expiryProbe) {
		path := filepath.Join(t.TempDir(), "state.json")
		store, err := OpenFile(path, retention, c)
		if err != nil {
			t.Fatal(err)
		}
		// Read expiry back from disk, which also checks every write reached it.
		return store, func(t *testing.T, job string) (time.Time, bool) {
			st := readStateFile(t, path)
			r, ok := st.Jobs[job]
			return r.ExpiresAt, ok && !r.ExpiresAt.IsZero()
		}
	}, "")
}

func readStateFile(t *testing.T, path string) fileState {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := decodeFile(data)
	if err != nil {
		t.Fatalf("state file: %v", err)
	}
	return st
}

func openFile(t *testing.T, path string, c clock.Clock) *FileStore {
	t.Helper()
	store, err := OpenFile(path, retention, c)
	if err != nil {
		t.Fatalf("OpenFile: %v", err)
	}
	return store
}

func TestFileStoreSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.json")
	c := testenv.NewClock(t0)
	first := openFile(t, path, c)
	if err := first.Save(ctx, Record{Job: "job-1"}, Record{Job: "job-1", Status: labeling.StatusCompleted, ModifiedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := first.Claim(ctx, Record{Job: "job-2"}, Lease{Owner: "run-a", Target: labeling.StatusFailed, Until: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	running := Record{Job: "job-3", Status: labeling.StatusInProgress, ModifiedAt: t0,
		Card: &Card{Channel: "C0123ABCD", TS: "1772366400.000100", Shown: "fp"},
		Progress: Progress{Counters: labeling.Counters{Total: 40, Human: 30, Machine: 10, Failed: 2, Unlabeled: 58},
			MovedAt: t0.Add(-time.Hour), Milestone: 25, Stuck: true, FailedWarned: true}}
	if err := first.Save(ctx, Record{Job: "job-3"}, running); err != nil {
		t.Fatal(err)
	}
	cursor := Cursor{At: t0, Seen: map[string]Listing{"job-1": {ModifiedAt: t0, Status: labeling.StatusCompleted}}}
	if err := first.AdvanceCursor(ctx, cursor); err != nil {
		t.Fatal(err)
	}
	want, err := first.Load(ctx, []string{"job-1", "job-2", "job-3"})
	if err != nil {
		t.Fatal(err)
	}

	second := openFile(t, path, c)
	got, err := second.Load(ctx, []string{"job-1", "job-2", "job-3"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("after reopen: %d records, want %d", len(got), len(want))
	}
	for job, rec := range want {
		wantRecord(t, got[job], rec)
	}
	if cur, ok, err := second.Cursor(ctx); err != nil || !ok {
		t.Errorf("after reopen: Cursor() = ok %v, %v", ok, err)
	} else {
		wantCursor(t, cur, cursor)
	}
	// The reopened store continues the same records.
	if err := second.Commit(ctx, "run-a", Record{Job: "job-2", Status: labeling.StatusFailed, ModifiedAt: t0, AlertedAt: t0}); err != nil {
		t.Errorf("Commit after reopen: %v", err)
	}
}

// A first run's baseline survives a reopen, and a file written before
// baselines existed opens without one.
func TestFileStoreBaselineSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()

	path := filepath.Join(dir, "state.json")
	want := Baseline{Began: t0, CreatedAfter: t0.Add(-time.Minute)}
	if err := openFile(t, path, nil).SaveBaseline(ctx, want); err != nil {
		t.Fatal(err)
	}
	c, ok, err := openFile(t, path, nil).Cursor(ctx)
	if err != nil || ok {
		t.Fatalf("after reopen: Cursor() = %s, ok %v, %v; want no cursor", fmtCursor(c), ok, err)
	}
	wantBaseline(t, "after reopen", c.Baseline, &want)

	old := filepath.Join(dir, "old.json")
	if err := os.WriteFile(old, []byte(`{"format": 1, "jobs": {}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	store := openFile(t, old, nil)
	if c, ok, err := store.Cursor(ctx); err != nil || ok || c.Baseline != nil {
		t.Fatalf("file without a baseline: Cursor() = %s, ok %v, %v; want unset", fmtCursor(c), ok, err)
	}
	if err := store.SaveBaseline(ctx, want); err != nil {
		t.Fatalf("SaveBaseline into a file without one: %v", err)
	}
	if b := readStateFile(t, old).Baseline; b == nil || !b.Began.Equal(want.Began) || !b.CreatedAfter.Equal(want.CreatedAfter) {
		t.Errorf("file's baseline = %+v, want %s", b, fmtBaseline(&want))
	}
}

func TestOpenFileRejectsCorrupt(t *testing.T) {
	tests := []struct {
		name, content string
	}{
		{"empty", ""},
		{"torn", `{"format": 1, "jobs": {"job-1": {"status": "InPro`},
		{"not JSON", "labelwatch"},
		{"trailing garbage", `{"format": 1, "jobs": {}} x`},
		{"not an object", `[]`},
		{"no format", `{"jobs": {}}`},
		{"unknown format", `{"format": 2, "jobs": {}}`},
		{"reserved key", `{"format": 1, "jobs": {"#cursor": {"version": 1}}}`},
		{"reserved key in seen", `{"format": 1, "cursor": "2026-03-01T12:00:00Z", "seen": {"#cursor": {"modifiedAt": "2026-03-01T12:00:00Z", "status": "InProgress"}}, "jobs": {}}`},
		{"version zero", `{"format": 1, "jobs": {"job-1": {"status": "InProgress"}}}`},
		{"bad time", `{"format": 1, "cursor": "yesterday", "jobs": {}}`},
		{"bad tally key", `{"format": 1, "jobs": {}, "tallies": {"#cursor": {"n": 1, "expires": "2026-03-01T12:00:00Z"}}}`},
		{"tally count zero", `{"format": 1, "jobs": {}, "tallies": {"push-1": {"n": 0, "expires": "2026-03-01T12:00:00Z"}}}`},
		{"tally without expiry", `{"format": 1, "jobs": {}, "tallies": {"push-1": {"n": 1}}}`},
		{"baseline without start", `{"format": 1, "jobs": {}, "baseline": {"createdAfter": "2026-03-01T12:00:00Z"}}`},
		{"baseline without creation time", `{"format": 1, "jobs": {}, "baseline": {"began": "2026-03-01T12:00:00Z"}}`},
		{"baseline beside a cursor", `{"format": 1, "cursor": "2026-03-01T12:00:00Z", "jobs": {}, "baseline": {"began": "2026-03-01T12:00:00Z", "createdAfter": "2026-03-01T11:00:00Z"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := OpenFile(path, retention, nil)
			if err == nil || !strings.Contains(err.Error(), "corrupt") || !strings.Contains(err.Error(), path) {
				t.Errorf("OpenFile: got %v, want an error calling %s corrupt", err, path)
			}
			if data, _ := os.ReadFile(path); string(data) != tt.content {
				t.Errorf("OpenFile changed the corrupt file to %q", data)
			}
		})
	}
}

// Opening creates nothing: a run that fails before its first write, or has
// nothing to record, leaves no file behind. The first write creates it.
func TestOpenFileCreatesNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	store := openFile(t, path, nil)
	if cur, ok, err := store.Cursor(ctx); err != nil || ok || !cur.At.IsZero() {
		t.Errorf("Cursor() = %v, %v, %v; want no cursor", cur.At, ok, err)
	}
	if recs, err := store.Load(ctx, []string{"job-1"}); err != nil || len(recs) != 0 {
		t.Errorf("Load = %v, %v; want no records", recs, err)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Fatalf("after OpenFile the directory holds %v (%v), want nothing", entries, err)
	}

	if err := store.Save(ctx, Record{Job: "job-1"}, Record{Job: "job-1", Status: labeling.StatusInProgress, ModifiedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if st := readStateFile(t, path); st.Jobs["job-1"].Status != labeling.StatusInProgress {
		t.Errorf("after the first write the state file has %+v", st.Jobs["job-1"])
	}
}

// A directory that cannot take the file fails at OpenFile, not at the first
// write in the middle of a cycle, and is left as it was.
func TestOpenFileUnusableDirectory(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) (path string)
		root  bool // whether the case holds for root, who may write anywhere
	}{
		{"no such directory", func(t *testing.T, dir string) string {
			return filepath.Join(dir, "no-such-dir", "state.json")
		}, true},
		{"parent is a file", func(t *testing.T, dir string) string {
			file := filepath.Join(dir, "file")
			if err := os.WriteFile(file, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(file, "state.json")
		}, true},
		{"read-only directory", func(t *testing.T, dir string) string {
			ro := filepath.Join(dir, "ro")
			if err := os.Mkdir(ro, 0o500); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(ro, "state.json")
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.root && os.Geteuid() == 0 {
				t.Skip("root may write to any directory")
			}
			dir := t.TempDir()
			path := tt.setup(t, dir)
			before, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			_, err = OpenFile(path, retention, nil)
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Errorf("OpenFile(%s): got %v, want an error naming the path", path, err)
			}
			if after, err := os.ReadDir(dir); err != nil || len(after) != len(before) {
				t.Errorf("OpenFile left %v in the directory, which held %v (%v)", after, before, err)
			}
		})
	}
}

// A crash between creating the temporary file and renaming it leaves the
// temporary file behind; the state file is untouched by it.
func TestFileStoreIgnoresLeftoverTempFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	store := openFile(t, path, nil)
	if err := store.Save(ctx, Record{Job: "job-1"}, Record{Job: "job-1", Status: labeling.StatusInProgress, ModifiedAt: t0}); err != nil {
		t.Fatal(err)
	}
	leftover := filepath.Join(dir, ".state.json.12345.tmp")
	if err := os.WriteFile(leftover, []byte(`{"format": 1, "jobs": {"job-1": {"sta`), 0o600); err != nil {
		t.Fatal(err)
	}

	store = openFile(t, path, nil)
	rec, ok := (env{t: t, ctx: ctx, store: store}).load("job-1")
	if !ok || rec.Status != labeling.StatusInProgress {
		t.Fatalf("after reopen: %s, %v; want the saved record", fmtRecord(rec), ok)
	}
	if err := store.Save(ctx, rec, moved(rec, labeling.StatusCompleted, t0)); err != nil {
		t.Fatalf("Save after reopen: %v", err)
	}
	if st := readStateFile(t, path); st.Jobs["job-1"].Status != labeling.StatusCompleted {
		t.Errorf("state file has %+v", st.Jobs["job-1"])
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 { // state.json and the leftover; writes leave no temp files of their own
		t.Errorf("directory holds %d files, want 2: %v", len(entries), entries)
	}
}

// A write that cannot reach the disk changes nothing, in memory either.
func TestFileStoreFailedWriteKeepsState(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	store := openFile(t, filepath.Join(dir, "state.json"), nil)
	e := env{t: t, ctx: ctx, store: store}
	saved := e.move(Record{Job: "job-1"}, labeling.StatusInProgress, t0)
	if err := store.AdvanceCursor(ctx, Cursor{At: t0}); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil { // the directory vanishes under the store
		t.Fatal(err)
	}

	if err := store.Save(ctx, saved, moved(saved, labeling.StatusCompleted, t0)); err == nil || errors.Is(err, ErrConflict) {
		t.Errorf("Save: got %v, want a write error", err)
	}
	wantRecord(t, e.mustLoad("job-1"), saved)
	lease := Lease{Owner: "run-a", Target: labeling.StatusCompleted, Until: time.Now().Add(time.Minute)}
	if err := store.Claim(ctx, Record{Job: "job-2"}, lease); err == nil {
		t.Errorf("Claim succeeded, want a write error")
	}
	if _, ok := e.load("job-2"); ok {
		t.Errorf("failed Claim left a record")
	}
	if n, err := store.Tally(ctx, "push-1", t0.Add(time.Minute)); err == nil {
		t.Errorf("Tally = %d, want a write error", n)
	}
	if err := store.AdvanceCursor(ctx, Cursor{At: t0.Add(time.Hour)}); err == nil {
		t.Errorf("AdvanceCursor succeeded, want a write error")
	}
	if cur, _, _ := store.Cursor(ctx); !cur.At.Equal(t0) {
		t.Errorf("failed AdvanceCursor moved the cursor to %s", cur.At)
	}
}

func TestFileStoreDropsExpiredRecords(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.json")
	c := testenv.NewClock(t0)
	store := openFile(t, path, c)
	e := env{t: t, ctx: ctx, store: store, clock: c}
	e.move(Record{Job: "done"}, labeling.StatusCompleted, t0)
	e.move(Record{Job: "running"}, labeling.StatusInProgress, t0)

	c.Advance(retention)
	e.move(Record{Job: "other"}, labeling.StatusInProgress, t0)
	for _, store := range []Store{store, openFile(t, path, c)} {
		recs, err := store.Load(ctx, []string{"done", "running", "other"})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := recs["done"]; ok || len(recs) != 2 {
			t.Errorf("after retention: records %v, want running and other only", recs)
		}
	}
}

// Every write replaces the file with a new one rather than rewriting it in
// place, so a crash mid-write cannot leave a torn file: a reader that opened
// the old file still reads all of it, and no temporary file is left over.
func TestFileStoreReplacesFileWhole(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	store := openFile(t, path, nil)
	e := env{t: t, ctx: ctx, store: store}
	rec := e.move(Record{Job: "job-1"}, labeling.StatusInProgress, t0)

	old, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	oldInfo, err := old.Stat()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	e.move(rec, labeling.StatusCompleted, t0.Add(time.Minute))
	newInfo, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if os.SameFile(oldInfo, newInfo) {
		t.Errorf("the write rewrote %s in place", path)
	}
	if got, err := io.ReadAll(old); err != nil || string(got) != string(want) {
		t.Errorf("the file as opened before the write reads %d bytes (%v), want the %d bytes it had", len(got), err, len(want))
	}
	if st := readStateFile(t, path); st.Jobs["job-1"].Status != labeling.StatusCompleted {
		t.Errorf("state file has %+v, want the new record", st.Jobs["job-1"])
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 1 {
		t.Errorf("directory holds %v (%v), want only the state file", entries, err)
	}
	if newInfo.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", newInfo.Mode().Perm())
	}
}

// Tallies live in the state file beside the jobs: a reopened store counts
// on, an expired tally is gone from the file at the next write, and a file
// written before tallies existed opens as one without any.
func TestFileStoreTallies(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.json")
	old := `{"format": 1, "jobs": {"job-1": {"status": "InProgress", "version": 1}}}`
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	c := testenv.NewClock(t0)
	tally := func(store Store, key string, expires time.Time, want int) {
		t.Helper()
		if n, err := store.Tally(ctx, key, expires); err != nil || n != want {
			t.Fatalf("Tally(%q) = %d, %v; want %d", key, n, err, want)
		}
	}
	first := openFile(t, path, c)
	tally(first, "push-1", t0.Add(time.Minute), 1)
	tally(first, "push-1", t0.Add(time.Minute+1500*time.Millisecond), 2) // kept to the second
	tally(first, "push-2", t0.Add(2*time.Minute), 1)
	st := readStateFile(t, path)
	want := map[string]fileTally{
		"push-1": {N: 2, Expires: t0.Add(time.Minute + time.Second)},
		"push-2": {N: 1, Expires: t0.Add(2 * time.Minute)},
	}
	if len(st.Tallies) != len(want) || len(st.Jobs) != 1 {
		t.Fatalf("state file has tallies %v and %d jobs, want %v and the old job", st.Tallies, len(st.Jobs), want)
	}
	for key, w := range want {
		if got := st.Tallies[key]; got.N != w.N || !got.Expires.Equal(w.Expires) {
			t.Errorf("state file tally %q = %+v, want %+v", key, got, w)
		}
	}

	second := openFile(t, path, c)
	tally(second, "push-1", t0.Add(time.Minute), 3)
	// At its expiry a tally is gone, as DynamoDB's TTL may have deleted it.
	c.Advance(time.Minute)
	tally(second, "push-1", t0.Add(2*time.Minute), 1)
	c.Advance(time.Minute)
	e := env{t: t, ctx: ctx, store: second, clock: c}
	e.move(e.mustLoad("job-1"), labeling.StatusStopping, t0)
	if st := readStateFile(t, path); len(st.Tallies) != 0 {
		t.Errorf("after every tally expired, the state file keeps %v", st.Tallies)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "tallies") {
		t.Errorf("state file without tallies names them:\n%s", data)
	}
}
