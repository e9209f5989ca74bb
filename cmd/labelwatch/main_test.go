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

// TestDemo runs `labelwatch demo` as a user would, with a local webhook set,
// and checks what reached "Slack": each finished job once, hostile text
// escaped, nothing for silent or unchanged jobs.
func TestDemo(t *testing.T) {
	slack := testenv.NewSlack(t)
	env := map[string]string{"SLACK_WEBHOOK_URL": slack.WebhookURL(), "SLACK_PACE": "0s"}
	// demo sets AWS_* variables for its emulator; put them back afterwards.
	for _, k := range []string{"AWS_ENDPOINT_URL_SAGEMAKER", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"} {
		if v, ok := os.LookupEnv(k); ok {
			t.Setenv(k, v)
		} else {
			t.Setenv(k, "")
		}
	}

	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, []string{"demo"}, func(k string) string { return env[k] }, fstest.MapFS{}, &stdout, &stderr); err != nil {
		t.Fatalf("demo: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}

	var texts []string
	for _, m := range slack.Messages() {
		var msg any
		if err := json.Unmarshal(m.Raw, &msg); err != nil {
			t.Fatalf("webhook payload: %v", err)
		}
		texts = append(texts, strings.Join(stringsIn(msg), "\n"))
	}
	want := []string{"sentiment-tweets-fr", "bird-species-v3", "street-scenes-seg", "medical-xray-triage", "x-&lt;!channel&gt;-&amp;"}
	if len(texts) != len(want) {
		t.Fatalf("got %d messages, want %d:\n%s", len(texts), len(want), strings.Join(texts, "\n---\n"))
	}
	for i, name := range want {
		if !strings.Contains(texts[i], name) {
			t.Errorf("message %d does not name %s:\n%s", i, name, texts[i])
		}
	}
	hostile := texts[4]
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
