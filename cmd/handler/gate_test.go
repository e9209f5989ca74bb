package main

import (
	"bytes"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"
)

// gate stands between the function and a service (SageMaker, DynamoDB,
// Slack). It passes every call on, except those a test asked it to hold: a
// held call reaches the service only when the test serves it, and its answer
// reaches the function only when the test releases it. So a test puts the
// calls of two invocations in the order it wants, without sleeping.
type gate struct {
	t      *testing.T
	next   http.Handler
	opOf   func(*http.Request) string
	held   chan *heldCall
	opened chan struct{} // closed by open: nothing is held any more

	mu     sync.Mutex
	holds  map[string]int // how many more calls of each operation to hold
	isDown bool           // answer every call 503 ServiceUnavailable, as AWS does in an outage
}

func newGate(t *testing.T, next http.Handler, opOf func(*http.Request) string) *gate {
	return &gate{t: t, next: next, opOf: opOf, held: make(chan *heldCall, 16),
		opened: make(chan struct{}), holds: map[string]int{}}
}

// hold makes the gate hold the next n calls of op.
func (g *gate) hold(op string, n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.holds[op] += n
}

// down starts (true) or ends (false) an outage of the service: meanwhile
// every call gets AWS's 503 ServiceUnavailable, which the SDK retries.
func (g *gate) down(on bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.isDown = on
}

// serve starts a server in front of the gate for the rest of the test and
// returns its URL.
func (g *gate) serve() string {
	srv := httptest.NewServer(g)
	g.t.Cleanup(srv.Close)
	g.t.Cleanup(g.open) // before Close, which waits for held calls
	return srv.URL
}

// open lets every held call go without an answer and holds no more. It
// runs at cleanup, before the server closes (which waits for its handlers).
func (g *gate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.opened:
	default:
		close(g.opened)
	}
}

// take reports whether a call of op is to be held.
func (g *gate) take(op string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.holds[op] == 0 {
		return false
	}
	g.holds[op]--
	return true
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := g.opOf(r)
	g.mu.Lock()
	isDown := g.isDown
	g.mu.Unlock()
	if isDown {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-ErrorType", "ServiceUnavailable")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"__type":"ServiceUnavailable","message":"Service is unavailable"}`)
		return
	}
	if !g.take(op) {
		g.next.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	c := &heldCall{op: op, next: g.next, req: r, body: body,
		answer: httptest.NewRecorder(), released: make(chan struct{})}
	select {
	case g.held <- c:
	case <-g.opened:
		return
	}
	select {
	case <-c.released:
	case <-g.opened:
		return
	case <-r.Context().Done():
		return
	}
	maps.Copy(w.Header(), c.answer.Header())
	w.WriteHeader(c.answer.Code)
	_, _ = w.Write(c.answer.Body.Bytes())
}

// await returns the next call the gate holds. It fails the test if one of
// the invocations in flight returns first, or if none comes within a
// minute (a hang, not a timing: the call is due at once).
func (g *gate) await(running ...*invocation) *heldCall {
	g.t.Helper()
	timeout := time.NewTimer(time.Minute)
	defer timeout.Stop()
	cases := []reflect.SelectCase{
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(g.held)},
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timeout.C)},
	}
	for _, inv := range running {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(inv.done)})
	}
	chosen, v, _ := reflect.Select(cases)
	switch chosen {
	case 0:
		return v.Interface().(*heldCall)
	case 1:
		g.t.Fatal("no call reached the gate within a minute")
	default:
		inv := running[chosen-2]
		g.t.Fatalf("an invocation returned while a call was awaited: %s\n%s", inv.body, inv.lambda.Output())
	}
	return nil
}

// heldCall is one call a gate holds.
type heldCall struct {
	op       string
	next     http.Handler
	req      *http.Request
	body     []byte
	answer   *httptest.ResponseRecorder
	served   bool
	released chan struct{}
}

// serve passes the call to the service now and keeps the answer for
// release. The function's request is waiting on released meanwhile, so the
// test's goroutine may use it.
func (c *heldCall) serve() {
	if c.served {
		return
	}
	c.served = true
	c.req.Body = io.NopCloser(bytes.NewReader(c.body))
	c.next.ServeHTTP(c.answer, c.req)
}

// release answers the function, serving the call first if it was not.
func (c *heldCall) release() {
	c.serve()
	close(c.released)
}
