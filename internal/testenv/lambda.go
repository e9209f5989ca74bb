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
	output *syncBuffer
	cmd    *exec.Cmd
	done   chan struct{}
}

// StartLambda starts aws-lambda-rie (installed into .bin by `make test`) on
// free loopback ports, running bootstrap with env added to this process's
// environment, and returns once it accepts invocations. It is stopped at
// t.Cleanup.
func StartLambda(t testing.TB, bootstrap string, env ...string) *Lambda {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	rie := filepath.Join(root, ".bin", "aws-lambda-rie")
	if _, err := os.Stat(rie); err != nil {
		t.Fatalf("the Lambda Runtime Interface Emulator is not installed (%s is missing): run `make test`", rie)
	}
	emuPort, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	apiPort, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	l := &Lambda{
		URL:    fmt.Sprintf("http://127.0.0.1:%d/2015-03-31/functions/function/invocations", emuPort),
		output: &syncBuffer{},
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
		t.Fatalf("start aws-lambda-rie: %v", err)
	}
	go func() { l.cmd.Wait(); close(l.done) }()
	t.Cleanup(l.Kill)
	// Wait until the emulator listens; it starts in milliseconds.
	deadline := time.Now().Add(15 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", emuPort), time.Second)
		if err == nil {
			conn.Close()
			return l
		}
		select {
		case <-l.done:
			t.Fatalf("aws-lambda-rie exited at start:\n%s", l.Output())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("aws-lambda-rie did not listen within 15s:\n%s", l.Output())
		}
	}
}

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
// Lambda timeout would.
func (l *Lambda) Kill() {
	syscall.Kill(-l.cmd.Process.Pid, syscall.SIGKILL)
	<-l.done
}

// Output is everything the emulator and the function printed so far.
func (l *Lambda) Output() string { return l.output.String() }

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
