package testenv

import (
	"slices"
	"sync"
	"time"
)

// Clock is the tests' clock: the time a watcher, a store and the SageMaker
// emulator read (pass Now), and the clock a watcher waits on for pacing and
// backoff (it is a watch.Clock). It is safe for concurrent use.
//
// A Clock from NewClock is fake. It stands still until the test moves it
// (Advance, Set) or the code under test waits on it: After(d) moves it
// forward by d at once and returns a channel that already holds the new
// time. A wait therefore takes no real time, and waits by concurrent callers
// add up. Contexts' deadlines are not on the Clock: they stay real.
//
// A Clock from RealClock tells the real time, in UTC, plus what Advance and
// Set added, and its After is time.After: for a test that shares its time
// with a process that reads the real clock, such as the Lambda bootstrap.
//
// Either kind records the d of every After call, in call order (Waits), so
// a test checks what the code waited for instead of how long it took.
type Clock struct {
	mu     sync.Mutex
	real   bool
	now    time.Time     // a fake Clock's time
	offset time.Duration // added to the real time by a real Clock
	waits  []time.Duration
}

// NewClock returns a fake Clock that stands at start.
func NewClock(start time.Time) *Clock {
	return &Clock{now: start}
}

// RealClock returns a Clock that runs with the real time.
func RealClock() *Clock {
	return &Clock{real: true}
}

// Now is the Clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nowLocked()
}

func (c *Clock) nowLocked() time.Time {
	if c.real {
		return time.Now().UTC().Add(c.offset)
	}
	return c.now
}

// Advance moves the Clock forward by d (back, for a negative d) and returns
// its new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.real {
		c.offset += d
	} else {
		c.now = c.now.Add(d)
	}
	return c.nowLocked()
}

// Set moves the Clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.real {
		c.offset = t.Sub(time.Now().UTC())
		return
	}
	c.now = t
}

// After records a wait of d. A fake Clock moves forward by d (none for a
// d of zero or less, as time.After waits none) and returns a channel that
// already holds its new time; a real Clock returns time.After(d).
func (c *Clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = append(c.waits, d)
	if c.real {
		return time.After(d)
	}
	c.now = c.now.Add(max(d, 0))
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

// Waits is the d of every After call so far, in call order.
func (c *Clock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.waits)
}
