package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/state"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

// A storm's runs: each with AWS_LAMBDA_FUNCTION_TIMEOUT at Lambda's
// longest, so that each ends the storm in one invocation whatever it costs
// (on moto it costs more than the template's timeout; see renderStorm),
// its wall is set against the template's timeout and its CPU against the
// other build's; and the invocations one may take before the benchmark
// stops invoking.
const (
	stormTimeout = 900
	stormLimit   = 3
)

// stormMeasurement is issue 19's storm: jobs labeling jobs, failed of them
// Failed and the others Completed, all ending just after the cursor, so
// that one run alerts every one of them in one digest; run by this tree's
// function and, beside it from the same seeding, by one built from an
// older commit.
type stormMeasurement struct {
	jobs, failed    int
	latency         time.Duration // on every AWS call
	pace            time.Duration // the template's SLACK_PACE
	digestThreshold int           // the template's DIGEST_THRESHOLD
	deployedTimeout int           // the template's timeout, seconds: the wall budget
	after           stormRun
	before          *stormRun // the older build's; nil when -before is empty
}

// stormRun is one build's run of the storm.
type stormRun struct {
	build   string // "this tree", or the commit it was built from
	share   bool   // at the CPU share; else at a full core
	timeout int    // AWS_LAMBDA_FUNCTION_TIMEOUT, seconds
	motoRun
	// notRun says why the build was not measured (it did not build, or
	// its cold start refused the environment); empty when it was.
	notRun string
}

// done reports whether every job of the storm was alerted.
func (r stormRun) done(jobs int) bool { return r.total().result.Alerted >= jobs }

// claims are the run's claim calls: TransactWriteItems, 100 claims a call.
func (r stormRun) claims() int { return r.total().ddb["TransactWriteItems"] }

// beyondClaims is the writes beyond the claims the protocol needs, per
// alert: every write but the claims' transactions (the commits'
// BatchWriteItem, UpdateItem, the cursor's write), over the alerts.
func (r stormRun) beyondClaims() float64 {
	t := r.total()
	if t.result.Alerted == 0 {
		return 0
	}
	return float64(ddbWrites(t.ddb)-r.claims()) / float64(t.result.Alerted)
}

// measureStorm seeds a table in moto with jobs jobs in progress, the
// cursor before their end, and runs the storm with this tree's function at
// share (nil: a full core); then, with before set, seeds another table
// alike and runs it the same way with the function built from before.
// Both run with stormTimeout. Whatever keeps the older build from running
// is reported, not returned.
func measureStorm(ctx context.Context, dep deployment, moto motoDynamo, jobs int, latency time.Duration, before string, share *shareGroup, logf func(string, ...any)) (*stormMeasurement, error) {
	sm := &stormMeasurement{jobs: jobs, latency: latency, deployedTimeout: dep.fn.Timeout}
	for i := range jobs {
		if stormStatus(i) == labeling.StatusFailed {
			sm.failed++
		}
	}
	sm.after = stormRun{build: "this tree", share: share != nil, timeout: stormTimeout}
	logf("storm: %d jobs ending, this tree's function", jobs)
	var err error
	if sm.after.motoRun, err = runStorm(ctx, dep, moto, "labelwatch-storm", dep.bootstrap, sm, share, logf); err != nil {
		return nil, fmt.Errorf("storm: %w", err)
	}
	if before == "" {
		return sm, nil
	}
	sm.before = &stormRun{build: before, share: share != nil, timeout: stormTimeout}
	logf("storm: %d jobs ending, the function built from %s", jobs, before)
	dir, err := os.MkdirTemp("", "labelbench-before-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bootstrap, err := buildBootstrapAt(ctx, before, dir)
	if err == nil {
		sm.before.build = bootstrap.commit
		sm.before.motoRun, err = runStorm(ctx, dep, moto, "labelwatch-storm-before", bootstrap.path, sm, share, logf)
	}
	switch {
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case err != nil:
		sm.before.notRun = err.Error()
		logf("storm: the function built from %s was NOT measured: %s", before, firstLines(err.Error(), 30))
	}
	return sm, nil
}

// runStorm seeds the storm into a table of its own and runs it with
// bootstrap until every job is alerted, or stormLimit invocations.
func runStorm(ctx context.Context, dep deployment, moto motoDynamo, tableName, bootstrap string, sm *stormMeasurement, share *shareGroup, logf func(string, ...any)) (motoRun, error) {
	rig, err := newMotoRig(ctx, dep, moto, tableName)
	if err != nil {
		return motoRun{}, err
	}
	defer rig.Close()
	sm.pace, sm.digestThreshold = rig.cfg.Slack.Pace, rig.cfg.DigestThreshold
	start := time.Now()
	if err := rig.seedStorm(ctx, sm.jobs); err != nil {
		return motoRun{}, err
	}
	logf("%s: seeded %d jobs in progress in %v", tableName, sm.jobs, time.Since(start).Round(time.Millisecond))
	fn, err := rig.launch(ctx, bootstrap, stormTimeout, share)
	if err != nil {
		return motoRun{}, err
	}
	defer fn.Close()
	return rig.invokeUntil(ctx, fn, sm.latency, stormTimeout, stormLimit,
		func(m motoRun) bool { return stormRun{motoRun: m}.done(sm.jobs) }, logf)
}

// seedStorm stores jobs jobs as in progress, as a cycle an hour ago left
// them, with the cursor then, and puts them in the emulator ended since,
// one after another from a second after the cursor, each with its
// stormStatus.
func (r *motoRig) seedStorm(ctx context.Context, jobs int) error {
	at := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	templates, err := recordTemplates(ctx, r.store, r.direct, r.table, at.Add(-30*time.Minute))
	if err != nil {
		return fmt.Errorf("seed the storm: %w", err)
	}
	stored := map[string]labeling.Status{}
	for i := range jobs {
		j := labeling.Job{
			Name:          fmt.Sprintf("storm-job-%05d", i),
			CreatedAt:     at.Add(-2*time.Hour + time.Duration(i)*time.Millisecond),
			ModifiedAt:    justAfter(at, i),
			Workteam:      "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/bench-team",
			InputManifest: fmt.Sprintf("s3://bench-bucket/input/storm-job-%05d.manifest", i),
		}
		end(&j, stormStatus(i))
		r.emu.Put(j)
		stored[j.Name] = labeling.StatusInProgress
	}
	if err := putRecords(ctx, r.direct, r.table, templates, stored); err != nil {
		return fmt.Errorf("seed the storm: %w", err)
	}
	if err := r.store.AdvanceCursor(ctx, state.Cursor{At: at}); err != nil {
		return fmt.Errorf("seed the storm: %w", err)
	}
	return nil
}

// stormStatus is how the storm's ith job ends: one in ten Failed, the
// others Completed.
func stormStatus(i int) labeling.Status {
	if i%10 == 7 {
		return labeling.StatusFailed
	}
	return labeling.StatusCompleted
}

// builtBootstrap is a bootstrap built from a commit.
type builtBootstrap struct {
	path   string
	commit string // the commit's short hash
}

// buildBootstrapAt builds cmd/handler as it was at commit (`git archive`
// of it into dir) with the flags of the Makefile's bootstrap target, which
// builds the bootstrap the bench runs.
func buildBootstrapAt(ctx context.Context, commit, dir string) (builtBootstrap, error) {
	root, err := testenv.RepoRoot()
	if err != nil {
		return builtBootstrap{}, err
	}
	hash, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--short", commit+"^{commit}").Output()
	if err != nil {
		return builtBootstrap{}, fmt.Errorf("git rev-parse %s: %w", commit, err)
	}
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		return builtBootstrap{}, err
	}
	archive := exec.CommandContext(ctx, "git", "-C", root, "archive", "--format=tar", commit)
	untar := exec.CommandContext(ctx, "tar", "-x", "-C", src)
	if untar.Stdin, err = archive.StdoutPipe(); err != nil {
		return builtBootstrap{}, err
	}
	var archiveErr strings.Builder
	archive.Stderr = &archiveErr
	if err := archive.Start(); err != nil {
		return builtBootstrap{}, fmt.Errorf("git archive %s: %w", commit, err)
	}
	untarOut, untarErr := untar.CombinedOutput()
	if err := errors.Join(archive.Wait(), untarErr); err != nil {
		return builtBootstrap{}, fmt.Errorf("git archive %s | tar -x: %w\n%s%s", commit, err, archiveErr.String(), untarOut)
	}
	out := filepath.Join(dir, "bootstrap")
	build := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", out, "./cmd/handler")
	build.Dir = src
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := build.CombinedOutput(); err != nil {
		return builtBootstrap{}, fmt.Errorf("build cmd/handler at %s: %w\n%s", commit, err, msg)
	}
	return builtBootstrap{path: out, commit: strings.TrimSpace(string(hash))}, nil
}

// name is how the report names r's function.
func (r stormRun) name() string {
	if r.build == "this tree" {
		return r.build
	}
	return "built from `" + r.build + "`"
}

// where says where r ran.
func (r stormRun) where() string {
	if r.share {
		return "at the CPU share"
	}
	return "at a full core"
}

// budgets are the storm's budgets, each with what was measured.
func (sm *stormMeasurement) budgets() []budget {
	a, t := sm.after, sm.after.total()
	where := "at the CPU share"
	if !a.share {
		where = "at a full core (CPU share not measured)"
	}
	first := a.steps[0]
	rows := []budget{{
		what: fmt.Sprintf("Storm: %s jobs ending (%s Failed) in one digest, at %v per AWS call: one invocation %s, within the function's %d s timeout (run with a timeout of %d s, so that its wall shows however long it takes)",
			grouped(sm.jobs), grouped(sm.failed), sm.latency, where, sm.deployedTimeout, a.timeout),
		measured: fmt.Sprintf("%d invocation(s), the first %s; %d of %d alerted", len(a.steps), ms(first.wall), t.result.Alerted, sm.jobs),
		ok:       len(a.steps) == 1 && a.done(sm.jobs) && first.result.ErrorMessage == "" && first.wall <= time.Duration(sm.deployedTimeout)*time.Second,
	}, {
		what: fmt.Sprintf("Storm: writes beyond the claims the protocol needs (TransactWriteItems, 100 claims a call) ≤ %.1f per alert", budgetStormBeyond),
		measured: fmt.Sprintf("(%d writes − %d claim calls) / %d alerts = %.3f (%s)",
			ddbWrites(t.ddb), a.claims(), t.result.Alerted, a.beyondClaims(), ddbOps(writeOps(t.ddb))),
		ok: t.result.Alerted > 0 && a.beyondClaims() <= budgetStormBeyond,
	}}
	if b := sm.before; b != nil {
		row := budget{what: fmt.Sprintf("Storm: the function's CPU ≤ %.1f × that of the function built from `%s`", budgetStormCPU, b.build)}
		switch bt := b.total(); {
		case b.notRun != "":
			row.measured = fmt.Sprintf("not measured: the function built from `%s` did not run (see *Storm*)", b.build)
		case !b.done(sm.jobs):
			row.measured = fmt.Sprintf("not comparable: the function built from `%s` alerted %d of %d jobs in %d invocations", b.build, bt.result.Alerted, sm.jobs, len(b.steps))
		default:
			ratio := float64(t.cpuFn) / float64(bt.cpuFn)
			row.measured = fmt.Sprintf("%s (%s) against %s (%s) = %.3f", ms(t.cpuFn), a.where(), ms(bt.cpuFn), b.where(), ratio)
			row.ok = a.done(sm.jobs) && ratio <= budgetStormCPU
		}
		rows = append(rows, row)
	}
	return rows
}

// writeOps is calls without the reads.
func writeOps(calls map[string]int) map[string]int {
	out := map[string]int{}
	for op, n := range calls {
		if op != "GetItem" && op != "BatchGetItem" {
			out[op] = n
		}
	}
	return out
}

// renderStorm writes the storm's section.
func (r *report) renderStorm(p func(string, ...any), row func(...any)) {
	sm := r.storm
	p("\n## Storm: %s jobs ending in one run\n\n", grouped(sm.jobs))
	p("%s labeling jobs in progress, stored as a cycle an hour before left them, with the cursor then; in the SageMaker emulator each has ended since, one after another from a second after the cursor: %s Failed, the other %s Completed. With the template's alerting statuses every one alerts, more than `DIGEST_THRESHOLD` (%d), so in one digest, split into as many posts as Slack's limits need, paced at the template's `SLACK_PACE` (%v). ",
		grouped(sm.jobs), grouped(sm.failed), grouped(sm.jobs-sm.failed), sm.digestThreshold, sm.pace)
	p("The function is the bootstrap under the Runtime Interface Emulator, configured as `template.yaml` deploys it but for the endpoints, the table, the webhook and `AWS_LAMBDA_FUNCTION_TIMEOUT=%d` in place of the template's %d s, so that an invocation ends the storm however long it takes and its wall can be set against the template's timeout; it is started with an event its handler ignores (its cold start, no cycle), moved into the cgroup where stated, and then the scheduled event is invoked, %v per AWS call, until every job is alerted (at most %d invocations). ",
		stormTimeout, sm.deployedTimeout, sm.latency, stormLimit)
	p("**DynamoDB here is moto's, served one request at a time** (`testenv.StartMotoSerialAtScale`: moto's app on one thread, its transactions keeping for their rollback only the items they write, where moto's own copy the whole table once per item: minutes a transaction at this size), behind `testenv.DynamoProxy`, which adds the latency and counts calls by operation: dynalite has no `TransactWriteItems`, so there the store claims a digest's jobs with an `UpdateItem` each and the batching could not show; moto's threaded server lets racing conditional writes both win. moto serves each call more slowly than DynamoDB, and one at a time: its CPU time is shown beside the function's. ")
	if b := sm.before; b != nil {
		p("Beside this tree's function the same storm, seeded alike into a table of its own, is run the same way (the same timeout, in the same cgroup where there is one) by the function built from `%s` (`git archive` of that commit, built with the flags of the Makefile's `bootstrap` target, as this tree's bootstrap is); the budget compares the two functions' CPU time.", b.build)
	}
	p("\n\n| Function | Where | Timeout | Invocations | Wall: first invocation | Wall: all | Alerted | Pending after | Slack posts | List calls | CPU: function | CPU: moto | DynamoDB calls | DynamoDB writes |\n")
	p("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |\n")
	runs := []stormRun{sm.after}
	if sm.before != nil {
		runs = append(runs, *sm.before)
	}
	for _, run := range runs {
		name := run.name()
		where := "full core"
		if run.share {
			where = fmt.Sprintf("CPU share (%.1f%%)", sharePercent(r.deployed.memoryMB))
		}
		if run.notRun != "" {
			row(name, where, fmt.Sprintf("%d s", run.timeout), "**not measured**", "", "", "", "", "", "", "", "", "", "")
			continue
		}
		t, last := run.total(), run.steps[len(run.steps)-1]
		row(name, where, fmt.Sprintf("%d s", run.timeout), len(run.steps), ms(run.steps[0].wall), ms(t.wall), t.result.Alerted, last.result.Pending,
			t.posts, t.listCalls, ms(t.cpuFn), ms(t.cpuMoto), ddbOps(t.ddb), ddbWrites(t.ddb))
	}
	byName := map[string]motoRun{}
	var names []string
	for _, run := range runs {
		if run.notRun == "" {
			byName[run.name()] = run.motoRun
			names = append(names, run.name())
		}
	}
	renderServed(p, row, names, byName)
	p("\n| Budget | Measured | |\n| --- | --- | --- |\n")
	for _, bg := range sm.budgets() {
		row(bg.what, bg.measured, verdict(bg.ok))
	}
	p("\n")
	for _, run := range runs {
		if run.notRun != "" {
			p("- **The function built from `%s` was not measured.** It failed with:\n\n```\n%s\n```\n\n", run.build, firstLines(run.notRun, 30))
			continue
		}
		if e := run.failure(); e != "" {
			p("- The function of %s failed an invocation: %s\n", run.build, e)
		}
	}
	a := sm.after.steps[0]
	line := fmt.Sprintf("Where this tree's first invocation's %s goes: the function used %s of CPU", ms(a.wall), ms(a.cpuFn))
	if sm.after.share {
		line += fmt.Sprintf(", which at %.1f%% of a core takes at least %s of wall", sharePercent(r.deployed.memoryMB),
			ms(time.Duration(float64(a.cpuFn)*100/sharePercent(r.deployed.memoryMB))))
	}
	var served time.Duration
	for _, o := range a.served {
		served += o.took
	}
	line += fmt.Sprintf("; moto took %s answering its %d DynamoDB calls one at a time (%s of its CPU), a floor under the wall that DynamoDB, answering in parallel and faster, does not have", ms(served), ddbReads(a.ddb)+ddbWrites(a.ddb), ms(a.cpuMoto))
	line += fmt.Sprintf("; %d list calls, each page waiting for the previous page's token: %s of latency alone", a.listCalls, ms(time.Duration(a.listCalls)*sm.latency))
	for _, op := range []string{"TransactWriteItems", "BatchWriteItem"} {
		if o := a.served[op]; a.ddb[op] > 0 {
			line += fmt.Sprintf("; its %d %s calls ran from %.1f to %.1f s, moto answering them for %s of that", a.ddb[op], op,
				o.first.Sub(a.start).Seconds(), o.last.Sub(a.start).Seconds(), ms(o.took))
		}
	}
	if a.posts > 1 && sm.pace > 0 {
		line += fmt.Sprintf("; %d Slack posts %v apart: %s of pacing", a.posts, sm.pace, ms(time.Duration(a.posts-1)*sm.pace))
	}
	p("- %s.\n", line)
}

// firstLines is text's first n lines.
func firstLines(text string, n int) string {
	lines := strings.SplitN(strings.TrimSpace(text), "\n", n+1)
	if len(lines) > n {
		lines = append(lines[:n], "…")
	}
	return strings.Join(lines, "\n")
}
