package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
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
func Moto(t testing.TB) string { return motoFor(t, StartMoto) }

// motoFor starts a moto with start for the rest of the test and returns
// its endpoint: skipped without moto, but under CI=true, where it fails.
func motoFor(t testing.TB, start func(context.Context) (*MotoServer, error)) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	srv, err := start(ctx)
	motoStarted(t, err)
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("stop moto_server: %v", err)
		}
	})
	return srv.URL
}

// motoStarted goes on with t when moto started (err is nil); without moto
// it skips t, but under CI=true, where it fails t; any other error fails t.
func motoStarted(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrMotoMissing) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("moto_server is required in CI: %v", err)
		}
		t.Skipf("this test needs moto_server, which is NOT run: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// MotoServer is a running moto_server. Use it from TestMain, where no
// testing.TB exists; tests use Moto.
type MotoServer struct {
	URL string // endpoint, such as "http://127.0.0.1:41234"

	server *server
}

// StartMoto starts moto_server on a free loopback port and returns once it
// accepts connections. ctx bounds only the start; Close stops the server.
// It fails with ErrMotoMissing when moto_server is not on PATH.
func StartMoto(ctx context.Context) (*MotoServer, error) {
	moto, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, fmt.Errorf("start moto_server: %w", ErrMotoMissing)
	}
	return startMoto(ctx, "moto_server", func(port int) []string {
		return []string{moto, "-H", "127.0.0.1", "-p", strconv.Itoa(port)}
	})
}

// startMoto starts the moto command args(port) names, under motoWatchdog,
// and returns once it accepts connections.
func startMoto(ctx context.Context, name string, args func(port int) []string) (*MotoServer, error) {
	srv, err := startServer(ctx, serverKind{
		name: name,
		command: func(port int) *exec.Cmd {
			return exec.Command("/bin/sh", append([]string{"-c", motoWatchdog}, args(port)...)...)
		},
		// Werkzeug prints "Running on" after it has bound the port.
		banner:    func(url string) string { return "Running on " + url },
		addrInUse: []string{"Address already in use", "is in use by another program"},
		// Close ends the shell, moto and the watchdog together.
		group: true,
	})
	if err != nil {
		return nil, err
	}
	return &MotoServer{URL: srv.url, server: srv}, nil
}

// motoSerialApp serves moto's app as moto_server does, but without threads:
// one request at a time, so that conditional writes racing on one item
// have one winner, as in DynamoDB (moto_server's threads let both win).
// Its arguments are the host and the port.
const motoSerialApp = `import sys
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
run_simple(sys.argv[1], int(sys.argv[2]), DomainDispatcherApplication(create_backend_app), threaded=False)`

// MotoSerial is Moto, but its server serves one request at a time (see
// StartMotoSerial): for tests of racing conditional writes, and of
// TransactWriteItems, which dynalite lacks. Without moto it skips the test
// as Moto does, and fails it under CI=true.
func MotoSerial(t testing.TB) string { return motoFor(t, StartMotoSerial) }

// StartMotoSerial starts moto's app, as moto_server serves it but on one
// thread, with python3, on a free loopback port.
func StartMotoSerial(ctx context.Context) (*MotoServer, error) {
	return startMotoApp(ctx, "moto (serial)", motoSerialApp)
}

// startMotoApp starts app, a Python program that serves moto on the host
// and port it is given, with python3, on a free loopback port.
func startMotoApp(ctx context.Context, name, app string) (*MotoServer, error) {
	python, err := motoPython()
	if err != nil {
		return nil, err
	}
	return startMoto(ctx, name, func(port int) []string {
		return []string{python, "-c", app, "127.0.0.1", strconv.Itoa(port)}
	})
}

// motoPython is the Python on PATH, which has moto where moto_server runs
// (moto_server may be a shim, as pyenv's is).
func motoPython() (string, error) {
	if _, err := exec.LookPath("moto_server"); err != nil {
		return "", fmt.Errorf("start moto: %w", ErrMotoMissing)
	}
	python, err := exec.LookPath("python3")
	if err != nil {
		return "", fmt.Errorf("start moto: no python3 on PATH: %w", err)
	}
	return python, nil
}

// Close kills moto_server's process group and waits for it to exit.
// Calls after the first do nothing.
func (s *MotoServer) Close() error { return s.server.Close() }

// Output is everything moto_server printed so far: its log of requests.
func (s *MotoServer) Output() string { return s.server.output.String() }
