package slack

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	slackapi "github.com/slack-go/slack"

	"github.com/labelwatch/labelwatch/internal/clock"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

// storm is n finishing jobs as a storm brings them: a quarter failed, with
// reasons of about 1,000 characters (hostile text included) shared by a
// few jobs each, and the rest completed, but every 33rd stopped.
func storm(n int) []Alert {
	var out []Alert
	for i := range n {
		j := labeling.Job{
			Name:   fmt.Sprintf("street-scenes-seg-%05d", i),
			Status: labeling.StatusCompleted,
		}
		j.ARN = "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/" + j.Name
		switch {
		case i%4 == 0:
			j.Status = labeling.StatusFailed
			j.FailureReason = fmt.Sprintf("<!channel> ClientError %d: <@U123> & <https://evil.example|click> ", i%7) + strings.Repeat("manifest line not valid JSON; ", 32)
		case i%33 == 1:
			j.Status = labeling.StatusStopped
		}
		out = append(out, Alert{Job: j, Previous: labeling.StatusInProgress})
	}
	return out
}

// digestLinkRE matches a mrkdwn link to a job's console page.
var digestLinkRE = regexp.MustCompile(`<https://[a-z0-9-]+\.console\.aws\.amazon\.com/sagemaker/groundtruth\?region=[a-z0-9-]+#/labeling-jobs/details/([A-Za-z0-9-]+)\|([A-Za-z0-9-]+)>`)

// consoleListRE matches the link to the console's job list.
var consoleListRE = regexp.MustCompile(`<https://[a-z0-9-]+\.console\.aws\.amazon\.com/sagemaker/groundtruth\?region=[a-z0-9-]+#/labeling-jobs\|[^<>|]+>`)

// checkPart fails t unless m is a digest message Slack takes: Block Kit's
// limits, block text within digestBudget, no live markup but the links the
// digest makes, and a text-only fallback. It returns the jobs m links to.
func checkPart(t *testing.T, m Message) (linked []string) {
	t.Helper()
	bare := m
	bare.Blocks = nil
	for _, b := range m.Blocks {
		if s, ok := b.(*slackapi.SectionBlock); ok && s.Text != nil {
			if n := runes(s.Text.Text); n > maxSectionText {
				t.Errorf("section of %d characters", n)
			}
			for _, l := range digestLinkRE.FindAllStringSubmatch(s.Text.Text, -1) {
				if l[1] != l[2] {
					t.Errorf("link to %s named %s", l[1], l[2])
				}
				linked = append(linked, l[1])
			}
			s = slackapi.NewSectionBlock(mrkdwn(digestLinkRE.ReplaceAllString(s.Text.Text, "$2")), nil, nil)
			b = s
		}
		if c, ok := b.(*slackapi.ContextBlock); ok {
			var els []slackapi.MixedElement
			for _, e := range c.ContextElements.Elements {
				o := e.(*slackapi.TextBlockObject)
				els = append(els, mrkdwn(consoleListRE.ReplaceAllString(o.Text, "list")))
			}
			b = slackapi.NewContextBlock("", els...)
		}
		bare.Blocks = append(bare.Blocks, b)
	}
	checkLimits(t, bare)

	if n := testenv.BlockText(marshalBlocks(t, m)); n > digestBudget {
		t.Errorf("blocks hold %d characters of text, budget %d", n, digestBudget)
	}
	if m.Fallback == nil {
		t.Fatal("no fallback")
	}
	if len(m.Fallback.Blocks) != 0 || m.Fallback.Fallback != nil {
		t.Errorf("fallback is not text only: %+v", m.Fallback)
	}
	if n := runes(m.Fallback.Text); n > 4000 {
		t.Errorf("fallback text of %d characters", n)
	}
	checkMrkdwn(t, "fallback", m.Fallback.Text, false)
	return linked
}

func TestRenderDigestLimits(t *testing.T) {
	tests := []struct {
		name      string
		alerts    []Alert
		wantParts int // 0: any number
	}{
		{"one job", storm(1), 1},
		{"eleven jobs", storm(11), 1},
		{"a storm of 400", storm(400), 0},
		{"2000 jobs", storm(2000), 0},
		{"80 failed with one short reason", func() []Alert {
			as := storm(320)
			var failed []Alert
			for _, a := range as {
				if a.Job.Status == labeling.StatusFailed {
					a.Job.FailureReason = "short"
					failed = append(failed, a)
				}
			}
			return failed
		}(), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts := RenderDigest(tt.alerts)
			if tt.wantParts > 0 && len(parts) != tt.wantParts {
				t.Errorf("%d parts, want %d", len(parts), tt.wantParts)
			}
			carried := map[string]int{}
			for k, p := range parts {
				linked := checkPart(t, p.Message)
				inPart := map[string]bool{}
				for _, a := range p.Alerts {
					carried[a.Job.Name]++
					inPart[a.Job.Name] = true
				}
				// Every failed job is named, and linked, in the part that
				// carries it, in its blocks and in its fallback.
				named := map[string]bool{}
				for _, name := range linked {
					if !inPart[name] {
						t.Errorf("part %d links %s, which it does not carry", k+1, name)
					}
					named[name] = true
				}
				for _, a := range p.Alerts {
					if a.Job.Status != labeling.StatusFailed {
						continue
					}
					if !named[a.Job.Name] {
						t.Errorf("part %d does not name failed job %s", k+1, a.Job.Name)
					}
					if !strings.Contains(p.Message.Fallback.Text, a.Job.Name) {
						t.Errorf("part %d's fallback does not name failed job %s", k+1, a.Job.Name)
					}
				}
				h := p.Message.Blocks[0].(*slackapi.HeaderBlock).Text.Text
				if len(parts) > 1 && !strings.HasSuffix(h, fmt.Sprintf(" (part %d/%d)", k+1, len(parts))) {
					t.Errorf("part %d header %q", k+1, h)
				}
				if !strings.HasPrefix(p.Message.Text, h) {
					t.Errorf("part %d text %q does not start with its title %q", k+1, p.Message.Text, h)
				}
			}
			for _, a := range tt.alerts {
				if carried[a.Job.Name] != 1 {
					t.Errorf("%s carried by %d parts, want 1", a.Job.Name, carried[a.Job.Name])
				}
			}
		})
	}
}

func TestRenderDigestContent(t *testing.T) {
	as := storm(11) // jobs 0, 4, 8 failed (reasons 0, 4, 1), job 1 stopped, 7 completed
	as[8].Job.FailureReason = as[0].Job.FailureReason
	parts := RenderDigest(as)
	if len(parts) != 1 {
		t.Fatalf("%d parts, want 1", len(parts))
	}
	m := parts[0].Message
	checkPart(t, m)
	if h := m.Blocks[0].(*slackapi.HeaderBlock).Text.Text; h != "11 labeling jobs finished: 3 failed, 1 stopped, 7 completed" {
		t.Errorf("header = %q", h)
	}
	var sections []string
	for _, b := range m.Blocks {
		if s, ok := b.(*slackapi.SectionBlock); ok {
			sections = append(sections, s.Text.Text)
		}
	}
	if len(sections) != 4 {
		t.Fatalf("%d sections, want two reason groups, stopped and completed: %q", len(sections), sections)
	}
	group := sections[0]
	if !strings.HasPrefix(group, "❌ *Failed · 2 jobs with this reason:*\n>&lt;!channel&gt; ClientError 0: &lt;@U123&gt; &amp; &lt;https://evil.example|click&gt; manifest") {
		t.Errorf("first group = %q", group)
	}
	if strings.Count(group, "ClientError") != 1 || !strings.Contains(group, "…\n<https://") {
		t.Errorf("the reason is not shown once, cut with …: %q", group)
	}
	if !strings.Contains(group, "|street-scenes-seg-00000>, <https://") || !strings.HasSuffix(group, "|street-scenes-seg-00008>") {
		t.Errorf("first group does not link its two jobs: %q", group)
	}
	if !strings.HasPrefix(sections[1], "❌ *Failed · 1 job with this reason:*\n>&lt;!channel&gt; ClientError 4:") {
		t.Errorf("second group = %q", sections[1])
	}
	if sections[2] != "🛑 *1 stopped:* street-scenes-seg-00001" {
		t.Errorf("stopped = %q", sections[2])
	}
	if want := "✅ *7 completed:* street-scenes-seg-00002, street-scenes-seg-00003, street-scenes-seg-00005, street-scenes-seg-00006, street-scenes-seg-00007, street-scenes-seg-00009, street-scenes-seg-00010"; sections[3] != want {
		t.Errorf("completed = %q, want %q", sections[3], want)
	}
	if want := "11 labeling jobs finished: 3 failed, 1 stopped, 7 completed. Failed: street-scenes-seg-00000, street-scenes-seg-00004, street-scenes-seg-00008"; m.Text != want {
		t.Errorf("text = %q, want %q", m.Text, want)
	}
	if want := "11 labeling jobs finished: 3 failed, 1 stopped, 7 completed\n❌ Failed: street-scenes-seg-00000, street-scenes-seg-00004, street-scenes-seg-00008\n🛑 Stopped: street-scenes-seg-00001\n✅ Completed: street-scenes-seg-00002, street-scenes-seg-00003, street-scenes-seg-00005, street-scenes-seg-00006, street-scenes-seg-00007, street-scenes-seg-00009, street-scenes-seg-00010"; m.Fallback.Text != want {
		t.Errorf("fallback = %q, want %q", m.Fallback.Text, want)
	}
	if RenderDigest(nil) != nil {
		t.Error("no alerts rendered a digest")
	}
}

func TestRenderDigestSummaryCutsNames(t *testing.T) {
	var as []Alert
	for i := range 2000 {
		as = append(as, Alert{Job: labeling.Job{Name: fmt.Sprintf("done-%04d", i), Status: labeling.StatusCompleted}})
	}
	parts := RenderDigest(as)
	if len(parts) != 1 || len(parts[0].Alerts) != 2000 {
		t.Fatalf("%d parts, want one that carries all 2000", len(parts))
	}
	checkPart(t, parts[0].Message)
	s := parts[0].Message.Blocks[1].(*slackapi.SectionBlock).Text.Text
	more := regexp.MustCompile(`^✅ \*2,000 completed:\* done-0000, done-0001, .*, done-(\d{4}) and ([\d,]+) more$`).FindStringSubmatch(s)
	if more == nil {
		t.Fatalf("summary = %q", s)
	}
	last, _ := strconv.Atoi(more[1])
	rest, _ := strconv.Atoi(strings.ReplaceAll(more[2], ",", ""))
	if last+1+rest != 2000 || last < 100 {
		t.Errorf("names to done-%04d and %d more: want all 2000 counted and more than 100 named", last, rest)
	}
	if !strings.Contains(parts[0].Message.Fallback.Text, " more") {
		t.Errorf("fallback lists every name: %d characters", runes(parts[0].Message.Fallback.Text))
	}
}

func TestRenderDigestManyStatuses(t *testing.T) {
	var as []Alert
	for i := range 400 {
		as = append(as, Alert{Job: labeling.Job{Name: fmt.Sprint("j", i), Status: labeling.Status(fmt.Sprintf("Status<%d>&", i))}})
	}
	parts := RenderDigest(as)
	n := 0
	for _, p := range parts {
		checkPart(t, p.Message)
		n += len(p.Alerts)
	}
	if n != 400 {
		t.Errorf("parts carry %d alerts, want 400", n)
	}
}

// TestSendDigestToSlack posts a storm's digest through the real sender to a
// Slack that enforces the size limits: every part is taken, and a message
// over the limit is refused as ErrRejected, its fallback taken.
func TestSendDigestToSlack(t *testing.T) {
	s := testenv.NewSlack(t)
	senders := map[string]*Sender{
		"webhook": NewWebhookSender(s.WebhookURL(), nil, clock.System{}),
		"bot":     NewBotSender(testenv.SlackToken, testenv.SlackChannel, s.APIURL(), nil, clock.System{}),
	}
	for name, sender := range senders {
		t.Run(name, func(t *testing.T) {
			for k, p := range RenderDigest(storm(400)) {
				if _, _, err := sender.Send(t.Context(), p.Message); err != nil {
					t.Errorf("part %d: %v", k+1, err)
				}
			}
			huge := Message{Text: "huge", Blocks: []slackapi.Block{
				slackapi.NewSectionBlock(mrkdwn(strings.Repeat("a", 3000)), nil, nil),
				slackapi.NewSectionBlock(mrkdwn(strings.Repeat("a", 3000)), nil, nil),
				slackapi.NewSectionBlock(mrkdwn(strings.Repeat("a", 3000)), nil, nil),
				slackapi.NewSectionBlock(mrkdwn(strings.Repeat("a", 3000)), nil, nil),
				slackapi.NewSectionBlock(mrkdwn("a"), nil, nil),
			}}
			_, retry, err := sender.Send(t.Context(), huge)
			if retry || !errors.Is(err, ErrRejected) {
				t.Errorf("a message over the limit: %v, %v, want final ErrRejected", retry, err)
			}
		})
	}
}

// TestRenderDigestNamesPlaces checks that a digest of jobs of several
// accounts or regions names each job's region and account, so that one name
// in two places reads as two jobs, and that a digest of one place does not.
func TestRenderDigestNamesPlaces(t *testing.T) {
	job := func(region, account string, status labeling.Status) Alert {
		j := labeling.Job{Name: "same-name", Status: status, ARN: "arn:aws:sagemaker:" + region + ":" + account + ":labeling-job/same-name"}
		if account == "222222222222" {
			j.AccountName = "research"
		}
		return Alert{Job: j, Previous: labeling.StatusInProgress}
	}
	text := func(parts []DigestPart) string {
		var b strings.Builder
		for _, p := range parts {
			j, err := json.Marshal(p.Message.Blocks)
			if err != nil {
				t.Fatal(err)
			}
			b.Write(j)
		}
		return b.String()
	}
	for _, status := range []labeling.Status{labeling.StatusFailed, labeling.StatusCompleted} {
		mixed := text(RenderDigest([]Alert{
			job("us-east-1", "111111111111", status), job("eu-west-1", "111111111111", status), job("us-east-1", "222222222222", status),
		}))
		for _, want := range []string{"(us-east-1 · 111111111111)", "(eu-west-1 · 111111111111)", "(us-east-1 · research (222222222222))"} {
			if !strings.Contains(mixed, want) {
				t.Errorf("%s: a digest of three places does not name %q:\n%s", status, want, mixed)
			}
		}
		one := text(RenderDigest([]Alert{job("us-east-1", "111111111111", status), job("us-east-1", "111111111111", status)}))
		if strings.Contains(one, "(us-east-1 ·") {
			t.Errorf("%s: a digest of one place names it on each job:\n%s", status, one)
		}
	}
}
