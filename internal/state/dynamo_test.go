package state

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/labelwatch/labelwatch/internal/clock"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

// TestDynamoStore runs everything against each DynamoDB implementation the
// tests have: dynalite, and moto's. Each implementation is one server; each
// case gets its own table on it. They differ where DynamoDB leaves room (see
// REFERENCE.md), so a store that passes on one only may lean on a quirk.
func TestDynamoStore(t *testing.T) {
	for _, server := range []dynamoServer{
		{name: "dynalite", start: testenv.Dynalite, sizesReads: true},
		// moto 5.2.1 answers ReturnConsumedCapacity on GetItem with a fixed
		// 0.5 units whatever the item's size or consistency
		// (@include_consumed_capacity(0.5) on get_item in
		// moto/dynamodb/responses.py).
		// Its writes are not atomic under concurrency: update_item reads
		// the item, then writes it back, with no lock between (moto/dynamodb/
		// models/__init__.py). Of 8 claims racing on one version, now and
		// then 2 win (seen in a CI run from a fresh clone); of 16 tallies
		// racing on a new key, now and then 2 both create the item and both
		// count 1 (seen 3 times in under 25 local runs). DynamoDB and dynalite allow
		// neither.
		{name: "moto", start: testenv.Moto, sizesReads: false,
			racy: "moto 5.2.1's writes race under concurrency (2 of 8 claims on one version won; 2 of 16 tallies of a new key both counted 1; two transactions at once, of one batch, answered 500 to every item): the races and batches are tested on dynalite and on moto served one request at a time"},
		// moto's app served without threads: its writes, transactions
		// included, are one at a time, as DynamoDB's are per item. dynalite
		// has no TransactWriteItems: there ClaimAll claims one by one.
		{name: "moto, one request at a time", start: testenv.MotoSerial, sizesReads: false},
	} {
		t.Run(server.name, func(t *testing.T) {
			t.Parallel()
			testDynamoStore(t, server, dynamodb.NewFromConfig(testenv.AWSConfig(server.start(t))))
		})
	}
}

// dynamoServer is a DynamoDB implementation to test the store against.
type dynamoServer struct {
	name       string
	start      func(testing.TB) string // starts a server for the test, returns its endpoint
	sizesReads bool                    // consumed capacity grows with the item read, as in DynamoDB
	racy       racy                    // why concurrent writes cannot be tested here, if so
}

func testDynamoStore(t *testing.T, server dynamoServer, client *dynamodb.Client) {
	t.Run("contract", func(t *testing.T) {
		t.Parallel()
		testStore(t, func(t *testing.T, c clock.Clock) (Store, expiryProbe) {
			table := newTable(t, client)
			return NewDynamoStore(client, table, retention, c), func(t *testing.T, job string) (time.Time, bool) {
				return dynamoExpiry(t, client, table, job)
			}
		}, server.racy)
	})

	t.Run("contract, one source of several", func(t *testing.T) {
		t.Parallel()
		const scope = "222222222222/eu-west-1"
		testStore(t, func(t *testing.T, c clock.Clock) (Store, expiryProbe) {
			table := newTable(t, client)
			store, err := NewDynamoStore(client, table, retention, c).Scope(scope)
			if err != nil {
				t.Fatal(err)
			}
			return store, func(t *testing.T, job string) (time.Time, bool) {
				return dynamoExpiry(t, client, table, scope+"/"+job)
			}
		}, server.racy)
	})

	t.Run("sources apart", func(t *testing.T) {
		t.Parallel()
		testSourcesApart(t, client)
	})

	// ClaimAll claims in transactions where the table serves them, and
	// one by one, remembered, where it does not (dynalite).
	t.Run("batch claims by transaction", func(t *testing.T) {
		t.Parallel()
		store := NewDynamoStore(client, newTable(t, client), retention, testenv.NewClock(t0))
		errs := store.ClaimAll(context.Background(), []Record{{Job: "job-1"}, {Job: "job-2"}}, []labeling.Status{labeling.StatusFailed, labeling.StatusFailed},
			Lease{Owner: "run-a", Until: t0.Add(time.Minute)})
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("ClaimAll: %v", errs)
		}
		if got, want := store.transactions.Load() == transactionsRefused, server.name == "dynalite"; got != want {
			t.Errorf("claims one by one %v, want %v: %s serves TransactWriteItems %v", got, want, server.name, !want)
		}
	})

	// A first batch of several transactions sends one alone until the
	// table has answered whether it serves them: a table without them
	// refuses one call, not one for each call in flight.
	t.Run("a batch asks once whether the table serves transactions", func(t *testing.T) {
		if server.racy != "" {
			t.Skip(string(server.racy))
		}
		t.Parallel()
		counted := &transactCounter{DynamoAPI: client}
		store := NewDynamoStore(counted, newTable(t, client), retention, testenv.NewClock(t0))
		jobs := make([]Saving, 450)
		for i := range jobs {
			name := fmt.Sprintf("job-%03d", i)
			jobs[i] = Saving{Prev: Record{Job: name}, Next: Record{Job: name, Status: labeling.StatusInProgress, ModifiedAt: t0}}
		}
		for i, err := range store.SaveAll(context.Background(), jobs) {
			if err != nil {
				t.Fatalf("SaveAll of %s: %v", jobs[i].Prev.Job, err)
			}
		}
		want := int64(5)
		if server.name == "dynalite" {
			want = 1
		}
		if n := counted.calls.Load(); n != want {
			t.Errorf("%d TransactWriteItems calls for 450 saves on %s, want %d", n, server.name, want)
		}
	})

	t.Run("missing table", func(t *testing.T) {
		t.Parallel()
		const table = "no-such-table"
		store := NewDynamoStore(client, table, retention, nil)
		ctx := context.Background()
		calls := map[string]error{
			"Cursor":        func() error { _, _, err := store.Cursor(ctx); return err }(),
			"AdvanceCursor": store.AdvanceCursor(ctx, Cursor{At: t0}),
			"SaveBaseline":  store.SaveBaseline(ctx, Baseline{Began: t0, CreatedAfter: t0}),
			"Load":          func() error { _, err := store.Load(ctx, []string{"job-1"}); return err }(),
			"Save":          store.Save(ctx, Record{Job: "job-1"}, Record{Job: "job-1", Status: labeling.StatusInProgress, ModifiedAt: t0}),
			"Claim":         store.Claim(ctx, Record{Job: "job-1"}, Lease{Owner: "run-a", Target: labeling.StatusCompleted, Until: t0}),
			"Commit":        store.Commit(ctx, "run-a", Record{Job: "job-1", Status: labeling.StatusCompleted, ModifiedAt: t0, AlertedAt: t0}),
			"Release":       store.Release(ctx, "job-1", "run-a"),
			"Tally":         func() error { _, err := store.Tally(ctx, "push-1", t0); return err }(),
		}
		for name, err := range calls {
			var missing *types.ResourceNotFoundException
			if !errors.As(err, &missing) {
				t.Errorf("%s: got %v, want a ResourceNotFoundException", name, err)
				continue
			}
			if !strings.Contains(err.Error(), strconv.Quote(table)) {
				t.Errorf("%s: error %q does not name the table", name, err)
			}
		}
	})

	// The cursor item at its largest: MaxSeen of the longest job names, with
	// the longest status. A strongly consistent read costs a read unit per
	// 4 KB, so the capacity it consumes bounds its size.
	t.Run("cursor item at MaxSeen", func(t *testing.T) {
		t.Parallel()
		table := newTable(t, client)
		ctx := context.Background()
		store := NewDynamoStore(client, table, retention, nil)
		seen := map[string]Listing{}
		for i := range 2 * MaxSeen {
			name := fmt.Sprintf("%063d", i)
			seen[name] = Listing{ModifiedAt: t0.Add(time.Duration(i) * time.Millisecond), Status: labeling.StatusInitializing}
		}
		if err := store.AdvanceCursor(ctx, Cursor{At: t0.Add(time.Hour), Seen: seen}); err != nil {
			t.Fatal(err)
		}
		out, err := client.GetItem(ctx, &dynamodb.GetItemInput{
			TableName:              aws.String(table),
			Key:                    key(CursorKey),
			ConsistentRead:         aws.Bool(true),
			ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
		})
		if err != nil {
			t.Fatal(err)
		}
		c, _, err := store.Cursor(ctx)
		if err != nil || len(c.Seen) != MaxSeen {
			t.Errorf("Cursor() has %d jobs (%v), want %d", len(c.Seen), err, MaxSeen)
		}
		units := aws.ToFloat64(out.ConsumedCapacity.CapacityUnits)
		if !server.sizesReads {
			t.Skipf("the cursor item's size is NOT checked: %s answers %.1f read units for any item", server.name, units)
		}
		const most = 50 // read units: 200 KB, half of DynamoDB's 400 KB item limit
		t.Logf("cursor item of %d jobs: %.0f read units", MaxSeen, units)
		if units > most {
			t.Errorf("reading the cursor item costs %.0f read units, want at most %d", units, most)
		}
	})

	// A job's item as stored, which the README documents and an operator
	// reads in the console: the nested card and progress under short names,
	// and no attribute for a part that is zero.
	t.Run("item layout", func(t *testing.T) {
		t.Parallel()
		table := newTable(t, client)
		ctx := context.Background()
		store := NewDynamoStore(client, table, retention, clock.NewFake(t0))
		next := Record{Job: "job-1", Status: labeling.StatusInProgress, ModifiedAt: t0, AlertedAt: t0.Add(time.Second),
			Card:     &Card{Channel: "C0123ABCD", TS: "1772366400.000100", Shown: "fp"},
			Progress: Progress{Counters: labeling.Counters{Total: 40, Failed: 2}, MovedAt: t0, Stuck: true}}
		if err := store.Save(ctx, Record{Job: "job-1"}, next); err != nil {
			t.Fatal(err)
		}
		out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key("job-1"), ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any // numbers decode as float64
		if err := attributevalue.UnmarshalMap(out.Item, &got); err != nil {
			t.Fatal(err)
		}
		ms := float64(t0.UnixMilli())
		want := map[string]any{
			"pk": "job-1", "status": "InProgress", "modifiedAt": ms, "alertedAt": ms + 1000, "version": float64(1),
			"card":     map[string]any{"c": "C0123ABCD", "t": "1772366400.000100", "f": "fp"},
			"progress": map[string]any{"t": float64(40), "f": float64(2), "mv": ms, "st": true},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("item:\n got %v\nwant %v", got, want)
		}
	})

	// The cursor item through a first run: the baseline's two times while
	// there is no cursor, then the cursor alone once the first cycle ends.
	t.Run("cursor item layout", func(t *testing.T) {
		t.Parallel()
		table := newTable(t, client)
		ctx := context.Background()
		store := NewDynamoStore(client, table, retention, clock.NewFake(t0))
		ms := func(t time.Time) float64 { return float64(t.UnixMilli()) }
		began, created := t0.Add(-time.Hour), t0.Add(-time.Minute+1500*time.Microsecond)
		steps := []struct {
			name  string
			write func() error
			want  map[string]any // numbers decode as float64
		}{
			{"SaveBaseline", func() error { return store.SaveBaseline(ctx, Baseline{Began: began, CreatedAfter: created}) },
				map[string]any{"pk": "#cursor", "baselineBegan": ms(began), "baselineCreated": ms(created)}},
			{"AdvanceCursor", func() error { return store.AdvanceCursor(ctx, Cursor{At: began}) },
				map[string]any{"pk": "#cursor", "cursor": ms(began)}},
			{"SaveBaseline after the cursor", func() error { return store.SaveBaseline(ctx, Baseline{Began: began, CreatedAfter: t0}) },
				map[string]any{"pk": "#cursor", "cursor": ms(began)}},
		}
		for _, step := range steps {
			if err := step.write(); err != nil {
				t.Fatalf("%s: %v", step.name, err)
			}
			out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key(CursorKey), ConsistentRead: aws.Bool(true)})
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := attributevalue.UnmarshalMap(out.Item, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, step.want) {
				t.Errorf("after %s:\n got %v\nwant %v", step.name, got, step.want)
			}
		}
	})

	// A tally's item: the count and the table's TTL attribute in epoch
	// seconds, moved by every call, at a key no job name can have.
	t.Run("tally item layout", func(t *testing.T) {
		t.Parallel()
		table := newTable(t, client)
		ctx := context.Background()
		store := NewDynamoStore(client, table, retention, clock.NewFake(t0))
		const name = "push-202611291405"
		for i, step := range []struct {
			expires, want time.Time
		}{
			// TTL is in whole seconds; the sub-second part is cut.
			{t0.Add(2*time.Minute + 1500*time.Millisecond), t0.Add(2*time.Minute + time.Second)},
			// A later call moves the expiry.
			{t0.Add(5 * time.Minute), t0.Add(5 * time.Minute)},
		} {
			n, err := store.Tally(ctx, name, step.expires)
			if err != nil || n != i+1 {
				t.Fatalf("Tally(%q) = %d, %v; want %d", name, n, err, i+1)
			}
			out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key("#tally-" + name), ConsistentRead: aws.Bool(true)})
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any // numbers decode as float64
			if err := attributevalue.UnmarshalMap(out.Item, &got); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"pk": "#tally-" + name, "n": float64(i + 1), "expiresAt": float64(step.want.Unix())}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("after tally %d:\n got %v\nwant %v", i+1, got, want)
			}
		}
	})

	t.Run("load", func(t *testing.T) {
		t.Parallel()
		table := newTable(t, client)
		ctx := context.Background()
		seed := NewDynamoStore(client, table, retention, nil)
		var names []string
		for i := range 10 {
			name := fmt.Sprintf("job-%d", i)
			names = append(names, name)
			if err := seed.Save(ctx, Record{Job: name}, Record{Job: name, Status: labeling.StatusInProgress, ModifiedAt: t0}); err != nil {
				t.Fatal(err)
			}
		}

		tests := []struct {
			name      string
			serve     int // keys answered per call
			ctx       func() context.Context
			wantCalls []int  // keys asked for, per call
			wantErr   error  // to match with errors.Is
			wantText  string // to find in the error
		}{
			{name: "one call when all keys are served", serve: MaxBatch, wantCalls: []int{10}},
			{name: "unprocessed keys asked for again", serve: 3, wantCalls: []int{10, 7, 4, 1}},
			{name: "gives up after bounded attempts", serve: 0, wantCalls: []int{10, 10, 10, 10, 10, 10}, wantText: "6 attempts"},
			{name: "stops waiting when ctx ends", serve: 0, wantCalls: []int{10}, wantErr: context.Canceled, ctx: func() context.Context {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				api := &stingyDynamo{DynamoAPI: client, serve: tt.serve}
				clk := clock.NewFake(t0) // the store's waits take no time
				store := NewDynamoStore(api, table, retention, clk)
				ctx := context.Background()
				if tt.ctx != nil {
					ctx = tt.ctx()
				}
				recs, err := store.Load(ctx, names)
				switch {
				case tt.wantText != "":
					if err == nil || !strings.Contains(err.Error(), tt.wantText) {
						t.Errorf("Load: got %v, want an error saying %q", err, tt.wantText)
					}
				case tt.wantErr != nil:
					if !errors.Is(err, tt.wantErr) {
						t.Errorf("Load: got %v, want %v", err, tt.wantErr)
					}
				case err != nil:
					t.Errorf("Load: %v", err)
				case len(recs) != len(names):
					t.Errorf("Load returned %d records, want %d", len(recs), len(names))
				}
				if got := fmt.Sprint(api.calls); got != fmt.Sprint(tt.wantCalls) {
					t.Errorf("BatchGetItem calls asked for %s keys, want %v", got, tt.wantCalls)
				}
				if api.inconsistent {
					t.Errorf("a BatchGetItem call did not ask for consistent reads")
				}
				// A wait before each call after the first, half to all of a
				// delay that starts at batchRetryDelay and doubles; none once
				// ctx has ended.
				waits := clk.Waits()
				wantWaits := max(len(tt.wantCalls)-1, 0)
				if tt.ctx != nil {
					wantWaits = 0
				}
				if len(waits) != wantWaits {
					t.Errorf("Load waited %v on its clock, want %d waits", waits, wantWaits)
				}
				delay := batchRetryDelay
				for i, w := range waits {
					if w < delay/2 || w > delay {
						t.Errorf("wait %d is %v, want %v to %v", i+1, w, delay/2, delay)
					}
					delay = min(2*delay, batchRetryMax)
				}
			})
		}
	})
}

// stingyDynamo answers at most serve keys of each BatchGetItem call and hands
// the rest back as UnprocessedKeys, as DynamoDB does when throttled.
type stingyDynamo struct {
	DynamoAPI
	serve int

	mu           sync.Mutex
	calls        []int
	inconsistent bool
}

func (s *stingyDynamo) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	out := &dynamodb.BatchGetItemOutput{
		Responses:       map[string][]map[string]types.AttributeValue{},
		UnprocessedKeys: map[string]types.KeysAndAttributes{},
	}
	for table, req := range in.RequestItems {
		s.mu.Lock()
		s.calls = append(s.calls, len(req.Keys))
		s.inconsistent = s.inconsistent || !aws.ToBool(req.ConsistentRead)
		s.mu.Unlock()
		n := min(s.serve, len(req.Keys))
		if n > 0 {
			served := req
			served.Keys = req.Keys[:n]
			res, err := s.DynamoAPI.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{table: served}}, optFns...)
			if err != nil {
				return nil, err
			}
			out.Responses[table] = res.Responses[table]
		}
		if n < len(req.Keys) {
			left := req
			left.Keys = req.Keys[n:]
			out.UnprocessedKeys[table] = left
		}
	}
	return out, nil
}

// newTable creates a table named after the test.
func newTable(t *testing.T, client *dynamodb.Client) string {
	name := regexp.MustCompile(`[^a-zA-Z0-9_.-]+`).ReplaceAllString(t.Name(), "-")
	if len(name) > 255 {
		name = name[len(name)-255:]
	}
	testenv.CreateTable(t, client, name)
	return name
}

// dynamoExpiry reads a job item's TTL attribute.
func dynamoExpiry(t *testing.T, client *dynamodb.Client, table, job string) (time.Time, bool) {
	t.Helper()
	out, err := client.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName:      aws.String(table),
		Key:            key(job),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("get item %q: %v", job, err)
	}
	av, ok := out.Item[attrExpiresAt]
	if !ok {
		return time.Time{}, false
	}
	n, ok := av.(*types.AttributeValueMemberN)
	if !ok {
		t.Fatalf("item %q: %s is %T, want a number", job, attrExpiresAt, av)
	}
	sec, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		t.Fatalf("item %q: %s: %v", job, attrExpiresAt, err)
	}
	return time.Unix(sec, 0), true
}

// testSourcesApart checks that the stores of two sources in one table keep
// their jobs and cursors apart and share their tallies, and that the store
// itself (the empty scope) keeps the keys a table had before there were
// sources: a table written then reads the same.
func testSourcesApart(t *testing.T, client *dynamodb.Client) {
	ctx := t.Context()
	table := newTable(t, client)
	home := NewDynamoStore(client, table, retention, nil)
	if same, err := home.Scope(""); err != nil || same != home {
		t.Fatalf("Scope(\"\") = %p, %v; want the store itself", same, err)
	}
	other, err := home.Scope("eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"EU-west-1", "a/b/c", "/eu-west-1", "eu-west-1/", "eu west", "#cursor"} {
		if _, err := home.Scope(bad); err == nil {
			t.Errorf("Scope(%q) succeeded, want an error", bad)
		}
	}
	if err := home.Save(ctx, Record{Job: "same-name"}, Record{Job: "same-name", Status: labeling.StatusCompleted, ModifiedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := other.Save(ctx, Record{Job: "same-name"}, Record{Job: "same-name", Status: labeling.StatusFailed, ModifiedAt: t0}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		store *DynamoStore
		want  labeling.Status
	}{{home, labeling.StatusCompleted}, {other, labeling.StatusFailed}} {
		recs, err := c.store.Load(ctx, []string{"same-name"})
		if rec := recs["same-name"]; err != nil || rec.Status != c.want || rec.Job != "same-name" {
			t.Errorf("load in scope %q: %+v, %v; want job same-name %s", c.store.prefix, rec, err, c.want)
		}
	}
	for pk, want := range map[string]string{"same-name": "Completed", "eu-west-1/same-name": "Failed"} {
		out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key(pk), ConsistentRead: aws.Bool(true)})
		if err != nil || out.Item == nil {
			t.Fatalf("item %q: %v, %v", pk, out, err)
		}
		if s, _ := out.Item[AttrStatus].(*types.AttributeValueMemberS); s == nil || s.Value != want {
			t.Errorf("item %q has status %v, want %s", pk, out.Item[AttrStatus], want)
		}
	}

	if err := home.AdvanceCursor(ctx, Cursor{At: t0}); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := other.Cursor(ctx); ok || err != nil {
		t.Errorf("the other source has a cursor (%v, %v) before its first run", ok, err)
	}
	if err := other.AdvanceCursor(ctx, Cursor{At: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if c, ok, err := home.Cursor(ctx); !ok || err != nil || !c.At.Equal(t0) {
		t.Errorf("home cursor %v, %v, %v; want %v", c.At, ok, err, t0)
	}

	expires := t0.Add(time.Hour)
	for i, store := range []*DynamoStore{home, other, home} {
		if n, err := store.Tally(ctx, "push-minute", expires); err != nil || n != i+1 {
			t.Errorf("tally %d: %d, %v; want %d (one count for every source)", i+1, n, err, i+1)
		}
	}
}

// transactCounter counts the TransactWriteItems calls made through it.
type transactCounter struct {
	DynamoAPI
	calls atomic.Int64
}

func (c *transactCounter) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	c.calls.Add(1)
	return c.DynamoAPI.TransactWriteItems(ctx, in, optFns...)
}
