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

// minimum is the fewest calls a cycle of s can make, as issue 4 counts them,
// with the listing of the jobs in progress (issue 11) added.
type minimum struct {
	// listPages is ceil(modified/100), at least 1, where modified counts
	// every job the API returns for (cursor - OVERLAP, now]: OVERLAP is a
	// product requirement, and a listing cannot leave its jobs out; plus
	// runningPages.
	listPages int
	// modifiedPages is the narrower reading: ceil(modified/100), at least
	// 1, counting only the jobs modified since the cursor; plus
	// runningPages.
	modifiedPages int
	// runningPages is ceil(running/100): the listing of the jobs in
	// progress, which cards and progress warnings need every cycle.
	runningPages int
	cursorRead   int // the GetItem of the cursor every cycle starts with
	// batchReads is ceil(modified/100) BatchGetItem, of the jobs modified
	// since the cursor. The jobs in progress the cycle before left idle
	// need none (the cursor remembers them); those that changed since are
	// among the modified.
	batchReads int
	writes     int // one per job whose status changed, one claim per alert, one cursor write
	slack      int // one message per alert, or one digest for more than the threshold
}

// shape is what of the account a scenario's minimum depends on.
type shape struct {
	overlap int // jobs in the overlap window before the cursor
	running int // jobs in progress before the scenario, not counting those it finishes
	pool    int // of those, how many a scenario's progressing jobs come from
}

// minimum is the least s can cost in an account of shape a.
func (s scenario) minimum(digestThreshold int, a shape) minimum {
	pages := (s.modified + 99) / 100
	running := a.running + s.starting // the jobs started are in progress when listed
	m := minimum{
		runningPages: (running + 99) / 100,
		cursorRead:   1,
		batchReads:   pages,
	}
	m.listPages = max(1, (s.modified+a.overlap+99)/100) + m.runningPages
	m.modifiedPages = max(1, pages) + m.runningPages
	// A progressing job's moved counters need no write: without cards the
	// function stores them once a quarter of STUCK_AFTER (an hour and a
	// half by default), and the settling cycle stored them minutes before.
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
