package slack

import (
	"strings"

	slackapi "github.com/slack-go/slack"

	"github.com/labelwatch/labelwatch/internal/labeling"
)

// maxAlertFields is how many fields an alert shows: enough to answer "how
// far did it get, how long, when", few enough to read at a glance.
const maxAlertFields = 4

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
	return Message{Text: alertSummary(a), Blocks: blocks, pages: j.Status == labeling.StatusFailed}
}

// alertFields chooses the fields for job j's status: what a reader of that
// status asks first, and nothing that is zero for want of meaning or that
// the header already says.
func alertFields(j labeling.Job) []*slackapi.TextBlockObject {
	var fields []*slackapi.TextBlockObject
	add := func(label, value string) {
		if value != "" && len(fields) < maxAlertFields {
			fields = append(fields, field(label, value))
		}
	}
	c := j.Counters
	switch j.Status {
	case labeling.StatusCompleted:
		add("Labeled", labeledTotal(c))
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
		add("Work team", workteam(j))
	case labeling.StatusStopped:
		add("Labeled", progress(c))
		add("Ran for", ranFor(j))
		add("Stopped", slackDate(j.ModifiedAt))
		add("Work team", workteam(j))
	default: // still running, or a status the API may add
		add("Labeled", progress(c))
		add("Running for", ranFor(j))
		add("Started", slackDate(j.CreatedAt))
		add("Work team", workteam(j))
	}
	return fields
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

// labeledTotal is a completed job's labels and who made them:
// "3,980 (2,400 human, 1,580 machine)".
func labeledTotal(c labeling.Counters) string {
	s := count(c.Total)
	if c.Human > 0 && c.Machine > 0 {
		s += " (" + count(c.Human) + " human, " + count(c.Machine) + " machine)"
	} else if c.Machine > 0 {
		s += " (all machine)"
	}
	return s
}

// alertSummary is the one line that says it all, for the fallback text that
// notifications show: "street-scenes-seg failed after 5m: REASON · REGION ·
// ACCOUNT". Each part is cut on its own, so no cut falls inside an entity.
func alertSummary(a Alert) string {
	j := a.Job
	s := StatusEmoji(j.Status) + " " + fit(j.Name, 200, inlineRune) + " "
	if j.Status.Terminal() {
		s += statusPhrase(j.Status)
		if d := ranFor(j); d != "" {
			s += " after " + d
		}
	} else {
		s += "is " + fit(statusPhrase(j.Status), 60, inlineRune)
	}
	if a.Previous != "" && !a.Previous.Known() {
		// A status the API added since: worth a look, so name it. A known
		// one ("was InProgress") tells a reader nothing.
		s += " (was " + fit(string(a.Previous), 40, inlineRune) + ")"
	}
	switch reason := cleanReason(j.FailureReason); {
	case j.Status == labeling.StatusFailed && reason != "":
		s += ": " + fit(reason, maxReasonInText, inlineRune)
	case j.Status == labeling.StatusCompleted:
		s += ": " + count(j.Counters.Total) + " labeled"
	case progress(j.Counters) != "":
		c := j.Counters
		s += ": " + count(c.Total) + " of " + count(c.Total+c.Failed+c.Unlabeled) + " labeled"
	}
	if w := regionAndAccount(j); w != "" {
		s += " · " + w
	}
	return s
}

// AlertFallback is the minimal form of one job's alert, for when Slack
// refuses its blocks: text only, "❌ street-scenes-seg failed · us-east-1 ·
// open in the SageMaker console" with the console link, and the failure
// reason cut short. A failed job's pages, as its alert does: the caller
// may send it, in place of a refused alert, through WithMentions on its own.
func AlertFallback(a Alert) Message {
	j := a.Job
	text := StatusEmoji(j.Status) + " " + fit(j.Name, 200, inlineRune) + " " + fit(statusPhrase(j.Status), 60, inlineRune)
	if r := j.Region(); validRegion(r) {
		text += " · " + r
	}
	if u := ConsoleURL(j); u != "" && !strings.ContainsAny(u, "<>|") {
		text += " · <" + u + "|open in the SageMaker console>"
	}
	if reason := cleanReason(j.FailureReason); reason != "" {
		text += "\n" + fit(reason, maxReasonInText, inlineRune)
	}
	return Message{Text: text, pages: j.Status == labeling.StatusFailed}
}
