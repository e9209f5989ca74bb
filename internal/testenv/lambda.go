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

// LambdaAccount is the account in the ARN the Lambda Runtime Interface
// Emulator invokes the function by (arn:aws:lambda:us-east-1:012345678912:
// function:NAME, whatever AWS_REGION is). The function ignores an event
// about a job of another account, so the jobs of a test that runs the
// function under the emulator, and the sample events, are in this one, as a
// deployed function's jobs are in its own.
const LambdaAccount = "012345678912"

// Bootstrap returns the path of the Lambda bootstrap the end-to-end tests
// run: cmd/handler built for this machine with the deployed build's tags and
// flags. `make test` builds it once, into .bin/bootstrap, before any test
// package starts, so no two packages compile it at once and no test's time
// includes compiling it. Bootstrap fails when it is missing, or older than
// a Go source file or go.mod, rather than test a stale binary.
func Bootstrap() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	path := filepath.Join(root, ".bin", "bootstrap")
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("the Lambda bootstrap is not built (%s is missing): run `make bootstrap` (make test does it)", path)
	}
	newer, err := newestSource(root, fi.ModTime())
	if err != nil {
		return "", err
	}
	if newer != "" {
		return "", fmt.Errorf("the Lambda bootstrap %s is older than %s: run `make bootstrap` (make test does it)", path, newer)
	}
	return path, nil
}

// newestSource returns a file the bootstrap is built from (the non-test Go
// files of the module's packages cmd/handler imports, go.mod and go.sum)
// that was modified after t, or "" if there is none. Edits elsewhere, say to
// the benchmark or to testenv, leave the bootstrap current.
func newestSource(root string, t time.Time) (string, error) {
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.Dir}}{{end}}", "./cmd/handler")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("check the Lambda bootstrap is up to date: go list: %w", err)
	}
	files := []string{filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum")}
	for _, dir := range strings.Fields(string(out)) {
		if !strings.HasPrefix(dir, root+string(filepath.Separator)) {
			continue // a dependency's, from the module cache
		}
		gofiles, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			return "", err
		}
		for _, f := range gofiles {
			if !strings.HasSuffix(f, "_test.go") {
				files = append(files, f)
			}
		}
	}
	for _, f := range files {
		info, err := os.Stat(f)
		if err != nil {
			return "", fmt.Errorf("check the Lambda bootstrap is up to date: %w", err)
		}
		if info.ModTime().After(t) {
			return f, nil
		}
	}
	return "", nil
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
// free loopback ports, running bootstrap with env added to the environment
// Lambda gives a function (LambdaEnviron), and returns once it accepts invocations. It is stopped at
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
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	emuPort, apiPort := ports[0], ports[1]
	l := &Lambda{
		URL:    fmt.Sprintf("http://127.0.0.1:%d/2015-03-31/functions/function/invocations", emuPort),
		output: &SyncBuffer{},
		done:   make(chan struct{}),
	}
	l.cmd = exec.Command(rie,
		"--runtime-interface-emulator-address", fmt.Sprintf("127.0.0.1:%d", emuPort),
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", apiPort),
		bootstrap)
	l.cmd.Env = LambdaEnviron(env...)
	l.cmd.Stdout, l.cmd.Stderr = l.output, l.output
	// A process group of its own, so Kill ends the function process too.
	l.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := l.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start aws-lambda-rie: %w", err)
	}
	go func() { l.cmd.Wait(); close(l.done) }()
	// Wait until the emulator listens on both ports; it binds both at start,
	// in milliseconds.
	deadline := time.Now().Add(StartTimeout)
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
				return nil, fmt.Errorf("aws-lambda-rie did not listen within %v:\n%s", StartTimeout, l.Output())
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

// LambdaEnviron is the environment Lambda gives a provided.al2023 function
// of template.yaml's size, followed by env: the function's own variables,
// which win over the defaults. Nothing of the host's environment is passed
// on, so a host's AWS_PROFILE or AWS_CA_BUNDLE changes neither what the
// tests exercise nor what the benchmark measures.
func LambdaEnviron(env ...string) []string {
	return append([]string{
		"PATH=/usr/local/bin:/usr/bin/:/bin:/opt/bin",
		"LANG=en_US.UTF-8",
		"TZ=:UTC",
		"LD_LIBRARY_PATH=/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
		"LAMBDA_TASK_ROOT=/var/task",
		"LAMBDA_RUNTIME_DIR=/var/runtime",
		"_HANDLER=bootstrap",
		"AWS_REGION=us-east-1",
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_LAMBDA_FUNCTION_NAME=labelwatch",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
		"AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/labelwatch",
		"AWS_LAMBDA_LOG_STREAM_NAME=2026/11/29/[$LATEST]0123456789abcdef0123456789abcdef",
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_SESSION_TOKEN=test",
	}, env...)
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
