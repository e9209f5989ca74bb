package main

import (
	"context"
	"fmt"
	"time"
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
func scale(ctx context.Context, opts options, dep deployment, jobs int, latency time.Duration, share *shareGroup, logf func(string, ...any)) (scalePoint, error) {
	sp := scalePoint{jobs: jobs}
	opts.jobs = jobs
	b, err := newBench(ctx, opts, dep, time.Now().Add(-26*time.Hour), logf)
	if err != nil {
		return sp, err
	}
	defer b.Close()
	start := time.Now()
	if err := b.seed(ctx); err != nil {
		return sp, err
	}
	sp.seed = time.Since(start)
	// One cycle in process moves the cursor past the history.
	if sum, err := b.settler.Poll(ctx); err != nil || sum.Transitions != 0 || !sum.Advanced {
		return sp, fmt.Errorf("settling cycle: %+v, %v", sum, err)
	}
	fn, _, err := b.launch(ctx, b.lambdaEnv(false, "GODEBUG=gctrace=1"), b.event, share)
	if err != nil {
		return sp, err
	}
	defer fn.Close()
	flat := b.acct.shape()
	flat.overlap = 0 // no job of the history is in the window after the settling cycle
	measure := func(s scenario) (measurement, error) {
		m := measurement{scn: s, shape: flat, min: s.minimum(b.cfg.DigestThreshold, flat)}
		err := b.cycle(ctx, fn, latency, &m)
		logf("scale %d: %s: %v, %+v calls", jobs, s.name, m.invoke.Round(time.Millisecond), m.made())
		return m, err
	}
	if sp.quiet, err = measure(scenario{name: "quiet", latency: latency}); err != nil {
		return sp, err
	}

	n := min(opts.burst, jobs/2)
	sp.capped = n < opts.burst
	burst := changing("burst", n, latency)
	st, err := b.stage(ctx, burst.finishing, burst.starting)
	if err != nil {
		return sp, err
	}
	// The staged jobs in progress are listed, and their progress recorded,
	// before the burst, as for every scenario.
	if sum, err := b.settler.Poll(ctx); err != nil || sum.Transitions != 0 {
		return sp, fmt.Errorf("settling cycle: %+v, %v", sum, err)
	}
	cur, _, err := b.store.Cursor(ctx)
	if err != nil {
		return sp, err
	}
	if err := b.modify(burst, st, cur.At); err != nil {
		return sp, err
	}
	sp.burst, err = measure(burst)
	return sp, err
}

// modifiedPages is how many of m's SageMaker calls listed jobs modified:
// all but the pages of jobs in progress.
func modifiedPages(m measurement) int { return m.sageMaker - (m.result.Running+99)/100 }
