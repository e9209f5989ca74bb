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

// TestLaneShared checks that two watchers on one Lanes (two sources of one
// function) keep Pace between their messages to one destination as one
// watcher does, and that watchers on lanes of their own, or messages to two
// destinations, do not wait for each other.
func TestLaneShared(t *testing.T) {
	const pace = time.Second
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	team := Destination{Key: "channel-C0TEAM0001", To: slack.Destination{Channel: "C0TEAM0001"}}
	for _, tc := range []struct {
		name   string
		shared bool
		to     []Destination   // of four messages, sent in turn by the two watchers
		want   []time.Duration // their waits
	}{
		{"shared, one destination", true, []Destination{DefaultDestination, DefaultDestination, DefaultDestination, DefaultDestination}, []time.Duration{pace, pace, pace}},
		{"own lanes", false, []Destination{DefaultDestination, DefaultDestination, DefaultDestination, DefaultDestination}, []time.Duration{pace}},
		{"shared, two destinations", true, []Destination{DefaultDestination, team, DefaultDestination, team}, []time.Duration{pace}},
	} {
		clk := clock.NewFake(start)
		lanes := &Lanes{}
		var pacers []*pacer
		for range 2 {
			opts := Options{Pace: pace, Retrier: Retrier{Attempts: 1}}
			if tc.shared {
				opts.Lanes = lanes
			}
			pacers = append(pacers, New(nil, nil, quiet{}, nil, clk, opts).pacer(t.Context()))
		}
		for i, p := range []*pacer{pacers[0], pacers[1], pacers[0], pacers[1]} {
			if _, err := p.sender(tc.to[i])(slack.Message{Text: "x"}); err != nil {
				t.Fatal(err)
			}
		}
		// A wait of zero (a free lane) is no wait.
		waits := slices.DeleteFunc(clk.Waits(), func(d time.Duration) bool { return d <= 0 })
		if !slices.Equal(waits, tc.want) {
			t.Errorf("%s: waits %v, want %v", tc.name, waits, tc.want)
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

// TestLanesBegin checks that a new invocation does not wait for the pace
// of the last one's messages, and still keeps the quiet Slack asked for.
func TestLanesBegin(t *testing.T) {
	const pace = time.Second
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var lanes Lanes
	team := lanes.lane("team")
	team.reserve(now, pace)
	if at := team.reserve(now, pace); !at.Equal(now.Add(pace)) {
		t.Fatalf("second message of an invocation at %v, want a pace on, %v", at, now.Add(pace))
	}
	lanes.Begin()
	if at := team.reserve(now, pace); !at.Equal(now) {
		t.Errorf("first message of the next invocation at %v, want at once, %v", at, now)
	}
	team.hold(now.Add(time.Minute))
	lanes.Begin()
	if at := lanes.lane("team").reserve(now, pace); !at.Equal(now.Add(time.Minute)) {
		t.Errorf("a message after Retry-After and a new invocation at %v, want the quiet's end, %v", at, now.Add(time.Minute))
	}
}
