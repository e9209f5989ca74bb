package main

import (
	"fmt"
	"time"
)

// scenario is one measured cycle: how many jobs changed since the cursor,
// how many of those finished (and alert) or started (a silent transition),
// the latency every AWS call gets, and whether Slack posts are paced.
type scenario struct {
	name      string
	modified  int // jobs whose LastModifiedTime moved past the cursor
	finishing int // of those, InProgress -> Completed, Failed or Stopped
	starting  int // of those, Initializing -> InProgress; the rest only progress
	latency   time.Duration
	paced     bool // SLACK_PACE at its default instead of 0s
}

func (s scenario) String() string {
	text := fmt.Sprintf("%s @ %v", s.name, s.latency)
	if s.paced {
		text += ", default pace"
	}
	return text
}

// scenarios are quiet, steady and burst at each latency, then steady and
// burst again with Slack pacing at its default.
func scenarios(o options) []scenario {
	tenth := func(n int) int { return n / 10 }
	base := []scenario{
		{name: "quiet"},
		{name: "steady", modified: o.steady, finishing: tenth(o.steady), starting: tenth(o.steady)},
		{name: "burst", modified: o.burst, finishing: tenth(o.burst), starting: tenth(o.burst)},
	}
	var all []scenario
	for _, d := range o.latencies {
		for _, s := range base {
			s.latency = d
			all = append(all, s)
		}
	}
	if o.paced {
		for _, s := range base[1:] {
			s.latency, s.paced = o.latencies[0], true
			all = append(all, s)
		}
	}
	if len(o.only) > 0 {
		var chosen []scenario
		for _, s := range all {
			if o.only[s.name] {
				chosen = append(chosen, s)
			}
		}
		return chosen
	}
	return all
}

// minimum is the fewest calls a cycle of s can make, as issue 4 counts them.
type minimum struct {
	listPages  int // ceil(modified/100), and at least the one call that finds nothing
	cursorRead int // the GetItem of the cursor every cycle starts with
	batchReads int // ceil(modified/100) BatchGetItem
	writes     int // one per job whose status changed, one claim per alert, one cursor write
	slack      int // one message per alert, or one digest for more than the threshold
}

func (s scenario) minimum(digestThreshold int) minimum {
	pages := (s.modified + 99) / 100
	m := minimum{listPages: max(1, pages), cursorRead: 1, batchReads: pages}
	m.writes = s.finishing + s.starting + s.finishing
	if s.modified > 0 {
		m.writes++ // the cursor moves past the newest modification
	}
	m.slack = s.finishing
	if s.finishing > digestThreshold {
		m.slack = 1
	}
	return m
}
