package state

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// CursorRead is one source's cursor as its store's Cursor returns it: OK is
// false before the source's first complete cycle, and Cursor then holds
// only the Baseline of a first run that has not finished, or nil.
type CursorRead struct {
	Cursor Cursor
	OK     bool
}

// Cursors reads the cursors of the table's sources named by scopes (the
// stores Scope(scope) of the table's own store; "" is that store's own,
// whatever s's scope is) with consistent reads: one BatchGetItem per
// MaxBatch of them, re-requesting the keys DynamoDB leaves unprocessed as
// Load does, waiting on the store's clock. Each is what that store's Cursor
// returns. A poll of several sources so reads their cursors in one call
// where each would make one (WithCursorBatch).
// On an error it returns the cursors read before it: a scope whose cursor
// was not read (its call failed, its key stayed unprocessed, its item could
// not be decoded) is absent.
func (s *DynamoStore) Cursors(ctx context.Context, scopes []string) (map[string]CursorRead, error) {
	keys, err := s.cursorKeys(scopes)
	if err != nil {
		return nil, fmt.Errorf("read cursors: %w", err)
	}
	byKey, err := s.readCursors(ctx, keys)
	reads := make(map[string]CursorRead, len(byKey))
	for i, scope := range scopes {
		if read, ok := byKey[keys[i]]; ok {
			reads[scope] = read
		}
	}
	return reads, err
}

// cursorKeys is the key of the cursor item of each of scopes, in order, as
// Scope keys them.
func (s *DynamoStore) cursorKeys(scopes []string) ([]string, error) {
	root := *s
	root.prefix, root.cursorKey = "", CursorKey
	keys := make([]string, len(scopes))
	for i, scope := range scopes {
		scoped, err := root.Scope(scope)
		if err != nil {
			return nil, err
		}
		keys[i] = scoped.cursorKey
	}
	return keys, nil
}

// readCursors reads the cursor items at keys, by key.
func (s *DynamoStore) readCursors(ctx context.Context, keys []string) (map[string]CursorRead, error) {
	const op = "read cursors"
	keys = slices.Compact(slices.Sorted(slices.Values(keys))) // BatchGetItem refuses a key twice
	reads := make(map[string]CursorRead, len(keys))
	var errs []error
	for chunk := range slices.Chunk(keys, MaxBatch) {
		missing := make(map[string]bool, len(chunk)) // an item not in the table is a cursor not written
		for _, k := range chunk {
			missing[k] = true
		}
		err := s.batchGet(ctx, chunk, func(pk string, item map[string]types.AttributeValue) {
			delete(missing, pk)
			read, err := decodeCursor(item)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %s: %w", op, pk, err))
				return
			}
			reads[pk] = read
		})
		if err != nil {
			return reads, errors.Join(append(errs, s.fail(op, err))...)
		}
		for k := range missing {
			reads[k] = CursorRead{}
		}
	}
	return reads, errors.Join(errs...)
}

// batchGet reads the items at up to MaxBatch keys with one consistent
// BatchGetItem, and again for the keys DynamoDB leaves unprocessed (it does
// so under throttling), batchAttempts times in all, starting
// batchRetryDelay apart on the store's clock and doubling. It
// hands each item read to found with its key, and fails unless every key
// was processed.
func (s *DynamoStore) batchGet(ctx context.Context, pks []string, found func(pk string, item map[string]types.AttributeValue)) error {
	keys := make([]map[string]types.AttributeValue, len(pks))
	for i, pk := range pks {
		keys[i] = key(pk)
	}
	pending := types.KeysAndAttributes{Keys: keys, ConsistentRead: aws.Bool(true)}
	delay := batchRetryDelay
	for attempt := 1; ; attempt++ {
		out, err := s.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
			RequestItems: map[string]types.KeysAndAttributes{s.table: pending},
		})
		if err != nil {
			return err
		}
		for _, item := range out.Responses[s.table] {
			if pk, ok := item[AttrPK].(*types.AttributeValueMemberS); ok {
				found(pk.Value, item)
			}
		}
		left := out.UnprocessedKeys[s.table].Keys
		if len(left) == 0 {
			return nil
		}
		if attempt == batchAttempts {
			return fmt.Errorf("%d of %d keys still unprocessed after %d attempts (table throttled?)", len(left), len(pks), attempt)
		}
		pending = types.KeysAndAttributes{Keys: left, ConsistentRead: aws.Bool(true)}
		if err := wait(ctx, s.clock, delay/2+rand.N(delay/2+1)); err != nil {
			return fmt.Errorf("%d of %d keys unprocessed: %w", len(left), len(pks), err)
		}
		delay = min(2*delay, batchRetryMax)
	}
}

// WithCursorBatch returns a copy of ctx under which the cursors of the
// table's sources named by scopes (as for Cursors) are read together: the
// first Cursor call of any of their DynamoStores reads them all with
// Cursors, the calls of the others wait for that read, and each store takes
// its own cursor from it. A poll of several sources, each of which reads its
// cursor as it starts, so makes one read in all. The read is made when the
// first source asks, not before: a source that lists ahead of its cursor
// (a warm watcher lists the jobs in progress first) still does.
//
// A cursor read so is the one the store's own read would have returned,
// only a moment sooner, within the same invocation; that is the safety of
// it:
//   - the batch lives in ctx, so it serves the invocation that made it and
//     none after it: a later invocation, even of the same warm function,
//     has a context of its own and reads anew;
//   - each cursor is taken once: a second Cursor call of the same store
//     under ctx (after its own AdvanceCursor, say) reads the table;
//   - a store whose cursor the batch did not read (the call failed, its
//     key stayed unprocessed, its item could not be decoded, it is of
//     another table, or ctx ended while it waited) reads its own, as
//     without a batch, and fails as that read fails;
//   - cursors and baselines are only ever written forward (AdvanceCursor
//     and SaveBaseline are conditional), so a run whose cursor was read a
//     moment sooner is the run that would have read it had it been
//     scheduled a moment sooner: it lists from no later a point, and its
//     writes cannot move the cursor back.
//
// The stores of one batch share one client (Scope's do): the first to ask
// reads every cursor through its own.
func WithCursorBatch(ctx context.Context, scopes []string) context.Context {
	return context.WithValue(ctx, cursorBatchKey{}, &cursorBatch{scopes: slices.Clone(scopes), done: make(chan struct{})})
}

type cursorBatchKey struct{}

// batchFrom is ctx's cursor batch, or nil.
func batchFrom(ctx context.Context) *cursorBatch {
	b, _ := ctx.Value(cursorBatchKey{}).(*cursorBatch)
	return b
}

// cursorBatch is the one read of the cursors of several sources
// (WithCursorBatch).
type cursorBatch struct {
	scopes []string
	done   chan struct{} // closed once the read is over

	mu      sync.Mutex
	started bool                  // a store is reading
	table   string                // the table the cursors were read from
	reads   map[string]CursorRead // by cursor key; each deleted once taken
}

// take returns s's cursor from the batch, reading every cursor of the batch
// first if no store has. ok is false when the batch has no cursor for s:
// s reads its own. A nil batch has none.
func (b *cursorBatch) take(ctx context.Context, s *DynamoStore) (_ CursorRead, ok bool) {
	if b == nil {
		return CursorRead{}, false
	}
	keys, err := s.cursorKeys(b.scopes)
	if err != nil || !slices.Contains(keys, s.cursorKey) {
		return CursorRead{}, false
	}
	b.mu.Lock()
	first := !b.started
	b.started = true
	b.mu.Unlock()
	if first {
		// An error leaves out the cursors it kept from being read: their
		// stores read their own, and each says what failed.
		reads, _ := s.readCursors(ctx, keys)
		b.mu.Lock()
		b.table, b.reads = s.table, reads
		b.mu.Unlock()
		close(b.done)
	} else {
		select {
		case <-b.done:
		case <-ctx.Done():
			return CursorRead{}, false
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	read, ok := b.reads[s.cursorKey]
	if !ok || b.table != s.table {
		return CursorRead{}, false
	}
	delete(b.reads, s.cursorKey)
	return read, true
}
