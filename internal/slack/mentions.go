package slack

import (
	"slices"
	"strings"

	slackapi "github.com/slack-go/slack"
)

// WithMentions returns m with mentions of ids (Slack user IDs U… and W…,
// user-group IDs S…, "here", "channel") when m is about a failed job: the
// alert of a failed job, a digest part that carries one, or the minimal
// form of either. Any other message, a card above all, comes back as it
// is. The mentions go at the start of m's text, which is what a push
// notification shows and what pages people, and, since Slack does not show
// that text in the channel when a message has blocks, into a last context
// block, "Paged @oncall, @here", so that the channel sees whom it paged.
// m's minimal form (Fallback) pages too; being text only, it shows its
// mentions in its text. Thread and Broadcast are kept: a failure's reply
// under its card pages like the alert it is. The result pages no further:
// WithMentions of it returns it as it is, so nobody is mentioned twice.
// An id of another form is skipped: a mention is only ever made from
// configuration, never from text of the API, and only in a form that
// config.Load accepts.
func (m Message) WithMentions(ids []string) Message {
	if !m.pages {
		return m
	}
	var mentions []string
	for _, id := range ids {
		if s := mention(id); s != "" {
			mentions = append(mentions, s)
		}
	}
	if len(mentions) == 0 {
		return m
	}
	return m.paging(mentions)
}

// paging is m with mentions made (see WithMentions), its minimal form too.
func (m Message) paging(mentions []string) Message {
	m.Text = strings.Join(mentions, " ") + " " + m.Text
	m.pages = false
	if len(m.Blocks) > 0 && len(m.Blocks) < maxBlocks {
		// A copy: the blocks of the message given stay as they are.
		m.Blocks = append(slices.Clip(m.Blocks), pagedBlock(mentions))
	}
	if m.Fallback != nil {
		fb := m.Fallback.paging(mentions)
		m.Fallback = &fb
	}
	return m
}

// pagedBlock is the context line that shows whom a message paged:
// "Paged <!subteam^S0614TZR7>, <!here>", the mentions live, so that Slack
// shows each as a name. It has at most maxPagedLine characters: mentions
// that do not fit are counted, "and 3 more"; they page all the same.
func pagedBlock(mentions []string) slackapi.Block {
	const head = "Paged "
	return slackapi.NewContextBlock("", verbatim(head+namesFit(mentions, maxPagedLine-runes(head))))
}

// mention is id as Slack's mention markup, or "" for an id of no known form.
func mention(id string) string {
	switch id {
	case "here", "channel":
		return "<!" + id + ">"
	}
	if len(id) < 3 || len(id) > 21 {
		return ""
	}
	for _, c := range id[1:] {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return ""
		}
	}
	switch id[0] {
	case 'U', 'W':
		return "<@" + id + ">"
	case 'S':
		return "<!subteam^" + id + ">"
	}
	return ""
}
