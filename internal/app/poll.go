package app

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/labelwatch/labelwatch/internal/state"
	"github.com/labelwatch/labelwatch/internal/watch"
)

// WithSources adds the watchers of other sources, beside the watcher of
// the function's own account and region that NewHandler takes: another
// region of its account keyed by the region ("eu-west-1"), another
// account's region by both ("222222222222/eu-west-1"). Each keeps its own
// cursor and first run (its store is state.DynamoStore.Scope(key)). A poll
// polls every source at once; a pushed event is read in the source its
// job's ARN names.
func WithSources(watchers map[string]*watch.Watcher) Option {
	return func(h *Handler) { h.sources = watchers }
}

// poll polls the function's own source and every other it watches, all at
// once: the wall is the slowest source's, not the sum. One source failing
// (role refused, region not enabled, throttled) holds back none of the
// others: each advances its own cursor, and the failed one keeps its own.
// The summary adds the sources' up; the error names each source that
// failed, so the invocation still fails and the alarm fires.
// Every source reads its cursor as it starts: one BatchGetItem reads them
// all, for this invocation only (state.WithCursorBatch), where each would
// make a GetItem. A source's key is its store's scope (openSources), and
// the function's own source is the table's own (""); a cursor the batch
// did not read, its source reads itself.
func (h *Handler) poll(ctx context.Context) (watch.Summary, error) {
	if len(h.sources) == 0 {
		return h.watcher.Poll(ctx)
	}
	keys := slices.Sorted(maps.Keys(h.sources))
	ctx = state.WithCursorBatch(ctx, append([]string{""}, keys...))
	sums := make([]watch.Summary, len(keys)+1)
	errs := make([]error, len(keys)+1)
	var wg sync.WaitGroup
	wg.Go(func() { sums[0], errs[0] = h.watcher.Poll(ctx) })
	for i, key := range keys {
		wg.Go(func() {
			sums[i+1], errs[i+1] = h.sources[key].Poll(ctx)
			if errs[i+1] != nil {
				errs[i+1] = fmt.Errorf("source %s: %w", key, errs[i+1])
			}
		})
	}
	wg.Wait()
	var sum watch.Summary
	for i, s := range sums {
		sum = sum.Plus(s)
		if errs[i] != nil {
			sum.SourcesFailed++
		}
	}
	return sum, errors.Join(errs...)
}
