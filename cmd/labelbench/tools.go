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
	"strings"
	"time"

	"github.com/labelwatch/labelwatch/internal/app"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

// tool is a helper process of the benchmark (the floor, the profile) run
// with the function's environment: it says a word on a line when it is
// ready for the next step, and takes the step when a line comes on its
// standard input, so that the benchmark can put it in the CPU share and
// set the latency between the steps.
type tool struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  *bufio.Reader
	stderr strings.Builder
}

// startTool starts bin with args and env added to the function's
// environment, and waits for its first word, ready.
func startTool(ctx context.Context, name, bin string, args, env []string) (*tool, error) {
	t := &tool{name: name, cmd: exec.CommandContext(ctx, bin, args...)}
	t.cmd.Env = testenv.LambdaEnviron(env...)
	t.cmd.Stderr = &t.stderr
	var err error
	if t.stdin, err = t.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := t.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	t.lines = bufio.NewReader(stdout)
	if err := t.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the %s: %w", name, err)
	}
	if line, err := t.lines.ReadString('\n'); err != nil || strings.TrimSpace(line) != "ready" {
		t.close()
		return nil, fmt.Errorf("the %s: want %q, got %q (%v)\n%s", name, "ready", line, err, t.stderr.String())
	}
	return t, nil
}

// pid is the tool's process, to put in the CPU share.
func (t *tool) pid() int { return t.cmd.Process.Pid }

// step tells the tool to take its next step and returns the line it
// answers with.
func (t *tool) step(say string) (string, error) {
	if _, err := io.WriteString(t.stdin, say+"\n"); err != nil {
		return "", fmt.Errorf("the %s: %w\n%s", t.name, err, t.stderr.String())
	}
	line, err := t.lines.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("the %s failed: %w\n%s", t.name, err, t.stderr.String())
	}
	return strings.TrimSpace(line), nil
}

// answer takes the tool's last step and decodes its answer, a JSON line,
// into v.
func (t *tool) answer(say string, v any) error {
	line, err := t.step(say)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(line), v); err != nil {
		return fmt.Errorf("the %s's answer %q: %w", t.name, line, err)
	}
	return nil
}

// close ends the tool: its input closes, and a tool still running is
// killed.
func (t *tool) close() {
	t.stdin.Close()
	_ = t.cmd.Process.Kill()
	_ = t.cmd.Wait()
}

// profileRun is a CPU profile of one cycle of a scenario.
type profileRun struct {
	scn    scenario
	share  bool // at the CPU share
	result app.Result
	wall   time.Duration
	top    []string // pprof -top lines: flat, flat%, sum%, cum, cum%, function
	cumTop []string // the same by cumulative share
	total  string   // pprof's "Duration: ..., Total samples = ..." line
	parts  []profilePart
}

// profilePart is the share of the profile's samples that pass through the
// functions matching a pattern.
type profilePart struct {
	what, pattern, share string
}

// profileParts are the parts of a cycle worth telling apart; a sample may
// pass through more than one (a write's signing is in the write too).
func profileParts() []profilePart {
	return []profilePart{
		{what: "DynamoDB writes (UpdateItem: record, claim, commit, cursor)", pattern: `dynamodb\.\(\*Client\)\.UpdateItem`},
		{what: "DynamoDB reads (BatchGetItem, GetItem)", pattern: `dynamodb\.\(\*Client\)\.(BatchGetItem|GetItem)`},
		{what: "SageMaker listing (ListLabelingJobs)", pattern: `sagemaker\.\(\*Client\)\.ListLabelingJobs`},
		{what: "SigV4 signing, in all AWS calls", pattern: `signer/v4\.`},
		{what: "Building DynamoDB expressions (expression.Builder)", pattern: `feature/dynamodb/expression\.`},
		{what: "Slack (slack-go, Block Kit)", pattern: `slack-go|labelwatch/internal/slack\.`},
		{what: "The cycle's own logic (internal/watch, decide and plan)", pattern: `internal/watch\.\(Rules\)|internal/watch\.\(\*Watcher\)\.decide\.func`},
		{what: "Garbage collection (background marking)", pattern: `runtime\.gcBgMarkWorker`},
		{what: "HTTP transport (net/http connections, reading and writing)", pattern: `net/http\.\(\*persistConn\)`},
	}
}

// profile runs s once in cmd/labelbench/profile (the handler wired as
// cmd/handler wires it, without the Lambda runtime), warm, with a CPU
// profile, at the CPU share when share is not nil, and returns the top
// functions.
func (b *bench) profile(ctx context.Context, s scenario, share *shareGroup) (profileRun, error) {
	pr := profileRun{scn: s, share: share != nil}
	bin, err := b.buildTool(ctx, "profile", "")
	if err != nil {
		return pr, err
	}
	st, at, err := b.prepare(ctx, s.finishing, s.starting)
	if err != nil {
		return pr, err
	}
	eventFile, out := filepath.Join(b.tmp, "scheduled.json"), filepath.Join(b.tmp, "cpu.pprof")
	if err := os.WriteFile(eventFile, b.event, 0o644); err != nil {
		return pr, err
	}
	t, err := startTool(ctx, "profile", bin, []string{"-event", eventFile, "-out", out}, b.lambdaEnv(false))
	if err != nil {
		return pr, err
	}
	defer t.close()
	if line, err := t.step("warm up"); err != nil || line != "warm" {
		return pr, fmt.Errorf("the profile: want %q, got %q (%v)", "warm", line, err)
	}
	if err := b.modify(s, st, at); err != nil {
		return pr, err
	}
	if err := share.enter(t.pid()); err != nil {
		return pr, err
	}
	defer share.leave(t.pid())
	b.setLatency(s.latency)
	start := time.Now()
	err = t.answer("go", &pr.result)
	pr.wall = time.Since(start)
	b.setLatency(0)
	if err != nil {
		return pr, err
	}
	if err := b.unstage(ctx, st); err != nil {
		return pr, err
	}
	if pr.total, pr.top, err = pprofTop(ctx, bin, out, false); err != nil {
		return pr, err
	}
	if _, pr.cumTop, err = pprofTop(ctx, bin, out, true); err != nil {
		return pr, err
	}
	for _, part := range profileParts() {
		part.share = pprofFocus(ctx, out, part.pattern)
		pr.parts = append(pr.parts, part)
	}
	b.logf("%s: profiled, %v wall", s, pr.wall.Round(time.Millisecond))
	return pr, nil
}

// pprofTop runs `go tool pprof -top` on a profile and returns its header
// line on samples and its first 12 rows.
func pprofTop(ctx context.Context, bin, prof string, cum bool) (string, []string, error) {
	args := []string{"tool", "pprof", "-top", "-nodecount=12"}
	if cum {
		args = append(args, "-cum")
	}
	msg, err := exec.CommandContext(ctx, "go", append(args, bin, prof)...).Output()
	if err != nil {
		return "", nil, fmt.Errorf("go tool pprof: %w", err)
	}
	var total string
	var rows []string
	inRows := false
	for _, l := range strings.Split(string(msg), "\n") {
		switch {
		case strings.HasPrefix(l, "Duration:"):
			total = strings.TrimSpace(l)
		case strings.Contains(l, "flat%") && strings.Contains(l, "cum%"):
			inRows = true
		case inRows && strings.TrimSpace(l) != "":
			rows = append(rows, strings.TrimSpace(l))
		}
	}
	return total, rows, nil
}

// pprofFocus is the share of the profile's samples through functions
// matching pattern, from pprof's "Showing nodes accounting for" line.
func pprofFocus(ctx context.Context, prof, pattern string) string {
	msg, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=100000", "-focus="+pattern, prof).Output()
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(msg), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "Showing nodes accounting for "); ok {
			return strings.TrimSuffix(rest, " total") // "0.54s, 39.71% of 1.36s total"
		}
	}
	return "none"
}
