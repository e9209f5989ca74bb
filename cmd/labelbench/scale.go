package main

import (
	"context"
	"fmt"
	"time"

	"github.com/labelwatch/labelwatch/internal/config"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

// scalePoint is the quiet and burst cycles in an account of one size.
type scalePoint struct {
	jobs   int
	seed   time.Duration // putting the account in the emulator and dynalite
	quiet  measurement
	burst  measurement
	capped bool // the burst is smaller than -burst: the account has too few jobs for it
}

// scale measures a quiet and a burst cycle, at latency and (with share) at
// the CPU share, in a fresh account of jobs jobs. Unlike the scenarios
// above, the account's clock is behind the real one (its newest job
// modified two hours ago): the cursor is then the listing's start, less the
// clock skew, and a quiet cycle lists no job of the history whatever its
// size, as in an account where nothing has changed for more than OVERLAP.
// The burst happens just after that cursor, in the same warm function.
func scale(ctx context.Context, opts options, jobs int, latency time.Duration, share *shareGroup, logf func(string, ...any)) (scalePoint, error) {
	sp := scalePoint{jobs: jobs}
	o := opts
	o.jobs = jobs
	b, err := newBench(ctx, o, logf)
	if err != nil {
		return sp, err
	}
	defer b.Close()
	b.acct = newAccount(o, time.Now().Add(-26*time.Hour))
	start := time.Now()
	if err := b.seed(ctx); err != nil {
		return sp, err
	}
	sp.seed = time.Since(start)
	// One cycle in process moves the cursor past the history.
	if sum, err := b.settler.Poll(ctx); err != nil || sum.Transitions != 0 || !sum.Advanced {
		return sp, fmt.Errorf("scale %d: settling cycle: %+v, %v", jobs, sum, err)
	}

	burst := min(opts.burst, jobs/2)
	sp.capped = burst < opts.burst
	quiet := scenario{name: "quiet", latency: latency}
	busy := scenario{name: "burst", modified: burst, finishing: burst / 10, starting: burst / 10, latency: latency}

	fn, err := testenv.LaunchLambda(b.bootstrap, append(b.lambdaEnv(false), "GODEBUG=gctrace=1")...)
	if err != nil {
		return sp, err
	}
	defer fn.Kill()
	if warm, _, _, err := invoke(ctx, fn, b.event); err != nil || warm.ErrorMessage != "" {
		return sp, fmt.Errorf("scale %d: warm-up: %+v, %v", jobs, warm, err)
	}
	pid, err := functionPid(fn.Pid())
	if err != nil {
		return sp, err
	}
	if err := share.enter(pid); err != nil {
		return sp, err
	}
	defer share.leave(pid)
	flat := b.acct.shape()
	flat.overlap = 0 // no job of the history is in the window after the settling cycle
	sp.quiet = measurement{scn: quiet, min: quiet.minimum(config.DefaultDigestThreshold, flat)}
	if err := b.cycleOnce(ctx, fn, pid, quiet, &sp.quiet); err != nil {
		return sp, err
	}
	sp.quiet.problems = sp.quiet.check(flat)
	logf("scale %d: quiet: %v, %d SageMaker calls, %d DynamoDB calls", jobs, sp.quiet.invoke.Round(time.Millisecond), sp.quiet.smCalls, sp.quiet.ddbTotal())

	st, err := b.stage(ctx, busy.finishing, busy.starting)
	if err != nil {
		return sp, err
	}
	// The staged jobs in progress are listed, and their progress recorded,
	// before the burst, as for every scenario.
	if sum, err := b.settler.Poll(ctx); err != nil || sum.Transitions != 0 {
		return sp, fmt.Errorf("scale %d: settling cycle: %+v, %v", jobs, sum, err)
	}
	cur, _, err := b.store.Cursor(ctx)
	if err != nil {
		return sp, err
	}
	if err := b.modify(busy, st, cur.At); err != nil {
		return sp, err
	}
	sp.burst = measurement{scn: busy, min: busy.minimum(config.DefaultDigestThreshold, flat)}
	if err := b.cycleOnce(ctx, fn, pid, busy, &sp.burst); err != nil {
		return sp, err
	}
	sp.burst.problems = sp.burst.check(flat)
	logf("scale %d: burst: %v, %d SageMaker calls, %d DynamoDB calls", jobs, sp.burst.invoke.Round(time.Millisecond), sp.burst.smCalls, sp.burst.ddbTotal())
	return sp, nil
}
