package watch

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	slackapi "github.com/slack-go/slack"
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
// the next wait would pass ctx's deadline. A *slackapi.RateLimitedError's
// RetryAfter replaces the backoff for that wait.
func (r Retrier) Do(ctx context.Context, try func(context.Context) (retry bool, err error)) error {
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
		if rl, ok := errors.AsType[*slackapi.RateLimitedError](err); ok && rl.RetryAfter > 0 {
			pause = rl.RetryAfter
		}
		if deadline, ok := ctx.Deadline(); ok && time.Now().Add(pause).After(deadline) {
			return fmt.Errorf("attempt %d of %d: %w (%w)", attempt, r.Attempts, err, errGaveUp)
		}
		timer := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("attempt %d of %d: %w", attempt, r.Attempts, err)
		case <-timer.C:
		}
		wait = min(2*wait, r.Max)
	}
}
