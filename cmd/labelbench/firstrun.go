package main

import (
	"context"
	"fmt"
	"time"

	"github.com/labelwatch/labelwatch/internal/app"
)

// firstRunStep is one invocation of a first deploy.
type firstRunStep struct {
	result       app.Result
	wall, cpu    time.Duration
	listCalls    int
	posts        int
	resumedAfter time.Time // the Baseline's CreatedAfter before it; zero for the very first
	recorded     time.Time // the Baseline's CreatedAfter after it; zero once the cursor is set
	cursor       time.Time // set by the invocation that ends the first run
}

// firstRunMeasurement is a first deploy into an account of jobs jobs.
type firstRunMeasurement struct {
	jobs     int
	share    bool
	timeout  time.Duration
	steps    []firstRunStep
	total    time.Duration
	lookback int // terminal jobs modified within LOOKBACK of the last invocation: the alerts a first run may post
	rssKiB   int64
}

// firstRunLimit is how many invocations a first deploy may take before the
// benchmark stops invoking.
const firstRunLimit = 40

// firstRun deploys the function into a fresh account of jobs jobs with an
// empty table (no cursor, no job records) and invokes the scheduled event,
// with the function's deadline at -firstrun-timeout, until the cursor is
// set. With share, the function runs at its CPU share from its first
// invocation on.
func firstRun(ctx context.Context, opts options, dep deployment, jobs int, share *shareGroup, logf func(string, ...any)) (firstRunMeasurement, error) {
	fr := firstRunMeasurement{jobs: jobs, share: share != nil, timeout: opts.firstRunTimeout.Truncate(time.Second)}
	opts.jobs = jobs
	// The account's clock is the real one here (newAccount puts it a day
	// ahead): LOOKBACK is judged against the function's clock, and a first
	// run alerts the jobs that ended within it.
	b, err := newBench(ctx, opts, dep, time.Now().Add(-24*time.Hour), logf)
	if err != nil {
		return fr, err
	}
	defer b.Close()
	for _, j := range b.acct.jobs {
		b.emu.Put(j)
	}
	env := b.lambdaEnv(false, fmt.Sprintf("AWS_LAMBDA_FUNCTION_TIMEOUT=%d", int(fr.timeout.Seconds())))
	if opts.firstRunMargin > 0 {
		env = append(env, "DEADLINE_MARGIN="+opts.firstRunMargin.String())
	}
	// The emulator starts the function at its first invocation: an event
	// the handler ignores starts it (cold start, at full core) without a
	// cycle, so that every cycle of the first run is at the CPU share.
	fn, warm, err := b.launch(ctx, env, []byte(ignoredEvent), share)
	if err != nil {
		return fr, err
	}
	defer fn.Close()
	if warm.Trigger != app.TriggerIgnored {
		return fr, fmt.Errorf("warm-up with an ignored event: %+v", warm)
	}
	began := time.Now()
	var sent time.Time
	for len(fr.steps) < firstRunLimit {
		var step firstRunStep
		cur, _, err := b.store.Cursor(ctx)
		if err != nil {
			return fr, err
		}
		if cur.Baseline != nil {
			step.resumedAfter = cur.Baseline.CreatedAfter
		}
		before := b.count(fn.pid)
		if step.result, sent, step.wall, err = fn.invoke(ctx, b.event); err != nil {
			return fr, err
		}
		d := b.count(fn.pid).minus(before)
		step.listCalls, step.posts, step.cpu = d.sageMaker, d.posts, d.cpuFn
		after, seeded, err := b.store.Cursor(ctx)
		if err != nil {
			return fr, err
		}
		if after.Baseline != nil {
			step.recorded = after.Baseline.CreatedAfter
		}
		if seeded {
			step.cursor = after.At
		}
		fr.steps = append(fr.steps, step)
		logf("first run into %d jobs: invocation %d: %v, %d listed, %d alerted, cursor %v", jobs, len(fr.steps), step.wall.Round(time.Millisecond), step.result.Listed, step.result.Alerted, seeded)
		if seeded || step.result.ErrorMessage != "" {
			break
		}
	}
	fr.total = time.Since(began)
	// A first run alerts the finished jobs modified within LOOKBACK of the
	// start of the invocation that records them: the newest jobs, which
	// the last invocation records.
	for _, j := range b.acct.jobs {
		if j.Status.Terminal() && j.ModifiedAt.After(sent.Add(-b.cfg.Lookback)) {
			fr.lookback++
		}
	}
	fr.rssKiB = peakRSS(fn.pid)
	return fr, nil
}
