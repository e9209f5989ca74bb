package slack

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	slackapi "github.com/slack-go/slack"

	"github.com/labelwatch/labelwatch/internal/labeling"
)

// Block Kit limits, in characters (Unicode code points, as slack-go's
// TextBlockObject.Validate counts them).
const (
	maxBlocks        = 50
	maxHeaderText    = 150
	maxSectionText   = 3000
	maxFields        = 10
	maxFieldText     = 2000
	maxContextItems  = 10
	maxButtonText    = 75
	maxButtonURL     = 3000
	maxReasonInText  = 300 // failure reason in a fallback text or a digest line
	maxReasonDigest  = 500 // failure reason in a digest entry
	maxDetailLine    = 950 // one manifest URI or ARN line; three fit in a section
	maxPagedLine     = 500 // the "Paged …" line of a message that pages (pagedBlock)
	digestTextBudget = 12000
)

// ellipsis marks text that was cut to fit a limit.
const ellipsis = "…"

// Escape makes s safe to put in Slack mrkdwn: it replaces the three control
// characters &, < and > by their entities and leaves everything else as it
// is. Unescaped, "<!channel>", "<@U…>" and "<url|text>" become live mentions
// and links.
func Escape(s string) string {
	return fit(s, -1, escapePiece)
}

// escapePiece is the mrkdwn form of one rune of text from the API.
func escapePiece(r rune) string {
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

// quotePiece is escapePiece for a block quote: a line break starts a new
// quoted line, so text from the API cannot end the quote early.
func quotePiece(r rune) string {
	if r == '\n' {
		return "\n>"
	}
	return escapePiece(r)
}

// inlinePiece is escapePiece for text that must stay on one line.
func inlinePiece(r rune) string {
	if r == '\n' || r == '\t' {
		return " "
	}
	return escapePiece(r)
}

// plainPiece is one rune of a plain_text object, which Slack shows as it is:
// no escaping, but no line breaks or control characters either.
func plainPiece(r rune) string {
	if unicode.IsControl(r) {
		return " "
	}
	return string(r)
}

// fit renders s rune by rune with piece and, when the result would be longer
// than max runes, stops before the first piece that does not fit and ends
// with an ellipsis, so the result has at most max runes. Cutting between
// pieces never splits a UTF-8 sequence or an entity such as "&amp;". A
// negative max means no limit. Invalid UTF-8 comes out as U+FFFD.
func fit(s string, max int, piece func(rune) string) string {
	var all strings.Builder
	n := 0
	for _, r := range s {
		p := piece(r)
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
		p := piece(r)
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
func escapeFit(s string, max int) string { return fit(s, max, escapePiece) }

// plainFit is text for a plain_text object, cut to at most max runes.
func plainFit(s string, max int) string { return fit(s, max, plainPiece) }

// cleanReason trims a failure reason and unifies its line breaks.
func cleanReason(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.TrimSpace(s)
}

// runes is the length Slack's limits count.
func runes(s string) int { return utf8.RuneCountInString(s) }

// StatusEmoji is the emoji that stands for status s in messages; each of the
// six API statuses has its own, and any other value gets a question mark.
func StatusEmoji(s labeling.Status) string {
	switch s {
	case labeling.StatusInitializing:
		return "⏳"
	case labeling.StatusInProgress:
		return "🔄"
	case labeling.StatusStopping:
		return "🚧"
	case labeling.StatusStopped:
		return "🛑"
	case labeling.StatusCompleted:
		return "✅"
	case labeling.StatusFailed:
		return "❌"
	}
	return "❓"
}

// statusPhrase is status s as the end of "Labeling job …".
func statusPhrase(s labeling.Status) string {
	switch s {
	case labeling.StatusInitializing:
		return "initializing"
	case labeling.StatusInProgress:
		return "in progress"
	case labeling.StatusStopping:
		return "stopping"
	case labeling.StatusStopped:
		return "stopped"
	case labeling.StatusCompleted:
		return "completed"
	case labeling.StatusFailed:
		return "failed"
	case "":
		return "in an unknown status"
	}
	return "in status " + string(s)
}

// statusName is the status as the API spells it, for "" a placeholder.
func statusName(s labeling.Status) string {
	if s == "" {
		return "unknown"
	}
	return string(s)
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

// WorkteamName is the last path part of a work team ARN
// ("arn:aws:sagemaker:…:workteam/private-crowd/NAME" -> "NAME"), or the
// whole value when it has no path.
func WorkteamName(arn string) string {
	if i := strings.LastIndexByte(arn, '/'); i >= 0 && i < len(arn)-1 {
		return arn[i+1:]
	}
	return arn
}

// validRegion reports whether r looks like an AWS region ("eu-west-1"), so
// that it is safe to put in a console host name.
func validRegion(r string) bool {
	if r == "" || len(r) > 30 {
		return false
	}
	for _, c := range r {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// ConsoleURL is the link to job j in the SageMaker console of its partition
// and region, or "" when the job's ARN names none that is usable (a link to
// the wrong region's console would show "not found", which is worse than no
// link).
func ConsoleURL(j labeling.Job) string {
	base, region := consoleBase(j)
	if base == "" || j.Name == "" {
		return ""
	}
	return bounded(base + "/sagemaker/groundtruth?region=" + url.QueryEscape(region) +
		"#/labeling-jobs/details/" + url.PathEscape(j.Name))
}

// consoleListURL is the labeling job list in the SageMaker console of region.
func consoleListURL(region string) string {
	if !validRegion(region) {
		return ""
	}
	return "https://" + region + ".console.aws.amazon.com/sagemaker/groundtruth?region=" +
		url.QueryEscape(region) + "#/labeling-jobs"
}

func plain(text string) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.PlainTextType, text, true, false)
}

// timestamp is t in UTC to the minute, or "unknown".
func timestamp(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// verbatim is a mrkdwn object that Slack does not auto-link: text from the
// API in it stays what it says ("#general", "@here", a bare URL).
func verbatim(text string) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.MarkdownType, text, false, true)
}

// alertField is a section field of an alert: a bold label over a value that
// is already mrkdwn (escaped, or markup of ours).
func alertField(label, value string) *slackapi.TextBlockObject {
	return verbatim("*" + label + "*\n" + value)
}

// maxAlertFields is how many fields an alert shows: enough to answer "how
// far did it get, how long, when", few enough to read at a glance.
const maxAlertFields = 4

// shortDuration is Duration without a trailing zero unit: "5m", "3h 12m".
func shortDuration(d time.Duration) string {
	s := Duration(d)
	for _, zero := range []string{" 0s", " 0m", " 0h"} {
		s = strings.TrimSuffix(s, zero)
	}
	return s
}

// ranFor is how long job j ran, or "" when its timestamps do not say.
func ranFor(j labeling.Job) string {
	if j.CreatedAt.IsZero() || j.ModifiedAt.IsZero() || j.ModifiedAt.Before(j.CreatedAt) {
		return ""
	}
	return shortDuration(j.ModifiedAt.Sub(j.CreatedAt))
}

// progress is how far labeling got, "1,234 of 1,400 (88.1%), 6 failed",
// counting data objects that failed for good; "" when labeling never
// started, where "0 of 1,400" would say nothing the status does not.
func progress(c labeling.Counters) string {
	if c.Total+c.Failed == 0 {
		return ""
	}
	all := c.Total + c.Failed + c.Unlabeled
	s := count(c.Total) + " of " + count(all) + " (" + percent(100*float64(c.Total)/float64(all)) + ")"
	if c.Failed > 0 {
		s += ", " + count(c.Failed) + " failed"
	}
	return s
}

// labeledBy is a completed job's labels and who made them:
// "3,980 (2,400 human, 1,580 machine)".
func labeledBy(c labeling.Counters) string {
	s := count(c.Total)
	if c.Human > 0 && c.Machine > 0 {
		s += " (" + count(c.Human) + " human, " + count(c.Machine) + " machine)"
	} else if c.Machine > 0 {
		s += " (all machine)"
	}
	return s
}

// alertFields chooses the fields for job j's status: what a reader of that
// status asks first, and nothing that is zero for want of meaning or that
// the header already says.
func alertFields(j labeling.Job) []*slackapi.TextBlockObject {
	var fields []*slackapi.TextBlockObject
	add := func(label, value string) {
		if value != "" && len(fields) < maxAlertFields {
			fields = append(fields, alertField(label, value))
		}
	}
	c := j.Counters
	team := ""
	if j.Workteam != "" {
		team = fit(WorkteamName(j.Workteam), maxDetailLine, inlinePiece)
	}
	switch j.Status {
	case labeling.StatusCompleted:
		add("Labeled", labeledBy(c))
		if c.Failed > 0 {
			add("Failed objects", count(c.Failed))
		}
		if c.Unlabeled > 0 {
			add("Unlabeled", count(c.Unlabeled))
		}
		add("Ran for", ranFor(j))
		add("Finished", slackDate(j.ModifiedAt))
	case labeling.StatusFailed:
		add("Labeled", progress(c))
		add("Ran for", ranFor(j))
		add("Failed", slackDate(j.ModifiedAt))
		add("Work team", team)
	case labeling.StatusStopped:
		add("Labeled", progress(c))
		add("Ran for", ranFor(j))
		add("Stopped", slackDate(j.ModifiedAt))
		add("Work team", team)
	default: // still running, or a status the API may add
		add("Labeled", progress(c))
		add("Running for", ranFor(j))
		add("Started", slackDate(j.CreatedAt))
		add("Work team", team)
	}
	return fields
}

// alertLinks is the line of links under an alert: the job in the SageMaker
// console, its log stream, and a completed job's output manifest. They are
// mrkdwn links, not buttons: a button is interactive, and Slack marks it
// with a warning where the app has interactivity on and nobody answers.
func alertLinks(j labeling.Job) string {
	candidates := []string{link(ConsoleURL(j), "Job in SageMaker"), link(LogStreamURL(j), "Logs")}
	if j.Status == labeling.StatusCompleted {
		candidates = append(candidates, link(OutputManifestURL(j), "Output manifest"))
	}
	var links []string
	n := 0
	for _, l := range candidates {
		// A link is never cut; one that does not fit is left out.
		if l == "" || n+runes(l)+3 > maxSectionText {
			continue
		}
		links = append(links, l)
		n += runes(l) + 3
	}
	return strings.Join(links, " · ")
}

// whereText is "REGION · ACCOUNT" from job j's ARN, or what of it there is.
func whereText(j labeling.Job) string {
	p := placeOf(j)
	var parts []string
	for _, s := range []string{p.region, p.account} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, " · ")
}

// alertSummary is the one line that says it all, for the fallback text that
// notifications show: "street-scenes-seg failed after 5m: REASON · REGION ·
// ACCOUNT". Each part is cut on its own, so no cut falls inside an entity.
func alertSummary(a Alert) string {
	j := a.Job
	s := StatusEmoji(j.Status) + " " + fit(j.Name, 200, inlinePiece) + " "
	if j.Status.Terminal() {
		s += statusPhrase(j.Status)
		if d := ranFor(j); d != "" {
			s += " after " + d
		}
	} else {
		s += "is " + fit(statusPhrase(j.Status), 60, inlinePiece)
	}
	if a.Previous != "" && !a.Previous.Known() {
		// A status the API added since: worth a look, so name it. A known
		// one ("was InProgress") tells a reader nothing.
		s += " (was " + fit(string(a.Previous), 40, inlinePiece) + ")"
	}
	switch reason := cleanReason(j.FailureReason); {
	case j.Status == labeling.StatusFailed && reason != "":
		s += ": " + fit(reason, maxReasonInText, inlinePiece)
	case j.Status == labeling.StatusCompleted:
		s += ": " + count(j.Counters.Total) + " labeled"
	case progress(j.Counters) != "":
		c := j.Counters
		s += ": " + count(c.Total) + " of " + count(c.Total+c.Failed+c.Unlabeled) + " labeled"
	}
	if w := whereText(j); w != "" {
		s += " · " + w
	}
	return s
}

// RenderAlert renders one job's alert to read at a glance: a header with the
// status emoji and the job's name; for a failed job the reason right under
// it; two to four fields chosen for the status; and one line of links to the
// job's console page, its logs and a completed job's output manifest, with
// its region and account. Times are Slack date markup, so each reader sees
// their own time zone. Every text from the API is escaped and never
// auto-linked, and every text fits Slack's limits. A failed job's message
// can page people: see WithMentions.
func RenderAlert(a Alert) Message {
	j := a.Job
	header := plainFit(StatusEmoji(j.Status)+" Labeling job "+statusPhrase(j.Status)+": "+j.Name, maxHeaderText)
	blocks := []slackapi.Block{slackapi.NewHeaderBlock(plain(header))}

	if b := reasonBlock(j); b != nil {
		blocks = append(blocks, b)
	}
	if fields := alertFields(j); len(fields) > 0 {
		blocks = append(blocks, slackapi.NewSectionBlock(nil, fields, nil))
	}
	if b := linksBlock(j); b != nil {
		blocks = append(blocks, b)
	}
	return Message{Text: alertSummary(a), Blocks: blocks, failure: j.Status == labeling.StatusFailed}
}

// reasonBlock is the section that quotes job j's failure reason, for a
// failed job "no reason given" when it has none; nil for a job with no
// reason that has not failed.
func reasonBlock(j labeling.Job) slackapi.Block {
	reason := cleanReason(j.FailureReason)
	if reason == "" && j.Status != labeling.StatusFailed {
		return nil
	}
	head := "*Failure reason*\n>"
	body := "_no reason given_"
	if reason != "" {
		body = fit(reason, maxSectionText-runes(head), quotePiece)
	}
	return slackapi.NewSectionBlock(verbatim(head+body), nil, nil)
}

// linksBlock is the context line under a message about job j: its links
// (alertLinks) and its region and account; nil when it has neither.
func linksBlock(j labeling.Job) slackapi.Block {
	var context []slackapi.MixedElement
	if l := alertLinks(j); l != "" {
		context = append(context, verbatim(l))
	}
	if w := whereText(j); w != "" {
		context = append(context, verbatim(w))
	}
	if len(context) == 0 {
		return nil
	}
	return slackapi.NewContextBlock("", context...)
}

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
	if !m.failure {
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
	m.failure = false
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
