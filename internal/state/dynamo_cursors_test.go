package state

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

// cursorSources is a table of several sources' cursors, each stored as a
// source leaves it at some point of its life, behind a proxy that counts
// the calls.
type cursorSources struct {
	proxy  *testenv.DynamoProxy
	client *dynamodb.Client
	clock  *testenv.Clock
	table  string
	home   *DynamoStore
	scopes []string                // the sources' scopes, "" the home's
	stores map[string]*DynamoStore // by scope
}

// newCursorSources makes a table on dynalite of five sources: the home's
// cursor with seen and idle jobs and an origin, a plain cursor, a first
// run's baseline and no cursor yet, a source never written, and one whose
// cursor moved on from a baseline.
func newCursorSources(t *testing.T, dynalite string) *cursorSources {
	t.Helper()
	proxy := testenv.NewDynamoProxy(dynalite)
	t.Cleanup(proxy.Close)
	cs := &cursorSources{proxy: proxy, client: dynamodb.NewFromConfig(testenv.AWSConfig(proxy.URL)), clock: testenv.NewClock(t0),
		scopes: []string{"", "eu-west-1", "ap-south-1", "222222222222/us-east-1", "222222222222/eu-west-1"}, stores: map[string]*DynamoStore{}}
	cs.table = newTable(t, cs.client)
	cs.home = NewDynamoStore(cs.client, cs.table, retention, cs.clock)
	for _, scope := range cs.scopes {
		s, err := cs.home.Scope(scope)
		if err != nil {
			t.Fatal(err)
		}
		cs.stores[scope] = s
	}
	ctx := t.Context()
	at := t0.Add(-time.Minute)
	writes := []error{
		cs.home.AdvanceCursor(ctx, Cursor{At: t0, Origin: t0.Add(-24 * time.Hour),
			Seen:      map[string]Listing{"job-1": {ModifiedAt: at, Status: labeling.StatusCompleted}},
			Idle:      map[string]Idle{"job-2": {Listing: Listing{ModifiedAt: at, Status: labeling.StatusInProgress}, Counters: labeling.Counters{Total: 10, Human: 4, Unlabeled: 6}, Until: t0.Add(time.Hour)}},
			IdleRules: "rules-1"}),
		cs.stores["eu-west-1"].AdvanceCursor(ctx, Cursor{At: t0.Add(time.Second)}),
		cs.stores["222222222222/us-east-1"].SaveBaseline(ctx, Baseline{Began: t0.Add(-time.Hour), CreatedAfter: t0.Add(-30 * time.Minute)}),
		cs.stores["222222222222/eu-west-1"].SaveBaseline(ctx, Baseline{Began: t0.Add(-time.Hour), CreatedAfter: t0.Add(-30 * time.Minute)}),
		cs.stores["222222222222/eu-west-1"].AdvanceCursor(ctx, Cursor{At: t0.Add(-time.Hour), Origin: t0.Add(-time.Hour)}),
	}
	for _, err := range writes {
		if err != nil {
			t.Fatal(err)
		}
	}
	return cs
}

// own is what each store's own Cursor returns, read without a batch.
func (cs *cursorSources) own(t *testing.T) map[string]CursorRead {
	t.Helper()
	out := map[string]CursorRead{}
	for scope, s := range cs.stores {
		c, ok, err := s.Cursor(t.Context())
		if err != nil {
			t.Fatalf("source %q: Cursor: %v", scope, err)
		}
		out[scope] = CursorRead{Cursor: c, OK: ok}
	}
	return out
}

// reads counts the proxy's GetItem and BatchGetItem calls.
func (cs *cursorSources) reads() (get, batch int) {
	return cs.proxy.Calls("GetItem"), cs.proxy.Calls("BatchGetItem")
}

// wantReads fails t unless the reads since (get, batch) were as many as
// wanted.
func (cs *cursorSources) wantReads(t *testing.T, get, batch, wantGet, wantBatch int) {
	t.Helper()
	g, b := cs.reads()
	if g-get != wantGet || b-batch != wantBatch {
		t.Errorf("%d GetItem and %d BatchGetItem calls, want %d and %d", g-get, b-batch, wantGet, wantBatch)
	}
}

// cursorsUnder calls every store's Cursor under ctx at once, as the
// sources of one poll do, and returns what each got.
func (cs *cursorSources) cursorsUnder(t *testing.T, ctx context.Context) map[string]CursorRead {
	t.Helper()
	var (
		mu  sync.Mutex
		out = map[string]CursorRead{}
		wg  sync.WaitGroup
	)
	for scope, s := range cs.stores {
		wg.Go(func() {
			c, ok, err := s.Cursor(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("source %q: Cursor under a batch: %v", scope, err)
			}
			out[scope] = CursorRead{Cursor: c, OK: ok}
		})
	}
	wg.Wait()
	return out
}

// TestCursors reads several sources' cursors at once on dynalite: in one
// BatchGetItem (or one per MaxBatch), each exactly what the source's own
// Cursor returns, the cursors never written and those holding only a first
// run's baseline included; under WithCursorBatch, the sources of one poll
// share that one read, and a read of one invocation is never another's.
func TestCursors(t *testing.T) {
	dynalite := testenv.Dynalite(t)

	t.Run("one call, each as its own Cursor reads it", func(t *testing.T) {
		t.Parallel()
		cs := newCursorSources(t, dynalite)
		want := cs.own(t)
		if !want[""].OK || want[""].Cursor.Idle == nil || want[""].Cursor.Seen == nil || want["ap-south-1"].OK || want["ap-south-1"].Cursor.Baseline != nil ||
			want["222222222222/us-east-1"].OK || want["222222222222/us-east-1"].Cursor.Baseline == nil || !want["222222222222/eu-west-1"].OK {
			t.Fatalf("the sources are not as set up: %+v", want)
		}
		for _, from := range []string{"", "222222222222/us-east-1"} { // "" is the table's own source from any store
			get, batch := cs.reads()
			got, err := cs.stores[from].Cursors(t.Context(), cs.scopes)
			if err != nil {
				t.Fatal(err)
			}
			cs.wantReads(t, get, batch, 0, 1)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Cursors from source %q:\n got %+v\nwant %+v", from, got, want)
			}
		}
	})

	t.Run("more sources than a call takes", func(t *testing.T) {
		t.Parallel()
		cs := newCursorSources(t, dynalite)
		var scopes []string
		for i := range MaxBatch + 20 {
			scopes = append(scopes, fmt.Sprintf("region-%d", i))
		}
		far, err := cs.home.Scope(scopes[MaxBatch+5])
		if err != nil {
			t.Fatal(err)
		}
		if err := far.AdvanceCursor(t.Context(), Cursor{At: t0}); err != nil {
			t.Fatal(err)
		}
		get, batch := cs.reads()
		got, err := cs.home.Cursors(t.Context(), append(scopes, scopes[0])) // a scope twice is read once
		if err != nil {
			t.Fatal(err)
		}
		cs.wantReads(t, get, batch, 0, 2)
		if len(got) != len(scopes) || !got[scopes[MaxBatch+5]].OK || !got[scopes[MaxBatch+5]].Cursor.At.Equal(t0) || got[scopes[0]].OK {
			t.Errorf("got %d cursors (%v set), want %d, one set", len(got), got[scopes[MaxBatch+5]], len(scopes))
		}
	})

	t.Run("unprocessed keys are asked for again, on the store's clock", func(t *testing.T) {
		t.Parallel()
		cs := newCursorSources(t, dynalite)
		want := cs.own(t)
		cs.proxy.FailNext("BatchGetItem", 2, testenv.Unprocessed)
		get, batch := cs.reads()
		got, err := cs.home.Cursors(t.Context(), cs.scopes)
		if err != nil {
			t.Fatal(err)
		}
		cs.wantReads(t, get, batch, 0, 3)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v\nwant %+v", got, want)
		}
		if waits := cs.clock.Waits(); len(waits) != 2 {
			t.Errorf("waited %v on the store's clock, want two waits", waits)
		}
	})

	t.Run("keys left unprocessed are left out", func(t *testing.T) {
		t.Parallel()
		cs := newCursorSources(t, dynalite)
		cs.proxy.FailNext("BatchGetItem", batchAttempts, testenv.UnprocessedAll)
		got, err := cs.home.Cursors(t.Context(), cs.scopes)
		if err == nil || len(got) != 0 {
			t.Errorf("got %+v, %v; want no cursor and an error", got, err)
		}
	})

	t.Run("a bad scope", func(t *testing.T) {
		t.Parallel()
		cs := newCursorSources(t, dynalite)
		if got, err := cs.home.Cursors(t.Context(), []string{"eu-west-1", "EU/west/1"}); err == nil {
			t.Errorf("got %+v, want an error", got)
		}
	})

	t.Run("a poll's sources share one read", func(t *testing.T) {
		t.Parallel()
		cs := newCursorSources(t, dynalite)
		want := cs.own(t)
		get, batch := cs.reads()
		got := cs.cursorsUnder(t, WithCursorBatch(t.Context(), cs.scopes))
		cs.wantReads(t, get, batch, 0, 1)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v\nwant %+v", got, want)
		}
	})

	t.Run("a pre-read serves its invocation only, and once", func(t *testing.T) {
		t.Parallel()
		cs := newCursorSources(t, dynalite)
		first := WithCursorBatch(t.Context(), cs.scopes)
		before := cs.cursorsUnder(t, first)
		// Every source's cycle ends: its cursor moves on.
		for scope, s := range cs.stores {
			if err := s.AdvanceCursor(t.Context(), Cursor{At: t0.Add(time.Hour)}); err != nil {
				t.Fatalf("source %q: %v", scope, err)
			}
		}
		want := cs.own(t)
		for scope, read := range want {
			if !read.OK || !read.Cursor.At.Equal(t0.Add(time.Hour)) || reflect.DeepEqual(read, before[scope]) {
				t.Fatalf("source %q: cursor %+v after advancing it, before %+v", scope, read, before[scope])
			}
		}
		// The next invocation reads anew, whether batched or not.
		get, batch := cs.reads()
		if got := cs.cursorsUnder(t, WithCursorBatch(t.Context(), cs.scopes)); !reflect.DeepEqual(got, want) {
			t.Errorf("the next invocation got %+v\nwant %+v", got, want)
		}
		cs.wantReads(t, get, batch, 0, 1)
		// The first invocation's read is used up: a store asking again
		// under it reads its own, now.
		get, batch = cs.reads()
		if got := cs.cursorsUnder(t, first); !reflect.DeepEqual(got, want) {
			t.Errorf("asked again under the first invocation's batch: got %+v\nwant %+v", got, want)
		}
		cs.wantReads(t, get, batch, len(cs.stores), 0)
	})

	t.Run("a failed pre-read: each source reads its own", func(t *testing.T) {
		t.Parallel()
		cs := newCursorSources(t, dynalite)
		want := cs.own(t)
		cs.proxy.FailNext("BatchGetItem", batchAttempts, testenv.UnprocessedAll)
		get, batch := cs.reads()
		if got := cs.cursorsUnder(t, WithCursorBatch(t.Context(), cs.scopes)); !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v\nwant %+v", got, want)
		}
		cs.wantReads(t, get, batch, len(cs.stores), batchAttempts)
	})

	t.Run("stores outside the batch read their own", func(t *testing.T) {
		t.Parallel()
		cs := newCursorSources(t, dynalite)
		ctx := WithCursorBatch(t.Context(), cs.scopes[1:]) // not the home's
		other := cs.table + "-other"
		testenv.CreateTable(t, cs.client, other)
		elsewhere := NewDynamoStore(cs.client, other, retention, cs.clock)
		scoped, err := elsewhere.Scope("eu-west-1") // in the batch's scopes, of another table
		if err != nil {
			t.Fatal(err)
		}
		get, batch := cs.reads()
		if _, ok, err := cs.home.Cursor(ctx); err != nil || !ok {
			t.Fatalf("home: %v, %v", ok, err)
		}
		cs.wantReads(t, get, batch, 1, 0)
		if _, ok, err := cs.stores["eu-west-1"].Cursor(ctx); err != nil || !ok {
			t.Fatalf("eu-west-1: %v, %v", ok, err)
		}
		cs.wantReads(t, get, batch, 1, 1)
		if _, ok, err := scoped.Cursor(ctx); err != nil || ok {
			t.Errorf("eu-west-1 of another table: %v, %v; want its own, unset cursor", ok, err)
		}
		cs.wantReads(t, get, batch, 2, 1)
	})
}
