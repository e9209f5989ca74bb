package testenv

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BuildHandler builds cmd/handler as a Lambda bootstrap for this machine,
// with the same tags and flags as the deployed arm64 one, and returns its path.
func BuildHandler(t testing.TB) string {
	t.Helper()
	path, err := BuildHandlerIn(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// BuildHandlerIn is BuildHandler for TestMain: it builds into dir.
func BuildHandlerIn(dir string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", out, "./cmd/handler")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build bootstrap: %w\n%s", err, msg)
	}
	return out, nil
}

// Lambda is one AWS Lambda Runtime Interface Emulator running a bootstrap.
// It serves one invocation at a time, as one Lambda execution environment does.
type Lambda struct {
	URL    string // the invoke URL
	output *SyncBuffer
	cmd    *exec.Cmd
	done   chan struct{}
}

// StartLambda starts aws-lambda-rie (installed into .bin by `make test`) on
// free loopback ports, running bootstrap with env added to this process's
// environment, and returns once it accepts invocations. It is stopped at
// t.Cleanup.
func StartLambda(t testing.TB, bootstrap string, env ...string) *Lambda {
	t.Helper()
	l, err := LaunchLambda(bootstrap, env...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Kill)
	return l
}

// LaunchLambda is StartLambda for programs without a testing.TB, such as the
// benchmark: the caller must Kill the Lambda it returns.
func LaunchLambda(bootstrap string, env ...string) (*Lambda, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	rie := filepath.Join(root, ".bin", "aws-lambda-rie")
	if _, err := os.Stat(rie); err != nil {
		return nil, fmt.Errorf("the Lambda Runtime Interface Emulator is not installed (%s is missing): run `make test`", rie)
	}
	// Another process may take a free port between the pick and the
	// emulator's bind; the emulator then exits at once, and a new pair of
	// ports is tried.
	for attempt := 1; ; attempt++ {
		l, err := launchLambda(rie, bootstrap, env)
		if err == nil || attempt == 5 || !strings.Contains(err.Error(), "address already in use") {
			return l, err
		}
	}
}

func launchLambda(rie, bootstrap string, env []string) (*Lambda, error) {
	emuPort, err := freePort()
	if err != nil {
		return nil, err
	}
	apiPort, err := freePort()
	if err != nil {
		return nil, err
	}
	l := &Lambda{
		URL:    fmt.Sprintf("http://127.0.0.1:%d/2015-03-31/functions/function/invocations", emuPort),
		output: &SyncBuffer{},
		done:   make(chan struct{}),
	}
	l.cmd = exec.Command(rie,
		"--runtime-interface-emulator-address", fmt.Sprintf("127.0.0.1:%d", emuPort),
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", apiPort),
		bootstrap)
	l.cmd.Env = append(os.Environ(), env...)
	l.cmd.Stdout, l.cmd.Stderr = l.output, l.output
	// A process group of its own, so Kill ends the function process too.
	l.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := l.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start aws-lambda-rie: %w", err)
	}
	go func() { l.cmd.Wait(); close(l.done) }()
	// Wait until the emulator listens on both ports; it binds both at start,
	// in milliseconds.
	deadline := time.Now().Add(15 * time.Second)
	for _, port := range []int{emuPort, apiPort} {
		for {
			conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
			if err == nil {
				conn.Close()
				break
			}
			select {
			case <-l.done:
				return nil, fmt.Errorf("aws-lambda-rie exited at start:\n%s", l.Output())
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				l.Kill()
				return nil, fmt.Errorf("aws-lambda-rie did not listen within 15s:\n%s", l.Output())
			}
		}
	}
	// A bind that failed after the other succeeded shows as an exit.
	select {
	case <-l.done:
		return nil, fmt.Errorf("aws-lambda-rie exited at start:\n%s", l.Output())
	default:
		return l, nil
	}
}

// Pid is the process id of the emulator; the function's bootstrap runs as
// its child.
func (l *Lambda) Pid() int { return l.cmd.Process.Pid }

// Invoke sends event to the function and returns the response body: the
// handler's result, or {"errorMessage": ..., "errorType": ...}.
func (l *Lambda) Invoke(ctx context.Context, event []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.URL, bytes.NewReader(event))
	if err != nil {
		return nil, fmt.Errorf("invoke: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("invoke: read response: %w", err)
	}
	return body, nil
}

// Kill ends the emulator and the function process at once, as a crash or a
// Lambda timeout would. The emulator starts the function in a process group
// of its own, so killing the emulator's group alone would leave the function
// running: the emulator is stopped first, so it starts nothing more, then
// every process below it is killed, then the emulator.
func (l *Lambda) Kill() {
	select {
	case <-l.done:
		return // already gone; its pids may belong to others now
	default:
	}
	pgid := l.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGSTOP)
	for _, pid := range descendants(pgid) {
		syscall.Kill(-pid, syscall.SIGKILL) // its group, if it leads one
		syscall.Kill(pid, syscall.SIGKILL)
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
	<-l.done
}

// descendants lists the processes below pid, from /proc (Linux).
func descendants(pid int) []int {
	var out []int
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, task := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()))
		for _, f := range strings.Fields(string(b)) {
			if child, err := strconv.Atoi(f); err == nil {
				out = append(out, child)
				out = append(out, descendants(child)...)
			}
		}
	}
	return out
}

// Output is everything the emulator and the function printed so far.
func (l *Lambda) Output() string { return l.output.String() }

// SyncBuffer is a bytes.Buffer safe for concurrent writers: the output of a
// process, or the logs of a test.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
