package testenv

import (
	"context"
	"fmt"
	"testing"
)

// TestSharedMoto checks that a SharedMoto starts its server once, for the
// first test that asks, and that without moto it skips each test that asks
// (fake starters: the servers are not what is tested here).
func TestSharedMoto(t *testing.T) {
	t.Setenv("CI", "")
	t.Run("started once", func(t *testing.T) {
		starts := 0
		shared := NewSharedMoto(func(context.Context) (*MotoServer, error) {
			starts++
			return &MotoServer{URL: fmt.Sprintf("http://127.0.0.1:%d", 40000+starts)}, nil
		})
		first, second := shared.URL(t), shared.URL(t)
		if starts != 1 || first != second {
			t.Errorf("%d starts, URLs %q and %q; want one start and one URL", starts, first, second)
		}
	})
	t.Run("moto missing", func(t *testing.T) {
		shared := NewSharedMoto(func(context.Context) (*MotoServer, error) {
			return nil, fmt.Errorf("start moto: %w", ErrMotoMissing)
		})
		for _, name := range []string{"first", "second"} {
			var skipped bool
			t.Run(name, func(t *testing.T) {
				defer func() { skipped = t.Skipped() }()
				shared.URL(t)
			})
			if !skipped {
				t.Errorf("%s test that asked was not skipped", name)
			}
		}
		if err := shared.Close(); err != nil {
			t.Errorf("Close of a server never started: %v", err)
		}
	})
}
