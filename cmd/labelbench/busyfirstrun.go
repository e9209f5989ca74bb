package main

import (
	"context"
	"fmt"
	"time"

	"github.com/labelwatch/labelwatch/internal/labeling"
)

// busyFirstRunLimit is how many invocations the busy first run may take
// before the benchmark stops invoking.
const busyFirstRunLimit = 8

// busyFirstRun is issue 19's first run: the function deployed into an
// account with jobs jobs in progress and nothing else, its table empty.
// Every job is recorded, silently; none alerts.
type busyFirstRun struct {
	jobs      int
	latency   time.Duration // on every AWS call
	share     bool          // at the CPU share; else at a full core
	timeout   int           // AWS_LAMBDA_FUNCTION_TIMEOUT, seconds: the template's
	cursorSet bool          // the last invocation set the cursor: the first run is over
	motoRun
}

// writesPerJob is the first run's DynamoDB writes per job recorded, over
// all its invocations.
func (f *busyFirstRun) writesPerJob() float64 {
	t := f.total()
	if t.result.Recorded == 0 {
		return 0
	}
	return float64(ddbWrites(t.ddb)) / float64(t.result.Recorded)
}

// measureBusyFirstRun puts jobs jobs in progress in the emulator, makes an
// empty table in moto and invokes this tree's function, at share (nil: a
// full core) with the template's timeout, until the cursor is set.
func measureBusyFirstRun(ctx context.Context, dep deployment, moto motoDynamo, jobs int, latency time.Duration, share *shareGroup, logf func(string, ...any)) (*busyFirstRun, error) {
	fr := &busyFirstRun{jobs: jobs, latency: latency, share: share != nil, timeout: dep.fn.Timeout}
	rig, err := newMotoRig(ctx, dep, moto, "labelwatch-firstrun-busy")
	if err != nil {
		return nil, err
	}
	defer rig.Close()
	// Created over the 30 days before the run, each labeling since, the
	// newest modified a minute ago.
	now := time.Now().Truncate(time.Millisecond)
	for i := range jobs {
		created := now.Add(-history + time.Duration(i)*history/time.Duration(jobs))
		rig.emu.Put(labeling.Job{
			Name:          fmt.Sprintf("busy-job-%05d", i),
			Status:        labeling.StatusInProgress,
			CreatedAt:     created,
			ModifiedAt:    now.Add(-time.Minute - time.Duration(jobs-1-i)*time.Millisecond),
			Workteam:      "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/bench-team",
			InputManifest: fmt.Sprintf("s3://bench-bucket/input/busy-job-%05d.manifest", i),
			Counters:      labeling.Counters{Total: 400, Human: 300, Machine: 100, Unlabeled: 600},
		})
	}
	fn, err := rig.launch(ctx, dep.bootstrap, fr.timeout, share)
	if err != nil {
		return nil, err
	}
	defer fn.Close()
	fr.motoRun, err = rig.invokeUntil(ctx, fn, latency, fr.timeout, busyFirstRunLimit, func(motoRun) bool {
		_, seeded, err := rig.store.Cursor(ctx)
		fr.cursorSet = err == nil && seeded
		return fr.cursorSet
	}, logf)
	if err != nil {
		return nil, fmt.Errorf("first run into %d jobs in progress: %w", jobs, err)
	}
	return fr, nil
}

// budgets are the busy first run's budgets, each with what was measured.
func (f *busyFirstRun) budgets() []budget {
	t, first := f.total(), f.steps[0]
	where := "at the CPU share"
	if !f.share {
		where = "at a full core (CPU share not measured)"
	}
	return []budget{{
		what: fmt.Sprintf("First run into %s jobs in progress, at %v per AWS call: one invocation %s, within the function's %d s timeout",
			grouped(f.jobs), f.latency, where, f.timeout),
		measured: fmt.Sprintf("%d invocation(s), the first %s; cursor set: %v", len(f.steps), ms(first.wall), yesNo(f.cursorSet)),
		ok:       len(f.steps) == 1 && f.cursorSet && first.result.ErrorMessage == "" && first.wall <= time.Duration(f.timeout)*time.Second,
	}, {
		what: fmt.Sprintf("First run into %s jobs in progress: DynamoDB writes ≤ 1 per 25 jobs recorded (%.2f)", grouped(f.jobs), budgetBusyWrites),
		measured: fmt.Sprintf("%d writes (%s) / %d jobs recorded = %.3f",
			ddbWrites(t.ddb), ddbOps(writeOps(t.ddb)), t.result.Recorded, f.writesPerJob()),
		ok: f.cursorSet && t.result.Recorded > 0 && f.writesPerJob() <= budgetBusyWrites,
	}}
}

// renderBusyFirstRun writes the busy first run's section.
func (r *report) renderBusyFirstRun(p func(string, ...any), row func(...any)) {
	f := r.busyFirstRun
	p("\n## First run into %s jobs in progress\n\n", grouped(f.jobs))
	p("An account of %s labeling jobs, every one in progress (created over the 30 days before the run, each modified within the minutes before it), and nothing else; an empty table (no cursor, no job record). Every job is recorded, none alerts. The function, configured as `template.yaml` deploys it but for the endpoints, the table and the webhook, is started with an event its handler ignores (its cold start), moved into the cgroup where stated, and the scheduled event is invoked, %v per AWS call, until the cursor is set (at most %d invocations). DynamoDB is moto's served one request at a time behind `testenv.DynamoProxy`, as for the storm and for the same reason: on dynalite, which has no `TransactWriteItems`, the store records each job alone.\n\n",
		grouped(f.jobs), f.latency, busyFirstRunLimit)
	p("| Invocation | Wall | CPU: function | CPU: moto | Listed | Recorded | Alerted | List calls | DynamoDB calls | DynamoDB writes |\n")
	p("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |\n")
	for i, s := range f.steps {
		row(i+1, ms(s.wall), ms(s.cpuFn), ms(s.cpuMoto), s.result.Listed, s.result.Recorded, s.result.Alerted, s.listCalls, ddbOps(s.ddb), ddbWrites(s.ddb))
	}
	renderServed(p, row, []string{"this tree"}, map[string]motoRun{"this tree": f.motoRun})
	p("\n| Budget | Measured | |\n| --- | --- | --- |\n")
	for _, bg := range f.budgets() {
		row(bg.what, bg.measured, verdict(bg.ok))
	}
	p("\n")
	if e := f.failure(); e != "" {
		p("- An invocation failed: %s\n", e)
	}
	first := f.steps[0]
	var served time.Duration
	for _, o := range first.served {
		served += o.took
	}
	p("- Of the first invocation's %s, moto took %s answering its %d DynamoDB calls one at a time (%s of its CPU); the function used %s of CPU.\n",
		ms(first.wall), ms(served), ddbReads(first.ddb)+ddbWrites(first.ddb), ms(first.cpuMoto), ms(first.cpuFn))
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
