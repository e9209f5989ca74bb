package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/labelwatch/labelwatch/internal/app"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

// secrets are the strings no output may contain: the bot tokens the tests
// use, the webhook URL, its path and each of its path segments.
func (e *env) secrets(more ...string) []string {
	s := append(testenv.SlackSecrets(), e.slack.WebhookURL())
	return append(s, more...)
}

// noSecrets fails if any of secrets appears in any of outputs.
func noSecrets(t *testing.T, secrets []string, outputs map[string]string) {
	t.Helper()
	for where, out := range outputs {
		for _, s := range secrets {
			if i := strings.Index(out, s); i >= 0 {
				t.Errorf("%s shows the secret %q: …%s…", where, s, out[max(0, i-80):min(len(out), i+len(s)+40)])
			}
		}
	}
}

// TestLambdaBadConfig starts the function with many invalid settings: the
// cold start fails, with one message that names every bad variable and
// shows no secret, and nothing is listed, stored or posted.
func TestLambdaBadConfig(t *testing.T) {
	t.Parallel()
	e := newLambdaEnv(t)
	const plainWebhook = "http://hooks.example.com/services/T0SECRET1/B0SECRET2/SECRETplainHTTPhook"
	bad := map[string]string{
		"STATE_TABLE":           "",
		"ALERT_ON":              "Failed,Exploded",
		"LOOKBACK":              "soon",
		"OVERLAP":               "-10m",
		"RETENTION":             "1h",
		"DEADLINE_MARGIN":       "5 seconds",
		"CLOCK_SKEW":            "0s",
		"DIGEST_THRESHOLD":      "0",
		"IGNORE_CREATED_BEFORE": "yesterday",
		"SLACK_WEBHOOK_URL":     plainWebhook,
		"SLACK_API_URL":         "slack.example.com/api",
		"SLACK_TIMEOUT":         "forever",
		"SLACK_PACE":            "-1s",
	}
	var vars []string
	for k, v := range bad {
		vars = append(vars, k+"="+v)
	}
	fn := e.startLambda(10, vars...)
	event, err := scheduledEvent()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The emulator answers an invocation whose init failed with Lambda's
	// error object or with nothing; never with a Result.
	body, err := fn.Invoke(ctx, event)
	if err != nil {
		t.Fatal(err)
	}
	if len(body) > 0 {
		var r app.Result
		if err := json.Unmarshal(body, &r); err != nil || r.ErrorType == "" {
			t.Fatalf("the function started with a bad configuration: %s", body)
		}
	}
	// The invocation can answer before this test has read all the function
	// printed; once the emulator is gone, every line written is read.
	fn.Kill()
	out := fn.Output()
	var coldStart []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, `"cold start failed"`) {
			coldStart = append(coldStart, line)
		}
	}
	if len(coldStart) != 1 {
		t.Fatalf("%d cold start error lines, want one:\n%s", len(coldStart), out)
	}
	var entry struct {
		Level string `json:"level"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(coldStart[0]), &entry); err != nil || entry.Level != "ERROR" {
		t.Fatalf("cold start line %q: %v", coldStart[0], err)
	}
	for name := range bad {
		if !regexp.MustCompile(`\b` + name + `\b`).MatchString(entry.Error) {
			t.Errorf("the cold start error does not name %s:\n%s", name, entry.Error)
		}
	}
	noSecrets(t, e.secrets(plainWebhook, "/services/T0SECRET1/B0SECRET2/SECRETplainHTTPhook", "SECRETplainHTTPhook"),
		map[string]string{"function output": out, "invocation result": string(body)})
	if n := e.lists.Load(); n != 0 {
		t.Errorf("%d listings by a function that should not have started", n)
	}
	if n := len(e.proxy.AllCalls()); n != 0 {
		t.Errorf("DynamoDB calls by a function that should not have started: %v", e.proxy.AllCalls())
	}
	if n := e.slack.Requests(); n != 0 {
		t.Errorf("%d Slack requests by a function that should not have started", n)
	}
}

// TestLambdaFailingRunsKeepSecrets runs the function into failures that
// carry the Slack destination in their causes (Slack errors, a server that
// echoes the webhook path, timeouts, 5xx, a missing table) and searches
// everything it printed and returned for the token and the webhook URL.
func TestLambdaFailingRunsKeepSecrets(t *testing.T) {
	t.Parallel()
	const wrongToken = "test-revoked-bot-token-SECRET-999"
	tests := []struct {
		name     string
		vars     func(e *env) []string
		fault    func(e *env)
		says     []string // the invocation's error must say these
		saysAny  []string // and one of these
		requests int      // Slack requests the failing run makes, if not 0
	}{
		{
			name: "bot token invalid_auth",
			vars: func(e *env) []string {
				return []string{"SLACK_WEBHOOK_URL=", "SLACK_BOT_TOKEN=" + wrongToken, "SLACK_CHANNEL=" + testenv.SlackChannel, "SLACK_API_URL=" + e.slack.APIURL()}
			},
			says:     []string{"invalid_auth"},
			requests: 2, // one per alert: not retried
		},
		{
			name: "bot channel_not_found",
			vars: func(e *env) []string {
				return []string{"SLACK_WEBHOOK_URL=", "SLACK_BOT_TOKEN=" + testenv.SlackToken, "SLACK_CHANNEL=C0GONE", "SLACK_API_URL=" + e.slack.APIURL()}
			},
			says:     []string{"channel_not_found"},
			requests: 2,
		},
		{
			name:  "webhook 500s until the deadline",
			fault: failNext(100, testenv.SlackFault{Status: 500, Body: "internal_error"}),
			says:  []string{"500"},
		},
		{
			name: "webhook answer echoing its URL",
			fault: func(e *env) {
				e.slack.FailNext(100, testenv.SlackFault{Status: 404, Body: "no_service: " + e.slack.WebhookURL()})
			},
			says: []string{"404"},
		},
		{
			name:  "webhook timeouts",
			vars:  func(e *env) []string { return []string{"SLACK_TIMEOUT=200ms"} },
			fault: func(e *env) { e.slack.SetLatency(5 * time.Second) },
			// net/http words it either way, depending on when it noticed.
			saysAny: []string{"Client.Timeout exceeded", "context deadline exceeded"},
		},
		{
			name:  "webhook connection resets",
			fault: failNext(100, testenv.SlackFault{Reset: true}),
			says:  []string{"alerts pending"},
		},
		{
			name: "state table missing",
			vars: func(e *env) []string { return []string{"STATE_TABLE=labelwatch-missing-table"} },
			says: []string{`"labelwatch-missing-table"`, "not found"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newLambdaEnv(t)
			good := e.startLambda(3)
			jobs := e.baseline(good, 5)
			e.finish(jobs[:2]...)
			var vars []string
			if tt.vars != nil {
				vars = tt.vars(e)
			}
			fn := e.startLambda(3, vars...)
			if tt.fault != nil {
				tt.fault(e)
			}
			r, raw := invoke(t, fn)
			if r.ErrorMessage == "" {
				t.Errorf("the run did not fail: %s", raw)
			}
			for _, w := range tt.says {
				if !strings.Contains(r.ErrorMessage, w) {
					t.Errorf("error %q does not say %q", r.ErrorMessage, w)
				}
			}
			if len(tt.saysAny) > 0 && !slices.ContainsFunc(tt.saysAny, func(w string) bool { return strings.Contains(r.ErrorMessage, w) }) {
				t.Errorf("error %q says none of %q", r.ErrorMessage, tt.saysAny)
			}
			if n := e.slack.Requests(); tt.requests != 0 && n != tt.requests {
				t.Errorf("%d Slack requests, want %d", n, tt.requests)
			}
			fn.Kill() // so that Output holds every line the function wrote
			noSecrets(t, e.secrets(wrongToken), map[string]string{
				"function output":   fn.Output(),
				"invocation result": raw,
			})
			// Once Slack is right again, the alerts go out once.
			e.slack.ClearFaults()
			r, _ = invoke(t, good)
			succeeded(t, good, r, "run with Slack fixed")
			counts := e.check()
			e.ledger.checkDelivered(t, counts)
			e.checkTable()
		})
	}
}

// hostileReason is a failure reason at the API's maximum length (1024
// characters) full of Slack markup, entities, code, line breaks and
// non-ASCII text.
func hostileReason(i int) string {
	s := fmt.Sprintf("ClientError %d: <!channel> <!here> <@U123> <#C456|general> <https://evil.example/x|click here> "+
		"&amp; &lt;b&gt; `rm -rf /` ```block``` *bold* _it_ ~strike~\nline two: ラベル付けに失敗しました 🚫 naïve Ωmega "+
		"\u202eRTL\u202c\r\nline three > quoted < angle & amp\n", i)
	for utf8.RuneCountInString(s) < 1024 {
		s += "<!everyone> & "
	}
	return string([]rune(s)[:1024])
}

// TestLambdaHostileJobData runs job data at the API's limits through the
// function to the fake Slack, one alert a message and then as a digest, and
// checks that every text is rendered literally (no mention, link or entity
// Slack would act on) and within Block Kit's limits.
func TestLambdaHostileJobData(t *testing.T) {
	t.Parallel()
	e := newLambdaEnv(t)
	fn := e.startLambda(30, "DIGEST_THRESHOLD=3")
	now := time.Now()
	var names []string
	for i := range 8 {
		// 63 characters, the API's longest name, matching its pattern.
		name := fmt.Sprintf("job-%d-", i) + strings.Repeat("a1-", 20)
		name = name[:62] + "z"
		names = append(names, name)
		e.emu.Put(labeling.Job{Name: name, Status: labeling.StatusInProgress, CreatedAt: now.Add(-time.Hour),
			Workteam: "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/équipe-<@U999>"})
		e.ledger.baseline(name, labeling.StatusInProgress)
	}
	r, _ := invoke(t, fn)
	succeeded(t, fn, r, "first run")

	fail := func(name string, i int) {
		e.emu.Update(name, func(j *labeling.Job) {
			j.Status = labeling.StatusFailed
			j.FailureReason = hostileReason(i)
			j.InputManifest = "s3://bucket/<!channel>/データ & more.manifest"
		})
		e.ledger.moved(name, labeling.StatusFailed)
	}
	// Two alerts: one message each. Then five: a digest.
	for i, name := range names[:2] {
		fail(name, i)
	}
	r, _ = invoke(t, fn)
	succeeded(t, fn, r, "run with two failures")
	for i, name := range names[2:7] {
		fail(name, i+2)
	}
	r, _ = invoke(t, fn)
	succeeded(t, fn, r, "run with five failures")

	posted := e.posted()
	if len(posted) != 3 || posted[0].Digest || posted[1].Digest || !posted[2].Digest {
		t.Fatalf("%d messages (want two alerts, then a digest)", len(posted))
	}
	for i, m := range posted {
		checkLimits(t, i, m)
		checkLiteral(t, i, m)
	}
	// The single alerts quote the whole reason, literally.
	for i, m := range posted[:2] {
		var quoted string
		for _, b := range m.Blocks {
			if b.Type == "section" && b.Text != nil && strings.HasPrefix(b.Text.Text, "*Failure reason*\n>") {
				quoted = strings.TrimPrefix(b.Text.Text, "*Failure reason*\n>")
			}
		}
		got := unescape(strings.ReplaceAll(quoted, "\n>", "\n"))
		want := strings.TrimSpace(strings.ReplaceAll(hostileReason(i), "\r\n", "\n"))
		if got != want {
			t.Errorf("message %d: the reason is not rendered literally:\ngot  %q\nwant %q", i, got, want)
		}
		if !strings.Contains(m.Blocks[0].Text.Text, names[i]) {
			t.Errorf("message %d: the header %q does not carry the full name", i, m.Blocks[0].Text.Text)
		}
	}
	counts := e.check()
	e.ledger.checkDelivered(t, counts)
}

func unescape(s string) string {
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

// checkLimits checks a message against Block Kit's limits.
func checkLimits(t *testing.T, i int, m postedMessage) {
	t.Helper()
	runes := utf8.RuneCountInString
	if len(m.Blocks) > 50 {
		t.Errorf("message %d: %d blocks", i, len(m.Blocks))
	}
	if n := runes(m.Text); n > 40000 || n == 0 {
		t.Errorf("message %d: fallback text of %d characters", i, n)
	}
	for _, b := range m.Blocks {
		switch b.Type {
		case "header":
			if n := runes(b.Text.Text); n > 150 {
				t.Errorf("message %d: header of %d characters", i, n)
			}
		case "section":
			if b.Text != nil && runes(b.Text.Text) > 3000 {
				t.Errorf("message %d: section of %d characters", i, runes(b.Text.Text))
			}
			if len(b.Fields) > 10 {
				t.Errorf("message %d: %d fields", i, len(b.Fields))
			}
			for _, f := range b.Fields {
				if runes(f.Text) > 2000 {
					t.Errorf("message %d: field of %d characters", i, runes(f.Text))
				}
			}
		case "context":
			if len(b.Elements) > 10 {
				t.Errorf("message %d: %d context elements", i, len(b.Elements))
			}
		case "actions":
			for _, el := range b.Elements {
				var text textObject
				_ = json.Unmarshal(el.Text, &text)
				if runes(text.Text) > 75 || len(el.URL) > 3000 {
					t.Errorf("message %d: button %q to %d-byte URL", i, text.Text, len(el.URL))
				}
			}
		}
	}
}

// entity is an & that is one of the three entities Slack decodes.
var entity = regexp.MustCompile(`&(amp|lt|gt);`)

// checkLiteral checks that no mrkdwn text of a message (nor the fallback
// text, which notifications show as mrkdwn) holds a control sequence Slack
// would act on: any "<" opens a mention or a link, and an "&" that is not
// one of the three entities would be read as one.
// ownMarkup matches the links and dates labelwatch writes itself.
var ownMarkup = regexp.MustCompile(`<https://[a-z0-9.-]*console\.(aws\.amazon\.com|amazonaws\.cn|amazonaws-us-gov\.com)/[^|<>\s]*\|[^<>|]*>|<!date\^\d+\^[^|<>]*\|[^<>|]*>`)

func checkLiteral(t *testing.T, i int, m postedMessage) {
	t.Helper()
	texts := []string{m.Text}
	for _, b := range m.Blocks {
		if b.Text != nil && b.Text.Type == "mrkdwn" {
			texts = append(texts, b.Text.Text)
		}
		for _, f := range b.Fields {
			texts = append(texts, f.Text)
		}
		if b.Type == "context" {
			for _, el := range b.Elements {
				var s string
				if json.Unmarshal(el.Text, &s) == nil && el.Type == "mrkdwn" {
					texts = append(texts, s)
				}
			}
		}
	}
	for _, s := range texts {
		// labelwatch's own markup: links to AWS consoles and local dates.
		// The API's text never makes either: job names hold no markup
		// characters, and everything else is escaped.
		s = ownMarkup.ReplaceAllString(s, "")
		if strings.Contains(s, "<") {
			t.Errorf("message %d: live markup in %q", i, s)
		}
		if strings.Count(s, "&") != len(entity.FindAllString(s, -1)) {
			t.Errorf("message %d: a bare & in %q", i, s)
		}
	}
}
