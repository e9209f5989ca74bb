package slack

import (
	"slices"
	"strings"
	"testing"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/labelwatch/labelwatch/internal/labeling"
)

func TestRenderNotice(t *testing.T) {
	j := job()
	j.Name = "street-scenes-seg"
	j.ARN = "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/street-scenes-seg"
	j.Status, j.FailureReason = labeling.StatusInProgress, ""
	j.Counters = labeling.Counters{Total: 968, Human: 968, Failed: 32, Unlabeled: 2000}
	const (
		milestone = "📈 street-scenes-seg passed 30%: 33% done, 968 of 3,000 labeled, 32 failed"
		stuck     = "⚠️ street-scenes-seg has not moved for 6h: 33% done, 968 of 3,000 labeled, 32 failed"
		failed    = "⚠️ street-scenes-seg: 32 of 1,000 processed objects failed (3.2%)"
	)
	tests := []struct {
		name   string
		job    func(j *labeling.Job)
		notice Notice
		lines  []string
	}{
		{"milestone", nil, Notice{Milestone: 30}, []string{milestone}},
		{"stuck", nil, Notice{StuckFor: 6 * time.Hour}, []string{stuck}},
		{"failures", nil, Notice{FailedShare: 0.032}, []string{failed}},
		{"all three", nil, Notice{Milestone: 30, StuckFor: 6 * time.Hour, FailedShare: 0.032}, []string{milestone, stuck, failed}},
		{"stuck and failures", nil, Notice{StuckFor: 6 * time.Hour, FailedShare: 0.032}, []string{stuck, failed}},
		{"stuck before anything was counted", func(j *labeling.Job) { j.Counters = labeling.Counters{} },
			Notice{StuckFor: 90 * time.Minute}, []string{"⚠️ street-scenes-seg has not moved for 1h 30m (no data objects counted yet)"}},
		{"nothing set", nil, Notice{}, []string{"🔄 street-scenes-seg is in progress: 33% done (1,000 of 3,000 objects)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := j
			if tt.job != nil {
				tt.job(&j)
			}
			m := RenderNotice(j, tt.notice)
			checkLimits(t, m)
			if got := blockKinds(m); !slices.Equal(got, []string{"section", "links"}) {
				t.Errorf("blocks %v, want a section and the links", got)
			}
			body := m.Blocks[0].(*slackapi.SectionBlock).Text.Text
			if want := strings.Join(tt.lines, "\n"); body != want {
				t.Errorf("section %q, want %q", body, want)
			}
			if want := strings.Join(tt.lines, " · "); m.Text != want {
				t.Errorf("text %q, want %q", m.Text, want)
			}
			if m.Fallback == nil || len(m.Fallback.Blocks) != 0 || !strings.HasPrefix(m.Fallback.Text, m.Text) || !strings.Contains(m.Fallback.Text, "|open in the SageMaker console>") {
				t.Errorf("fallback %+v, want the text and a console link", m.Fallback)
			}
			if links(t, m)["Job in SageMaker"] == "" {
				t.Error("no link to the job")
			}
		})
	}
}

func TestRenderNoticeEscapes(t *testing.T) {
	j := job()
	j.Name = "<!channel>&<https://evil.example|x>"
	m := RenderNotice(j, Notice{Milestone: 50, StuckFor: time.Hour, FailedShare: 0.5})
	checkLimits(t, m)
	if strings.Contains(allText(m), "<!channel>") || !strings.Contains(m.Text, "&lt;!channel&gt;&amp;&lt;https://evil.example|x&gt;") {
		t.Errorf("notice %q, want the name escaped", allText(m))
	}
	checkMrkdwn(t, "fallback", m.Fallback.Text, false)
}
