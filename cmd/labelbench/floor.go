package main

import (
	"context"
	"strconv"
	"time"

	"github.com/labelwatch/labelwatch/cmd/labelbench/internal/floorwire"
	"github.com/labelwatch/labelwatch/internal/config"
	"github.com/labelwatch/labelwatch/internal/watch"
)

// floorTable is where the floor writes, so the function's state stays as
// the scenario set it up.
const floorTable = "labelwatch-bench-floor"

// floor runs the floor program for s, the account modified and the cursor
// at at, with the AWS latency already set: the calls s's minimum counts,
// made with the function's SDK clients and nothing else. With share, it
// works at the function's CPU share (it joins the cgroup once its clients
// are built and warm, as the function does after its warm-up).
func (b *bench) floor(ctx context.Context, s scenario, m minimum, at time.Time, share *shareGroup) (floorwire.Result, error) {
	var res floorwire.Result
	after := s.finishing // commits
	if s.modified > 0 {
		after++ // the cursor
	}
	args := []string{
		"-table", table, "-write-table", floorTable, "-cursor-key", "#cursor", "-webhook", b.hook.URL,
		"-since", at.Add(-config.DefaultOverlap).Format(time.RFC3339Nano), "-cursor", at.Format(time.RFC3339Nano),
		"-writes-before", strconv.Itoa(s.starting + s.finishing), // transitions recorded, claims
		"-writes-after", strconv.Itoa(after),
		"-posts", strconv.Itoa(m.slack),
		"-concurrency", strconv.Itoa(watch.DefaultConcurrency),
	}
	if s.paced {
		args = append(args, "-pace", config.DefaultSlackPace.String())
	}
	t, err := startTool(ctx, "floor", b.floorBin, args, b.lambdaEnv(false))
	if err != nil {
		return res, err
	}
	defer t.close()
	if err := share.enter(t.pid()); err != nil {
		return res, err
	}
	defer share.leave(t.pid())
	if err := t.answer("go", &res); err != nil {
		return res, err
	}
	return res, nil
}
