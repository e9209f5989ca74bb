package watch

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/labelwatch/labelwatch/internal/clock"
)

// Retrier is the one place that decides how often and how long to retry a
// delivery. Integrations only say whether a failure is worth retrying.
type Retrier struct {
	Attempts int           // tries in all, at least 1
	Base     time.Duration // wait after the first failure; doubles each time
	Max      time.Duration // longest wait between two tries
}

// DefaultRetrier tries five times over at most about eight seconds of
// backoff, or as long as Slack's Retry-After asks, within the deadline.
var DefaultRetrier = Retrier{Attempts: 5, Base: 500 * time.Millisecond, Max: 8 * time.Second}

// errGaveUp marks a delivery abandoned because the next try would not fit
// before the deadline.
var errGaveUp = errors.New("next retry would pass the deadline")

// Do calls try until it succeeds, fails for good, runs out of attempts, or
// the next wait would pass ctx's deadline. An error that asks for a wait
// (see retryAfter) replaces the backoff for that wait. Waits are on clock.
func (r Retrier) Do(ctx context.Context, clock clock.Clock, try func(context.Context) (retry bool, err error)) error {
	wait := r.Base
	for attempt := 1; ; attempt++ {
		retry, err := try(ctx)
		if err == nil {
			return nil
		}
		if !retry || attempt >= r.Attempts || ctx.Err() != nil {
			return fmt.Errorf("attempt %d of %d: %w", attempt, r.Attempts, err)
		}
		pause := wait + rand.N(wait/5+1) // jitter keeps overlapping runs apart
		if after, ok := retryAfter(err); ok {
			pause = after
		}
		if !fits(ctx, pause) {
			return fmt.Errorf("attempt %d of %d: %w (%w)", attempt, r.Attempts, err, errGaveUp)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("attempt %d of %d: %w", attempt, r.Attempts, err)
		case <-clock.After(pause):
		}
		wait = min(2*wait, r.Max)
	}
}

// retryAfterError is an integration's error that says how long to wait
// before the next try: Slack's 429 and "ratelimited" answers. The
// integration knows its protocol; the retrier only asks.
type retryAfterError interface {
	error
	RetryAfter() time.Duration
}

// retryAfter is the wait err asks for, if it asks for one.
func retryAfter(err error) (time.Duration, bool) {
	if e, ok := errors.AsType[retryAfterError](err); ok && e.RetryAfter() > 0 {
		return e.RetryAfter(), true
	}
	return 0, false
}

// fits reports whether a wait of d ends before ctx's deadline. The deadline
// is the invocation's, in real time, whatever the Watcher's clock says.
func fits(ctx context.Context, d time.Duration) bool {
	deadline, ok := ctx.Deadline()
	return !ok || time.Until(deadline) >= d
}
