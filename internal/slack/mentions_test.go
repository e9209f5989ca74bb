package slack

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	slackapi "github.com/slack-go/slack"

	"github.com/labelwatch/labelwatch/internal/clock"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

// wireText is a text object as Slack receives it.
type wireText struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Verbatim bool   `json:"verbatim"`
}

// pagedLine is the text of m's "Paged …" line as Slack receives it: the one
// element of its last block, a verbatim mrkdwn context; "" when m has none.
func pagedLine(t *testing.T, m Message) string {
	t.Helper()
	if len(m.Blocks) == 0 {
		return ""
	}
	raw, err := json.Marshal(m.Blocks[len(m.Blocks)-1])
	if err != nil {
		t.Fatal(err)
	}
	var last struct {
		Type     string     `json:"type"`
		Elements []wireText `json:"elements"`
	}
	if err := json.Unmarshal(raw, &last); err != nil {
		t.Fatal(err)
	}
	if last.Type != "context" || len(last.Elements) != 1 || !strings.HasPrefix(last.Elements[0].Text, "Paged ") {
		return ""
	}
	if e := last.Elements[0]; e.Type != "mrkdwn" || !e.Verbatim {
		t.Errorf("paged line %s is not verbatim mrkdwn", raw)
	}
	return last.Elements[0].Text
}

// withoutPaged fails t unless m ends with the "Paged …" line want, and
// returns m without it, for checks that allow no live mention.
func withoutPaged(t *testing.T, m Message, want string) Message {
	t.Helper()
	if got := pagedLine(t, m); got == "" || got != want {
		t.Fatalf("paged line = %q, want %q", got, want)
	}
	m.Blocks = m.Blocks[: len(m.Blocks)-1 : len(m.Blocks)-1]
	return m
}

// wireMrkdwn is every mrkdwn text object of blocks as Slack receives them
// (blocks as JSON), at any depth.
func wireMrkdwn(t *testing.T, blocks []json.RawMessage) []wireText {
	t.Helper()
	var out []wireText
	err := testenv.EachBlockObject(blocks, func(o map[string]any) {
		if o["type"] == "mrkdwn" {
			verbatim, _ := o["verbatim"].(bool)
			text, _ := o["text"].(string)
			out = append(out, wireText{Type: "mrkdwn", Text: text, Verbatim: verbatim})
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// marshalBlocks is m's blocks as slack-go sends them, one JSON value each.
func marshalBlocks(t *testing.T, m Message) []json.RawMessage {
	t.Helper()
	raw, err := json.Marshal(m.Blocks)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []json.RawMessage
	if err := json.Unmarshal(raw, &blocks); err != nil {
		t.Fatal(err)
	}
	return blocks
}

// manyGroups are n user-group IDs of the greatest length Slack's IDs have.
func manyGroups(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("S%020d", i)
	}
	return ids
}

func TestWithMentionsPagedLine(t *testing.T) {
	tests := []struct {
		name      string
		ids       []string
		notice    string // the start of the notification text
		line      string // the whole line; "" to check prefix and suffix
		prefix    string
		suffix    string
		wantShown int // mentions in the line, with those counted as "more"
	}{
		{
			name:   "user group and here",
			ids:    []string{"S0614TZR7", "here"},
			notice: "<!subteam^S0614TZR7> <!here> ❌ ",
			line:   "Paged <!subteam^S0614TZR7>, <!here>",
		},
		{
			name:   "ids of other forms are skipped",
			ids:    []string{"@alice", "<!channel>", "U024BE7LH", "c0123"},
			notice: "<@U024BE7LH> ❌ ",
			line:   "Paged <@U024BE7LH>",
		},
		{
			name: "more than the line holds",
			ids:  manyGroups(40),
			notice: strings.Join(func() []string { // every one pages
				var ms []string
				for _, id := range manyGroups(40) {
					ms = append(ms, "<!subteam^"+id+">")
				}
				return ms
			}(), " ") + " ❌ ",
			prefix:    "Paged <!subteam^S00000000000000000000>, <!subteam^S00000000000000000001>, ",
			suffix:    " more",
			wantShown: 40,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			alert := RenderAlert(Alert{Job: job()})
			m := alert.WithMentions(tt.ids)
			if !strings.HasPrefix(m.Text, tt.notice) {
				t.Errorf("notification %q, want it to start %q", m.Text, tt.notice)
			}
			got := pagedLine(t, m)
			switch {
			case tt.line != "" && got != tt.line:
				t.Errorf("paged line %q, want %q", got, tt.line)
			case tt.line == "" && (!strings.HasPrefix(got, tt.prefix) || !strings.HasSuffix(got, tt.suffix)):
				t.Errorf("paged line %q, want %q…%q", got, tt.prefix, tt.suffix)
			}
			if n := runes(got); n > maxPagedLine {
				t.Errorf("paged line of %d characters, limit %d", n, maxPagedLine)
			}
			if tt.wantShown > 0 {
				var more int
				if _, tail, ok := strings.Cut(got, "> and "); ok {
					fmt.Sscanf(tail, "%d more", &more)
				}
				if shown := strings.Count(got, "<!subteam^"); shown+more != tt.wantShown || more == 0 {
					t.Errorf("paged line names %d and counts %d more, want %d in all: %q", shown, more, tt.wantShown, got)
				}
			}
			// Apart from its line and the notification, the message is the
			// alert: every limit kept, no other live mention.
			bare := withoutPaged(t, m, got)
			bare.Text = alert.Text
			bare.pages = alert.pages // the result pages no further
			if !reflect.DeepEqual(bare, alert) {
				t.Errorf("WithMentions changed more than the text and the paged line")
			}
			if len(m.Blocks) != len(alert.Blocks)+1 {
				t.Errorf("%d blocks, want the alert's %d and the paged line", len(m.Blocks), len(alert.Blocks))
			}
		})
	}
}

// TestWithMentionsLeavesItsInputAlone pages one message twice, for two
// different people: neither result shares blocks with the other, even when
// the message's block slice has room to grow.
func TestWithMentionsLeavesItsInputAlone(t *testing.T) {
	blocks := make([]slackapi.Block, 1, 8)
	blocks[0] = slackapi.NewSectionBlock(verbatim("x"), nil, nil)
	m := Message{Text: "x failed", Blocks: blocks, pages: true}
	here := m.WithMentions([]string{"here"})
	channel := m.WithMentions([]string{"channel"})
	if got := pagedLine(t, here); got != "Paged <!here>" {
		t.Errorf("first message's paged line = %q after a second WithMentions", got)
	}
	if got := pagedLine(t, channel); got != "Paged <!channel>" {
		t.Errorf("second message's paged line = %q", got)
	}
	if len(m.Blocks) != 1 || m.Text != "x failed" || !m.pages {
		t.Errorf("WithMentions changed the message it was given: %+v", m)
	}
}

// TestWhatPages holds which messages WithMentions makes page: a failure's
// alert wherever it goes (in the channel, as a reply under its card) and
// its minimal form, never a card, news or another status's alert.
func TestWhatPages(t *testing.T) {
	ids := []string{"S0614TZR7", "here"}
	const pager = "<!subteam^S0614TZR7> <!here> "
	const line = "Paged <!subteam^S0614TZR7>, <!here>"
	failed, completed := job(), job()
	completed.Status, completed.FailureReason = labeling.StatusCompleted, ""
	reply := func(m Message) Message {
		m.Thread, m.Broadcast = Posted{Channel: "C0ALERTS01", TS: "1700000000.000100"}, true
		return m
	}
	withFallback := func(m Message, a Alert) Message {
		fb := AlertFallback(a) // as the watcher sends an alert
		m.Fallback = &fb
		return m
	}
	tests := []struct {
		name  string
		msg   Message
		paged bool
	}{
		{"failed alert", withFallback(RenderAlert(Alert{Job: failed}), Alert{Job: failed}), true},
		{"failed alert as a reply under its card", reply(withFallback(RenderAlert(Alert{Job: failed}), Alert{Job: failed})), true},
		{"failed alert's minimal form on its own", AlertFallback(Alert{Job: failed}), true},
		{"completed alert", withFallback(RenderAlert(Alert{Job: completed}), Alert{Job: completed}), false},
		{"completed alert's minimal form", AlertFallback(Alert{Job: completed}), false},
		{"failed job's card", RenderCard(failed), false},
		{"failed job's card, edited", func() Message { m := RenderCard(failed); m.Edit = Posted{Channel: "C0ALERTS01", TS: "1"}; return m }(), false},
		{"failed job's card's minimal form", *RenderCard(failed).Fallback, false},
		{"news in a failing job's thread", reply(RenderNotice(failed, Notice{FailedShare: 0.5})), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.msg.WithMentions(ids)
			if !tt.paged {
				if !reflect.DeepEqual(m, tt.msg) {
					t.Errorf("changed: text %q, %d blocks", m.Text, len(m.Blocks))
				}
				return
			}
			if m.Text != pager+tt.msg.Text {
				t.Errorf("text %q, want the mentions before %q", m.Text, tt.msg.Text)
			}
			if len(tt.msg.Blocks) > 0 {
				withoutPaged(t, m, line)
			} else if len(m.Blocks) != 0 {
				t.Errorf("a text-only message got %d blocks", len(m.Blocks))
			}
			if tt.msg.Fallback != nil && (m.Fallback == nil || m.Fallback.Text != pager+tt.msg.Fallback.Text) {
				t.Errorf("minimal form %+v, want it to page too", m.Fallback)
			}
			if m.Thread != tt.msg.Thread || m.Broadcast != tt.msg.Broadcast || m.Edit != tt.msg.Edit {
				t.Errorf("where it goes changed: %+v, %v", m.Thread, m.Broadcast)
			}
			// Paged once is paged for good: nobody is mentioned twice.
			if again := m.WithMentions(ids); !reflect.DeepEqual(again, m) {
				t.Errorf("paged again: %q", again.Text)
			}
		})
	}
}

// TestFailureReplyPagesInSlack sends a failed job's card and then its
// alert as a broadcast reply under it, both through WithMentions, the way
// the function does, to Slack's Web API: the reply pages and shows whom,
// in the card's thread; the card pages nobody.
func TestFailureReplyPagesInSlack(t *testing.T) {
	s := testenv.NewSlack(t)
	sender := NewBotSender(testenv.SlackToken, testenv.SlackChannel, s.APIURL(), nil, clock.System{})
	ids := []string{"U0ONCALL1", "here"}
	j := job()
	card, _, err := sender.Send(t.Context(), RenderCard(j).WithMentions(ids))
	if err != nil {
		t.Fatal(err)
	}
	reply := RenderAlert(Alert{Job: j})
	reply.Thread, reply.Broadcast = card, true
	if _, _, err := sender.Send(t.Context(), reply.WithMentions(ids)); err != nil {
		t.Fatal(err)
	}
	calls := s.Calls()
	if len(calls) != 2 {
		t.Fatalf("%d calls, want the card and the reply", len(calls))
	}
	tests := []struct {
		name       string
		call       testenv.SlackCall
		kind, line string
	}{
		{"card", calls[0], "post", ""},
		{"reply", calls[1], "reply " + card.TS + " broadcast", "Paged <@U0ONCALL1>, <!here>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.call.String() != tt.kind {
				t.Errorf("sent as %q, want %q", tt.call.String(), tt.kind)
			}
			paged := strings.HasPrefix(tt.call.Text, "<@U0ONCALL1> <!here> ")
			if paged != (tt.line != "") {
				t.Errorf("text %q pages: %v", tt.call.Text, paged)
			}
			var shown []string
			for _, o := range wireMrkdwn(t, tt.call.Blocks) {
				if strings.Contains(o.Text, "<@U0ONCALL1>") || strings.Contains(o.Text, "<!here>") {
					shown = append(shown, o.Text)
				}
			}
			if tt.line == "" && len(shown) > 0 || tt.line != "" && (len(shown) != 1 || shown[0] != tt.line) {
				t.Errorf("blocks mention %q, want %q", shown, tt.line)
			}
		})
	}
}

// digestPager is what a digest part that pages starts its text with.
const digestPager = "<!subteam^S0614TZR7> <!here> "

func TestRenderDigestPages(t *testing.T) {
	ids := []string{"S0614TZR7", "here"}
	done := func(n int) []Alert {
		var as []Alert
		for i := range n {
			as = append(as, Alert{Job: labeling.Job{Name: fmt.Sprintf("done-%03d", i), Status: labeling.StatusCompleted}})
		}
		return as
	}
	// failedFull fills whole parts with failed jobs, one section each, so
	// that the completed jobs after them get a part of their own.
	failedFull := func(parts int) []Alert {
		var as []Alert
		for i := range parts * (maxDigestBlocks - 1) {
			as = append(as, Alert{Job: labeling.Job{Name: fmt.Sprintf("bad-%03d", i), Status: labeling.StatusFailed, FailureReason: fmt.Sprint("reason ", i)}})
		}
		return as
	}
	tests := []struct {
		name      string
		alerts    []Alert
		wantPaged []bool // per part
	}{
		{"failures and completions", storm(11), []bool{true}},
		{"one failure among many", append(done(30), storm(1)...), []bool{true}},
		{"completions only", done(30), []bool{false}},
		{"stopped and completed", append(done(5), Alert{Job: labeling.Job{Name: "halt", Status: labeling.StatusStopped}}), []bool{false}},
		{"failures in parts, then completions", append(failedFull(2), done(30)...), []bool{true, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts := RenderDigest(tt.alerts)
			var got []bool
			for _, p := range parts {
				got = append(got, strings.HasPrefix(p.Message.WithMentions(ids).Text, digestPager))
			}
			if !reflect.DeepEqual(got, tt.wantPaged) {
				t.Fatalf("parts paged %v, want %v", got, tt.wantPaged)
			}
			for k, p := range parts {
				plain := p.Message
				m := plain.WithMentions(ids)
				if !tt.wantPaged[k] {
					if !reflect.DeepEqual(m, plain) {
						t.Errorf("part %d changed: %q", k+1, m.Text)
					}
					// The watcher sends a refused part's minimal form on
					// its own, through WithMentions.
					if fb := plain.Fallback.WithMentions(ids); fb.Text != plain.Fallback.Text {
						t.Errorf("part %d's minimal form pages: %q", k+1, fb.Text)
					}
					continue
				}
				if m.Text != digestPager+plain.Text {
					t.Errorf("part %d text %q, want the mentions before %q", k+1, m.Text, plain.Text)
				}
				withoutPaged(t, m, "Paged <!subteam^S0614TZR7>, <!here>")
				if m.Fallback.Text != digestPager+plain.Fallback.Text {
					t.Errorf("part %d's minimal form %q does not page", k+1, m.Fallback.Text)
				}
				if fb := plain.Fallback.WithMentions(ids); fb.Text != digestPager+plain.Fallback.Text {
					t.Errorf("part %d's minimal form sent on its own does not page: %q", k+1, fb.Text)
				}
				if n := len(m.Blocks); n > maxBlocks {
					t.Errorf("part %d has %d blocks with its paged line", k+1, n)
				}
			}
		})
	}
}

// TestRenderDigestRoomForPagedLine sends digests whose parts are full, by
// blocks or by text, with the longest paged line, to a Slack that refuses
// what is over its limits: every part is taken, and within the digest's
// own budget.
func TestRenderDigestRoomForPagedLine(t *testing.T) {
	ids := manyGroups(40)
	shortReasons := func(n int) []Alert {
		var as []Alert
		for i := range n {
			// No ARN, so no link: the sections are short and a part is
			// full by its blocks.
			as = append(as, Alert{Job: labeling.Job{Name: fmt.Sprintf("bad-%03d", i), Status: labeling.StatusFailed, FailureReason: fmt.Sprint("r", i)}})
		}
		return as
	}
	tests := []struct {
		name   string
		alerts []Alert
	}{
		{"full by blocks", shortReasons(300)},
		{"full by text", storm(400)},
		{"2000 jobs", storm(2000)},
	}
	s := testenv.NewSlack(t)
	senders := map[string]*Sender{
		"webhook": NewWebhookSender(s.WebhookURL(), nil, clock.System{}),
		"bot":     NewBotSender(testenv.SlackToken, testenv.SlackChannel, s.APIURL(), nil, clock.System{}),
	}
	for _, tt := range tests {
		for how, sender := range senders {
			t.Run(tt.name+"/"+how, func(t *testing.T) {
				for k, p := range RenderDigest(tt.alerts) {
					m := p.Message.WithMentions(ids)
					// A part of completions alone pages no one.
					if paged := pagedLine(t, m) != ""; paged != carriesFailure(p.Alerts) {
						t.Fatalf("part %d pages %v, carries a failure %v", k+1, paged, !paged)
					}
					if n := len(m.Blocks); n > maxBlocks {
						t.Errorf("part %d: %d blocks", k+1, n)
					}
					if n := testenv.BlockText(marshalBlocks(t, m)); n > digestBudget {
						t.Errorf("part %d: %d characters of block text, budget %d", k+1, n, digestBudget)
					}
					if _, _, err := sender.Send(t.Context(), m); err != nil {
						t.Errorf("part %d: %v", k+1, err)
					}
				}
			})
		}
	}
}

// TestRenderDigestTextIsVerbatim posts digests whose failure reasons and
// statuses hold what Slack would otherwise turn into mentions and links,
// and reads the blocks as Slack received them: every mrkdwn object is
// verbatim, and the text from the API arrives escaped.
func TestRenderDigestTextIsVerbatim(t *testing.T) {
	tests := []struct {
		name, reason string
		want         string // in the reason's section as received
	}{
		{"bare channel mention", "@channel the bucket is gone", ">@channel the bucket is gone"},
		{"channel name", "ask in #general", ">ask in #general"},
		{"here in markup", "<!here> look", ">&lt;!here&gt; look"},
		{"user in markup", "ping <@U024BE7LH>", ">ping &lt;@U024BE7LH&gt;"},
		{"bare URL", "see https://evil.example/x and s3://b/k", ">see https://evil.example/x and s3://b/k"},
		{"link markup", "<https://evil.example|click>", ">&lt;https://evil.example|click&gt;"},
		{"ampersand", "a & b", ">a &amp; b"},
	}
	s := testenv.NewSlack(t)
	sender := NewWebhookSender(s.WebhookURL(), nil, clock.System{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			alerts := storm(11)
			for i := range alerts {
				alerts[i].Job.FailureReason = tt.reason
			}
			alerts[1].Job.Status = labeling.Status("Paused <!channel> @here")
			before := len(s.Calls())
			for _, p := range RenderDigest(alerts) {
				if _, _, err := sender.Send(t.Context(), p.Message); err != nil {
					t.Fatal(err)
				}
			}
			calls := s.Calls()[before:]
			if len(calls) != 1 {
				t.Fatalf("%d messages, want 1", len(calls))
			}
			texts := wireMrkdwn(t, calls[0].Blocks)
			if len(texts) < 3 {
				t.Fatalf("%d mrkdwn objects, want the failures, two summaries and the closing line", len(texts))
			}
			var all []string
			reasons := 0
			for _, o := range texts {
				all = append(all, o.Text)
				if !o.Verbatim {
					t.Errorf("mrkdwn %q is not verbatim", o.Text)
				}
				if strings.Contains(o.Text, "<!here>") || strings.Contains(o.Text, "<!channel>") || strings.Contains(o.Text, "<@U024BE7LH>") {
					t.Errorf("mrkdwn %q carries a live mention", o.Text)
				}
				if strings.Contains(o.Text, tt.want) {
					reasons++
				}
			}
			if reasons != 1 {
				t.Errorf("the reason %q is in %d sections as received, want 1: %q", tt.want, reasons, all)
			}
			if !strings.Contains(strings.Join(all, "\n"), "Paused &lt;!channel&gt; @here:*") {
				t.Errorf("the unknown status is not escaped: %q", all)
			}
		})
	}
}

// TestEveryMrkdwnIsVerbatim sweeps every kind of message, as slack-go
// marshals it: no mrkdwn object lets Slack parse what it holds.
func TestEveryMrkdwnIsVerbatim(t *testing.T) {
	failed := job()
	running := job()
	running.Status, running.FailureReason = labeling.StatusInProgress, ""
	msgs := map[string]Message{
		"failed alert":        RenderAlert(Alert{Job: failed}),
		"failed alert, paged": RenderAlert(Alert{Job: failed}).WithMentions([]string{"here"}),
		"card":                RenderCard(running),
		"notice":              RenderNotice(running, Notice{Milestone: 50}),
	}
	for status := range map[labeling.Status]bool{labeling.StatusCompleted: true, labeling.StatusStopped: true, labeling.StatusInProgress: true} {
		j := job()
		j.Status = status
		msgs["alert "+string(status)] = RenderAlert(Alert{Job: j})
	}
	for k, p := range RenderDigest(storm(400)) {
		msgs[fmt.Sprintf("digest part %d", k+1)] = p.Message
		msgs[fmt.Sprintf("digest part %d, paged", k+1)] = p.Message.WithMentions([]string{"here"})
	}
	for name, m := range msgs {
		t.Run(name, func(t *testing.T) {
			texts := wireMrkdwn(t, marshalBlocks(t, m))
			if len(texts) == 0 {
				t.Fatal("no mrkdwn object found")
			}
			for _, o := range texts {
				if !o.Verbatim {
					t.Errorf("mrkdwn %q is not verbatim", o.Text)
				}
			}
		})
	}
}

func TestWithMentions(t *testing.T) {
	ids := []string{"U024BE7LH", "W0AB", "S0614TZR7", "here", "channel"}
	const pager = "<@U024BE7LH> <@W0AB> <!subteam^S0614TZR7> <!here> <!channel> "
	tests := []struct {
		name   string
		status labeling.Status
		reason string
		ids    []string
		paged  bool
	}{
		{"failed", labeling.StatusFailed, "boom", ids, true},
		{"failed without a reason", labeling.StatusFailed, "", ids, true},
		{"completed", labeling.StatusCompleted, "", ids, false},
		{"stopped", labeling.StatusStopped, "", ids, false},
		{"in progress with a reason", labeling.StatusInProgress, "boom", ids, false},
		{"unknown status", "Failed ", "boom", ids, false},
		{"failed, no one to page", labeling.StatusFailed, "boom", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := job()
			j.Status, j.FailureReason = tt.status, tt.reason
			plain := RenderAlert(Alert{Job: j})
			plain.Fallback = &Message{Text: "text only"}
			m := plain.WithMentions(tt.ids)
			if got := strings.HasPrefix(m.Text, pager); got != tt.paged {
				t.Errorf("paged = %v, want %v: %q", got, tt.paged, m.Text)
			}
			if tt.paged {
				if m.Text != pager+plain.Text {
					t.Errorf("text = %q, want the mentions before %q", m.Text, plain.Text)
				}
				if m.Fallback.Text != pager+"text only" {
					t.Errorf("text-only form = %q, want it to page too", m.Fallback.Text)
				}
				if plain.Fallback.Text != "text only" {
					t.Error("WithMentions changed the message it was given")
				}
			} else if m.Text != plain.Text || m.Fallback.Text != "text only" {
				t.Errorf("text = %q, want it unchanged", m.Text)
			}
			blocks := m.Blocks
			if tt.paged {
				// The channel sees whom the message paged, in a last line;
				// no other block mentions anyone.
				blocks = withoutPaged(t, m, "Paged <@U024BE7LH>, <@W0AB>, <!subteam^S0614TZR7>, <!here>, <!channel>").Blocks
			}
			if len(blocks) != len(plain.Blocks) {
				t.Errorf("%d blocks, want the %d of the alert", len(blocks), len(plain.Blocks))
			}
			for _, b := range blocks {
				if strings.Contains(allText(Message{Text: "-", Blocks: []slackapi.Block{b}}), "U024BE7LH") {
					t.Errorf("a block mentions: %v", b)
				}
			}
		})
	}
}

func TestWithMentionsNeverFromOtherText(t *testing.T) {
	j := job()
	m := RenderAlert(Alert{Job: j}).WithMentions([]string{"<!channel>", "@alice", "u1", "C0123", "U1|x", "", "U024BE7LH"})
	if want := "<@U024BE7LH> ❌ cats-vs-dogs-2025"; !strings.HasPrefix(m.Text, want) {
		t.Errorf("text = %q, want it to start %q and mention nothing else", m.Text, want)
	}
	if strings.Count(m.Text, "<") != 1 {
		t.Errorf("text %q has markup beyond the one mention", m.Text)
	}
	// A message this package did not render about a failure never pages,
	// whatever its text says.
	other := Message{Text: "🚨 3 labeling job alerts: ❌ 3 Failed"}
	if got := other.WithMentions([]string{"here"}); got.Text != other.Text {
		t.Errorf("a message not rendered about a failure pages: %q", got.Text)
	}
}

func TestWithMentionsOnAThreadedAlert(t *testing.T) {
	a := RenderAlert(Alert{Job: job()})
	a.Thread, a.Broadcast = Posted{Channel: "C1", TS: "1700000000.000100"}, true
	m := a.WithMentions([]string{"here", "U0123ABCD"})
	if !strings.HasPrefix(m.Text, "<!here> <@U0123ABCD> ") {
		t.Errorf("text %q, want the mentions first", m.Text)
	}
	if m.Thread != a.Thread || !m.Broadcast {
		t.Errorf("WithMentions lost where the reply goes: %+v, %v", m.Thread, m.Broadcast)
	}
	for _, other := range []Message{RenderCard(job()), RenderNotice(job(), Notice{Milestone: 50})} {
		if got := other.WithMentions([]string{"here"}); got.Text != other.Text {
			t.Errorf("WithMentions changed a card or notice: %q", got.Text)
		}
	}
}
