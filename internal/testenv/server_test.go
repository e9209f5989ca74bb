package testenv

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// TestServerStops checks that each server goes away both when Close is
// called and when only its stdin closes, as it does when the test binary
// dies without running its cleanups.
func TestServerStops(t *testing.T) {
	servers := []struct {
		name  string
		start func(context.Context) (*server, error)
	}{
		{"dynalite", func(ctx context.Context) (*server, error) {
			srv, err := StartDynalite(ctx)
			if err != nil {
				return nil, err
			}
			return srv.server, nil
		}},
		{"moto_server", func(ctx context.Context) (*server, error) {
			srv, err := StartMoto(ctx)
			if err != nil {
				return nil, err
			}
			return srv.server, nil
		}},
	}
	stops := []struct {
		name string
		stop func(*server) error
	}{
		{"Close", (*server).Close},
		{"test binary gone", func(s *server) error { return s.stdin.Close() }},
	}
	for _, sv := range servers {
		for _, st := range stops {
			t.Run(sv.name+"/"+st.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
				defer cancel()
				srv, err := sv.start(ctx)
				if errors.Is(err, ErrMotoMissing) {
					t.Skip(err)
				}
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = srv.Close() })
				if err := st.stop(srv); err != nil {
					t.Fatal(err)
				}
				select {
				case <-srv.exited:
				case <-time.After(30 * time.Second):
					t.Fatalf("%s still runs 30 s after it was stopped; output:\n%s", sv.name, srv.output.String())
				}
				addr := strings.TrimPrefix(srv.url, "http://")
				if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
					conn.Close()
					t.Errorf("%s still accepts connections after %s was stopped", addr, sv.name)
				}
			})
		}
	}
}

// TestServerDiedSaysWhy checks that Close of a server that died on its own
// part-way says so, with how it exited.
func TestServerDiedSaysWhy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	srv, err := StartDynalite(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.server.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-srv.server.exited
	err = srv.Close()
	if err == nil || !strings.Contains(err.Error(), "dynalite had exited before it was stopped (signal: killed)") || !strings.Contains(err.Error(), "Dynalite listening at") {
		t.Errorf("Close of a dynalite that died: %v; want why, and its output", err)
	}
}
