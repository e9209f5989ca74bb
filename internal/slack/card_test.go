package slack

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/labelwatch/labelwatch/internal/labeling"
)

// progressOf is the text of m's progress line, or "".
func progressOf(m Message) string {
	for _, b := range m.Blocks {
		if s, ok := b.(*slackapi.SectionBlock); ok && s.Text != nil && strings.HasPrefix(s.Text.Text, "`") {
			return s.Text.Text
		}
	}
	return ""
}

// headerOf is the text of m's header, or "".
func headerOf(m Message) string {
	if len(m.Blocks) > 0 {
		if h, ok := m.Blocks[0].(*slackapi.HeaderBlock); ok {
			return h.Text.Text
		}
	}
	return ""
}

func TestRenderCardByStatus(t *testing.T) {
	modified := job().ModifiedAt
	const (
		team   = "annotators"
		bar88  = "`▓▓▓▓▓▓▓▓▓▓▓▓▓▓░░` 88% · 1,234 of 1,400 objects labeled · 6 failed"
		byWhom = "1,000 human · 234 machine"
		where  = " · eu-west-1 · 123456789012"
	)
	tests := []struct {
		name     string
		job      func(j *labeling.Job)
		header   string
		blocks   []string
		progress string
		fields   map[string]string // exactly these
		text     string
	}{
		{
			name: "in progress",
			job: func(j *labeling.Job) {
				j.Status, j.FailureReason = labeling.StatusInProgress, ""
			},
			header:   "🔄 cats-vs-dogs-2025 is in progress",
			blocks:   []string{"header", "section", "fields", "links"},
			progress: bar88,
			fields:   map[string]string{"Started": date(created), "Labeled by": byWhom, "Work team": team},
			text:     "🔄 cats-vs-dogs-2025 is in progress: 88% done, 1,234 of 1,400 labeled" + where,
		},
		{
			name: "initializing, nothing counted yet",
			job: func(j *labeling.Job) {
				j.Status, j.FailureReason, j.Counters, j.Workteam = labeling.StatusInitializing, "", labeling.Counters{}, ""
			},
			header:   "⏳ cats-vs-dogs-2025 is initializing",
			blocks:   []string{"header", "section", "fields", "links"},
			progress: "`░░░░░░░░░░░░░░░░` 0% · no data objects counted yet",
			fields:   map[string]string{"Started": date(created)},
			text:     "⏳ cats-vs-dogs-2025 is initializing" + where,
		},
		{
			name: "stopping",
			job: func(j *labeling.Job) {
				j.Status, j.FailureReason = labeling.StatusStopping, ""
				j.Counters = labeling.Counters{Total: 500, Human: 500, Unlabeled: 500}
			},
			header:   "🚧 cats-vs-dogs-2025 is stopping",
			blocks:   []string{"header", "section", "fields", "links"},
			progress: "`▓▓▓▓▓▓▓▓░░░░░░░░` 50% · 500 of 1,000 objects labeled",
			fields:   map[string]string{"Started": date(created), "Labeled by": "500 human", "Work team": team},
			text:     "🚧 cats-vs-dogs-2025 is stopping: 50% done, 500 of 1,000 labeled" + where,
		},
		{
			name: "completed",
			job: func(j *labeling.Job) {
				j.Status, j.FailureReason = labeling.StatusCompleted, ""
				j.Counters = labeling.Counters{Total: 3000, Human: 1800, Machine: 1200}
			},
			header:   "✅ cats-vs-dogs-2025 completed",
			blocks:   []string{"header", "section", "fields", "links"},
			progress: "`▓▓▓▓▓▓▓▓▓▓▓▓▓▓▓▓` 100% · 3,000 of 3,000 objects labeled",
			fields:   map[string]string{"Labeled by": "1,800 human · 1,200 machine", "Ran for": "3h 12m", "Finished": date(modified), "Work team": team},
			text:     "✅ cats-vs-dogs-2025 completed: 100% done, 3,000 of 3,000 labeled" + where,
		},
		{
			name:     "failed",
			job:      func(*labeling.Job) {},
			header:   "❌ cats-vs-dogs-2025 failed",
			blocks:   []string{"header", "reason", "section", "fields", "links"},
			progress: bar88,
			fields:   map[string]string{"Ran for": "3h 12m", "Failed": date(modified), "Labeled by": byWhom, "Work team": team},
			text:     "❌ cats-vs-dogs-2025 failed: ClientError: not enough workers" + where,
		},
		{
			name:     "failed without a reason",
			job:      func(j *labeling.Job) { j.FailureReason = "" },
			header:   "❌ cats-vs-dogs-2025 failed",
			blocks:   []string{"header", "reason", "section", "fields", "links"},
			progress: bar88,
			fields:   map[string]string{"Ran for": "3h 12m", "Failed": date(modified), "Labeled by": byWhom, "Work team": team},
			text:     "❌ cats-vs-dogs-2025 failed: 88% done, 1,234 of 1,400 labeled" + where,
		},
		{
			name: "stopped",
			job: func(j *labeling.Job) {
				j.Status, j.FailureReason = labeling.StatusStopped, ""
			},
			header:   "🛑 cats-vs-dogs-2025 stopped",
			blocks:   []string{"header", "section", "fields", "links"},
			progress: bar88,
			fields:   map[string]string{"Ran for": "3h 12m", "Stopped": date(modified), "Labeled by": byWhom, "Work team": team},
			text:     "🛑 cats-vs-dogs-2025 stopped: 88% done, 1,234 of 1,400 labeled" + where,
		},
		{
			name: "a status the API may add, no ARN",
			job: func(j *labeling.Job) {
				j.Status, j.FailureReason, j.ARN, j.Workteam = "Paused", "", "", ""
			},
			header:   "❓ cats-vs-dogs-2025 is in status Paused",
			blocks:   []string{"header", "section", "fields"},
			progress: bar88,
			fields:   map[string]string{"Started": date(created), "Labeled by": byWhom},
			text:     "❓ cats-vs-dogs-2025 is in status Paused: 88% done, 1,234 of 1,400 labeled",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := job()
			tt.job(&j)
			m := RenderCard(j)
			checkLimits(t, m)
			if got := headerOf(m); got != tt.header {
				t.Errorf("header %q, want %q", got, tt.header)
			}
			if got := blockKinds(m); !slices.Equal(got, tt.blocks) {
				t.Errorf("blocks %v, want %v", got, tt.blocks)
			}
			if got := progressOf(m); got != tt.progress {
				t.Errorf("progress %q, want %q", got, tt.progress)
			}
			if got := fieldsOf(m); !maps.Equal(got, tt.fields) {
				t.Errorf("fields %v, want %v", got, tt.fields)
			}
			if m.Text != tt.text {
				t.Errorf("text %q, want %q", m.Text, tt.text)
			}
			if strings.Contains(m.Text, "\n") {
				t.Errorf("text %q is more than one line", m.Text)
			}
			if m.Fallback == nil || len(m.Fallback.Blocks) != 0 || !strings.HasPrefix(m.Fallback.Text, tt.text) {
				t.Errorf("fallback %+v, want the text alone, and a console link", m.Fallback)
			}
			if m.pages {
				t.Error("a card pages people: WithMentions is for alerts")
			}
			if RenderCard(j).Fingerprint() != m.Fingerprint() {
				t.Error("the same job renders two different cards")
			}
		})
	}
}

func TestRenderCardLinks(t *testing.T) {
	j := job()
	j.Status = labeling.StatusCompleted
	got := links(t, RenderCard(j))
	for _, text := range []string{"Job in SageMaker", "Logs", "Output manifest"} {
		if got[text] == "" {
			t.Errorf("no %q link in %v", text, got)
		}
	}
	if got["Job in SageMaker"] != ConsoleURL(j) {
		t.Errorf("console link %q, want %q", got["Job in SageMaker"], ConsoleURL(j))
	}
}

func TestProgressBar(t *testing.T) {
	tests := []struct {
		c    labeling.Counters
		want string
	}{
		{labeling.Counters{}, "`░░░░░░░░░░░░░░░░` 0%"},
		{labeling.Counters{Total: 1, Unlabeled: 999}, "`░░░░░░░░░░░░░░░░` 0%"},
		{labeling.Counters{Total: 1260, Failed: 12, Unlabeled: 1728}, "`▓▓▓▓▓▓░░░░░░░░░░` 42%"},
		{labeling.Counters{Total: 999, Unlabeled: 1}, "`▓▓▓▓▓▓▓▓▓▓▓▓▓▓▓░` 99%"},
		{labeling.Counters{Total: 9, Failed: 1}, "`▓▓▓▓▓▓▓▓▓▓▓▓▓▓▓▓` 100%"},
	}
	for _, tt := range tests {
		if got := progressLine(tt.c); !strings.HasPrefix(got, tt.want+" · ") {
			t.Errorf("progressLine(%+v) = %q, want it to start %q", tt.c, got, tt.want)
		}
	}
}

func TestRenderCardEscapesAPIText(t *testing.T) {
	const nasty = "<!channel> & <https://evil.example|click> <@U123>"
	j := job()
	j.Name = "cats<!here>&<https://evil.example|x>"
	j.FailureReason = nasty + "\n" + strings.Repeat("é&<", 2000)
	j.Workteam = "arn:aws:sagemaker:eu-west-1:123456789012:workteam/private-crowd/" + nasty
	for _, m := range []Message{RenderCard(j), *RenderCard(j).Fallback} {
		if m.Blocks == nil {
			checkMrkdwn(t, "fallback", m.Text, false)
		} else {
			checkLimits(t, m)
		}
		all := allText(m)
		if h := headerOf(m); h != "" {
			// plain_text shows markup as it is: no mention, no link.
			all = strings.Replace(all, h, "", 1)
		}
		for _, live := range []string{"<!channel>", "<!here>", "<@U123>", "<https://evil.example"} {
			if strings.Contains(all, live) {
				t.Errorf("live markup %q in %q", live, all)
			}
		}
		if strings.Contains(m.Text, "\n") {
			t.Errorf("text %q is more than one line", m.Text)
		}
	}
	m := RenderCard(j)
	if h := headerOf(m); !strings.Contains(h, j.Name) {
		t.Errorf("header %q: plain text shows the name as it is", h)
	}
	if !strings.Contains(m.Text, "cats&lt;!here&gt;&amp;&lt;https://evil.example|x&gt;") {
		t.Errorf("text %q, want the name escaped", m.Text)
	}
	if r := reasonSection(m); !strings.Contains(r, "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;") {
		t.Errorf("reason %q, want the reason escaped", r)
	}
}

func TestRenderCardLongName(t *testing.T) {
	j := job()
	j.Status, j.FailureReason = labeling.StatusInProgress, ""
	j.Name = strings.Repeat("n", 400)
	m := RenderCard(j)
	checkLimits(t, m)
	if h := headerOf(m); !strings.HasSuffix(h, "… is in progress") {
		t.Errorf("header %q, want the name cut and the status kept", h)
	}
}

func TestFingerprint(t *testing.T) {
	base := job()
	base.Status, base.FailureReason = labeling.StatusInProgress, ""
	card := RenderCard(base)
	fp := card.Fingerprint()
	if len(fp) != 16 || strings.Trim(fp, "0123456789abcdef") != "" {
		t.Fatalf("fingerprint %q, want 16 hex digits", fp)
	}
	t.Run("where it goes and its fallback do not count", func(t *testing.T) {
		m := card
		m.Edit = Posted{Channel: "C1", TS: "1.2"}
		m.Thread, m.Broadcast = Posted{Channel: "C1", TS: "1.1"}, true
		m.Fallback = &Message{Text: "other"}
		if got := m.Fingerprint(); got != fp {
			t.Errorf("fingerprint %q, want %q", got, fp)
		}
	})
	t.Run("the same in every process", func(t *testing.T) {
		// A fixed message's fingerprint, computed once: a change of the
		// hash or of its input breaks every stored fingerprint.
		m := Message{Text: "hi", Blocks: []slackapi.Block{slackapi.NewSectionBlock(mrkdwn("hi"), nil, nil)}}
		if got, want := m.Fingerprint(), "ec101957142b1b5d"; got != want {
			t.Errorf("fingerprint %q, want %q", got, want)
		}
		if (Message{}).Fingerprint() != (Message{Blocks: []slackapi.Block{}}).Fingerprint() {
			t.Error("no blocks and an empty list of blocks differ")
		}
	})
	changes := []struct {
		name string
		job  func(j *labeling.Job)
	}{
		{"one more labeled", func(j *labeling.Job) { j.Counters.Total++; j.Counters.Human++; j.Counters.Unlabeled-- }},
		{"one more failed", func(j *labeling.Job) { j.Counters.Failed++; j.Counters.Unlabeled-- }},
		{"machine instead of human", func(j *labeling.Job) { j.Counters.Human--; j.Counters.Machine++ }},
		{"another status", func(j *labeling.Job) { j.Status = labeling.StatusStopping }},
		{"completed", func(j *labeling.Job) { j.Status = labeling.StatusCompleted }},
		{"another work team", func(j *labeling.Job) { j.Workteam += "-2" }},
	}
	for _, tt := range changes {
		t.Run(tt.name, func(t *testing.T) {
			j := base
			tt.job(&j)
			if RenderCard(j).Fingerprint() == fp {
				t.Error("the card changed, its fingerprint did not")
			}
		})
	}
	t.Run("a later modification time alone", func(t *testing.T) {
		// A running job's card shows no time but its start: a job that
		// was modified without moving keeps its card.
		j := base
		j.ModifiedAt = j.ModifiedAt.Add(time.Hour)
		if RenderCard(j).Fingerprint() != fp {
			t.Error("the fingerprint changed though the card shows nothing new")
		}
	})
	t.Run("text and blocks are told apart", func(t *testing.T) {
		a := Message{Text: "ab", Blocks: nil}
		b := Message{Text: "a", Blocks: nil}
		if a.Fingerprint() == b.Fingerprint() {
			t.Error("two texts share a fingerprint")
		}
	})
}
