package slack

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/labelwatch/labelwatch/internal/clock"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

// runningJob is job() still in progress.
func runningJob() labeling.Job {
	j := job()
	j.Status, j.FailureReason = labeling.StatusInProgress, ""
	return j
}

// send sends m with s and fails t on an error.
func send(t *testing.T, s interface {
	Send(context.Context, Message) (Posted, bool, error)
}, m Message) Posted {
	t.Helper()
	p, retry, err := s.Send(t.Context(), m)
	if err != nil || retry {
		t.Fatalf("Send = %+v, %v, %v", p, retry, err)
	}
	return p
}

func TestSendEditsAndThreads(t *testing.T) {
	s := testenv.NewSlack(t)
	bot := NewBotSender(testenv.SlackToken, testenv.SlackChannel, s.APIURL(), nil, clock.System{})
	j := runningJob()

	card := send(t, bot, RenderCard(j))
	if card.Channel != testenv.SlackChannel || card.TS == "" {
		t.Fatalf("posting the card answered %+v, want the channel and a ts", card)
	}

	j.Counters.Total += 100
	j.Counters.Human += 100
	j.Counters.Unlabeled -= 100
	edit := RenderCard(j)
	edit.Edit = card
	if got := send(t, bot, edit); got != card {
		t.Errorf("the edit answered %+v, want the card's %+v", got, card)
	}

	// An edit to a text-only message clears the card's blocks.
	fb := *edit.Fallback
	fb.Edit = Posted{TS: card.TS} // no channel: the sender's
	if got := send(t, bot, fb); got != card {
		t.Errorf("the edit without a channel answered %+v, want %+v", got, card)
	}

	notice := RenderNotice(j, Notice{Milestone: 50})
	notice.Thread = card
	reply := send(t, bot, notice)
	alert := RenderAlert(Alert{Job: job()}).WithMentions([]string{"here"})
	alert.Thread, alert.Broadcast = card, true
	loud := send(t, bot, alert)
	if reply.TS == "" || loud.TS == "" || reply == card || loud == reply {
		t.Errorf("replies answered %+v and %+v, want new messages", reply, loud)
	}

	msgs := s.Messages()
	if len(msgs) != 3 {
		t.Fatalf("%d messages, want the card and two replies", len(msgs))
	}
	if m := msgs[0]; m.TS != card.TS || m.Edits != 2 || m.Text != fb.Text || len(m.Blocks) != 0 {
		t.Errorf("card %+v, want it edited twice, now text only", m)
	}
	if m := msgs[1]; m.TS != reply.TS || m.ThreadTS != card.TS || m.Broadcast || m.Text != notice.Text {
		t.Errorf("notice %+v, want it in the card's thread, not in the channel", m)
	}
	if m := msgs[2]; m.TS != loud.TS || m.ThreadTS != card.TS || !m.Broadcast || !strings.HasPrefix(m.Text, "<!here> ") {
		t.Errorf("alert %+v, want it in the thread and the channel, with its mention", m)
	}

	calls := s.Calls()
	methods := make([]string, len(calls))
	for i, c := range calls {
		methods[i] = c.Method
	}
	want := []string{testenv.SlackPostMessage, testenv.SlackUpdate, testenv.SlackUpdate, testenv.SlackPostMessage, testenv.SlackPostMessage}
	if strings.Join(methods, " ") != strings.Join(want, " ") {
		t.Errorf("calls %v, want %v", methods, want)
	}
	if c := calls[1]; c.TS != card.TS || len(c.Blocks) != len(edit.Blocks) || !strings.Contains(string(c.Blocks[1]), "1,334 of 1,400") {
		t.Errorf("first edit of %q with %d blocks, text %q; want the new card", c.TS, len(c.Blocks), c.Text)
	}
	if c := calls[2]; c.Blocks == nil || len(c.Blocks) != 0 {
		t.Errorf("text-only edit sent blocks %v, want an empty list", c.Blocks)
	}
}

func TestSendNotEditable(t *testing.T) {
	for _, tt := range []struct {
		name  string
		edit  bool   // an edit, else a reply
		fault string // Slack's error code, or "" to delete the message
	}{
		{"edit of a deleted message", true, ""},
		{"reply under a deleted message", false, ""},
		{"cant_update_message", true, "cant_update_message"},
		{"edit_window_closed", true, "edit_window_closed"},
		{"message_not_found of a reply", false, "message_not_found"},
		{"invalid_thread_ts", false, "invalid_thread_ts"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := testenv.NewSlack(t)
			bot := NewBotSender(testenv.SlackToken, testenv.SlackChannel, s.APIURL(), nil, clock.System{})
			card := send(t, bot, RenderCard(runningJob()))
			if tt.fault == "" {
				s.Delete(card.TS)
			} else {
				s.FailNext(1, testenv.SlackFault{Status: http.StatusOK, Body: `{"ok":false,"error":"` + tt.fault + `"}`})
			}
			m := RenderNotice(runningJob(), Notice{Milestone: 50})
			wantOp := "chat.postMessage in the thread of " + `"` + card.TS + `"`
			if tt.edit {
				m = RenderCard(runningJob())
				m.Edit = card
				wantOp = "chat.update of message " + `"` + card.TS + `"`
			} else {
				m.Thread = card
			}
			p, retry, err := bot.Send(t.Context(), m)
			if !errors.Is(err, ErrNotEditable) || retry || p != (Posted{}) {
				t.Fatalf("Send = %+v, %v, %v; want a final ErrNotEditable", p, retry, err)
			}
			if !strings.HasPrefix(err.Error(), wantOp) {
				t.Errorf("error %q, want it to start %q", err, wantOp)
			}
			if errors.Is(err, ErrRejected) || errors.Is(err, ErrInvalidCredential) {
				t.Errorf("error %v is also another kind", err)
			}
			// What the caller does next: post it anew.
			m.Edit, m.Thread = Posted{}, Posted{}
			if p := send(t, bot, m); p.TS == "" || p.TS == card.TS {
				t.Errorf("posting anew answered %+v", p)
			}
		})
	}
}

func TestSendEditClassifies(t *testing.T) {
	for _, tt := range []struct {
		name      string
		fault     testenv.SlackFault
		retry     bool
		is        error
		wantAfter time.Duration
	}{
		{"429", testenv.SlackRateLimit("7"), true, nil, 7 * time.Second},
		{"rate_limited", testenv.SlackFault{Status: http.StatusOK, Body: `{"ok":false,"error":"ratelimited"}`}, true, nil, time.Second},
		{"500", testenv.SlackFault{Status: http.StatusInternalServerError}, true, nil, 0},
		{"invalid_auth", testenv.SlackFault{Status: http.StatusOK, Body: `{"ok":false,"error":"invalid_auth"}`}, false, ErrInvalidCredential, 0},
		{"msg_blocks_too_long", testenv.SlackFault{Status: http.StatusOK, Body: `{"ok":false,"error":"msg_blocks_too_long"}`}, false, ErrRejected, 0},
		// The message's channel is gone: as gone as the message (see
		// TestEditInAGoneChannel).
		{"channel_not_found", testenv.SlackFault{Status: http.StatusOK, Body: `{"ok":false,"error":"channel_not_found"}`}, false, ErrNotEditable, 0},
		{"not_in_channel", testenv.SlackFault{Status: http.StatusOK, Body: `{"ok":false,"error":"not_in_channel"}`}, false, ErrNotEditable, 0},
	} {
		for _, kind := range []string{"edit", "reply"} {
			t.Run(tt.name+" "+kind, func(t *testing.T) {
				s := testenv.NewSlack(t)
				bot := NewBotSender(testenv.SlackToken, testenv.SlackChannel, s.APIURL(), nil, clock.System{})
				card := send(t, bot, RenderCard(runningJob()))
				m := RenderCard(runningJob())
				if kind == "edit" {
					m.Edit = card
				} else {
					m.Thread, m.Broadcast = card, true
				}
				s.FailNext(1, tt.fault)
				_, retry, err := bot.Send(t.Context(), m)
				if err == nil || retry != tt.retry {
					t.Fatalf("Send = %v, %v; want retry %v", retry, err, tt.retry)
				}
				if tt.is != nil && !errors.Is(err, tt.is) {
					t.Errorf("error %v, want %v", err, tt.is)
				}
				if errors.Is(err, ErrNotEditable) && tt.is != ErrNotEditable {
					t.Errorf("error %v is ErrNotEditable", err)
				}
				var ra interface{ RetryAfter() time.Duration }
				if tt.wantAfter > 0 && (!errors.As(err, &ra) || ra.RetryAfter() != tt.wantAfter) {
					t.Errorf("error %v, want a RetryAfter of %v", err, tt.wantAfter)
				}
				checkNoSecrets(t, err, s.URL)
				for _, secret := range testenv.SlackSecrets() {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error %q shows a secret", err)
					}
				}
			})
		}
	}
}

func TestSendEditTooBig(t *testing.T) {
	s := testenv.NewSlack(t)
	bot := NewBotSender(testenv.SlackToken, testenv.SlackChannel, s.APIURL(), nil, clock.System{})
	card := send(t, bot, RenderCard(runningJob()))
	huge := Message{Text: "huge", Edit: card}
	for range 5 {
		huge.Blocks = append(huge.Blocks, slackapi.NewSectionBlock(mrkdwn(strings.Repeat("x", maxSectionText)), nil, nil))
	}
	if _, retry, err := bot.Send(t.Context(), huge); !errors.Is(err, ErrRejected) || retry {
		t.Fatalf("edit too big = %v, %v; want a final ErrRejected", retry, err)
	}
	if m := s.Messages()[0]; m.Edits != 0 {
		t.Errorf("the refused edit changed the card: %+v", m)
	}
}

func TestSendByWebhookNeitherEditsNorThreads(t *testing.T) {
	s := testenv.NewSlack(t)
	hook := NewWebhookSender(s.WebhookURL(), nil, clock.System{})
	where := Posted{Channel: testenv.SlackChannel, TS: "1700000000.000100"}
	for _, tt := range []struct {
		name string
		m    func(m *Message)
	}{
		{"plain", func(*Message) {}},
		{"edit", func(m *Message) { m.Edit = where }},
		{"reply", func(m *Message) { m.Thread = where }},
		{"broadcast reply", func(m *Message) { m.Thread, m.Broadcast = where, true }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := RenderCard(runningJob())
			tt.m(&m)
			before := len(s.Messages())
			p, retry, err := hook.Send(t.Context(), m)
			if err != nil || retry || p != (Posted{}) {
				t.Fatalf("Send = %+v, %v, %v; want a zero Posted and no error", p, retry, err)
			}
			msgs := s.Messages()
			if len(msgs) != before+1 {
				t.Fatalf("%d messages, want one more than %d", len(msgs), before)
			}
			if got := msgs[len(msgs)-1]; got.Text != m.Text || got.ThreadTS != "" || got.Channel != "" {
				t.Errorf("webhook took %+v, want a new plain message", got)
			}
			if c := s.Calls(); c[len(c)-1].Method != testenv.SlackWebhook {
				t.Errorf("call %+v, want a webhook post", c[len(c)-1])
			}
		})
	}
}

func TestPrinter(t *testing.T) {
	var b strings.Builder
	p := NewPrinter(&b)
	card := RenderCard(runningJob())

	first := send(t, p, card)
	if first != (Posted{Channel: PrintChannel, TS: "1"}) {
		t.Errorf("first message at %+v", first)
	}
	if want := "── message 1 ──\n" + Format(card); b.String() != want {
		t.Errorf("printed %q, want %q", b.String(), want)
	}
	second := send(t, p, RenderAlert(Alert{Job: job()}))

	steps := []struct {
		name    string
		m       func(m *Message)
		heading string
		at      Posted
	}{
		{"edit", func(m *Message) { m.Edit = first }, "── message 1, edited ──", first},
		{"reply", func(m *Message) { m.Thread = second }, "── reply to message 2 ──", Posted{Channel: PrintChannel, TS: "3"}},
		{"broadcast reply", func(m *Message) { m.Thread, m.Broadcast = first, true }, "── reply to message 1 (also in the channel) ──", Posted{Channel: PrintChannel, TS: "4"}},
		{"new message", func(*Message) {}, "── message 5 ──", Posted{Channel: PrintChannel, TS: "5"}},
	}
	for _, tt := range steps {
		t.Run(tt.name, func(t *testing.T) {
			b.Reset()
			m := RenderNotice(runningJob(), Notice{Milestone: 50})
			tt.m(&m)
			if got := send(t, p, m); got != tt.at {
				t.Errorf("Send answered %+v, want %+v", got, tt.at)
			}
			if want := tt.heading + "\n" + Format(m); b.String() != want {
				t.Errorf("printed %q, want %q", b.String(), want)
			}
		})
	}

	for _, gone := range []Message{
		{Text: "x", Edit: Posted{Channel: PrintChannel, TS: "9"}},
		{Text: "x", Thread: Posted{Channel: testenv.SlackChannel, TS: "1"}},
		{Text: "x", Edit: Posted{Channel: PrintChannel, TS: "one"}},
	} {
		b.Reset()
		if _, retry, err := p.Send(t.Context(), gone); !errors.Is(err, ErrNotEditable) || retry || b.Len() > 0 {
			t.Errorf("Send of %+v = %v, %v, printed %q; want ErrNotEditable and nothing printed", gone, retry, err, b.String())
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := p.Send(ctx, card); !errors.Is(err, context.Canceled) {
		t.Errorf("Send with a done context = %v", err)
	}
	if got := p.Capabilities(); got != (Capabilities{Edit: true, Channel: PrintChannel}) {
		t.Errorf("Capabilities = %+v, want it to edit in its channel", got)
	}
}

// TestPrinterRoutes checks that the printer says where a route sends a
// message, without a webhook's URL, and that a card it printed for a
// route's channel can be edited and replied under there.
func TestPrinterRoutes(t *testing.T) {
	var out strings.Builder
	p := NewPrinter(&out)
	card, _, err := p.Send(t.Context(), Message{Text: "card", To: Destination{Channel: "C0TEAM0001"}})
	if err != nil || card.Channel != "C0TEAM0001" {
		t.Fatalf("Send to a route's channel = %+v, %v; want a place in C0TEAM0001", card, err)
	}
	if _, _, err := p.Send(t.Context(), Message{Text: "edited", Edit: card}); err != nil {
		t.Errorf("edit of the routed card: %v", err)
	}
	if _, _, err := p.Send(t.Context(), Message{Text: "hook", To: Destination{Webhook: "vision"}}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"── message 1, to channel C0TEAM0001 ──", "── message 1, edited ──", "── message 2, to webhook vision ──"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("printed %q, want it to hold %q", out.String(), want)
		}
	}
}
