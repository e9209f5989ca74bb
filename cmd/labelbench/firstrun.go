package main

import (
	"context"
	"fmt"
	"time"

	"github.com/labelwatch/labelwatch/internal/app"
	"github.com/labelwatch/labelwatch/internal/config"
	"github.com/labelwatch/labelwatch/internal/state"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

// firstRunStep is one invocation of a first deploy.
type firstRunStep struct {
	wall         time.Duration
	listed       int
	listCalls    int
	alerted      int
	posts        int
	resumedAfter time.Time // the Baseline's CreatedAfter before it; zero for the very first
	recorded     time.Time // the Baseline's CreatedAfter after it; zero once the cursor is set
	sent         time.Time // when it was invoked
	cursor       time.Time // set by the invocation that ends the first run
	cpu          time.Duration
	errorMessage string
}

// firstRunMeasurement is a first deploy into an account of jobs jobs.
type firstRunMeasurement struct {
	jobs     int
	share    bool
	timeout  time.Duration
	steps    []firstRunStep
	total    time.Duration
	lookback int // terminal jobs modified within LOOKBACK of the start: the alerts a first run may post
	rssKiB   int64
	problems []string
}

// firstRunLimit is how many invocations a first deploy may take before the
// benchmark gives up on it.
const firstRunLimit = 40

// firstRun deploys the function into a fresh account of jobs jobs with an
// empty table (no cursor, no job records) and invokes the scheduled event,
// with the function's deadline at AWS_LAMBDA_FUNCTION_TIMEOUT (60 s), until
// the cursor is set. With share, the function runs at its CPU share from its
// first invocation on.
func firstRun(ctx context.Context, opts options, jobs int, share *shareGroup, logf func(string, ...any)) (firstRunMeasurement, error) {
	fr := firstRunMeasurement{jobs: jobs, share: share != nil, timeout: opts.firstRunTimeout.Truncate(time.Second)}
	o := opts
	o.jobs = jobs
	b, err := newBench(ctx, o, logf)
	if err != nil {
		return fr, err
	}
	defer b.Close()
	// The account's clock is the real one here: LOOKBACK is judged against
	// the function's clock, and a first run alerts the jobs that ended
	// within it.
	b.acct = newAccount(o, time.Now().Add(-24*time.Hour))
	for _, j := range b.acct.jobs {
		b.emu.Put(j)
	}
	env := append(b.lambdaEnv(false), fmt.Sprintf("AWS_LAMBDA_FUNCTION_TIMEOUT=%d", int(fr.timeout.Seconds())))
	if opts.firstRunMargin > 0 {
		env = append(env, "DEADLINE_MARGIN="+opts.firstRunMargin.String())
	}
	fn, err := testenv.LaunchLambda(b.bootstrap, env...)
	if err != nil {
		return fr, err
	}
	defer fn.Kill()
	// The emulator starts the function at its first invocation: an event
	// the handler ignores starts it (cold start, at full core) without a
	// cycle, so that every cycle of the first run is at the CPU share.
	if r, _, _, err := invoke(ctx, fn, []byte(`{"source":"labelbench","detail-type":"labelbench warm-up","detail":{}}`)); err != nil || r.Trigger != app.TriggerIgnored {
		return fr, fmt.Errorf("first run: warm-up with an ignored event: %+v, %v", r, err)
	}
	pid, err := functionPid(fn.Pid())
	if err != nil {
		return fr, err
	}
	if err := share.enter(pid); err != nil {
		return fr, err
	}
	defer share.leave(pid)
	began := time.Now()
	for len(fr.steps) < firstRunLimit {
		var step firstRunStep
		cur, _, err := b.store.Cursor(ctx)
		if err != nil {
			return fr, err
		}
		if cur.Baseline != nil {
			step.resumedAfter = cur.Baseline.CreatedAfter
		}
		lists, posts, cpu := b.emu.Calls("ListLabelingJobs"), b.hook.count(), cpuTime(pid)
		r, sent, took, err := invoke(ctx, fn, b.event)
		step.sent = sent
		if err != nil {
			return fr, err
		}
		step.wall, step.listed, step.alerted, step.errorMessage = took, r.Listed, r.Alerted, r.ErrorMessage
		step.listCalls, step.posts, step.cpu = b.emu.Calls("ListLabelingJobs")-lists, b.hook.count()-posts, cpuTime(pid)-cpu
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
		logf("first run into %d jobs: invocation %d: %v, %d listed, %d alerted, cursor %v", jobs, len(fr.steps), took.Round(time.Millisecond), r.Listed, r.Alerted, seeded)
		if r.ErrorMessage != "" {
			fr.problems = append(fr.problems, fmt.Sprintf("invocation %d failed: %s", len(fr.steps), r.ErrorMessage))
			break
		}
		if seeded {
			break
		}
	}
	fr.total = time.Since(began)
	// A first run alerts the finished jobs modified within LOOKBACK of the
	// start of the invocation that records them: the newest jobs, which
	// the last invocation records.
	for _, j := range b.acct.jobs {
		if j.Status.Terminal() && j.ModifiedAt.After(fr.steps[len(fr.steps)-1].sent.Add(-config.DefaultLookback)) {
			fr.lookback++
		}
	}
	fr.rssKiB = peakRSS(pid)
	last := fr.steps[len(fr.steps)-1]
	if last.cursor.IsZero() {
		fr.problems = append(fr.problems, fmt.Sprintf("no cursor after %d invocations", len(fr.steps)))
	}
	alerted, listed := 0, 0
	for i, s := range fr.steps {
		alerted += s.alerted
		listed += s.listed
		if i > 0 && s.resumedAfter.IsZero() {
			fr.problems = append(fr.problems, fmt.Sprintf("invocation %d started over from nothing (the one before saved no Baseline)", i+1))
		}
	}
	if alerted != fr.lookback {
		fr.problems = append(fr.problems, fmt.Sprintf("%d alerts, want the %d jobs that ended within LOOKBACK", alerted, fr.lookback))
	}
	// Each resumed invocation lists again at most the chunk it was in the
	// middle of, and the jobs of the last millisecond recorded.
	if slack := len(fr.steps) * (state.MaxBatch + 1000); listed > jobs+slack {
		fr.problems = append(fr.problems, fmt.Sprintf("listed %d jobs in all for %d in the account", listed, jobs))
	}
	return fr, nil
}
