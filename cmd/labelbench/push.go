package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/labelwatch/labelwatch/internal/app"
	"github.com/labelwatch/labelwatch/internal/labeling"
)

// pushMinimum is the fewest calls one pushed alert can make (issue 8): one
// DescribeLabelingJob, one read of the job's state, the minute's push count
// (the storm budget, issue 9), the claim and the commit, and one Slack post.
func pushMinimum() tally { return tally{sageMaker: 1, reads: 1, writes: 3, slack: 1} }

// pushMeasurement is what one function instance did serving labeling job
// state change events one after another, each for a job that has just
// finished, with budgetPushAt added to every AWS call.
type pushMeasurement struct {
	events   []pushEvent
	counters // over all events
	heapMB   int
	rssKiB   int64
}

// pushEvent is what one pushed event did and took.
type pushEvent struct {
	job       string
	result    app.Result
	made      tally
	posted    bool
	toSlack   time.Duration // from sending the invocation to Slack taking its first post
	roundTrip time.Duration // the invocation's round trip through the emulator
}

// calls is each kind of call against its minimum, over all events.
func (m pushMeasurement) calls() []calls {
	var made tally
	for _, e := range m.events {
		made = tally{made.sageMaker + e.made.sageMaker, made.reads + e.made.reads, made.writes + e.made.writes, made.slack + e.made.slack}
	}
	least, n := pushMinimum(), len(m.events)
	return against(made, tally{n * least.sageMaker, n * least.reads, n * least.writes, n * least.slack})
}

// times is each event's duration that d picks, of those that posted when
// posted is set.
func (m pushMeasurement) times(posted bool, d func(pushEvent) time.Duration) []time.Duration {
	var out []time.Duration
	for _, e := range m.events {
		if e.posted || !posted {
			out = append(out, d(e))
		}
	}
	return out
}

// push measures events pushes: it settles the account as for any scenario,
// starts one function under the Runtime Interface Emulator, warms it with a
// push that alerts, then sends events state change events one after another
// with budgetPushAt on every AWS call, each for another job that has just
// become Completed or Failed while its stored state is InProgress.
func (b *bench) push(ctx context.Context, events int) (pushMeasurement, error) {
	var m pushMeasurement
	st, at, err := b.prepare(ctx, events+1, 0) // the first warms the function
	if err != nil {
		return m, err
	}
	warmUp, err := b.finish(0, st.finishing[0], at)
	if err != nil {
		return m, err
	}
	// SLACK_PACE at its default, as deployed: it spaces one invocation's
	// posts, and a push makes one. Issue 9 gives pushes a budget of
	// DIGEST_THRESHOLD a minute, past which the poll digests them: a storm.
	// These events, all within a minute, measure one push each, not a
	// storm, so the function gets a threshold above their number. The
	// warm-up starts the process and opens its connections to SageMaker,
	// DynamoDB and Slack; what is measured is a warm function.
	fn, warm, err := b.launch(ctx, b.lambdaEnv(true, "GODEBUG=gctrace=1", fmt.Sprintf("DIGEST_THRESHOLD=%d", events+1)), warmUp, nil)
	if err != nil {
		return m, err
	}
	defer fn.Close()
	if warm.Trigger != app.TriggerPush || warm.Alerted != 1 {
		return m, fmt.Errorf("warm-up push: %+v\n%s", warm, fn.Output())
	}
	start := b.count(fn.pid)
	b.setLatency(budgetPushAt)
	defer b.setLatency(0)
	for i, name := range st.finishing[1:] {
		event, err := b.finish(i+1, name, at)
		if err != nil {
			return m, err
		}
		before := b.count(fn.pid)
		e := pushEvent{job: name}
		var sent time.Time
		if e.result, sent, e.roundTrip, err = fn.invoke(ctx, event); err != nil {
			return m, err
		}
		e.made = b.count(fn.pid).minus(before).made()
		if posts := b.hook.arrived(before.posts); len(posts) > 0 {
			e.posted, e.toSlack = true, posts[0].Sub(sent)
		}
		m.events = append(m.events, e)
	}
	m.counters = b.count(fn.pid).minus(start)
	m.rssKiB, m.heapMB = peakRSS(fn.pid), peakHeap(fn.Output())
	b.logf("push: event to Slack post %s", spread(m.times(true, func(e pushEvent) time.Duration { return e.toSlack })))
	return m, nil
}

// finish makes the named job, stored as InProgress, Completed (or Failed,
// two in ten) in the emulator just after the cursor at, and returns the
// state change event SageMaker would put on the bus for it.
func (b *bench) finish(n int, name string, at time.Time) ([]byte, error) {
	status := labeling.StatusCompleted
	if n%10 == 7 || n%10 == 8 {
		status = labeling.StatusFailed
	}
	b.emu.Update(name, func(j *labeling.Job) {
		end(j, status)
		j.ModifiedAt = justAfter(at, n)
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
	var ev map[string]any
	if err := json.Unmarshal(sample, &ev); err != nil {
		return nil, fmt.Errorf("read the state change event sample: %w", err)
	}
	ev["id"], ev["time"], ev["resources"] = id, j.ModifiedAt.UTC().Format(time.RFC3339), []string{j.ARN}
	ev["detail"] = map[string]string{"LabelingJobStatus": string(j.Status)}
	return json.Marshal(ev)
}
