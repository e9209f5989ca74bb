package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"time"

	"github.com/labelwatch/labelwatch/internal/testenv"
)

// coldStarts starts the bootstrap n times with AWS_LAMBDA_RUNTIME_API
// pointing at a stand-in Runtime API and times each from process start to
// its first request for an event: everything the function does at cold
// start (configuration, AWS SDK clients, the watcher). It returns the times
// in order. With share, each process starts in that cgroup: a shell joins
// it and then execs the bootstrap, so the whole process life is at the CPU
// share (the shell's start, about a millisecond, is in the time).
func (b *bench) coldStarts(ctx context.Context, n int, share *shareGroup) ([]time.Duration, error) {
	ready := make(chan time.Time, 1)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/2018-06-01/runtime/invocation/next" {
			select {
			case ready <- time.Now():
			default:
			}
			<-r.Context().Done() // no event: the process is killed waiting
			return
		}
		http.NotFound(w, r)
	}))
	defer api.Close()

	env := testenv.LambdaEnviron(append(b.lambdaEnv(false), "AWS_LAMBDA_RUNTIME_API="+strings.TrimPrefix(api.URL, "http://"))...)
	var times []time.Duration
	for range n {
		var out bytes.Buffer
		cmd := exec.CommandContext(ctx, b.dep.bootstrap)
		if share != nil {
			cmd = exec.CommandContext(ctx, "/bin/sh", "-c", `echo $$ > "$1" && exec "$2"`, "sh", share.procs(), b.dep.bootstrap)
		}
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = &out, &out
		exited := make(chan error, 1)
		start := time.Now()
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("cold start: %w", err)
		}
		go func() { exited <- cmd.Wait() }()
		select {
		case at := <-ready:
			times = append(times, at.Sub(start))
			_ = cmd.Process.Kill()
			<-exited
		case werr := <-exited:
			return nil, fmt.Errorf("cold start: the bootstrap exited (%v) before asking for an event:\n%s", werr, out.String())
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			return nil, fmt.Errorf("cold start: no request for an event within 10s:\n%s", out.String())
		}
	}
	return times, nil
}
