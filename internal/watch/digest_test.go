package watch_test

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/slack"
	"github.com/labelwatch/labelwatch/internal/testenv"
	"github.com/labelwatch/labelwatch/internal/watch"
)

// failedLink matches a digest's link to a failed job's console page.
var failedLink = regexp.MustCompile(`<https://us-east-1\.console\.aws\.amazon\.com/sagemaker/groundtruth\?region=us-east-1#/labeling-jobs/details/([a-z0-9-]+)\|([a-z0-9-]+)>`)

// stormReason is the failure reason of the i-th failed job of a storm:
// about 1,000 characters, with markup Slack must not act on, shared by
// every seventh job.
func stormReason(i int) string {
	r := fmt.Sprintf("<!channel> ClientError %d: <@U0ADMIN> see <https://evil.example|here> & ", i%7)
	return r + strings.Repeat("manifest line is not valid JSON; ", 30)[:1000-len(r)]
}

// brewStorm puts 400 jobs in progress, runs a first cycle to see them, and
// then finishes them all: 100 failed with long reasons, 10 stopped, 290
// completed. It returns the names of the failed ones and of all.
func brewStorm(h *harness) (failedJobs, all []string) {
	h.t.Helper()
	all = h.jobs("street-scenes-seg", 400, inProgress, h.clock.Now())
	h.mustRun(setup{})
	h.clock.Advance(time.Minute)
	for i, name := range all {
		switch {
		case i%4 == 0:
			h.set(failed, []string{name}, func(j *labeling.Job) { j.FailureReason = stormReason(i) })
			failedJobs = append(failedJobs, name)
		case i%33 == 1:
			h.set(stopped, []string{name})
		default:
			h.set(completed, []string{name})
		}
	}
	return failedJobs, all
}

// namedFailed is how many times each failed job is linked in msgs.
func namedFailed(msgs []testenv.SlackMessage) map[string]int {
	named := map[string]int{}
	for _, m := range msgs {
		for _, text := range message(m).mrkdwn() {
			for _, l := range failedLink.FindAllStringSubmatch(text, -1) {
				named[l[1]]++
			}
		}
	}
	return named
}

// checkQuiet runs one more cycle and checks it posts nothing.
func checkQuiet(t *testing.T, h *harness, s setup) {
	t.Helper()
	before := h.slack.Requests()
	h.clock.Advance(time.Minute)
	sum := h.mustRun(s)
	if sum.Transitions != 0 || sum.Alerted != 0 || sum.Pending != 0 {
		t.Errorf("the run after: %+v, want nothing to do", sum)
	}
	if n := h.slack.Requests() - before; n != 0 {
		t.Errorf("the run after posted %d times, want nothing", n)
	}
}

// The storm tests run on the deployed store only. The file store (for the
// local CLI) rewrites its whole file on each write, so a 400-job storm costs
// it half a minute under -race and tells nothing new: both stores pass the
// same contract (internal/state) and the smaller cycle tests run on both.
func stormBackends() []backend { return []backend{backendNamed("DynamoStore")} }

func backendNamed(name string) backend {
	for _, b := range backends {
		if b.name == name {
			return b
		}
	}
	panic("no backend " + name)
}

// TestDigestStorm runs on moto one request at a time too, where the
// first run's records, the storm's claims (in transactions) and commits (in
// batches) are written together.
func TestDigestStorm(t *testing.T) {
	for _, b := range append(stormBackends(), motoSerialBackend) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, b)
			paced := setup{opts: watch.Options{Pace: time.Second}}
			failedJobs, all := brewStorm(h)
			before, _ := h.cursor()

			sum := h.mustRun(paced)
			checkSummary(t, sum, watch.Summary{Listed: 400, Transitions: 400, Alerted: 400, Digest: true, Advanced: true})
			h.checkStored(failed, true, failedJobs...)
			msgs := h.slack.Messages()
			if len(msgs) < 2 || len(msgs) > 6 {
				t.Fatalf("%d messages, want the digest in a few parts", len(msgs))
			}
			for k, m := range msgs {
				// Slack took it with its blocks: no part needed its minimal form.
				if len(m.Blocks) == 0 || len(m.Blocks) > testenv.SlackMaxBlocks || testenv.BlockText(m.Blocks) > testenv.SlackMaxBlockText {
					t.Errorf("message %d: %d blocks, %d characters of text", k+1, len(m.Blocks), testenv.BlockText(m.Blocks))
				}
				want := fmt.Sprintf("400 labeling jobs finished: 100 failed, 10 stopped, 290 completed (part %d/%d)", k+1, len(msgs))
				if h := message(m).header(); h != want {
					t.Errorf("message %d header %q, want %q", k+1, h, want)
				}
				for _, live := range []string{"<!channel>", "<@U0ADMIN>", "<https://evil.example"} {
					if strings.Contains(message(m).all(), live) {
						t.Errorf("message %d carries live %q", k+1, live)
					}
				}
			}
			named := namedFailed(msgs)
			for _, name := range failedJobs {
				if named[name] != 1 {
					t.Errorf("%s named in %d messages, want 1", name, named[name])
				}
			}
			if len(named) != len(failedJobs) {
				t.Errorf("%d jobs linked as failed, want %d", len(named), len(failedJobs))
			}
			// Paced like single alerts.
			checkWaits(t, h.clock, slices.Repeat([]time.Duration{time.Second}, len(msgs)-1)...)
			if after, _ := h.cursor(); !after.After(before) {
				t.Errorf("cursor %v did not move past %v", after, before)
			}
			for _, name := range all {
				if r := h.records(name)[name]; r.AlertedAt.IsZero() {
					t.Errorf("%s not committed", name)
				}
			}

			checkQuiet(t, h, paced)
		})
	}
}

func TestDigestPartFails(t *testing.T) {
	for _, b := range stormBackends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, b)
			failedJobs, all := brewStorm(h)
			before, _ := h.cursor()

			// Slack takes the first part and fails the second every time.
			h.slack.FailNext(1, testenv.SlackFault{})
			h.slack.FailNext(watch.DefaultRetrier.Attempts, testenv.SlackFault{Status: 500})
			sum, err := h.runCtx(t.Context(), h.watcher(setup{}))
			if err == nil {
				t.Fatal("Run succeeded with a part not delivered")
			}
			first := h.slack.Messages()
			if len(first) < 1 || first[0].Text == "" || len(first[0].Blocks) == 0 {
				t.Fatalf("%d parts taken, want all but the second", len(first))
			}
			if sum.Alerted+sum.Pending != 400 || sum.Alerted == 0 || sum.Pending == 0 {
				t.Errorf("%d alerted and %d pending, want the 400 split between them", sum.Alerted, sum.Pending)
			}
			if c, _ := h.cursor(); !c.Equal(before) {
				t.Error("cursor moved with alerts pending")
			}
			committed := 0
			for _, r := range h.records(all...) {
				if !r.AlertedAt.IsZero() {
					committed++
				}
			}
			if committed != sum.Alerted {
				t.Errorf("%d jobs committed, want the %d alerted", committed, sum.Alerted)
			}

			h.clock.Advance(time.Minute)
			sum = h.mustRun(setup{})
			if sum.Alerted != 400-committed || !sum.Advanced {
				t.Errorf("second run alerted %d (advanced %v), want the %d pending and the cursor moved", sum.Alerted, sum.Advanced, 400-committed)
			}
			named := namedFailed(h.slack.Messages())
			for _, name := range failedJobs {
				if named[name] != 1 {
					t.Errorf("%s named in %d messages, want exactly 1", name, named[name])
				}
			}
			h.checkStored(failed, true, failedJobs...)
			checkQuiet(t, h, setup{})
		})
	}
}

// bloated is a Notifier that makes every message with blocks too long for
// Slack, as a renderer with a bug would, and posts it with the real sender.
type bloated struct{ *slack.Sender }

func (b bloated) Send(ctx context.Context, m slack.Message) (slack.Posted, bool, error) {
	if len(m.Blocks) > 0 {
		m.Blocks = slices.Clone(m.Blocks)
		for range 5 {
			m.Blocks = append(m.Blocks, slackapi.NewSectionBlock(slackapi.NewTextBlockObject(slackapi.MarkdownType, strings.Repeat("x", 2900), false, false), nil, nil))
		}
	}
	return b.Sender.Send(ctx, m)
}

func TestRejectedMessageFallback(t *testing.T) {
	tests := []struct {
		name   string
		jobs   int
		digest int // DigestThreshold
	}{
		{"one alert", 1, 10},
		{"a digest", 12, 10},
		{"a storm", 400, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, stormBackends()[0])
			opts := watch.Options{Rules: defaultRules(), Overlap: 10 * time.Minute, DeadlineMargin: 5 * time.Second, DigestThreshold: tt.digest}
			run := func() (watch.Summary, error) {
				source := labeling.NewSource(h.sm, labeling.Filter{})
				w := watch.New(source, h.store, bloated{h.sender}, slog.New(slog.NewJSONHandler(h.logs, nil)), h.clock, opts)
				return h.runCtx(t.Context(), w)
			}
			names := h.jobs("street-scenes-seg", tt.jobs, inProgress, h.clock.Now())
			if _, err := run(); err != nil {
				t.Fatal(err)
			}
			h.clock.Advance(time.Minute)
			h.set(failed, names, func(j *labeling.Job) {
				j.ARN = "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/" + j.Name
				j.FailureReason = stormReason(0)
			})

			sum, err := run()
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if sum.Alerted != tt.jobs || sum.Pending != 0 || !sum.Advanced {
				t.Errorf("summary %+v, want all %d alerted and the cursor moved", sum, tt.jobs)
			}
			msgs := h.slack.Messages()
			if len(msgs) == 0 {
				t.Fatal("nothing posted")
			}
			if n := h.slack.Requests(); n != 2*len(msgs) {
				t.Errorf("%d requests for %d messages, want one refused and its fallback each", n, len(msgs))
			}
			seen := map[string]int{}
			for _, m := range msgs {
				if len(m.Blocks) != 0 {
					t.Errorf("a message with blocks went out: %.200s", m.Raw)
				}
				if strings.Contains(m.Text, "<!channel>") {
					t.Errorf("fallback carries a live mention: %.300s", m.Text)
				}
				for _, name := range names {
					if regexp.MustCompile(`\b` + name + `\b`).MatchString(m.Text) {
						seen[name]++
					}
				}
			}
			for _, name := range names {
				if seen[name] != 1 {
					t.Errorf("%s named in %d fallbacks, want 1", name, seen[name])
				}
			}
			if tt.jobs == 1 {
				want := "❌ street-scenes-seg-000 failed · us-east-1 · <https://us-east-1.console.aws.amazon.com/sagemaker/groundtruth?region=us-east-1#/labeling-jobs/details/street-scenes-seg-000|"
				if !strings.HasPrefix(msgs[0].Text, want) {
					t.Errorf("fallback %q, want it to start %q", msgs[0].Text, want)
				}
			}
			h.checkStored(failed, true, names...)
			if logs := h.logs.String(); !strings.Contains(logs, `"msg":"alert sent in minimal form","job":"street-scenes-seg-000"`) ||
				!strings.Contains(logs, "slack refused the message; its minimal form went out instead") {
				t.Error("the logs do not say which alerts went out in minimal form")
			}

			before := h.slack.Requests()
			h.clock.Advance(time.Minute)
			if sum, err := run(); err != nil || sum.Transitions != 0 {
				t.Errorf("next run: %+v, %v; want nothing to do", sum, err)
			}
			if n := h.slack.Requests() - before; n != 0 {
				t.Errorf("next run posted %d times", n)
			}
		})
	}
}
