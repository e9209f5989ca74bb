package reliability

import (
	"encoding/json"
	"regexp"
	"strings"

	"github.com/labelwatch/labelwatch/internal/labeling"
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

// digestLine is one job's line in a digest, as slack.RenderDigest writes it:
// "EMOJI NAME · STATUS (was PREVIOUS) · ...".
var digestLine = regexp.MustCompile(`^\S+ ([A-Za-z0-9-]+) · ([A-Za-z]+) \((?:was [^)]*|new job)\) · `)

// readAlerts reads back which alerts a message carries: one alert's header
// and Status field, or every job line of a digest.
func readAlerts(blocks []block) (alerts []alertKey, digest, truncated bool) {
	if len(blocks) == 0 || blocks[0].Type != "header" || blocks[0].Text == nil {
		return nil, false, false
	}
	header := blocks[0].Text.Text
	if strings.HasPrefix(header, "🚨 ") {
		for _, b := range blocks[1:] {
			if b.Type == "section" && b.Text != nil {
				for _, line := range strings.Split(b.Text.Text, "\n") {
					if m := digestLine.FindStringSubmatch(line); m != nil {
						alerts = append(alerts, alertKey{Job: m[1], Status: labeling.Status(m[2])})
					}
				}
			}
			if b.Type == "context" {
				for _, e := range b.Elements {
					var text string
					if json.Unmarshal(e.Text, &text) == nil && strings.HasPrefix(text, "… and ") {
						truncated = true
					}
				}
			}
		}
		return alerts, true, truncated
	}
	i := strings.LastIndex(header, ": ")
	if i < 0 {
		return nil, false, false
	}
	name := header[i+2:]
	for _, b := range blocks {
		for _, f := range b.Fields {
			if rest, ok := strings.CutPrefix(f.Text, "*Status*\n"); ok {
				if _, status, ok := strings.Cut(rest, " "); ok {
					return []alertKey{{Job: name, Status: labeling.Status(status)}}, false, false
				}
			}
		}
	}
	return nil, false, false
}
