package watch_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/slack"
	"github.com/labelwatch/labelwatch/internal/state"
	"github.com/labelwatch/labelwatch/internal/testenv"
	"github.com/labelwatch/labelwatch/internal/watch"
)

// cardWorld is a harness whose watcher posts with a bot token, as living
// cards need, and which reads Slack's calls a run at a time.
type cardWorld struct {
	*harness
	bot  *slack.Sender
	seen int // Slack calls already read
}

func newCardWorld(t *testing.T, b backend) *cardWorld {
	h := newHarness(t, b)
	return &cardWorld{harness: h, bot: slack.NewBotSender(testenv.SlackToken, testenv.SlackChannel, h.slack.APIURL(), &http.Client{Timeout: 10 * time.Second}, h.clock)}
}

// rules are the default rules with cards on, and more.
func cardRules(more ...func(*watch.Rules)) watch.Rules {
	r := defaultRules()
	r.Cards = true
	for _, f := range more {
		f(&r)
	}
	return r
}

// run runs one poll with rules and a bot token, after the clock moved a
// minute, and returns Slack's calls during it, each described by call.
func (w *cardWorld) run(rules watch.Rules, more ...func(*setup)) ([]string, watch.Summary) {
	w.t.Helper()
	w.clock.Advance(time.Minute)
	s := setup{opts: watch.Options{Rules: rules}, notifier: w.bot}
	for _, f := range more {
		f(&s)
	}
	sum := w.mustRun(s)
	return w.calls(), sum
}

// calls describes the Slack calls made since the last look: "post",
// "edit TS", "reply TS" (in the thread of the message TS), "reply TS
// broadcast".
func (w *cardWorld) calls() []string {
	all := w.slack.Calls()
	var out []string
	for _, c := range all[w.seen:] {
		out = append(out, c.String())
	}
	w.seen = len(all)
	return out
}

// lastTS is the ts Slack gave the last message posted.
func (w *cardWorld) lastTS() string {
	w.t.Helper()
	msgs := w.slack.Messages()
	if len(msgs) == 0 {
		w.t.Fatal("no message posted")
	}
	return msgs[len(msgs)-1].TS
}

// seed runs the first poll over one long finished job, so that later runs
// are not the first.
func (w *cardWorld) seed(rules watch.Rules) {
	w.t.Helper()
	w.put(job("seed-old", completed, start.Add(-48*time.Hour)))
	if calls, sum := w.run(rules); len(calls) != 0 || !sum.FirstRun {
		w.t.Fatalf("first run: calls %v, summary %+v; want none, first run", calls, sum)
	}
}

// progressed sets a job's counters to done of 100 objects labeled.
func progressed(done, failedObjects int) func(*labeling.Job) {
	return func(j *labeling.Job) {
		j.Counters = labeling.Counters{Total: done, Human: done, Failed: failedObjects, Unlabeled: 100 - done - failedObjects}
	}
}

func checkCalls(t *testing.T, step string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: Slack calls %q, want %q", step, got, want)
	}
}

// card is the stored card of job, or nil.
func (w *cardWorld) card(name string) *state.Card {
	w.t.Helper()
	return w.records(name)[name].Card
}

var cardCases = []struct {
	name string
	run  func(t *testing.T, w *cardWorld)
}{
	{"a card's life: posted, edited as the job moves, finished with a reply", func(t *testing.T, w *cardWorld) {
		rules := cardRules()
		w.seed(rules)
		w.put(job("cats", initializing, w.clock.Now()))
		calls, sum := w.run(rules)
		checkCalls(t, "job starts", calls, "post")
		ts := w.lastTS()
		if sum.News != 1 || sum.Alerted != 0 {
			t.Errorf("job starts: summary %+v, want 1 told", sum)
		}
		if c := w.card("cats"); c == nil || c.TS != ts || c.Channel != testenv.SlackChannel {
			t.Errorf("stored card %+v, want ts %s in %s", c, ts, testenv.SlackChannel)
		}

		w.set(inProgress, []string{"cats"}, progressed(10, 0))
		calls, _ = w.run(rules)
		checkCalls(t, "labeling starts", calls, "edit "+ts)
		calls, sum = w.run(rules)
		checkCalls(t, "nothing moved", calls)
		if sum.News != 0 || sum.Running != 1 {
			t.Errorf("nothing moved: summary %+v, want 1 running, nothing told", sum)
		}
		w.set(inProgress, []string{"cats"}, progressed(55, 0))
		calls, _ = w.run(rules)
		checkCalls(t, "labeling moves", calls, "edit "+ts)

		w.set(completed, []string{"cats"}, progressed(100, 0))
		calls, sum = w.run(rules)
		checkCalls(t, "job completes", calls, "edit "+ts, "reply "+ts+" broadcast")
		if sum.Alerted != 1 {
			t.Errorf("job completes: summary %+v, want 1 alerted", sum)
		}
		w.checkStored(completed, true, "cats")
		msgs := w.slack.Messages()
		if len(msgs) != 2 || msgs[0].Edits != 3 || !strings.Contains(msgs[0].Text, "cats") || !strings.Contains(strings.ToLower(msgs[0].Text), "complete") {
			var texts []string
			for _, m := range msgs {
				texts = append(texts, fmt.Sprintf("%q (edited %d times)", m.Text, m.Edits))
			}
			t.Errorf("after the job: messages %v; want the card edited 3 times, showing it completed, and one reply", texts)
		}
		calls, _ = w.run(rules)
		checkCalls(t, "after the end", calls)
	}},
	{"a failure's reply is broadcast to the channel", func(t *testing.T, w *cardWorld) {
		rules := cardRules()
		w.seed(rules)
		w.put(job("dogs", inProgress, w.clock.Now()))
		w.run(rules)
		ts := w.lastTS()
		w.set(failed, []string{"dogs"}, func(j *labeling.Job) { j.FailureReason = "Access Denied" })
		calls, _ := w.run(rules)
		checkCalls(t, "job fails", calls, "edit "+ts, "reply "+ts+" broadcast")
	}},
	{"the first run posts no card, and a job it saw running is alerted alone", func(t *testing.T, w *cardWorld) {
		rules := cardRules()
		w.put(job("early", inProgress, start), job("seed-old", completed, start.Add(-48*time.Hour)))
		calls, _ := w.run(rules)
		checkCalls(t, "first run", calls)
		w.set(inProgress, []string{"early"}, progressed(40, 0))
		calls, _ = w.run(rules)
		checkCalls(t, "labeling moves", calls)
		w.set(completed, []string{"early"}, progressed(100, 0))
		calls, _ = w.run(rules)
		checkCalls(t, "job completes", calls, "post")
		if c := w.card("early"); c != nil {
			t.Errorf("stored card %+v for a job the first run saw", c)
		}
	}},
	{"a job first seen finished gets one message and no card", func(t *testing.T, w *cardWorld) {
		rules := cardRules()
		w.seed(rules)
		w.put(job("quick", completed, w.clock.Now()))
		calls, _ := w.run(rules)
		checkCalls(t, "job seen finished", calls, "post")
		if c := w.card("quick"); c != nil {
			t.Errorf("stored card %+v", c)
		}
	}},
	{"a deleted card is posted anew and its thread follows it", func(t *testing.T, w *cardWorld) {
		rules := cardRules()
		w.seed(rules)
		w.put(job("gone", inProgress, w.clock.Now()))
		w.run(rules)
		first := w.lastTS()
		w.slack.Delete(first)
		w.set(inProgress, []string{"gone"}, progressed(30, 0))
		calls, _ := w.run(rules)
		checkCalls(t, "card deleted, job moves", calls, "post")
		second := w.lastTS()
		if second == first {
			t.Fatalf("the new card has the deleted one's ts %s", first)
		}
		w.set(completed, []string{"gone"}, progressed(100, 0))
		calls, _ = w.run(rules)
		checkCalls(t, "job completes", calls, "edit "+second, "reply "+second+" broadcast")
	}},
	{"with ThreadOutcomes, completions and stops stay in the thread and failures are broadcast", func(t *testing.T, w *cardWorld) {
		rules := cardRules()
		quiet := func(s *setup) { s.opts.ThreadOutcomes = true }
		w.seed(rules)
		w.put(job("done", inProgress, w.clock.Now()), job("halt", inProgress, w.clock.Now()), job("fail", inProgress, w.clock.Now()))
		w.run(rules, quiet)
		cards := map[string]string{}
		for _, name := range []string{"done", "halt", "fail"} {
			cards[name] = w.card(name).TS
		}
		w.set(completed, []string{"done"}, progressed(100, 0))
		w.set(stopped, []string{"halt"})
		w.set(failed, []string{"fail"}, func(j *labeling.Job) { j.FailureReason = "Access Denied" })
		calls, sum := w.run(rules, quiet)
		checkCalls(t, "three jobs end", calls,
			"edit "+cards["done"], "reply "+cards["done"],
			"edit "+cards["fail"], "reply "+cards["fail"]+" broadcast",
			"edit "+cards["halt"], "reply "+cards["halt"])
		if sum.Alerted != 3 {
			t.Errorf("summary %+v, want 3 alerted", sum)
		}
	}},
	{"a card in another channel than the notifier's stays there, and the job gets a new card", func(t *testing.T, w *cardWorld) {
		rules := cardRules()
		w.seed(rules)
		w.put(job("moved", inProgress, w.clock.Now()))
		before := slack.NewBotSender(testenv.SlackToken, testenv.SlackOtherChannel, w.slack.APIURL(), nil, w.clock)
		w.run(rules, func(s *setup) { s.notifier = before })
		if c := w.card("moved"); c == nil || c.Channel != testenv.SlackOtherChannel {
			t.Fatalf("stored card %+v, want one in %s", c, testenv.SlackOtherChannel)
		}
		old := w.lastTS()
		// The credential now posts to SlackChannel: nothing moved, yet the
		// job gets its card there, and the old one is not touched.
		calls, sum := w.run(rules)
		checkCalls(t, "channel changed", calls, "post")
		if c := w.card("moved"); c == nil || c.Channel != testenv.SlackChannel || c.TS == old {
			t.Errorf("stored card %+v, want a new one in %s", c, testenv.SlackChannel)
		}
		if sum.Pending != 0 || sum.News != 1 {
			t.Errorf("summary %+v, want the card told", sum)
		}
		w.set(failed, []string{"moved"}, func(j *labeling.Job) { j.FailureReason = "Access Denied" })
		calls, _ = w.run(rules)
		ts := w.card("moved").TS
		checkCalls(t, "job fails", calls, "edit "+ts, "reply "+ts+" broadcast")
		for _, c := range w.slack.Calls() {
			if c.Channel == testenv.SlackOtherChannel && c.TS != old {
				t.Errorf("call %v in the old channel after the change", c)
			}
		}
	}},
	{"a job whose card's channel is gone gets a new card in the channel, for each way Slack says so", func(t *testing.T, w *cardWorld) {
		rules := cardRules()
		w.seed(rules)
		codes := []string{"is_archived", "channel_not_found", "not_in_channel"}
		for _, code := range codes {
			w.put(job(strings.ReplaceAll(code, "_", "-"), inProgress, w.clock.Now()))
		}
		other := slack.NewBotSender(testenv.SlackToken, testenv.SlackOtherChannel, w.slack.APIURL(), nil, w.clock)
		w.run(rules, func(s *setup) { s.notifier = other })
		w.slack.Gone(testenv.SlackOtherChannel, "is_archived")
		// Configured by name, the channel's ID is not known before a post
		// answers it: the old card is tried, and found gone.
		for _, code := range codes {
			name := strings.ReplaceAll(code, "_", "-")
			w.slack.Gone(testenv.SlackOtherChannel, code)
			byName := slack.NewBotSender(testenv.SlackToken, testenv.SlackChannelName, w.slack.APIURL(), nil, w.clock)
			w.set(inProgress, []string{name}, progressed(30, 0))
			calls, sum := w.run(rules, func(s *setup) { s.notifier = byName })
			checkCalls(t, code, calls, "post")
			if c := w.card(name); c == nil || c.Channel != testenv.SlackChannel {
				t.Errorf("%s: stored card %+v, want a new one in %s", code, c, testenv.SlackChannel)
			}
			if sum.Pending != 0 {
				t.Errorf("%s: summary %+v, want nothing pending", code, sum)
			}
		}
	}},
	{"more jobs starting at once than DIGEST_THRESHOLD get no cards", func(t *testing.T, w *cardWorld) {
		rules := cardRules()
		w.seed(rules)
		names := w.jobs("rush", 5, initializing, w.clock.Now())
		calls, sum := w.run(rules, func(s *setup) { s.opts.DigestThreshold = 3 })
		checkCalls(t, "five jobs start", calls)
		if sum.Recorded != 5 {
			t.Errorf("summary %+v, want the 5 jobs recorded", sum)
		}
		w.checkStored(initializing, false, names...)
		w.set(completed, names)
		calls, _ = w.run(rules, func(s *setup) { s.opts.DigestThreshold = 3 })
		checkCalls(t, "five jobs complete: one digest", calls, "post")
	}},
	{"card edits beyond one run's share wait for the next run", func(t *testing.T, w *cardWorld) {
		rules := cardRules()
		w.seed(rules)
		n := watch.MaxNews + 5
		names := w.jobs("busy", n, inProgress, w.clock.Now())
		calls, _ := w.run(rules, func(s *setup) { s.opts.DigestThreshold = n })
		if len(calls) != watch.MaxNews {
			t.Fatalf("%d jobs start: %d calls, want %d cards", n, len(calls), watch.MaxNews)
		}
		calls, _ = w.run(rules, func(s *setup) { s.opts.DigestThreshold = n })
		if len(calls) != 5 {
			t.Fatalf("next run: %d calls, want the 5 cards left", len(calls))
		}
		w.set(inProgress, names, progressed(20, 0))
		calls, sum := w.run(rules, func(s *setup) { s.opts.DigestThreshold = n })
		if len(calls) != watch.MaxNews || sum.News != watch.MaxNews {
			t.Errorf("%d jobs move: %d calls, summary %+v; want %d edits", n, len(calls), sum, watch.MaxNews)
		}
		calls, _ = w.run(rules, func(s *setup) { s.opts.DigestThreshold = n })
		if len(calls) != 5 {
			t.Errorf("next run: %d calls, want the 5 edits left", len(calls))
		}
		calls, _ = w.run(rules, func(s *setup) { s.opts.DigestThreshold = n })
		checkCalls(t, "then", calls)
	}},
	{"an older reading never takes a card back", func(t *testing.T, w *cardWorld) {
		rules := cardRules()
		w.seed(rules)
		w.put(job("late", inProgress, w.clock.Now()))
		w.run(rules)
		w.set(inProgress, []string{"late"}, progressed(60, 0))
		w.run(rules)
		w.calls()
		old := job("late", inProgress, start) // a reading from before both
		old.Counters = labeling.Counters{Total: 5, Unlabeled: 95}
		wt := w.watcher(setup{opts: watch.Options{Rules: rules}, notifier: w.bot})
		if _, err := wt.Apply(t.Context(), []labeling.Job{old}); err != nil {
			t.Fatal(err)
		}
		checkCalls(t, "older reading applied", w.calls())
	}},
	{"two runs at once post one card", func(t *testing.T, w *cardWorld) {
		rules := cardRules()
		w.seed(rules)
		w.put(job("twice", inProgress, w.clock.Now()))
		w.clock.Advance(time.Minute)
		w.slack.FailNext(1, testenv.SlackFault{Hold: true})
		ctx, cancel := context.WithCancel(t.Context())
		first := make(chan error, 1)
		go func() {
			_, err := w.watcher(setup{opts: watch.Options{Rules: rules}, notifier: w.bot}).Poll(ctx)
			first <- err
		}()
		<-w.slack.Held()
		other := w.watcher(setup{opts: watch.Options{Rules: rules}, notifier: w.bot, store: w.another()})
		sum, err := other.Poll(t.Context())
		if err != nil || sum.Contended != 1 || sum.News != 0 {
			t.Errorf("second run while the first posts: %+v, %v; want the job contended", sum, err)
		}
		cancel()
		if err := <-first; !errors.Is(err, watch.ErrPending) && !errors.Is(err, context.Canceled) {
			t.Errorf("first run: %v, want pending", err)
		}
		w.slack.Settle()
		checkCalls(t, "both runs", w.calls())
		// The first run's claim lapses; one card goes out.
		w.clock.Advance(20 * time.Minute)
		calls, _ := w.run(rules)
		checkCalls(t, "after the claim lapsed", calls, "post")
		calls, _ = w.run(rules)
		checkCalls(t, "then", calls)
	}},
	{"a crash between post and record posts the card once more, and only once", func(t *testing.T, w *cardWorld) {
		rules := cardRules()
		w.seed(rules)
		w.put(job("crash", inProgress, w.clock.Now()))
		w.clock.Advance(time.Minute)
		// Slack takes the card; the run never hears back and dies.
		w.slack.FailNext(1, testenv.SlackFault{Hold: true, Post: true})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			defer close(done)
			w.watcher(setup{opts: watch.Options{Rules: rules}, notifier: w.bot}).Poll(ctx)
		}()
		<-w.slack.Held()
		cancel()
		<-done
		w.slack.Settle()
		checkCalls(t, "the run that died", w.calls(), "post")
		w.clock.Advance(20 * time.Minute)
		calls, _ := w.run(rules)
		checkCalls(t, "the next run", calls, "post")
		second := w.lastTS()
		w.set(inProgress, []string{"crash"}, progressed(50, 0))
		calls, _ = w.run(rules)
		checkCalls(t, "job moves", calls, "edit "+second)
	}},
	{"milestones are told once each, in the card's thread", func(t *testing.T, w *cardWorld) {
		rules := cardRules(func(r *watch.Rules) { r.Milestones = []int{50, 90} })
		w.seed(rules)
		w.put(job("miles", inProgress, w.clock.Now()))
		w.set(inProgress, []string{"miles"}, progressed(10, 0))
		w.run(rules)
		ts := w.lastTS()
		w.set(inProgress, []string{"miles"}, progressed(55, 0))
		calls, _ := w.run(rules)
		checkCalls(t, "past 50%", calls, "edit "+ts, "reply "+ts)
		if got := w.slack.Messages(); !strings.Contains(got[len(got)-1].Text, "50%") {
			t.Errorf("milestone reply %q does not say 50%%", got[len(got)-1].Text)
		}
		w.set(inProgress, []string{"miles"}, progressed(60, 0))
		calls, _ = w.run(rules)
		checkCalls(t, "still past 50%", calls, "edit "+ts)
		w.set(inProgress, []string{"miles"}, progressed(95, 0))
		calls, _ = w.run(rules)
		checkCalls(t, "past 90%", calls, "edit "+ts, "reply "+ts)
	}},
	{"a stalled job is warned of once per stall", func(t *testing.T, w *cardWorld) {
		rules := cardRules(func(r *watch.Rules) { r.StuckAfter = 6 * time.Hour })
		w.seed(rules)
		w.put(job("stall", inProgress, w.clock.Now()))
		w.run(rules)
		ts := w.lastTS()
		w.clock.Advance(5 * time.Hour)
		calls, _ := w.run(rules)
		checkCalls(t, "5 hours still", calls)
		w.clock.Advance(time.Hour)
		calls, _ = w.run(rules)
		checkCalls(t, "6 hours still", calls, "reply "+ts+" broadcast")
		w.clock.Advance(6 * time.Hour)
		calls, _ = w.run(rules)
		checkCalls(t, "12 hours still", calls)
		w.set(inProgress, []string{"stall"}, progressed(30, 0))
		calls, _ = w.run(rules)
		checkCalls(t, "moves again", calls, "edit "+ts)
		w.clock.Advance(6 * time.Hour)
		calls, _ = w.run(rules)
		checkCalls(t, "stalls anew", calls, "reply "+ts+" broadcast")
	}},
	{"a high share of failed objects is warned of once", func(t *testing.T, w *cardWorld) {
		rules := cardRules(func(r *watch.Rules) { r.FailedShare = 0.01 })
		w.seed(rules)
		w.put(job("flaky", inProgress, w.clock.Now()))
		w.set(inProgress, []string{"flaky"}, progressed(50, 0))
		w.run(rules)
		ts := w.lastTS()
		w.set(inProgress, []string{"flaky"}, progressed(50, 2))
		calls, _ := w.run(rules)
		checkCalls(t, "2 of 52 failed", calls, "edit "+ts, "reply "+ts+" broadcast")
		w.set(inProgress, []string{"flaky"}, progressed(60, 5))
		calls, _ = w.run(rules)
		checkCalls(t, "more failed", calls, "edit "+ts)
	}},
}

func TestCards(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range cardCases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.run(t, newCardWorld(t, b))
				})
			}
		})
	}
}

// TestNewsWithoutCards checks that with a webhook (no cards) progress news
// goes to the channel as messages of their own.
func TestNewsWithoutCards(t *testing.T) {
	h := newHarness(t, backends[1])
	rules := defaultRules()
	rules.Milestones, rules.StuckAfter = []int{50}, 6*time.Hour
	run := func() []testenv.SlackMessage {
		h.clock.Advance(time.Minute)
		before := len(h.slack.Messages())
		h.mustRun(setup{opts: watch.Options{Rules: rules}})
		return h.slack.Messages()[before:]
	}
	h.put(job("seed-old", completed, start.Add(-48*time.Hour)))
	run()
	h.put(job("plain", inProgress, h.clock.Now()))
	h.set(inProgress, []string{"plain"}, progressed(10, 0))
	if got := run(); len(got) != 0 {
		t.Errorf("job starts: %d messages, want none without cards", len(got))
	}
	h.set(inProgress, []string{"plain"}, progressed(60, 0))
	got := run()
	if len(got) != 1 || !strings.Contains(got[0].Text, "50%") || got[0].ThreadTS != "" {
		t.Errorf("past 50%%: %+v, want one message of its own saying 50%%", got)
	}
	// Polled every 30 minutes, the stall is told once, between STUCK_AFTER
	// and a quarter more after the last move (its counters are stored a
	// quarter of STUCK_AFTER apart, not at every move), and then not again.
	moved := h.clock.Now()
	var warned []time.Duration
	for range 20 {
		h.clock.Advance(29 * time.Minute)
		for _, m := range run() {
			if !strings.Contains(m.Text, "plain has not moved") {
				t.Errorf("while stalled: %q", m.Text)
			}
			warned = append(warned, h.clock.Now().Sub(moved))
		}
	}
	if len(warned) != 1 || warned[0] < 6*time.Hour || warned[0] > 6*time.Hour+90*time.Minute+30*time.Minute {
		t.Errorf("stall told after %v, want once, from 6h to 8h after the last move", warned)
	}
	// First seen; the milestone's claim and commit; the moved counters
	// stored once; the warning's claim and commit.
	if rec := h.records("plain")["plain"]; rec.Version != 6 {
		t.Errorf("record written %d times over 10 hours, want 6", rec.Version)
	}
}

// TestSteadyProgressWritesLittle checks that a job labeling steadily, with
// no card, costs a write per quarter of STUCK_AFTER, not one per run.
func TestSteadyProgressWritesLittle(t *testing.T) {
	h := newHarness(t, backends[1])
	rules := defaultRules()
	rules.StuckAfter = 6 * time.Hour
	h.put(job("seed-old", completed, start.Add(-48*time.Hour)))
	h.mustRun(setup{opts: watch.Options{Rules: rules}})
	h.put(job("steady", inProgress, h.clock.Now()))
	for i := range 72 { // six hours, a run every five minutes, a move each
		h.clock.Advance(5 * time.Minute)
		h.set(inProgress, []string{"steady"}, progressed(i+1, 0))
		h.mustRun(setup{opts: watch.Options{Rules: rules}})
	}
	rec := h.records("steady")["steady"]
	if rec.Version > 6 {
		t.Errorf("record written %d times in 72 runs, want about one per 90 minutes", rec.Version)
	}
	if len(h.slack.Messages()) != 0 {
		t.Errorf("%d messages for a job that never stalled", len(h.slack.Messages()))
	}
}

// TestCardsOfDigestedJobs checks that a job with a card that ends in a run
// whose alerts become a digest has its card edited to its end after the
// digest went out; the digest, not a reply, tells the outcome.
func TestCardsOfDigestedJobs(t *testing.T) {
	w := newCardWorld(t, backends[1])
	rules := cardRules()
	digest := func(s *setup) { s.opts.DigestThreshold = 3 }
	w.seed(rules)
	w.put(job("carded", inProgress, w.clock.Now()))
	calls, _ := w.run(rules, digest)
	checkCalls(t, "job starts", calls, "post")
	ts := w.lastTS()
	names := append(w.jobs("plain", 5, inProgress, w.clock.Now()), "carded")
	w.run(rules, func(s *setup) { s.opts.DigestThreshold = 3; s.opts.Rules.Cards = false })
	w.calls()
	w.set(completed, names)
	calls, sum := w.run(rules, digest)
	checkCalls(t, "six jobs complete", calls, "post", "edit "+ts)
	if sum.Alerted != 6 || !sum.Digest {
		t.Errorf("summary %+v, want a digest of 6", sum)
	}
	if card := w.slack.Messages()[0]; card.TS != ts || !strings.Contains(card.Text, "completed") {
		t.Errorf("card %q after the digest, want it to show the job completed", card.Text)
	}
	calls, _ = w.run(rules, digest)
	checkCalls(t, "then", calls)
}
