package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/labelwatch/labelwatch/internal/app"
	"github.com/labelwatch/labelwatch/internal/config"
	"github.com/labelwatch/labelwatch/internal/emulator"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

// These tests run the function as template.yaml deploys it: its whole
// environment is what the template gives LabelwatchFunction, resolved by
// testenv.DeployedFunction with every parameter at its Default (or, where a
// test says so, overridden as `sam deploy --parameter-overrides` would),
// so its Slack credential comes from the secret the stack creates, in
// Secrets Manager (moto_server). The tests add only where the function
// reaches AWS and Slack (deployedEndpoints). The other end-to-end tests
// configure the function with local-run variables instead.

// deployedRegion is the stack's region: testenv.LambdaEnviron's AWS_REGION.
const deployedRegion = "us-east-1"

// deployment is what the stacks of TestAsDeployed share: one moto_server,
// whose Secrets Manager holds each stack's secret.
type deployment struct {
	moto    string // its endpoint
	secrets *secretsmanager.Client
}

// deployed is one stack as template.yaml deploys it.
type deployed struct {
	*stack
	fn        testenv.Function
	cfg       config.Config // what the function reads from fn.Env
	secretARN string
}

// deployedEndpoints are the variables the tests add to the function's
// environment: where it reaches AWS (as the SDK reads them) and Slack.
// SLACK_API_URL is a setting of the function that the template leaves at
// its default, Slack's own https://slack.com/api/; it is set here as an
// endpoint override, as the AWS_ENDPOINT_URL_* ones are, so the Web API
// calls reach the local Slack. A webhook URL comes from the secret itself.
func deployedEndpoints(s *stack, moto, slackURL string) []string {
	// STS is moto's, behind a proxy that tells SageMaker whose account the
	// credentials of each assumed role are.
	sts := stsProxy(s.t, moto, func(key, account string) { s.estate.Credentials(key, account) })
	return []string{
		"AWS_ENDPOINT_URL_SAGEMAKER=" + s.sagemaker.serve(),
		"AWS_ENDPOINT_URL_DYNAMODB=" + s.dynamo.serve(),
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + moto,
		"AWS_ENDPOINT_URL_STS=" + sts,
		"SLACK_API_URL=" + slackURL + "/api/",
	}
}

// botToken is the secret's value for the local Slack's bot.
func botToken(string) map[string]any {
	return map[string]any{"bot_token": testenv.SlackToken, "channel": testenv.SlackChannel}
}

// webhook is the secret's value for the local Slack's incoming webhook,
// reached at slackURL.
func webhook(slackURL string) map[string]any {
	return map[string]any{"webhook_url": slackURL + testenv.SlackHookPath}
}

// start deploys a stack: it creates the stack's secret holding
// credential(slackURL) (the secret's JSON), resolves the template's
// function with overrides (sam deploy's --parameter-overrides; nil for
// every default) and starts the function with that environment and
// deployedEndpoints only.
func (d *deployment) start(t *testing.T, credential func(slackURL string) map[string]any, overrides map[string]string) *deployed {
	t.Helper()
	dep := &deployed{}
	dep.stack = buildStack(t, func(s *stack, slackURL string) []string {
		// CloudFormation names a secret without a Name <LogicalId>-<random>.
		name := "SlackSecret-" + strings.Map(func(r rune) rune {
			if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' {
				return r
			}
			return '-'
		}, t.Name())
		out, err := d.secrets.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
			Name: aws.String(name), SecretString: aws.String(secretJSON(t, credential(slackURL))),
		})
		if err != nil {
			t.Fatal(err)
		}
		dep.secretARN = aws.ToString(out.ARN)
		dep.fn = testenv.DeployedFunction(t, testenv.Stack{
			Parameters: overrides,
			Refs: map[string]string{
				"StateTable": s.table, "SlackSecret": dep.secretARN,
				"AWS::Region": deployedRegion, "AWS::AccountId": testenv.LambdaAccount, "AWS::Partition": "aws",
				"AWS::StackName": "labelwatch", "AWS::URLSuffix": "amazonaws.com",
			},
		})
		endpoints := deployedEndpoints(s, d.moto, slackURL)
		for _, e := range endpoints {
			name, _, _ := strings.Cut(e, "=")
			if _, set := dep.fn.Env[name]; set {
				t.Fatalf("template.yaml gives the function %s, which the test overrides to reach the local services", name)
			}
		}
		if dep.cfg, err = config.Load(func(name string) string { return dep.fn.Env[name] }); err != nil {
			t.Fatalf("the function as deployed does not start: %v", err)
		}
		return append(dep.fn.Environ(), endpoints...)
	})
	return dep
}

func secretJSON(t *testing.T, v map[string]any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// wantSchedule fails the test unless the template runs the function on a
// scheduled EventBridge rule, which delivers a "Scheduled Event" from
// aws.events, as events/scheduled.json (the polls' event) is.
func (d *deployed) wantSchedule(t *testing.T) {
	t.Helper()
	var schedules []string
	for name, ev := range d.fn.Events {
		switch ev.Type {
		case "Schedule":
			if ev.Properties["Enabled"] == "false" || ev.Properties["State"] == "DISABLED" {
				t.Fatalf("the template's schedule %s is disabled at these parameters", name)
			}
			schedules = append(schedules, name)
		case "ScheduleV2", "CloudWatchEvent":
			t.Fatalf("the template's schedule %s is a %s, which does not deliver events/scheduled.json: send what it delivers", name, ev.Type)
		}
	}
	if len(schedules) != 1 {
		t.Fatalf("the template has %d scheduled rules (%v), want one", len(schedules), schedules)
	}
	var ev struct {
		Source     string `json:"source"`
		DetailType string `json:"detail-type"`
	}
	if err := json.Unmarshal(d.event, &ev); err != nil || ev.Source != "aws.events" || ev.DetailType != "Scheduled Event" {
		t.Fatalf("events/scheduled.json is not what a scheduled rule delivers: source %q, detail-type %q (%v)", ev.Source, ev.DetailType, err)
	}
}

// wantRule fails the test unless one of the template's EventBridge rules
// for the function matches event by source and detail-type, and is enabled.
func (d *deployed) wantRule(t *testing.T, event []byte) {
	t.Helper()
	var ev struct {
		Source     string `json:"source"`
		DetailType string `json:"detail-type"`
	}
	if err := json.Unmarshal(event, &ev); err != nil {
		t.Fatal(err)
	}
	matches := func(pattern map[string]any, key, value string) bool {
		list, _ := pattern[key].([]any)
		return slices.Contains(list, any(value))
	}
	for name, rule := range d.fn.Events {
		pattern, _ := rule.Properties["Pattern"].(map[string]any)
		if rule.Type != "EventBridgeRule" || !matches(pattern, "source", ev.Source) || !matches(pattern, "detail-type", ev.DetailType) {
			continue
		}
		if state, ok := rule.Properties["State"]; ok && state != "ENABLED" {
			t.Fatalf("the template's rule %s for %s events is %v at these parameters", name, ev.DetailType, state)
		}
		return
	}
	t.Fatalf("no EventBridge rule of the template delivers %s events from %s: %+v", ev.DetailType, ev.Source, d.fn.Events)
}

// lastCall is the last call Slack accepted.
func (s *stack) lastCall() testenv.SlackCall {
	s.t.Helper()
	calls := s.slack.Calls()
	if len(calls) == 0 {
		s.t.Fatal("Slack accepted no call")
	}
	return calls[len(calls)-1]
}

// wantVia fails the test unless every call Slack accepted from the first
// on came with the bot token from the secret (chat.postMessage and
// chat.update in the bot's channel), or by the webhook, as bot says.
func (s *stack) wantVia(step string, first int, bot bool) {
	s.t.Helper()
	methods, channel := []string{testenv.SlackWebhook}, ""
	if bot {
		methods, channel = []string{testenv.SlackPostMessage, testenv.SlackUpdate}, testenv.SlackChannel
	}
	for _, c := range s.slack.Calls()[first:] {
		if !slices.Contains(methods, c.Method) || c.Channel != channel {
			s.t.Errorf("%s: Slack took a %s in channel %q; want one of %q in %q", step, c.Method, c.Channel, methods, channel)
		}
	}
}

// mentionsIn lists the Slack mentions c's text or blocks hold.
func mentionsIn(c testenv.SlackCall) []string {
	b, _ := json.Marshal(c.Blocks)
	var found []string
	for _, m := range []string{"<!here>", "<!channel>", "<!everyone>", "<@", "<!subteam^"} {
		if strings.Contains(c.Text, m) || strings.Contains(string(b), m) {
			found = append(found, m)
		}
	}
	return found
}

// stallSince rewrites job's stored progress, and the cursor's memory of it
// idle, as a run at moved would have left them with the counters unmoved
// since: stuckAfter (STUCK_AFTER) after moved, the job is stuck.
func (s *stack) stallSince(job string, moved time.Time, stuckAfter time.Duration) {
	s.t.Helper()
	rec, ok := s.record(job)
	if !ok || rec.Progress.MovedAt.IsZero() {
		s.t.Fatalf("stored record of %s = %+v (found %v), want its progress tracked", job, rec, ok)
	}
	next := rec
	next.Progress.MovedAt = moved
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.store.Save(ctx, rec, next); err != nil {
		s.t.Fatal(err)
	}
	c, _, err := s.store.Cursor(ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	idle, ok := c.Idle[job]
	if !ok {
		s.t.Fatalf("cursor %+v does not remember %s idle", c, job)
	}
	idle.Until = moved.Add(stuckAfter)
	c.Idle[job], c.At = idle, c.At.Add(time.Millisecond)
	if err := s.store.AdvanceCursor(ctx, c); err != nil {
		s.t.Fatal(err)
	}
}

func TestAsDeployed(t *testing.T) {
	moto := testenv.Moto(t)
	d := &deployment{moto: moto, secrets: secretsmanager.NewFromConfig(testenv.AWSConfig(moto))}

	// A job fails: one message, by the webhook in the secret, with the
	// failure reason and, MENTION_ON_FAILURE being empty, no mention.
	t.Run("alert by webhook", func(t *testing.T) {
		s := d.start(t, webhook, nil)
		s.wantSchedule(t)
		if len(s.cfg.Slack.MentionOnFailure) != 0 {
			t.Fatalf("MentionOnFailure defaults to %v; this test expects no mention", s.cfg.Slack.MentionOnFailure)
		}
		calls := &slackCalls{slack: s.slack}
		s.emu.Put(labeling.Job{Name: "cats", Status: labeling.StatusInProgress, CreatedAt: time.Now().Add(-time.Hour), ModifiedAt: time.Now().Add(-30 * time.Minute)})
		if r := s.ok(); !r.FirstRun || r.Alerted != 0 {
			t.Fatalf("first run = %+v, want a silent first run", r)
		}
		const reason = "ClientError: the input manifest is unreadable"
		s.emu.Update("cats", func(j *labeling.Job) { j.Status = labeling.StatusFailed; j.FailureReason = reason })
		if r := s.ok(); r.Alerted != 1 || r.Pending != 0 {
			t.Errorf("run where the job fails = %+v, want 1 alerted", r)
		}
		wantCalls(t, "job fails", calls.next(), "post")
		s.wantVia("job fails", 0, false)
		alert := s.lastCall()
		if b, _ := json.Marshal(alert.Blocks); !strings.Contains(alert.Text, "cats") || !strings.Contains(alert.Text+string(b), reason) {
			t.Errorf("the alert %q (blocks %s) does not name cats and its failure reason", alert.Text, b)
		}
		if m := mentionsIn(alert); len(m) != 0 {
			t.Errorf("the alert mentions %v: %q", m, alert.Text)
		}
		s.quiet("the next run")
		if leak := leakedSecret(s.output(s.lambda)); leak != "" {
			t.Errorf("the function's output shows the credential %q", leak)
		}
	})

	// The old function looked for cards by asking its notifier for a Mode
	// method, which the notifier of a credential held in a secret lacks: as
	// deployed, it never posted a card. Here a running job gets a card,
	// made and edited with the bot token from the secret, and its outcome
	// is a reply in the card's thread.
	t.Run("card by bot token", func(t *testing.T) {
		s := d.start(t, botToken, nil)
		if s.cfg.Slack.Cards != config.CardsAuto || len(s.cfg.Milestones) != 0 {
			t.Fatalf("SlackCards %v, ProgressMilestones %v by default; this test expects cards with a bot token and no milestones", s.cfg.Slack.Cards, s.cfg.Milestones)
		}
		// SlackBroadcast=all shows every outcome in the channel too.
		outcome := "reply %s"
		if s.cfg.Slack.Broadcast == config.BroadcastAll {
			outcome += " broadcast"
		}
		s.seed()
		calls := &slackCalls{slack: s.slack}
		const job = "cats"
		s.emu.Put(labeling.Job{Name: job, Status: labeling.StatusInitializing, CreatedAt: time.Now().Add(-time.Minute)})
		if r := s.ok(); r.News != 1 {
			t.Errorf("job starts: result %+v, want its card told", r)
		}
		wantCalls(t, "job starts", calls.next(), "post")
		ts := s.lastTS()
		s.wantCard(job, ts)

		s.emu.Update(job, func(j *labeling.Job) { j.Status = labeling.StatusInProgress; progressed(10)(j) })
		s.ok()
		wantCalls(t, "labeling starts", calls.next(), "edit "+ts)
		// No milestones by default: past 50% and 90% the card is edited,
		// and nothing is said in its thread.
		s.emu.Update(job, progressed(95))
		s.ok()
		wantCalls(t, "labeling moves", calls.next(), "edit "+ts)
		s.quiet("nothing moved")

		s.emu.Update(job, func(j *labeling.Job) { j.Status = labeling.StatusCompleted; progressed(100)(j) })
		if r := s.ok(); r.Alerted != 1 || r.Pending != 0 {
			t.Errorf("job ends: result %+v, want 1 alerted", r)
		}
		wantCalls(t, "job ends", calls.next(), "edit "+ts, fmt.Sprintf(outcome, ts))
		s.wantVia("every step", 0, true)
		s.wantAlerted(job, labeling.StatusCompleted)
		if card := s.message(ts); card.Edits != 3 || !strings.Contains(strings.ToLower(card.Text), "completed") {
			t.Errorf("the card after the end: %q, edited %d times; want it edited 3 times, showing the job completed", card.Text, card.Edits)
		}
		s.quiet("after the end")
		if leak := leakedSecret(s.output(s.lambda)); leak != "" {
			t.Errorf("the function's output shows the credential %q", leak)
		}
	})

	// More jobs end in one run than DigestThreshold: one digest message.
	t.Run("digest", func(t *testing.T) {
		s := d.start(t, botToken, nil)
		n := s.cfg.DigestThreshold + 1
		for i := range n {
			s.emu.Put(labeling.Job{Name: fmt.Sprintf("batch-%02d", i), Status: labeling.StatusInProgress, CreatedAt: time.Now().Add(-time.Hour)})
		}
		if r := s.ok(); !r.FirstRun || r.Listed != n {
			t.Fatalf("first run = %+v, want %d jobs listed", r, n)
		}
		calls := &slackCalls{slack: s.slack}
		for _, j := range s.emu.Jobs() {
			s.emu.Update(j.Name, func(j *labeling.Job) { j.Status = labeling.StatusCompleted })
		}
		if r := s.ok(); r.Alerted != n || r.Pending != 0 {
			t.Errorf("run where %d jobs end = %+v, want them alerted", n, r)
		}
		wantCalls(t, fmt.Sprintf("%d jobs end", n), calls.next(), "post")
		if want := fmt.Sprintf("%d labeling jobs finished", n); !strings.HasPrefix(s.lastCall().Text, want) {
			t.Errorf("the digest says %q, want it to start with %q", s.lastCall().Text, want)
		}
		s.quiet("the next run")
	})

	// A job that stalls for StuckAfter, and one whose failed objects pass
	// FailedObjectsWarn, are each warned about once, in the card's thread
	// and the channel; where the defaults turn a warning off, there is none.
	t.Run("warnings", func(t *testing.T) {
		s := d.start(t, botToken, nil)
		s.seed()
		calls := &slackCalls{slack: s.slack}
		const stall, lossy = "stall", "lossy"
		s.emu.Put(labeling.Job{Name: stall, Status: labeling.StatusInProgress, CreatedAt: time.Now().Add(-time.Minute)})
		s.emu.Update(stall, progressed(30))
		s.ok()
		wantCalls(t, "stall starts", calls.next(), "post")
		stallCard := s.lastTS()
		s.emu.Put(labeling.Job{Name: lossy, Status: labeling.StatusInProgress, CreatedAt: time.Now().Add(-time.Minute)})
		s.emu.Update(lossy, progressed(10))
		s.ok()
		wantCalls(t, "lossy starts", calls.next(), "post")
		lossyCard := s.lastTS()

		var want []string
		if s.cfg.StuckAfter > 0 {
			s.stallSince(stall, time.Now().Add(-s.cfg.StuckAfter-time.Hour), s.cfg.StuckAfter)
			want = []string{"reply " + stallCard + " broadcast"}
		}
		s.ok()
		wantCalls(t, "stall stalled", calls.next(), want...)
		if len(want) > 0 && !strings.Contains(s.lastCall().Text, "has not moved") {
			t.Errorf("the warning %q does not say the job has not moved", s.lastCall().Text)
		}

		// 6 of 56 processed objects failed: over 10%.
		s.emu.Update(lossy, func(j *labeling.Job) { j.Counters = labeling.Counters{Total: 50, Human: 50, Failed: 6, Unlabeled: 44} })
		want = []string{"edit " + lossyCard}
		if s.cfg.FailedObjectsWarn > 0 {
			want = append(want, "reply "+lossyCard+" broadcast")
		}
		s.ok()
		wantCalls(t, "lossy fails objects", calls.next(), want...)
		if len(want) > 1 && !strings.Contains(s.lastCall().Text, "6 of 56 processed objects failed") {
			t.Errorf("the warning %q does not say how many objects failed", s.lastCall().Text)
		}
		s.wantVia("every step", 0, true)
		s.quiet("the run after the warnings")
	})

	// A state change event: the function reads the job with Describe and
	// alerts at once, without a poll.
	t.Run("push", func(t *testing.T) {
		s := d.start(t, botToken, nil)
		s.emu.Put(labeling.Job{Name: sampleJob, Status: labeling.StatusInProgress, CreatedAt: time.Now().Add(-time.Hour), ModifiedAt: time.Now().Add(-30 * time.Minute)})
		s.ok()
		calls := &slackCalls{slack: s.slack}
		s.emu.Update(sampleJob, func(j *labeling.Job) { j.Status = labeling.StatusCompleted })
		event := s.stateChange(sampleJob, labeling.StatusCompleted)
		s.wantRule(t, event)
		listed := s.pages.distinct()
		r := s.send(event)
		wantTrigger(t, r, app.TriggerPush, sampleJob)
		if r.Alerted != 1 {
			t.Errorf("push = %+v, want %s alerted", r, sampleJob)
		}
		if n := s.pages.distinct() - listed; n != 0 {
			t.Errorf("the push listed %d pages of jobs, want none: Describe reads the one job", n)
		}
		wantCalls(t, "the event", calls.next(), "post")
		if text := s.lastCall().Text; !strings.Contains(text, sampleJob) || !strings.Contains(text, "completed") {
			t.Errorf("the alert %q does not say %s completed", text, sampleJob)
		}
		s.wantAlerted(sampleJob, labeling.StatusCompleted)
		s.quiet("the next poll")
	})

	// MentionOnFailure set at deploy (sam deploy --parameter-overrides
	// MentionOnFailure=U0ONCALL1,here): the failure's reply pages them,
	// the card does not.
	t.Run("mentions", func(t *testing.T) {
		s := d.start(t, botToken, map[string]string{"MentionOnFailure": "U0ONCALL1,here"})
		s.seed()
		calls := &slackCalls{slack: s.slack}
		s.emu.Put(labeling.Job{Name: "bad", Status: labeling.StatusInProgress, CreatedAt: time.Now().Add(-time.Minute)})
		s.ok()
		wantCalls(t, "job starts", calls.next(), "post")
		ts := s.lastTS()
		s.emu.Update("bad", func(j *labeling.Job) { j.Status = labeling.StatusFailed; j.FailureReason = "ClientError: no workers" })
		s.ok()
		wantCalls(t, "job fails", calls.next(), "edit "+ts, "reply "+ts+" broadcast")
		for _, c := range s.slack.Calls() {
			switch m := mentionsIn(c); {
			case c.ThreadTS == ts:
				if !strings.HasPrefix(c.Text, "<@U0ONCALL1> <!here> ") {
					t.Errorf("the failure's reply %q does not start with the mentions", c.Text)
				}
			case len(m) != 0:
				t.Errorf("%s mentions %v: %q", c, m, c.Text)
			}
		}
	})

	// Regions set at deploy (--parameter-overrides Regions=eu-west-1): one
	// job name in both regions is two jobs, each alerted once, each message
	// naming its region, each region with its cursor.
	t.Run("regions", func(t *testing.T) {
		s := d.start(t, webhook, map[string]string{"Regions": "eu-west-1"})
		west := s.estate.Add(emulator.Place{Account: testenv.LambdaAccount, Region: "eu-west-1"})
		for _, emu := range []*emulator.Emulator{s.emu, west} {
			emu.Put(labeling.Job{Name: "cats", Status: labeling.StatusInProgress, CreatedAt: time.Now().Add(-time.Hour), ModifiedAt: time.Now().Add(-30 * time.Minute)})
		}
		if r := s.ok(); !r.FirstRun || r.Alerted != 0 {
			t.Fatalf("first run = %+v, want a silent first run in each region", r)
		}
		for _, emu := range []*emulator.Emulator{s.emu, west} {
			emu.Update("cats", func(j *labeling.Job) { j.Status, j.ModifiedAt = labeling.StatusFailed, time.Time{} })
		}
		if r := s.ok(); r.Alerted != 2 || r.Pending != 0 {
			t.Errorf("run where cats fails in both regions = %+v, want 2 alerted", r)
		}
		var named []string
		for _, c := range s.slack.Calls() {
			for _, region := range []string{"us-east-1", "eu-west-1"} {
				if b, _ := json.Marshal(c.Blocks); strings.Contains(string(b), region) {
					named = append(named, region)
				}
			}
		}
		if slices.Sort(named); !slices.Equal(named, []string{"eu-west-1", "us-east-1"}) {
			t.Errorf("the alerts name regions %v, want eu-west-1 and us-east-1 once each", named)
		}
		s.quiet("the next run")
	})

	// AccountRoleArns, ExternalId and AccountNames set at deploy: the
	// function assumes the member account's role (STS on moto) and alerts
	// its job, naming the account by its display name and ID.
	t.Run("accounts", func(t *testing.T) {
		const member = "222222222222"
		s := d.start(t, webhook, map[string]string{
			"AccountRoleArns": "arn:aws:iam::" + member + ":role/labelwatch-read", "ExternalId": "lw-test",
			"AccountNames": member + "=Vision & Speech",
		})
		theirs := s.estate.Add(emulator.Place{Account: member, Region: deployedRegion})
		theirs.Put(labeling.Job{Name: "cats", Status: labeling.StatusInProgress, CreatedAt: time.Now().Add(-time.Hour), ModifiedAt: time.Now().Add(-30 * time.Minute)})
		if r := s.ok(); !r.FirstRun || r.Alerted != 0 {
			t.Fatalf("first run = %+v, want a silent first run", r)
		}
		theirs.Update("cats", func(j *labeling.Job) { j.Status, j.ModifiedAt = labeling.StatusFailed, time.Time{} })
		if r := s.ok(); r.Alerted != 1 || r.Pending != 0 {
			t.Errorf("run where the member's job fails = %+v, want 1 alerted", r)
		}
		// The name, escaped as mrkdwn, beside the ID.
		if b, _ := json.Marshal(s.lastCall().Blocks); !strings.Contains(string(b), `Vision \u0026amp; Speech (`+member+`)`) {
			t.Errorf("the alert does not name account %s as Vision & Speech: %s", member, b)
		}
		s.quiet("the next run")
	})

	// Routes set at deploy, over two accounts and two regions: each job's
	// alert goes to the channel or the secret's named webhook its route
	// names, with that route's mentions; one matching two routes goes to
	// both, once each; the rest goes to the secret's own channel with
	// MentionOnFailure.
	t.Run("routes", func(t *testing.T) {
		const member = "222222222222"
		withHooks := func(slackURL string) map[string]any {
			c := botToken(slackURL)
			c["webhooks"] = map[string]string{"vision": testenv.NewSlackHookURL(slackURL, "vision")}
			return c
		}
		s := d.start(t, withHooks, map[string]string{
			"Regions": "eu-west-1", "AccountRoleArns": "arn:aws:iam::" + member + ":role/labelwatch-read",
			"AccountNames": member + "=research", "MentionOnFailure": "U0DEFAULT1",
			"Routes": `[{"account": "research", "status": "Failed", "channel": "C0RESEARCH1", "mention_on_failure": "S0ONCALL1", "continue": true},
				{"region": "eu-west-1", "webhook": "vision", "mention_on_failure": ["here"]}]`,
		})
		s.slack.Open("C0RESEARCH1")
		places := map[string]*emulator.Emulator{
			"home us-east-1":   s.emu,
			"home eu-west-1":   s.estate.Add(emulator.Place{Account: testenv.LambdaAccount, Region: "eu-west-1"}),
			"member us-east-1": s.estate.Add(emulator.Place{Account: member, Region: deployedRegion}),
			"member eu-west-1": s.estate.Add(emulator.Place{Account: member, Region: "eu-west-1"}),
		}
		for _, emu := range places {
			emu.Put(labeling.Job{Name: "cats", Status: labeling.StatusInProgress, CreatedAt: time.Now().Add(-time.Hour), ModifiedAt: time.Now().Add(-30 * time.Minute)})
		}
		if r := s.ok(); !r.FirstRun || r.Alerted != 0 {
			t.Fatalf("first run = %+v, want a silent first run in each place", r)
		}
		for place, emu := range places {
			status := labeling.StatusFailed
			if place == "home eu-west-1" {
				status = labeling.StatusCompleted
			}
			emu.Update("cats", func(j *labeling.Job) { j.Status, j.ModifiedAt = status, time.Time{} })
		}
		if r := s.ok(); r.Alerted != 5 || r.Pending != 0 {
			t.Errorf("run where cats ends in four places = %+v, want 5 alerted (one twice)", r)
		}
		// Where each alert went, what place it names, whom it mentions.
		var got []string
		for _, c := range s.slack.Calls() {
			to := "channel " + c.Channel
			if c.Method == testenv.SlackWebhook {
				to = "hook " + c.Hook
			}
			b, _ := json.Marshal(c.Blocks)
			place := "home"
			if strings.Contains(string(b), "research ("+member+")") {
				place = "member"
			}
			for _, region := range []string{"us-east-1", "eu-west-1"} {
				if strings.Contains(string(b), region) {
					place += " " + region
				}
			}
			got = append(got, fmt.Sprintf("%s to %s mentioning %q", place, to, mentionsIn(c)))
		}
		slices.Sort(got)
		want := []string{
			`home eu-west-1 to hook vision mentioning []`,
			`home us-east-1 to channel ` + testenv.SlackChannel + ` mentioning ["<@"]`,
			`member eu-west-1 to channel C0RESEARCH1 mentioning ["<!subteam^"]`,
			`member eu-west-1 to hook vision mentioning ["<!here>"]`,
			`member us-east-1 to channel C0RESEARCH1 mentioning ["<!subteam^"]`,
		}
		if !slices.Equal(got, want) {
			t.Errorf("alerts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		s.quiet("the next run")
	})

	// Routes the secret cannot serve: a channel, with a webhook in the
	// secret, and a named webhook it does not hold. The cold start fails,
	// naming both, and nothing is listed or posted.
	t.Run("routes the secret cannot serve", func(t *testing.T) {
		s := d.start(t, webhook, map[string]string{"Routes": `[{"status": "Failed", "channel": "C0ONCALL01"}, {"webhook": "vision"}]`})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		body, err := s.lambda.Invoke(ctx, s.event)
		if err != nil {
			t.Fatal(err)
		}
		if r := (app.Result{}); len(body) > 0 && (json.Unmarshal(body, &r) != nil || r.ErrorType == "") {
			t.Fatalf("the function started: %s", body)
		}
		s.lambda.Kill() // so Output holds every line written
		out := s.lambda.Output()
		line := coldStartLine(out)
		for _, want := range []string{s.secretARN, "ROUTES route 1 posts to channel C0ONCALL01, which needs a bot token", `ROUTES route 2 names webhook \"vision\"`} {
			if !strings.Contains(line, want) {
				t.Errorf("the cold start error line does not say %q:\n%s", want, out)
			}
		}
		if s.slack.Requests() != 0 {
			t.Errorf("a function whose routes its secret cannot serve posted")
		}
	})

	// The secret changes from a webhook to a bot token, and cards start.
	// The old webhook still working, the function would take the new
	// credential at the first run secret.DefaultMaxAge (15 minutes) after
	// it read the secret, a clock this test cannot move; so the old webhook
	// is refused (404 no_service, as a removed hook answers), which makes
	// the function read the secret again and send with the bot token.
	t.Run("rotation from webhook to bot token", func(t *testing.T) {
		s := d.start(t, webhook, nil)
		s.seed()
		calls := &slackCalls{slack: s.slack}
		s.emu.Put(labeling.Job{Name: "cats", Status: labeling.StatusInProgress, CreatedAt: time.Now().Add(-time.Minute)})
		if r := s.quiet("a job starts, with a webhook"); r.Running != 1 {
			t.Errorf("run = %+v, want the job running, and no card: a webhook cannot edit", r)
		}

		if _, err := d.secrets.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{
			SecretId: aws.String(s.secretARN), SecretString: aws.String(secretJSON(t, botToken(""))),
		}); err != nil {
			t.Fatal(err)
		}
		s.slack.FailNext(1, testenv.SlackFault{Status: http.StatusNotFound, Body: "no_service"})
		s.emu.Update("cats", func(j *labeling.Job) { j.Status = labeling.StatusFailed; j.FailureReason = "ClientError: boom" })
		if r := s.ok(); r.Alerted != 1 {
			t.Errorf("run after the rotation = %+v, want the alert sent", r)
		}
		wantCalls(t, "the webhook refused", calls.next(), "post")
		first := len(s.slack.Calls()) - 1
		s.wantVia("the webhook refused", first, true)

		s.emu.Put(labeling.Job{Name: "dogs", Status: labeling.StatusInProgress, CreatedAt: time.Now().Add(-time.Minute)})
		s.ok()
		wantCalls(t, "a job starts, with a bot token", calls.next(), "post")
		ts := s.lastTS()
		s.wantCard("dogs", ts)
		s.emu.Update("dogs", progressed(40))
		s.ok()
		wantCalls(t, "the job moves", calls.next(), "edit "+ts)
		s.wantVia("with the bot token", first, true)
		if out := s.output(s.lambda); !strings.Contains(out, "took the new one from its secret") {
			t.Errorf("no log line says the new credential was taken from the secret:\n%s", out)
		}
	})
}
