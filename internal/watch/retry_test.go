package watch

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
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

func TestRetrier(t *testing.T) {
	fast := Retrier{Attempts: 3, Base: time.Millisecond, Max: 5 * time.Millisecond}
	tests := []struct {
		name     string
		retrier  Retrier
		results  []result
		deadline time.Duration // from the start; 0 for none
		wantTry  int
		wantErr  error // nil for success
		gaveUp   bool  // the error says the next wait would pass the deadline
	}{
		{name: "first try succeeds", retrier: fast, wantTry: 1},
		{name: "success after retryable failures", retrier: fast, results: repeat(2, result{true, errPassing}), wantTry: 3},
		{name: "final error is not retried", retrier: fast, results: []result{{false, errFinal}}, wantTry: 1, wantErr: errFinal},
		{name: "final error after a retryable one", retrier: fast, results: []result{{true, errPassing}, {false, errFinal}}, wantTry: 2, wantErr: errFinal},
		{name: "attempts cap", retrier: fast, results: repeat(10, result{true, errPassing}), wantTry: 3, wantErr: errPassing},
		{name: "one attempt", retrier: Retrier{Attempts: 1, Base: time.Millisecond, Max: time.Millisecond}, results: repeat(10, result{true, errPassing}), wantTry: 1, wantErr: errPassing},
		{name: "zero attempts still tries once", retrier: Retrier{}, results: repeat(10, result{true, errPassing}), wantTry: 1, wantErr: errPassing},
		{name: "doubling is capped at Max", retrier: Retrier{Attempts: 6, Base: time.Millisecond, Max: 2 * time.Millisecond}, results: repeat(5, result{true, errPassing}), deadline: time.Minute, wantTry: 6},
		{
			name: "Retry-After shorter than the backoff replaces it", retrier: Retrier{Attempts: 3, Base: time.Hour, Max: time.Hour},
			results: []result{rateLimited(time.Millisecond)}, deadline: time.Minute, wantTry: 2,
		},
		{
			name: "Retry-After longer than the backoff replaces it", retrier: fast,
			results: []result{rateLimited(time.Hour)}, deadline: time.Minute, wantTry: 1, wantErr: errGaveUp, gaveUp: true,
		},
		{
			name: "Retry-After of zero falls back to the backoff", retrier: fast,
			results: []result{rateLimited(0)}, deadline: time.Minute, wantTry: 2,
		},
		{
			name: "rate limited every time", retrier: fast,
			results: repeat(5, rateLimited(time.Millisecond)), wantTry: 3, wantErr: waitError{},
		},
		{
			name: "gives up when the backoff would pass the deadline", retrier: Retrier{Attempts: 5, Base: time.Hour, Max: time.Hour},
			results: repeat(5, result{true, errPassing}), deadline: time.Minute, wantTry: 1, wantErr: errPassing, gaveUp: true,
		},
		{
			name: "gives up after retries, once a wait would pass the deadline", retrier: Retrier{Attempts: 10, Base: time.Millisecond, Max: time.Millisecond},
			results: []result{rateLimited(time.Millisecond), rateLimited(time.Millisecond), rateLimited(time.Hour)}, deadline: time.Minute,
			wantTry: 3, wantErr: waitError{}, gaveUp: true,
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
			err := tt.retrier.Do(ctx, SystemClock{}, s.try)
			if s.tries != tt.wantTry {
				t.Errorf("%d tries, want %d", s.tries, tt.wantTry)
			}
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

func TestRetrierStopsWhenContextEnds(t *testing.T) {
	t.Run("cancelled during a try", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		tries := 0
		err := Retrier{Attempts: 5, Base: time.Millisecond, Max: time.Millisecond}.Do(ctx, SystemClock{}, func(context.Context) (bool, error) {
			tries++
			cancel()
			return true, errPassing
		})
		if tries != 1 || !errors.Is(err, errPassing) {
			t.Errorf("%d tries, error %v; want 1 try and the try's error", tries, err)
		}
	})

	t.Run("cancelled during a wait", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		tries := 0
		done := make(chan error)
		go func() {
			done <- Retrier{Attempts: 5, Base: time.Hour, Max: time.Hour}.Do(ctx, SystemClock{}, func(context.Context) (bool, error) {
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
		err := Retrier{Attempts: 1}.Do(ctx, SystemClock{}, func(got context.Context) (bool, error) {
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
