package testenv

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	slackapi "github.com/slack-go/slack"
)

// postHook posts body to s's webhook and returns the answer's status, Retry-After
// header and body.
func postHook(ctx context.Context, s *Slack, body string) (status int, retryAfter, answer string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.WebhookURL(), strings.NewReader(body))
	if err != nil {
		return 0, "", "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(b), err
}

const hookMessage = `{"text":"hello","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"hello"}}]}`

func TestSlackTakesMessages(t *testing.T) {
	s := NewSlack(t)
	ctx := t.Context()
	block := slackapi.NewSectionBlock(slackapi.NewTextBlockObject(slackapi.MarkdownType, "*done*", false, false), nil, nil)

	err := slackapi.PostWebhookContext(ctx, s.WebhookURL(), &slackapi.WebhookMessage{Text: "by webhook", Blocks: &slackapi.Blocks{BlockSet: []slackapi.Block{block}}})
	if err != nil {
		t.Fatalf("webhook: %v", err)
	}
	api := slackapi.New(SlackToken, slackapi.OptionAPIURL(s.APIURL()))
	channel, ts, err := api.PostMessageContext(ctx, SlackChannel, slackapi.MsgOptionText("by bot", false), slackapi.MsgOptionBlocks(block, block))
	if err != nil {
		t.Fatalf("chat.postMessage: %v", err)
	}

	msgs := s.Messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want 2", len(msgs))
	}
	hook, bot := msgs[0], msgs[1]
	if hook.Text != "by webhook" || len(hook.Blocks) != 1 || hook.Channel != "" || hook.TS != "" || !strings.Contains(string(hook.Raw), `"by webhook"`) {
		t.Errorf("webhook message %+v", hook)
	}
	if bot.Text != "by bot" || len(bot.Blocks) != 2 || bot.Channel != SlackChannel || bot.TS == "" || bot.Unacknowledged {
		t.Errorf("chat.postMessage message %+v", bot)
	}
	if channel != SlackChannel || ts != bot.TS {
		t.Errorf("chat.postMessage answered channel %q, ts %q; want %q, %q", channel, ts, SlackChannel, bot.TS)
	}
	if !strings.Contains(string(hook.Blocks[0]), `"*done*"`) {
		t.Errorf("block %s, want the block sent", hook.Blocks[0])
	}
	if n := s.Requests(); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestSlackRefuses(t *testing.T) {
	s := NewSlack(t)
	ctx := t.Context()
	for _, tt := range []struct {
		name, token, channel, want string
	}{
		{"another token", "test-revoked-token", SlackChannel, "invalid_auth"},
		{"another channel", SlackToken, "C0ARCHIVED", "channel_not_found"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			api := slackapi.New(tt.token, slackapi.OptionAPIURL(s.APIURL()))
			_, _, err := api.PostMessageContext(ctx, tt.channel, slackapi.MsgOptionText("hi", false))
			var ser slackapi.SlackErrorResponse
			if !errors.As(err, &ser) || ser.Err != tt.want {
				t.Errorf("error %v, want Slack's %q", err, tt.want)
			}
		})
	}
	t.Run("webhook payload without a message", func(t *testing.T) {
		status, _, answer, err := postHook(ctx, s, `{"username":"x"}`)
		if err != nil || status != http.StatusBadRequest || answer != "invalid_payload" {
			t.Errorf("answer %d %q, %v; want 400 invalid_payload", status, answer, err)
		}
	})
	t.Run("webhook at another path", func(t *testing.T) {
		err := slackapi.PostWebhookContext(ctx, s.URL+"/services/T0/B0/other", &slackapi.WebhookMessage{Text: "hi"})
		var sce slackapi.StatusCodeError
		if !errors.As(err, &sce) || sce.Code != http.StatusNotFound {
			t.Errorf("error %v, want 404", err)
		}
	})
	if n := len(s.Messages()); n != 0 {
		t.Errorf("%d messages taken from refused requests", n)
	}
}

func TestSlackFaultAnswers(t *testing.T) {
	t.Run("answers in order, then as Slack", func(t *testing.T) {
		s := NewSlack(t)
		s.FailNext(1, SlackFault{Status: http.StatusTooManyRequests, Body: "rate_limited", Header: http.Header{"Retry-After": {"3"}}})
		s.FailNext(1, SlackFault{Status: http.StatusOK, Body: "<html>portal</html>"})
		want := []struct {
			status             int
			retryAfter, answer string
		}{
			{http.StatusTooManyRequests, "3", "rate_limited"},
			{http.StatusOK, "", "<html>portal</html>"},
			{http.StatusOK, "", "ok"},
		}
		for i, w := range want {
			status, retryAfter, answer, err := postHook(t.Context(), s, hookMessage)
			if err != nil || status != w.status || retryAfter != w.retryAfter || answer != w.answer {
				t.Errorf("request %d: %d, Retry-After %q, %q, %v; want %d, %q, %q", i+1, status, retryAfter, answer, err, w.status, w.retryAfter, w.answer)
			}
		}
		if msgs := s.Messages(); len(msgs) != 1 {
			t.Errorf("%d messages, want only the one answered ok", len(msgs))
		}
		if n := s.Requests(); n != 3 {
			t.Errorf("%d requests, want 3", n)
		}
	})

	t.Run("reset, before and after taking the message", func(t *testing.T) {
		s := NewSlack(t)
		s.FailNext(1, SlackFault{Reset: true})
		s.FailNext(1, SlackFault{Reset: true, Post: true})
		for i := range 2 {
			if _, _, _, err := postHook(t.Context(), s, hookMessage); err == nil {
				t.Errorf("request %d: answered, want the connection reset", i+1)
			}
		}
		msgs := s.Messages()
		if len(msgs) != 1 || !msgs[0].Unacknowledged {
			t.Errorf("messages %+v, want one, taken unacknowledged", msgs)
		}
	})

	for _, tt := range []struct {
		name string
		post bool
	}{
		{"hold before taking the message", false},
		{"hold after taking the message", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSlack(t)
			s.FailNext(1, SlackFault{Hold: true, Post: tt.post})
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error)
			go func() {
				_, _, _, err := postHook(ctx, s, hookMessage)
				done <- err
			}()
			<-s.Held()
			s.Settle() // a held request does not keep Settle waiting
			msgs := s.Messages()
			if tt.post != (len(msgs) == 1) || (tt.post && !msgs[0].Unacknowledged) {
				t.Errorf("messages while held: %+v", msgs)
			}
			select {
			case err := <-done:
				t.Fatalf("the held request was answered: %v", err)
			default:
			}
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("held request: %v, want the client's cancellation", err)
			}
		})
	}

	t.Run("late answers take nothing once the client gave up", func(t *testing.T) {
		s := NewSlack(t)
		s.FailNext(1, SlackFault{Delay: time.Hour})
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		if _, _, _, err := postHook(ctx, s, hookMessage); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("delayed request: %v, want the client's deadline", err)
		}
		s.SetLatency(time.Hour)
		ctx, cancel = context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		if _, _, _, err := postHook(ctx, s, hookMessage); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("request with latency: %v, want the client's deadline", err)
		}
		s.Settle()
		if n := len(s.Messages()); n != 0 {
			t.Errorf("%d messages taken from requests whose client gave up", n)
		}
		s.ClearFaults()
		if status, _, answer, err := postHook(t.Context(), s, hookMessage); err != nil || answer != "ok" {
			t.Errorf("after ClearFaults: %d %q, %v; want ok at once", status, answer, err)
		}
	})
}

func TestSlackRefusesMessagesTooBig(t *testing.T) {
	section := func(n int) slackapi.Block {
		return slackapi.NewSectionBlock(slackapi.NewTextBlockObject(slackapi.MarkdownType, strings.Repeat("é", n), false, false), nil, nil)
	}
	blocks := func(n, each int) []slackapi.Block {
		var out []slackapi.Block
		for range n {
			out = append(out, section(each))
		}
		return out
	}
	tests := []struct {
		name    string
		blocks  []slackapi.Block
		wantAPI string // chat.postMessage's error; "" when taken
		wantOK  bool   // the webhook takes it
	}{
		{"at the text limit", blocks(4, SlackMaxBlockText/4), "", true},
		{"one character over the text limit", append(blocks(4, SlackMaxBlockText/4), section(1)), "msg_blocks_too_long", false},
		{"a header counts too", append([]slackapi.Block{slackapi.NewHeaderBlock(slackapi.NewTextBlockObject(slackapi.PlainTextType, "h", false, false))}, blocks(4, SlackMaxBlockText/4)...), "msg_blocks_too_long", false},
		{"50 blocks", blocks(SlackMaxBlocks, 10), "", true},
		{"51 blocks", blocks(SlackMaxBlocks+1, 10), "invalid_blocks", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSlack(t)
			ctx := t.Context()
			api := slackapi.New(SlackToken, slackapi.OptionAPIURL(s.APIURL()))
			_, _, err := api.PostMessageContext(ctx, SlackChannel, slackapi.MsgOptionText("fallback", false), slackapi.MsgOptionBlocks(tt.blocks...))
			var apiErr slackapi.SlackErrorResponse
			switch {
			case tt.wantAPI == "" && err != nil:
				t.Errorf("chat.postMessage: %v, want it taken", err)
			case tt.wantAPI != "" && (!errors.As(err, &apiErr) || apiErr.Err != tt.wantAPI):
				t.Errorf("chat.postMessage: %v, want %s", err, tt.wantAPI)
			}

			err = slackapi.PostWebhookContext(ctx, s.WebhookURL(), &slackapi.WebhookMessage{Text: "fallback", Blocks: &slackapi.Blocks{BlockSet: tt.blocks}})
			var status slackapi.StatusCodeError
			switch {
			case tt.wantOK && err != nil:
				t.Errorf("webhook: %v, want it taken", err)
			case !tt.wantOK && (!errors.As(err, &status) || status.Code != http.StatusBadRequest):
				t.Errorf("webhook: %v, want 400", err)
			}
			want := 0
			if tt.wantOK {
				want = 2
			}
			if n := len(s.Messages()); n != want {
				t.Errorf("%d messages taken, want %d", n, want)
			}
		})
	}

	s := NewSlack(t)
	big := `{"text":"x","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"` + strings.Repeat("a", SlackMaxBlockText+1) + `"}}]}`
	status, _, answer, err := postHook(t.Context(), s, big)
	if err != nil || status != http.StatusBadRequest || answer != "invalid_blocks" {
		t.Errorf("webhook answered %d %q (%v), want 400 \"invalid_blocks\"", status, answer, err)
	}
	if status, _, answer, _ := postHook(t.Context(), s, `{"text":"`+strings.Repeat("a", SlackMaxBlockText+1)+`"}`); status != http.StatusOK || answer != "ok" {
		t.Errorf("a long text without blocks: %d %q, want it taken", status, answer)
	}
}

// section is a one-block message body of text, as Block Kit.
func section(text string) slackapi.Block {
	return slackapi.NewSectionBlock(slackapi.NewTextBlockObject(slackapi.MarkdownType, text, false, false), nil, nil)
}

func TestSlackThreadsAndUpdates(t *testing.T) {
	s := NewSlack(t)
	ctx := t.Context()
	api := slackapi.New(SlackToken, slackapi.OptionAPIURL(s.APIURL()))

	_, card, err := api.PostMessageContext(ctx, SlackChannel, slackapi.MsgOptionText("card v1", false), slackapi.MsgOptionBlocks(section("v1")))
	if err != nil {
		t.Fatalf("post card: %v", err)
	}
	_, reply, err := api.PostMessageContext(ctx, SlackChannel, slackapi.MsgOptionText("half done", false), slackapi.MsgOptionTS(card))
	if err != nil {
		t.Fatalf("reply: %v", err)
	}
	_, loud, err := api.PostMessageContext(ctx, SlackChannel, slackapi.MsgOptionText("failed", false), slackapi.MsgOptionTS(card), slackapi.MsgOptionBroadcast())
	if err != nil {
		t.Fatalf("broadcast reply: %v", err)
	}
	if !(card < reply && reply < loud) {
		t.Errorf("ts %q, %q, %q; want them unique and increasing", card, reply, loud)
	}
	for i, text := range []string{"card v2", "card v3"} {
		ch, ts, _, err := api.UpdateMessageContext(ctx, SlackChannel, card, slackapi.MsgOptionText(text, false), slackapi.MsgOptionBlocks(section(text), section("more")))
		if err != nil || ch != SlackChannel || ts != card {
			t.Fatalf("update %d = %q, %q, %v; want %q, %q", i+1, ch, ts, err, SlackChannel, card)
		}
	}
	// An update without blocks keeps them; with "[]" it removes them.
	if _, _, _, err := api.UpdateMessageContext(ctx, SlackChannel, reply, slackapi.MsgOptionText("half done!", false)); err != nil {
		t.Fatalf("update reply: %v", err)
	}

	msgs := s.Messages()
	if len(msgs) != 3 {
		t.Fatalf("%d messages, want 3: %+v", len(msgs), msgs)
	}
	if m := msgs[0]; m.TS != card || m.Text != "card v3" || len(m.Blocks) != 2 || !strings.Contains(string(m.Blocks[0]), "card v3") || m.Edits != 2 || m.ThreadTS != "" {
		t.Errorf("card %+v, want its latest text and blocks and 2 edits", m)
	}
	if m := msgs[1]; m.TS != reply || m.ThreadTS != card || m.Broadcast || m.Text != "half done!" || m.Edits != 1 {
		t.Errorf("reply %+v, want it in the card's thread, edited once", m)
	}
	if m := msgs[2]; m.TS != loud || m.ThreadTS != card || !m.Broadcast {
		t.Errorf("broadcast reply %+v", m)
	}

	calls := s.Calls()
	want := []SlackCall{
		{Method: SlackPostMessage, Channel: SlackChannel, TS: card, Text: "card v1"},
		{Method: SlackPostMessage, Channel: SlackChannel, TS: reply, ThreadTS: card, Text: "half done"},
		{Method: SlackPostMessage, Channel: SlackChannel, TS: loud, ThreadTS: card, Broadcast: true, Text: "failed"},
		{Method: SlackUpdate, Channel: SlackChannel, TS: card, Text: "card v2"},
		{Method: SlackUpdate, Channel: SlackChannel, TS: card, Text: "card v3"},
		{Method: SlackUpdate, Channel: SlackChannel, TS: reply, Text: "half done!"},
	}
	if len(calls) != len(want) {
		t.Fatalf("%d calls, want %d: %+v", len(calls), len(want), calls)
	}
	for i, c := range calls {
		w := want[i]
		if c.Method != w.Method || c.Channel != w.Channel || c.TS != w.TS || c.ThreadTS != w.ThreadTS || c.Broadcast != w.Broadcast || c.Text != w.Text || len(c.Raw) == 0 {
			t.Errorf("call %d = %+v, want %+v", i, c, w)
		}
	}
	if len(calls[3].Blocks) != 2 || calls[5].Blocks != nil {
		t.Errorf("update blocks %d and %v; want 2 and none", len(calls[3].Blocks), calls[5].Blocks)
	}

	if _, _, _, err := api.UpdateMessageContext(ctx, SlackChannel, card, slackapi.MsgOptionText("card v4", false), slackapi.MsgOptionBlocks()); err != nil {
		t.Fatalf("update to text only: %v", err)
	}
	if m := s.Messages()[0]; len(m.Blocks) != 0 || m.Text != "card v4" {
		t.Errorf("after an update with no blocks: %+v, want the blocks gone", m)
	}
}

func TestSlackUpdateRefuses(t *testing.T) {
	s := NewSlack(t)
	ctx := t.Context()
	api := slackapi.New(SlackToken, slackapi.OptionAPIURL(s.APIURL()))
	_, card, err := api.PostMessageContext(ctx, SlackChannel, slackapi.MsgOptionText("card", false))
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	_, gone, err := api.PostMessageContext(ctx, SlackChannel, slackapi.MsgOptionText("deleted soon", false))
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	if !s.Delete(gone) || s.Delete(gone) {
		t.Fatal("Delete of a posted message, then of it again, want true then false")
	}
	big := make([]slackapi.Block, SlackMaxBlocks+1)
	for i := range big {
		big[i] = section("x")
	}
	long := section(strings.Repeat("y", SlackMaxBlockText+1))
	text := slackapi.MsgOptionText("new", false)
	for _, tt := range []struct {
		name string
		call func() error
		want string
	}{
		{"update of a deleted message", func() error {
			_, _, _, err := api.UpdateMessageContext(ctx, SlackChannel, gone, text)
			return err
		}, "message_not_found"},
		{"update of a ts never posted", func() error {
			_, _, _, err := api.UpdateMessageContext(ctx, SlackChannel, "1600000000.000001", text)
			return err
		}, "message_not_found"},
		{"reply under a deleted message", func() error {
			_, _, err := api.PostMessageContext(ctx, SlackChannel, text, slackapi.MsgOptionTS(gone))
			return err
		}, "thread_not_found"},
		{"update with too many blocks", func() error {
			_, _, _, err := api.UpdateMessageContext(ctx, SlackChannel, card, text, slackapi.MsgOptionBlocks(big...))
			return err
		}, "invalid_blocks"},
		{"update with too much text", func() error {
			_, _, _, err := api.UpdateMessageContext(ctx, SlackChannel, card, text, slackapi.MsgOptionBlocks(long))
			return err
		}, "msg_blocks_too_long"},
		{"update in another channel", func() error {
			_, _, _, err := api.UpdateMessageContext(ctx, "C0OTHER", card, text)
			return err
		}, "channel_not_found"},
		{"update with another token", func() error {
			other := slackapi.New("test-revoked-token", slackapi.OptionAPIURL(s.APIURL()))
			_, _, _, err := other.UpdateMessageContext(ctx, SlackChannel, card, text)
			return err
		}, "invalid_auth"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var api slackapi.SlackErrorResponse
			if err := tt.call(); !errors.As(err, &api) || api.Err != tt.want {
				t.Errorf("error %v, want %s", err, tt.want)
			}
		})
	}
	if m := s.Messages(); len(m) != 1 || m[0].Text != "card" || m[0].Edits != 0 {
		t.Errorf("messages %+v, want the card alone and unchanged", m)
	}
	if n := len(s.Calls()); n != 2 {
		t.Errorf("%d calls, want the 2 posts", n)
	}
}

func TestSlackUpdateFaults(t *testing.T) {
	s := NewSlack(t)
	ctx := t.Context()
	api := slackapi.New(SlackToken, slackapi.OptionAPIURL(s.APIURL()))
	_, card, err := api.PostMessageContext(ctx, SlackChannel, slackapi.MsgOptionText("v1", false))
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	s.FailNext(1, SlackRateLimit("2"))
	_, _, _, err = api.UpdateMessageContext(ctx, SlackChannel, card, slackapi.MsgOptionText("v2", false))
	var rate *slackapi.RateLimitedError
	if !errors.As(err, &rate) || rate.RetryAfter != 2*time.Second {
		t.Errorf("update under a rate limit: %v, want a RateLimitedError of 2s", err)
	}
	if m := s.Messages()[0]; m.Text != "v1" || m.Edits != 0 {
		t.Errorf("the rate limit changed the message: %+v", m)
	}
	s.FailNext(1, SlackFault{Status: http.StatusInternalServerError, Post: true})
	if _, _, _, err := api.UpdateMessageContext(ctx, SlackChannel, card, slackapi.MsgOptionText("v3", false)); err == nil {
		t.Error("update under a 500 succeeded")
	}
	if m := s.Messages()[0]; m.Text != "v3" || m.Edits != 1 {
		t.Errorf("a fault with Post did not take the update: %+v", m)
	}
}
