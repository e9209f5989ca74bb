package app

import (
	"runtime/debug"
	"strconv"
)

// gcPercent is the GOGC the function runs with unless GOGC is set: the heap
// may grow to five times what is live before a collection, where Go's
// default lets it double. A storm's cycle allocates tens of megabytes, most
// of it short-lived, and collecting it twice as often as it needs cost a
// fifth of the function's CPU (make bench's storm at the 256 MB share);
// the memory limit below keeps the larger heap within the function's
// memory.
const gcPercent = 400

// TuneGC sets the garbage collector for a function of
// AWS_LAMBDA_FUNCTION_MEMORY_SIZE megabytes: GOGC gcPercent, and a soft
// memory limit at three eighths of the function's memory, past which Go
// collects as often as it must: with the binary and what the limit does
// not count, the process stays within half the function's memory, the
// bound make bench holds the burst to. A GOGC or GOMEMLIMIT set in the function's environment
// wins: the Go runtime has read it, and TuneGC leaves that setting alone.
func TuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	mb, err := strconv.ParseInt(getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), 10, 64)
	if getenv("GOMEMLIMIT") == "" && err == nil && mb > 0 {
		debug.SetMemoryLimit(mb << 20 * 3 / 8)
	}
}
