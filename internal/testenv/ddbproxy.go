package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DynamoFault is a misbehaviour a DynamoProxy shows in place of, or on top
// of, dynalite's answer; see DynamoProxy.FailNext.
type DynamoFault int

// The faults a DynamoProxy can inject. Dynalite produces none of them itself.
const (
	// Throttle answers HTTP 400 ThrottlingException without forwarding. The
	// SDK's standard retryer retries it (DefaultThrottleErrorCodes).
	Throttle DynamoFault = iota + 1
	// ThroughputExceeded answers HTTP 400
	// ProvisionedThroughputExceededException without forwarding, which
	// DynamoDB sends for a table over its provisioned capacity; the SDK
	// retries it as a throttle too.
	ThroughputExceeded
	// InternalError answers HTTP 500 InternalServerError without forwarding;
	// the SDK retries 5xx.
	InternalError
	// Unprocessed (BatchGetItem only) forwards the request, then moves every
	// requested key but the first of each table into UnprocessedKeys, taking
	// their items out of Responses, as DynamoDB does under throttling.
	Unprocessed
	// UnprocessedAll is Unprocessed for every key: the answer has no items.
	UnprocessedAll
	// Reset drops the connection (TCP RST) without forwarding: the request
	// never reaches the table.
	Reset
	// LostAnswer forwards the request, so the write happens, then drops the
	// connection instead of answering: the client cannot tell whether it did.
	LostAnswer
)

var faultNames = [...]string{"", "Throttle", "ThroughputExceeded", "InternalError", "Unprocessed", "UnprocessedAll", "Reset", "LostAnswer"}

func (f DynamoFault) String() string {
	if f > 0 && int(f) < len(faultNames) {
		return faultNames[f]
	}
	return "DynamoFault(" + strconv.Itoa(int(f)) + ")"
}

// capacityOps are the operations that accept ReturnConsumedCapacity; the
// proxy asks for it only on those (DynamoDB rejects it elsewhere).
var capacityOps = map[string]bool{
	"GetItem": true, "BatchGetItem": true, "PutItem": true, "UpdateItem": true, "DeleteItem": true,
	"BatchWriteItem": true, "Query": true, "Scan": true, "TransactGetItems": true, "TransactWriteItems": true,
}

// maxProxyBody bounds a request or answer the proxy reads: DynamoDB's largest
// (BatchGetItem of 100 items of 400 KB) is 16 MB.
const maxProxyBody = 32 << 20

// DynamoProxy is a reverse proxy in front of a DynamoDB endpoint (dynalite)
// on a loopback port. It counts requests per operation, sums the capacity
// units the table reports, adds latency, and injects faults on demand. Its
// methods are safe to call while it serves requests.
type DynamoProxy struct {
	URL string // the endpoint to give the SDK, such as "http://127.0.0.1:41234"

	target string
	srv    *httptest.Server
	client *http.Client

	mu       sync.Mutex
	latency  time.Duration
	calls    map[string]int
	faults   map[string][]DynamoFault // by operation; "" is any operation
	capacity float64
}

// NewDynamoProxy starts a proxy that forwards to the DynamoDB endpoint at
// target (such as dynalite's URL). Close stops it.
func NewDynamoProxy(target string) *DynamoProxy {
	p := &DynamoProxy{
		target: strings.TrimSuffix(target, "/"),
		calls:  make(map[string]int),
		faults: make(map[string][]DynamoFault),
		client: &http.Client{
			Transport: &http.Transport{
				// The SDK asks for what it can read; pass its Accept-Encoding
				// through instead of letting the transport add gzip.
				DisableCompression:  true,
				MaxIdleConnsPerHost: 64,
				IdleConnTimeout:     30 * time.Second,
			},
			Timeout: time.Minute,
		},
	}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	p.URL = p.srv.URL
	return p
}

// Close stops the proxy, cutting the connections it holds.
func (p *DynamoProxy) Close() {
	p.srv.CloseClientConnections()
	p.srv.Close()
	p.client.CloseIdleConnections()
}

// SetLatency delays every later request by d before it is forwarded. A
// request whose context ends during the delay is not forwarded.
func (p *DynamoProxy) SetLatency(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.latency = d
}

// FailNext makes the next n requests for op (such as "UpdateItem"; "" for
// any operation) show fault. Faults for one op queue up in the order given;
// those for a named op are taken before those for any op. Unprocessed and
// UnprocessedAll apply to BatchGetItem only.
func (p *DynamoProxy) FailNext(op string, n int, fault DynamoFault) {
	if (fault == Unprocessed || fault == UnprocessedAll) && op != "BatchGetItem" {
		panic(fmt.Sprintf("DynamoProxy.FailNext: %v applies to BatchGetItem, not %q", fault, op))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for range n {
		p.faults[op] = append(p.faults[op], fault)
	}
}

// ClearFaults drops every fault not shown yet.
func (p *DynamoProxy) ClearFaults() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.faults)
}

// Calls is how many requests for op (such as "BatchGetItem", from the
// X-Amz-Target header) the proxy has received, faulted ones included.
func (p *DynamoProxy) Calls(op string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[op]
}

// AllCalls is Calls for every operation seen so far.
func (p *DynamoProxy) AllCalls() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.calls))
	for op, n := range p.calls {
		out[op] = n
	}
	return out
}

// CapacityUnits is the sum of ConsumedCapacity.CapacityUnits over every
// answer the table gave so far. The proxy asks for it (ReturnConsumedCapacity
// TOTAL) on each request that does not already.
func (p *DynamoProxy) CapacityUnits() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.capacity
}

// begin counts a request for op and takes the fault it is to show, if any.
func (p *DynamoProxy) begin(op string) (DynamoFault, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls[op]++
	var f DynamoFault
	for _, key := range []string{op, ""} {
		if q := p.faults[key]; len(q) > 0 {
			f, p.faults[key] = q[0], q[1:]
			break
		}
	}
	return f, p.latency
}

func (p *DynamoProxy) serve(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op := target
	if i := strings.LastIndexByte(target, '.'); i >= 0 {
		op = target[i+1:]
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxProxyBody))
	if err != nil {
		return // the client went away
	}
	fault, latency := p.begin(op)
	if !sleep(r.Context(), latency) {
		return
	}
	switch fault {
	case Throttle:
		writeDynamoError(w, http.StatusBadRequest, "ThrottlingException", "Rate of requests exceeds the allowed throughput.")
		return
	case ThroughputExceeded:
		writeDynamoError(w, http.StatusBadRequest, "ProvisionedThroughputExceededException",
			"The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.")
		return
	case InternalError:
		writeDynamoError(w, http.StatusInternalServerError, "InternalServerError", "Internal server error")
		return
	case Reset:
		reset(w)
		return
	}

	if capacityOps[op] {
		body = askCapacity(body)
	}
	resp, err := p.forward(r.Context(), r, body)
	if err != nil {
		if r.Context().Err() == nil {
			writeDynamoError(w, http.StatusBadGateway, "ProxyError", err.Error())
		}
		return
	}
	if fault == LostAnswer {
		reset(w)
		return
	}
	answer := resp.body
	changed := false
	if resp.status == http.StatusOK {
		if fault == Unprocessed || fault == UnprocessedAll {
			if b, err := unprocess(body, answer, fault == UnprocessedAll); err == nil {
				answer, changed = b, true
			}
		}
		p.mu.Lock()
		p.capacity += consumed(answer)
		p.mu.Unlock()
	}
	for k, vs := range resp.header {
		switch http.CanonicalHeaderKey(k) {
		case "Content-Length", "Connection", "Transfer-Encoding", "Keep-Alive":
			continue
		}
		w.Header()[k] = vs
	}
	if changed {
		// The SDK checks the body against this header.
		w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(answer)), 10))
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(answer)))
	w.WriteHeader(resp.status)
	_, _ = w.Write(answer)
}

type upstreamAnswer struct {
	status int
	header http.Header
	body   []byte
}

// forward sends r, with body, to the target and reads the whole answer.
func (p *DynamoProxy) forward(ctx context.Context, r *http.Request, body []byte) (upstreamAnswer, error) {
	req, err := http.NewRequestWithContext(ctx, r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return upstreamAnswer{}, fmt.Errorf("proxy: build request: %w", err)
	}
	for k, vs := range r.Header {
		switch http.CanonicalHeaderKey(k) {
		case "Content-Length", "Connection", "Transfer-Encoding", "Keep-Alive", "Te", "Upgrade":
			continue
		}
		req.Header[k] = vs
	}
	req.ContentLength = int64(len(body))
	resp, err := p.client.Do(req)
	if err != nil {
		return upstreamAnswer{}, fmt.Errorf("proxy: forward: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxProxyBody))
	if err != nil {
		return upstreamAnswer{}, fmt.Errorf("proxy: read answer: %w", err)
	}
	return upstreamAnswer{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// reset ends the request's connection with a TCP RST and no answer.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("testenv: the server cannot hijack connections")
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0) // close sends RST, as a dropped connection does
	}
	_ = conn.Close()
}

// askCapacity adds "ReturnConsumedCapacity": "TOTAL" to a request body that
// does not set it. A body that is not a JSON object is left alone.
func askCapacity(body []byte) []byte {
	var req map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil || req == nil {
		return body
	}
	if _, ok := req["ReturnConsumedCapacity"]; ok {
		return body
	}
	req["ReturnConsumedCapacity"] = json.RawMessage(`"TOTAL"`)
	b, err := json.Marshal(req)
	if err != nil {
		return body
	}
	return b
}

// consumed sums the capacity units in an answer: ConsumedCapacity is one
// object for single-item operations and a list (one per table) for batches.
func consumed(answer []byte) float64 {
	var resp struct {
		ConsumedCapacity json.RawMessage
	}
	if err := json.Unmarshal(answer, &resp); err != nil || len(resp.ConsumedCapacity) == 0 {
		return 0
	}
	type capacity struct{ CapacityUnits float64 }
	var one capacity
	if err := json.Unmarshal(resp.ConsumedCapacity, &one); err == nil {
		return one.CapacityUnits
	}
	var many []capacity
	if err := json.Unmarshal(resp.ConsumedCapacity, &many); err != nil {
		return 0
	}
	sum := 0.0
	for _, c := range many {
		sum += c.CapacityUnits
	}
	return sum
}

// unprocess rewrites a BatchGetItem answer so that the keys of request past
// the first of each table (or all of them) come back as UnprocessedKeys and
// their items leave Responses.
func unprocess(request, answer []byte, all bool) ([]byte, error) {
	var req struct {
		RequestItems map[string]map[string]json.RawMessage
	}
	if err := json.Unmarshal(request, &req); err != nil {
		return nil, err
	}
	var resp map[string]json.RawMessage
	if err := json.Unmarshal(answer, &resp); err != nil {
		return nil, err
	}
	var responses map[string][]map[string]json.RawMessage
	if raw, ok := resp["Responses"]; ok {
		if err := json.Unmarshal(raw, &responses); err != nil {
			return nil, err
		}
	}
	unprocessed := map[string]map[string]json.RawMessage{}
	if raw, ok := resp["UnprocessedKeys"]; ok {
		if err := json.Unmarshal(raw, &unprocessed); err != nil {
			return nil, err
		}
	}
	for table, ka := range req.RequestItems {
		var keys []map[string]json.RawMessage
		if err := json.Unmarshal(ka["Keys"], &keys); err != nil {
			return nil, err
		}
		keep := 1
		if all {
			keep = 0
		}
		if len(keys) <= keep {
			continue
		}
		moved := keys[keep:]
		items := responses[table][:0:0]
		for _, item := range responses[table] {
			if !matchesAny(item, moved) {
				items = append(items, item)
			}
		}
		if responses == nil {
			responses = map[string][]map[string]json.RawMessage{}
		}
		responses[table] = items
		left := map[string]json.RawMessage{}
		for k, v := range ka {
			left[k] = v
		}
		if prev, ok := unprocessed[table]; ok {
			var prevKeys []map[string]json.RawMessage
			_ = json.Unmarshal(prev["Keys"], &prevKeys)
			moved = append(prevKeys, moved...)
		}
		b, err := json.Marshal(moved)
		if err != nil {
			return nil, err
		}
		left["Keys"] = b
		unprocessed[table] = left
	}
	var err error
	if resp["Responses"], err = json.Marshal(responses); err != nil {
		return nil, err
	}
	if resp["UnprocessedKeys"], err = json.Marshal(unprocessed); err != nil {
		return nil, err
	}
	return json.Marshal(resp)
}

// matchesAny reports whether item holds every attribute of one of keys with
// the same value.
func matchesAny(item map[string]json.RawMessage, keys []map[string]json.RawMessage) bool {
	for _, k := range keys {
		match := true
		for attr, v := range k {
			if !sameJSON(item[attr], v) {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x) // maps marshal with sorted keys
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

// writeDynamoError answers as DynamoDB (AWS JSON 1.0) errors look.
func writeDynamoError(w http.ResponseWriter, status int, code, message string) {
	body, _ := json.Marshal(map[string]string{
		"__type":  "com.amazonaws.dynamodb.v20120810#" + code,
		"message": message,
	})
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
