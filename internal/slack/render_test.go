package slack

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	slackapi "github.com/slack-go/slack"

	"github.com/labelwatch/labelwatch/internal/labeling"
)

var created = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// job is a failed job with every field set; cases change what they test.

// mrkdwn is a mrkdwn object that Slack auto-links, for blocks a test makes
// itself: every text object the renderer makes is verbatim
// (TestEveryMrkdwnIsVerbatim).
func mrkdwn(text string) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.MarkdownType, text, false, false)
}

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

func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain text", "plain text"},
		{"<!channel>", "&lt;!channel&gt;"},
		{"<!here> <@U123>", "&lt;!here&gt; &lt;@U123&gt;"},
		{"<https://x|y>", "&lt;https://x|y&gt;"},
		{"&amp;", "&amp;amp;"},
		{"a & b", "a &amp; b"},
		{"`code` *bold* _it_ ~s~ \"q\" 'a'", "`code` *bold* _it_ ~s~ \"q\" 'a'"},
		{"naïve 数据 🚫", "naïve 数据 🚫"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := Escape(tt.in); got != tt.want {
				t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestFitNeverBreaksRunesOrEntities(t *testing.T) {
	inputs := []string{
		strings.Repeat("<", 40),
		strings.Repeat("&>", 30),
		"数据<&>🚫ü" + strings.Repeat("é&", 20),
		"abc",
		"",
		"bad \xff utf8 <",
	}
	for _, in := range inputs {
		full := Escape(in)
		for max := 0; max <= 80; max++ {
			t.Run(fmt.Sprintf("%q/%d", in, max), func(t *testing.T) {
				got := escapeFit(in, max)
				if n := runes(got); n > max {
					t.Errorf("%d runes, limit %d: %q", n, max, got)
				}
				checkMrkdwn(t, "cut", got, false)
				if got != full && max > 0 && !strings.HasSuffix(got, ellipsis) {
					t.Errorf("cut text %q has no ellipsis", got)
				}
				if got != full && !strings.HasPrefix(full, strings.TrimSuffix(got, ellipsis)) {
					t.Errorf("cut text %q is not a prefix of %q", got, full)
				}
			})
		}
	}
}

func TestPlainFit(t *testing.T) {
	long := strings.Repeat("名", 200)
	got := plainFit(long, maxHeaderText)
	if runes(got) != maxHeaderText || !strings.HasSuffix(got, ellipsis) {
		t.Errorf("plainFit: %d runes, want %d ending in an ellipsis", runes(got), maxHeaderText)
	}
	if got := plainFit("a<b>&c\nd", 100); got != "a<b>&c d" {
		t.Errorf("plainFit escaped or kept a line break: %q", got)
	}
}

func TestStatusEmojiDistinct(t *testing.T) {
	seen := map[string]labeling.Status{}
	for _, s := range append(append([]labeling.Status{}, labeling.Statuses...), "SomethingNew") {
		e := StatusEmoji(s)
		if e == "" {
			t.Errorf("%s has no emoji", s)
		}
		if other, dup := seen[e]; dup {
			t.Errorf("%s and %s share emoji %s", s, other, e)
		}
		seen[e] = s
	}
	if len(seen) != 7 {
		t.Errorf("%d distinct emoji, want 7", len(seen))
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{45 * time.Second, "45s"},
		{4*time.Minute + 5*time.Second, "4m 5s"},
		{3*time.Hour + 12*time.Minute + 59*time.Second, "3h 12m"},
		{3*time.Hour + 12*time.Minute, "3h 12m"},
		{50 * time.Hour, "2d 2h"},
	}
	for _, tt := range tests {
		t.Run(tt.d.String(), func(t *testing.T) {
			if got := Duration(tt.d); got != tt.want {
				t.Errorf("Duration(%v) = %q, want %q", tt.d, got, tt.want)
			}
		})
	}
}

func TestConsoleURL(t *testing.T) {
	tests := []struct {
		name, arn, job, want string
	}{
		{"region from ARN", "arn:aws:sagemaker:eu-west-1:123456789012:labeling-job/my-job", "my-job",
			"https://eu-west-1.console.aws.amazon.com/sagemaker/groundtruth?region=eu-west-1#/labeling-jobs/details/my-job"},
		{"China", "arn:aws-cn:sagemaker:cn-north-1:123456789012:labeling-job/my-job", "my-job",
			"https://console.amazonaws.cn/sagemaker/groundtruth?region=cn-north-1#/labeling-jobs/details/my-job"},
		{"GovCloud", "arn:aws-us-gov:sagemaker:us-gov-west-1:123456789012:labeling-job/my-job", "my-job",
			"https://console.amazonaws-us-gov.com/sagemaker/groundtruth?region=us-gov-west-1#/labeling-jobs/details/my-job"},
		{"unknown partition", "arn:aws-iso:sagemaker:us-iso-east-1:123456789012:labeling-job/my-job", "my-job", ""},
		{"no ARN", "", "my-job", ""},
		{"ARN without region", "arn:aws:sagemaker::123:labeling-job/my-job", "my-job", ""},
		{"region that is not one", "arn:aws:sagemaker:evil.com/x?:123:labeling-job/x", "x", ""},
		{"name escaped", "arn:aws:sagemaker:us-east-1:1:labeling-job/a", "a b/c#d",
			"https://us-east-1.console.aws.amazon.com/sagemaker/groundtruth?region=us-east-1#/labeling-jobs/details/a%20b%2Fc%23d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ConsoleURL(labeling.Job{Name: tt.job, ARN: tt.arn}); got != tt.want {
				t.Errorf("ConsoleURL = %q, want %q", got, tt.want)
			}
		})
	}
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

func TestAlertLinksPerPartition(t *testing.T) {
	const name = "street-scenes-seg"
	logs := "#logsV2:log-groups/log-group/$252Faws$252Fsagemaker$252FLabelingJobs/log-events/" + name
	tests := []struct {
		name, arn string
		status    labeling.Status
		want      map[string]string // link text: URL
	}{
		{
			name: "aws, completed", arn: "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/" + name, status: labeling.StatusCompleted,
			want: map[string]string{
				"Job in SageMaker": "https://us-east-1.console.aws.amazon.com/sagemaker/groundtruth?region=us-east-1#/labeling-jobs/details/" + name,
				"Logs":             "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1" + logs,
				"Output manifest":  "https://us-east-1.console.aws.amazon.com/s3/object/bucket?region=us-east-1&prefix=out%2Fcats-vs-dogs-2025%2Fmanifests%2Foutput%2Foutput.manifest",
			},
		},
		{
			name: "aws-cn, completed", arn: "arn:aws-cn:sagemaker:cn-northwest-1:123456789012:labeling-job/" + name, status: labeling.StatusCompleted,
			want: map[string]string{
				"Job in SageMaker": "https://console.amazonaws.cn/sagemaker/groundtruth?region=cn-northwest-1#/labeling-jobs/details/" + name,
				"Logs":             "https://console.amazonaws.cn/cloudwatch/home?region=cn-northwest-1" + logs,
				"Output manifest":  "https://console.amazonaws.cn/s3/object/bucket?region=cn-northwest-1&prefix=out%2Fcats-vs-dogs-2025%2Fmanifests%2Foutput%2Foutput.manifest",
			},
		},
		{
			name: "aws-us-gov, failed: no output manifest", arn: "arn:aws-us-gov:sagemaker:us-gov-east-1:123456789012:labeling-job/" + name, status: labeling.StatusFailed,
			want: map[string]string{
				"Job in SageMaker": "https://console.amazonaws-us-gov.com/sagemaker/groundtruth?region=us-gov-east-1#/labeling-jobs/details/" + name,
				"Logs":             "https://console.amazonaws-us-gov.com/cloudwatch/home?region=us-gov-east-1" + logs,
			},
		},
		{name: "unknown partition: no links", arn: "arn:aws-iso-b:sagemaker:us-isob-east-1:123456789012:labeling-job/" + name, status: labeling.StatusCompleted, want: map[string]string{}},
		{name: "no ARN: no links", arn: "", status: labeling.StatusCompleted, want: map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := job()
			j.Name, j.ARN, j.Status = name, tt.arn, tt.status
			m := RenderAlert(Alert{Job: j})
			checkLimits(t, m)
			if got := links(t, m); !maps.Equal(got, tt.want) {
				t.Errorf("links:\n got %q\nwant %q", got, tt.want)
			}
			for _, b := range m.Blocks {
				if _, ok := b.(*slackapi.ActionBlock); ok {
					t.Error("an alert has a button; links go in mrkdwn")
				}
			}
		})
	}
}

func TestOutputManifestURL(t *testing.T) {
	arn := "arn:aws:sagemaker:eu-west-1:123456789012:labeling-job/x"
	tests := []struct{ manifest, want string }{
		{"s3://b/k/output.manifest", "https://eu-west-1.console.aws.amazon.com/s3/object/b?region=eu-west-1&prefix=k%2Foutput.manifest"},
		{"s3://b/a b&c|d>e", "https://eu-west-1.console.aws.amazon.com/s3/object/b?region=eu-west-1&prefix=a+b%26c%7Cd%3Ee"},
		{"s3://b", ""},
		{"s3:///k", ""},
		{"https://b.s3.amazonaws.com/k", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.manifest, func(t *testing.T) {
			if got := OutputManifestURL(labeling.Job{ARN: arn, OutputManifest: tt.manifest}); got != tt.want {
				t.Errorf("OutputManifestURL = %q, want %q", got, tt.want)
			}
		})
	}
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

func TestRenderAlertByStatus(t *testing.T) {
	modified := job().ModifiedAt
	tests := []struct {
		name   string
		job    func(j *labeling.Job)
		header string
		blocks []string
		fields map[string]string // exactly these
		text   string            // the fallback text
	}{
		{
			name:   "failed during labeling",
			job:    func(*labeling.Job) {},
			header: "❌ Labeling job failed: cats-vs-dogs-2025",
			blocks: []string{"header", "reason", "fields", "links"},
			fields: map[string]string{"Labeled": "1,234 of 1,400 (88.1%), 6 failed", "Ran for": "3h 12m", "Failed": date(modified), "Work team": "annotators"},
			text:   "❌ cats-vs-dogs-2025 failed after 3h 12m: ClientError: not enough workers · eu-west-1 · 123456789012",
		},
		{
			name: "failed before labeling: no counters",
			job: func(j *labeling.Job) {
				j.Counters = labeling.Counters{Unlabeled: 900}
				j.ModifiedAt = j.CreatedAt.Add(5 * time.Minute)
				j.FailureReason = "ClientError: Access Denied reading the input manifest"
				j.Workteam = ""
			},
			header: "❌ Labeling job failed: cats-vs-dogs-2025",
			blocks: []string{"header", "reason", "fields", "links"},
			fields: map[string]string{"Ran for": "5m", "Failed": date(created.Add(5 * time.Minute))},
			text:   "❌ cats-vs-dogs-2025 failed after 5m: ClientError: Access Denied reading the input manifest · eu-west-1 · 123456789012",
		},
		{
			name:   "failed without a reason",
			job:    func(j *labeling.Job) { j.FailureReason = "  " },
			header: "❌ Labeling job failed: cats-vs-dogs-2025",
			blocks: []string{"header", "reason", "fields", "links"},
			fields: map[string]string{"Labeled": "1,234 of 1,400 (88.1%), 6 failed", "Ran for": "3h 12m", "Failed": date(modified), "Work team": "annotators"},
			text:   "❌ cats-vs-dogs-2025 failed after 3h 12m: 1,234 of 1,400 labeled · eu-west-1 · 123456789012",
		},
		{
			name: "completed",
			job: func(j *labeling.Job) {
				j.Status, j.FailureReason = labeling.StatusCompleted, ""
				j.Counters = labeling.Counters{Total: 3980, Human: 2400, Machine: 1580}
			},
			header: "✅ Labeling job completed: cats-vs-dogs-2025",
			blocks: []string{"header", "fields", "links"},
			fields: map[string]string{"Labeled": "3,980 (2,400 human, 1,580 machine)", "Ran for": "3h 12m", "Finished": date(modified)},
			text:   "✅ cats-vs-dogs-2025 completed after 3h 12m: 3,980 labeled · eu-west-1 · 123456789012",
		},
		{
			name: "completed with failed objects, by people only",
			job: func(j *labeling.Job) {
				j.Status, j.FailureReason = labeling.StatusCompleted, ""
				j.Counters = labeling.Counters{Total: 3960, Human: 3960, Failed: 20}
			},
			header: "✅ Labeling job completed: cats-vs-dogs-2025",
			blocks: []string{"header", "fields", "links"},
			fields: map[string]string{"Labeled": "3,960", "Failed objects": "20", "Ran for": "3h 12m", "Finished": date(modified)},
			text:   "✅ cats-vs-dogs-2025 completed after 3h 12m: 3,960 labeled · eu-west-1 · 123456789012",
		},
		{
			name: "stopped during labeling",
			job: func(j *labeling.Job) {
				j.Status, j.FailureReason = labeling.StatusStopped, ""
				j.Counters = labeling.Counters{Total: 310, Human: 310, Unlabeled: 1690}
			},
			header: "🛑 Labeling job stopped: cats-vs-dogs-2025",
			blocks: []string{"header", "fields", "links"},
			fields: map[string]string{"Labeled": "310 of 2,000 (15.5%)", "Ran for": "3h 12m", "Stopped": date(modified), "Work team": "annotators"},
			text:   "🛑 cats-vs-dogs-2025 stopped after 3h 12m: 310 of 2,000 labeled · eu-west-1 · 123456789012",
		},
		{
			name: "stopped before labeling: no counters",
			job: func(j *labeling.Job) {
				j.Status, j.FailureReason = labeling.StatusStopped, ""
				j.Counters = labeling.Counters{}
			},
			header: "🛑 Labeling job stopped: cats-vs-dogs-2025",
			blocks: []string{"header", "fields", "links"},
			fields: map[string]string{"Ran for": "3h 12m", "Stopped": date(modified), "Work team": "annotators"},
			text:   "🛑 cats-vs-dogs-2025 stopped after 3h 12m · eu-west-1 · 123456789012",
		},
		{
			name: "in progress",
			job: func(j *labeling.Job) {
				j.Status, j.FailureReason = labeling.StatusInProgress, ""
			},
			header: "🔄 Labeling job in progress: cats-vs-dogs-2025",
			blocks: []string{"header", "fields", "links"},
			fields: map[string]string{"Labeled": "1,234 of 1,400 (88.1%), 6 failed", "Running for": "3h 12m", "Started": date(created), "Work team": "annotators"},
			text:   "🔄 cats-vs-dogs-2025 is in progress: 1,234 of 1,400 labeled · eu-west-1 · 123456789012",
		},
		{
			name: "initializing, new job",
			job: func(j *labeling.Job) {
				j.Status, j.FailureReason, j.Counters = labeling.StatusInitializing, "", labeling.Counters{}
				j.Workteam = ""
			},
			header: "⏳ Labeling job initializing: cats-vs-dogs-2025",
			blocks: []string{"header", "fields", "links"},
			fields: map[string]string{"Running for": "3h 12m", "Started": date(created)},
			text:   "⏳ cats-vs-dogs-2025 is initializing · eu-west-1 · 123456789012",
		},
		{
			name:   "zero job: no fields, no links",
			job:    func(j *labeling.Job) { *j = labeling.Job{} },
			header: "❓ Labeling job in an unknown status: ",
			blocks: []string{"header"},
			fields: map[string]string{},
			text:   "❓  is in an unknown status",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := job()
			tt.job(&j)
			m := RenderAlert(Alert{Job: j, Previous: labeling.StatusInProgress})
			checkLimits(t, m)
			if h := m.Blocks[0].(*slackapi.HeaderBlock).Text.Text; h != tt.header {
				t.Errorf("header = %q, want %q", h, tt.header)
			}
			if got := blockKinds(m); !slices.Equal(got, tt.blocks) {
				t.Errorf("blocks = %q, want %q", got, tt.blocks)
			}
			if got := fieldsOf(m); !maps.Equal(got, tt.fields) {
				t.Errorf("fields:\n got %q\nwant %q", got, tt.fields)
			}
			if n := len(fieldsOf(m)); n > maxAlertFields {
				t.Errorf("%d fields, want at most %d", n, maxAlertFields)
			}
			for label, value := range fieldsOf(m) {
				if value == "0" || strings.HasPrefix(value, "0 of") || label == "Status" {
					t.Errorf("field %s: %q says nothing", label, value)
				}
			}
			if m.Text != tt.text {
				t.Errorf("fallback text:\n got %q\nwant %q", m.Text, tt.text)
			}
			if strings.Contains(m.Text, "\n") {
				t.Errorf("fallback text %q is more than one line", m.Text)
			}
		})
	}
}

// TestRenderAlertTextsAreVerbatim checks that Slack does not auto-link any
// mrkdwn of an alert: each may hold text from the API.
func TestRenderAlertTextsAreVerbatim(t *testing.T) {
	m := RenderAlert(Alert{Job: job()})
	for _, b := range m.Blocks {
		var texts []*slackapi.TextBlockObject
		switch b := b.(type) {
		case *slackapi.SectionBlock:
			texts = append(append(texts, b.Fields...), b.Text)
		case *slackapi.ContextBlock:
			for _, e := range b.ContextElements.Elements {
				texts = append(texts, e.(*slackapi.TextBlockObject))
			}
		}
		for _, o := range texts {
			if o != nil && o.Type == slackapi.MarkdownType && !o.Verbatim {
				t.Errorf("mrkdwn %q is not verbatim", o.Text)
			}
		}
	}
	raw, err := json.Marshal(slackapi.Blocks{BlockSet: m.Blocks})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"verbatim":true`) {
		t.Errorf("slack-go drops verbatim: %s", raw)
	}
}

func TestSlackDate(t *testing.T) {
	tests := []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 11, 29, 10, 58, 7, 0, time.UTC), "<!date^1795949887^{date_short_pretty} {time}|2026-11-29 10:58 UTC>"},
		{time.Date(2026, 11, 29, 11, 58, 7, 0, time.FixedZone("CET", 3600)), "<!date^1795949887^{date_short_pretty} {time}|2026-11-29 10:58 UTC>"},
		{time.Time{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.at.String(), func(t *testing.T) {
			if got := slackDate(tt.at); got != tt.want {
				t.Errorf("slackDate = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRenderAlertCases(t *testing.T) {
	name63 := strings.Repeat("a1-", 21)
	tests := []struct {
		name  string
		alert func() Alert
		check func(t *testing.T, m Message)
	}{
		{
			name: "unknown statuses render escaped within limits",
			alert: func() Alert {
				j := job()
				j.Status = "Exploded<!channel>"
				return Alert{Job: j, Previous: "Weird&Status"}
			},
			check: func(t *testing.T, m Message) {
				if h := m.Blocks[0].(*slackapi.HeaderBlock).Text.Text; h != "❓ Labeling job in status Exploded<!channel>: cats-vs-dogs-2025" {
					t.Errorf("header (plain text, shown as it is) = %q", h)
				}
				if !strings.Contains(m.Text, "is in status Exploded&lt;!channel&gt; (was Weird&amp;Status)") {
					t.Errorf("unknown statuses not named escaped in %q", m.Text)
				}
			},
		},
		{
			name: "63-character name",
			alert: func() Alert {
				j := job()
				j.Name = name63
				j.ARN = "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/" + name63
				return Alert{Job: j}
			},
			check: func(t *testing.T, m Message) {
				h := m.Blocks[0].(*slackapi.HeaderBlock).Text.Text
				if !strings.HasSuffix(h, name63) {
					t.Errorf("header %q lacks the whole name", h)
				}
				if u := links(t, m)["Job in SageMaker"]; !strings.HasSuffix(u, "/details/"+name63) {
					t.Errorf("console link %q", u)
				}
			},
		},
		{
			name: "long name is cut in the header, not escaped",
			alert: func() Alert {
				j := job()
				j.Name = "<&>" + strings.Repeat("x", 300)
				return Alert{Job: j}
			},
			check: func(t *testing.T, m Message) {
				h := m.Blocks[0].(*slackapi.HeaderBlock).Text.Text
				if runes(h) != maxHeaderText || !strings.HasSuffix(h, ellipsis) || !strings.Contains(h, ": <&>xxx") {
					t.Errorf("header = %q (%d runes)", h, runes(h))
				}
			},
		},
		{
			name: "1024 '<' reason stays within the section limit",
			alert: func() Alert {
				j := job()
				j.FailureReason = strings.Repeat("<", 1024)
				return Alert{Job: j}
			},
			check: func(t *testing.T, m Message) {
				r := reasonSection(m)
				if !strings.HasSuffix(r, "&lt;"+ellipsis) {
					t.Errorf("reason not cut at an entity with an ellipsis: …%q", r[max(0, len(r)-20):])
				}
				if runes(r) > maxSectionText || runes(r) < maxSectionText-5 {
					t.Errorf("reason section has %d runes, want just under %d", runes(r), maxSectionText)
				}
				if !strings.Contains(m.Text, "&lt;"+ellipsis+" · eu-west-1") {
					t.Errorf("reason in the fallback text not cut with an ellipsis: %q", m.Text)
				}
			},
		},
		{
			name: "unicode reason cut on a rune",
			alert: func() Alert {
				j := job()
				j.FailureReason = strings.Repeat("Ошибка 数据 🚫 ", 300)
				return Alert{Job: j}
			},
			check: func(t *testing.T, m Message) {
				if r := reasonSection(m); !strings.HasSuffix(r, ellipsis) {
					t.Errorf("long reason not cut: %d runes", runes(r))
				}
			},
		},
		{
			name: "long URIs and ARNs",
			alert: func() Alert {
				j := job()
				j.Status = labeling.StatusCompleted
				j.OutputManifest = "s3://b/" + strings.Repeat("&", 2000)
				j.InputManifest = "s3://b/" + strings.Repeat("é", 2000)
				j.Workteam = "arn:aws:sagemaker:eu-west-1:1:workteam/private-crowd/" + strings.Repeat(">", 2000)
				j.ARN = "arn:aws:sagemaker:eu-west-1:1:labeling-job/" + strings.Repeat("<", 4000)
				return Alert{Job: j}
			},
			check: func(t *testing.T, m Message) {
				if _, ok := links(t, m)["Output manifest"]; ok {
					t.Error("a link to a 6,000-character URL")
				}
			},
		},
		{
			name: "links that do not fit are left out, whole",
			alert: func() Alert {
				j := job()
				j.Status = labeling.StatusCompleted
				j.Name = strings.Repeat("n", 900)
				j.OutputManifest = "s3://b/" + strings.Repeat("k", 900)
				return Alert{Job: j}
			},
			check: func(t *testing.T, m Message) {
				got := links(t, m)
				if len(got) != 2 || got["Job in SageMaker"] == "" || got["Logs"] == "" {
					t.Errorf("links %q, want the console's and the logs' (the manifest's does not fit)", slices.Sorted(maps.Keys(got)))
				}
			},
		},
		{
			name: "account that is not one is left out",
			alert: func() Alert {
				j := job()
				j.ARN = "arn:aws:sagemaker:eu-west-1:<!channel>:labeling-job/cats-vs-dogs-2025"
				return Alert{Job: j}
			},
			check: func(t *testing.T, m Message) {
				if !strings.HasSuffix(m.Text, " · eu-west-1") || strings.Contains(allText(m), "channel") {
					t.Errorf("fallback text %q", m.Text)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := RenderAlert(tt.alert())
			checkLimits(t, m)
			tt.check(t, m)
		})
	}
}

// hostile is text from the API that would be live markup unescaped.
var hostile = []struct{ name, text, escaped string }{
	{"channel mention", "<!channel>", "&lt;!channel&gt;"},
	{"here mention", "ping <!here> now", "ping &lt;!here&gt; now"},
	{"user mention", "<@U1> did it", "&lt;@U1&gt; did it"},
	{"user group", "<!subteam^S1>", "&lt;!subteam^S1&gt;"},
	{"link", "see <https://x|y>", "see &lt;https://x|y&gt;"},
	{"date", "<!date^1^{time}|x>", "&lt;!date^1^{time}|x&gt;"},
	{"entity stays literal", "a &amp; b", "a &amp;amp; b"},
}

func TestRenderAlertEscapesAPIText(t *testing.T) {
	for _, h := range hostile {
		for _, status := range []labeling.Status{labeling.StatusFailed, labeling.StatusCompleted, labeling.StatusStopped, labeling.StatusInProgress} {
			t.Run(h.name+"/"+string(status), func(t *testing.T) {
				j := job()
				j.Status = status
				j.Name = "x-" + h.text
				j.FailureReason = "reason " + h.text
				j.OutputManifest = "s3://bucket/" + h.text
				j.Workteam = "arn:aws:sagemaker:eu-west-1:1:workteam/private-crowd/" + h.text
				m := RenderAlert(Alert{Job: j, Previous: labeling.StatusInProgress}).WithMentions([]string{"U024BE7LH"})
				if status == labeling.StatusFailed {
					// The one mention is ours; checkLimits finds any other.
					m.Text = strings.TrimPrefix(m.Text, "<@U024BE7LH> ")
					m = withoutPaged(t, m, "Paged <@U024BE7LH>")
				}
				checkLimits(t, m)
				if !strings.Contains(m.Text, "x-"+h.escaped) {
					t.Errorf("fallback text %q lacks the escaped name %q", m.Text, "x-"+h.escaped)
				}
				if status == labeling.StatusFailed {
					if !strings.Contains(reasonSection(m), ">reason "+h.escaped) {
						t.Errorf("reason section %q lacks %q", reasonSection(m), h.escaped)
					}
					if !strings.Contains(m.Text, ": reason "+h.escaped+" · ") {
						t.Errorf("fallback text %q lacks the escaped reason", m.Text)
					}
				}
				for text, u := range links(t, m) {
					if strings.ContainsAny(u, "<>| ") {
						t.Errorf("link %s to %q", text, u)
					}
				}
			})
		}
	}
}

func TestRenderAlertQuotesEveryReasonLine(t *testing.T) {
	j := job()
	j.FailureReason = "line one\n\nline three\r\n<!channel>\n```\nrm -rf /\n```"
	m := RenderAlert(Alert{Job: j})
	checkLimits(t, m)
	r := reasonSection(m)
	if want := ">line one\n>\n>line three\n>&lt;!channel&gt;\n>```\n>rm -rf /\n>```"; !strings.HasSuffix(r, want) {
		t.Errorf("reason section %q, want it to end %q", r, want)
	}
	if want := ": line one  line three &lt;!channel&gt; ``` rm -rf / ``` · eu-west-1"; !strings.Contains(m.Text, want) {
		t.Errorf("fallback text %q lacks %q", m.Text, want)
	}
}

func TestWithMentions(t *testing.T) {
	ids := []string{"U024BE7LH", "W0AB", "S0614TZR7", "here", "channel"}
	const pager = "<@U024BE7LH> <@W0AB> <!subteam^S0614TZR7> <!here> <!channel> "
	tests := []struct {
		name   string
		status labeling.Status
		reason string
		ids    []string
		paged  bool
	}{
		{"failed", labeling.StatusFailed, "boom", ids, true},
		{"failed without a reason", labeling.StatusFailed, "", ids, true},
		{"completed", labeling.StatusCompleted, "", ids, false},
		{"stopped", labeling.StatusStopped, "", ids, false},
		{"in progress with a reason", labeling.StatusInProgress, "boom", ids, false},
		{"unknown status", "Failed ", "boom", ids, false},
		{"failed, no one to page", labeling.StatusFailed, "boom", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := job()
			j.Status, j.FailureReason = tt.status, tt.reason
			plain := RenderAlert(Alert{Job: j})
			plain.Fallback = &Message{Text: "text only"}
			m := plain.WithMentions(tt.ids)
			if got := strings.HasPrefix(m.Text, pager); got != tt.paged {
				t.Errorf("paged = %v, want %v: %q", got, tt.paged, m.Text)
			}
			if tt.paged {
				if m.Text != pager+plain.Text {
					t.Errorf("text = %q, want the mentions before %q", m.Text, plain.Text)
				}
				if m.Fallback.Text != pager+"text only" {
					t.Errorf("text-only form = %q, want it to page too", m.Fallback.Text)
				}
				if plain.Fallback.Text != "text only" {
					t.Error("WithMentions changed the message it was given")
				}
			} else if m.Text != plain.Text || m.Fallback.Text != "text only" {
				t.Errorf("text = %q, want it unchanged", m.Text)
			}
			blocks := m.Blocks
			if tt.paged {
				// The channel sees whom the message paged, in a last line;
				// no other block mentions anyone.
				blocks = withoutPaged(t, m, "Paged <@U024BE7LH>, <@W0AB>, <!subteam^S0614TZR7>, <!here>, <!channel>").Blocks
			}
			if len(blocks) != len(plain.Blocks) {
				t.Errorf("%d blocks, want the %d of the alert", len(blocks), len(plain.Blocks))
			}
			for _, b := range blocks {
				if strings.Contains(allText(Message{Text: "-", Blocks: []slackapi.Block{b}}), "U024BE7LH") {
					t.Errorf("a block mentions: %v", b)
				}
			}
		})
	}
}

func TestWithMentionsNeverFromOtherText(t *testing.T) {
	j := job()
	m := RenderAlert(Alert{Job: j}).WithMentions([]string{"<!channel>", "@alice", "u1", "C0123", "U1|x", "", "U024BE7LH"})
	if want := "<@U024BE7LH> ❌ cats-vs-dogs-2025"; !strings.HasPrefix(m.Text, want) {
		t.Errorf("text = %q, want it to start %q and mention nothing else", m.Text, want)
	}
	if strings.Count(m.Text, "<") != 1 {
		t.Errorf("text %q has markup beyond the one mention", m.Text)
	}
	// A message this package did not render about a failure never pages,
	// whatever its text says.
	other := Message{Text: "🚨 3 labeling job alerts: ❌ 3 Failed"}
	if got := other.WithMentions([]string{"here"}); got.Text != other.Text {
		t.Errorf("a message not rendered about a failure pages: %q", got.Text)
	}
}

func TestFormat(t *testing.T) {
	j := job()
	j.FailureReason = "<!channel> broke & stopped\x1b[31m"
	m := RenderAlert(Alert{Job: j, Previous: labeling.StatusInProgress}).WithMentions([]string{"U024BE7LH", "S0614TZR7", "here"})
	out := Format(m)
	for _, want := range []string{
		"│ ❌ Labeling job failed: cats-vs-dogs-2025\n",
		"│ >\u003c!channel> broke & stopped\uFFFD[31m\n",
		"│   *Ran for* 3h 12m\n",
		"│   *Failed* 2025-03-01 12:12 UTC\n",
		"│   · Job in SageMaker: https://eu-west-1.console.aws.amazon.com/sagemaker/groundtruth?region=eu-west-1#/labeling-jobs/details/cats-vs-dogs-2025\n",
		"│   · Logs: https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:",
		"│   · eu-west-1 · 123456789012\n",
		"│   · Paged @U024BE7LH, @S0614TZR7, @here\n",
		"│ 🔔 @U024BE7LH @S0614TZR7 @here ❌ cats-vs-dogs-2025 failed after 3h 12m: <!channel> broke & stopped\uFFFD[31m · eu-west-1 · 123456789012\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("Format lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Error("Format passes an escape character to the terminal")
	}
	if got := Format(Message{Text: "just &lt;text&gt;"}); !strings.Contains(got, "│ just <text>\n") {
		t.Errorf("Format of a text-only message = %q", got)
	}
}
