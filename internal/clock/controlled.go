package clock

import (
	"slices"
	"sync"
	"time"
)

// Controlled is a Clock that tests and the demo move by hand. It is safe
// for concurrent use.
//
// A Controlled from NewFake is fake. It stands still until the test moves it
// (Advance, Set) or the code under test waits on it: After(d) moves it
// forward by d at once and returns a channel that already holds the new
// time. A wait therefore takes no real time, and waits by concurrent callers
// add up. Contexts' deadlines are not on the clock: they stay real.
//
// A Controlled from NewReal tells the real time, in UTC, plus what Advance and
// Set added, and its After is time.After: for a test that shares its time
// with a process that reads the real clock, such as the Lambda bootstrap.
//
// Either kind records the d of every After call, in call order (Waits), so
// a test checks what the code waited for instead of how long it took.
type Controlled struct {
	mu     sync.Mutex
	real   bool
	now    time.Time     // a fake Clock's time
	offset time.Duration // added to the real time by a real clock
	waits  []time.Duration
}

// NewFake returns a fake clock that stands at start.
func NewFake(start time.Time) *Controlled {
	return &Controlled{now: start}
}

// NewReal returns a Controlled clock that runs with the real time.
func NewReal() *Controlled {
	return &Controlled{real: true}
}

// Now is the clock's time.
func (c *Controlled) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nowLocked()
}

func (c *Controlled) nowLocked() time.Time {
	if c.real {
		return time.Now().UTC().Add(c.offset)
	}
	return c.now
}

// Advance moves the clock forward by d (back, for a negative d) and returns
// its new time.
func (c *Controlled) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.real {
		c.offset += d
	} else {
		c.now = c.now.Add(d)
	}
	return c.nowLocked()
}

// Set moves the clock to t.
func (c *Controlled) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.real {
		c.offset = t.Sub(time.Now().UTC())
		return
	}
	c.now = t
}

// After records a wait of d. A fake clock moves forward by d (none for a
// d of zero or less, as time.After waits none) and returns a channel that
// already holds its new time; a real clock returns time.After(d).
func (c *Controlled) After(d time.Duration) <-chan time.Time {
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
func (c *Controlled) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.waits)
}
