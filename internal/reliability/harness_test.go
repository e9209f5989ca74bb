package reliability

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"

	"github.com/labelwatch/labelwatch/internal/emulator"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/slack"
	"github.com/labelwatch/labelwatch/internal/state"
	"github.com/labelwatch/labelwatch/internal/testenv"
	"github.com/labelwatch/labelwatch/internal/watch"
)

// One dynalite serves the whole package; each env has its own table on it
// and its own proxy in front of it, so faults stay within one test.
var dynaliteURL string

// motoSerial serves the tables of the envs newTransactEnv makes: moto's
// DynamoDB one request at a time, which serves TransactWriteItems (dynalite
// does not). The first test that needs it starts it; TestMain stops it.
var motoSerial = testenv.NewSharedMoto(testenv.StartMotoSerial)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), testenv.StartTimeout)
	srv, err := testenv.StartDynalite(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := srv.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "stop dynalite:", err)
		}
	}()
	dynaliteURL = srv.URL
	defer func() {
		if err := motoSerial.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "stop moto:", err)
		}
	}()
	return m.Run()
}

// bootstrap is the Lambda bootstrap `make test` built for the end-to-end tests.
func bootstrap(t testing.TB) string {
	t.Helper()
	path, err := testenv.Bootstrap()
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// leaseSpan is more than any lease a cycle of the suite takes (its real
// timeout, DeadlineMargin and the 30 s clock skew); advancing the fake clock
// by it expires every claim.
const leaseSpan = 5 * time.Minute

// fastRetryer is the SDK's standard retryer with millisecond backoff and no
// retry quota, so faults cost the tests no real time.
func fastRetryer(attempts int) func() aws.Retryer {
	return func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = attempts
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
			o.RateLimiter = ratelimit.None
		})
	}
}

func awsConfig() aws.Config {
	return aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
		Retryer:     fastRetryer(3),
		HTTPClient:  testenv.HTTPClient(),
	}
}

// fastRetrier is the watcher's Slack retry policy with millisecond waits.
// Its waits are on the env's clock and take no real time; short ones keep
// the suite's give-up decisions, which weigh a wait against a real
// deadline, as they were.
var fastRetrier = watch.Retrier{Attempts: 4, Base: 2 * time.Millisecond, Max: 10 * time.Millisecond}

// defaultAlertOn alerts on the terminal statuses and on Stopping, a status a
// job can pass through between two cycles without being seen.
var defaultAlertOn = map[labeling.Status]bool{
	labeling.StatusCompleted: true, labeling.StatusFailed: true,
	labeling.StatusStopped: true, labeling.StatusStopping: true,
}

// env is one isolated world: a SageMaker emulator, a table (on dynalite, or
// on moto for newTransactEnv) behind its own proxy, a local Slack, a clock, and the ledger of what happened to the
// jobs, against which the invariant is checked.
//
// Its SageMaker is an emulator.Estate: the home source (the function's own
// account and region, e.emu) and any other source addSource adds, each with
// a ledger of its own. Most tests watch the home source only.
//
// The clock is the watchers', the stores' and the emulator's. Tests move it
// to make time pass for leases and modification times; the watchers' retry
// waits move it too, at once (it records them), while deadlines, Slack's
// and DynamoDB's latency and the HTTP clients' timeouts run in real time.
type env struct {
	t       testing.TB
	clock   *testenv.Clock
	emu     *emulator.Emulator // the home source's
	estate  *emulator.Estate
	home    *source
	srcMu   sync.Mutex
	sources []*source // home first, then in the order added
	// accountNames names accounts in the jobs the watchers read, as
	// ACCOUNT_NAMES does; nil names none.
	accountNames map[string]string
	smURL        string
	onList       atomic.Pointer[func(n int)] // called before the nth ListLabelingJobs request
	lists        atomic.Int64
	proxy        *testenv.DynamoProxy
	table        string
	slack        *testenv.Slack
	read         readMessages
	logs         *syncBuffer
	alertOn      map[labeling.Status]bool
	ledger       *ledger           // the home source's
	sm           *sagemaker.Client // the home source's
	sent         sentMessages
	ddb          *dynamodb.Client // through the proxy
	direct       *dynamodb.Client // to the table's server, for checks
}

var tableSeq atomic.Int64

// newEnv is an env on a fake clock.
func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvOn(t, testenv.NewClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)))
}

// newTransactEnv is newEnv with its table on moto served one request at a
// time (motoSerial): its stores write a digest's claims and a storm's saves
// in TransactWriteItems, which they write one by one on dynalite. Without
// moto it skips the test, but under CI=true, where it fails it.
func newTransactEnv(t testing.TB) *env {
	t.Helper()
	return newEnvIn(t, testenv.NewClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)), motoSerial.URL(t))
}

// newEnvOn is an env whose watchers, stores and emulator read clock.
func newEnvOn(t testing.TB, clock *testenv.Clock) *env {
	t.Helper()
	return newEnvIn(t, clock, dynaliteURL)
}

// newEnvIn is newEnvOn with its table on the DynamoDB at endpoint.
func newEnvIn(t testing.TB, clock *testenv.Clock, endpoint string) *env {
	t.Helper()
	e := &env{
		t:       t,
		clock:   clock,
		logs:    &syncBuffer{},
		alertOn: defaultAlertOn,
	}
	e.estate = emulator.NewEstate(homeAccount)
	sm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := r.Header.Get("X-Amz-Target")
		if target == "SageMaker.ListLabelingJobs" {
			n := e.lists.Add(1)
			if h := e.onList.Load(); h != nil {
				(*h)(int(n))
			}
		}
		if src := e.sourceOf(r); src != nil && src.intercept(w, target) {
			return
		}
		e.estate.ServeHTTP(w, r)
	}))
	t.Cleanup(sm.Close)
	e.smURL = sm.URL
	e.proxy = testenv.NewDynamoProxy(endpoint)
	t.Cleanup(e.proxy.Close)
	e.slack = testenv.NewSlack(t)
	cfg := awsConfig()
	e.home = e.addSource("", emulator.Place{Account: homeAccount, Region: cfg.Region})
	e.emu, e.sm, e.ledger = e.home.emu, e.home.sm, e.home.ledger
	e.ddb = dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(e.proxy.URL) })
	e.direct = dynamodb.NewFromConfig(testenv.AWSConfig(endpoint))
	name := regexp.MustCompile(`[^a-zA-Z0-9_.-]+`).ReplaceAllString(t.Name(), "-")
	if len(name) > 200 {
		name = name[len(name)-200:]
	}
	e.table = fmt.Sprintf("%s-%d", name, tableSeq.Add(1))
	testenv.CreateTable(t, e.direct, e.table)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("watcher logs (last 16 KB):\n%s", e.logs.Tail(16<<10))
		}
	})
	return e
}

// onListRequest installs h, called before each later ListLabelingJobs
// request with its number, counting from 1 at the install; nil removes it.
func (e *env) onListRequest(h func(n int)) {
	if h == nil {
		e.onList.Store(nil)
		return
	}
	base := int(e.lists.Load())
	f := func(n int) { h(n - base) }
	e.onList.Store(&f)
}

// store is the home source's DynamoStore over the proxy, with the env's
// clock.
func (e *env) store() *state.DynamoStore {
	return state.NewDynamoStore(e.ddb, e.table, 90*24*time.Hour, e.clock)
}

// directStore reads the home source's part of the table without the proxy,
// for checks.
func (e *env) directStore() *state.DynamoStore {
	return state.NewDynamoStore(e.direct, e.table, 90*24*time.Hour, e.clock)
}

func (e *env) webhook(timeout time.Duration) *slack.Sender {
	return slack.NewWebhookSender(e.slack.WebhookURL(), &http.Client{Timeout: timeout}, e.clock)
}

func (e *env) bot(token, channel string, timeout time.Duration) *slack.Sender {
	return slack.NewBotSender(token, channel, e.slack.APIURL(), &http.Client{Timeout: timeout}, e.clock)
}

// watcherConfig says how to build one watcher; zero values take the suite's
// defaults.
type watcherConfig struct {
	src      *source        // the source watched; default: the home source
	store    state.Store    // default: the source's store
	notifier watch.Notifier // default: a webhook sender with a 2 s timeout
	source   watch.Source   // default: the source's emulator over HTTP through the SDK
	opts     watch.Options  // Rules, Retrier and DeadlineMargin are filled in when zero
	name     string         // logged with each line, to tell watchers apart
}

// watcher builds a watcher on the real source, store and Slack sender. Its
// store is audited: a commit that fails after Slack accepted allows that
// alert one duplicate, the documented at-least-once case. So is its
// notifier: it notes which source sent each message, and allows a
// duplicate for a send that failed although Slack took the message.
func (e *env) watcher(c watcherConfig) *watch.Watcher {
	src := c.src
	if src == nil {
		src = e.home
	}
	if c.store == nil {
		c.store = src.store()
	}
	if c.notifier == nil {
		c.notifier = e.webhook(2 * time.Second)
	}
	if c.source == nil {
		c.source = src.labeling()
	}
	if c.opts.Rules.AlertOn == nil {
		c.opts.Rules = watch.Rules{AlertOn: e.alertOn, Lookback: time.Hour}
	}
	if c.opts.Retrier.Attempts == 0 {
		c.opts.Retrier = fastRetrier
	}
	if c.opts.DeadlineMargin == 0 {
		c.opts.DeadlineMargin = 200 * time.Millisecond
	}
	if c.opts.Overlap == 0 {
		c.opts.Overlap = 10 * time.Minute
	}
	notifier := &auditedNotifier{Notifier: c.notifier, e: e, src: src}
	store := &hookStore{Store: c.store, after: func(op, job string, status labeling.Status, err error) {
		if op == "Commit" && err != nil {
			src.ledger.allowDuplicate([]alertKey{{job, status}})
		}
	}}
	log := slog.New(slog.NewJSONHandler(e.logs, nil))
	if c.name != "" {
		log = log.With("watcher", c.name)
	}
	if src != e.home {
		log = log.With("source", src.key)
	}
	return watch.New(c.source, store, notifier, log, e.clock, c.opts)
}

// auditedNotifier notes each message it is asked to send, which source
// sent it and whether the send succeeded (see sentMessages): the oracle
// tells the sources' messages apart by it, and allows an alert one
// duplicate for each message that Slack took although its send failed
// (takenAnyway).
type auditedNotifier struct {
	watch.Notifier
	e   *env
	src *source
}

func (n *auditedNotifier) Send(ctx context.Context, m slack.Message) (slack.Posted, bool, error) {
	content := n.e.sent.note(m, n.src)
	at, retry, err := n.Notifier.Send(ctx, m)
	n.e.sent.result(content, n.src, err)
	return at, retry, err
}

// readMessages is the messages Slack took, as the oracle read them, with
// the content and source of each; it reads each once.
type readMessages struct {
	mu      sync.Mutex
	msgs    []postedMessage
	content []string  // contentKey
	from    []*source // nil: no source, or more than one, sent it
}

// posted is every message Slack took so far, in order.
func (e *env) posted() []postedMessage {
	msgs, _, _ := e.postedFrom()
	return msgs
}

// postedFrom is every message Slack took so far, in order, with the
// content and the source that sent each.
func (e *env) postedFrom() ([]postedMessage, []string, []*source) {
	e.read.mu.Lock()
	defer e.read.mu.Unlock()
	for _, m := range e.slack.Messages()[len(e.read.msgs):] {
		e.read.msgs = append(e.read.msgs, readPosted(m))
		content := slackContent(m)
		e.read.content = append(e.read.content, content)
		e.read.from = append(e.read.from, e.sent.sender(content))
	}
	return slices.Clone(e.read.msgs), slices.Clone(e.read.content), slices.Clone(e.read.from)
}

// run runs one cycle of w with a real deadline timeout away.
func (e *env) run(w *watch.Watcher, timeout time.Duration) (watch.Summary, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return w.Poll(ctx)
}

// seed puts n jobs, job-0000 upwards, in Initializing (created a second
// apart, so that listing pages hold them in name order) and runs the first
// cycle, which records them without alerting.
func (e *env) seed(n int) []string {
	e.t.Helper()
	names := e.putJobs(n)
	sum, err := e.run(e.watcher(watcherConfig{name: "seed"}), 30*time.Second)
	if err != nil || !sum.FirstRun || !sum.Advanced || sum.Recorded != n {
		e.t.Fatalf("first cycle: %+v, %v", sum, err)
	}
	return names
}

// putJobs puts n jobs, job-0000 upwards, in Initializing.
func (e *env) putJobs(n int) []string {
	e.t.Helper()
	names := make([]string, n)
	now := e.clock.Now()
	for i := range names {
		names[i] = fmt.Sprintf("job-%04d", i)
		e.emu.Put(labeling.Job{
			Name: names[i], Status: labeling.StatusInitializing,
			CreatedAt: now.Add(time.Duration(i-n) * time.Second), ModifiedAt: now,
			Counters: labeling.Counters{Unlabeled: 100},
		})
		e.ledger.baseline(names[i], labeling.StatusInitializing)
	}
	return names
}

// move sets the home source's job's status in the emulator (stamped with
// the clock's now) and notes it in the ledger.
func (e *env) move(job string, status labeling.Status) {
	e.t.Helper()
	e.home.move(job, status)
}

// move sets job's status in src's emulator (stamped with the clock's now)
// and notes it in src's ledger.
func (src *source) move(job string, status labeling.Status) {
	src.e.t.Helper()
	ok := src.emu.Update(job, func(j *labeling.Job) {
		j.Status = status
		switch status {
		case labeling.StatusFailed:
			j.FailureReason = "ClientError: the input manifest of " + job + " could not be read"
		case labeling.StatusCompleted:
			j.Counters = labeling.Counters{Total: 100, Human: 60, Machine: 40}
			j.OutputManifest = "s3://bucket/" + job + "/output.manifest"
		}
	})
	if !ok {
		src.e.t.Fatalf("move %s in %s: no such job", job, src)
	}
	src.ledger.moved(job, status)
}

// finish walks jobs to an alerting status each (Completed, Failed, Stopping,
// Stopped in turn) through InProgress, and returns the alerts now due.
func (e *env) finish(jobs ...string) []alertKey {
	e.t.Helper()
	ends := []labeling.Status{labeling.StatusCompleted, labeling.StatusFailed, labeling.StatusStopping, labeling.StatusStopped}
	var due []alertKey
	for i, job := range jobs {
		e.move(job, labeling.StatusInProgress)
		end := ends[i%len(ends)]
		if end == labeling.StatusStopped {
			e.move(job, labeling.StatusStopping)
		}
		e.move(job, end)
		due = append(due, alertKey{job, end})
	}
	return due
}

// check verifies safety for the home source: no alert twice (beyond an
// allowed duplicate), none for a status the job never moved into or that
// does not alert. It returns how often each alert was posted.
func (e *env) check() map[alertKey]int {
	e.t.Helper()
	e.slack.Settle()
	msgs, contents, from := e.postedFrom()
	var own []postedMessage
	var owned []string
	for i, src := range from {
		if src == e.home {
			own, owned = append(own, msgs[i]), append(owned, contents[i])
		}
	}
	return e.ledger.check(e.t, msgs, e.sent.takenAnyway(e.home, own, owned))
}

// converge stops every fault and runs cycles, moving the clock past every
// lease, until one completes with nothing pending or contended; then it
// checks that every due alert was posted exactly once (or, where a commit
// failed after Slack accepted, at most twice), that the table shows every
// job at its listed status with no claim left, and that the cursor reached
// the newest modification.
func (e *env) converge() map[alertKey]int {
	e.t.Helper()
	e.slack.ClearFaults()
	e.proxy.ClearFaults()
	e.proxy.SetLatency(0)
	e.onListRequest(nil)
	w := e.watcher(watcherConfig{name: "converge"})
	var (
		sum watch.Summary
		err error
	)
	for range 6 {
		e.clock.Advance(leaseSpan)
		sum, err = e.run(w, 30*time.Second)
		if err == nil && sum.Pending == 0 && sum.Contended == 0 {
			break
		}
	}
	if err != nil || sum.Pending != 0 || sum.Contended != 0 {
		e.t.Fatalf("no clean cycle after faults stopped: %+v, %v", sum, err)
	}
	counts := e.check()
	e.ledger.checkDelivered(e.t, counts)
	e.checkTable()
	return counts
}

// checkTable reads every job's record and the cursor of the home source
// straight from the table, without the proxy.
func (e *env) checkTable() {
	e.t.Helper()
	e.home.checkTable()
}

// checkTable reads every job's record and the cursor of src straight from
// the table, without the proxy.
func (src *source) checkTable() {
	e := src.e
	e.t.Helper()
	store := src.directStore()
	ctx := context.Background()
	jobs := src.emu.Jobs()
	cursor, ok, err := store.Cursor(ctx)
	var newest time.Time
	for chunk := range slices.Chunk(jobs, state.MaxBatch) {
		names := make([]string, len(chunk))
		for i, j := range chunk {
			names[i] = j.Name
		}
		recs, err := store.Load(ctx, names)
		if err != nil {
			e.t.Fatalf("load: %v", err)
		}
		for _, j := range chunk {
			if j.ModifiedAt.After(newest) {
				newest = j.ModifiedAt
			}
			rec, found := recs[j.Name]
			switch {
			case !found && j.Status.Terminal() && !cursor.Origin.IsZero() && j.CreatedAt.Before(cursor.Origin) && j.ModifiedAt.Before(cursor.Origin.Add(-time.Hour)):
				// Finished before the first run's LOOKBACK (an hour, as
				// the cycles here have it): it needs none.
			case !found:
				e.t.Errorf("job %s%s has no record", j.Name, src.in())
			case rec.Status != j.Status:
				e.t.Errorf("job %s%s is stored %s, listed %s", j.Name, src.in(), rec.Status, j.Status)
			case rec.Lease != nil:
				e.t.Errorf("job %s%s still holds a claim: %+v", j.Name, src.in(), *rec.Lease)
			}
		}
	}
	// The cursor is the newest modification, or when the last complete
	// listing began less the clock skew if that is later: never before a
	// job the table holds, never after now.
	if err != nil || !ok || cursor.At.Before(newest.Truncate(time.Millisecond)) || cursor.At.After(e.clock.Now()) {
		e.t.Errorf("cursor%s %v (set %v, %v), want from the newest modification %v to now %v", src.in(), cursor.At, ok, err, newest, e.clock.Now())
	}
}

// record reads one job's stored record straight from the table, without
// the proxy.
func (e *env) record(job string) state.Record {
	e.t.Helper()
	return e.home.record(job)
}

// record reads one of src's jobs' stored record straight from the table,
// without the proxy.
func (src *source) record(job string) state.Record {
	src.e.t.Helper()
	recs, err := src.directStore().Load(context.Background(), []string{job})
	if err != nil {
		src.e.t.Fatal(err)
	}
	return recs[job]
}

// cursor reads the home source's stored cursor straight from the table,
// without the proxy.
func (e *env) cursor() time.Time {
	e.t.Helper()
	return e.home.cursor()
}

// cursor reads src's stored cursor straight from the table, without the
// proxy.
func (src *source) cursor() time.Time {
	src.e.t.Helper()
	c, _, err := src.directStore().Cursor(context.Background())
	if err != nil {
		src.e.t.Fatal(err)
	}
	return c.At
}

// ledger is the oracle: what each job went through since the first cycle,
// and which alerts may come twice.
//
// An alert is due for job J and status S when S alerts and J moved into S
// after the first cycle. A cycle sees only the status a job has when it
// lists; a job that passes through S between two listings (InProgress ->
// Stopping -> Stopped) may legitimately never alert S. So:
//   - never: an alert for a status J did not move into, or one that does not
//     alert, or one posted twice (once more is allowed only where a commit
//     failed after Slack accepted, or Slack posted and its answer was lost);
//   - always, once faults stop and a cycle completes cleanly: an alert for
//     each job's current status, if that alerts and J moved into it.
type ledger struct {
	mu      sync.Mutex
	where   string // " in SOURCE" after a job's name in a failure, "" for the home source
	alertOn map[labeling.Status]bool
	history map[string][]labeling.Status // first: the status at the first cycle
	allow   map[alertKey]int
}

func newLedger(alertOn map[labeling.Status]bool) *ledger {
	return &ledger{alertOn: alertOn, history: map[string][]labeling.Status{}, allow: map[alertKey]int{}}
}

func (l *ledger) baseline(job string, s labeling.Status) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.history[job] = []labeling.Status{s}
}

func (l *ledger) moved(job string, s labeling.Status) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.history[job] = append(l.history[job], s)
}

func (l *ledger) historyOf(job string) []labeling.Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.history[job])
}

func (l *ledger) allowDuplicate(keys []alertKey) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		l.allow[k]++
	}
}

func (l *ledger) allowed(k alertKey) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.allow[k]
}

// check checks the alerts posted against the ledger; taken are the
// duplicates allowed for messages Slack took although their send failed
// (sentMessages.takenAnyway).
func (l *ledger) check(t testing.TB, posted []postedMessage, taken map[alertKey]int) map[alertKey]int {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	counts := map[alertKey]int{}
	for _, m := range posted {
		if m.Truncated {
			t.Fatalf("a digest lists only some of its jobs; the oracle cannot tell which it carries: %s", m.Text)
		}
		if len(m.Alerts) == 0 {
			t.Errorf("a message carries no alert the oracle can read: %s", m.Raw)
		}
		for _, k := range m.Alerts {
			counts[k]++
		}
	}
	unacked := unacknowledged(posted)
	for _, k := range sortedKeys(counts) {
		n, allowed := counts[k], l.allow[k]+unacked[k]+taken[k]
		hist, known := l.history[k.Job]
		switch {
		case !known:
			t.Errorf("alert %v%s for a job that does not exist", k, l.where)
		case !l.alertOn[k.Status]:
			t.Errorf("alert %v%s for a status that does not alert", k, l.where)
		case !slices.Contains(hist[1:], k.Status):
			t.Errorf("alert %v%s for a status the job never moved into (history %v)", k, l.where, hist)
		case n > 1+allowed:
			t.Errorf("alert %v%s posted %d times (%d duplicates allowed)", k, l.where, n, allowed)
		}
	}
	return counts
}

// unacknowledged counts, for each alert, the messages carrying it that Slack
// took without the client learning so: each allows the alert one duplicate.
func unacknowledged(posted []postedMessage) map[alertKey]int {
	n := map[alertKey]int{}
	for _, m := range posted {
		if m.Unacknowledged {
			for _, k := range m.Alerts {
				n[k]++
			}
		}
	}
	return n
}

// checkDelivered fails for each job whose current status alerts, that it
// moved into, and that was never posted.
func (l *ledger) checkDelivered(t testing.TB, counts map[alertKey]int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	jobs := make([]string, 0, len(l.history))
	for j := range l.history {
		jobs = append(jobs, j)
	}
	sort.Strings(jobs)
	lost := 0
	for _, j := range jobs {
		hist := l.history[j]
		cur := hist[len(hist)-1]
		if len(hist) > 1 && cur != hist[0] && l.alertOn[cur] && counts[alertKey{j, cur}] == 0 {
			if lost++; lost <= 20 {
				t.Errorf("alert %v%s lost (history %v)", alertKey{j, cur}, l.where, hist)
			}
		}
	}
	if lost > 20 {
		t.Errorf("... %d alerts lost in all%s", lost, l.where)
	}
}

func sortedKeys(m map[alertKey]int) []alertKey {
	keys := make([]alertKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Job != keys[j].Job {
			return keys[i].Job < keys[j].Job
		}
		return keys[i].Status < keys[j].Status
	})
	return keys
}

// expectCounts checks that each alert of want was posted exactly as often.
func expectCounts(t testing.TB, counts map[alertKey]int, want map[alertKey]int) {
	t.Helper()
	for _, k := range sortedKeys(want) {
		if counts[k] != want[k] {
			t.Errorf("alert %v posted %d times, want %d", k, counts[k], want[k])
		}
	}
}

// once is want for alerts each posted exactly once.
func once(keys []alertKey) map[alertKey]int {
	m := map[alertKey]int{}
	for _, k := range keys {
		m[k] = 1
	}
	return m
}

// hookStore wraps a Store and calls before (which may fail the call) and
// after around each method. job and status are the call's job and target
// status where it has them.
type hookStore struct {
	state.Store
	before func(ctx context.Context, op, job string, status labeling.Status) error
	after  func(op, job string, status labeling.Status, err error)
}

func (s *hookStore) call(ctx context.Context, op, job string, status labeling.Status, f func() error) error {
	if s.before != nil {
		if err := s.before(ctx, op, job, status); err != nil {
			if s.after != nil {
				s.after(op, job, status, err)
			}
			return err
		}
	}
	err := f()
	if s.after != nil {
		s.after(op, job, status, err)
	}
	return err
}

func (s *hookStore) Cursor(ctx context.Context) (c state.Cursor, ok bool, err error) {
	err = s.call(ctx, "Cursor", "", "", func() error {
		var err error
		c, ok, err = s.Store.Cursor(ctx)
		return err
	})
	return c, ok, err
}

func (s *hookStore) AdvanceCursor(ctx context.Context, c state.Cursor) error {
	return s.call(ctx, "AdvanceCursor", "", "", func() error { return s.Store.AdvanceCursor(ctx, c) })
}

func (s *hookStore) Load(ctx context.Context, jobs []string) (recs map[string]state.Record, err error) {
	err = s.call(ctx, "Load", "", "", func() error {
		var err error
		recs, err = s.Store.Load(ctx, jobs)
		return err
	})
	return recs, err
}

func (s *hookStore) Save(ctx context.Context, prev, next state.Record) error {
	return s.call(ctx, "Save", prev.Job, next.Status, func() error { return s.Store.Save(ctx, prev, next) })
}

func (s *hookStore) Claim(ctx context.Context, prev state.Record, lease state.Lease) error {
	return s.call(ctx, "Claim", prev.Job, lease.Target, func() error { return s.Store.Claim(ctx, prev, lease) })
}

func (s *hookStore) Commit(ctx context.Context, owner string, next state.Record) error {
	return s.call(ctx, "Commit", next.Job, next.Status, func() error { return s.Store.Commit(ctx, owner, next) })
}

// ClaimAll claims through the wrapped store's batch (a digest's jobs),
// each job seen by the hooks as a Claim of its own (batchThrough).
func (s *hookStore) ClaimAll(ctx context.Context, jobs []state.Record, targets []labeling.Status, lease state.Lease) []error {
	type claim struct {
		prev   state.Record
		target labeling.Status
	}
	claims := make([]claim, len(jobs))
	for i := range jobs {
		claims[i] = claim{jobs[i], targets[i]}
	}
	return batchThrough(ctx, s, "Claim", claims, func(c claim) (string, labeling.Status) { return c.prev.Job, c.target },
		func(pass []claim) []error {
			prevs := make([]state.Record, len(pass))
			targets := make([]labeling.Status, len(pass))
			for i, c := range pass {
				prevs[i], targets[i] = c.prev, c.target
			}
			return s.Store.(state.BatchClaimer).ClaimAll(ctx, prevs, targets, lease)
		})
}

// CommitAll commits through the wrapped store's batch (a digest part's
// jobs), each job seen by the hooks as a Commit of its own (batchThrough).
func (s *hookStore) CommitAll(ctx context.Context, owner string, until time.Time, jobs []state.Committing) []error {
	return batchThrough(ctx, s, "Commit", jobs, func(c state.Committing) (string, labeling.Status) { return c.Next.Job, c.Next.Status },
		func(pass []state.Committing) []error {
			return s.Store.(state.BatchCommitter).CommitAll(ctx, owner, until, pass)
		})
}

// SaveAll saves through the wrapped store's batch (a storm's or a first
// run's records), each job seen by the hooks as a Save of its own
// (batchThrough).
func (s *hookStore) SaveAll(ctx context.Context, jobs []state.Saving) []error {
	return batchThrough(ctx, s, "Save", jobs, func(j state.Saving) (string, labeling.Status) { return j.Prev.Job, j.Next.Status },
		func(pass []state.Saving) []error { return s.Store.(state.BatchSaver).SaveAll(ctx, pass) })
}

// batchThrough makes a batch of op through s's hooks, each job seen by
// them as an op of its own: a fault before one fails that job alone, and
// the rest go in the batch (write); the hooks after see each job's error.
func batchThrough[T any](ctx context.Context, s *hookStore, op string, jobs []T, job func(T) (string, labeling.Status), write func([]T) []error) []error {
	errs := make([]error, len(jobs))
	var pass []T
	var at []int
	for i, j := range jobs {
		if s.before != nil {
			name, status := job(j)
			if err := s.before(ctx, op, name, status); err != nil {
				errs[i] = err
				continue
			}
		}
		pass, at = append(pass, j), append(at, i)
	}
	if len(pass) > 0 {
		for k, err := range write(pass) {
			errs[at[k]] = err
		}
	}
	if s.after != nil {
		for i, j := range jobs {
			name, status := job(j)
			s.after(op, name, status, errs[i])
		}
	}
	return errs
}

func (s *hookStore) Release(ctx context.Context, job, owner string) error {
	return s.call(ctx, "Release", job, "", func() error { return s.Store.Release(ctx, job, owner) })
}

// hookNotifier wraps a Notifier: before may fail a send without sending;
// after sees each result.
type hookNotifier struct {
	watch.Notifier
	before func() error
	after  func(err error)
}

func (n *hookNotifier) Send(ctx context.Context, m slack.Message) (slack.Posted, bool, error) {
	if n.before != nil {
		if err := n.before(); err != nil {
			return slack.Posted{}, false, err
		}
	}
	at, retry, err := n.Notifier.Send(ctx, m)
	if n.after != nil {
		n.after(err)
	}
	return at, retry, err
}

// hookSource wraps a Source and calls afterList once a listing has yielded
// every page without error.
type hookSource struct {
	watch.Source
	afterList func()
}

func (s *hookSource) Modified(ctx context.Context, since time.Time) iter.Seq2[[]labeling.Job, error] {
	return func(yield func([]labeling.Job, error) bool) {
		for page, err := range s.Source.Modified(ctx, since) {
			if !yield(page, err) || err != nil {
				return
			}
		}
		if s.afterList != nil {
			s.afterList()
		}
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// maxLog bounds what a syncBuffer keeps: the latest lines, for a failure
// report of a long soak.
const maxLog = 4 << 20

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len()+len(p) > maxLog {
		keep := b.buf.Bytes()[b.buf.Len()/2:]
		b.buf = *bytes.NewBuffer(append([]byte(nil), keep...))
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) Tail(n int) string {
	s := b.String()
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

var _ io.Writer = (*syncBuffer)(nil)

// errorIs fails unless err wraps target.
func errorIs(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("error %v, want one wrapping %v", err, target)
	}
}

// errorSays fails unless err's text contains each of words.
func errorSays(t testing.TB, err error, words ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("no error, want one saying %q", words)
		return
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}
