package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/labelwatch/labelwatch/internal/app"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

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
var profileParts = []profilePart{
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

// pprofFocus is the share of the profile's samples through functions
// matching pattern, from pprof's "Showing nodes accounting for" line.
func pprofFocus(ctx context.Context, prof, pattern string) string {
	msg, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=100000", "-focus="+pattern, prof).Output()
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(msg), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "Showing nodes accounting for "); ok {
			// "0.54s, 39.71% of 1.36s total"
			return strings.TrimSuffix(rest, " total")
		}
	}
	return "none"
}

// buildTool builds the named command under cmd/labelbench with the deployed
// build's flags but ldflags, into dir: the floor is stripped as the function
// is ("-s -w"); the profile keeps its symbols for pprof.
func buildTool(ctx context.Context, dir, name, ldflags string) (string, error) {
	root, err := testenv.RepoRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, name)
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags="+ldflags, "-o", out, "./cmd/labelbench/"+name)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %w\n%s", name, err, msg)
	}
	return out, nil
}

// profile runs s once in cmd/labelbench/profile (the handler wired as
// cmd/handler wires it, without the Lambda runtime), warm, with a CPU
// profile, at the CPU share when share is not nil, and returns the top
// functions.
func (b *bench) profile(ctx context.Context, s scenario, share *shareGroup) (profileRun, error) {
	pr := profileRun{scn: s, share: share != nil}
	if b.profileBin == "" {
		bin, err := buildTool(ctx, b.tmp, "profile", "")
		if err != nil {
			return pr, err
		}
		b.profileBin = bin
	}
	st, err := b.stage(ctx, s.finishing, s.starting)
	if err != nil {
		return pr, err
	}
	at, err := b.settle(ctx)
	if err != nil {
		return pr, err
	}
	eventFile := filepath.Join(b.tmp, "scheduled.json")
	if err := os.WriteFile(eventFile, b.event, 0o644); err != nil {
		return pr, err
	}
	out := filepath.Join(b.tmp, "cpu.pprof")
	t, err := startTool(ctx, "profile", b.profileBin, []string{"-event", eventFile, "-out", out}, b.lambdaEnv(false))
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
	b.emu.SetLatency(s.latency)
	b.proxy.SetLatency(s.latency)
	start := time.Now()
	err = t.answer("go", &pr.result)
	pr.wall = time.Since(start)
	b.emu.SetLatency(0)
	b.proxy.SetLatency(0)
	if err != nil {
		return pr, err
	}
	if err := b.unstage(ctx, st); err != nil {
		return pr, err
	}
	if pr.total, pr.top, err = pprofTop(ctx, b.profileBin, out, false); err != nil {
		return pr, err
	}
	if _, pr.cumTop, err = pprofTop(ctx, b.profileBin, out, true); err != nil {
		return pr, err
	}
	for _, part := range profileParts {
		part.share = pprofFocus(ctx, out, part.pattern)
		pr.parts = append(pr.parts, part)
	}
	return pr, nil
}

// pprofTop runs `go tool pprof -top` on a profile and returns its header
// line on samples and its first 12 rows.
func pprofTop(ctx context.Context, bin, prof string, cum bool) (string, []string, error) {
	args := []string{"tool", "pprof", "-top", "-nodecount=12"}
	if cum {
		args = append(args, "-cum")
	}
	cmd := exec.CommandContext(ctx, "go", append(args, bin, prof)...)
	msg, err := cmd.Output()
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

// renderProfile writes the profile's top functions.
func renderProfile(p func(string, ...any), pr *profileRun) {
	where := "at full core"
	if pr.share {
		where = "at the CPU share"
	}
	p("\n## Where the burst's CPU goes\n\n")
	p("A CPU profile of one %s cycle %s, warm, with %v per AWS call: the handler wired as `cmd/handler` wires it (`cmd/labelbench/profile`: configuration, SDK clients, store, notifier, `app.NewWatcher`, `app.Handler.Invoke`), without the Lambda runtime, against the same SageMaker emulator and dynalite; %s wall, %d listed, %d in progress, %d transitions, %d alerted. %s.\n\n",
		pr.scn.name, where, pr.scn.latency, ms(pr.wall), pr.result.Listed, pr.result.Running, pr.result.Transitions, pr.result.Alerted, pr.total)
	table := func(title string, rows []string) {
		p("%s\n\n| flat | flat%% | sum%% | cum | cum%% | function |\n| ---: | ---: | ---: | ---: | ---: | --- |\n", title)
		for _, r := range rows {
			f := strings.Fields(r)
			if len(f) < 6 {
				continue
			}
			p("| %s | %s | %s | %s | %s | `%s` |\n", f[0], f[1], f[2], f[3], f[4], strings.Join(f[5:], " "))
		}
		p("\n")
	}
	p("By part of the cycle (the samples whose stack passes through the pattern; a sample can be in more than one part):\n\n| Part | Pattern (pprof `-focus`) | CPU, share of the profile |\n| --- | --- | ---: |\n")
	for _, part := range pr.parts {
		p("| %s | `%s` | %s |\n", part.what, strings.ReplaceAll(part.pattern, "|", `\|`), part.share)
	}
	p("\n")
	table("By own time (flat):", pr.top)
	table("By time in the function and what it calls (cum):", pr.cumTop)
}
