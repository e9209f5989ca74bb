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
	"time"
)

// serverKind is what startServer needs to know about one kind of local
// server: how to run it on a port, and how to tell from its output that it
// listens or that the port was taken.
type serverKind struct {
	name string // in errors: "dynalite", "moto_server"
	// command runs the server on 127.0.0.1:port behind a watchdog that
	// stops it once its stdin closes. The test binary holds the other end
	// of that pipe, so a test binary that dies without running its cleanups
	// (a panic, `go test -timeout`) still takes the server with it instead
	// of leaving it listening.
	command func(port int) *exec.Cmd
	// banner is what the server prints once it has bound the port at url,
	// so that seeing it means this process, not whatever else might hold
	// the port, listens.
	banner func(url string) string
	// addrInUse holds what the server prints when the port is taken.
	addrInUse []string
	// group is for a command that leaves children behind (a shell and its
	// watchdog): it gets a process group of its own, which Close kills.
	group bool
}

// server is a running local server started by startServer.
type server struct {
	kind    serverKind
	url     string // endpoint, such as "http://127.0.0.1:41234"
	cmd     *exec.Cmd
	stdin   io.Closer
	output  *SyncBuffer
	exited  chan struct{} // closed once the process has been waited for
	waitErr error         // the process's exit, once exited is closed

	closeOnce sync.Once
	closeErr  error
}

var errAddrInUse = errors.New("address in use")

// startServer starts a server of kind on a free loopback port and returns
// once it accepts connections. ctx bounds only the start.
func startServer(ctx context.Context, kind serverKind) (*server, error) {
	// The port is picked here, not by the server. Another process may take
	// it between the pick and the server's bind; then the server exits
	// saying so, and we pick again.
	const attempts = 5
	var lastErr error
	for range attempts {
		port, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("start %s: %w", kind.name, err)
		}
		srv, err := startServerOn(ctx, kind, port)
		if err == nil {
			return srv, nil
		}
		lastErr = err
		if !errors.Is(err, errAddrInUse) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("start %s: no free port after %d attempts: %w", kind.name, attempts, lastErr)
}

func startServerOn(ctx context.Context, kind serverKind, port int) (*server, error) {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := kind.command(port)
	srv := &server{
		kind:   kind,
		url:    "http://" + addr,
		cmd:    cmd,
		output: &SyncBuffer{},
		exited: make(chan struct{}),
	}
	cmd.Stdout, cmd.Stderr = srv.output, srv.output
	cmd.WaitDelay = time.Second
	if kind.group {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", kind.name, err)
	}
	srv.stdin = stdin
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", kind.name, err)
	}
	go func() {
		srv.waitErr = cmd.Wait()
		close(srv.exited)
	}()

	// The banner says this process has bound the port; the dial then
	// confirms it accepts connections.
	banner := kind.banner(srv.url)
	for {
		if strings.Contains(srv.output.String(), banner) {
			conn, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				conn.Close()
				return srv, nil
			}
		}
		select {
		case <-srv.exited:
			_ = srv.Close() // a watchdog may outlive the process
			text := srv.output.String()
			for _, inUse := range kind.addrInUse {
				if strings.Contains(text, inUse) {
					return nil, fmt.Errorf("start %s on port %d: %w", kind.name, port, errAddrInUse)
				}
			}
			return nil, fmt.Errorf("start %s on port %d: exited (%v) before listening; output:\n%s", kind.name, port, srv.waitErr, text)
		case <-ctx.Done():
			_ = srv.Close()
			return nil, fmt.Errorf("start %s on port %d: not listening yet (%w); output:\n%s", kind.name, port, ctx.Err(), srv.output.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Close kills the server (its process group, for a kind with one) and waits
// for it to exit. Calls after the first do nothing.
//
// A server that had exited before Close, other than at a failed start, is
// an error that tells why, with the end of its output: a suite whose
// server died part-way fails each of its later tests on a refused
// connection, and says no more.
func (s *server) Close() error {
	s.closeOnce.Do(func() {
		select {
		case <-s.exited:
			s.closeErr = fmt.Errorf("%s had exited before it was stopped (%v); its output ends:\n%s", s.kind.name, s.waitErr, tail(s.output.String(), 4096))
		default:
		}
		pid := s.cmd.Process.Pid
		if s.kind.group {
			// Kill the group before closing stdin, even when the leader has
			// exited: until stdin closes the watchdog lives, so the group's
			// id (the leader's pid) still names this group and no other.
			if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) && s.closeErr == nil {
				s.closeErr = fmt.Errorf("kill %s (process group %d): %w", s.kind.name, pid, err)
			}
		} else if err := s.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) && s.closeErr == nil {
			s.closeErr = fmt.Errorf("kill %s (pid %d): %w", s.kind.name, pid, err)
		}
		_ = s.stdin.Close()
		<-s.exited
	})
	return s.closeErr
}

// freePort asks the kernel for a free loopback port. The port is free when
// this returns, not necessarily when a server binds it.
func freePort() (int, error) {
	ports, err := freePorts(1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// freePorts returns n distinct loopback ports free at the time of the
// call. It holds them all open until it has them all: a port closed and
// asked for again may come back, and two servers given one port fail.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// tail is the last n bytes of text, or all of it.
func tail(text string, n int) string {
	if len(text) <= n {
		return text
	}
	return "…" + text[len(text)-n:]
}
