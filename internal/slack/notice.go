package slack

import (
	"strconv"
	"strings"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/labelwatch/labelwatch/internal/labeling"
)

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
	name := fit(j.Name, 200, inlineRune)
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
		line := StatusEmoji(j.Status) + " " + name + " " + fit(statusClause(j.Status), 80, inlineRune)
		if all > 0 {
			line += ": " + wholePercent(c.PercentDone()) + " done (" + count(c.Total+c.Failed) + " of " + count(all) + " objects)"
		}
		lines = append(lines, line)
	}
	return lines
}
