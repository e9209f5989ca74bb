package reliability

import (
	"encoding/json"
	"regexp"
	"strings"

	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/slack"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

// lostAnswer is a fault that takes the message and then drops the
// connection: Slack has it, the client sees a network error.
var lostAnswer = testenv.SlackFault{Post: true, Reset: true}

// alertKey is one alert: a job's move into a status.
type alertKey struct {
	Job    string
	Status labeling.Status
}

func (k alertKey) String() string { return k.Job + "→" + string(k.Status) }

// postedMessage is one message Slack took, as the oracle reads it.
type postedMessage struct {
	Raw       []byte // the request body as sent
	Text      string
	Blocks    []block
	Alerts    []alertKey // the alerts it carries, read back from its blocks
	Digest    bool
	Truncated bool // a digest that lists only some of its jobs
	// Unacknowledged: Slack took it but the client could not learn so, and
	// a retry may post it again.
	Unacknowledged bool
}

// readPosted reads the alerts m carries.
func readPosted(m testenv.SlackMessage) postedMessage {
	p := postedMessage{Raw: m.Raw, Text: m.Text, Unacknowledged: m.Unacknowledged}
	for _, raw := range m.Blocks {
		var b block
		_ = json.Unmarshal(raw, &b) // a block it cannot read carries no alert
		p.Blocks = append(p.Blocks, b)
	}
	p.Alerts, p.Digest, p.Truncated = readAlerts(p.Blocks)
	return p
}

// block is a Block Kit block as slack-go serializes it.
type block struct {
	Type     string        `json:"type"`
	Text     *textObject   `json:"text,omitempty"`
	Fields   []*textObject `json:"fields,omitempty"`
	Elements []element     `json:"elements,omitempty"`
}

type textObject struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// element is a context element (a text object) or an action (a button).
type element struct {
	Type  string          `json:"type"`
	Text  json.RawMessage `json:"text,omitempty"` // a string in context, an object in a button
	Value string          `json:"value,omitempty"`
	URL   string          `json:"url,omitempty"`
}

// A digest, as slack.RenderDigest writes it: a title "N labeling jobs
// finished: ..." (with "(part k/n)" when split); each failed job as a link
// to its console page under its reason; the jobs of every other status as
// one summary line, "✅ *2 completed:* a, b", ending "and N more" when the
// names did not all fit.
var (
	digestTitle = regexp.MustCompile(`^[\d,]+ labeling jobs? (finished|changed status)`)
	failedLink  = regexp.MustCompile(`<https://[^|<>]*/labeling-jobs/details/[^|<>]*\|([A-Za-z0-9-]+)>`)
	summaryLine = regexp.MustCompile(`^\S+ \*[\d,]+ (completed|stopped|stopping|in progress|initializing):\* (.*)$`)
	phrases     = map[string]labeling.Status{
		"completed": labeling.StatusCompleted, "stopped": labeling.StatusStopped, "stopping": labeling.StatusStopping,
		"in progress": labeling.StatusInProgress, "initializing": labeling.StatusInitializing,
	}
)

// readAlerts reads back which alerts a message carries: one alert's header,
// or every job a digest names (truncated when a summary left names out).
func readAlerts(blocks []block) (alerts []alertKey, digest, truncated bool) {
	if len(blocks) == 0 || blocks[0].Type != "header" || blocks[0].Text == nil {
		return nil, false, false
	}
	header := blocks[0].Text.Text
	if digestTitle.MatchString(header) {
		for _, b := range blocks[1:] {
			if b.Type != "section" || b.Text == nil {
				continue
			}
			for _, line := range strings.Split(b.Text.Text, "\n") {
				for _, m := range failedLink.FindAllStringSubmatch(line, -1) {
					alerts = append(alerts, alertKey{Job: m[1], Status: labeling.StatusFailed})
				}
				m := summaryLine.FindStringSubmatch(line)
				if m == nil {
					continue
				}
				names := m[2]
				if i := strings.LastIndex(names, " and "); i >= 0 && strings.HasSuffix(names, " more") {
					names, truncated = names[:i], true
				}
				for _, name := range strings.Split(names, ", ") {
					alerts = append(alerts, alertKey{Job: name, Status: phrases[m[1]]})
				}
			}
		}
		return alerts, true, truncated
	}
	// "✅ Labeling job completed: NAME": the emoji says the status.
	i := strings.LastIndex(header, ": ")
	emoji, _, ok := strings.Cut(header, " ")
	if i < 0 || !ok {
		return nil, false, false
	}
	for _, status := range labeling.Statuses {
		if slack.StatusEmoji(status) == emoji {
			return []alertKey{{Job: header[i+2:], Status: status}}, false, false
		}
	}
	return nil, false, false
}
