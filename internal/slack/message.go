// Package slack turns labeling-job alerts into Slack Block Kit messages and
// delivers them with slack-go, by incoming webhook or bot token. It only
// classifies failures as retryable or final; the caller owns the retry policy.
package slack

import (
	slackapi "github.com/slack-go/slack"

	"github.com/labelwatch/labelwatch/internal/labeling"
)

// Alert is one job's move into an alerting status.
type Alert struct {
	Job      labeling.Job
	Previous labeling.Status // the status stored before; "" for a job not seen before
}

// Posted is where Slack put a message: enough to edit it or reply under it.
// It is zero when that is unknown: a webhook does not say.
type Posted struct{ Channel, TS string }

// Destination is where a route sends a job's messages instead of the
// credential's own channel: another channel, by ID, posted to with the bot
// token, or an incoming webhook named in the Slack secret. The zero
// Destination is the credential's own channel.
type Destination struct {
	Channel string // a channel's ID (C0123456789)
	Webhook string // the name of an incoming webhook the secret holds
}

// String names d for logs: "channel C0123456789", "webhook team-a", or
// "default".
func (d Destination) String() string {
	switch {
	case d.Channel != "":
		return "channel " + d.Channel
	case d.Webhook != "":
		return "webhook " + d.Webhook
	}
	return "default"
}

// Message is a rendered Slack message: Block Kit blocks and the plain text
// fallback that notifications and screen readers use.
type Message struct {
	Text   string
	Blocks []slackapi.Block
	// Edit, when set, makes Send replace that message's text and blocks
	// (chat.update) instead of posting a new one.
	Edit Posted
	// Thread, when set, posts the message as a reply in that message's
	// thread; Broadcast shows the reply in the channel too
	// (reply_broadcast).
	Thread    Posted
	Broadcast bool
	// Fallback, when set, is a minimal form of the message (text only) to
	// post instead when Slack refuses this one as invalid or too long
	// (ErrRejected): the same blocks would be refused on every try.
	Fallback *Message
	// To, when set, sends a new message (not an edit, not a reply: those
	// go where their message is) somewhere else than the sender's own
	// channel: a route's destination.
	To Destination
	// pages marks a message about a failed job that is yet to page
	// people: a failed job's alert, a digest part that carries one, and
	// the minimal form of either. WithMentions pages such a message and
	// clears the mark, so that no message pages twice.
	pages bool
}
