package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/labelwatch/labelwatch/internal/app"
	"github.com/labelwatch/labelwatch/internal/clock"
	"github.com/labelwatch/labelwatch/internal/config"
	"github.com/labelwatch/labelwatch/internal/emulator"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/state"
	"github.com/labelwatch/labelwatch/internal/testenv"
	"github.com/labelwatch/labelwatch/internal/watch"
)

const table = "labelwatch-bench"

// bench is the running environment: SageMaker emulator, dynalite behind the
// latency proxy, a counting Slack webhook, and the built bootstrap.
type bench struct {
	opts options
	logf func(string, ...any)
	tmp  string

	emu      *emulator.Emulator
	sm       *httptest.Server
	smConns  atomic.Int64 // TCP connections the SageMaker endpoint accepted
	smErrors atomic.Int64 // answers other than 200 OK
	dynalite *testenv.DynaliteServer
	proxy    *testenv.DynamoProxy
	ddb      *relay // in front of the proxy, counting TCP connections
	direct   *dynamodb.Client
	store    *state.DynamoStore // straight to dynalite, for setting up
	hook     *slackCounter

	bootstrap   string
	floorBin    string         // cmd/labelbench/floor, built for this run
	profileBin  string         // cmd/labelbench/profile, built when first needed
	event       []byte         // the schedule's, which polls
	stateChange []byte         // a labeling job state change, which pushes: the sample each pushed event is made from
	settler     *watch.Watcher // an in-process cycle that sets up each scenario
	acct        *account
	phase       int
	templates   map[labeling.Status]map[string]types.AttributeValue // items the store wrote, one per status, for seeding
}

func newBench(ctx context.Context, opts options, logf func(string, ...any)) (_ *bench, err error) {
	b := &bench{opts: opts, logf: logf}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	if b.tmp, err = os.MkdirTemp("", "labelbench-"); err != nil {
		return nil, err
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		return nil, err
	}
	if b.event, err = os.ReadFile(filepath.Join(root, "events", "scheduled.json")); err != nil {
		return nil, fmt.Errorf("read the scheduled event: %w", err)
	}
	if b.stateChange, err = os.ReadFile(filepath.Join(root, "events", "labeling-job-state-change.json")); err != nil {
		return nil, fmt.Errorf("read the labeling job state change event: %w", err)
	}

	// `make bench` builds it, as `make test` does, with the deployed build's flags.
	if b.bootstrap, err = testenv.Bootstrap(); err != nil {
		return nil, err
	}

	b.emu = emulator.New(emulator.WithAccount(testenv.LambdaAccount))
	b.sm = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		b.emu.ServeHTTP(rec, r)
		if rec.status != http.StatusOK {
			b.smErrors.Add(1)
		}
	}))
	b.sm.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			b.smConns.Add(1)
		}
	}
	b.sm.Start()

	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if b.dynalite, err = testenv.StartDynalite(startCtx); err != nil {
		return nil, err
	}
	b.direct = dynamodb.NewFromConfig(testenv.AWSConfig(b.dynalite.URL))
	if err := testenv.CreateStateTable(startCtx, b.direct, table); err != nil {
		return nil, err
	}
	if err := testenv.CreateStateTable(startCtx, b.direct, floorTable); err != nil {
		return nil, err
	}
	if b.floorBin, err = buildTool(ctx, b.tmp, "floor", "-s -w"); err != nil {
		return nil, err
	}
	b.proxy = testenv.NewDynamoProxy(b.dynalite.URL)
	if b.ddb, err = newRelay(b.proxy.URL); err != nil {
		return nil, err
	}
	b.hook = newSlackCounter()

	cfg, err := config.Load(envLookup(b.lambdaEnv(false)))
	if err != nil {
		return nil, err
	}
	b.store = state.NewDynamoStore(b.direct, table, cfg.Retention, time.Now)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	b.settler = app.NewWatcher(cfg, testenv.AWSConfig(b.sm.URL), b.store, app.NewNotifier(cfg.Slack), quiet, clock.System{})
	b.acct = newAccount(opts, time.Now())
	return b, nil
}

// Close stops everything newBench started; closing again does nothing.
func (b *bench) Close() {
	if b.hook != nil {
		b.hook.Close()
		b.hook = nil
	}
	if b.ddb != nil {
		b.ddb.Close()
		b.ddb = nil
	}
	if b.proxy != nil {
		b.proxy.Close()
		b.proxy = nil
	}
	if b.dynalite != nil {
		_ = b.dynalite.Close()
		b.dynalite = nil
	}
	if b.sm != nil {
		b.sm.Close()
		b.sm = nil
	}
	if b.tmp != "" {
		_ = os.RemoveAll(b.tmp)
		b.tmp = ""
	}
}

// lambdaEnv is the function's environment: the deployed defaults, AWS
// endpoints on loopback, and Slack unpaced unless paced.
func (b *bench) lambdaEnv(paced bool) []string {
	env := []string{
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=bench",
		"AWS_ENDPOINT_URL_SAGEMAKER=" + b.sm.URL,
		"AWS_ENDPOINT_URL_DYNAMODB=" + b.ddb.URL,
		"AWS_LAMBDA_FUNCTION_TIMEOUT=60", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(cmp.Or(b.opts.memoryMB, 128)), // template.yaml
		"STATE_TABLE=" + table,
		"SLACK_WEBHOOK_URL=" + b.hook.URL,
	}
	if !paced {
		env = append(env, "SLACK_PACE=0s")
	}
	return env
}

func envLookup(env []string) func(string) string {
	m := map[string]string{}
	for _, kv := range env {
		for i := range len(kv) {
			if kv[i] == '=' {
				m[kv[:i]] = kv[i+1:]
				break
			}
		}
	}
	return func(k string) string { return m[k] }
}

// armBootstrapSize builds the deployed bootstrap with the Makefile's own
// target, as `sam build` does, and returns its size in bytes.
func armBootstrapSize(ctx context.Context) (int64, error) {
	root, err := testenv.RepoRoot()
	if err != nil {
		return 0, err
	}
	dir, err := os.MkdirTemp("", "labelbench-arm64-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	cmd := exec.CommandContext(ctx, "make", "-s", "build-LabelwatchFunction", "ARTIFACTS_DIR="+dir)
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("make build-LabelwatchFunction: %w\n%s", err, msg)
	}
	fi, err := os.Stat(filepath.Join(dir, "bootstrap"))
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// statusRecorder remembers the status an http.Handler answered with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

// slackCounter is an incoming webhook that answers "ok" and counts posts
// and the TCP connections they came on.
type slackCounter struct {
	URL   string
	srv   *httptest.Server
	conns atomic.Int64

	mu    sync.Mutex
	sizes []int       // bytes of each post
	times []time.Time // when each post arrived
	over  [][]string  // how each post broke Slack's limits
}

func newSlackCounter() *slackCounter {
	h := &slackCounter{}
	h.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		over := overLimits(body)
		h.mu.Lock()
		h.sizes = append(h.sizes, len(body))
		h.times = append(h.times, time.Now())
		h.over = append(h.over, over)
		h.mu.Unlock()
		io.WriteString(w, "ok")
	}))
	h.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			h.conns.Add(1)
		}
	}
	h.srv.Start()
	h.URL = h.srv.URL + "/services/TBENCH/BBENCH/benchmarkwebhooksecret"
	return h
}

// overLimits says how a webhook message breaks Slack's Block Kit limits:
// 50 blocks, 150 characters of header, 3000 of section text.
func overLimits(body []byte) []string {
	var msg struct {
		Blocks []struct {
			Type string
			Text *struct{ Text string }
		}
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		return []string{"a post is not JSON: " + err.Error()}
	}
	var over []string
	if n := len(msg.Blocks); n > 50 {
		over = append(over, fmt.Sprintf("a message has %d blocks", n))
	}
	for _, b := range msg.Blocks {
		if b.Text == nil {
			continue
		}
		n := utf8.RuneCountInString(b.Text.Text)
		if b.Type == "header" && n > 150 || b.Type == "section" && n > 3000 {
			over = append(over, fmt.Sprintf("a %s block has %d characters", b.Type, n))
		}
	}
	return over
}

// slackStats is what the webhook saw.
type slackStats struct {
	posts, largest int
	minGap         time.Duration // shortest time between two posts; 0 with fewer than two
	over           []string
}

// since returns what arrived after the first skip posts.
func (h *slackCounter) since(skip int) slackStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := slackStats{posts: len(h.sizes) - skip}
	for _, o := range h.over[skip:] {
		s.over = append(s.over, o...)
	}
	for _, n := range h.sizes[skip:] {
		s.largest = max(s.largest, n)
	}
	times := h.times[skip:]
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); s.minGap == 0 || gap < s.minGap {
			s.minGap = gap
		}
	}
	return s
}

// arrivals returns when each post after the first skip arrived.
func (h *slackCounter) arrivals(skip int) []time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.times[skip:])
}

func (h *slackCounter) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sizes)
}

func (h *slackCounter) Close() { h.srv.Close() }

// relay forwards TCP connections to a loopback endpoint and counts them, to
// show whether the function reuses its connections.
type relay struct {
	URL    string
	ln     net.Listener
	target string
	conns  atomic.Int64

	mu   sync.Mutex
	open map[net.Conn]bool
	wg   sync.WaitGroup
}

func newRelay(targetURL string) (*relay, error) {
	u, err := url.Parse(targetURL)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &relay{URL: "http://" + ln.Addr().String(), ln: ln, target: u.Host, open: map[net.Conn]bool{}}
	r.wg.Go(r.accept)
	return r, nil
}

func (r *relay) accept() {
	for {
		in, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.conns.Add(1)
		out, err := net.DialTimeout("tcp", r.target, 5*time.Second)
		if err != nil {
			in.Close()
			continue
		}
		if !r.track(in, out) {
			return
		}
		r.wg.Go(func() { r.pipe(in, out) })
		r.wg.Go(func() { r.pipe(out, in) })
	}
}

// track records an open pair; it reports false (closing both) once the relay
// is closed.
func (r *relay) track(conns ...net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.open == nil {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	for _, c := range conns {
		r.open[c] = true
	}
	return true
}

// pipe copies until either side ends, then closes both.
func (r *relay) pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
	r.mu.Lock()
	delete(r.open, dst)
	delete(r.open, src)
	r.mu.Unlock()
}

func (r *relay) Close() {
	r.ln.Close()
	r.mu.Lock()
	for c := range r.open {
		c.Close()
	}
	r.open = nil
	r.mu.Unlock()
	r.wg.Wait()
}

var errNoBootstrap = errors.New("the function process was not found under the emulator")
