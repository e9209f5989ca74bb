package watch

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/labelwatch/labelwatch/internal/clock"
	"github.com/labelwatch/labelwatch/internal/slack"
)

// quiet is a notifier that takes every message.
type quiet struct{}

func (quiet) Send(context.Context, slack.Message) (slack.Posted, bool, error) {
	return slack.Posted{}, false, nil
}

func (quiet) Capabilities() slack.Capabilities { return slack.Capabilities{} }

// TestLaneShared checks that two watchers on one Lane (two sources of one
// function) keep Pace between their messages as one watcher does, and that
// watchers on lanes of their own do not wait for each other.
func TestLaneShared(t *testing.T) {
	const pace = time.Second
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		shared bool
		want   []time.Duration // the waits of four messages, sent in turn by the two watchers
	}{
		{true, []time.Duration{pace, pace, pace}},
		{false, []time.Duration{pace}},
	} {
		clk := clock.NewFake(start)
		lane := &Lane{}
		var pacers []*pacer
		for range 2 {
			opts := Options{Pace: pace, Retrier: Retrier{Attempts: 1}}
			if tc.shared {
				opts.Lane = lane
			}
			pacers = append(pacers, New(nil, nil, quiet{}, nil, clk, opts).pacer(t.Context()))
		}
		for _, p := range []*pacer{pacers[0], pacers[1], pacers[0], pacers[1]} {
			if _, err := p.send(slack.Message{Text: "x"}); err != nil {
				t.Fatal(err)
			}
		}
		// A wait of zero (a free lane) is no wait.
		waits := slices.DeleteFunc(clk.Waits(), func(d time.Duration) bool { return d <= 0 })
		if !slices.Equal(waits, tc.want) {
			t.Errorf("shared %v: waits %v, want %v", tc.shared, waits, tc.want)
		}
	}
}

// TestLaneSlots checks that messages reserving slots at once, from many
// goroutines, each get a slot of their own, Pace apart.
func TestLaneSlots(t *testing.T) {
	const pace = 1200 * time.Millisecond
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var (
		lane  Lane
		mu    sync.Mutex
		slots []time.Time
		wg    sync.WaitGroup
	)
	for range 50 {
		wg.Go(func() {
			at := lane.reserve(now, pace)
			mu.Lock()
			slots = append(slots, at)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.SortFunc(slots, time.Time.Compare)
	for i, at := range slots {
		if want := now.Add(time.Duration(i) * pace); !at.Equal(want) {
			t.Fatalf("slot %d at %v, want %v", i, at, want)
		}
	}
	lane.hold(now.Add(time.Hour))
	if at := lane.reserve(now, pace); !at.Equal(now.Add(time.Hour)) {
		t.Errorf("a slot after hold at %v, want the hold's end %v", at, now.Add(time.Hour))
	}
}
