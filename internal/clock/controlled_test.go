package clock

import (
	"slices"
	"sync"
	"testing"
	"time"
)

var clockStart = time.Date(2026, 3, 1, 12, 0, 0, 250_000_000, time.UTC)

func TestFakeClock(t *testing.T) {
	t.Run("stands still until moved", func(t *testing.T) {
		c := NewFake(clockStart)
		if got := c.Now(); !got.Equal(clockStart) {
			t.Fatalf("Now = %v, want %v", got, clockStart)
		}
		if got := c.Advance(90 * time.Second); !got.Equal(clockStart.Add(90 * time.Second)) {
			t.Errorf("Advance returned %v, want %v", got, clockStart.Add(90*time.Second))
		}
		if got := c.Now(); !got.Equal(clockStart.Add(90 * time.Second)) {
			t.Errorf("Now after Advance = %v", got)
		}
		later := clockStart.Add(time.Hour)
		c.Set(later)
		if got := c.Now(); !got.Equal(later) {
			t.Errorf("Now after Set = %v, want %v", got, later)
		}
		if w := c.Waits(); len(w) != 0 {
			t.Errorf("Waits = %v after no After call", w)
		}
	})

	t.Run("After moves the clock at once and records the wait", func(t *testing.T) {
		c := NewFake(clockStart)
		var got []time.Time
		for _, d := range []time.Duration{time.Second, 0, -time.Second, 30 * time.Second} {
			select {
			case at := <-c.After(d):
				got = append(got, at)
			default:
				t.Fatalf("After(%v): the channel holds nothing yet", d)
			}
		}
		want := []time.Time{
			clockStart.Add(time.Second), clockStart.Add(time.Second), // a wait of 0 or less moves nothing
			clockStart.Add(time.Second), clockStart.Add(31 * time.Second),
		}
		if !slices.EqualFunc(got, want, time.Time.Equal) {
			t.Errorf("After sent %v, want %v", got, want)
		}
		if now := c.Now(); !now.Equal(clockStart.Add(31 * time.Second)) {
			t.Errorf("Now = %v after the waits, want %v", now, clockStart.Add(31*time.Second))
		}
		if w := c.Waits(); !slices.Equal(w, []time.Duration{time.Second, 0, -time.Second, 30 * time.Second}) {
			t.Errorf("Waits = %v, want every call's d in order", w)
		}
	})

	t.Run("Waits is a copy", func(t *testing.T) {
		c := NewFake(clockStart)
		c.After(time.Second)
		c.Waits()[0] = time.Hour
		if w := c.Waits(); w[0] != time.Second {
			t.Errorf("Waits = %v: a caller changed the record", w)
		}
	})

	t.Run("concurrent waits and moves add up", func(t *testing.T) {
		c := NewFake(clockStart)
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() { <-c.After(time.Second) })
			wg.Go(func() { c.Advance(time.Minute) })
			wg.Go(func() { c.Now() })
		}
		wg.Wait()
		if got, want := c.Now(), clockStart.Add(50*time.Second+50*time.Minute); !got.Equal(want) {
			t.Errorf("Now = %v, want %v", got, want)
		}
		if n := len(c.Waits()); n != 50 {
			t.Errorf("%d waits recorded, want 50", n)
		}
	})
}

func TestRealClock(t *testing.T) {
	// Now is read between two readings of the real time; no duration is
	// measured.
	within := func(t *testing.T, c *Controlled, offset time.Duration) {
		t.Helper()
		before := time.Now().Add(offset)
		got := c.Now()
		after := time.Now().Add(offset)
		if got.Before(before) || got.After(after) || got.Location() != time.UTC {
			t.Errorf("Now = %v, want a UTC time between %v and %v", got, before, after)
		}
	}
	c := NewReal()
	within(t, c, 0)
	c.Advance(time.Hour)
	within(t, c, time.Hour)
	set := time.Now()
	c.Set(clockStart)
	got := c.Now()
	if since := time.Since(set); got.Before(clockStart) || got.After(clockStart.Add(since)) {
		t.Errorf("Now = %v after Set, want %v or up to %v later", got, clockStart, since)
	}

	if at := <-c.After(time.Millisecond); at.IsZero() {
		t.Error("After sent the zero time")
	}
	if w := c.Waits(); !slices.Equal(w, []time.Duration{time.Millisecond}) {
		t.Errorf("Waits = %v, want [1ms]", w)
	}
}
