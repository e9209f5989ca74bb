package slack

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/labelwatch/labelwatch/internal/labeling"
)

// progressCells is how many cells the card's progress bar has: fine enough
// to move visibly every few percent, short enough for a phone's width.
const progressCells = 16

// maxCardFields is how many fields a card shows: the ones a reader of a
// running job asks about, at a glance.
const maxCardFields = 4

// RenderCard renders job j's living card: the one message per job that is
// edited as the job moves, rather than a new message each time. It has a
// header with the status emoji, the job's name and status; for a failed job
// the reason right under it; a progress bar with the share of data objects
// done and how many are labeled and failed; two to four fields chosen for
// the status (when it started, who labeled, the work team, when and after
// how long it ended); and the line of links RenderAlert has.
//
// The card shows only what the job says, never anything computed from the
// time it is rendered ("running for 3h"): a caller compares the
// Fingerprint of a new card with that of the card posted to decide whether
// an edit is due, and so the same job always renders the same card. Every
// text from the API is escaped and fits Slack's limits. Its Text is a
// one-line summary; its Fallback is a text-only form.
func RenderCard(j labeling.Job) Message {
	blocks := []slackapi.Block{slackapi.NewHeaderBlock(plain(cardHeader(j)))}
	if b := reasonBlock(j); b != nil {
		blocks = append(blocks, b)
	}
	blocks = append(blocks, slackapi.NewSectionBlock(verbatim(progressLine(j.Counters)), nil, nil))
	if fields := cardFields(j); len(fields) > 0 {
		blocks = append(blocks, slackapi.NewSectionBlock(nil, fields, nil))
	}
	if b := linksBlock(j); b != nil {
		blocks = append(blocks, b)
	}
	return Message{Text: cardSummary(j), Blocks: blocks, Fallback: cardFallback(j)}
}

// cardHeader is "🔄 street-scenes-seg is in progress" or "✅ street-scenes-seg
// completed", the name cut rather than the status when it is too long.
func cardHeader(j labeling.Job) string {
	head := StatusEmoji(j.Status) + " "
	tail := " " + statusClause(j.Status)
	return head + plainFit(j.Name, maxHeaderText-runes(head)-runes(tail)) + tail
}

// statusClause is status s as what follows a job's name: "completed" for a
// status a job ends in, "is in progress" for one it is in.
func statusClause(s labeling.Status) string {
	if s.Terminal() {
		return statusPhrase(s)
	}
	return "is " + plainFit(statusPhrase(s), 60)
}

// wholePercent is p rounded down to a whole percent, so that "100%" means
// every object is done: "42%".
func wholePercent(p float64) string {
	return strconv.Itoa(int(math.Floor(p))) + "%"
}

// progressBar is p percent as a bar of progressCells cells in code
// markup, where every cell is as wide as the next: "`▓▓▓▓▓▓░░░░░░░░░░`".
func progressBar(p float64) string {
	filled := min(max(int(p/100*progressCells), 0), progressCells)
	return "`" + strings.Repeat("▓", filled) + strings.Repeat("░", progressCells-filled) + "`"
}

// progressLine is the card's line of progress: "`▓▓▓▓▓▓░░░░░░░░░░` 42% ·
// 1,260 of 3,000 objects labeled · 12 failed". The percent counts objects
// done, labeled or failed for good (labeling.Counters.PercentDone).
func progressLine(c labeling.Counters) string {
	p := c.PercentDone()
	s := progressBar(p) + " " + wholePercent(p) + " · "
	all := c.Total + c.Failed + c.Unlabeled
	if all == 0 {
		return s + "no data objects counted yet"
	}
	s += count(c.Total) + " of " + count(all) + " objects labeled"
	if c.Failed > 0 {
		s += " · " + count(c.Failed) + " failed"
	}
	return s
}

// labeledByWhom is who made a job's labels, "900 human · 360 machine", or
// "" before any label, where it would say nothing.
func labeledByWhom(c labeling.Counters) string {
	var parts []string
	if c.Human > 0 {
		parts = append(parts, count(c.Human)+" human")
	}
	if c.Machine > 0 {
		parts = append(parts, count(c.Machine)+" machine")
	}
	return strings.Join(parts, " · ")
}

// cardFields chooses the card's fields for job j's status. Unlike
// alertFields, none is computed from the time of rendering, and none
// repeats the progress line.
func cardFields(j labeling.Job) []*slackapi.TextBlockObject {
	var fields []*slackapi.TextBlockObject
	add := func(label, value string) {
		if value != "" && len(fields) < maxCardFields {
			fields = append(fields, alertField(label, value))
		}
	}
	team := ""
	if j.Workteam != "" {
		team = fit(WorkteamName(j.Workteam), maxDetailLine, inlinePiece)
	}
	switch j.Status {
	case labeling.StatusCompleted:
		add("Labeled by", labeledByWhom(j.Counters))
		add("Ran for", ranFor(j))
		add("Finished", slackDate(j.ModifiedAt))
		add("Work team", team)
	case labeling.StatusFailed:
		add("Ran for", ranFor(j))
		add("Failed", slackDate(j.ModifiedAt))
		add("Labeled by", labeledByWhom(j.Counters))
		add("Work team", team)
	case labeling.StatusStopped:
		add("Ran for", ranFor(j))
		add("Stopped", slackDate(j.ModifiedAt))
		add("Labeled by", labeledByWhom(j.Counters))
		add("Work team", team)
	default: // still running, or a status the API may add
		add("Started", slackDate(j.CreatedAt))
		add("Labeled by", labeledByWhom(j.Counters))
		add("Work team", team)
	}
	return fields
}

// cardSummary is the card's one line for notifications: "🔄
// street-scenes-seg is in progress: 42% done, 1,260 of 3,000 labeled ·
// REGION · ACCOUNT"; for a failed job the reason, cut short, instead of
// the counts.
func cardSummary(j labeling.Job) string {
	s := StatusEmoji(j.Status) + " " + fit(j.Name, 200, inlinePiece) + " " + fit(statusClause(j.Status), 80, inlinePiece)
	c := j.Counters
	switch reason := cleanReason(j.FailureReason); {
	case j.Status == labeling.StatusFailed && reason != "":
		s += ": " + fit(reason, maxReasonInText, inlinePiece)
	case c.Total+c.Failed+c.Unlabeled > 0:
		s += ": " + wholePercent(c.PercentDone()) + " done, " + count(c.Total) + " of " + count(c.Total+c.Failed+c.Unlabeled) + " labeled"
	}
	if w := whereText(j); w != "" {
		s += " · " + w
	}
	return s
}

// cardFallback is the card's minimal form, for when Slack refuses its
// blocks: its summary line and a link to the job in the console.
func cardFallback(j labeling.Job) *Message {
	text := cardSummary(j)
	if l := link(ConsoleURL(j), "open in the SageMaker console"); l != "" {
		text += " · " + l
	}
	return &Message{Text: text}
}

// Notice is what is worth telling about a running job besides its card,
// which changes silently: each field set is one line of the message
// RenderNotice makes.
type Notice struct {
	// Milestone is the percent of objects done the job just crossed (50
	// for "half done"); 0 for none.
	Milestone int
	// StuckFor is how long the job's counters have not moved; 0 for none.
	StuckFor time.Duration
	// FailedShare is the fraction, 0 to 1, of the objects the job
	// processed that failed for good; 0 for none.
	FailedShare float64
}

// RenderNotice renders the notices n about job j as one short message,
// one line each: "📈 street-scenes-seg is 50% done (1,500 of 3,000
// objects)", "⏳ street-scenes-seg has not moved for 6h (1,260 of 3,000
// labeled)", "⚠️ 3.2% of the objects street-scenes-seg processed failed (32
// of 1,000)"; then the job's links. Counts come from j, the milestone, the
// stall and the share from n, so the message says what the caller decided.
// A Notice with nothing set says where the job stands. Its Text is those
// lines on one line; its Fallback, text only, adds the console link.
func RenderNotice(j labeling.Job, n Notice) Message {
	lines := noticeLines(j, n)
	blocks := []slackapi.Block{slackapi.NewSectionBlock(verbatim(strings.Join(lines, "\n")), nil, nil)}
	if b := linksBlock(j); b != nil {
		blocks = append(blocks, b)
	}
	text := strings.Join(lines, " · ")
	fallback := text
	if l := link(ConsoleURL(j), "open in the SageMaker console"); l != "" {
		fallback += " · " + l
	}
	return Message{Text: text, Blocks: blocks, Fallback: &Message{Text: fallback}}
}

// noticeLines are the lines of RenderNotice, each within a few hundred
// characters, the name escaped and cut.
func noticeLines(j labeling.Job, n Notice) []string {
	name := fit(j.Name, 200, inlinePiece)
	c := j.Counters
	all := c.Total + c.Failed + c.Unlabeled
	var lines []string
	// labeled says how far the job is as its card does: "54% done, 1,080
	// of 2,000 labeled, 12 failed".
	labeled := func() string {
		s := wholePercent(c.PercentDone()) + " done, " + count(c.Total) + " of " + count(all) + " labeled"
		if c.Failed > 0 {
			s += ", " + count(c.Failed) + " failed"
		}
		return s
	}
	if n.Milestone > 0 {
		line := "📈 " + name + " passed " + strconv.Itoa(n.Milestone) + "%"
		if all > 0 {
			line += ": " + labeled()
		}
		lines = append(lines, line)
	}
	if n.StuckFor > 0 {
		line := "⚠️ " + name + " has not moved for " + shortDuration(n.StuckFor)
		if all > 0 {
			line += ": " + labeled()
		} else {
			line += " (no data objects counted yet)"
		}
		lines = append(lines, line)
	}
	if n.FailedShare > 0 {
		line := "⚠️ " + name + ": " + percent(100*n.FailedShare) + " of the objects processed failed"
		if processed := c.Total + c.Failed; processed > 0 {
			line = "⚠️ " + name + ": " + count(c.Failed) + " of " + count(processed) + " processed objects failed (" + percent(100*n.FailedShare) + ")"
		}
		lines = append(lines, line)
	}
	if len(lines) == 0 {
		line := StatusEmoji(j.Status) + " " + name + " " + fit(statusClause(j.Status), 80, inlinePiece)
		if all > 0 {
			line += ": " + wholePercent(c.PercentDone()) + " done (" + count(c.Total+c.Failed) + " of " + count(all) + " objects)"
		}
		lines = append(lines, line)
	}
	return lines
}

// Fingerprint is a short hash of what m shows: its text and its blocks as
// Slack gets them, not where it goes (Edit, Thread, Broadcast) nor its
// Fallback. The same content has the same fingerprint in every process and
// every run, so a caller can store it with a posted card and edit the card
// only when a new rendering differs.
func (m Message) Fingerprint() string {
	blocks := []byte("[]")
	if len(m.Blocks) > 0 {
		b, err := json.Marshal(m.Blocks)
		if err != nil {
			// Such blocks cannot be sent either; any fingerprint that
			// differs from a sendable message's will do.
			b = []byte("unencodable: " + err.Error())
		}
		blocks = b
	}
	h := sha256.New()
	h.Write([]byte(strconv.Itoa(len(m.Text)) + ":" + m.Text))
	h.Write(blocks)
	return hex.EncodeToString(h.Sum(nil))[:16]
}
