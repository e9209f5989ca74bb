package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/labelwatch/labelwatch/internal/app"
	"github.com/labelwatch/labelwatch/internal/clock"
	"github.com/labelwatch/labelwatch/internal/config"
	"github.com/labelwatch/labelwatch/internal/emulator"
	"github.com/labelwatch/labelwatch/internal/state"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

// motoDynamo is a running moto serving DynamoDB one request at a time
// (testenv.StartMotoSerialAtScale), and its process, whose CPU time the
// scenarios on it report (0 when not known).
type motoDynamo struct {
	url string
	pid int
}

// startMotoDynamo starts moto serving one request at a time, with
// transactions that cost what their items do whatever the table holds;
// stop ends it. Without moto it fails with testenv.ErrMotoMissing.
func startMotoDynamo(ctx context.Context) (_ motoDynamo, stop func(), _ error) {
	startCtx, cancel := context.WithTimeout(ctx, testenv.StartTimeout)
	defer cancel()
	srv, err := testenv.StartMotoSerialAtScale(startCtx)
	if err != nil {
		return motoDynamo{}, nil, err
	}
	return motoDynamo{url: srv.URL, pid: descendantNamed(os.Getpid(), "python")}, func() { _ = srv.Close() }, nil
}

// motoRig is what a scenario on moto runs against: the SageMaker emulator,
// moto's DynamoDB served one request at a time behind testenv's proxy
// (latency, calls by operation) with a state table of the scenario's own,
// and testenv's Slack, all on loopback. The storm and the busy first run
// run on moto because dynalite has no TransactWriteItems: there the store
// claims (and records) each job with an UpdateItem of its own, and the
// batching they measure cannot show. moto served one request at a time
// answers conditional writes as DynamoDB does (its threaded moto_server
// lets racing ones both win), only slower: its CPU time is reported beside
// the function's. Its transactions keep only what they write to roll back
// to: moto's own copy the whole table once per item, which at 10,000 items
// would cost minutes a transaction (testenv.StartMotoSerialAtScale).
type motoRig struct {
	dep     deployment
	cfg     config.Config // the function's, as env configures it
	table   string
	moto    motoDynamo
	emu     *emulator.Emulator
	sm      *probe
	proxy   *testenv.DynamoProxy
	served  *servedTimes       // between the proxy and moto
	direct  *dynamodb.Client   // straight to moto, for setting up
	store   *state.DynamoStore // straight to moto
	slack   *testenv.Slack
	event   []byte // the schedule's, which polls
	closers closers
}

// newMotoRig makes tableName in moto and starts the rest of the rig around
// it. Close stops what it started.
func newMotoRig(ctx context.Context, dep deployment, moto motoDynamo, tableName string) (_ *motoRig, err error) {
	r := &motoRig{dep: dep, table: tableName, moto: moto}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	if r.event, err = scheduledEvent(); err != nil {
		return nil, err
	}
	r.direct = dynamodb.NewFromConfig(testenv.AWSConfig(moto.url))
	if err := testenv.CreateStateTable(ctx, r.direct, tableName); err != nil {
		return nil, err
	}
	if r.served, err = newServedTimes(moto.url); err != nil {
		return nil, err
	}
	r.closers.Cleanup(r.served.Close)
	r.proxy = testenv.NewDynamoProxy(r.served.URL)
	r.closers.Cleanup(r.proxy.Close)
	r.emu = emulator.New(emulator.WithAccount(testenv.LambdaAccount))
	r.sm = newProbe(r.emu)
	r.closers.Cleanup(r.sm.Close)
	r.slack = testenv.NewSlack(&r.closers)
	if r.cfg, err = config.Load(envLookup(testenv.LambdaEnviron(r.env(dep.fn.Timeout)...))); err != nil {
		return nil, fmt.Errorf("the function's configuration: %w", err)
	}
	r.store = state.NewDynamoStore(r.direct, tableName, r.cfg.Retention, clock.System{})
	return r, nil
}

// Close stops what newMotoRig started; the table stays in moto.
func (r *motoRig) Close() { r.closers.Close() }

// env is the function's environment as the template deploys it, Slack
// pace included, but for AWS endpoints on loopback, the rig's table, a
// webhook instead of the secret and a timeout of timeout seconds; then
// extra.
func (r *motoRig) env(timeout int, extra ...string) []string {
	env := slices.DeleteFunc(r.dep.fn.Environ(), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return name == "SLACK_SECRET_ARN" || name == "STATE_TABLE" || name == "AWS_LAMBDA_FUNCTION_TIMEOUT"
	})
	env = append(env,
		"AWS_ENDPOINT_URL_SAGEMAKER="+r.sm.URL,
		"AWS_ENDPOINT_URL_DYNAMODB="+r.proxy.URL,
		"SLACK_WEBHOOK_URL="+r.slack.WebhookURL(),
		"STATE_TABLE="+r.table,
		"AWS_LAMBDA_FUNCTION_TIMEOUT="+strconv.Itoa(timeout))
	return append(env, extra...)
}

// ignoredEvent is an event the handler ignores: invoked first, it starts a
// function (its cold start) without a cycle.
const ignoredEvent = `{"source":"labelbench","detail-type":"labelbench warm-up","detail":{}}`

// launch starts bootstrap under the Runtime Interface Emulator with the
// rig's environment and a timeout of timeout seconds, warms it with an
// event it ignores (no cycle: the scenario's state stays as set up), and
// moves it into share (nil: a full core).
func (r *motoRig) launch(ctx context.Context, bootstrap string, timeout int, share *shareGroup) (*function, error) {
	fn, warm, err := launchFunction(ctx, bootstrap, r.env(timeout), []byte(ignoredEvent), share)
	if err != nil {
		return nil, err
	}
	if warm.Trigger != app.TriggerIgnored {
		fn.Close()
		return nil, fmt.Errorf("warm-up with an ignored event: %+v", warm)
	}
	return fn, nil
}

// motoStep is one invocation of the scheduled event on a rig: what the
// handler answered, the round trip, the function's and moto's CPU time,
// the calls it made and the Slack posts taken.
type motoStep struct {
	result         app.Result
	wall           time.Duration
	cpuFn, cpuMoto time.Duration
	listCalls      int                 // ListLabelingJobs calls
	ddb            map[string]int      // DynamoDB calls by operation
	served         map[string]opServed // what moto did answering them, by operation
	start          time.Time           // when the invocation was sent
	posts          int
}

// motoRun is the invocations one scenario took.
type motoRun struct {
	steps []motoStep
}

// total adds up the steps: their times, calls, posts and the counts of
// their results.
func (m motoRun) total() motoStep {
	t := motoStep{ddb: map[string]int{}, served: map[string]opServed{}}
	if len(m.steps) > 0 {
		t.start = m.steps[0].start
	}
	for _, s := range m.steps {
		for op, o := range s.served {
			t.served[op] = t.served[op].add(o)
		}
		t.wall += s.wall
		t.cpuFn += s.cpuFn
		t.cpuMoto += s.cpuMoto
		t.posts += s.posts
		t.listCalls += s.listCalls
		for op, n := range s.ddb {
			t.ddb[op] += n
		}
		t.result.Summary = t.result.Plus(s.result.Summary)
	}
	return t
}

// failure is the first invocation's error message, or "".
func (m motoRun) failure() string {
	for _, s := range m.steps {
		if s.result.ErrorMessage != "" {
			return s.result.ErrorMessage
		}
	}
	return ""
}

// invokeUntil invokes the scheduled event on fn at latency, one invocation
// after another, until done says the scenario is over, an invocation
// fails having done nothing, or limit invocations. timeout is the
// function's, in seconds: an answer is awaited a minute longer.
func (r *motoRig) invokeUntil(ctx context.Context, fn *function, latency time.Duration, timeout, limit int, done func(motoRun) bool, logf func(string, ...any)) (motoRun, error) {
	var run motoRun
	for len(run.steps) < limit {
		callsBefore, postsBefore, listBefore := r.proxy.AllCalls(), len(r.slack.Calls()), r.emu.Calls("ListLabelingJobs")
		cpuFn, cpuMoto := cpuTime(fn.pid), cpuTime(r.moto.pid)
		r.emu.SetLatency(latency)
		r.proxy.SetLatency(latency)
		s := motoStep{start: time.Now()}
		var err error
		s.result, s.wall, err = invokeOnce(ctx, fn, r.event, time.Duration(timeout)*time.Second+time.Minute)
		r.emu.SetLatency(0)
		r.proxy.SetLatency(0)
		if err != nil {
			return run, err
		}
		// A function the emulator ended at its timeout has no CPU time
		// left to read.
		s.cpuFn, s.cpuMoto = max(0, cpuTime(fn.pid)-cpuFn), cpuTime(r.moto.pid)-cpuMoto
		s.ddb = counters{ddb: r.proxy.AllCalls()}.minus(counters{ddb: callsBefore}).ddb
		s.posts, s.listCalls = len(r.slack.Calls())-postsBefore, r.emu.Calls("ListLabelingJobs")-listBefore
		s.served = r.served.since(s.start)
		run.steps = append(run.steps, s)
		res := s.result
		logf("%s: invocation %d: %v wall, function CPU %v, moto CPU %v; %d listed, %d alerted, %d recorded, %d pending; DynamoDB %s; %s",
			r.table, len(run.steps), s.wall.Round(time.Millisecond), s.cpuFn.Round(time.Millisecond), s.cpuMoto.Round(time.Millisecond),
			res.Listed, res.Alerted, res.Recorded, res.Pending, ddbOps(s.ddb), res.ErrorMessage)
		if done(run) || res.ErrorMessage != "" && res.Alerted+res.Recorded == 0 {
			break
		}
	}
	return run, nil
}

// invokeOnce invokes fn with event and returns what the handler answered
// and the round trip. An answer that is not the handler's JSON (the
// emulator's, when it ends a function at its timeout) is the result's
// error, not an error: the scenario reports it.
func invokeOnce(ctx context.Context, fn *function, event []byte, limit time.Duration) (app.Result, time.Duration, error) {
	ictx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	start := time.Now()
	body, err := fn.Invoke(ictx, event)
	took := time.Since(start)
	if err != nil {
		return app.Result{}, took, fmt.Errorf("invoke: %w", err)
	}
	var r app.Result
	if err := json.Unmarshal(body, &r); err != nil {
		r.ErrorMessage = "no answer from the handler; the emulator answered: " + firstLines(string(body), 1)
	}
	return r, took, nil
}

// servedTimes is a reverse proxy in front of moto that notes, for each
// call, its operation, when it was forwarded and how long moto took to
// answer. It forwards one request at a time, as moto serves them anyway,
// so that the time is moto's serving only, not a request's wait behind
// others.
type servedTimes struct {
	*httptest.Server
	one   sync.Mutex // held while a request is forwarded
	mu    sync.Mutex
	calls []servedCall
}

// servedCall is one call moto answered.
type servedCall struct {
	op    string
	start time.Time
	took  time.Duration
}

// opServed is what moto did for one operation's calls over a time.
type opServed struct {
	took        time.Duration // answering them, in all
	first, last time.Time     // the first call's start, the last one's answer
}

// add counts c in o.
func (o opServed) add(c opServed) opServed {
	if o.first.IsZero() || c.first.Before(o.first) {
		o.first = c.first
	}
	if c.last.After(o.last) {
		o.last = c.last
	}
	o.took += c.took
	return o
}

func newServedTimes(target string) (*servedTimes, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	st := &servedTimes{}
	forward := httputil.NewSingleHostReverseProxy(u)
	st.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		target := req.Header.Get("X-Amz-Target")
		st.one.Lock()
		start := time.Now()
		forward.ServeHTTP(w, req)
		took := time.Since(start)
		st.one.Unlock()
		st.mu.Lock()
		st.calls = append(st.calls, servedCall{op: target[strings.LastIndexByte(target, '.')+1:], start: start, took: took})
		st.mu.Unlock()
	}))
	return st, nil
}

// since is what moto did for the calls forwarded from start on, by
// operation.
func (st *servedTimes) since(start time.Time) map[string]opServed {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := map[string]opServed{}
	for _, c := range st.calls {
		if !c.start.Before(start) {
			out[c.op] = out[c.op].add(opServed{took: c.took, first: c.start, last: c.start.Add(c.took)})
		}
	}
	return out
}

// renderServed writes a table of each DynamoDB operation's calls in each
// named run, moto's time answering them and when in the run they came.
func renderServed(p func(string, ...any), row func(...any), names []string, runs map[string]motoRun) {
	p("\nEach DynamoDB operation's calls, moto's time answering them (one at a time, timed between the proxy and moto), and when in the run they came: from the first call's start to the last one's answer, in seconds from sending the first invocation.\n\n")
	p("| Function | Operation | Calls | moto's time | From – to |\n| --- | --- | ---: | ---: | ---: |\n")
	for _, name := range names {
		t := runs[name].total()
		for _, op := range slices.Sorted(maps.Keys(t.ddb)) {
			o := t.served[op]
			row(name, op, t.ddb[op], ms(o.took), fmt.Sprintf("%.1f – %.1f s", o.first.Sub(t.start).Seconds(), o.last.Sub(t.start).Seconds()))
		}
	}
}
