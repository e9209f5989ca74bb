package slack

import (
	"strings"
	"testing"

	"github.com/labelwatch/labelwatch/internal/labeling"
)

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
