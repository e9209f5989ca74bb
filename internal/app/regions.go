package app

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/labelwatch/labelwatch/internal/watch"
)

// WithOtherRegions adds the watchers of other regions of the function's
// account, by region, beside the watcher of its own region that NewHandler
// takes. Each keeps its own cursor and first run (its store is
// state.DynamoStore.Scope(region)). A poll polls every region at once; a
// pushed event is read in the region its job's ARN names.
func WithOtherRegions(watchers map[string]*watch.Watcher) Option {
	return func(h *Handler) { h.regions = watchers }
}

// poll polls the function's own region and every other region it watches,
// all at once: the wall is the slowest region's, not the sum. One region
// failing (unreachable, throttled, not enabled) holds back none of the
// others: each advances its own cursor, and the failed one keeps its own.
// The summary adds the regions' up; the error names each region that
// failed, so the invocation still fails and the alarm fires.
func (h *Handler) poll(ctx context.Context) (watch.Summary, error) {
	if len(h.regions) == 0 {
		return h.watcher.Poll(ctx)
	}
	regions := slices.Sorted(maps.Keys(h.regions))
	sums := make([]watch.Summary, len(regions)+1)
	errs := make([]error, len(regions)+1)
	var wg sync.WaitGroup
	wg.Go(func() { sums[0], errs[0] = h.watcher.Poll(ctx) })
	for i, region := range regions {
		wg.Go(func() {
			sums[i+1], errs[i+1] = h.regions[region].Poll(ctx)
			if errs[i+1] != nil {
				errs[i+1] = fmt.Errorf("region %s: %w", region, errs[i+1])
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
