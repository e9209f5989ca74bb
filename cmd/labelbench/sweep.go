package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Lambda's price for arm64, the template's architecture, in us-east-1 as
// AWS publishes it, before the free tier.
const (
	pricePerGBSecond = 0.0000133334
	pricePerRequest  = 0.20 / 1_000_000
)

// monthDays is the month a cost is given for; it has one burst a day.
const monthDays = 30

// sizeSweep is the cycle measured at the CPU share of each memory size of
// -sizes, or why it was not.
type sizeSweep struct {
	points  []sizePoint // ascending memory sizes
	skipped string      // why nothing was measured; empty when it was or was not asked for
}

// sizePoint is one memory size's quiet cycles, one per latency, and burst,
// at the last latency, each at that size's CPU share.
type sizePoint struct {
	memoryMB int
	quiet    []measurement // in the order of -latency; none when -only leaves quiet out
	burst    *measurement  // nil when -only leaves burst out
}

func (pt sizePoint) cycles() []measurement {
	if pt.burst == nil {
		return pt.quiet
	}
	return append(pt.quiet[:len(pt.quiet):len(pt.quiet)], *pt.burst)
}

// sweep measures quiet at every latency and burst at the last (as far as
// -only lets them) at each size of -sizes, each size in a cgroup of its own
// at its CPU share. It measures nothing, and says why, where no quota can
// be set: the sweep is about the wall time a share gives, which an
// estimate would only assume.
func (b *bench) sweep(ctx context.Context, plan sharePlan) (sizeSweep, error) {
	last := b.opts.latencies[len(b.opts.latencies)-1]
	unpaced := options{latencies: b.opts.latencies, steady: b.opts.steady, burst: b.opts.burst, only: b.opts.only}
	scns := slices.DeleteFunc(scenarios(unpaced), func(s scenario) bool {
		return s.name == "steady" || s.name == "burst" && s.latency != last
	})
	switch {
	case len(b.opts.sizes) == 0:
		return sizeSweep{}, nil
	case len(scns) == 0:
		return sizeSweep{skipped: "-only leaves out quiet and burst"}, nil
	case plan.parent == "":
		return sizeSweep{skipped: "no CPU quota can be set: " + plan.reason}, nil
	}
	var sw sizeSweep
	for _, mb := range b.opts.sizes {
		g, err := newShareGroup(plan, fmt.Sprintf("labelbench-fn-%d-%d", os.Getpid(), mb), mb)
		if err != nil {
			return sizeSweep{skipped: err.Error()}, nil
		}
		b.logf("%d MB: %s", mb, g.describe())
		pt := sizePoint{memoryMB: mb}
		for _, s := range scns {
			m, err := b.measure(ctx, s, g)
			if err != nil {
				_ = g.Close()
				return sw, fmt.Errorf("%s at %d MB: %w", s, mb, err)
			}
			b.logf("%s at %d MB: %v, function CPU %v", s, mb, m.invoke.Round(time.Millisecond), m.cpuFn)
			if s.name == "burst" {
				pt.burst = &m
			} else {
				pt.quiet = append(pt.quiet, m)
			}
		}
		if err := g.Close(); err != nil {
			b.logf("%v", err)
		}
		sw.points = append(sw.points, pt)
	}
	return sw, nil
}

// billedCost is what Lambda bills for the duration of one invocation that
// takes wall at memoryMB: wall rounded up to the next millisecond, times the
// memory in GB, at pricePerGBSecond. The request is billed apart.
func billedCost(wall time.Duration, memoryMB int) float64 {
	billed := (wall + time.Millisecond - 1).Truncate(time.Millisecond)
	return billed.Seconds() * float64(memoryMB) / 1024 * pricePerGBSecond
}

// monthRuns is how many runs d's default schedule makes in monthDays.
func (d deployment) monthRuns() int { return monthDays * 24 * 60 / d.scheduleMinutes }

// monthCost is a month of d's default schedule at memoryMB: a quiet cycle
// taking quiet at every run, one burst taking burst a day, and the requests
// of them all.
func monthCost(quiet, burst time.Duration, memoryMB int, d deployment) float64 {
	runs := d.monthRuns()
	return float64(runs)*billedCost(quiet, memoryMB) + monthDays*billedCost(burst, memoryMB) +
		float64(runs+monthDays)*pricePerRequest
}

// month is pt's monthCost, when both the quiet cycle at the last latency
// and the burst were measured.
func (pt sizePoint) month(d deployment) (float64, bool) {
	if len(pt.quiet) == 0 || pt.burst == nil {
		return 0, false
	}
	return monthCost(pt.quiet[len(pt.quiet)-1].invoke, pt.burst.invoke, pt.memoryMB, d), true
}

// renderSweep writes the section on memory sizes, when the sweep was asked
// for.
func (r *report) renderSweep(p func(string, ...any)) {
	sw := r.sweep
	if len(sw.points) == 0 && sw.skipped == "" {
		return
	}
	p("\n## Memory size: time and cost\n\n")
	if len(sw.points) == 0 {
		p("Not measured (%s). The sweep of `-sizes` runs the function at each size's CPU share, and gives no estimates.\n", sw.skipped)
		return
	}
	first, d := sw.points[0], r.deployed
	var sizes, what []string
	for _, pt := range sw.points {
		sizes = append(sizes, strconv.Itoa(pt.memoryMB))
	}
	head := []string{"Memory", "CPU share"}
	for _, q := range first.quiet {
		head = append(head, fmt.Sprintf("Quiet wall @ %v", q.scn.latency))
	}
	if len(first.quiet) > 0 {
		what = append(what, "the quiet cycle at each AWS latency")
	}
	if b := first.burst; b != nil {
		what = append(what, fmt.Sprintf("the burst (%d modified, %d alerts) at %v", b.scn.modified, b.scn.finishing, b.scn.latency))
		head = append(head, fmt.Sprintf("Burst wall @ %v", b.scn.latency), "Burst: function CPU")
	}
	if n := len(first.quiet); n > 0 {
		head = append(head, fmt.Sprintf("Billed: one quiet run @ %v", first.quiet[n-1].scn.latency))
	}
	if first.burst != nil {
		head = append(head, "Billed: one burst")
	}
	if _, ok := first.month(d); ok {
		head = append(head, "A month")
	}
	p("The function at the CPU share of each memory size of `-sizes %s`, in a cgroup of its own: %s, one run each. ", strings.Join(sizes, ","), strings.Join(what, " and "))
	p("Cost at Lambda's arm64 price in us-east-1 (AWS's published price, before the free tier): the billed duration of one run, and a month of the template's default schedule (every %d minutes: %s quiet runs in %d days) plus one burst a day, with the %s requests. See *How this is measured*.\n\n",
		d.scheduleMinutes, grouped(d.monthRuns()), monthDays, grouped(d.monthRuns()+monthDays))
	p("| %s |\n| --- |%s\n", strings.Join(head, " | "), strings.Repeat(" ---: |", len(head)-1))
	cheapest, least := 0, math.Inf(1)
	for _, pt := range sw.points {
		label := fmt.Sprintf("%d MB", pt.memoryMB)
		if pt.memoryMB == d.memoryMB {
			label += " (template)"
		}
		row := []string{label, fmt.Sprintf("%.1f%%", sharePercent(pt.memoryMB))}
		for _, q := range pt.quiet {
			row = append(row, ms(q.invoke))
		}
		if b := pt.burst; b != nil {
			row = append(row, ms(b.invoke), ms(b.cpuFn))
		}
		if n := len(pt.quiet); n > 0 {
			row = append(row, dollars(billedCost(pt.quiet[n-1].invoke, pt.memoryMB)))
		}
		if b := pt.burst; b != nil {
			row = append(row, dollars(billedCost(b.invoke, pt.memoryMB)))
		}
		if month, ok := pt.month(d); ok {
			row = append(row, dollars(month))
			if month < least {
				cheapest, least = pt.memoryMB, month
			}
		}
		p("| %s |\n", strings.Join(row, " | "))
	}
	if cheapest > 0 {
		p("\n- The cheapest month is at %d MB (%s).\n", cheapest, dollars(least))
	}
}

// sweepText is the sweep's paragraph of *How this is measured*.
func (r *report) sweepText() string {
	d := r.deployed
	return fmt.Sprintf("**Memory size: time and cost**: for each size of `-sizes` (by default 128, 256, 512 and 1024 MB) `labelbench` makes a cgroup with that size's quota (MB × 100,000 / 1,769 µs per 100,000 µs, as for the template's size) and measures in it, as the runs at the CPU share are measured, the quiet scenario at every latency of `-latency` and the burst at the last, one run each, after the other scenarios. Only the CPU changes with the size: the function's memory is not limited, and a vCPU of Lambda's arm64 (Graviton) is taken to be as fast as a core here. Where no quota can be set the sweep is not measured, and not estimated. "+
		"The cost is what Lambda bills: each invocation's duration rounded up to the next 1 ms, times its memory in GB (MB/1024), at $%.10f per GB-second, plus $0.20 per million requests: AWS's published price for arm64 (the template's architecture) in us-east-1, before the free tier. The duration billed is taken to be **Wall**, the invocation's round trip through the emulator, a little more than the handler's own time; cold starts are not counted. "+
		"A month is %d days of the template's default schedule (`ScheduleMinutes` %d: %s runs), each a quiet cycle at the last latency, plus one burst a day, and their %s requests; pushed state change events are not counted.",
		pricePerGBSecond, monthDays, d.scheduleMinutes, grouped(d.monthRuns()), grouped(d.monthRuns()+monthDays))
}

// dollars shows x to three significant digits in fixed notation, so that
// the cost of one run and of a month read alike: $0.000000317, $0.00549.
func dollars(x float64) string {
	if x <= 0 {
		return "$0"
	}
	decimals := max(2, 2-int(math.Floor(math.Log10(x))))
	return fmt.Sprintf("$%.*f", decimals, x)
}

// grouped writes n with a comma between each three digits: 8,640.
func grouped(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
