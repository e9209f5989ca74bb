package testenv

import (
	"context"
	"sync"
	"testing"
)

// SharedMoto is one moto for a test package, started by the first test
// that asks for it (URL) and stopped by Close from TestMain: for a package
// where a few tests need moto, which takes seconds to start, and the rest
// do not. Give each test its own names (tables, secrets) on it.
type SharedMoto struct {
	start func(context.Context) (*MotoServer, error)
	once  sync.Once
	srv   *MotoServer
	err   error
}

// NewSharedMoto returns a SharedMoto whose server start starts
// (StartMoto, StartMotoSerial), once, when a test first asks for it.
func NewSharedMoto(start func(context.Context) (*MotoServer, error)) *SharedMoto {
	return &SharedMoto{start: start}
}

// URL is the server's endpoint, starting it if no test has yet. Without
// moto it skips t as Moto does, and fails it under CI=true; a start that
// failed fails every test that asks.
func (s *SharedMoto) URL(t testing.TB) string {
	t.Helper()
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
		defer cancel()
		s.srv, s.err = s.start(ctx)
	})
	motoStarted(t, s.err)
	return s.srv.URL
}

// Close stops the server if a test started it.
func (s *SharedMoto) Close() error {
	s.once.Do(func() {}) // no test starts it after this
	if s.srv == nil {
		return nil
	}
	return s.srv.Close()
}
