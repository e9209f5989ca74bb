package main

import (
	"context"
	"fmt"
	"time"
)

// quietFloor is issue 19's quiet run: the main account's quiet cycle (its
// few hundred jobs labeling, idle since the cycle before) at
// budgetIssue19At, measured again and again, each run beside the floor's
// run of the same calls.
type quietFloor struct {
	share bool // at the CPU share; else at a full core
	runs  []measurement
}

// measureQuietFloor measures the quiet cycle at budgetIssue19At runs times
// in share (nil: a full core), each from a fresh function and the same
// settled state, as measure does.
func (b *bench) measureQuietFloor(ctx context.Context, runs int, share *shareGroup) (*quietFloor, error) {
	q := &quietFloor{share: share != nil}
	s := scenario{name: "quiet", latency: budgetIssue19At}
	for i := range runs {
		m, err := b.measure(ctx, s, share)
		if err != nil {
			return nil, err
		}
		b.logf("quiet, %d in progress, @ %v: run %d of %d: %v wall against the floor's %v", m.shape.running, s.latency, i+1, runs,
			m.invoke.Round(time.Millisecond), m.floor.wall.Round(time.Millisecond))
		q.runs = append(q.runs, m)
	}
	return q, nil
}

// running is how many jobs were in progress.
func (q *quietFloor) running() int { return q.runs[0].shape.running }

// medians are the median wall of the function's runs and of the floor's,
// each taken on its own.
func (q *quietFloor) medians() (fn, floor time.Duration) {
	var fns, floors []time.Duration
	for _, m := range q.runs {
		fns, floors = append(fns, m.invoke), append(floors, m.floor.wall)
	}
	return median(fns), median(floors)
}

// wallRatio is the function's median wall over the floor's.
func (q *quietFloor) wallRatio() float64 {
	fn, floor := q.medians()
	if floor <= 0 {
		return 0
	}
	return float64(fn) / float64(floor)
}

// where says where q ran.
func (q *quietFloor) where() string {
	if q.share {
		return "at the CPU share"
	}
	return "at a full core (CPU share not measured)"
}

// budgets are the quiet run's budget, with what was measured.
func (q *quietFloor) budgets() []budget {
	fn, floor := q.medians()
	return []budget{{
		what: fmt.Sprintf("Quiet cycle with %d jobs in progress at %v per AWS call, %s: median wall of %d runs ≤ %.1f × the floor's median, in the same run",
			q.running(), budgetIssue19At, q.where(), len(q.runs), budgetQuietFloorWall),
		measured: fmt.Sprintf("%s against the floor's %s = %.2f×", ms(fn), ms(floor), q.wallRatio()),
		ok:       floor > 0 && q.wallRatio() <= budgetQuietFloorWall,
	}}
}

// renderQuietFloor writes the quiet run's section.
func (r *report) renderQuietFloor(p func(string, ...any), row func(...any)) {
	q := r.quietFloor
	p("\n## Quiet cycle with %d jobs in progress, against the floor\n\n", q.running())
	p("The main account's quiet cycle (its %d jobs in progress idle since the cycle before, nothing modified since the cursor), %s, %v per AWS call, measured %d times as each scenario is (a fresh function, warmed with one cycle, from the same settled state), each just after the floor's run of the same calls (`cmd/labelbench/floor`, in the same cgroup). The budget is on the medians, each taken on its own. Wall is the invocation's round trip through the Runtime Interface Emulator; the floor's, from the word that starts it to its answer.\n\n",
		q.running(), q.where(), budgetIssue19At, len(q.runs))
	p("| Run | Wall: function | Wall: floor | Wall ratio | CPU: function | CPU: floor | Function calls (list, reads, writes) | Floor calls (list, reads, writes) |\n")
	p("| ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |\n")
	for i, m := range q.runs {
		made, f := m.made(), m.floor
		row(i+1, ms(m.invoke), ms(f.wall), timesRatio(m.invoke, f.wall), ms(m.cpuFn), ms(f.cpu),
			fmt.Sprintf("%d, %d, %d", made.sageMaker, made.reads, made.writes), fmt.Sprintf("%d, %d, %d", f.ListCalls, f.Reads, f.Writes))
	}
	fn, floor := q.medians()
	row("**median**", "**"+ms(fn)+"**", "**"+ms(floor)+"**", fmt.Sprintf("**%.2f×**", q.wallRatio()), "", "", "", "")
	p("\n| Budget | Measured | |\n| --- | --- | --- |\n")
	for _, bg := range q.budgets() {
		row(bg.what, bg.measured, verdict(bg.ok))
	}
}
