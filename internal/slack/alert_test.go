package slack

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/labelwatch/labelwatch/internal/labeling"
)

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

func TestAlertFallback(t *testing.T) {
	j := job()
	j.Name = "street-scenes-seg"
	j.ARN = "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/street-scenes-seg"
	j.FailureReason = "<!channel> " + strings.Repeat("x", 2000)
	m := AlertFallback(Alert{Job: j})
	want := "❌ street-scenes-seg failed · us-east-1 · <https://us-east-1.console.aws.amazon.com/sagemaker/groundtruth?region=us-east-1#/labeling-jobs/details/street-scenes-seg|open in the SageMaker console>\n&lt;!channel&gt; xxx"
	if !strings.HasPrefix(m.Text, want) || len(m.Blocks) != 0 || runes(m.Text) > 600 {
		t.Errorf("fallback = %q", m.Text)
	}
	j.ARN = ""
	if m := AlertFallback(Alert{Job: j}); strings.Contains(m.Text, "<") {
		t.Errorf("fallback without a region = %q", m.Text)
	}
}
