package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/labelwatch/labelwatch/internal/config"
	"github.com/labelwatch/labelwatch/internal/testenv"
	"github.com/labelwatch/labelwatch/internal/watch"
)

// floorTable is where the floor writes, so the function's state stays as
// the scenario set it up.
const floorTable = "labelwatch-bench-floor"

// floorResult is what one run of cmd/labelbench/floor did (its JSON line).
type floorResult struct {
	ListCalls int   `json:"listCalls"`
	Reads     int   `json:"reads"`
	Writes    int   `json:"writes"`
	Posts     int   `json:"posts"`
	WallNS    int64 `json:"wallNs"`
	CPUNS     int64 `json:"cpuNs"`
}

func (f floorResult) wall() time.Duration { return time.Duration(f.WallNS) }
func (f floorResult) cpu() time.Duration  { return time.Duration(f.CPUNS) }

// buildFloor builds cmd/labelbench/floor with the deployed build's flags.
func buildFloor(ctx context.Context, dir string) (string, error) {
	root, err := testenv.RepoRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "floor")
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", out, "./cmd/labelbench/floor")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the floor: %w\n%s", err, msg)
	}
	return out, nil
}

// floor runs the floor program for s, the account modified and the cursor
// at at, with the AWS latency already set: the calls s's minimum counts,
// made with the function's SDK clients and nothing else. With share, it
// works at the function's CPU share (it joins the cgroup once its clients
// are built and warm, as the function does after its warm-up).
func (b *bench) floor(ctx context.Context, s scenario, m minimum, at time.Time, share *shareGroup) (floorResult, error) {
	var res floorResult
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
	cmd := exec.CommandContext(ctx, b.floorBin, args...)
	cmd.Env = testenv.LambdaEnviron(b.lambdaEnv(false)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return res, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return res, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return res, fmt.Errorf("start the floor: %w", err)
	}
	defer func() { _ = cmd.Wait() }()
	defer stdin.Close()
	lines := bufio.NewReader(stdout)
	if line, err := lines.ReadString('\n'); err != nil || strings.TrimSpace(line) != "ready" {
		_ = cmd.Process.Kill()
		return res, fmt.Errorf("the floor did not start: %q %v\n%s", line, err, stderr.String())
	}
	if share != nil {
		if err := share.enter(cmd.Process.Pid); err != nil {
			_ = cmd.Process.Kill()
			return res, err
		}
		defer share.leave(cmd.Process.Pid)
	}
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		return res, err
	}
	line, err := lines.ReadString('\n')
	if err != nil {
		return res, fmt.Errorf("the floor failed: %v\n%s", err, stderr.String())
	}
	if err := json.Unmarshal([]byte(line), &res); err != nil {
		return res, fmt.Errorf("the floor's answer %q: %w", line, err)
	}
	return res, nil
}
