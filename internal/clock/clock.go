// Package clock is labelwatch's one notion of time: what reads the time and
// what waits takes a Clock, so that tests and the demo move time by hand and
// nothing they check depends on how fast a loaded machine runs.
package clock

import "time"

// Clock tells the time and waits on it.
type Clock interface {
	Now() time.Time
	// After sends the time on the channel once d has passed, as time.After.
	After(d time.Duration) <-chan time.Time
}

// System is the Clock of the real world.
type System struct{}

// Now is time.Now.
func (System) Now() time.Time { return time.Now() }

// After is time.After.
func (System) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Until is how long from c's now until t: time.Until on c.
func Until(c Clock, t time.Time) time.Duration { return t.Sub(c.Now()) }

var (
	_ Clock = System{}
	_ Clock = (*Controlled)(nil)
)
