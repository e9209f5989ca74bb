package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/labelwatch/labelwatch/internal/testenv"
)

// TestDemo runs `labelwatch demo` as a user would, with a local webhook set
// and someone to page on failures, and checks what reached "Slack" and what
// it printed: each finished job once, hostile text escaped, mentions in the
// failures' notification text only, links to the consoles, nothing for
// silent or unchanged jobs.
func TestDemo(t *testing.T) {
	slack := testenv.NewSlack(t)
	env := map[string]string{"SLACK_WEBHOOK_URL": slack.WebhookURL(), "SLACK_PACE": "0s", "MENTION_ON_FAILURE": "U0ONCALL1,here"}
	keepDemoEnv(t)

	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, []string{"demo"}, func(k string) string { return env[k] }, fstest.MapFS{}, &stdout, &stderr); err != nil {
		t.Fatalf("demo: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}

	var texts, notices []string
	for _, m := range slack.Messages() {
		var msg any
		if err := json.Unmarshal(m.Raw, &msg); err != nil {
			t.Fatalf("webhook payload: %v", err)
		}
		texts = append(texts, strings.Join(stringsIn(msg), "\n"))
		notice, _ := msg.(map[string]any)["text"].(string)
		notices = append(notices, notice)
	}
	// A webhook cannot edit: no cards, and progress news goes to the
	// channel as messages of their own.
	want := []struct {
		name  string
		paged bool // a failure alert, with MENTION_ON_FAILURE's mentions
	}{
		{"sentiment-tweets-fr", true},
		{"bird-species-v3 passed 50%", false},
		{"pedestrian-boxes passed 50%", false},
		{"bird-species-v3", false},
		{"street-scenes-seg", true},
		{"medical-xray-triage", false},
		{"pedestrian-boxes has not moved for", false}, // 6h: without a card, moves are stored a quarter of STUCK_AFTER apart
		{"pedestrian-boxes", false},
		{"x-&lt;!channel&gt;-&amp;", true},
	}
	if len(texts) != len(want) {
		t.Fatalf("got %d messages, want %d:\n%s", len(texts), len(want), strings.Join(notices, "\n"))
	}
	for i, w := range want {
		if !strings.Contains(texts[i], w.name) {
			t.Errorf("message %d does not say %s:\n%s", i, w.name, texts[i])
		}
	}
	const pager = "<@U0ONCALL1> <!here> "
	for i, notice := range notices {
		if paged := strings.HasPrefix(notice, pager); paged != want[i].paged {
			t.Errorf("message %d pages: %v, want %v: %q", i, paged, want[i].paged, notice)
		}
		if strings.Contains(strings.TrimPrefix(notice, pager), "<") {
			t.Errorf("message %d has markup beyond the mentions: %q", i, notice)
		}
	}
	for _, want := range []string{
		"│ 🔔 @U0ONCALL1 @here ❌ street-scenes-seg failed after 2h 15m: ClientError: Unable to read input manifest s3://acme-ml-datasets/street-scenes/input.manifest: Access Denied",
		"│ 🔔 ✅ bird-species-v3 completed after 5h 10m: 3,980 labeled · us-east-1 · 123456789012\n",
		"│   · Job in SageMaker: https://us-east-1.console.aws.amazon.com/sagemaker/groundtruth?region=us-east-1#/labeling-jobs/details/street-scenes-seg\n",
		"│   · Logs: https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logsV2:log-groups/log-group/$252Faws$252Fsagemaker$252FLabelingJobs/log-events/bird-species-v3\n",
		"│   · Output manifest: https://us-east-1.console.aws.amazon.com/s3/object/acme-ml-datasets?region=us-east-1&prefix=bird-species-v3%2Foutput%2F",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("the demo did not print %q:\n%s", want, stdout.String())
		}
	}
	hostile := texts[len(texts)-1]
	for _, live := range []string{"<!channel>", "<@U024BE7LH>", "<https://evil.example"} {
		if strings.Contains(hostile, live) {
			t.Errorf("hostile message carries live markup %q:\n%s", live, hostile)
		}
	}
	for _, unwanted := range []string{"retail-shelves-2025", "road-signs-eu"} {
		if strings.Contains(stdout.String(), "Labeling job completed: "+unwanted) {
			t.Errorf("old job %s was alerted on first run", unwanted)
		}
	}
	// Each segment of the webhook's path is a secret.
	for _, secret := range testenv.SlackSecrets() {
		if strings.Contains(stdout.String()+stderr.String(), secret) {
			t.Errorf("the webhook URL (%s) appears in the demo's output", secret)
		}
	}
}

// keepDemoEnv puts back, after t, the AWS_* variables demo sets for its
// emulator.
func keepDemoEnv(t *testing.T) {
	for _, k := range []string{"AWS_ENDPOINT_URL_SAGEMAKER", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"} {
		if v, ok := os.LookupEnv(k); ok {
			t.Setenv(k, v)
		} else {
			t.Setenv(k, "")
		}
	}
}

// TestDemoCard checks that the demo, printing, shows a card's life in
// order: posted, edited, a milestone and a stuck warning in its thread, the
// final edit and the outcome as a reply.
func TestDemoCard(t *testing.T) {
	keepDemoEnv(t)
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), []string{"demo"}, func(string) string { return "" }, fstest.MapFS{}, &stdout, &stderr); err != nil {
		t.Fatalf("demo: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	rest := out
	// Each message as the printer shows it: its heading, then its
	// notification line before the next heading.
	for _, want := range [][2]string{
		{"── message 3 ──", "│ 🔔 ⏳ pedestrian-boxes is initializing"},
		{"── message 3, edited ──", "│ 🔔 🔄 pedestrian-boxes is in progress: 54% done"},
		{"── reply to message 3 ──", "│ 🔔 📈 pedestrian-boxes passed 50%: 54% done, 1,080 of 2,000 labeled"},
		{"── reply to message 3 (also in the channel) ──", "│ 🔔 ⚠️ pedestrian-boxes has not moved for 7h"},
		{"── message 3, edited ──", "│ 🔔 ✅ pedestrian-boxes completed: 100% done"},
		{"── reply to message 3 (also in the channel) ──", "│ 🔔 ✅ pedestrian-boxes completed after 9h"},
	} {
		i := strings.Index(rest, want[0]+"\n")
		if i < 0 {
			t.Fatalf("the demo did not print, in order, %q:\n%s", want[0], out)
		}
		rest = rest[i+len(want[0]):]
		body := rest
		if next := strings.Index(body, "── "); next >= 0 {
			body = body[:next]
		}
		if !strings.Contains(body, want[1]) {
			t.Fatalf("under %q the demo printed\n%s\nwant %q", want[0], body, want[1])
		}
	}
	quiet := rest[strings.Index(rest, "== cycle 7"):]
	if strings.Contains(quiet, "── ") {
		t.Errorf("the quiet cycle printed a message:\n%s", quiet)
	}
}

// stringsIn returns every string Slack reads as mrkdwn in a decoded payload:
// the fallback text and the blocks' mrkdwn texts. plain_text objects, button
// values and URLs are shown literally, never parsed for mentions or links.
func stringsIn(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, stringsIn(e)...)
		}
		return out
	case map[string]any:
		if v["type"] == "plain_text" {
			return nil
		}
		var out []string
		for k, e := range v {
			if k == "url" || k == "value" {
				continue
			}
			out = append(out, stringsIn(e)...)
		}
		return out
	}
	return nil
}
