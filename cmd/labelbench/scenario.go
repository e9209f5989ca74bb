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
	// listPages is ceil(modified/100), at least 1, where modified counts
	// every job the API returns for (cursor - OVERLAP, now]: OVERLAP is a
	// product requirement, and a listing cannot leave its jobs out.
	listPages int
	// modifiedPages is the narrower reading: ceil(modified/100), at least
	// 1, counting only the jobs modified since the cursor.
	modifiedPages int
	cursorRead    int // the GetItem of the cursor every cycle starts with
	batchReads    int // ceil(modified/100) BatchGetItem, of the jobs modified since the cursor
	writes        int // one per job whose status changed, one claim per alert, one cursor write
	slack         int // one message per alert, or one digest for more than the threshold
}

// minimum is the least s can cost when overlap jobs fall in the overlap
// window before the cursor.
func (s scenario) minimum(digestThreshold, overlap int) minimum {
	pages := (s.modified + 99) / 100
	m := minimum{
		listPages:     max(1, (s.modified+overlap+99)/100),
		modifiedPages: max(1, pages),
		cursorRead:    1,
		batchReads:    pages,
	}
	m.writes = s.finishing + s.starting + s.finishing
	if s.modified > 0 {
		m.writes++ // the cursor moves past the newest modification
	}
	// One message per alert, or a digest: at least one message, more when
	// Slack's size limits make the function split it (cycle.go checks
	// each post is within them).
	m.slack = s.finishing
	if s.finishing > digestThreshold {
		m.slack = 1
	}
	return m
}

// calls is one kind of call a cycle makes: how many it made and the fewest
// it could have.
type calls struct {
	what        string
	made, least int
}

func (c calls) ratio() float64 { return ratio(c.made, c.least) }

func (c calls) String() string {
	return fmt.Sprintf("%d/%d = %s", c.made, c.least, fmtRatio(c.ratio()))
}

// total adds up cs.
func total(cs []calls) calls {
	sum := calls{what: "all calls"}
	for _, c := range cs {
		sum.made += c.made
		sum.least += c.least
	}
	return sum
}
