package watch

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/labelwatch/labelwatch/internal/clock"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

var (
	errPassing = errors.New("503 service unavailable")
	errFinal   = errors.New("channel_not_found")
)

// script answers each try with the next of its results, and counts tries.
type script struct {
	results []result
	tries   int
}

type result struct {
	retry bool
	err   error
}

func (s *script) try(context.Context) (bool, error) {
	s.tries++
	if s.tries > len(s.results) {
		return false, nil // then success
	}
	r := s.results[s.tries-1]
	return r.retry, r.err
}

func repeat(n int, r result) []result {
	rs := make([]result, n)
	for i := range rs {
		rs[i] = r
	}
	return rs
}

// waitError asks for a wait, as the Slack sender's rate-limit errors do.
type waitError struct{ after time.Duration }

func (e waitError) Error() string             { return fmt.Sprintf("rate limited; retry after %v", e.after) }
func (e waitError) RetryAfter() time.Duration { return e.after }

func rateLimited(after time.Duration) result {
	// The sender wraps the error with what it was doing.
	return result{retry: true, err: fmt.Errorf("post to slack webhook: %w", waitError{after})}
}

// span is the bounds of one wait.
type span struct{ min, max time.Duration }

// backoff is a backoff wait of d with its jitter: up to a fifth more.
func backoff(d time.Duration) span { return span{d, d + d/5} }

// exactly is a wait of d, as a Retry-After asks.
func exactly(d time.Duration) span { return span{d, d} }

func TestRetrier(t *testing.T) {
	quick := Retrier{Attempts: 3, Base: time.Second, Max: 5 * time.Second}
	tests := []struct {
		name     string
		retrier  Retrier
		results  []result
		deadline time.Duration // from the start; 0 for none
		wantTry  int
		waits    []span // each wait on the clock, in order
		wantErr  error  // nil for success
		gaveUp   bool   // the error says the next wait would pass the deadline
	}{
		{name: "first try succeeds", retrier: quick, wantTry: 1},
		{name: "success after retryable failures", retrier: quick, results: repeat(2, result{true, errPassing}), wantTry: 3,
			waits: []span{backoff(time.Second), backoff(2 * time.Second)}},
		{name: "final error is not retried", retrier: quick, results: []result{{false, errFinal}}, wantTry: 1, wantErr: errFinal},
		{name: "final error after a retryable one", retrier: quick, results: []result{{true, errPassing}, {false, errFinal}}, wantTry: 2,
			waits: []span{backoff(time.Second)}, wantErr: errFinal},
		{name: "attempts cap", retrier: quick, results: repeat(10, result{true, errPassing}), wantTry: 3,
			waits: []span{backoff(time.Second), backoff(2 * time.Second)}, wantErr: errPassing},
		{name: "one attempt", retrier: Retrier{Attempts: 1, Base: time.Second, Max: time.Second}, results: repeat(10, result{true, errPassing}), wantTry: 1, wantErr: errPassing},
		{name: "zero attempts still tries once", retrier: Retrier{}, results: repeat(10, result{true, errPassing}), wantTry: 1, wantErr: errPassing},
		{
			name: "doubling is capped at Max", retrier: Retrier{Attempts: 6, Base: time.Second, Max: 4 * time.Second},
			results: repeat(5, result{true, errPassing}), deadline: time.Minute, wantTry: 6,
			waits: []span{backoff(time.Second), backoff(2 * time.Second), backoff(4 * time.Second), backoff(4 * time.Second), backoff(4 * time.Second)},
		},
		{
			name: "the default policy", retrier: DefaultRetrier,
			results: repeat(10, result{true, errPassing}), wantTry: 5, wantErr: errPassing,
			waits: []span{backoff(500 * time.Millisecond), backoff(time.Second), backoff(2 * time.Second), backoff(4 * time.Second)},
		},
		{
			name: "Retry-After shorter than the backoff replaces it", retrier: Retrier{Attempts: 3, Base: time.Hour, Max: time.Hour},
			results: []result{rateLimited(3 * time.Second)}, deadline: time.Minute, wantTry: 2, waits: []span{exactly(3 * time.Second)},
		},
		{
			name: "Retry-After longer than the backoff replaces it", retrier: quick,
			results: []result{rateLimited(30 * time.Second)}, deadline: time.Minute, wantTry: 2, waits: []span{exactly(30 * time.Second)},
		},
		{
			name: "Retry-After past the deadline gives up at once", retrier: quick,
			results: []result{rateLimited(time.Hour)}, deadline: time.Minute, wantTry: 1, wantErr: errGaveUp, gaveUp: true,
		},
		{
			name: "Retry-After of zero falls back to the backoff", retrier: quick,
			results: []result{rateLimited(0)}, deadline: time.Minute, wantTry: 2, waits: []span{backoff(time.Second)},
		},
		{
			name: "Retry-After replaces one wait; the backoff goes on doubling", retrier: Retrier{Attempts: 4, Base: time.Second, Max: time.Minute},
			results: []result{{true, errPassing}, rateLimited(20 * time.Second), {true, errPassing}}, deadline: time.Minute, wantTry: 4,
			waits: []span{backoff(time.Second), exactly(20 * time.Second), backoff(4 * time.Second)},
		},
		{
			name: "rate limited every time", retrier: quick,
			results: repeat(5, rateLimited(2*time.Second)), wantTry: 3, wantErr: waitError{},
			waits: []span{exactly(2 * time.Second), exactly(2 * time.Second)},
		},
		{
			name: "gives up when the backoff would pass the deadline", retrier: Retrier{Attempts: 5, Base: time.Hour, Max: time.Hour},
			results: repeat(5, result{true, errPassing}), deadline: time.Minute, wantTry: 1, wantErr: errPassing, gaveUp: true,
		},
		{
			name: "gives up after retries, once a wait would pass the deadline", retrier: Retrier{Attempts: 10, Base: time.Second, Max: time.Second},
			results: []result{rateLimited(10 * time.Second), rateLimited(10 * time.Second), rateLimited(time.Hour)}, deadline: time.Minute,
			wantTry: 3, wantErr: waitError{}, gaveUp: true, waits: []span{exactly(10 * time.Second), exactly(10 * time.Second)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.deadline)
				defer cancel()
			}
			s := &script{results: tt.results}
			clock := testenv.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
			err := tt.retrier.Do(ctx, clock, s.try)
			if s.tries != tt.wantTry {
				t.Errorf("%d tries, want %d", s.tries, tt.wantTry)
			}
			checkSpans(t, clock.Waits(), tt.waits)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Errorf("error %v, want success", err)
			case tt.wantErr != nil && err == nil:
				t.Errorf("success, want error %v", tt.wantErr)
			case tt.wantErr != nil:
				var rl waitError
				if errors.As(tt.wantErr, &rl) {
					if !errors.As(err, &rl) {
						t.Errorf("error %v does not wrap the rate-limit error", err)
					}
				} else if !errors.Is(err, tt.wantErr) {
					t.Errorf("error %v does not wrap %v", err, tt.wantErr)
				}
			}
			if got := errors.Is(err, errGaveUp); got != tt.gaveUp {
				t.Errorf("error %v: gave up %v, want %v", err, got, tt.gaveUp)
			}
			if tt.gaveUp && ctx.Err() != nil {
				t.Errorf("gave up only at the deadline (%v), want at once", ctx.Err())
			}
		})
	}
}

// checkSpans checks that each of got lies within the span want has for it.
func checkSpans(t *testing.T, got []time.Duration, want []span) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("waited %v, want %d waits: %v", got, len(want), want)
		return
	}
	for i, w := range want {
		if got[i] < w.min || got[i] > w.max {
			t.Errorf("wait %d of %v: %v, want %v to %v", i+1, got, got[i], w.min, w.max)
		}
	}
}

// TestRetrierJitter checks that backoff waits vary between runs, within
// their bounds, so that runs retrying together drift apart.
func TestRetrierJitter(t *testing.T) {
	r := Retrier{Attempts: 2, Base: time.Second, Max: time.Second}
	seen := map[time.Duration]bool{}
	for range 50 {
		clock := testenv.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
		s := &script{results: []result{{true, errPassing}}}
		if err := r.Do(t.Context(), clock, s.try); err != nil {
			t.Fatal(err)
		}
		waits := clock.Waits()
		checkSpans(t, waits, []span{backoff(time.Second)})
		if len(waits) == 1 {
			seen[waits[0]] = true
		}
	}
	// 50 draws of 200 ms of nanoseconds: equal ones all the time would be
	// no jitter.
	if len(seen) < 2 {
		t.Errorf("50 runs waited %v: the same each time, want jitter", seen)
	}
}

func TestRetrierStopsWhenContextEnds(t *testing.T) {
	t.Run("cancelled during a try", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		tries := 0
		clock := testenv.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
		err := Retrier{Attempts: 5, Base: time.Second, Max: time.Second}.Do(ctx, clock, func(context.Context) (bool, error) {
			tries++
			cancel()
			return true, errPassing
		})
		if tries != 1 || !errors.Is(err, errPassing) {
			t.Errorf("%d tries, error %v; want 1 try and the try's error", tries, err)
		}
		checkSpans(t, clock.Waits(), nil)
	})

	// On the real clock: the hour's wait must not end by itself, so only
	// the cancellation can end it. It takes no real time.
	t.Run("cancelled during a wait", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		tries := 0
		done := make(chan error)
		go func() {
			done <- Retrier{Attempts: 5, Base: time.Hour, Max: time.Hour}.Do(ctx, clock.System{}, func(context.Context) (bool, error) {
				tries++
				return true, errPassing
			})
		}()
		cancel() // whether before or during the hour's wait, Do returns without another try
		err := <-done
		if tries != 1 || !errors.Is(err, errPassing) {
			t.Errorf("%d tries, error %v; want 1 try and the try's error", tries, err)
		}
	})

	t.Run("the try gets the context", func(t *testing.T) {
		type key struct{}
		ctx := context.WithValue(t.Context(), key{}, "run")
		err := Retrier{Attempts: 1}.Do(ctx, clock.System{}, func(got context.Context) (bool, error) {
			if got.Value(key{}) != "run" {
				return false, errors.New("try got another context")
			}
			return false, nil
		})
		if err != nil {
			t.Error(err)
		}
	})
}
