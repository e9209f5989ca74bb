package slack

// This file is the text every kind of message is made of: escaping text from
// the API, fitting it to Slack's limits, Slack's markup, and the numbers and
// times messages show. It uses no other file of the package.

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	slackapi "github.com/slack-go/slack"
)

// Block Kit limits, in characters (Unicode code points, as slack-go's
// TextBlockObject.Validate counts them).
const (
	maxBlocks       = 50
	maxHeaderText   = 150
	maxSectionText  = 3000
	maxFields       = 10
	maxFieldText    = 2000
	maxContextItems = 10
	maxButtonText   = 75
	maxButtonURL    = 3000
)

// Lengths of labelwatch's own that more than one kind of message keeps to.
const (
	maxReasonInText = 300 // failure reason in a fallback text or a digest line
	maxPagedLine    = 500 // the "Paged …" line of a message that pages (pagedBlock)
)

// ellipsis marks text that was cut to fit a limit.
const ellipsis = "…"

// Escape makes s safe to put in Slack mrkdwn: it replaces the three control
// characters &, < and > by their entities and leaves everything else as it
// is. Unescaped, "<!channel>", "<@U…>" and "<url|text>" become live mentions
// and links.
func Escape(s string) string {
	return fit(s, -1, escapeRune)
}

// escapeRune is the mrkdwn form of one rune of text from the API.
func escapeRune(r rune) string {
	switch r {
	case '&':
		return "&amp;"
	case '<':
		return "&lt;"
	case '>':
		return "&gt;"
	}
	return string(r)
}

// quoteRune is escapeRune for a block quote: a line break starts a new
// quoted line, so text from the API cannot end the quote early.
func quoteRune(r rune) string {
	if r == '\n' {
		return "\n>"
	}
	return escapeRune(r)
}

// inlineRune is escapeRune for text that must stay on one line.
func inlineRune(r rune) string {
	if r == '\n' || r == '\t' {
		return " "
	}
	return escapeRune(r)
}

// plainRune is one rune of a plain_text object, which Slack shows as it is:
// no escaping, but no line breaks or control characters either.
func plainRune(r rune) string {
	if unicode.IsControl(r) {
		return " "
	}
	return string(r)
}

// fit renders s rune by rune with render and, when the result would be
// longer than max runes, stops before the first rendered rune that does not
// fit and ends with an ellipsis, so the result has at most max runes.
// Cutting between rendered runes never splits a UTF-8 sequence or an entity
// such as "&amp;". A negative max means no limit. Invalid UTF-8 comes out as
// U+FFFD.
func fit(s string, max int, render func(rune) string) string {
	var all strings.Builder
	n := 0
	for _, r := range s {
		p := render(r)
		all.WriteString(p)
		n += utf8.RuneCountInString(p)
	}
	if max < 0 || n <= max {
		return all.String()
	}
	if max < 1 {
		return ""
	}
	var cut strings.Builder
	n = 0
	for _, r := range s {
		p := render(r)
		pn := utf8.RuneCountInString(p)
		if n+pn > max-1 {
			break
		}
		cut.WriteString(p)
		n += pn
	}
	cut.WriteString(ellipsis)
	return cut.String()
}

// escapeFit is Escape cut to at most max runes.
func escapeFit(s string, max int) string { return fit(s, max, escapeRune) }

// plainFit is text for a plain_text object, cut to at most max runes.
func plainFit(s string, max int) string { return fit(s, max, plainRune) }

// joinFit joins whole parts with sep for as long as the result stays within
// max runes, and ends with an ellipsis when parts were left out. Parts are
// never cut, so an entity in one is never split.
func joinFit(parts []string, sep string, max int) string {
	if all := strings.Join(parts, sep); runes(all) <= max {
		return all
	}
	var b strings.Builder
	n := 0
	for i, p := range parts {
		add := runes(p)
		if i > 0 {
			add += runes(sep)
		}
		if n+add+runes(sep)+runes(ellipsis) > max {
			break
		}
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(p)
		n += add
	}
	if n > 0 {
		b.WriteString(sep)
	}
	b.WriteString(ellipsis)
	return b.String()
}

// namesFit joins names with ", " for as long as the result, with " and N
// more" for the names left out, stays within max runes.
func namesFit(names []string, max int) string {
	var b strings.Builder
	n := 0
	for i, name := range names {
		sep := ""
		if i > 0 {
			sep = ", "
		}
		tail := 0
		if rest := len(names) - i - 1; rest > 0 {
			tail = runes(" and " + count(rest) + " more")
		}
		if n+runes(sep)+runes(name)+tail > max {
			if i == 0 {
				return count(len(names)) + " " + plural(len(names), "job", "jobs")
			}
			b.WriteString(" and " + count(len(names)-i) + " more")
			break
		}
		b.WriteString(sep + name)
		n += runes(sep) + runes(name)
	}
	return b.String()
}

// cleanReason trims a failure reason and unifies its line breaks.
func cleanReason(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.TrimSpace(s)
}

// runes is the length Slack's limits count.
func runes(s string) int { return utf8.RuneCountInString(s) }

// plain is a plain_text object of text, which Slack shows as it is.
func plain(text string) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.PlainTextType, text, true, false)
}

// verbatim is a mrkdwn object that Slack does not auto-link: text from the
// API in it stays what it says ("#general", "@here", a bare URL).
func verbatim(text string) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.MarkdownType, text, false, true)
}

// link is a mrkdwn link to u reading text (text is ours, never the API's),
// or "" when u is empty. The URL is escaped like any mrkdwn, and one that
// would still end the link early is refused.
func link(u, text string) string {
	if u == "" || strings.ContainsAny(u, "|<> \n") {
		return ""
	}
	return "<" + Escape(u) + "|" + text + ">"
}

// slackDate is t as Slack's date markup, which each reader sees in their own
// time zone, with t in UTC as the fallback for clients that cannot; "" for
// a zero t.
func slackDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), timestamp(t))
}

// timestamp is t in UTC to the minute, or "unknown".
func timestamp(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// Duration is how long d is, in the two largest units that matter:
// "2d 3h", "3h 12m", "4m 5s", "45s".
func Duration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	d = d.Round(time.Second)
	days := int64(d / (24 * time.Hour))
	hours := int64(d/time.Hour) % 24
	mins := int64(d/time.Minute) % 60
	secs := int64(d/time.Second) % 60
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh", days, hours)
	case hours > 0:
		return fmt.Sprintf("%dh %dm", hours, mins)
	case mins > 0:
		return fmt.Sprintf("%dm %ds", mins, secs)
	}
	return fmt.Sprintf("%ds", secs)
}

// shortDuration is Duration without a trailing zero unit: "5m", "3h 12m".
func shortDuration(d time.Duration) string {
	s := Duration(d)
	for _, zero := range []string{" 0s", " 0m", " 0h"} {
		s = strings.TrimSuffix(s, zero)
	}
	return s
}

// count writes n with thousands separators: 1234567 -> "1,234,567".
func count(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// percent writes p with one decimal, dropping a ".0": "87.5%", "100%".
func percent(p float64) string {
	return strings.TrimSuffix(strconv.FormatFloat(p, 'f', 1, 64), ".0") + "%"
}

// wholePercent is p rounded down to a whole percent, so that "100%" means
// every object is done: "42%".
func wholePercent(p float64) string {
	return strconv.Itoa(int(math.Floor(p))) + "%"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
