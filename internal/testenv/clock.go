package testenv

import (
	"time"

	"github.com/labelwatch/labelwatch/internal/clock"
)

// Clock is the tests' clock, clock.Controlled: the time a watcher, a store
// and the SageMaker emulator read, and the clock a watcher waits on for
// pacing and backoff.
type Clock = clock.Controlled

// NewClock returns a fake Clock that stands at start (clock.NewFake).
func NewClock(start time.Time) *Clock { return clock.NewFake(start) }

// RealClock returns a Clock that runs with the real time (clock.NewReal).
func RealClock() *Clock { return clock.NewReal() }
