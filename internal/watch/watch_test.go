package watch_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
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

// dynaliteURL is the one dynalite every DynamoStore test of the package
// shares; each test makes its own table on it.
var dynaliteURL string

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), testenv.StartTimeout)
	srv, err := testenv.StartDynalite(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "watch tests need dynalite:", err)
		os.Exit(1)
	}
	dynaliteURL = srv.URL
	code := m.Run()
	if err := srv.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

const (
	initializing = labeling.StatusInitializing
	inProgress   = labeling.StatusInProgress
	stopping     = labeling.StatusStopping
	completed    = labeling.StatusCompleted
	failed       = labeling.StatusFailed
	stopped      = labeling.StatusStopped

	retention = 90 * 24 * time.Hour
)

// start is where every test's clock begins; it has a millisecond fraction
// so that times are checked to the millisecond.
var start = time.Date(2026, 3, 1, 12, 0, 0, 250_000_000, time.UTC)

func defaultRules() watch.Rules {
	return watch.Rules{AlertOn: map[labeling.Status]bool{failed: true, completed: true, stopped: true}, Lookback: time.Hour}
}

// backend is a kind of state store the cycle runs against.
type backend struct {
	name string
	// open returns a fresh store for t, and a function that opens the same
	// state again, as a second run overlapping the first would.
	open func(t *testing.T, clk *testenv.Clock) (state.Store, func() state.Store)
}

var backends = []backend{
	{
		name: "FileStore",
		open: func(t *testing.T, clk *testenv.Clock) (state.Store, func() state.Store) {
			s, err := state.OpenFile(filepath.Join(t.TempDir(), "state.json"), retention, clk)
			if err != nil {
				t.Fatal(err)
			}
			// Two processes must not share a file; two runs in one process
			// share the store.
			return s, func() state.Store { return s }
		},
	},
	{
		name: "DynamoStore",
		open: func(t *testing.T, clk *testenv.Clock) (state.Store, func() state.Store) {
			table := tableName(t)
			testenv.CreateTable(t, dynamoClient(), table)
			open := func() state.Store { return state.NewDynamoStore(dynamoClient(), table, retention, clk) }
			return open(), open
		},
	},
}

// motoBackend is moto's DynamoDB, a second implementation beside dynalite:
// a moto_server of the test's own, started when the harness opens it.
var motoBackend = motoOn("moto", testenv.Moto)

// motoSerialBackend is moto's DynamoDB served one request at a time, as
// DynamoDB serves writes to one item: racing conditional writes, and
// TransactWriteItems (which dynalite lacks), have one winner.
var motoSerialBackend = motoOn("moto, one request at a time", testenv.MotoSerial)

// motoOn is the backend name of a table on a moto of the test's own, which
// start starts when the harness opens it.
func motoOn(name string, start func(testing.TB) string) backend {
	return backend{
		name: name,
		open: func(t *testing.T, clk *testenv.Clock) (state.Store, func() state.Store) {
			cfg := testenv.AWSConfig(start(t))
			cfg.HTTPClient = testenv.HTTPClient()
			client := dynamodb.NewFromConfig(cfg)
			table := tableName(t)
			testenv.CreateTable(t, client, table)
			open := func() state.Store { return state.NewDynamoStore(client, table, retention, clk) }
			return open(), open
		},
	}
}

// tables numbers the tables made on the package's dynalite, which outlives
// each test (and each -count repetition).
var tables atomic.Int64

// dynamoClient is a client of the package's dynalite, with the SDK's default
// retryer.
func dynamoClient() *dynamodb.Client {
	cfg := testenv.AWSConfig(dynaliteURL)
	cfg.HTTPClient = testenv.HTTPClient()
	return dynamodb.NewFromConfig(cfg)
}

func tableName(t *testing.T) string {
	name := regexp.MustCompile(`[^a-zA-Z0-9_.-]+`).ReplaceAllString(t.Name(), "-")
	return fmt.Sprintf("%.200s-%d", name, tables.Add(1))
}

// countingStore counts the loads the cycle makes; everything else passes
// through.
type countingStore struct {
	state.Store
	mu    sync.Mutex
	loads []int // names per Load call
}

func (s *countingStore) Load(ctx context.Context, jobs []string) (map[string]state.Record, error) {
	s.mu.Lock()
	s.loads = append(s.loads, len(jobs))
	s.mu.Unlock()
	return s.Store.Load(ctx, jobs)
}

// takeLoads returns the batch sizes loaded since the last call, largest first.
func (s *countingStore) takeLoads() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	loads := s.loads
	s.loads = nil
	slices.SortFunc(loads, func(a, b int) int { return b - a })
	return loads
}

// harness is one test's world: a SageMaker emulator behind the real SDK
// client, a real store, and a Slack webhook behind the real sender, all on
// one fake clock, which the emulator stamps changes with. The watcher's
// pacing and backoff (watch.DefaultRetrier's, unless a test says otherwise)
// wait on that clock, so they take no real time: a test checks them in the
// clock's waits.
type harness struct {
	t       *testing.T
	clock   *testenv.Clock
	emu     *emulator.Emulator
	sm      *sagemaker.Client
	slack   *testenv.Slack
	sender  *slack.Sender
	store   *countingStore
	another func() state.Store
	logs    *testenv.SyncBuffer
}

func newHarness(t *testing.T, b backend) *harness {
	h := &harness{t: t, clock: testenv.NewClock(start), slack: testenv.NewSlack(t), logs: &testenv.SyncBuffer{}}
	h.emu = emulator.New(emulator.WithClock(h.clock))
	srv := httptest.NewServer(h.emu)
	t.Cleanup(srv.Close)
	h.sm = sagemaker.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(srv.URL),
		HTTPClient:   testenv.HTTPClient(),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	})
	h.sender = slack.NewWebhookSender(h.slack.WebhookURL(), &http.Client{Timeout: 10 * time.Second}, h.clock)
	store, another := b.open(t, h.clock)
	h.store = &countingStore{Store: store}
	h.another = another
	t.Cleanup(func() {
		// Whatever happened, no log line shows the webhook URL.
		if logs := h.logs.String(); strings.Contains(logs, "SECRET") {
			t.Errorf("logs show the webhook URL:\n%s", logs)
		}
		if t.Failed() {
			lines := strings.SplitAfter(h.logs.String(), "\n")
			t.Logf("last log lines:\n%s", strings.Join(lines[max(0, len(lines)-40):], ""))
		}
	})
	return h
}

// setup is how a test's watcher differs from the default one.
type setup struct {
	opts         watch.Options // zero fields take the test defaults
	nameContains string
	createdAfter time.Time
	store        state.Store    // nil for the harness's
	notifier     watch.Notifier // nil for the harness's webhook sender
	// afterPage, when set, runs each time the source has yielded a page,
	// with the page's number, before the cycle takes the page.
	afterPage func(page int)
	// listingRunning, when set, runs when the listing of the jobs in
	// progress begins.
	listingRunning func()
}

// pageHook is the real source, with a hook between its pages and one at
// the start of the listing of jobs in progress.
type pageHook struct {
	watch.Source
	after   func(page int)
	running func()
}

func (s pageHook) Running(ctx context.Context) iter.Seq2[[]labeling.Job, error] {
	if s.running != nil {
		s.running()
	}
	return s.Source.Running(ctx)
}

func (s pageHook) Modified(ctx context.Context, since time.Time) iter.Seq2[[]labeling.Job, error] {
	return func(yield func([]labeling.Job, error) bool) {
		n := 0
		for page, err := range s.Source.Modified(ctx, since) {
			if err == nil {
				n++
				s.after(n)
			}
			if !yield(page, err) {
				return
			}
		}
	}
}

func (s pageHook) Created(ctx context.Context, after time.Time) iter.Seq2[[]labeling.Job, error] {
	return func(yield func([]labeling.Job, error) bool) {
		n := 0
		for page, err := range s.Source.Created(ctx, after) {
			if err == nil {
				n++
				s.after(n)
			}
			if !yield(page, err) {
				return
			}
		}
	}
}

func (h *harness) watcher(s setup) *watch.Watcher {
	o := s.opts
	if o.Rules.AlertOn == nil {
		o.Rules = defaultRules()
	}
	if o.Overlap == 0 {
		o.Overlap = 10 * time.Minute
	}
	if o.DeadlineMargin == 0 {
		o.DeadlineMargin = 5 * time.Second
	}
	store := s.store
	if store == nil {
		store = h.store
	}
	log := slog.New(slog.NewJSONHandler(h.logs, nil))
	var source watch.Source = labeling.NewSource(h.sm, labeling.Filter{NameContains: s.nameContains, CreatedAfter: s.createdAfter})
	if s.afterPage != nil || s.listingRunning != nil {
		after := s.afterPage
		if after == nil {
			after = func(int) {}
		}
		source = pageHook{Source: source, after: after, running: s.listingRunning}
	}
	var notifier watch.Notifier = h.sender
	if s.notifier != nil {
		notifier = s.notifier
	}
	return watch.New(source, store, notifier, log, h.clock, o)
}

// bot is a sender with the bot token, which can edit: cards need it.
func (h *harness) bot() *slack.Sender {
	return slack.NewBotSender(testenv.SlackToken, testenv.SlackChannel, h.slack.APIURL(), &http.Client{Timeout: 10 * time.Second}, h.clock)
}

// runCtx runs one cycle of w with ctx; its error never shows the webhook URL.
func (h *harness) runCtx(ctx context.Context, w *watch.Watcher) (watch.Summary, error) {
	h.t.Helper()
	sum, err := w.Poll(ctx)
	if err != nil && strings.Contains(err.Error(), "SECRET") {
		h.t.Errorf("Run's error shows the webhook URL: %v", err)
	}
	return sum, err
}

// mustRun runs one cycle of a watcher built from s, which must succeed.
func (h *harness) mustRun(s setup) watch.Summary {
	h.t.Helper()
	sum, err := h.runCtx(h.t.Context(), h.watcher(s))
	if err != nil {
		h.t.Fatalf("Run: %v (summary %+v)", err, sum)
	}
	return sum
}

// put adds jobs to the emulator.
func (h *harness) put(jobs ...labeling.Job) {
	for _, j := range jobs {
		h.emu.Put(j)
	}
}

// set moves the named jobs to status at the clock's now, changing them
// further with more.
func (h *harness) set(status labeling.Status, names []string, more ...func(*labeling.Job)) {
	h.t.Helper()
	for _, name := range names {
		ok := h.emu.Update(name, func(j *labeling.Job) {
			j.Status = status
			for _, f := range more {
				f(j)
			}
		})
		if !ok {
			h.t.Fatalf("no job %q in the emulator", name)
		}
	}
}

// job is a job in status, last modified at modified and created a minute
// before.
func job(name string, status labeling.Status, modified time.Time) labeling.Job {
	return labeling.Job{
		Name: name, Status: status, CreatedAt: modified.Add(-time.Minute), ModifiedAt: modified,
		Counters: labeling.Counters{Total: 90, Human: 60, Machine: 30, Unlabeled: 10},
	}
}

// jobs puts n jobs prefix-000, prefix-001, ... in status, modified at
// modified, and returns their names.
func (h *harness) jobs(prefix string, n int, status labeling.Status, modified time.Time) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%03d", prefix, i)
		h.put(job(names[i], status, modified))
	}
	return names
}

// records loads the stored records of names, a batch at a time.
func (h *harness) records(names ...string) map[string]state.Record {
	h.t.Helper()
	all := map[string]state.Record{}
	for batch := range slices.Chunk(names, state.MaxBatch) {
		recs, err := h.store.Store.Load(h.t.Context(), batch)
		if err != nil {
			h.t.Fatal(err)
		}
		for k, v := range recs {
			all[k] = v
		}
	}
	return all
}

// checkStored checks that each named job is stored in status, with no claim
// left on it, and alerted or not.
func (h *harness) checkStored(status labeling.Status, alerted bool, names ...string) {
	h.t.Helper()
	recs := h.records(names...)
	for _, name := range names {
		rec, ok := recs[name]
		switch {
		case !ok:
			h.t.Errorf("%s: not stored, want %s", name, status)
		case rec.Status != status:
			h.t.Errorf("%s: stored %q, want %q", name, rec.Status, status)
		case rec.Lease != nil:
			h.t.Errorf("%s: claim left on the record: %+v", name, *rec.Lease)
		case rec.AlertedAt.IsZero() == alerted:
			h.t.Errorf("%s: alerted at %v, want alerted %v", name, rec.AlertedAt, alerted)
		}
	}
}

// checkNotStored checks that no named job has a record.
func (h *harness) checkNotStored(names ...string) {
	h.t.Helper()
	for name, rec := range h.records(names...) {
		h.t.Errorf("%s: stored %+v, want no record", name, rec)
	}
}

func (h *harness) cursor() (time.Time, bool) {
	h.t.Helper()
	c, ok, err := h.store.Cursor(h.t.Context())
	if err != nil {
		h.t.Fatal(err)
	}
	return c.At, ok
}

// listCalls is the ListLabelingJobs calls the cycles made so far.
func (h *harness) listCalls() int {
	return h.emu.Calls("ListLabelingJobs")
}

// message is one Slack message as the webhook received it.
type message testenv.SlackMessage

func (h *harness) messages() []message {
	h.t.Helper()
	var msgs []message
	for _, m := range h.slack.Messages() {
		if m.Text == "" || len(m.Blocks) == 0 {
			h.t.Errorf("message without text fallback or blocks: %s", m.Raw)
		}
		msgs = append(msgs, message(m))
	}
	return msgs
}

// mrkdwn is every text of m that Slack reads as mrkdwn: the fallback text
// and each text object of type mrkdwn.
func (m message) mrkdwn() []string {
	texts := []string{m.Text}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if v["type"] == "mrkdwn" {
				if s, ok := v["text"].(string); ok {
					texts = append(texts, s)
				}
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	for _, b := range m.Blocks {
		var v any
		_ = json.Unmarshal(b, &v)
		walk(v)
	}
	return texts
}

// all is the text of m and of its blocks, decoded.
func (m message) all() string {
	return strings.Join(m.mrkdwn(), "\n") + "\n" + m.header()
}

// header is the text of m's header block.
func (m message) header() string {
	for _, b := range m.Blocks {
		var hb struct {
			Type string `json:"type"`
			Text struct {
				Text string `json:"text"`
			} `json:"text"`
		}
		if json.Unmarshal(b, &hb) == nil && hb.Type == "header" {
			return hb.Text.Text
		}
	}
	return ""
}

// about is the messages whose fallback text names job.
func about(msgs []message, job string) []message {
	var out []message
	word := regexp.MustCompile(`(^|\s)` + regexp.QuoteMeta(job) + `(\s|$)`)
	for _, m := range msgs {
		if word.MatchString(m.Text) {
			out = append(out, m)
		}
	}
	return out
}

// checkEachOnce checks that msgs are exactly one single-job message per name.
func checkEachOnce(t *testing.T, msgs []message, names ...string) {
	t.Helper()
	if len(msgs) != len(names) {
		t.Errorf("%d messages, want %d (one per job)", len(msgs), len(names))
	}
	for _, name := range names {
		if got := about(msgs, name); len(got) != 1 {
			t.Errorf("%d messages about %s, want 1", len(got), name)
		}
	}
}

// checkSummary compares the counts of sum with want's; Cursor and Duration
// are not compared, nor Known, which the cases about the cursor's Seen check
// (with the loads it saves).
func checkSummary(t *testing.T, sum, want watch.Summary) {
	t.Helper()
	sum.Cursor, sum.DurationMS, sum.Unread = time.Time{}, 0, 0
	if sum != want {
		t.Errorf("summary\n got %+v\nwant %+v", sum, want)
	}
}

// checkWaits checks that the cycles waited on the clock for exactly want, in
// order: pacing and backoff take no real time on the fake clock, so its
// waits are what shows them.
func checkWaits(t *testing.T, c *testenv.Clock, want ...time.Duration) {
	t.Helper()
	if got := c.Waits(); !slices.Equal(got, want) {
		t.Errorf("waited %v, want %v", got, want)
	}
}

// cycleCase is one behaviour of the cycle, run against every backend.
type cycleCase struct {
	name string
	run  func(t *testing.T, h *harness)
}

func TestCycle(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range cycleCases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.run(t, newHarness(t, b))
				})
			}
		})
	}
}

var cycleCases = []cycleCase{
	{"first run records the jobs running or ended within LOOKBACK and alerts only recent endings", func(t *testing.T, h *harness) {
		now := h.clock.Now()
		old := now.Add(-48 * time.Hour)
		var olds []string
		for i, st := range []labeling.Status{completed, failed, stopped, completed, failed} {
			name := fmt.Sprintf("old-%d", i)
			olds = append(olds, name)
			h.put(job(name, st, old.Add(time.Duration(i)*time.Minute)))
		}
		recent := job("recent-failure", failed, now.Add(-10*time.Minute))
		recent.FailureReason = "ClientError: the manifest s3://bucket/in.manifest was not found"
		h.put(recent, job("running", inProgress, now.Add(-5*time.Minute)), job("just-old", completed, now.Add(-time.Hour-time.Second)))

		sum := h.mustRun(setup{})
		// The jobs that ended before LOOKBACK (before the first run began,
		// less the clock skew) need no record; just-old ended within it of
		// that, and is recorded, not alerted: LOOKBACK counts to now.
		checkSummary(t, sum, watch.Summary{FirstRun: true, Listed: 8, Transitions: 3, Recorded: 2, Alerted: 1, Advanced: true})
		msgs := h.messages()
		checkEachOnce(t, msgs, "recent-failure")
		if len(msgs) == 1 && !strings.Contains(msgs[0].all(), "the manifest s3://bucket/in.manifest was not found") {
			t.Errorf("alert does not quote the failure reason:\n%s", msgs[0].all())
		}
		h.checkStored(failed, true, "recent-failure")
		h.checkStored(inProgress, false, "running")
		h.checkStored(completed, false, "just-old")
		h.checkNotStored(olds...)
		// The cursor is when the listing began, less the clock skew: later
		// than the newest modification listed (5 minutes before).
		if c, ok := h.cursor(); !ok || !c.Equal(now.Add(-watch.DefaultClockSkew)) {
			t.Errorf("cursor %v (set %v), want %v", c, ok, now.Add(-watch.DefaultClockSkew))
		}

		h.clock.Advance(time.Minute)
		sum = h.mustRun(setup{})
		// Only what changed since the cursor less the overlap is listed
		// again; recent-failure drops out of the next window, so the
		// cursor moves.
		checkSummary(t, sum, watch.Summary{Listed: 2, Advanced: true})
		if n := len(h.messages()); n != 1 {
			t.Errorf("%d messages after the second run, want still 1", n)
		}
	}},

	{"first run with no jobs sets the cursor, and the next job alerts", func(t *testing.T, h *harness) {
		sum := h.mustRun(setup{})
		checkSummary(t, sum, watch.Summary{FirstRun: true, Advanced: true})
		want := h.clock.Now().Add(-watch.DefaultClockSkew)
		if c, ok := h.cursor(); !ok || !c.Equal(want.Truncate(time.Millisecond)) {
			t.Errorf("cursor %v (set %v), want the clock skew before the run, %v", c, ok, want)
		}
		h.put(job("later", failed, h.clock.Advance(time.Minute)))
		sum = h.mustRun(setup{})
		checkSummary(t, sum, watch.Summary{Listed: 1, Transitions: 1, Alerted: 1, Advanced: true})
		checkEachOnce(t, h.messages(), "later")
	}},

	{"each alerting transition is alerted once", func(t *testing.T, h *harness) {
		now := h.clock.Now()
		h.put(job("to-completed", inProgress, now.Add(-30*time.Minute)),
			job("to-failed", inProgress, now.Add(-30*time.Minute)),
			job("to-stopped", stopping, now.Add(-30*time.Minute)),
			job("unchanged", inProgress, now.Add(-30*time.Minute)))
		h.mustRun(setup{})

		at := h.clock.Advance(time.Minute)
		h.set(completed, []string{"to-completed"}, func(j *labeling.Job) {
			j.Counters = labeling.Counters{Total: 100, Human: 70, Machine: 30}
			j.OutputManifest = "s3://bucket/out/to-completed/output.manifest"
		})
		h.set(failed, []string{"to-failed"}, func(j *labeling.Job) { j.FailureReason = "AlgorithmError: out of memory" })
		h.set(stopped, []string{"to-stopped"})
		sum := h.mustRun(setup{})
		// "unchanged", modified before the first run's OVERLAP, is not
		// listed again: the first run moved the cursor past it.
		checkSummary(t, sum, watch.Summary{Listed: 3, Transitions: 3, Alerted: 3, Advanced: true})

		msgs := h.messages()
		checkEachOnce(t, msgs, "to-completed", "to-failed", "to-stopped")
		for name, want := range map[string][]string{
			"to-completed": {"✅ to-completed completed after", "✅ Labeling job completed: to-completed", "100 (70 human, 30 machine)", "Output manifest"},
			"to-failed":    {"❌ to-failed failed after", "AlgorithmError: out of memory"},
			"to-stopped":   {"🛑 to-stopped stopped after"},
		} {
			for _, m := range about(msgs, name) {
				for _, w := range want {
					if !strings.Contains(m.all(), w) {
						t.Errorf("message about %s does not say %q:\n%s", name, w, m.all())
					}
				}
			}
		}
		h.checkStored(completed, true, "to-completed")
		h.checkStored(failed, true, "to-failed")
		h.checkStored(stopped, true, "to-stopped")
		h.checkStored(inProgress, false, "unchanged")
		if rec := h.records("to-failed")["to-failed"]; !rec.AlertedAt.Equal(at) || !rec.ModifiedAt.Equal(at) {
			t.Errorf("to-failed stored as alerted at %v, modified at %v; want both %v", rec.AlertedAt, rec.ModifiedAt, at)
		}

		for range 3 {
			h.clock.Advance(time.Minute)
			h.mustRun(setup{})
		}
		if n := len(h.messages()); n != 3 {
			t.Errorf("%d messages after three more runs, want still 3", n)
		}
	}},

	{"silent transitions are recorded without a message", func(t *testing.T, h *harness) {
		h.put(job("starting", initializing, h.clock.Now()), job("winding-down", inProgress, h.clock.Now()))
		h.mustRun(setup{})

		h.clock.Advance(time.Minute)
		h.set(inProgress, []string{"starting"})
		h.set(stopping, []string{"winding-down"})
		sum := h.mustRun(setup{})
		checkSummary(t, sum, watch.Summary{Listed: 2, Transitions: 2, Recorded: 2, Advanced: true})
		if n := len(h.messages()); n != 0 {
			t.Errorf("%d messages for silent transitions, want 0", n)
		}
		h.checkStored(inProgress, false, "starting")
		h.checkStored(stopping, false, "winding-down")

		h.clock.Advance(time.Minute)
		h.set(stopped, []string{"winding-down"})
		h.mustRun(setup{})
		msgs := h.messages()
		checkEachOnce(t, msgs, "winding-down")
		if len(msgs) == 1 && !strings.Contains(msgs[0].Text, "winding-down stopped after") {
			t.Errorf("message %q does not tell the stop", msgs[0].Text)
		}
	}},

	{"ALERT_ON only Failed", func(t *testing.T, h *harness) {
		only := setup{opts: watch.Options{Rules: watch.Rules{AlertOn: map[labeling.Status]bool{failed: true}, Lookback: time.Hour}}}
		now := h.clock.Now()
		h.put(job("fails", inProgress, now), job("completes", inProgress, now), job("stops", inProgress, now),
			job("failed-before", failed, now.Add(-time.Minute)), job("completed-before", completed, now.Add(-time.Minute)))
		h.mustRun(only)
		checkEachOnce(t, h.messages(), "failed-before")

		h.clock.Advance(time.Minute)
		h.set(failed, []string{"fails"})
		h.set(completed, []string{"completes"})
		h.set(stopping, []string{"stops"})
		sum := h.mustRun(only)
		checkSummary(t, sum, watch.Summary{Listed: 5, Transitions: 3, Recorded: 2, Alerted: 1, Advanced: true})
		checkEachOnce(t, h.messages(), "failed-before", "fails")
		h.checkStored(completed, false, "completes")
		h.checkStored(stopping, false, "stops")

		h.clock.Advance(time.Minute)
		h.set(stopped, []string{"stops"})
		h.mustRun(only)
		h.checkStored(stopped, false, "stops")
		if n := len(h.messages()); n != 2 {
			t.Errorf("%d messages, want 2", n)
		}
	}},

	{"ALERT_ON with Stopping and no Completed", func(t *testing.T, h *harness) {
		custom := setup{opts: watch.Options{Rules: watch.Rules{AlertOn: map[labeling.Status]bool{stopping: true, stopped: true}, Lookback: time.Hour}}}
		h.put(job("stops", inProgress, h.clock.Now()), job("completes", inProgress, h.clock.Now()))
		h.mustRun(custom)
		h.clock.Advance(time.Minute)
		h.set(stopping, []string{"stops"})
		h.set(completed, []string{"completes"})
		h.mustRun(custom)
		h.clock.Advance(time.Minute)
		h.set(stopped, []string{"stops"})
		h.mustRun(custom)
		msgs := h.messages()
		if len(msgs) != 2 || len(about(msgs, "stops")) != 2 || !strings.Contains(msgs[0].Text, "stops is stopping") || !strings.Contains(msgs[1].Text, "stops stopped after") {
			t.Errorf("messages %+v, want one for Stopping, then one for Stopped", msgs)
		}
		h.checkStored(completed, false, "completes")
	}},

	{"NAME_CONTAINS leaves other jobs alone", func(t *testing.T, h *harness) {
		filtered := setup{nameContains: "team-a"}
		now := h.clock.Now()
		h.put(job("team-a-cats", inProgress, now), job("TEAM-A-birds", inProgress, now), job("team-b-dogs", inProgress, now))
		h.mustRun(filtered)
		h.clock.Advance(time.Minute)
		h.set(failed, []string{"team-a-cats", "TEAM-A-birds", "team-b-dogs"})
		sum := h.mustRun(filtered)
		checkSummary(t, sum, watch.Summary{Listed: 2, Transitions: 2, Alerted: 2, Advanced: true})
		checkEachOnce(t, h.messages(), "team-a-cats", "TEAM-A-birds")
		h.checkStored(failed, true, "team-a-cats", "TEAM-A-birds")
		h.checkNotStored("team-b-dogs")
	}},

	{"IGNORE_CREATED_BEFORE leaves older jobs alone", func(t *testing.T, h *harness) {
		floor := h.clock.Now().Add(-24 * time.Hour)
		filtered := setup{createdAfter: floor}
		mk := func(name string, created time.Time) labeling.Job {
			return labeling.Job{Name: name, Status: inProgress, CreatedAt: created, ModifiedAt: h.clock.Now()}
		}
		h.put(mk("ancient", floor.Add(-time.Hour)), mk("just-before", floor.Add(-time.Millisecond)),
			mk("at-floor", floor), mk("fresh", floor.Add(time.Hour)))
		h.mustRun(filtered)
		h.clock.Advance(time.Minute)
		h.set(failed, []string{"ancient", "just-before", "at-floor", "fresh"})
		sum := h.mustRun(filtered)
		checkSummary(t, sum, watch.Summary{Listed: 2, Transitions: 2, Alerted: 2, Advanced: true})
		checkEachOnce(t, h.messages(), "at-floor", "fresh")
		h.checkNotStored("ancient", "just-before")
	}},

	{"250 jobs changing at once: pages, one load per page, one digest", func(t *testing.T, h *harness) {
		names := h.jobs("bulk", 250, inProgress, h.clock.Now())
		sum := h.mustRun(setup{})
		checkSummary(t, sum, watch.Summary{FirstRun: true, Listed: 250, Transitions: 250, Recorded: 250, Advanced: true})
		if calls := h.listCalls(); calls != 3 {
			t.Errorf("first run: %d list calls, want 3 pages", calls)
		}
		if loads := h.store.takeLoads(); !slices.Equal(loads, []int{100, 100, 50}) {
			t.Errorf("first run: loads of %v jobs, want one per page: [100 100 50]", loads)
		}

		h.clock.Advance(time.Minute)
		h.set(completed, names)
		before := h.listCalls()
		sum = h.mustRun(setup{})
		checkSummary(t, sum, watch.Summary{Listed: 250, Transitions: 250, Alerted: 250, Digest: true, Advanced: true})
		if calls := h.listCalls() - before; calls != 3 {
			t.Errorf("%d list calls, want 3 pages", calls)
		}
		if loads := h.store.takeLoads(); !slices.Equal(loads, []int{100, 100, 50}) {
			t.Errorf("loads of %v jobs, want one per page: [100 100 50]", loads)
		}
		msgs := h.messages()
		if len(msgs) != 1 || !strings.HasPrefix(msgs[0].Text, "250 labeling jobs finished: 250 completed") {
			t.Fatalf("%d messages (%v), want one digest of 250 alerts", len(msgs), msgs)
		}
		h.checkStored(completed, true, names...)

		h.clock.Advance(time.Minute)
		sum = h.mustRun(setup{})
		checkSummary(t, sum, watch.Summary{Listed: 250})
		if n := len(h.messages()); n != 1 {
			t.Errorf("%d messages after a run with no change, want still 1", n)
		}
		if loads := h.store.takeLoads(); len(loads) != 0 {
			t.Errorf("a run with no change loaded %v jobs, want no load", loads)
		}
	}},

	{"jobs listed as the cursor saw them are not read again", func(t *testing.T, h *harness) {
		now := h.clock.Now()
		h.put(job("window-a", inProgress, now.Add(-3*time.Minute)), job("window-b", stopping, now.Add(-2*time.Minute)),
			job("window-c", initializing, now), job("before-window", inProgress, now.Add(-time.Hour)))
		h.mustRun(setup{})
		c, _, err := h.store.Cursor(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		// The overlap window ends at the cursor, the newest job listed.
		if got := slices.Sorted(maps.Keys(c.Seen)); !slices.Equal(got, []string{"window-a", "window-b", "window-c"}) {
			t.Errorf("the cursor saw %v, want the three jobs in its overlap window", got)
		}
		h.store.takeLoads()

		for i := range 3 {
			h.clock.Advance(time.Minute)
			sum := h.mustRun(setup{})
			checkSummary(t, sum, watch.Summary{Listed: 3})
			if sum.Unread != 3 {
				t.Errorf("quiet run %d: %d jobs known, want 3", i+1, sum.Unread)
			}
			if loads := h.store.takeLoads(); len(loads) != 0 {
				t.Errorf("quiet run %d: loads of %v jobs, want none", i+1, loads)
			}
		}
	}},

	{"a job changed in the overlap window is read and alerted once", func(t *testing.T, h *harness) {
		names := h.jobs("window", 150, inProgress, h.clock.Now())
		h.mustRun(setup{})
		h.store.takeLoads()

		// 20 jobs change across both pages of the listing: one load of 20.
		h.clock.Advance(time.Minute)
		h.set(failed, names[90:110])
		sum := h.mustRun(setup{})
		checkSummary(t, sum, watch.Summary{Listed: 150, Transitions: 20, Alerted: 20, Digest: true, Advanced: true})
		if sum.Unread != 130 {
			t.Errorf("%d jobs known, want the 130 unchanged", sum.Unread)
		}
		if loads := h.store.takeLoads(); !slices.Equal(loads, []int{20}) {
			t.Errorf("loads of %v jobs, want one of the 20 changed", loads)
		}
		h.checkStored(failed, true, names[90:110]...)

		h.clock.Advance(time.Minute)
		sum = h.mustRun(setup{})
		checkSummary(t, sum, watch.Summary{Listed: 150})
		if loads := h.store.takeLoads(); len(loads) != 0 {
			t.Errorf("after the change: loads of %v jobs, want none", loads)
		}
		if msgs := h.messages(); len(msgs) != 1 || !strings.HasPrefix(msgs[0].Text, "20 labeling jobs finished: 20 failed") {
			t.Errorf("%d messages, want one digest of 20 alerts", len(msgs))
		}
	}},

	{"a job changed again in the millisecond its listing showed is alerted", func(t *testing.T, h *harness) {
		h.put(job("twice", initializing, h.clock.Now()))
		h.mustRun(setup{})
		h.clock.Advance(time.Minute)
		h.set(inProgress, []string{"twice"})
		// Once the page is listed, the job fails, stamped with the same
		// instant: the cursor's Seen holds the time it fails at too.
		failsAfterListing := setup{afterPage: func(int) { h.set(failed, []string{"twice"}) }}
		sum := h.mustRun(failsAfterListing)
		checkSummary(t, sum, watch.Summary{Listed: 1, Transitions: 1, Recorded: 1, Advanced: true})
		h.checkStored(inProgress, false, "twice")
		h.store.takeLoads()

		h.clock.Advance(time.Minute)
		sum = h.mustRun(setup{})
		checkSummary(t, sum, watch.Summary{Listed: 1, Transitions: 1, Alerted: 1})
		if loads := h.store.takeLoads(); !slices.Equal(loads, []int{1}) {
			t.Errorf("loads of %v jobs, want the failed job read", loads)
		}
		checkEachOnce(t, h.messages(), "twice")
		h.checkStored(failed, true, "twice")
	}},

	{"a job that becomes visible late inside the overlap window is alerted once", func(t *testing.T, h *harness) {
		h.put(job("on-time", inProgress, h.clock.Now()))
		h.mustRun(setup{})
		cursor, _ := h.cursor()
		h.store.takeLoads()

		// It failed two minutes before the cursor, but the listing that set
		// the cursor did not show it yet.
		h.clock.Advance(time.Minute)
		h.put(job("late", failed, cursor.Add(-2*time.Minute)))
		sum := h.mustRun(setup{})
		// Nothing is newer than the cursor, so it stays.
		checkSummary(t, sum, watch.Summary{Listed: 2, Transitions: 1, Alerted: 1})
		if sum.Unread != 1 {
			t.Errorf("%d jobs known, want 1 (on-time)", sum.Unread)
		}
		if loads := h.store.takeLoads(); !slices.Equal(loads, []int{1}) {
			t.Errorf("loads of %v jobs, want the late job read", loads)
		}
		checkEachOnce(t, h.messages(), "late")
		h.checkStored(failed, true, "late")

		// The cursor did not move, so it does not know the late job: it is
		// read again, and found alerted.
		h.clock.Advance(time.Minute)
		sum = h.mustRun(setup{})
		checkSummary(t, sum, watch.Summary{Listed: 2})
		if loads := h.store.takeLoads(); !slices.Equal(loads, []int{1}) {
			t.Errorf("next run: loads of %v jobs, want the late job read", loads)
		}
		checkEachOnce(t, h.messages(), "late")
	}},

	{"a listing older than the cursor saw is read and found stale", func(t *testing.T, h *harness) {
		h.put(job("lagging", inProgress, h.clock.Now()))
		h.mustRun(setup{})
		h.clock.Advance(time.Minute)
		h.set(completed, []string{"lagging"})
		h.mustRun(setup{})
		checkEachOnce(t, h.messages(), "lagging")
		current, _ := h.emu.Job("lagging")
		h.store.takeLoads()

		// A lagging replica shows the job as it was, stamped earlier.
		h.emu.Update("lagging", func(j *labeling.Job) {
			j.Status, j.ModifiedAt = inProgress, current.ModifiedAt.Add(-30*time.Second)
		})
		h.clock.Advance(time.Minute)
		sum := h.mustRun(setup{})
		checkSummary(t, sum, watch.Summary{Listed: 1, Stale: 1})
		if loads := h.store.takeLoads(); !slices.Equal(loads, []int{1}) {
			t.Errorf("loads of %v jobs, want the stale listing read", loads)
		}
		h.checkStored(completed, true, "lagging")

		// Shown as it is again, the job is as the cursor saw it.
		h.emu.Update("lagging", func(j *labeling.Job) { *j = current })
		h.clock.Advance(time.Minute)
		sum = h.mustRun(setup{})
		checkSummary(t, sum, watch.Summary{Listed: 1})
		if loads := h.store.takeLoads(); sum.Unread != 1 || len(loads) != 0 {
			t.Errorf("%d jobs known, loads of %v; want the job known and no load", sum.Unread, loads)
		}
		checkEachOnce(t, h.messages(), "lagging")
	}},

	{"a listing that fails part-way changes nothing", func(t *testing.T, h *harness) {
		h.put(job("seed", inProgress, h.clock.Now().Add(-time.Hour)))
		h.mustRun(setup{})
		before, _ := h.cursor()
		h.clock.Advance(time.Minute)
		names := h.jobs("new", 110, inProgress, h.clock.Now())
		h.set(failed, names[:1])

		failPage2 := setup{afterPage: func(page int) {
			if page == 1 {
				h.emu.FailNext(1, emulator.ServiceUnavailable)
			}
		}}
		sum, err := h.runCtx(t.Context(), h.watcher(failPage2))
		var resp *awshttp.ResponseError
		if !errors.As(err, &resp) || resp.HTTPStatusCode() != http.StatusServiceUnavailable || !strings.Contains(err.Error(), "list labeling jobs page 2") {
			t.Fatalf("Run: %v, want the 503 of page 2", err)
		}
		if sum.Transitions != 0 || sum.Recorded != 0 || sum.Alerted != 0 || sum.Advanced {
			t.Errorf("summary %+v, want nothing done", sum)
		}
		h.checkNotStored(names...)
		if n := h.slack.Requests(); n != 0 {
			t.Errorf("%d posts from a run whose listing failed", n)
		}
		if c, _ := h.cursor(); !c.Equal(before) {
			t.Errorf("cursor moved by a run whose listing failed")
		}

		sum = h.mustRun(setup{})
		checkSummary(t, sum, watch.Summary{Listed: 110, Transitions: 110, Recorded: 109, Alerted: 1, Advanced: true})
		checkEachOnce(t, h.messages(), names[0])
	}},

	{"a failed state load is reported as the cause", func(t *testing.T, h *harness) {
		// The seed, which the cursor will know, is created last, so it is
		// listed last: page 1 is 100 jobs to read, a full batch.
		seed := job("seed", inProgress, h.clock.Now().Add(-time.Hour))
		seed.CreatedAt = seed.ModifiedAt.Add(-time.Minute)
		h.put(seed)
		h.mustRun(setup{})
		h.clock.Advance(time.Minute)
		names := h.jobs("new", 110, failed, h.clock.Now())

		// Page 1's load fails while page 2 is still being listed: the
		// emulator holds page 2 until the cycle gives up on it. The run
		// reports the load, not the listing it cancelled, and neither
		// records nor posts.
		errLoad := errors.New("table throttled")
		broken := setup{
			store: &failingLoad{Store: h.store, err: errLoad},
			afterPage: func(page int) {
				if page == 1 {
					h.emu.SetLatency(time.Hour)
				}
			},
		}
		_, err := h.runCtx(t.Context(), h.watcher(broken))
		if !errors.Is(err, errLoad) {
			t.Fatalf("Run: %v, want the load's error", err)
		}
		h.emu.SetLatency(0)
		h.checkNotStored(names...)
		if n := h.slack.Requests(); n != 0 {
			t.Errorf("%d posts from a run that could not load its state", n)
		}

		sum := h.mustRun(setup{})
		checkSummary(t, sum, watch.Summary{Listed: 110, Transitions: 110, Alerted: 110, Digest: true, Advanced: true})
	}},

	{"a job is alerted once across 20 cycles", func(t *testing.T, h *harness) {
		// A long overlap lists the job again in every cycle.
		relist := setup{opts: watch.Options{Overlap: 24 * time.Hour}}
		h.put(job("once", inProgress, h.clock.Now()), job("bystander", inProgress, h.clock.Now()))
		h.mustRun(relist)
		h.clock.Advance(time.Minute)
		h.set(failed, []string{"once"}, func(j *labeling.Job) { j.FailureReason = "ClientError: bad manifest" })
		for i := range 20 {
			h.clock.Advance(5 * time.Minute)
			sum := h.mustRun(relist)
			if sum.Listed != 2 {
				t.Errorf("cycle %d listed %d jobs, want 2", i+1, sum.Listed)
			}
		}
		checkEachOnce(t, h.messages(), "once")
		h.checkStored(failed, true, "once")
	}},

	{"Slack outage keeps the alert pending, recovery delivers it once", func(t *testing.T, h *harness) {
		h.put(job("outage", inProgress, h.clock.Now()), job("quiet", inProgress, h.clock.Now()))
		h.mustRun(setup{})
		before, _ := h.cursor()

		h.clock.Advance(time.Minute)
		h.set(failed, []string{"outage"})
		h.set(stopping, []string{"quiet"})
		h.slack.FailNext(watch.DefaultRetrier.Attempts, testenv.SlackFault{Status: http.StatusServiceUnavailable, Body: "service unavailable"})
		sum, err := h.runCtx(t.Context(), h.watcher(setup{}))
		if !errors.Is(err, watch.ErrPending) {
			t.Fatalf("Run: %v, want ErrPending", err)
		}
		checkSummary(t, sum, watch.Summary{Listed: 2, Transitions: 2, Recorded: 1, Pending: 1})
		if got := h.slack.Requests(); got != watch.DefaultRetrier.Attempts {
			t.Errorf("%d posts, want %d (every attempt)", got, watch.DefaultRetrier.Attempts)
		}
		if w := h.clock.Waits(); len(w) != watch.DefaultRetrier.Attempts-1 {
			t.Errorf("waited %v, want a backoff before each retry", w)
		}
		if n := len(h.messages()); n != 0 {
			t.Fatalf("%d messages accepted during the outage", n)
		}
		h.checkStored(inProgress, false, "outage") // not committed, claim released
		h.checkStored(stopping, false, "quiet")
		if c, _ := h.cursor(); !c.Equal(before) {
			t.Errorf("cursor moved from %v to %v with an alert pending", before, c)
		}

		h.clock.Advance(time.Minute)
		sum = h.mustRun(setup{})
		checkSummary(t, sum, watch.Summary{Listed: 2, Transitions: 1, Alerted: 1, Advanced: true})
		checkEachOnce(t, h.messages(), "outage")
		h.checkStored(failed, true, "outage")

		h.clock.Advance(time.Minute)
		h.mustRun(setup{})
		checkEachOnce(t, h.messages(), "outage")
	}},

	{"one job's failed post does not stop the others", func(t *testing.T, h *harness) {
		h.put(job("a-first", inProgress, h.clock.Now()), job("b-second", inProgress, h.clock.Now()))
		h.mustRun(setup{})
		before, _ := h.cursor()
		h.clock.Advance(time.Minute)
		h.set(failed, []string{"a-first", "b-second"})
		// Alerts go out by job name: a-first meets a final error.
		h.slack.FailNext(1, testenv.SlackFault{Status: http.StatusNotFound, Body: "no_service"})
		sum, err := h.runCtx(t.Context(), h.watcher(setup{}))
		if !errors.Is(err, watch.ErrPending) {
			t.Fatalf("Run: %v, want ErrPending", err)
		}
		checkSummary(t, sum, watch.Summary{Listed: 2, Transitions: 2, Alerted: 1, Pending: 1})
		if got := h.slack.Requests(); got != 2 {
			t.Errorf("%d posts, want 2 (a final error is not retried)", got)
		}
		checkEachOnce(t, h.messages(), "b-second")
		h.checkStored(inProgress, false, "a-first")
		h.checkStored(failed, true, "b-second")
		if c, _ := h.cursor(); !c.Equal(before) {
			t.Errorf("cursor moved with an alert pending")
		}

		h.clock.Advance(time.Minute)
		h.mustRun(setup{})
		checkEachOnce(t, h.messages(), "a-first", "b-second")
	}},

	{"Slack answers that are retried within the run", func(t *testing.T, h *harness) {
		h.put(job("throttled", inProgress, h.clock.Now()), job("proxied", inProgress, h.clock.Now()))
		h.mustRun(setup{})
		h.clock.Advance(time.Minute)
		h.set(completed, []string{"throttled", "proxied"})
		// Alerts go out by job name, so proxied meets both faults: a 200
		// that is not Slack's "ok", then a 429; its third try gets through.
		h.slack.FailNext(1, testenv.SlackFault{Status: http.StatusOK, Body: "<html>captive portal</html>"})
		h.slack.FailNext(1, testenv.SlackRateLimit("0"))
		sum := h.mustRun(setup{})
		checkSummary(t, sum, watch.Summary{Listed: 2, Transitions: 2, Alerted: 2, Advanced: true})
		if got := h.slack.Requests(); got != 4 {
			t.Errorf("%d posts, want 4", got)
		}
		// A Retry-After of 0 asks for no wait of its own: the backoff stands.
		if w := h.clock.Waits(); len(w) != 2 || w[0] <= 0 || w[1] <= 0 {
			t.Errorf("waited %v, want a backoff before each of the two retries", w)
		}
		checkEachOnce(t, h.messages(), "throttled", "proxied")
	}},

	{"posts are paced Pace apart", func(t *testing.T, h *harness) {
		paced := setup{opts: watch.Options{Pace: time.Second}}
		names := h.jobs("paced", 3, inProgress, h.clock.Now())
		h.mustRun(paced)
		at := h.clock.Advance(time.Minute)
		h.set(failed, names)
		sum := h.mustRun(paced)
		checkSummary(t, sum, watch.Summary{Listed: 3, Transitions: 3, Alerted: 3, Advanced: true})
		checkEachOnce(t, h.messages(), names...)
		// The first post goes at once, each later one a second after the
		// one before; each alert is committed as the clock stood then.
		checkWaits(t, h.clock, time.Second, time.Second)
		recs := h.records(names...)
		for i, name := range names {
			if want := at.Add(time.Duration(i) * time.Second); !recs[name].AlertedAt.Equal(want) {
				t.Errorf("%s alerted at %v, want %v", name, recs[name].AlertedAt, want)
			}
		}
	}},

	{"a Retry-After is waited out before the retry", func(t *testing.T, h *harness) {
		h.put(job("a-limited", inProgress, h.clock.Now()), job("b-next", inProgress, h.clock.Now()))
		h.mustRun(setup{})
		h.clock.Advance(time.Minute)
		h.set(failed, []string{"a-limited", "b-next"})
		// Slack asks for 30 s of quiet: the retry comes then, not after the
		// half-second backoff, and the next alert follows without a wait.
		h.slack.FailNext(1, testenv.SlackRateLimit("30"))
		sum := h.mustRun(setup{})
		checkSummary(t, sum, watch.Summary{Listed: 2, Transitions: 2, Alerted: 2, Advanced: true})
		checkWaits(t, h.clock, 30*time.Second)
		checkEachOnce(t, h.messages(), "a-limited", "b-next")
	}},

	{"a Retry-After holds back the next alert's post", func(t *testing.T, h *harness) {
		h.put(job("a-limited", inProgress, h.clock.Now()), job("b-next", inProgress, h.clock.Now()))
		h.mustRun(setup{})
		at := h.clock.Advance(time.Minute)
		h.set(failed, []string{"a-limited", "b-next"})
		// With one attempt an alert, a-limited is left pending at once; the
		// run posts nothing more to the channel until Slack's 30 s passed.
		once := setup{opts: watch.Options{Retrier: watch.Retrier{Attempts: 1}}}
		h.slack.FailNext(1, testenv.SlackRateLimit("30"))
		sum, err := h.runCtx(t.Context(), h.watcher(once))
		if !errors.Is(err, watch.ErrPending) {
			t.Fatalf("Run: %v, want ErrPending", err)
		}
		checkSummary(t, sum, watch.Summary{Listed: 2, Transitions: 2, Alerted: 1, Pending: 1})
		checkWaits(t, h.clock, 30*time.Second)
		checkEachOnce(t, h.messages(), "b-next")
		if rec := h.records("b-next")["b-next"]; !rec.AlertedAt.Equal(at.Add(30 * time.Second)) {
			t.Errorf("b-next alerted at %v, want 30 s after the 429 at %v", rec.AlertedAt, at)
		}
	}},

	{"text from the API arrives escaped", func(t *testing.T, h *harness) {
		h.put(job("escaping", inProgress, h.clock.Now()))
		h.mustRun(setup{})
		h.clock.Advance(time.Minute)
		h.set(failed, []string{"escaping"}, func(j *labeling.Job) {
			j.FailureReason = "ClientError: <!channel> ping <@U123> see <https://x|y> &amp; <!here>"
			j.OutputManifest = "s3://bucket/<!everyone>/output.manifest"
			j.Workteam = "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/<@U999>"
		})
		h.mustRun(setup{})
		msgs := h.messages()
		if len(msgs) != 1 {
			t.Fatalf("%d messages, want 1", len(msgs))
		}
		for _, text := range msgs[0].mrkdwn() {
			for _, live := range []string{"<!channel>", "<@U123>", "<https://x|y>", "<!here>", "<!everyone>", "<@U999>", "&amp; "} {
				if strings.Contains(text, live) {
					t.Errorf("mrkdwn text carries %q unescaped:\n%s", live, text)
				}
			}
		}
		all := msgs[0].all()
		// A failed job's message shows no output manifest; the rest of the
		// API's text is there, escaped.
		for _, escaped := range []string{"&lt;!channel&gt;", "&lt;@U123&gt;", "&lt;https://x|y&gt;", "&amp;amp;", "&lt;@U999&gt;"} {
			if !strings.Contains(all, escaped) {
				t.Errorf("message lacks %q:\n%s", escaped, all)
			}
		}
		if !strings.Contains(msgs[0].Text, "&lt;!channel&gt; ping &lt;@U123&gt;") {
			t.Errorf("fallback text %q does not carry the escaped reason", msgs[0].Text)
		}
	}},

	{"digest above the threshold, single messages up to it", func(t *testing.T, h *harness) {
		five := setup{opts: watch.Options{DigestThreshold: 5}}
		digested := h.jobs("digest", 6, inProgress, h.clock.Now())
		single := h.jobs("single", 5, inProgress, h.clock.Now())
		late := h.jobs("late", 6, inProgress, h.clock.Now())
		h.mustRun(five)

		h.clock.Advance(time.Minute)
		h.set(failed, digested[:2], func(j *labeling.Job) { j.FailureReason = "ClientError: bad manifest" })
		h.set(completed, digested[2:])
		sum := h.mustRun(five)
		checkSummary(t, sum, watch.Summary{Listed: 17, Transitions: 6, Alerted: 6, Digest: true, Advanced: true})
		msgs := h.messages()
		if len(msgs) != 1 || !strings.HasPrefix(msgs[0].Text, "6 labeling jobs finished: 2 failed, 4 completed") {
			t.Fatalf("messages %v, want one digest of 6 alerts", msgs)
		}
		for _, name := range digested {
			if !strings.Contains(msgs[0].all(), name) {
				t.Errorf("digest does not list %s", name)
			}
		}
		h.checkStored(failed, true, digested[:2]...)
		h.checkStored(completed, true, digested[2:]...)

		h.clock.Advance(time.Minute)
		h.set(stopped, single)
		sum = h.mustRun(five)
		checkSummary(t, sum, watch.Summary{Listed: 17, Transitions: 5, Alerted: 5, Advanced: true})
		checkEachOnce(t, h.messages()[1:], single...)
		h.checkStored(stopped, true, single...)

		// A digest Slack does not take stays pending as a whole.
		before, _ := h.cursor()
		h.clock.Advance(time.Minute)
		h.set(failed, late)
		h.slack.FailNext(watch.DefaultRetrier.Attempts, testenv.SlackFault{Status: http.StatusInternalServerError})
		sum, err := h.runCtx(t.Context(), h.watcher(five))
		if !errors.Is(err, watch.ErrPending) {
			t.Fatalf("Run: %v, want ErrPending", err)
		}
		checkSummary(t, sum, watch.Summary{Listed: 17, Transitions: 6, Pending: 6, Digest: true})
		h.checkStored(inProgress, false, late...)
		if c, _ := h.cursor(); !c.Equal(before) {
			t.Errorf("cursor moved with a digest pending")
		}
		h.clock.Advance(time.Minute)
		h.mustRun(five)
		msgs = h.messages()
		if len(msgs) != 7 || !strings.HasPrefix(msgs[6].Text, "6 labeling jobs finished: 6 failed") {
			t.Errorf("%d messages, want 7, the last a digest of the 6 late ones", len(msgs))
		}
		h.checkStored(failed, true, late...)
	}},

	{"two overlapping runs post each transition once", func(t *testing.T, h *harness) {
		names := h.jobs("overlap", 30, inProgress, h.clock.Now())
		h.mustRun(setup{})
		h.clock.Advance(time.Minute)
		h.set(completed, names[:10])
		h.set(failed, names[10:20])
		h.set(stopped, names[20:])

		sums := pollOverlapping(t, h, watch.Options{DigestThreshold: 1000}, h.store)
		if a, c := sums[0].Alerted+sums[1].Alerted, sums[0].Contended+sums[1].Contended; a != 30 || c != 30 {
			t.Errorf("runs alerted %d and %d, lost %d and %d claims; want 30 alerts and 30 lost claims in all",
				sums[0].Alerted, sums[1].Alerted, sums[0].Contended, sums[1].Contended)
		}
		checkEachOnce(t, h.messages(), names...)
		h.checkStored(completed, true, names[:10]...)
		h.checkStored(failed, true, names[10:20]...)
		h.checkStored(stopped, true, names[20:]...)

		h.clock.Advance(time.Minute)
		h.mustRun(setup{})
		if n := len(h.messages()); n != 30 {
			t.Errorf("%d messages after a later run, want still 30", n)
		}
	}},

	{"a stale listing is ignored", func(t *testing.T, h *harness) {
		h.put(job("flapping", inProgress, h.clock.Now()))
		h.mustRun(setup{})
		h.clock.Advance(time.Minute)
		h.set(completed, []string{"flapping"})
		h.mustRun(setup{})
		checkEachOnce(t, h.messages(), "flapping")

		h.clock.Advance(time.Minute)
		h.set(inProgress, []string{"flapping"}) // a lagging replica answers
		sum := h.mustRun(setup{})
		checkSummary(t, sum, watch.Summary{Listed: 1, Stale: 1, Advanced: true})
		h.checkStored(completed, true, "flapping")

		h.clock.Advance(time.Minute)
		h.set(completed, []string{"flapping"})
		h.mustRun(setup{})
		checkEachOnce(t, h.messages(), "flapping")
	}},

	{"an unknown status is recorded and logged", func(t *testing.T, h *harness) {
		h.put(job("pausing", inProgress, h.clock.Now()), job("born-paused", "Paused", h.clock.Now()))
		h.mustRun(setup{})
		h.checkStored("Paused", false, "born-paused")
		h.clock.Advance(time.Minute)
		h.set("Paused", []string{"pausing"})
		sum := h.mustRun(setup{})
		checkSummary(t, sum, watch.Summary{Listed: 2, Transitions: 1, Recorded: 1, Advanced: true})
		h.checkStored("Paused", false, "pausing")
		if n := len(h.messages()); n != 0 {
			t.Errorf("%d messages for an unknown status, want 0", n)
		}
		if logs := h.logs.String(); !strings.Contains(logs, `"status":"Paused"`) {
			t.Errorf("the unknown status is not logged:\n%s", logs)
		}

		h.clock.Advance(time.Minute)
		h.set(completed, []string{"pausing", "born-paused"})
		h.mustRun(setup{})
		msgs := h.messages()
		checkEachOnce(t, msgs, "pausing", "born-paused")
		for _, m := range msgs {
			if !strings.Contains(m.Text, "(was Paused)") {
				t.Errorf("message %q does not name the unknown previous status", m.Text)
			}
		}
	}},

	{"a deadline inside the margin stops the run cleanly", func(t *testing.T, h *harness) {
		h.put(job("late", inProgress, h.clock.Now()))
		h.mustRun(setup{})
		before, _ := h.cursor()
		h.clock.Advance(time.Minute)
		h.set(failed, []string{"late"})

		// A deadline a minute away, inside a ten-minute margin: the run must
		// give up at once rather than wait for it. The minute is headroom
		// for a loaded machine, not a measure of "at once".
		margin := setup{opts: watch.Options{DeadlineMargin: 10 * time.Minute}}
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		sum, err := h.runCtx(ctx, h.watcher(margin))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Run: %v, want a deadline error", err)
		}
		if ctx.Err() != nil {
			t.Errorf("Run returned only at the deadline")
		}
		if sum.Alerted != 0 || sum.Recorded != 0 || sum.Advanced {
			t.Errorf("summary %+v, want nothing done", sum)
		}
		if h.slack.Requests() != 0 {
			t.Errorf("%d posts in a run out of time", h.slack.Requests())
		}
		h.checkStored(inProgress, false, "late")
		if c, _ := h.cursor(); !c.Equal(before) {
			t.Errorf("cursor moved in a run out of time")
		}

		sum = h.mustRun(margin)
		checkSummary(t, sum, watch.Summary{Listed: 1, Transitions: 1, Alerted: 1, Advanced: true})
		checkEachOnce(t, h.messages(), "late")
	}},

	{"a Retry-After past the deadline leaves the alerts for the next run", func(t *testing.T, h *harness) {
		h.put(job("rate-limited", inProgress, h.clock.Now()), job("waits-its-turn", inProgress, h.clock.Now()))
		h.mustRun(setup{})
		before, _ := h.cursor()
		h.clock.Advance(time.Minute)
		h.set(failed, []string{"rate-limited", "waits-its-turn"})

		// Slack asks for an hour of quiet; the run has a minute left. It
		// neither retries nor posts the next alert to the channel.
		h.slack.FailNext(1, testenv.SlackRateLimit("3600"))
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		sum, err := h.runCtx(ctx, h.watcher(setup{}))
		if !errors.Is(err, watch.ErrPending) {
			t.Fatalf("Run: %v, want ErrPending", err)
		}
		if ctx.Err() != nil {
			t.Errorf("Run waited for the deadline instead of giving up")
		}
		checkSummary(t, sum, watch.Summary{Listed: 2, Transitions: 2, Pending: 2})
		if got := h.slack.Requests(); got != 1 {
			t.Errorf("%d posts, want 1", got)
		}
		checkWaits(t, h.clock) // nor waits in vain
		h.checkStored(inProgress, false, "rate-limited", "waits-its-turn")
		if c, _ := h.cursor(); !c.Equal(before) {
			t.Errorf("cursor moved with alerts pending")
		}

		h.clock.Advance(time.Minute)
		h.mustRun(setup{})
		checkEachOnce(t, h.messages(), "rate-limited", "waits-its-turn")
	}},
}

// pollOverlapping runs two polls with opts at once, one on first (the
// harness's store) and one on the same state opened again; both load the
// same state before either claims anything, so every claim is contested.
// It returns their summaries; either failing fails t.
func pollOverlapping(t *testing.T, h *harness, opts watch.Options, first state.Store) []watch.Summary {
	t.Helper()
	var loaded sync.WaitGroup
	loaded.Add(2)
	runs := []*watch.Watcher{
		h.watcher(setup{opts: opts, store: &gatedStore{Store: first, loaded: &loaded}}),
		h.watcher(setup{opts: opts, store: &gatedStore{Store: h.another(), loaded: &loaded}}),
	}
	// A run that fails before loading would hold the other's claims
	// until this deadline.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	sums := make([]watch.Summary, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, w := range runs {
		wg.Go(func() { sums[i], errs[i] = w.Poll(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("run %d: %v", i+1, err)
		}
	}
	return sums
}

// gatedStore holds every claim until both overlapping runs have loaded
// their state, so that they read the same records and contend for every
// alert.
type gatedStore struct {
	state.Store
	loaded *sync.WaitGroup
	once   sync.Once
}

func (s *gatedStore) Load(ctx context.Context, jobs []string) (map[string]state.Record, error) {
	recs, err := s.Store.Load(ctx, jobs)
	s.once.Do(s.loaded.Done)
	return recs, err
}

func (s *gatedStore) Claim(ctx context.Context, prev state.Record, lease state.Lease) error {
	done := make(chan struct{})
	go func() { s.loaded.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.Store.Claim(ctx, prev, lease)
}

// ClaimAll holds a batch of claims as Claim holds one; the store gated
// must claim batches.
func (s *gatedStore) ClaimAll(ctx context.Context, jobs []state.Record, targets []labeling.Status, lease state.Lease) []error {
	done := make(chan struct{})
	go func() { s.loaded.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs := make([]error, len(jobs))
		for i := range errs {
			errs[i] = ctx.Err()
		}
		return errs
	}
	return s.Store.(state.BatchClaimer).ClaimAll(ctx, jobs, targets, lease)
}

// CommitAll commits as the store gated does.
func (s *gatedStore) CommitAll(ctx context.Context, owner string, until time.Time, jobs []state.Committing) []error {
	return s.Store.(state.BatchCommitter).CommitAll(ctx, owner, until, jobs)
}

// TestOverlappingDigests runs two polls at once over a storm that each
// digests: both load the same state before either claims, so every claim
// is contested, and each run claims its digest's jobs together
// (state.BatchClaimer: transactions where the table serves them, as moto
// does; one by one on dynalite). Each transition is posted once.
func TestOverlappingDigests(t *testing.T) {
	t.Parallel()
	for _, b := range []backend{backends[1], motoSerialBackend} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, b)
			names := h.jobs("storm", 150, inProgress, h.clock.Now())
			h.mustRun(setup{})
			h.clock.Advance(time.Minute)
			// Failed: a digest names each failed job (it counts the others).
			h.set(failed, names)

			sums := pollOverlapping(t, h, watch.Options{DigestThreshold: 10}, h.store.Store)
			if a, c := sums[0].Alerted+sums[1].Alerted, sums[0].Contended+sums[1].Contended; a != 150 || c != 150 {
				t.Errorf("runs alerted %d and %d, lost %d and %d claims; want 150 alerts and 150 lost claims in all",
					sums[0].Alerted, sums[1].Alerted, sums[0].Contended, sums[1].Contended)
			}
			// Each job once: linked in a digest, or (a run that won
			// DIGEST_THRESHOLD jobs or fewer alerts them one by one) in a
			// message of its own.
			var digests strings.Builder
			var alone []message
			for _, m := range h.messages() {
				if strings.Contains(m.Text, "labeling jobs finished") {
					digests.WriteString(m.all())
				} else {
					alone = append(alone, m)
				}
			}
			for _, name := range names {
				if n := strings.Count(digests.String(), "|"+name+">") + len(about(alone, name)); n != 1 {
					t.Errorf("%s posted %d times, want once", name, n)
				}
			}
			h.checkStored(failed, true, names...)
		})
	}
}

// failingLoad is a store whose loads fail with err.
type failingLoad struct {
	state.Store
	err error
}

func (s *failingLoad) Load(context.Context, []string) (map[string]state.Record, error) {
	return nil, s.err
}
