package slack

import (
	"regexp"
	"strings"
	"unicode"

	slackapi "github.com/slack-go/slack"
)

// markup is Slack's angle-bracket markup: a link, a date or a mention. Text
// from the API is escaped, so every match is labelwatch's own.
var markup = regexp.MustCompile(`<([^<>|]*)(?:\|([^<>]*))?>`)

// terminalMarkup writes markup as a terminal reader would want it: a link as
// "text: URL", a date as its UTC fallback, a mention as "@id".
func terminalMarkup(s string) string {
	return markup.ReplaceAllStringFunc(s, func(m string) string {
		sub := markup.FindStringSubmatch(m)
		target, label := sub[1], sub[2]
		switch {
		case strings.HasPrefix(target, "!date^"):
			return label
		case strings.HasPrefix(target, "@"):
			return target
		case strings.HasPrefix(target, "!subteam^"):
			return "@" + strings.TrimPrefix(target, "!subteam^")
		case strings.HasPrefix(target, "!"):
			return "@" + target[1:]
		case label != "":
			return label + ": " + target
		}
		return target
	})
}

// Format renders m for a terminal: the header, sections, fields, context,
// links and buttons as indented lines, then the fallback text a notification
// shows, with entities unescaped, Slack's markup written out (see
// terminalMarkup) and control characters from the API replaced so they
// cannot drive the terminal.
func Format(m Message) string {
	unescape := strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")
	safe := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '\n' || !unicode.IsControl(r) {
				return r
			}
			return '\uFFFD'
		}, s)
	}
	// Slack shows mrkdwn with its entities decoded and plain_text as it is.
	text := func(t *slackapi.TextBlockObject) string {
		if t == nil {
			return ""
		}
		if t.Type == slackapi.PlainTextType {
			return safe(t.Text)
		}
		return safe(unescape.Replace(terminalMarkup(t.Text)))
	}
	const rule = "────────────────────────────────────────"
	var b strings.Builder
	line := func(indent, s string) {
		for _, l := range strings.Split(s, "\n") {
			b.WriteString("│ " + indent + l + "\n")
		}
	}
	b.WriteString("╭" + rule + "\n")
	if len(m.Blocks) == 0 {
		line("", safe(unescape.Replace(terminalMarkup(m.Text))))
	}
	for _, blk := range m.Blocks {
		switch blk := blk.(type) {
		case *slackapi.HeaderBlock:
			line("", text(blk.Text))
			b.WriteString("├" + rule + "\n")
		case *slackapi.SectionBlock:
			if blk.Text != nil {
				line("", text(blk.Text))
			}
			for _, f := range blk.Fields {
				line("  ", strings.Replace(text(f), "\n", " ", 1))
			}
		case *slackapi.ContextBlock:
			for _, e := range blk.ContextElements.Elements {
				t, ok := e.(*slackapi.TextBlockObject)
				if !ok {
					continue
				}
				if t.Type == slackapi.MarkdownType && strings.Contains(t.Text, "<http") {
					// A line of links: one a line, each with its URL.
					for _, part := range strings.Split(t.Text, " · ") {
						line("  · ", safe(unescape.Replace(terminalMarkup(part))))
					}
					continue
				}
				line("  · ", text(t))
			}
		case *slackapi.ActionBlock:
			if blk.Elements == nil {
				continue
			}
			for _, e := range blk.Elements.ElementSet {
				if btn, ok := e.(*slackapi.ButtonBlockElement); ok {
					line("", "["+text(btn.Text)+"] "+safe(btn.URL))
				}
			}
		case *slackapi.DividerBlock:
			b.WriteString("├" + rule + "\n")
		default:
			line("", "("+safe(string(blk.BlockType()))+" block)")
		}
	}
	if len(m.Blocks) > 0 && m.Text != "" {
		// What a notification shows, mentions included.
		b.WriteString("├" + rule + "\n")
		line("🔔 ", safe(unescape.Replace(terminalMarkup(strings.ReplaceAll(m.Text, "\n", " ")))))
	}
	b.WriteString("╰" + rule + "\n")
	return b.String()
}
