package reliability

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"

	"github.com/labelwatch/labelwatch/internal/emulator"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/slack"
	"github.com/labelwatch/labelwatch/internal/state"
	"github.com/labelwatch/labelwatch/internal/testenv"
	"github.com/labelwatch/labelwatch/internal/watch"
)

// homeAccount is the function's own account in every env: the emulator's
// default, so the home source's ARNs are those of a lone emulator.
const homeAccount = "123456789012"

// A source is one account and region that an env's function watches, as
// app.openSources builds one: a place of the env's Estate (its own
// emulator), a SageMaker client that signs for that region with that
// account's credentials, a store scoped to it, and the ledger of its jobs.
// A job name in two sources is two jobs, each with its own ledger entry.
type source struct {
	e      *env
	key    string // the store's scope, as app keys sources: "" (home), "eu-west-1", "222222222222/us-east-1"
	place  emulator.Place
	keyID  string // the access key that signs its requests; "" for the home account's own credentials
	emu    *emulator.Emulator
	sm     *sagemaker.Client
	ledger *ledger

	lists  atomic.Int64
	onList atomic.Pointer[func(n int)] // called before its nth ListLabelingJobs request
	refuse atomic.Pointer[string]      // an error code its every request is answered with
}

func (src *source) String() string {
	if src.key == "" {
		return "home"
	}
	return src.key
}

// in is " in SOURCE" after a job's name in a failure, "" for the home
// source (most tests watch no other).
func (src *source) in() string {
	if src.key == "" {
		return ""
	}
	return " in " + src.key
}

// addSource adds a source to watch: the place p of the Estate, with scope
// key in the table. A place of another account than the home one is
// reached with the credentials its role would give (an access key the
// Estate knows as that account's), as app does with ACCOUNT_ROLES.
func (e *env) addSource(key string, p emulator.Place) *source {
	src := &source{e: e, key: key, place: p, ledger: newLedger(e.alertOn)}
	src.ledger.where = src.in()
	src.emu = e.estate.Add(p, emulator.WithClock(e.clock))
	cfg := awsConfig()
	cfg.Region = p.Region
	if p.Account != homeAccount {
		src.keyID = "ASIA" + p.Account
		e.estate.Credentials(src.keyID, p.Account)
		cfg.Credentials = credentials.NewStaticCredentialsProvider(src.keyID, "secret", "token")
	}
	src.sm = sagemaker.NewFromConfig(cfg, func(o *sagemaker.Options) { o.BaseEndpoint = aws.String(e.smURL) })
	e.srcMu.Lock()
	defer e.srcMu.Unlock()
	e.sources = append(e.sources, src)
	return src
}

// sourceOf is the source a SageMaker request is for, as the Estate tells:
// the region of its signature and the account of its access key; nil for
// one of no source.
func (e *env) sourceOf(r *http.Request) *source {
	_, scope, _ := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	scope, _, _ = strings.Cut(scope, ",")
	parts := strings.Split(scope, "/")
	if len(parts) != 5 {
		return nil
	}
	e.srcMu.Lock()
	defer e.srcMu.Unlock()
	account := homeAccount
	for _, src := range e.sources {
		if src.keyID != "" && src.keyID == parts[0] {
			account = src.place.Account
		}
	}
	for _, src := range e.sources {
		if src.place == (emulator.Place{Account: account, Region: parts[2]}) {
			return src
		}
	}
	return nil
}

// intercept sees each SageMaker request of src (target is its
// X-Amz-Target) before the Estate does, and reports whether it answered it
// itself: while src refuses, every request is answered with that error.
func (src *source) intercept(w http.ResponseWriter, target string) bool {
	if target == "SageMaker.ListLabelingJobs" {
		n := src.lists.Add(1)
		if h := src.onList.Load(); h != nil {
			(*h)(int(n))
		}
	}
	code := src.refuse.Load()
	if code == nil {
		return false
	}
	// As AWS answers in JSON 1.1: the code in the header and the body.
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", *code)
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": *code, "message": "refused by the test: " + *code})
	return true
}

// onListRequest installs h, called before each later ListLabelingJobs
// request of src with its number, counting from 1 at the install; nil
// removes it.
func (src *source) onListRequest(h func(n int)) {
	if h == nil {
		src.onList.Store(nil)
		return
	}
	base := int(src.lists.Load())
	f := func(n int) { h(n - base) }
	src.onList.Store(&f)
}

// refuseAll answers every later request of src with the error code, until
// refuseAll(""): its role refused, its region disabled, or its SageMaker
// throttling every call.
func (src *source) refuseAll(code string) {
	if code == "" {
		src.refuse.Store(nil)
		return
	}
	src.refuse.Store(&code)
}

// store is src's DynamoStore over the proxy: the table's, scoped to src.
func (src *source) store() *state.DynamoStore { return src.scoped(src.e.store()) }

// directStore reads src's part of the table without the proxy, for checks.
func (src *source) directStore() *state.DynamoStore { return src.scoped(src.e.directStore()) }

func (src *source) scoped(s *state.DynamoStore) *state.DynamoStore {
	scoped, err := s.Scope(src.key)
	if err != nil {
		src.e.t.Fatal(err)
	}
	return scoped
}

// shows is how a message about a job of src names its place:
// "REGION · ACCOUNT", the account as "NAME (ID)" where it has a name.
func (src *source) shows() string {
	account := src.place.Account
	if name := src.e.accountNames[account]; name != "" {
		account = name + " (" + account + ")"
	}
	return src.place.Region + " · " + account
}

// sentMessages notes, for each message content, which sources' watchers
// sent it and how each send ended. What Slack took is told apart by it: a
// digest of one source's jobs need not name their account (each watcher
// renders its own digests), so the message alone may not say whose it is;
// its sender does. Every message the oracle reads is also checked to name
// its sender's place wherever it names one (checkShown).
type sentMessages struct {
	mu sync.Mutex
	by map[string]*sends
}

// sends are the sends of one content.
type sends struct {
	senders       []*source
	failed, acked map[*source]int
}

// note records that src is sending m, and returns m's content.
func (s *sentMessages) note(m slack.Message, src *source) string {
	raw, err := json.Marshal(m.Blocks)
	if err != nil {
		return "" // it cannot be sent either
	}
	content := contentKey(m.Text, raw)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.by == nil {
		s.by = map[string]*sends{}
	}
	x := s.by[content]
	if x == nil {
		x = &sends{failed: map[*source]int{}, acked: map[*source]int{}}
		s.by[content] = x
	}
	if !slices.Contains(x.senders, src) {
		x.senders = append(x.senders, src)
	}
	return content
}

// result records how src's send of content ended.
func (s *sentMessages) result(content string, src *source, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if x := s.by[content]; x != nil && err != nil {
		x.failed[src]++
	} else if x != nil {
		x.acked[src]++
	}
}

// sender is the source that sent messages of content, or nil when none
// did or several did.
func (s *sentMessages) sender(content string) *source {
	s.mu.Lock()
	defer s.mu.Unlock()
	if x := s.by[content]; x != nil && len(x.senders) == 1 {
		return x.senders[0]
	}
	return nil
}

// senders are the sources that sent messages of content.
func (s *sentMessages) senders(content string) []*source {
	s.mu.Lock()
	defer s.mu.Unlock()
	if x := s.by[content]; x != nil {
		return slices.Clone(x.senders)
	}
	return nil
}

// takenAnyway counts, for each alert of src's, the messages carrying it
// that Slack took although their send failed: the client gave up (its
// deadline, its timeout, its process killed) while its request was on the
// way, so no run could know the alert went out. Each allows the alert one
// duplicate: the documented at-least-once case, like a lost answer. msgs
// are src's messages and contents theirs. It counts from what Slack holds,
// not at the failed send, which may return before its request reaches
// Slack: a message of one content Slack holds more often than sends of it
// succeeded (and than Slack showed a fault after taking it) came from
// failed sends, at most as many as failed.
func (s *sentMessages) takenAnyway(src *source, msgs []postedMessage, contents []string) map[alertKey]int {
	copies, unacked := map[string]int{}, map[string]int{}
	carried := map[string][]alertKey{}
	for i, m := range msgs {
		copies[contents[i]]++
		if m.Unacknowledged {
			unacked[contents[i]]++
		}
		carried[contents[i]] = m.Alerts
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	taken := map[alertKey]int{}
	for content, n := range copies {
		x := s.by[content]
		if x == nil {
			continue
		}
		extra := min(x.failed[src], n-x.acked[src]) - unacked[content]
		for _, k := range carried[content] {
			taken[k] += max(0, extra)
		}
	}
	return taken
}

// slackContent is the content of a message Slack took.
func slackContent(m testenv.SlackMessage) string {
	raw, err := json.Marshal(m.Blocks)
	if err != nil {
		return ""
	}
	return contentKey(m.Text, raw)
}

// contentKey is a message's text and blocks in one canonical form: the
// blocks as a watcher built them and as Slack took them compare equal.
func contentKey(text string, blocks []byte) string {
	var v any
	if json.Unmarshal(blocks, &v) != nil {
		return text
	}
	if list, ok := v.([]any); ok && len(list) == 0 {
		v = nil
	}
	canonical, _ := json.Marshal(v)
	return text + "\x00" + string(canonical)
}

// postedBy is the messages Slack took so far from each source, in order.
func (e *env) postedBy() map[*source][]postedMessage {
	msgs, _, from := e.postedFrom()
	by := map[*source][]postedMessage{}
	for i, m := range msgs {
		by[from[i]] = append(by[from[i]], m)
	}
	return by
}

// placeSuffix is the place a digest of jobs of several places puts after
// each job's name: "job-0001 (eu-west-1 · 222222222222)".
var placeSuffix = regexp.MustCompile(`^(\S+) \(([^()]* · [^()]*|[^()]* · [^()]*\([0-9]{12}\))\)$`)

// consoleRegion is the region of a console link.
var consoleRegion = regexp.MustCompile(`https://([a-z0-9-]+)\.console\.aws\.amazon\.com/[^|<>\s]*\?region=([a-z0-9-]+)`)

// checkShown checks that message m, sent by src, names src's place
// wherever it names one: each console link in it is of src's region, an
// alert's line under it says "REGION · ACCOUNT", and each job a digest
// names with its place is of src's. It returns m with the places cut from
// the jobs' names, whether m names its account, and what is wrong.
func (src *source) checkShown(m postedMessage) (_ postedMessage, namesAccount bool, problems []string) {
	want := src.shows()
	for _, b := range m.Blocks {
		texts := []string{}
		if b.Text != nil {
			texts = append(texts, b.Text.Text)
		}
		for _, el := range b.Elements {
			var s string
			if json.Unmarshal(el.Text, &s) == nil {
				texts = append(texts, s)
			}
		}
		for _, t := range texts {
			for _, link := range consoleRegion.FindAllStringSubmatch(t, -1) {
				if link[1] != src.place.Region || link[2] != src.place.Region {
					problems = append(problems, fmt.Sprintf("a console link of region %s, not %s", link[1], src.place.Region))
				}
			}
		}
	}
	if !m.Digest {
		// The last element of the context line under an alert.
		shown := ""
		for _, b := range m.Blocks {
			if b.Type != "context" || len(b.Elements) == 0 {
				continue
			}
			_ = json.Unmarshal(b.Elements[len(b.Elements)-1].Text, &shown)
		}
		if shown != want {
			problems = append(problems, fmt.Sprintf("the alert shows its place as %q, want %q", shown, want))
		}
		return m, shown == want, problems
	}
	// A digest of one place names it in its closing context line, after
	// the part's number: "… · REGION · ACCOUNT · <console link>".
	for _, b := range m.Blocks {
		if b.Type != "context" || len(b.Elements) == 0 {
			continue
		}
		var notes string
		_ = json.Unmarshal(b.Elements[len(b.Elements)-1].Text, &notes)
		if strings.HasPrefix(notes, want+" · ") || strings.Contains(notes, " · "+want+" · ") || strings.HasSuffix(notes, " · "+want) || notes == want {
			namesAccount = true
		}
	}
	alerts := make([]alertKey, len(m.Alerts))
	for i, k := range m.Alerts {
		if s := placeSuffix.FindStringSubmatch(k.Job); s != nil {
			k.Job = s[1]
			namesAccount = true
			if s[2] != want {
				problems = append(problems, fmt.Sprintf("the digest shows job %s in %q, want %q", k.Job, s[2], want))
			}
		}
		alerts[i] = k
	}
	m.Alerts = alerts
	return m, namesAccount, problems
}

// sourceCheck is what checkSources found.
type sourceCheck struct {
	counts map[*source]map[alertKey]int // how often each of each source's alerts was posted
	taken  map[*source]map[alertKey]int // duplicates allowed for messages taken although their send failed
	// digests Slack took, and of them those that do not say which
	// account their jobs are of: a reader cannot tell them from another
	// account's in the same region.
	digests, unnamed int
}

// checkSources verifies safety for every source, as check does for one:
// each message Slack took was sent by exactly one source, and names that
// source's place wherever it names one; no alert of a source's job was
// posted twice (beyond an allowed duplicate), none for a status that job
// never moved into or that does not alert.
func (e *env) checkSources() sourceCheck {
	e.t.Helper()
	e.slack.Settle()
	msgs, contents, from := e.postedFrom()
	by := map[*source][]postedMessage{}
	byContent := map[*source][]string{}
	c := sourceCheck{counts: map[*source]map[alertKey]int{}, taken: map[*source]map[alertKey]int{}}
	for i, m := range msgs {
		src := from[i]
		if src == nil {
			e.t.Errorf("message %d was not sent by exactly one source (senders: %v): %s", i, e.sent.senders(contents[i]), m.Raw)
			continue
		}
		m, named, problems := src.checkShown(m)
		for _, p := range problems {
			e.t.Errorf("message %d, from %s: %s: %s", i, src, p, m.Raw)
		}
		if m.Digest {
			c.digests++
			if !named {
				c.unnamed++
			}
		}
		by[src] = append(by[src], m)
		byContent[src] = append(byContent[src], contents[i])
	}
	for _, src := range e.sources {
		c.taken[src] = e.sent.takenAnyway(src, by[src], byContent[src])
		c.counts[src] = src.ledger.check(e.t, by[src], c.taken[src])
	}
	return c
}

// pollAll polls each watcher at once, as app.Handler polls its sources,
// and returns each one's summary and error.
func pollAll(ctx context.Context, ws []*watch.Watcher) ([]watch.Summary, []error) {
	sums := make([]watch.Summary, len(ws))
	errs := make([]error, len(ws))
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Go(func() { sums[i], errs[i] = w.Poll(ctx) })
	}
	wg.Wait()
	return sums, errs
}

// convergeSources stops every fault and polls every source at once (one
// function, its sources sharing lanes), moving the clock past every lease,
// until a cycle completes with nothing pending or contended in any; then it
// checks, for each source, that every due alert was posted exactly once (or
// as allowed), that its part of the table shows every job at its listed
// status with no claim left, and that its cursor reached its newest
// modification.
func (e *env) convergeSources(opts func() watch.Options) sourceCheck {
	e.t.Helper()
	e.slack.ClearFaults()
	e.proxy.ClearFaults()
	e.proxy.SetLatency(0)
	e.onListRequest(nil)
	ws := make([]*watch.Watcher, len(e.sources))
	o := opts()
	for i, src := range e.sources {
		src.refuseAll("")
		src.onListRequest(nil)
		src.emu.SetLatency(0)
		ws[i] = e.watcher(watcherConfig{src: src, name: "converge", opts: o})
	}
	var (
		sums []watch.Summary
		errs []error
	)
	for range 6 {
		e.clock.Advance(leaseSpan)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		sums, errs = pollAll(ctx, ws)
		cancel()
		if allClean(sums, errs) {
			break
		}
	}
	if !allClean(sums, errs) {
		e.t.Fatalf("no clean cycle after faults stopped: %+v, %v", sums, errors.Join(errs...))
	}
	c := e.checkSources()
	for _, src := range e.sources {
		src.ledger.checkDelivered(e.t, c.counts[src])
		src.checkTable()
	}
	return c
}

// allClean reports whether every poll completed with nothing pending or
// contended.
func allClean(sums []watch.Summary, errs []error) bool {
	for i := range sums {
		if errs[i] != nil || sums[i].Pending != 0 || sums[i].Contended != 0 {
			return false
		}
	}
	return true
}

// labeling is src's jobs as the function reads them: through the SDK, its
// accounts named as the env names them.
func (src *source) labeling() *labeling.Source {
	return labeling.NewSource(src.sm, labeling.Filter{}).WithAccountNames(src.e.accountNames)
}
