package slack

// This file is what the rendering tests share: the job they start from and
// the checks every message must pass.

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	slackapi "github.com/slack-go/slack"

	"github.com/labelwatch/labelwatch/internal/labeling"
)

var created = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// job is a failed job with every field set; cases change what they test.
func job() labeling.Job {
	return labeling.Job{
		Name:           "cats-vs-dogs-2025",
		ARN:            "arn:aws:sagemaker:eu-west-1:123456789012:labeling-job/cats-vs-dogs-2025",
		Status:         labeling.StatusFailed,
		CreatedAt:      created,
		ModifiedAt:     created.Add(3*time.Hour + 12*time.Minute + 7*time.Second),
		Counters:       labeling.Counters{Total: 1234, Human: 1000, Machine: 234, Failed: 6, Unlabeled: 160},
		FailureReason:  "ClientError: not enough workers",
		OutputManifest: "s3://bucket/out/cats-vs-dogs-2025/manifests/output/output.manifest",
		InputManifest:  "s3://bucket/in/input.manifest",
		Workteam:       "arn:aws:sagemaker:eu-west-1:123456789012:workteam/private-crowd/annotators",
	}
}

// mrkdwn is a mrkdwn object that Slack auto-links, for blocks a test makes
// itself: every text object the renderer makes is verbatim
// (TestEveryMrkdwnIsVerbatim).
func mrkdwn(text string) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.MarkdownType, text, false, false)
}

// checkLimits fails t unless m is within every Block Kit limit this package
// promises, every mrkdwn text is safely escaped, and the blocks survive a
// JSON round trip through slack-go.
func checkLimits(t *testing.T, m Message) {
	t.Helper()
	if m.Text == "" {
		t.Error("fallback text is empty")
	}
	checkMrkdwn(t, "fallback text", m.Text, false)
	if n := len(m.Blocks); n == 0 || n > maxBlocks {
		t.Errorf("%d blocks, want 1 to %d", n, maxBlocks)
	}
	actionIDs := map[string]bool{}
	checkText := func(where string, o *slackapi.TextBlockObject, max int) {
		t.Helper()
		if o == nil {
			t.Errorf("%s: no text object", where)
			return
		}
		if err := o.Validate(); err != nil {
			t.Errorf("%s: slack-go says %v", where, err)
		}
		if n := runes(o.Text); n > max {
			t.Errorf("%s: %d characters, limit %d", where, n, max)
		}
		if o.Type == slackapi.MarkdownType {
			checkMrkdwn(t, where, o.Text, true)
		} else if !utf8.ValidString(o.Text) || strings.ContainsAny(o.Text, "\n\r") {
			t.Errorf("%s: plain text %q is not valid one-line UTF-8", where, o.Text)
		}
	}
	for i, b := range m.Blocks {
		where := fmt.Sprintf("block %d (%s)", i, b.BlockType())
		switch b := b.(type) {
		case *slackapi.HeaderBlock:
			checkText(where, b.Text, maxHeaderText)
			if b.Text != nil && b.Text.Type != slackapi.PlainTextType {
				t.Errorf("%s: header text is %s, must be plain_text", where, b.Text.Type)
			}
		case *slackapi.SectionBlock:
			if b.Text == nil && len(b.Fields) == 0 {
				t.Errorf("%s: neither text nor fields", where)
			}
			if b.Text != nil {
				checkText(where+" text", b.Text, maxSectionText)
			}
			if len(b.Fields) > maxFields {
				t.Errorf("%s: %d fields, limit %d", where, len(b.Fields), maxFields)
			}
			for k, f := range b.Fields {
				checkText(fmt.Sprintf("%s field %d", where, k), f, maxFieldText)
			}
		case *slackapi.ContextBlock:
			els := b.ContextElements.Elements
			if len(els) == 0 || len(els) > maxContextItems {
				t.Errorf("%s: %d elements, want 1 to %d", where, len(els), maxContextItems)
			}
			for k, e := range els {
				o, ok := e.(*slackapi.TextBlockObject)
				if !ok {
					t.Errorf("%s element %d: %T, want text", where, k, e)
					continue
				}
				checkText(fmt.Sprintf("%s element %d", where, k), o, maxSectionText)
			}
		case *slackapi.ActionBlock:
			if b.Elements == nil || len(b.Elements.ElementSet) == 0 || len(b.Elements.ElementSet) > 25 {
				t.Errorf("%s: want 1 to 25 elements", where)
				continue
			}
			for _, e := range b.Elements.ElementSet {
				btn, ok := e.(*slackapi.ButtonBlockElement)
				if !ok {
					t.Errorf("%s: %T, want a button", where, e)
					continue
				}
				checkText(where+" button", btn.Text, maxButtonText)
				if actionIDs[btn.ActionID] {
					t.Errorf("%s: action_id %q used twice", where, btn.ActionID)
				}
				actionIDs[btn.ActionID] = true
				if len(btn.URL) > maxButtonURL {
					t.Errorf("%s: URL of %d characters", where, len(btn.URL))
				}
				if u, err := url.Parse(btn.URL); err != nil || u.Scheme != "https" || u.Host == "" {
					t.Errorf("%s: URL %q is not an absolute https URL", where, btn.URL)
				}
			}
		default:
			t.Errorf("%s: unexpected block type %T", where, b)
		}
	}
	raw, err := json.Marshal(slackapi.Blocks{BlockSet: m.Blocks})
	if err != nil {
		t.Fatalf("marshal blocks: %v", err)
	}
	var back slackapi.Blocks
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatalf("unmarshal blocks: %v", err)
	}
	if len(back.BlockSet) != len(m.Blocks) {
		t.Errorf("round trip gave %d blocks, want %d", len(back.BlockSet), len(m.Blocks))
	}
}

// linkMarkup is a mrkdwn link as labelwatch writes them: an https URL, its
// text; dateMarkup is a date as labelwatch writes them.
var (
	linkMarkup = regexp.MustCompile(`<(https://[^\s<>|]+)\|([^<>|]+)>`)
	dateMarkup = regexp.MustCompile(`<!date\^\d+\^\{date_short_pretty\} \{time\}\|\d{4}-\d\d-\d\d \d\d:\d\d UTC>`)
)

// consoleHosts are the hosts a link may lead to.
var consoleHosts = regexp.MustCompile(`^([a-z0-9-]+\.console\.aws\.amazon\.com|console\.amazonaws\.cn|console\.amazonaws-us-gov\.com)$`)

// checkMrkdwn fails t unless s is valid UTF-8 with no live markup but
// labelwatch's own (links to an AWS console, dates): no other "<" at all,
// ">" only as a quote marker at a line start (when quotes are allowed), and
// every "&" starting one of the three entities.
func checkMrkdwn(t *testing.T, where, s string, quotes bool) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Errorf("%s: invalid UTF-8", where)
	}
	s = dateMarkup.ReplaceAllString(s, "")
	s = linkMarkup.ReplaceAllStringFunc(s, func(l string) string {
		m := linkMarkup.FindStringSubmatch(l)
		if u, err := url.Parse(unescapeEntities(m[1])); err != nil || !consoleHosts.MatchString(u.Host) {
			t.Errorf("%s: link to %q, not to an AWS console", where, m[1])
		}
		return m[1] + " " + m[2] // entities in both are checked below
	})
	if strings.Contains(s, "<") {
		t.Errorf("%s: raw '<' in %q", where, s)
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '>':
			if !quotes || (i > 0 && s[i-1] != '\n') {
				t.Errorf("%s: raw '>' at byte %d of %q", where, i, s)
			}
		case '&':
			rest := s[i:]
			if !strings.HasPrefix(rest, "&amp;") && !strings.HasPrefix(rest, "&lt;") && !strings.HasPrefix(rest, "&gt;") {
				t.Errorf("%s: broken entity at byte %d: %q", where, i, rest[:min(len(rest), 8)])
			}
		}
	}
}

// allText is every text of m, fallback included, joined for searching.
func allText(m Message) string {
	var parts []string
	parts = append(parts, m.Text)
	for _, b := range m.Blocks {
		switch b := b.(type) {
		case *slackapi.HeaderBlock:
			parts = append(parts, b.Text.Text)
		case *slackapi.SectionBlock:
			if b.Text != nil {
				parts = append(parts, b.Text.Text)
			}
			for _, f := range b.Fields {
				parts = append(parts, f.Text)
			}
		case *slackapi.ContextBlock:
			for _, e := range b.ContextElements.Elements {
				if o, ok := e.(*slackapi.TextBlockObject); ok {
					parts = append(parts, o.Text)
				}
			}
		case *slackapi.ActionBlock:
			for _, e := range b.Elements.ElementSet {
				if btn, ok := e.(*slackapi.ButtonBlockElement); ok {
					parts = append(parts, btn.Text.Text, btn.URL)
				}
			}
		}
	}
	return strings.Join(parts, "\n")
}

// reasonSection is the text of m's failure reason section, or "".
func reasonSection(m Message) string {
	for _, b := range m.Blocks {
		if s, ok := b.(*slackapi.SectionBlock); ok && s.Text != nil && strings.HasPrefix(s.Text.Text, "*Failure reason*") {
			return s.Text.Text
		}
	}
	return ""
}

// links is the mrkdwn links of m's links line, by text: URL with its
// entities decoded.
func links(t *testing.T, m Message) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, b := range m.Blocks {
		c, ok := b.(*slackapi.ContextBlock)
		if !ok {
			continue
		}
		for _, e := range c.ContextElements.Elements {
			o := e.(*slackapi.TextBlockObject)
			for _, l := range linkMarkup.FindAllStringSubmatch(o.Text, -1) {
				out[l[2]] = unescapeEntities(l[1])
			}
		}
	}
	return out
}

func unescapeEntities(s string) string {
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

// fieldsOf is m's fields, label: value.
func fieldsOf(m Message) map[string]string {
	out := map[string]string{}
	for _, b := range m.Blocks {
		if s, ok := b.(*slackapi.SectionBlock); ok {
			for _, f := range s.Fields {
				label, value, _ := strings.Cut(f.Text, "\n")
				out[strings.Trim(label, "*")] = value
			}
		}
	}
	return out
}

// blockKinds names m's blocks in order: header, reason, fields, links.
func blockKinds(m Message) []string {
	var kinds []string
	for _, b := range m.Blocks {
		switch b := b.(type) {
		case *slackapi.HeaderBlock:
			kinds = append(kinds, "header")
		case *slackapi.SectionBlock:
			if b.Text != nil && strings.HasPrefix(b.Text.Text, "*Failure reason*") {
				kinds = append(kinds, "reason")
			} else if len(b.Fields) > 0 {
				kinds = append(kinds, "fields")
			} else {
				kinds = append(kinds, "section")
			}
		case *slackapi.ContextBlock:
			kinds = append(kinds, "links")
		default:
			kinds = append(kinds, string(b.BlockType()))
		}
	}
	return kinds
}

func date(t time.Time) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), t.UTC().Format("2006-01-02 15:04 UTC"))
}
