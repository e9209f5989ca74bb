package slack

import (
	"errors"
	"testing"

	"github.com/labelwatch/labelwatch/internal/clock"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

// TestSenderCapabilities checks what each sender says it can do: a webhook
// neither edits nor knows its channel; a bot token edits, and knows its
// channel's ID from the start when configured with it, or from the first
// post's answer when configured with the channel's name.
func TestSenderCapabilities(t *testing.T) {
	s := testenv.NewSlack(t)
	if got := NewWebhookSender(s.WebhookURL(), nil, clock.System{}).Capabilities(); got != (Capabilities{}) {
		t.Errorf("webhook: Capabilities = %+v, want none", got)
	}
	if got := NewBotSender(testenv.SlackToken, testenv.SlackChannel, s.APIURL(), nil, clock.System{}).Capabilities(); got != (Capabilities{Edit: true, Channel: testenv.SlackChannel}) {
		t.Errorf("bot with a channel ID: Capabilities = %+v", got)
	}
	byName := NewBotSender(testenv.SlackToken, "#"+testenv.SlackChannelName, s.APIURL(), nil, clock.System{})
	if got := byName.Capabilities(); got != (Capabilities{Edit: true}) {
		t.Errorf("bot with a channel name, before a post: Capabilities = %+v, want no channel yet", got)
	}
	posted := send(t, byName, RenderCard(runningJob()))
	if got := byName.Capabilities(); got != (Capabilities{Edit: true, Channel: testenv.SlackChannel}) || posted.Channel != testenv.SlackChannel {
		t.Errorf("bot with a channel name, after a post to %+v: Capabilities = %+v, want the ID Slack answered", posted, got)
	}
}

// TestEditInAGoneChannel checks that an edit of, or a reply under, a
// message whose channel is archived, deleted or left by the bot is
// ErrNotEditable, as for a deleted message: the caller posts anew in its
// channel now.
func TestEditInAGoneChannel(t *testing.T) {
	for _, code := range []string{"is_archived", "channel_not_found", "not_in_channel"} {
		t.Run(code, func(t *testing.T) {
			s := testenv.NewSlack(t)
			old := NewBotSender(testenv.SlackToken, testenv.SlackOtherChannel, s.APIURL(), nil, clock.System{})
			card := send(t, old, RenderCard(runningJob()))
			s.Gone(testenv.SlackOtherChannel, code)
			bot := NewBotSender(testenv.SlackToken, testenv.SlackChannel, s.APIURL(), nil, clock.System{})
			edit := RenderCard(runningJob())
			edit.Edit = card
			reply := RenderNotice(runningJob(), Notice{Milestone: 50})
			reply.Thread = card
			for _, m := range []Message{edit, reply} {
				if _, retry, err := bot.Send(t.Context(), m); !errors.Is(err, ErrNotEditable) || retry {
					t.Errorf("Send = %v, %v; want a final ErrNotEditable", retry, err)
				}
			}
			// A new post in that channel is refused for good, not as gone.
			if _, retry, err := old.Send(t.Context(), RenderCard(runningJob())); err == nil || errors.Is(err, ErrNotEditable) || retry {
				t.Errorf("post in the gone channel = %v, %v; want a final error", retry, err)
			}
		})
	}
}
