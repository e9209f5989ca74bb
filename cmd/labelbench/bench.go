package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// The function's state table, and the table the floor writes to, so that
// the function's state stays as the scenario set it up.
const (
	table      = "labelwatch-bench"
	floorTable = "labelwatch-bench-floor"
)

// deployment is the function as it is deployed: the bootstrap built with
// the deployed build's flags, and the settings template.yaml gives it, as
// testenv resolves them. Its memory size sets its CPU share, its timeout
// and environment are what the bench runs it with, and how often its
// schedule runs it sets the cost of a month.
type deployment struct {
	bootstrap       string
	fn              testenv.Function
	memoryMB        int
	scheduleMinutes int
}

// readDeployment finds the bootstrap `make bench` built (once a run: the
// sources may change while it runs) and reads the template.
func readDeployment() (deployment, error) {
	bootstrap, err := testenv.Bootstrap()
	if err != nil {
		return deployment{}, err
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		return deployment{}, err
	}
	path := filepath.Join(root, "template.yaml")
	src, err := os.ReadFile(path)
	if err != nil {
		return deployment{}, fmt.Errorf("read the template: %w", err)
	}
	// The secret's ARN is left out of the function's environment: the
	// bench gives it a webhook (lambdaEnv).
	fn, err := testenv.ResolveFunction(src, testenv.DeployedFunctionName,
		testenv.Stack{Refs: map[string]string{"StateTable": table, "SlackSecret": "unused"}})
	if err != nil {
		return deployment{}, fmt.Errorf("%s: %w", path, err)
	}
	d := deployment{bootstrap: bootstrap, fn: fn, memoryMB: fn.MemorySize}
	rate, _ := fn.Events["Schedule"].Properties["Schedule"].(string)
	var unit string
	if _, err := fmt.Sscanf(rate, "rate(%d %s", &d.scheduleMinutes, &unit); err != nil || !strings.HasPrefix(unit, "minute") {
		return d, fmt.Errorf("%s: the Schedule event's %q is not rate(N minutes)", path, rate)
	}
	return d, nil
}

// bench is the running environment: the SageMaker emulator and testenv's
// Slack behind probes that count, dynalite behind testenv's proxy (latency,
// calls) and a relay (connections), and the function as deployed.
type bench struct {
	opts    options
	dep     deployment
	cfg     config.Config // the function's, as lambdaEnv configures it
	logf    func(string, ...any)
	tmp     string
	closers closers

	emu         *emulator.Emulator
	sm          *probe
	dynalitePid int
	proxy       *testenv.DynamoProxy
	ddb         *relay // in front of the proxy, counting TCP connections
	direct      *dynamodb.Client
	store       *state.DynamoStore // straight to dynalite, for setting up
	slack       *testenv.Slack
	hook        *probe // in front of slack, noting when each post arrived

	tools       map[string]string // cmd/labelbench programs built for this run, by name
	event       []byte            // the schedule's, which polls
	stateChange []byte            // a labeling job state change: the sample each pushed event is made from
	settler     *watch.Watcher    // an in-process cycle that sets up each scenario
	acct        *account
	phase       int
	templates   map[labeling.Status]map[string]types.AttributeValue // items the store wrote, one per status, for seeding
}

// newBench starts the environment for an account of opts.jobs whose clock
// reads now when the real one reads time.Now() (see newAccount).
func newBench(ctx context.Context, opts options, dep deployment, now time.Time, logf func(string, ...any)) (_ *bench, err error) {
	b := &bench{opts: opts, dep: dep, logf: logf, tools: map[string]string{}}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	if b.tmp, err = os.MkdirTemp("", "labelbench-"); err != nil {
		return nil, err
	}
	b.closers.Cleanup(func() { _ = os.RemoveAll(b.tmp) })
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

	b.emu = emulator.New(emulator.WithAccount(testenv.LambdaAccount))
	b.sm = newProbe(b.emu)
	b.closers.Cleanup(b.sm.Close)
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	dynalite, err := testenv.StartDynalite(startCtx)
	if err != nil {
		return nil, err
	}
	b.closers.Cleanup(func() { _ = dynalite.Close() })
	b.dynalitePid = childNamed(os.Getpid(), "node")
	b.direct = dynamodb.NewFromConfig(testenv.AWSConfig(dynalite.URL))
	for _, name := range []string{table, floorTable} {
		if err := testenv.CreateStateTable(startCtx, b.direct, name); err != nil {
			return nil, err
		}
	}
	b.proxy = testenv.NewDynamoProxy(dynalite.URL)
	b.closers.Cleanup(b.proxy.Close)
	if b.ddb, err = newRelay(b.proxy.URL); err != nil {
		return nil, err
	}
	b.closers.Cleanup(func() { _ = b.ddb.Close() })
	b.slack = testenv.NewSlack(&b.closers)
	slackURL, err := url.Parse(b.slack.URL)
	if err != nil {
		return nil, err
	}
	b.hook = newProbe(httputil.NewSingleHostReverseProxy(slackURL))
	b.closers.Cleanup(b.hook.Close)

	if b.cfg, err = config.Load(envLookup(testenv.LambdaEnviron(b.lambdaEnv(false)...))); err != nil {
		return nil, fmt.Errorf("the function's configuration: %w", err)
	}
	b.store = state.NewDynamoStore(b.direct, table, b.cfg.Retention, clock.System{})
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	b.settler = app.NewWatcher(b.cfg, testenv.AWSConfig(b.sm.URL), b.store, app.NewNotifier(b.cfg.Slack), quiet, clock.System{})
	b.acct = newAccount(opts, b.cfg.Overlap, now)
	return b, nil
}

// Close stops everything newBench started; closing again does nothing.
func (b *bench) Close() { b.closers.Close() }

// lambdaEnv is the function's environment as the template deploys it, but
// for AWS endpoints on loopback, a Slack webhook instead of the secret, and
// Slack unpaced unless paced; then extra.
func (b *bench) lambdaEnv(paced bool, extra ...string) []string {
	env := slices.DeleteFunc(b.dep.fn.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "SLACK_SECRET_ARN=") })
	env = append(env,
		"AWS_ENDPOINT_URL_SAGEMAKER="+b.sm.URL,
		"AWS_ENDPOINT_URL_DYNAMODB="+b.ddb.URL,
		"SLACK_WEBHOOK_URL="+b.webhook())
	if !paced {
		env = append(env, "SLACK_PACE=0s")
	}
	return append(env, extra...)
}

// webhook is the incoming webhook's URL, through the probe.
func (b *bench) webhook() string { return b.hook.URL + testenv.SlackHookPath }

// envLookup looks names up in env; the last of a name wins, as in a process.
func envLookup(env []string) func(string) string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return func(k string) string { return m[k] }
}

// counters are what the bench has counted so far: the calls each service
// answered, the TCP connections they came on, and the CPU time of the
// function and of what serves it. minus gives what happened in between two.
type counters struct {
	sageMaker, smErrors int
	ddb                 map[string]int // DynamoDB calls by operation
	capacity            float64        // DynamoDB capacity units
	posts, accepted     int            // Slack posts received, and of them taken (Slack refuses a message too big)

	smConns, ddbConns, slackConns int64
	cpuFn, cpuDDB, cpuHarn        time.Duration // the function's, dynalite's, this process's (emulator, proxies)
}

func (b *bench) count(fnPid int) counters {
	return counters{
		sageMaker: b.emu.Calls("ListLabelingJobs") + b.emu.Calls("DescribeLabelingJob"),
		smErrors:  int(b.sm.failed.Load()),
		ddb:       b.proxy.AllCalls(), capacity: b.proxy.CapacityUnits(),
		posts: b.hook.requests(), accepted: len(b.slack.Calls()),
		smConns: b.sm.conns.Load(), ddbConns: b.ddb.conns.Load(), slackConns: b.hook.conns.Load(),
		cpuFn: cpuTime(fnPid), cpuDDB: cpuTime(b.dynalitePid), cpuHarn: cpuTime(os.Getpid()),
	}
}

func (c counters) minus(o counters) counters {
	d := counters{
		sageMaker: c.sageMaker - o.sageMaker, smErrors: c.smErrors - o.smErrors,
		ddb: map[string]int{}, capacity: c.capacity - o.capacity,
		posts: c.posts - o.posts, accepted: c.accepted - o.accepted,
		smConns: c.smConns - o.smConns, ddbConns: c.ddbConns - o.ddbConns, slackConns: c.slackConns - o.slackConns,
		cpuFn: c.cpuFn - o.cpuFn, cpuDDB: c.cpuDDB - o.cpuDDB, cpuHarn: c.cpuHarn - o.cpuHarn,
	}
	for op, n := range c.ddb {
		if n > o.ddb[op] {
			d.ddb[op] = n - o.ddb[op]
		}
	}
	return d
}

// made is the calls counted, by kind.
func (c counters) made() tally {
	return tally{sageMaker: c.sageMaker, reads: ddbReads(c.ddb), writes: ddbWrites(c.ddb), slack: c.posts}
}

// ddbReads is how many of calls (DynamoDB calls by operation) read.
func ddbReads(calls map[string]int) int { return calls["GetItem"] + calls["BatchGetItem"] }

// ddbWrites is how many of calls wrote: all but the reads.
func ddbWrites(calls map[string]int) int {
	n := -ddbReads(calls)
	for _, c := range calls {
		n += c
	}
	return n
}

// setLatency adds d to every AWS call.
func (b *bench) setLatency(d time.Duration) {
	b.emu.SetLatency(d)
	b.proxy.SetLatency(d)
}

// function is a function process under the Runtime Interface Emulator.
type function struct {
	*testenv.Lambda
	pid   int // the bootstrap's
	share *shareGroup
}

// launch starts a fresh function with env, invokes it once with warmUp (its
// cold start, never measured) and then moves it, and only it, into share (a
// nil share is a full core). It returns the warm-up's result.
func (b *bench) launch(ctx context.Context, env []string, warmUp []byte, share *shareGroup) (*function, app.Result, error) {
	return launchFunction(ctx, b.dep.bootstrap, env, warmUp, share)
}

// launchFunction is launch for any bootstrap, such as one built from an
// older commit.
func launchFunction(ctx context.Context, bootstrap string, env []string, warmUp []byte, share *shareGroup) (*function, app.Result, error) {
	l, err := testenv.LaunchLambda(bootstrap, env...)
	if err != nil {
		return nil, app.Result{}, err
	}
	fn := &function{Lambda: l, share: share}
	warm, _, _, err := fn.invoke(ctx, warmUp)
	if err == nil && warm.ErrorMessage != "" {
		err = fmt.Errorf("warm-up: %s\n%s", warm.ErrorMessage, l.Output())
	}
	if err == nil {
		if fn.pid = childNamed(l.Pid(), "bootstrap"); fn.pid == 0 {
			err = errors.New("the function process was not found under the emulator")
		}
	}
	if err == nil {
		err = share.enter(fn.pid)
	}
	if err != nil {
		l.Kill()
		return nil, warm, err
	}
	return fn, warm, nil
}

// Close leaves the cgroup empty for its removal, and ends the function.
func (fn *function) Close() {
	fn.share.leave(fn.pid)
	fn.Kill()
}

// invoke sends event to fn and returns the handler's result, when it was
// sent and how long the round trip through the emulator took.
func (fn *function) invoke(ctx context.Context, event []byte) (app.Result, time.Time, time.Duration, error) {
	return fn.invokeWithin(ctx, event, 2*time.Minute)
}

// invokeWithin is invoke, giving up on an answer after limit: more than the
// function's own timeout.
func (fn *function) invokeWithin(ctx context.Context, event []byte, limit time.Duration) (app.Result, time.Time, time.Duration, error) {
	ictx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	start := time.Now()
	body, err := fn.Invoke(ictx, event)
	took := time.Since(start)
	var r app.Result
	if err == nil {
		err = json.Unmarshal(body, &r)
	}
	if err != nil {
		return r, start, took, fmt.Errorf("invoke: %w\n%s", err, fn.Output())
	}
	return r, start, took, nil
}

// buildTool builds the named command under cmd/labelbench, once a run, with
// the deployed build's flags but ldflags: the floor is stripped as the
// function is ("-s -w"); the profile keeps its symbols for pprof.
func (b *bench) buildTool(ctx context.Context, name, ldflags string) (string, error) {
	if bin := b.tools[name]; bin != "" {
		return bin, nil
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(b.tmp, name)
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags="+ldflags, "-o", out, "./cmd/labelbench/"+name)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %w\n%s", name, err, msg)
	}
	b.tools[name] = out
	return out, nil
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

// closers are what a bench stops when it closes, the last started first.
// They are the testing.TB testenv.NewSlack takes, which calls only Helper
// and Cleanup: testenv has no constructor of its Slack for a program that
// is not a test (as StartDynalite is for Dynalite). Any other method of
// testing.TB panics.
type closers struct {
	testing.TB
	funcs []func()
}

func (c *closers) Helper()          {}
func (c *closers) Cleanup(f func()) { c.funcs = append(c.funcs, f) }

func (c *closers) Close() {
	for i := len(c.funcs) - 1; i >= 0; i-- {
		c.funcs[i]()
	}
	c.funcs = nil
}

// probe is a loopback HTTP endpoint in front of a service: it counts the
// TCP connections opened to it and the answers other than 200 OK, and
// notes when each request arrived.
type probe struct {
	*httptest.Server
	conns, failed atomic.Int64

	mu       sync.Mutex
	arrivals []time.Time
}

func newProbe(h http.Handler) *probe {
	p := &probe{}
	p.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.arrivals = append(p.arrivals, time.Now())
		p.mu.Unlock()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		if rec.status != http.StatusOK {
			p.failed.Add(1)
		}
	}))
	p.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			p.conns.Add(1)
		}
	}
	p.Start()
	return p
}

func (p *probe) requests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.arrivals)
}

// arrived returns when each request after the first skip arrived.
func (p *probe) arrived(skip int) []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.arrivals[skip:])
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

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// relay forwards TCP connections to a loopback endpoint and counts them, to
// show whether the function reuses its connections. It copies bytes, so it
// adds no HTTP hop to the thousands of DynamoDB calls of a burst. Closing it
// stops accepting; the connections it relays end with the endpoint's.
type relay struct {
	net.Listener
	URL   string
	conns atomic.Int64
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
	r := &relay{Listener: ln, URL: "http://" + ln.Addr().String()}
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			r.conns.Add(1)
			out, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
			if err != nil {
				in.Close()
				continue
			}
			pipe := func(dst, src net.Conn) {
				_, _ = io.Copy(dst, src)
				dst.Close()
				src.Close()
			}
			go pipe(in, out)
			go pipe(out, in)
		}
	}()
	return r, nil
}
