package app

import (
	"math"
	"runtime/debug"
	"testing"
)

// TestTuneGC checks the collector's settings for a function of 256 MB, and
// that a GOGC or GOMEMLIMIT of the function's environment is left as the Go
// runtime read it.
func TestTuneGC(t *testing.T) {
	gc, limit := debug.SetGCPercent(-1), debug.SetMemoryLimit(-1)
	debug.SetGCPercent(gc)
	t.Cleanup(func() {
		debug.SetGCPercent(gc)
		debug.SetMemoryLimit(limit)
	})
	settings := func() (int, int64) {
		gc := debug.SetGCPercent(-1)
		debug.SetGCPercent(gc)
		return gc, debug.SetMemoryLimit(-1)
	}
	tests := []struct {
		name  string
		env   map[string]string
		gc    int
		limit int64
	}{
		{"the template's 256 MB", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256"}, gcPercent, 96 << 20},
		// As the runtime read them: here, the values the case starts with.
		{"GOGC and GOMEMLIMIT set", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "GOGC": "100", "GOMEMLIMIT": "100MiB"}, 100, math.MaxInt64},
		{"no memory size", map[string]string{}, gcPercent, math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			debug.SetGCPercent(100)
			debug.SetMemoryLimit(math.MaxInt64)
			TuneGC(func(k string) string { return tt.env[k] })
			gc, limit := settings()
			if gc != tt.gc || limit != tt.limit {
				t.Errorf("GOGC %d, memory limit %d; want %d, %d", gc, limit, tt.gc, tt.limit)
			}
		})
	}
}
