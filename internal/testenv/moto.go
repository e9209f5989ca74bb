package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ErrMotoMissing is why StartMoto fails when moto_server is not on PATH.
var ErrMotoMissing = errors.New("moto_server is not on PATH: pip install 'moto[server]'")

// motoWatchdog runs moto_server ("$0", with its flags "$@") in the
// background and kills it once the shell's stdin closes. The test binary
// holds the other end of that pipe, so a test binary that dies without
// running its cleanups (a panic, `go test -timeout`) still takes moto_server
// with it instead of leaving it listening. A non-interactive shell gives a
// background command /dev/null for stdin, hence the copy on fd 3. The shell
// itself exits when moto_server does, so a failed start (port taken) shows as
// an exit; the watcher it leaves behind dies with the process group.
const motoWatchdog = `exec 3<&0
"$0" "$@" </dev/null &
moto=$!
{ cat <&3 >/dev/null 2>&1; kill "$moto" >/dev/null 2>&1; } &
wait "$moto"`

// Moto starts a moto_server (moto's stand-alone server, which answers
// Secrets Manager, DynamoDB and other AWS APIs) on a free loopback port for
// the rest of the test and returns its endpoint URL, such as
// "http://127.0.0.1:41234". The server is killed at t.Cleanup. Each call
// starts its own server, which takes a few seconds; to share one per test
// package, use StartMoto from TestMain and give each test its own names
// (tables, secrets), as moto keeps every account and region in one memory.
//
// Without moto_server on PATH the test is skipped, except under CI=true,
// where it fails: CI must run what moto serves.
func Moto(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	srv, err := StartMoto(ctx)
	if errors.Is(err, ErrMotoMissing) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("moto_server is required in CI: %v", err)
		}
		t.Skipf("this test needs moto_server, which is NOT run: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("stop moto_server: %v", err)
		}
	})
	return srv.URL
}

// MotoServer is a running moto_server. Use it from TestMain, where no
// testing.TB exists; tests use Moto.
type MotoServer struct {
	URL string // endpoint, such as "http://127.0.0.1:41234"

	cmd    *exec.Cmd
	stdin  io.Closer
	output *SyncBuffer
	exited chan struct{} // closed once the process has been waited for

	closeOnce sync.Once
	closeErr  error
}

// StartMoto starts moto_server on a free loopback port and returns once it
// accepts connections. ctx bounds only the start; Close stops the server.
// It fails with ErrMotoMissing when moto_server is not on PATH.
func StartMoto(ctx context.Context) (*MotoServer, error) {
	moto, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, fmt.Errorf("start moto_server: %w", ErrMotoMissing)
	}
	// Another process may take the port between the pick and moto_server's
	// bind; then moto_server exits saying so, and we pick again.
	const attempts = 5
	var lastErr error
	for range attempts {
		port, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("start moto_server: %w", err)
		}
		srv, err := startMotoOn(ctx, moto, port)
		if err == nil {
			return srv, nil
		}
		lastErr = err
		if !errors.Is(err, errAddrInUse) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("start moto_server: no free port after %d attempts: %w", attempts, lastErr)
}

func startMotoOn(ctx context.Context, moto string, port int) (*MotoServer, error) {
	cmd := exec.Command("/bin/sh", "-c", motoWatchdog, moto, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	srv := &MotoServer{
		URL:    "http://127.0.0.1:" + strconv.Itoa(port),
		cmd:    cmd,
		output: &SyncBuffer{},
		exited: make(chan struct{}),
	}
	cmd.Stdout, cmd.Stderr = srv.output, srv.output
	cmd.WaitDelay = time.Second
	// A process group of its own, so Close ends the shell, moto_server and
	// the watcher together.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("start moto_server: %w", err)
	}
	srv.stdin = stdin
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start moto_server: %w", err)
	}
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(srv.exited)
	}()

	// Werkzeug prints "Running on" after it has bound the port, so the
	// banner means this process (not whatever else might hold the port)
	// listens; the dial then confirms it accepts connections.
	banner := "Running on " + srv.URL
	for {
		if strings.Contains(srv.output.String(), banner) {
			conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
			if err == nil {
				conn.Close()
				return srv, nil
			}
		}
		select {
		case <-srv.exited:
			_ = srv.Close() // the watcher outlives the shell
			text := srv.output.String()
			if strings.Contains(text, "Address already in use") || strings.Contains(text, "is in use by another program") {
				return nil, fmt.Errorf("start moto_server on port %d: %w", port, errAddrInUse)
			}
			return nil, fmt.Errorf("start moto_server on port %d: exited (%v) before listening; output:\n%s", port, waitErr, text)
		case <-ctx.Done():
			_ = srv.Close()
			return nil, fmt.Errorf("start moto_server on port %d: not listening yet (%w); output:\n%s", port, ctx.Err(), srv.output.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Close kills moto_server's process group and waits for it to exit.
// Calls after the first do nothing.
func (s *MotoServer) Close() error {
	s.closeOnce.Do(func() {
		// Kill the group before closing stdin, even when the shell has
		// exited: until stdin closes the watcher lives, so the group's id
		// (the shell's pid) still names this group and no other.
		if err := syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			s.closeErr = fmt.Errorf("kill moto_server (process group %d): %w", s.cmd.Process.Pid, err)
		}
		_ = s.stdin.Close()
		<-s.exited
	})
	return s.closeErr
}

// Output is everything moto_server printed so far: its log of requests.
func (s *MotoServer) Output() string { return s.output.String() }
