package main

import (
	"context"
	"fmt"
	"math"
	"os"
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

// sweepScenarios are what the sweep measures at each size: quiet at every
// latency and burst at the last, as far as -only lets them.
func sweepScenarios(o options) []scenario {
	last := o.latencies[len(o.latencies)-1]
	var out []scenario
	for _, s := range scenarios(options{latencies: o.latencies, steady: o.steady, burst: o.burst, only: o.only}) {
		if s.name == "quiet" || s.name == "burst" && s.latency == last {
			out = append(out, s)
		}
	}
	return out
}

// sweep measures the sweep's scenarios at each size of -sizes, each size in
// a cgroup of its own at its CPU share. It measures nothing, and says why,
// where no quota can be set: the sweep is about the wall time a share
// gives, which an estimate would only assume.
func (b *bench) sweep(ctx context.Context, plan sharePlan) (sizeSweep, error) {
	scns := sweepScenarios(b.opts)
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
		pt, err := b.measureSize(ctx, scns, g)
		if cerr := g.Close(); cerr != nil {
			b.logf("%v", cerr)
		}
		if err != nil {
			return sw, err
		}
		sw.points = append(sw.points, pt)
	}
	return sw, nil
}

// measureSize measures scns with the function in g.
func (b *bench) measureSize(ctx context.Context, scns []scenario, g *shareGroup) (sizePoint, error) {
	pt := sizePoint{memoryMB: g.memoryMB}
	for _, s := range scns {
		b.logf("%s at %d MB: measuring", s, g.memoryMB)
		m, err := b.measure(ctx, s, g)
		if err != nil {
			return pt, fmt.Errorf("%s at %d MB: %w", s, g.memoryMB, err)
		}
		b.logf("%s at %d MB: %v, function CPU %v", s, g.memoryMB, m.invoke.Round(time.Millisecond), m.cpuFunc)
		if s.name == "burst" {
			pt.burst = &m
		} else {
			pt.quiet = append(pt.quiet, m)
		}
	}
	return pt, nil
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

// burstJudged reports whether the burst's budget applies to pt's burst:
// only at the latency it is set for.
func (pt sizePoint) burstJudged() bool {
	return pt.burst != nil && pt.burst.scn.latency == budgetBurstAt
}

// misses names each of the sweep's budgets that pt missed: the wall time
// of the quiet budget at each latency, and the burst's.
func (pt sizePoint) misses() []string {
	var out []string
	for _, q := range pt.quiet {
		if q.invoke >= budgetQuiet {
			out = append(out, fmt.Sprintf("quiet @ %v %s", q.scn.latency, ms(q.invoke)))
		}
	}
	if pt.burstJudged() && pt.burst.invoke >= budgetBurst {
		out = append(out, "burst "+ms(pt.burst.invoke))
	}
	return out
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
	first := sw.points[0]
	var sizes []string
	for _, pt := range sw.points {
		sizes = append(sizes, strconv.Itoa(pt.memoryMB))
	}
	d := r.deployed
	p("The function at the CPU share of each memory size of `-sizes %s`, in a cgroup of its own: ", strings.Join(sizes, ","))
	var what []string
	if len(first.quiet) > 0 {
		what = append(what, "the quiet cycle at each AWS latency")
	}
	if first.burst != nil {
		what = append(what, fmt.Sprintf("the burst (%d modified, %d alerts) at %v", first.burst.scn.modified, first.burst.scn.finishing, first.burst.scn.latency))
	}
	p("%s, one run each. ", strings.Join(what, " and "))
	p("Cost at Lambda's arm64 price in us-east-1 (AWS's published price, before the free tier): the billed duration of one run, and a month of the template's default schedule (every %d minutes: %s quiet runs in %d days) plus one burst a day, with the %s requests. See *How this is measured*.\n\n",
		d.scheduleMinutes, grouped(d.monthRuns()), monthDays, grouped(d.monthRuns()+monthDays))

	var judged []string
	if len(first.quiet) > 0 {
		judged = append(judged, fmt.Sprintf("quiet < %v at each latency", budgetQuiet))
	}
	if first.burstJudged() {
		judged = append(judged, fmt.Sprintf("burst < %v", budgetBurst))
	}
	budgets := "Budgets: " + strings.Join(judged, ", ")

	head := []string{"Memory", "CPU share"}
	for _, q := range first.quiet {
		head = append(head, fmt.Sprintf("Quiet wall @ %v", q.scn.latency))
	}
	if b := first.burst; b != nil {
		head = append(head, fmt.Sprintf("Burst wall @ %v", b.scn.latency), "Burst: function CPU")
	}
	if n := len(first.quiet); n > 0 {
		head = append(head, fmt.Sprintf("Billed: one quiet run @ %v", first.quiet[n-1].scn.latency))
	}
	if first.burst != nil {
		head = append(head, "Billed: one burst")
	}
	_, monthly := first.month(d)
	if monthly {
		head = append(head, "A month")
	}
	head = append(head, budgets)
	p("| %s |\n| --- |%s --- |\n", strings.Join(head, " | "), strings.Repeat(" ---: |", len(head)-2))

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
			row = append(row, ms(b.invoke), ms(b.cpuFunc))
		}
		if n := len(pt.quiet); n > 0 {
			row = append(row, dollars(billedCost(pt.quiet[n-1].invoke, pt.memoryMB)))
		}
		if b := pt.burst; b != nil {
			row = append(row, dollars(billedCost(b.invoke, pt.memoryMB)))
		}
		if month, ok := pt.month(d); ok {
			row = append(row, dollars(month))
		}
		verdict := "met"
		if miss := pt.misses(); len(miss) > 0 {
			verdict = "**missed**: " + strings.Join(miss, "; ")
		}
		row = append(row, verdict)
		p("| %s |\n", strings.Join(row, " | "))
	}
	p("\n- %s\n", r.sweepVerdict())
	for _, line := range r.beyondAnySize() {
		p("- %s\n", line)
	}
	if first.burst != nil && !first.burstJudged() {
		p("- The burst was measured at %v; its budget is set at %v, so it is not judged here.\n", first.burst.scn.latency, budgetBurstAt)
	}
}

// sweepVerdict names the smallest size that meets the sweep's budgets and
// what a month costs there against the template's size, and the size with
// the cheapest month.
func (r *report) sweepVerdict() string {
	d := r.deployed
	monthAt := func(mb int) string {
		for _, pt := range r.sweep.points {
			if pt.memoryMB == mb {
				if month, ok := pt.month(d); ok {
					return dollars(month)
				}
				return "n/a (quiet and burst are not both measured)"
			}
		}
		return "not measured"
	}
	var text string
	var smallest *sizePoint
	for i, pt := range r.sweep.points {
		if len(pt.misses()) == 0 {
			smallest = &r.sweep.points[i]
			break
		}
	}
	switch {
	case smallest == nil:
		text = "No size measured meets these budgets."
	case smallest.memoryMB == d.memoryMB:
		text = fmt.Sprintf("The template's %d MB already meets these budgets; a month costs %s there.", d.memoryMB, monthAt(d.memoryMB))
	default:
		text = fmt.Sprintf("%d MB is the smallest size measured that meets these budgets; a month costs %s there against %s at the template's %d MB.",
			smallest.memoryMB, monthAt(smallest.memoryMB), monthAt(d.memoryMB), d.memoryMB)
	}
	cheapest, least := 0, math.Inf(1)
	for _, pt := range r.sweep.points {
		if month, ok := pt.month(d); ok && month < least {
			cheapest, least = pt.memoryMB, month
		}
	}
	if cheapest > 0 {
		text += fmt.Sprintf(" The cheapest month is at %d MB (%s).", cheapest, dollars(least))
	}
	return text
}

// beyondAnySize names the sweep's budgets that the cycle missed even at
// full core (in *Cycles*): no memory size can meet those, since a larger
// size only gives more CPU.
func (r *report) beyondAnySize() []string {
	var lines []string
	for _, m := range r.cycles {
		var limit time.Duration
		switch {
		case m.scn.paced:
			continue
		case m.scn.name == "quiet":
			limit = budgetQuiet
		case m.scn.name == "burst" && m.scn.latency == budgetBurstAt:
			limit = budgetBurst
		default:
			continue
		}
		if m.invoke >= limit {
			lines = append(lines, fmt.Sprintf("At full core the %s takes %s (*Cycles*), not under %v: no memory size meets that budget here.", m.scn, ms(m.invoke), limit))
		}
	}
	return lines
}

// sweepText is the sweep's paragraph of *How this is measured*.
func (r *report) sweepText() string {
	d := r.deployed
	return fmt.Sprintf("**Memory size: time and cost**: for each size of `-sizes` (by default 128, 256, 512 and 1024 MB) `labelbench` makes a cgroup with that size's quota (MB × 100,000 / 1,769 µs per 100,000 µs, as for the template's size) and measures in it, as the runs at the CPU share are measured, the quiet scenario at every latency of `-latency` and the burst at the last, one run each, after the other scenarios. Only the CPU changes with the size: the function's memory is not limited, and a vCPU of Lambda's arm64 (Graviton) is taken to be as fast as a core here. Where no quota can be set the sweep is not measured, and not estimated. "+
		"The cost is what Lambda bills: each invocation's duration rounded up to the next 1 ms, times its memory in GB (MB/1024), at $%.10f per GB-second, plus $0.20 per million requests: AWS's published price for arm64 (the template's architecture) in us-east-1, before the free tier. The duration billed is taken to be **Wall**, the invocation's round trip through the emulator, a little more than the handler's own time; cold starts are not counted. "+
		"A month is %d days of the template's default schedule (`ScheduleMinutes` %d: %s runs), each a quiet cycle at the last latency, plus one burst a day, and their %s requests; pushed state change events are not counted. "+
		"The budgets column judges the wall time of the quiet budget (under %v at each latency) and the burst's (under %v at %v), as *Budgets* judges them at the template's size, on one run each.",
		pricePerGBSecond, monthDays, d.scheduleMinutes, grouped(d.monthRuns()), grouped(d.monthRuns()+monthDays), budgetQuiet, budgetBurst, budgetBurstAt)
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
