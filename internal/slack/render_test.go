package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
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

// checkMrkdwn fails t unless s is valid UTF-8 with no live markup: no "<" at
// all, ">" only as a quote marker at a line start (when quotes are allowed),
// and every "&" starting one of the three entities.
func checkMrkdwn(t *testing.T, where, s string, quotes bool) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Errorf("%s: invalid UTF-8", where)
	}
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

func buttonURL(m Message) string {
	for _, b := range m.Blocks {
		if a, ok := b.(*slackapi.ActionBlock); ok {
			for _, e := range a.Elements.ElementSet {
				if btn, ok := e.(*slackapi.ButtonBlockElement); ok {
					return btn.URL
				}
			}
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

func TestRenderAlertContent(t *testing.T) {
	a := Alert{Job: job(), Previous: labeling.StatusInProgress}
	m := RenderAlert(a)
	checkLimits(t, m)
	text := allText(m)
	for _, want := range []string{
		"❌ Labeling job failed: cats-vs-dogs-2025", // header
		"*Status*\n❌ Failed",
		"*Previous status*\n🔄 InProgress",
		"*Ran for*\n3h 12m",
		"*Done*\n88.6%", // (1234+6) / (1234+6+160)
		"*Labeled*\n1,234",
		"*Human / machine*\n1,000 / 234",
		"*Failed objects*\n6",
		"*Unlabeled*\n160",
		"*Failure reason*\n>ClientError: not enough workers",
		"*Output manifest:* s3://bucket/out/cats-vs-dogs-2025/manifests/output/output.manifest",
		"*Input manifest:* s3://bucket/in/input.manifest",
		"*Work team:* annotators (arn:aws:sagemaker:eu-west-1:123456789012:workteam/private-crowd/annotators)",
		"Created 2025-03-01 09:00 UTC · last modified 2025-03-01 12:12 UTC",
		"https://eu-west-1.console.aws.amazon.com/sagemaker/groundtruth?region=eu-west-1#/labeling-jobs/details/cats-vs-dogs-2025",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("message lacks %q; it has:\n%s", want, text)
		}
	}
	if want := "❌ Labeling job cats-vs-dogs-2025 failed (was InProgress): ClientError: not enough workers"; m.Text != want {
		t.Errorf("fallback text = %q, want %q", m.Text, want)
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
			name: "new job has no previous status",
			alert: func() Alert {
				j := job()
				j.Status, j.FailureReason = labeling.StatusInitializing, ""
				return Alert{Job: j}
			},
			check: func(t *testing.T, m Message) {
				if !strings.Contains(allText(m), "*Previous status*\nnew job") {
					t.Error("no \"new job\" for an empty Previous")
				}
				if reasonSection(m) != "" {
					t.Error("a job that did not fail shows a failure reason")
				}
			},
		},
		{
			name: "every status renders within limits",
			alert: func() Alert {
				j := job()
				j.Status = "Exploded<!channel>"
				return Alert{Job: j, Previous: "Weird&Status"}
			},
			check: func(t *testing.T, m Message) {
				if !strings.Contains(allText(m), "❓ Exploded&lt;!channel&gt;") || !strings.Contains(m.Text, "Weird&amp;Status") {
					t.Errorf("unknown statuses not shown escaped:\n%s", allText(m))
				}
			},
		},
		{
			name: "failed job without a reason says so",
			alert: func() Alert {
				j := job()
				j.FailureReason = ""
				return Alert{Job: j}
			},
			check: func(t *testing.T, m Message) {
				if !strings.Contains(reasonSection(m), "no reason given") {
					t.Errorf("reason section = %q", reasonSection(m))
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
				if !strings.HasSuffix(buttonURL(m), "/details/"+name63) {
					t.Errorf("button URL %q", buttonURL(m))
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
				j.OutputManifest = "s3://b/" + strings.Repeat("&", 2000)
				j.InputManifest = "s3://b/" + strings.Repeat("é", 2000)
				j.Workteam = "arn:aws:sagemaker:eu-west-1:1:workteam/private-crowd/" + strings.Repeat(">", 2000)
				j.ARN = "arn:aws:sagemaker:eu-west-1:1:labeling-job/" + strings.Repeat("<", 4000)
				return Alert{Job: j}
			},
			check: func(*testing.T, Message) {},
		},
		{
			name: "no ARN: no button",
			alert: func() Alert {
				j := job()
				j.ARN = ""
				return Alert{Job: j}
			},
			check: func(t *testing.T, m Message) {
				if u := buttonURL(m); u != "" {
					t.Errorf("button to %q without a region", u)
				}
			},
		},
		{
			name: "zero job",
			alert: func() Alert {
				return Alert{}
			},
			check: func(t *testing.T, m Message) {
				if !strings.Contains(allText(m), "*Ran for*\nunknown") {
					t.Error("zero timestamps not shown as unknown")
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

func TestRenderAlertEscapesAPIText(t *testing.T) {
	tests := []struct {
		name, reason string
		want         []string // in the reason section
		wantText     string   // in the fallback text
	}{
		{"channel mention", "<!channel>", []string{">&lt;!channel&gt;"}, "&lt;!channel&gt;"},
		{"here mention", "ping <!here> now", []string{">ping &lt;!here&gt; now"}, "ping &lt;!here&gt; now"},
		{"user mention", "<@U123> did it", []string{">&lt;@U123&gt; did it"}, "&lt;@U123&gt; did it"},
		{"link", "see <https://x|y>", []string{">see &lt;https://x|y&gt;"}, "see &lt;https://x|y&gt;"},
		{"entity stays literal", "a &amp; b", []string{">a &amp;amp; b"}, "a &amp;amp; b"},
		{"backticks", "```\nrm -rf /\n``` and `x`", []string{">```\n>rm -rf /\n>``` and `x`"}, "``` rm -rf / ``` and `x`"},
		{"newlines stay quoted", "line one\n\nline three\r\n<!channel>", []string{">line one\n>\n>line three\n>&lt;!channel&gt;"}, "line one  line three &lt;!channel&gt;"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := job()
			j.FailureReason = tt.reason
			j.OutputManifest = "s3://bucket/<!channel>/a&b"
			j.Workteam = "arn:aws:sagemaker:eu-west-1:1:workteam/private-crowd/<@U999>"
			m := RenderAlert(Alert{Job: j, Previous: labeling.StatusInProgress})
			checkLimits(t, m)
			r := reasonSection(m)
			for _, w := range tt.want {
				if !strings.Contains(r, w) {
					t.Errorf("reason section %q lacks %q", r, w)
				}
			}
			for i, line := range strings.Split(r, "\n")[1:] {
				if !strings.HasPrefix(line, ">") {
					t.Errorf("reason line %d %q is outside the quote", i+1, line)
				}
			}
			if !strings.Contains(m.Text, tt.wantText) {
				t.Errorf("fallback text %q lacks %q", m.Text, tt.wantText)
			}
			all := allText(m)
			for _, w := range []string{"s3://bucket/&lt;!channel&gt;/a&amp;b", "&lt;@U999&gt; (arn:"} {
				if !strings.Contains(all, w) {
					t.Errorf("message lacks escaped %q", w)
				}
			}
		})
	}
}

// alerts makes n alerts, every fifth one failed with a long reason.
func alerts(n int) []Alert {
	var out []Alert
	for i := range n {
		j := job()
		j.Name = fmt.Sprintf("job-%04d", i)
		j.ARN = "arn:aws:sagemaker:eu-west-1:123456789012:labeling-job/" + j.Name
		switch i % 5 {
		case 0:
			j.FailureReason = fmt.Sprintf("<!channel> reason %d: ", i) + strings.Repeat("x&y ", 100)
		case 1:
			j.Status, j.FailureReason = labeling.StatusCompleted, ""
		case 2:
			j.Status, j.FailureReason = labeling.StatusStopped, ""
		case 3:
			j.Status, j.FailureReason = labeling.StatusInProgress, ""
		case 4:
			j.Status, j.FailureReason = "Mystery", ""
		}
		out = append(out, Alert{Job: j, Previous: labeling.StatusInProgress})
	}
	return out
}

// listed counts the jobs of as that m names.
func listed(m Message, as []Alert) int {
	all := allText(m)
	n := 0
	for _, a := range as {
		if strings.Contains(all, " "+a.Job.Name+" · ") {
			n++
		}
	}
	return n
}

func TestRenderDigest(t *testing.T) {
	manyFailed := make([]Alert, 80)
	for i := range manyFailed {
		j := job()
		j.Name = fmt.Sprintf("failed-%03d", i)
		j.FailureReason = "short"
		manyFailed[i] = Alert{Job: j}
	}
	tests := []struct {
		name     string
		alerts   []Alert
		wantMore bool
	}{
		{"empty", nil, false},
		{"three", alerts(3), false},
		{"twenty", alerts(20), false},
		{"500 alerts", alerts(500), true},
		{"80 failed need more than 50 blocks", manyFailed, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := RenderDigest(tt.alerts)
			checkLimits(t, m)
			all := allText(m)
			shown := listed(m, tt.alerts)
			more := strings.Contains(all, "more jobs not listed") || strings.Contains(all, "more job not listed")
			if more != tt.wantMore {
				t.Errorf("\"more\" line shown = %v, want %v", more, tt.wantMore)
			}
			if more {
				want := fmt.Sprintf("… and %s more", count(len(tt.alerts)-shown))
				if !strings.Contains(all, want) {
					t.Errorf("%d of %d listed, but no %q", shown, len(tt.alerts), want)
				}
			} else if shown != len(tt.alerts) {
				t.Errorf("%d of %d listed without a \"more\" line", shown, len(tt.alerts))
			}
			if tt.wantMore && shown < 10 {
				t.Errorf("only %d jobs listed", shown)
			}
			total := 0
			for _, b := range m.Blocks {
				if s, ok := b.(*slackapi.SectionBlock); ok && s.Text != nil {
					total += runes(s.Text.Text)
				}
			}
			if total > 40000 {
				t.Errorf("sections hold %d characters", total)
			}
		})
	}
}

func TestRenderDigestOrderAndSummary(t *testing.T) {
	as := alerts(10) // 2 failed, 2 completed, 2 stopped, 2 in progress, 2 Mystery
	m := RenderDigest(as)
	checkLimits(t, m)
	summary := m.Blocks[1].(*slackapi.SectionBlock).Text.Text
	if want := "❌ 2 Failed · 🛑 2 Stopped · ✅ 2 Completed · 🔄 2 InProgress · ❓ 2 Mystery"; summary != want {
		t.Errorf("summary = %q, want %q", summary, want)
	}
	if h := m.Blocks[0].(*slackapi.HeaderBlock).Text.Text; h != "🚨 10 labeling job alerts" {
		t.Errorf("header = %q", h)
	}
	first := m.Blocks[2].(*slackapi.SectionBlock).Text.Text
	if !strings.HasPrefix(first, "❌ job-0000 · Failed (was InProgress)") || !strings.Contains(first, "\n>&lt;!channel&gt; reason 0") {
		t.Errorf("first entry is not the first failed job with its reason: %q", first)
	}
	rest := m.Blocks[4].(*slackapi.SectionBlock).Text.Text
	lines := strings.Split(rest, "\n")
	wantOrder := []string{"✅ job-0001", "🛑 job-0002", "🔄 job-0003", "❓ job-0004", "✅ job-0006"}
	for i, w := range wantOrder {
		if !strings.HasPrefix(lines[i], w+" · ") {
			t.Errorf("line %d = %q, want it to start with %q", i, lines[i], w)
		}
	}
	if !strings.Contains(m.Text, "Failed: job-0000, job-0005") || !strings.Contains(m.Text, "2 Failed") {
		t.Errorf("fallback text = %q", m.Text)
	}
	if u := buttonURL(m); u != "https://eu-west-1.console.aws.amazon.com/sagemaker/groundtruth?region=eu-west-1#/labeling-jobs" {
		t.Errorf("button URL = %q", u)
	}
}

func TestRenderDigestManyStatuses(t *testing.T) {
	var as []Alert
	for i := range 400 {
		as = append(as, Alert{Job: labeling.Job{Name: fmt.Sprint("j", i), Status: labeling.Status(fmt.Sprintf("Status<%d>&", i))}})
	}
	m := RenderDigest(as)
	checkLimits(t, m)
}

func TestFormat(t *testing.T) {
	j := job()
	j.FailureReason = "<!channel> broke & stopped\x1b[31m"
	m := RenderAlert(Alert{Job: j, Previous: labeling.StatusInProgress})
	out := Format(m)
	for _, want := range []string{
		"│ ❌ Labeling job failed: cats-vs-dogs-2025\n",
		"│   *Ran for* 3h 12m\n",
		"│ >\u003c!channel> broke & stopped\uFFFD[31m\n",
		"│ [Open in SageMaker console] https://eu-west-1.console.aws.amazon.com/",
		"│   · *ARN:* arn:aws:sagemaker:eu-west-1:123456789012:labeling-job/cats-vs-dogs-2025\n",
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

func TestPrinter(t *testing.T) {
	var b strings.Builder
	p := NewPrinter(&b)
	m := RenderAlert(Alert{Job: job()})
	retry, err := p.Send(context.Background(), m)
	if err != nil || retry {
		t.Fatalf("Send = %v, %v", retry, err)
	}
	if b.String() != Format(m) {
		t.Errorf("printed %q, want Format(m)", b.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Send(ctx, m); !errors.Is(err, context.Canceled) {
		t.Errorf("Send with a done context = %v", err)
	}
	if p.Mode() != ModePrint {
		t.Errorf("Mode = %q", p.Mode())
	}
}
