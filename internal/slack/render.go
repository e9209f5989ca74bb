package slack

import (
	"fmt"
	"net/url"
	"sort"
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

// statusLabel is status s for mrkdwn: escaped, on one line and short, since
// a status the API may add some day is text from the API like any other.
func statusLabel(s labeling.Status) string {
	return fit(statusName(s), 40, inlinePiece)
}

// previousText describes the status an alert's job had before.
func previousText(p labeling.Status) string {
	if p == "" {
		return "new job"
	}
	return StatusEmoji(p) + " " + string(p)
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

// runTime is how long job j has been running, or "unknown" when its
// timestamps do not say.
func runTime(j labeling.Job) string {
	if j.CreatedAt.IsZero() || j.ModifiedAt.IsZero() || j.ModifiedAt.Before(j.CreatedAt) {
		return "unknown"
	}
	return Duration(j.ModifiedAt.Sub(j.CreatedAt))
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

// ConsoleURL is the link to job j in the SageMaker console of its region, or
// "" when the job's ARN names no usable region (a link to the wrong region's
// console would show "not found", which is worse than no link).
func ConsoleURL(j labeling.Job) string {
	region := j.Region()
	if !validRegion(region) || j.Name == "" {
		return ""
	}
	u := "https://" + region + ".console.aws.amazon.com/sagemaker/groundtruth?region=" +
		url.QueryEscape(region) + "#/labeling-jobs/details/" + url.PathEscape(j.Name)
	if len(u) > maxButtonURL {
		return ""
	}
	return u
}

// consoleListURL is the labeling job list in the SageMaker console of region.
func consoleListURL(region string) string {
	if !validRegion(region) {
		return ""
	}
	return "https://" + region + ".console.aws.amazon.com/sagemaker/groundtruth?region=" +
		url.QueryEscape(region) + "#/labeling-jobs"
}

func mrkdwn(text string) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.MarkdownType, text, false, false)
}

func plain(text string) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.PlainTextType, text, true, false)
}

// field is a section field: a bold label over an escaped value.
func field(label, value string) *slackapi.TextBlockObject {
	head := "*" + label + "*\n"
	return mrkdwn(head + escapeFit(value, maxFieldText-runes(head)))
}

// labeledLine is "*label:* value" with value escaped and cut to max runes.
func labeledLine(label, value string, max int) string {
	return "*" + label + ":* " + fit(value, max, inlinePiece)
}

// timestamp is t in UTC to the minute, or "unknown".
func timestamp(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// RenderAlert renders one job's alert: a header with the status emoji, the
// status change, how long the job ran and its label counters, the failure
// reason of a failed job, its manifests and work team, and a button to the
// job in the SageMaker console. Every text from the API is escaped and every
// text fits Slack's limits.
func RenderAlert(a Alert) Message {
	j := a.Job
	emoji := StatusEmoji(j.Status)
	c := j.Counters

	header := plainFit(emoji+" Labeling job "+statusPhrase(j.Status)+": "+j.Name, maxHeaderText)
	blocks := []slackapi.Block{
		slackapi.NewHeaderBlock(plain(header)),
		slackapi.NewSectionBlock(nil, []*slackapi.TextBlockObject{
			field("Status", emoji+" "+statusName(j.Status)),
			field("Previous status", previousText(a.Previous)),
			field("Ran for", runTime(j)),
			field("Done", percent(c.PercentDone())),
			field("Labeled", count(c.Total)),
			field("Human / machine", count(c.Human)+" / "+count(c.Machine)),
			field("Failed objects", count(c.Failed)),
			field("Unlabeled", count(c.Unlabeled)),
		}, nil),
	}

	reason := cleanReason(j.FailureReason)
	if reason != "" || j.Status == labeling.StatusFailed {
		head := "*Failure reason*\n>"
		body := "_no reason given_"
		if reason != "" {
			body = fit(reason, maxSectionText-runes(head), quotePiece)
		}
		blocks = append(blocks, slackapi.NewSectionBlock(mrkdwn(head+body), nil, nil))
	}

	var details []string
	if j.OutputManifest != "" {
		details = append(details, labeledLine("Output manifest", j.OutputManifest, maxDetailLine))
	}
	if j.InputManifest != "" {
		details = append(details, labeledLine("Input manifest", j.InputManifest, maxDetailLine))
	}
	if j.Workteam != "" {
		details = append(details, labeledLine("Work team", WorkteamName(j.Workteam)+" ("+j.Workteam+")", maxDetailLine))
	}
	if len(details) > 0 {
		blocks = append(blocks, slackapi.NewSectionBlock(mrkdwn(strings.Join(details, "\n")), nil, nil))
	}

	context := []slackapi.MixedElement{
		mrkdwn("Created " + timestamp(j.CreatedAt) + " · last modified " + timestamp(j.ModifiedAt)),
	}
	if j.ARN != "" {
		context = append(context, mrkdwn(labeledLine("ARN", j.ARN, maxDetailLine)))
	}
	blocks = append(blocks, slackapi.NewContextBlock("", context...))

	if u := ConsoleURL(j); u != "" {
		button := slackapi.NewButtonBlockElement("open_console", j.Name,
			plain(plainFit("Open in SageMaker console", maxButtonText))).WithURL(u)
		blocks = append(blocks, slackapi.NewActionBlock("", button))
	}

	// Each part is cut on its own, so the whole stays far below
	// maxFallbackText and no cut falls inside an entity.
	text := emoji + " Labeling job " + fit(j.Name, 200, inlinePiece) + " " + fit(statusPhrase(j.Status), 60, inlinePiece)
	if a.Previous != "" {
		text += " (was " + statusLabel(a.Previous) + ")"
	}
	if reason != "" {
		text += ": " + fit(reason, maxReasonInText, inlinePiece)
	}
	return Message{Text: text, Blocks: blocks}
}

// statusRank orders statuses in a digest: what needs attention first.
func statusRank(s labeling.Status) int {
	switch s {
	case labeling.StatusFailed:
		return 0
	case labeling.StatusStopped:
		return 1
	case labeling.StatusStopping:
		return 2
	case labeling.StatusCompleted:
		return 3
	case labeling.StatusInProgress:
		return 4
	case labeling.StatusInitializing:
		return 5
	}
	return 6
}

// digestLine is one job in a digest, on one line.
func digestLine(a Alert) string {
	j := a.Job
	line := StatusEmoji(j.Status) + " " + fit(j.Name, maxDetailLine, inlinePiece) + " · " + statusLabel(j.Status)
	if a.Previous == "" {
		line += " (new job)"
	} else {
		line += " (was " + statusLabel(a.Previous) + ")"
	}
	return line + " · " + percent(j.Counters.PercentDone()) + " done · ran " + runTime(j)
}

// RenderDigest renders many alerts as one message, for when a cycle has more
// than is sensible to post one by one: a count per status, the failed jobs
// first with their reasons, then the others by name. It stays within Slack's
// limits (50 blocks, 3000 characters a section) and well under the 40,000
// characters Slack accepts in a message; jobs that do not fit are counted in
// a closing "… and N more" line.
func RenderDigest(alerts []Alert) Message {
	sorted := make([]Alert, len(alerts))
	copy(sorted, alerts)
	sort.SliceStable(sorted, func(i, k int) bool {
		ri, rk := statusRank(sorted[i].Job.Status), statusRank(sorted[k].Job.Status)
		if (ri == 0) != (rk == 0) {
			return ri == 0
		}
		return sorted[i].Job.Name < sorted[k].Job.Name
	})

	counts := map[labeling.Status]int{}
	var statuses []labeling.Status
	regions := map[string]bool{}
	for _, a := range sorted {
		if counts[a.Job.Status] == 0 {
			statuses = append(statuses, a.Job.Status)
		}
		counts[a.Job.Status]++
		regions[a.Job.Region()] = true
	}
	sort.SliceStable(statuses, func(i, k int) bool {
		ri, rk := statusRank(statuses[i]), statusRank(statuses[k])
		if ri != rk {
			return ri < rk
		}
		return statuses[i] < statuses[k]
	})
	var parts []string
	for _, s := range statuses {
		parts = append(parts, StatusEmoji(s)+" "+count(counts[s])+" "+statusLabel(s))
	}

	noun := "alerts"
	if len(alerts) == 1 {
		noun = "alert"
	}
	title := "🚨 " + count(len(alerts)) + " labeling job " + noun
	blocks := []slackapi.Block{slackapi.NewHeaderBlock(plain(plainFit(title, maxHeaderText)))}
	summary := joinFit(parts, " · ", maxSectionText)
	if summary == "" {
		summary = "No jobs changed status."
	}
	blocks = append(blocks, slackapi.NewSectionBlock(mrkdwn(summary), nil, nil))

	listURL := ""
	if len(regions) == 1 {
		for r := range regions {
			listURL = consoleListURL(r)
		}
	}
	reserved := 1 // the "… and N more" line
	if listURL != "" {
		reserved++
	}

	// Failed jobs each get a section, so their reasons can be quoted; the
	// others are packed one line each into as few sections as fit.
	budget := digestTextBudget
	shown := 0
	var open *slackapi.SectionBlock // the section the next line goes into
	openLen := 0
	for _, a := range sorted {
		if a.Job.Status == labeling.StatusFailed {
			text := digestLine(a)
			if reason := cleanReason(a.Job.FailureReason); reason != "" {
				text += "\n>" + fit(reason, maxReasonDigest, quotePiece)
			}
			n := runes(text)
			if n > budget || len(blocks) >= maxBlocks-reserved {
				break
			}
			blocks = append(blocks, slackapi.NewSectionBlock(mrkdwn(text), nil, nil))
			budget -= n
			shown++
			continue
		}
		line := digestLine(a)
		n := runes(line)
		if n+1 > budget {
			break
		}
		if open == nil || openLen+1+n > maxSectionText {
			if len(blocks) >= maxBlocks-reserved {
				break
			}
			open = slackapi.NewSectionBlock(mrkdwn(line), nil, nil)
			openLen = n
			blocks = append(blocks, open)
		} else {
			open.Text.Text += "\n" + line
			openLen += 1 + n
		}
		budget -= n + 1
		shown++
	}

	if more := len(sorted) - shown; more > 0 {
		blocks = append(blocks, slackapi.NewContextBlock("",
			mrkdwn("… and "+count(more)+" more "+plural(more, "job", "jobs")+" not listed here")))
	}
	if listURL != "" {
		button := slackapi.NewButtonBlockElement("open_console", "", plain("Open labeling jobs in SageMaker console")).WithURL(listURL)
		blocks = append(blocks, slackapi.NewActionBlock("", button))
	}

	text := title + ": " + joinFit(parts, ", ", 1000)
	var failed []string
	for _, a := range sorted {
		if a.Job.Status == labeling.StatusFailed {
			failed = append(failed, fit(a.Job.Name, 100, inlinePiece))
		}
	}
	if len(failed) > 0 {
		text += ". Failed: " + joinFit(failed, ", ", 1000)
	}
	return Message{Text: text, Blocks: blocks}
}

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

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Format renders m for a terminal: the header, sections, fields, context and
// button links as indented lines, with entities unescaped and control
// characters from the API replaced so they cannot drive the terminal.
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
		return safe(unescape.Replace(t.Text))
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
		line("", safe(unescape.Replace(m.Text)))
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
				if t, ok := e.(*slackapi.TextBlockObject); ok {
					line("  · ", text(t))
				}
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
	b.WriteString("╰" + rule + "\n")
	return b.String()
}
