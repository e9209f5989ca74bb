package slack

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"

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

// labeledBy is who made a job's labels, "900 human · 360 machine", or
// "" before any label, where it would say nothing.
func labeledBy(c labeling.Counters) string {
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
			fields = append(fields, field(label, value))
		}
	}
	switch j.Status {
	case labeling.StatusCompleted:
		add("Labeled by", labeledBy(j.Counters))
		add("Ran for", ranFor(j))
		add("Finished", slackDate(j.ModifiedAt))
		add("Work team", workteam(j))
	case labeling.StatusFailed:
		add("Ran for", ranFor(j))
		add("Failed", slackDate(j.ModifiedAt))
		add("Labeled by", labeledBy(j.Counters))
		add("Work team", workteam(j))
	case labeling.StatusStopped:
		add("Ran for", ranFor(j))
		add("Stopped", slackDate(j.ModifiedAt))
		add("Labeled by", labeledBy(j.Counters))
		add("Work team", workteam(j))
	default: // still running, or a status the API may add
		add("Started", slackDate(j.CreatedAt))
		add("Labeled by", labeledBy(j.Counters))
		add("Work team", workteam(j))
	}
	return fields
}

// cardSummary is the card's one line for notifications: "🔄
// street-scenes-seg is in progress: 42% done, 1,260 of 3,000 labeled ·
// REGION · ACCOUNT"; for a failed job the reason, cut short, instead of
// the counts.
func cardSummary(j labeling.Job) string {
	s := StatusEmoji(j.Status) + " " + fit(j.Name, 200, inlineRune) + " " + fit(statusClause(j.Status), 80, inlineRune)
	c := j.Counters
	switch reason := cleanReason(j.FailureReason); {
	case j.Status == labeling.StatusFailed && reason != "":
		s += ": " + fit(reason, maxReasonInText, inlineRune)
	case c.Total+c.Failed+c.Unlabeled > 0:
		s += ": " + wholePercent(c.PercentDone()) + " done, " + count(c.Total) + " of " + count(c.Total+c.Failed+c.Unlabeled) + " labeled"
	}
	if w := regionAndAccount(j); w != "" {
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
