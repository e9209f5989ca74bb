package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"

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
	if err := t.expect("ready"); err != nil {
		t.close()
		return nil, err
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

// expect reads the tool's next line, which must be want.
func (t *tool) expect(want string) error {
	line, err := t.lines.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != want {
		return fmt.Errorf("the %s: want %q, got %q (%v)\n%s", t.name, want, line, err, t.stderr.String())
	}
	return nil
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
