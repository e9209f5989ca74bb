package watch_test

import (
	"fmt"
	"net/http"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/slack"
	"github.com/labelwatch/labelwatch/internal/testenv"
	"github.com/labelwatch/labelwatch/internal/watch"
)

// testRoute is a route of testRouter: jobs whose name matches pattern
// (path.Match) and whose status is one of statuses (any when none) go to
// dest, and the next routes are tried too when cont.
type testRoute struct {
	pattern  string
	statuses []labeling.Status
	dest     watch.Destination
	cont     bool
}

// testRouter is a route table as app builds one from ROUTES: first match,
// unless it says continue; the default destination when none matches.
type testRouter []testRoute

func (r testRouter) Route(job labeling.Job) []watch.Destination {
	var out []watch.Destination
	for _, route := range r {
		if ok, _ := path.Match(route.pattern, job.Name); !ok || len(route.statuses) > 0 && !slices.Contains(route.statuses, job.Status) {
			continue
		}
		out = append(out, route.dest)
		if !route.cont {
			break
		}
	}
	if len(out) == 0 {
		return []watch.Destination{watch.DefaultDestination}
	}
	return out
}

func (r testRouter) Channels() []string {
	var out []string
	for _, route := range r {
		if route.dest.To.Channel != "" {
			out = append(out, route.dest.To.Channel)
		}
	}
	return out
}

func (r testRouter) String() string { return fmt.Sprint([]testRoute(r)) }

// The destinations of the routes tests.
var (
	catsChannel = watch.Destination{Key: "channel-C0CATS0001", To: slack.Destination{Channel: "C0CATS0001"}, Mentions: []string{"S0ONCALL1"}}
	oncall      = watch.Destination{Key: "channel-C0ONCALL01", To: slack.Destination{Channel: "C0ONCALL01"}}
	visionHook  = watch.Destination{Key: "webhook-vision", To: slack.Destination{Webhook: "vision"}, Mentions: []string{"here"}}
)

// routed is a cardWorld whose notifier holds the bot token and the named
// webhook "vision" (unless noVision), as a secret with "webhooks" does.
func (w *cardWorld) routed(noVision bool) slack.Switch {
	w.slack.Open("C0CATS0001", "C0ONCALL01")
	sw := slack.Switch{Default: w.bot, Webhooks: map[string]*slack.Sender{}}
	if !noVision {
		sw.Webhooks["vision"] = slack.NewWebhookSender(w.slack.HookURL("vision"), &http.Client{Timeout: 10 * time.Second}, w.clock)
	}
	return sw
}

// where says where each Slack message about job went, in order: "channel
// C…", "hook NAME", or "default" (the bot's own channel), with "+thread"
// for a reply.
func where(s *testenv.Slack, job string) []string {
	var out []string
	for _, m := range s.Messages() {
		if !strings.Contains(m.Text, job) {
			continue
		}
		var w string
		switch {
		case m.Hook != "":
			w = "hook " + m.Hook
		case m.Channel == testenv.SlackChannel:
			w = "default"
		default:
			w = "channel " + m.Channel
		}
		if m.ThreadTS != "" {
			w += "+thread"
		}
		out = append(out, w)
	}
	return out
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	router := testRouter{
		{pattern: "cats-*", statuses: []labeling.Status{failed}, dest: catsChannel, cont: true},
		{pattern: "*-vision", dest: visionHook},
		{pattern: "cats-*", dest: visionHook},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			w := newCardWorld(t, b)
			rules := defaultRules()
			use := func(noVision bool) func(*setup) {
				return func(s *setup) {
					s.notifier = w.routed(noVision)
					s.opts.Router = router
				}
			}
			w.seed(rules)

			// Each job to its route's destinations; a failure of cats to
			// the cats channel, mentioning its on-call, and a copy to
			// vision's webhook, mentioning here.
			w.put(job("cats-1", failed, w.clock.Now()), job("dogs-vision", completed, w.clock.Now()), job("dogs-1", failed, w.clock.Now()), job("cats-2", completed, w.clock.Now()))
			_, sum := w.run(rules, use(false))
			for name, want := range map[string][]string{
				"cats-1": {"channel C0CATS0001", "hook vision"}, "dogs-vision": {"hook vision"}, "dogs-1": {"default"}, "cats-2": {"hook vision"},
			} {
				if got := where(w.slack, name); !slices.Equal(got, want) {
					t.Errorf("%s went to %q, want %q", name, got, want)
				}
			}
			if sum.Alerted != 5 || sum.Pending != 0 {
				t.Errorf("summary %+v, want 5 alerted (one a copy)", sum)
			}
			for _, m := range w.slack.Messages() {
				paged := strings.Contains(m.Text, "<!subteam^S0ONCALL1>")
				here := strings.Contains(m.Text, "<!here>")
				if want := m.Channel == "C0CATS0001"; paged != want {
					t.Errorf("message to %q %q: mentions the on-call %v, want %v", m.Channel+m.Hook, m.Text, paged, want)
				}
				if want := m.Hook == "vision" && strings.Contains(m.Text, "cats-1"); here != want {
					t.Errorf("message to %q %q: mentions here %v, want %v (a failure alert to vision)", m.Channel+m.Hook, m.Text, here, want)
				}
			}
			w.checkStored(failed, true, "cats-1", "cats-1#"+visionHook.Key, "dogs-1")
			w.checkStored(completed, true, "dogs-vision", "cats-2")
			w.checkNotStored("cats-1#"+catsChannel.Key, "cats-2#"+visionHook.Key)
			if calls, _ := w.run(rules, use(false)); len(calls) != 0 {
				t.Errorf("the next run: Slack calls %q, want none", calls)
			}

			// The cats channel refuses: the copy to vision goes, and is
			// not sent again when the channel takes the alert later.
			w.put(job("cats-3", failed, w.clock.Now()))
			w.slack.Gone("C0CATS0001", "channel_not_found")
			w.clock.Advance(time.Minute)
			if _, err := w.runCtx(t.Context(), w.watcher(setup{opts: watch.Options{Rules: rules, Router: router}, notifier: w.routed(false)})); err == nil {
				t.Fatal("a run whose channel is gone: no error, want the alert pending")
			}
			w.slack.Gone("C0CATS0001", "")
			w.run(rules, use(false))
			w.run(rules, use(false))
			if got, want := where(w.slack, "cats-3"), []string{"hook vision", "channel C0CATS0001"}; !slices.Equal(got, want) {
				t.Errorf("cats-3, its channel gone for a run: went to %q, want %q", got, want)
			}

			// The webhook is not in the secret: the alert goes to the
			// channel, its copy stays pending, and goes once the secret
			// holds it.
			w.put(job("cats-4", failed, w.clock.Now()))
			w.clock.Advance(time.Minute)
			if _, err := w.runCtx(t.Context(), w.watcher(setup{opts: watch.Options{Rules: rules, Router: router}, notifier: w.routed(true)})); err == nil {
				t.Fatal("a run without vision's webhook: no error, want its copy pending")
			}
			if rec := w.records("cats-4#" + visionHook.Key)["cats-4#"+visionHook.Key]; rec.Version == 0 || rec.Status == failed || rec.Lease != nil {
				t.Errorf("the copy not sent: record %+v, want one claimed and released", rec)
			}
			w.run(rules, use(false))
			w.run(rules, use(false))
			if got, want := where(w.slack, "cats-4"), []string{"channel C0CATS0001", "hook vision"}; !slices.Equal(got, want) {
				t.Errorf("cats-4, vision's webhook missing for a run: went to %q, want %q", got, want)
			}
			w.checkStored(failed, true, "cats-4", "cats-4#"+visionHook.Key)
		})
	}
}

// TestRoutesDigestPerDestination checks that each destination gets a
// digest of its own when more than DigestThreshold alerts go there, and
// single alerts when fewer do.
func TestRoutesDigestPerDestination(t *testing.T) {
	t.Parallel()
	w := newCardWorld(t, backends[1])
	rules := defaultRules()
	router := testRouter{{pattern: "cats-*", dest: catsChannel}}
	w.seed(rules)
	now := w.clock.Now()
	cats := w.jobs("cats", 4, failed, now)
	w.jobs("dogs", 2, completed, now)
	calls, sum := w.run(rules, func(s *setup) {
		s.notifier, s.opts.Router, s.opts.DigestThreshold = w.routed(false), router, 3
	})
	if len(calls) != 3 || !sum.Digest || sum.Alerted != 6 {
		t.Fatalf("calls %q, summary %+v; want 3 posts (one digest, two alerts), 6 alerted", calls, sum)
	}
	var digest []string
	for _, m := range w.slack.Messages() {
		if m.Channel == "C0CATS0001" {
			digest = append(digest, m.Text)
		}
	}
	if len(digest) != 1 || !strings.Contains(digest[0], "<!subteam^S0ONCALL1>") {
		t.Fatalf("cats channel got %q, want one digest paging its on-call", digest)
	}
	for _, name := range cats {
		if !strings.Contains(digest[0], name) {
			t.Errorf("the digest does not name %s: %q", name, digest[0])
		}
	}
	if got := where(w.slack, "dogs-000"); !slices.Equal(got, []string{"default"}) {
		t.Errorf("dogs-000 went to %q, want the default channel alone", got)
	}
}

// TestRoutesCards checks that a job's card lives in its route's channel,
// and that when its outcome goes elsewhere the card is closed where it is
// and the outcome posted alone; a job routed to a webhook gets no card.
func TestRoutesCards(t *testing.T) {
	t.Parallel()
	w := newCardWorld(t, backends[1])
	rules := cardRules()
	router := testRouter{
		{pattern: "*", statuses: []labeling.Status{failed}, dest: oncall},
		{pattern: "cats-*", dest: catsChannel},
		{pattern: "*-vision", dest: visionHook},
	}
	use := func(s *setup) { s.notifier, s.opts.Router = w.routed(false), router }
	w.seed(rules)
	w.put(job("cats-1", inProgress, w.clock.Now()), job("cats-2", inProgress, w.clock.Now()), job("dogs-vision", inProgress, w.clock.Now()))
	calls, _ := w.run(rules, use)
	checkCalls(t, "jobs start", calls, "post", "post")
	for _, name := range []string{"cats-1", "cats-2"} {
		if c := w.card(name); c == nil || c.Channel != "C0CATS0001" {
			t.Errorf("%s: card %+v, want one in C0CATS0001", name, c)
		}
	}
	if c := w.card("dogs-vision"); c != nil {
		t.Errorf("dogs-vision, routed to a webhook: card %+v, want none", c)
	}
	one, two := w.card("cats-1").TS, w.card("cats-2").TS

	w.set(failed, []string{"cats-1"})
	w.set(completed, []string{"cats-2", "dogs-vision"})
	calls, _ = w.run(rules, use)
	checkCalls(t, "jobs end", calls, "edit "+one, "post", "edit "+two, "reply "+two+" broadcast", "post")
	if got := where(w.slack, "cats-1"); !slices.Equal(got, []string{"channel C0CATS0001", "channel C0ONCALL01"}) {
		t.Errorf("cats-1: messages in %q, want its card in the cats channel and its failure in the on-call one", got)
	}
	if got := where(w.slack, "dogs-vision"); !slices.Equal(got, []string{"hook vision"}) {
		t.Errorf("dogs-vision: messages in %q, want its outcome by vision's webhook", got)
	}
	w.checkStored(failed, true, "cats-1")
	w.checkStored(completed, true, "cats-2", "dogs-vision")
}
