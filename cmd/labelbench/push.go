package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/labelwatch/labelwatch/internal/app"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

// pushCalls is what pushed events cost: SageMaker calls, DynamoDB reads and
// writes, and Slack posts.
type pushCalls struct {
	sageMaker, reads, writes, slack int
}

func (c pushCalls) add(o pushCalls) pushCalls {
	return pushCalls{c.sageMaker + o.sageMaker, c.reads + o.reads, c.writes + o.writes, c.slack + o.slack}
}

// pushMinimum is the fewest calls one pushed alert can make (issue 8): one
// DescribeLabelingJob, one read of the job's state, the minute's push count
// (the storm budget, issue 9), the claim and the commit, and one Slack post.
func pushMinimum() pushCalls {
	return pushCalls{sageMaker: 1, reads: 1, writes: 3, slack: 1}
}

// pushMeasurement is what one function instance did serving labeling job
// state change events one after another, each for a job that has just
// finished.
type pushMeasurement struct {
	events  int
	latency time.Duration // added to every AWS call

	toSlack   []time.Duration // per event: from sending the invocation to Slack accepting its post
	roundTrip []time.Duration // per event: the invocation's round trip through the emulator
	inHandler []time.Duration // per event: the handler's own measure (durationMs)

	made     pushCalls      // over all events
	ddbCalls map[string]int // over all events, by operation

	smConns, ddbConns, slackConns int64 // TCP connections opened during the events
	cpuFunc                       time.Duration
	rssKiB                        int64
	heapMB                        int

	problems []string // where an event did not make exactly one alert at the minimum
}

// calls is each kind of call against its minimum, over all events.
func (m pushMeasurement) calls() []calls {
	least := pushMinimum()
	n := m.events
	return []calls{
		{"SageMaker", m.made.sageMaker, n * least.sageMaker},
		{"DynamoDB reads", m.made.reads, n * least.reads},
		{"DynamoDB writes", m.made.writes, n * least.writes},
		{"Slack", m.made.slack, n * least.slack},
	}
}

// perEvent shows c, made over all m's events, as the average per event
// against the minimum per event, with the ratio.
func (m pushMeasurement) perEvent(c calls) string {
	if m.events == 0 {
		return "no events"
	}
	return fmt.Sprintf("%.2f/%d = %s", float64(c.made)/float64(m.events), c.least/m.events, fmtRatio(c.ratio()))
}

// push measures events pushes: it settles the account as for any scenario,
// starts one function under the Runtime Interface Emulator, warms it with a
// push that alerts, then sends events state change events one after another
// with latency on every AWS call, each for another job that has just become
// Completed or Failed while its stored state is InProgress.
func (b *bench) push(ctx context.Context, events int, latency time.Duration) (pushMeasurement, error) {
	m := pushMeasurement{events: events, latency: latency, ddbCalls: map[string]int{}}
	st, err := b.stage(ctx, events+1, 0) // the first warms the function
	if err != nil {
		return m, err
	}
	names := st.finishing
	at, err := b.settle(ctx)
	if err != nil {
		return m, err
	}
	// SLACK_PACE at its default, as deployed: it spaces one invocation's
	// posts, and a push makes one.
	// Issue 9 gives pushes a budget of DIGEST_THRESHOLD a minute, past
	// which the poll digests them: a storm. These events, all within a
	// minute, measure one push each, not a storm, so the function gets a
	// threshold above their number.
	fn, err := testenv.LaunchLambda(b.bootstrap, append(b.lambdaEnv(true), "GODEBUG=gctrace=1", fmt.Sprintf("DIGEST_THRESHOLD=%d", events+1))...)
	if err != nil {
		return m, err
	}
	defer fn.Kill()

	// The first invocation starts the process and opens its connections to
	// SageMaker, DynamoDB and Slack; what is measured is a warm function.
	event, err := b.finish(0, names[0], at)
	if err != nil {
		return m, err
	}
	warm, _, _, err := invoke(ctx, fn, event)
	if err != nil {
		return m, err
	}
	if warm.ErrorMessage != "" || warm.Trigger != app.TriggerPush || warm.Alerted != 1 {
		return m, fmt.Errorf("warm-up push: %+v\n%s", warm, fn.Output())
	}
	pid, err := functionPid(fn.Pid())
	if err != nil {
		return m, err
	}

	smConns, ddbConns, slackConns := b.smConns.Load(), b.ddb.conns.Load(), b.hook.conns.Load()
	cpuFunc := cpuTime(pid)
	b.emu.SetLatency(latency)
	b.proxy.SetLatency(latency)
	defer b.emu.SetLatency(0)
	defer b.proxy.SetLatency(0)
	for i, name := range names[1:] {
		event, err := b.finish(i+1, name, at)
		if err != nil {
			return m, err
		}
		smBefore, ddbBefore, slackBefore := b.sageMakerCalls(), b.proxy.AllCalls(), b.hook.count()

		r, sent, took, err := invoke(ctx, fn, event)
		if err != nil {
			return m, err
		}

		ddb := map[string]int{}
		for op, n := range b.proxy.AllCalls() {
			if d := n - ddbBefore[op]; d > 0 {
				ddb[op] = d
				m.ddbCalls[op] += d
			}
		}
		posts := b.hook.arrivals(slackBefore)
		made := pushCalls{
			sageMaker: b.sageMakerCalls() - smBefore,
			reads:     ddb["GetItem"] + ddb["BatchGetItem"],
			slack:     len(posts),
		}
		for _, n := range ddb {
			made.writes += n
		}
		made.writes -= made.reads
		m.made = m.made.add(made)
		m.roundTrip = append(m.roundTrip, took)
		m.inHandler = append(m.inHandler, time.Duration(r.DurationMS)*time.Millisecond)
		if len(posts) > 0 {
			m.toSlack = append(m.toSlack, posts[0].Sub(sent))
		}
		for _, p := range checkPush(r, made) {
			m.problems = append(m.problems, fmt.Sprintf("event %d (job %s): %s", i+1, name, p))
		}
		m.problems = append(m.problems, b.hook.since(slackBefore).over...)
	}
	m.cpuFunc = cpuTime(pid) - cpuFunc
	m.smConns, m.ddbConns, m.slackConns = b.smConns.Load()-smConns, b.ddb.conns.Load()-ddbConns, b.hook.conns.Load()-slackConns
	m.rssKiB = peakRSS(pid)
	m.heapMB = peakHeap(fn.Output())
	return m, nil
}

// checkPush lists where one pushed event did not do what it must: alert once
// for the one job, with exactly the minimum of calls.
func checkPush(r app.Result, made pushCalls) []string {
	var bad []string
	if r.ErrorMessage != "" {
		bad = append(bad, "the handler failed: "+r.ErrorMessage)
	}
	if r.Trigger != app.TriggerPush {
		bad = append(bad, fmt.Sprintf("the handler took it for %q, not a push", r.Trigger))
	}
	if r.Transitions != 1 || r.Alerted != 1 || r.Pending != 0 || r.Contended != 0 {
		bad = append(bad, fmt.Sprintf("%d transitions, %d alerted, %d pending, %d contended; want 1, 1, 0, 0",
			r.Transitions, r.Alerted, r.Pending, r.Contended))
	}
	least := pushMinimum()
	switch {
	case made.slack == 0:
		bad = append(bad, "no Slack post")
	case made.slack > least.slack:
		bad = append(bad, fmt.Sprintf("%d Slack posts, want 1", made.slack))
	}
	if made.sageMaker != least.sageMaker || made.reads != least.reads || made.writes != least.writes {
		bad = append(bad, fmt.Sprintf("%d SageMaker calls, %d DynamoDB reads, %d DynamoDB writes; want %d, %d, %d",
			made.sageMaker, made.reads, made.writes, least.sageMaker, least.reads, least.writes))
	}
	return bad
}

// finish makes the named job, stored as InProgress, Completed (or Failed,
// two in ten) in the emulator just after the cursor at, and returns the
// state change event SageMaker would put on the bus for it.
func (b *bench) finish(n int, name string, at time.Time) ([]byte, error) {
	modified := at.Add(time.Second + time.Duration(n)*10*time.Millisecond)
	b.emu.Update(name, func(j *labeling.Job) {
		switch n % 10 {
		case 7, 8:
			j.Status = labeling.StatusFailed
			j.FailureReason = "ClientError: Annotation consolidation Lambda returned an invalid response for 12 objects."
		default:
			j.Status = labeling.StatusCompleted
			j.Counters = labeling.Counters{Total: 1000, Human: 700, Machine: 300}
			j.OutputManifest = "s3://bench-bucket/output/" + j.Name + "/manifests/output/output.manifest"
		}
		j.ModifiedAt = modified
	})
	j, ok := b.emu.Job(name)
	if !ok {
		return nil, fmt.Errorf("push: job %s is not in the emulator", name)
	}
	return stateChangeEvent(b.stateChange, fmt.Sprintf("labelbench-push-%04d", n), j)
}

// stateChangeEvent is sample, a labeling job state change event, made to be
// about j: its id, time, resources and detail replaced.
func stateChangeEvent(sample []byte, id string, j labeling.Job) ([]byte, error) {
	var ev map[string]json.RawMessage
	if err := json.Unmarshal(sample, &ev); err != nil {
		return nil, fmt.Errorf("read the state change event sample: %w", err)
	}
	for field, v := range map[string]any{
		"id":        id,
		"time":      j.ModifiedAt.UTC().Format(time.RFC3339),
		"resources": []string{j.ARN},
		"detail":    map[string]string{"LabelingJobStatus": string(j.Status)},
	} {
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("make a state change event: %w", err)
		}
		ev[field] = raw
	}
	out, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("make a state change event: %w", err)
	}
	return out, nil
}

// spread is the median and the worst of ds, or "none" when ds is empty.
func spread(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	return fmt.Sprintf("median %s, worst %s", ms(median(ds)), ms(slices.Max(ds)))
}
