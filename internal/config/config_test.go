package config

import (
	"log/slog"
	"maps"
	"math"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labelwatch/labelwatch/internal/labeling"
)

// The secrets carry the marker "SECRET"; no error may contain it.
const (
	testWebhook = "https://hooks.example.test/services/TESTSECRET/BTESTSECRET/hook"
	testToken   = "test-bot-token-SECRET"
)

// testSecretARN is the ARN of a secret as Secrets Manager makes them: the
// name, then six random characters.
const testSecretARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:labelwatch/slack-AbCdEf"

// env is a getenv over vars, on top of a minimal valid deployed setting
// unless vars unsets them with "".
func env(vars map[string]string) func(string) string {
	all := map[string]string{"STATE_TABLE": "labelwatch-state", "SLACK_WEBHOOK_URL": testWebhook}
	maps.Copy(all, vars)
	return func(name string) string {
		if !slices.Contains(Variables(), name) {
			panic("config read undeclared variable " + name)
		}
		return all[name]
	}
}

func statusSet(s ...labeling.Status) map[labeling.Status]bool {
	set := map[labeling.Status]bool{}
	for _, st := range s {
		set[st] = true
	}
	return set
}

func TestLoadDefaults(t *testing.T) {
	got, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		StateTable: "labelwatch-state",
		Slack: Slack{
			Mode:       ModeWebhook,
			WebhookURL: testWebhook,
			APIURL:     DefaultSlackAPIURL,
			Timeout:    10 * time.Second,
			Pace:       time.Second,
		},
		AlertOn:           statusSet(labeling.StatusFailed, labeling.StatusCompleted, labeling.StatusStopped),
		Lookback:          time.Hour,
		Overlap:           10 * time.Minute,
		Retention:         90 * 24 * time.Hour,
		DeadlineMargin:    5 * time.Second,
		ClockSkew:         30 * time.Second,
		DigestThreshold:   10,
		StuckAfter:        6 * time.Hour,
		FailedObjectsWarn: 0.01,
	}
	checkConfig(t, got, want)
}

// TestDefaultAlertOnIsDocumented holds the README to ALERT_ON's default,
// labeling.DefaultAlerting: the same statuses, in any order.
func TestDefaultAlertOnIsDocumented(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `ALERT_ON` \\| `([^`]*)` \\|").FindSubmatch(readme)
	if row == nil {
		t.Fatal("README.md's configuration table has no default for ALERT_ON")
	}
	documented := statusSet()
	for _, s := range strings.Split(string(row[1]), ",") {
		documented[labeling.Status(s)] = true
	}
	if want := statusSet(labeling.DefaultAlerting...); !maps.Equal(documented, want) {
		t.Errorf("README.md documents ALERT_ON's default as %s, want the statuses of labeling.DefaultAlerting %v", row[1], labeling.DefaultAlerting)
	}
}

func TestLoadEveryVariable(t *testing.T) {
	tests := []struct {
		name  string
		load  func(func(string) string) (Config, error)
		vars  map[string]string
		check func(t *testing.T, c Config)
	}{
		{
			name: "webhook mode with every setting",
			load: Load,
			vars: map[string]string{
				"STATE_TABLE":           " my-table ",
				"NAME_CONTAINS":         "cats",
				"ALERT_ON":              " Failed , Stopping,Initializing ",
				"LOOKBACK":              "2h30m",
				"OVERLAP":               "90s",
				"RETENTION":             "30d",
				"DEADLINE_MARGIN":       "8s",
				"CLOCK_SKEW":            "2s",
				"DIGEST_THRESHOLD":      "25",
				"IGNORE_CREATED_BEFORE": "2026-01-02T15:04:05+01:00",
				"SLACK_TIMEOUT":         "3s",
				"SLACK_PACE":            "0s",
				"LOG_LEVEL":             " DEBUG ",
				"MENTION_ON_FAILURE":    " U024BE7LH, here ,S0614TZR7,W123ABC,U024BE7LH,",
				"SLACK_CARDS":           "off",
				"PROGRESS_MILESTONES":   " 90, 25 ,50,25",
				"STUCK_AFTER":           "1h30m",
				"FAILED_OBJECTS_WARN":   "0.5%",
				"REGIONS":               " us-east-1, eu-west-1 ,us-gov-west-1,eu-west-1",
				"ACCOUNT_ROLES":         "arn:aws:iam::222222222222:role/labelwatch-read, arn:aws:iam::333333333333:role/team/lw",
				"EXTERNAL_ID":           "labelwatch-7f3a",
				"ACCOUNT_NAMES":         "222222222222=research , 333333333333 = Vision & Speech",
			},
			check: func(t *testing.T, c Config) {
				checkConfig(t, c, Config{
					Regions:             []string{"us-east-1", "eu-west-1", "us-gov-west-1"},
					AccountRoles:        []string{"arn:aws:iam::222222222222:role/labelwatch-read", "arn:aws:iam::333333333333:role/team/lw"},
					ExternalID:          "labelwatch-7f3a",
					AccountNames:        map[string]string{"222222222222": "research", "333333333333": "Vision & Speech"},
					LogLevel:            slog.LevelDebug,
					StateTable:          "my-table",
					NameContains:        "cats",
					AlertOn:             statusSet(labeling.StatusFailed, labeling.StatusStopping, labeling.StatusInitializing),
					Lookback:            150 * time.Minute,
					Overlap:             90 * time.Second,
					Retention:           30 * 24 * time.Hour,
					DeadlineMargin:      8 * time.Second,
					ClockSkew:           2 * time.Second,
					DigestThreshold:     25,
					IgnoreCreatedBefore: time.Date(2026, 1, 2, 14, 4, 5, 0, time.UTC),
					Milestones:          []int{25, 50, 90},
					StuckAfter:          90 * time.Minute,
					FailedObjectsWarn:   0.005,
					Slack: Slack{
						Mode: ModeWebhook, WebhookURL: testWebhook, APIURL: DefaultSlackAPIURL,
						Timeout: 3 * time.Second, Pace: 0,
						MentionOnFailure: []string{"U024BE7LH", "here", "S0614TZR7", "W123ABC"},
						Cards:            CardsOff,
					},
				})
			},
		},
		{
			name: "bot mode, API URL gets its trailing slash",
			load: Load,
			vars: map[string]string{
				"SLACK_WEBHOOK_URL": "",
				"SLACK_BOT_TOKEN":   testToken,
				"SLACK_CHANNEL":     "C0123456789",
				"SLACK_API_URL":     "http://127.0.0.1:8080/api",
				"ALERT_ON":          "InProgress,Completed",
			},
			check: func(t *testing.T, c Config) {
				s := c.Slack
				if s.Mode != ModeBot || s.BotToken != testToken || s.Channel != "C0123456789" || s.APIURL != "http://127.0.0.1:8080/api/" {
					t.Errorf("Slack = mode %v, channel %q, API URL %q; want bot mode to C0123456789 at http://127.0.0.1:8080/api/", s.Mode, s.Channel, s.APIURL)
				}
				if want := statusSet(labeling.StatusInProgress, labeling.StatusCompleted); !maps.Equal(c.AlertOn, want) {
					t.Errorf("AlertOn = %v, want %v", c.AlertOn, want)
				}
			},
		},
		{
			name: "Slack credential from a secret",
			load: Load,
			vars: map[string]string{"SLACK_WEBHOOK_URL": "", "SLACK_SECRET_ARN": " " + testSecretARN + " ", "SLACK_API_URL": "http://127.0.0.1:8080/api/"},
			check: func(t *testing.T, c Config) {
				s := c.Slack
				if s.Mode != ModeSecret || s.SecretARN != testSecretARN || s.WebhookURL != "" || s.BotToken != "" || s.APIURL != "http://127.0.0.1:8080/api/" {
					t.Errorf("Slack = %+v; want secret mode with %s", s, testSecretARN)
				}
			},
		},
		{
			name: "partial secret ARN in another partition",
			load: Load,
			vars: map[string]string{"SLACK_WEBHOOK_URL": "", "SLACK_SECRET_ARN": "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:team/slack_alerts+prod"},
			check: func(t *testing.T, c Config) {
				if c.Slack.Mode != ModeSecret {
					t.Errorf("Slack mode %v, want secret", c.Slack.Mode)
				}
			},
		},
		{
			name: "log levels",
			load: Load,
			vars: map[string]string{"LOG_LEVEL": "warn"},
			check: func(t *testing.T, c Config) {
				if c.LogLevel != slog.LevelWarn {
					t.Errorf("LogLevel = %v, want WARN", c.LogLevel)
				}
			},
		},
		{
			name: "error log level, local",
			load: LoadLocal,
			vars: map[string]string{"LOG_LEVEL": "Error"},
			check: func(t *testing.T, c Config) {
				if c.LogLevel != slog.LevelError {
					t.Errorf("LogLevel = %v, want ERROR", c.LogLevel)
				}
			},
		},
		{
			name: "plain http to loopback hosts",
			load: Load,
			vars: map[string]string{"SLACK_WEBHOOK_URL": "http://localhost:9000/services/x", "SLACK_API_URL": "http://[::1]:9/api/"},
			check: func(t *testing.T, c Config) {
				if c.Slack.WebhookURL != "http://localhost:9000/services/x" || c.Slack.APIURL != "http://[::1]:9/api/" {
					t.Errorf("Slack URLs = %q, %q", c.Slack.WebhookURL, c.Slack.APIURL)
				}
			},
		},
		{
			name: "local run needs neither table nor Slack",
			load: LoadLocal,
			vars: map[string]string{"STATE_TABLE": "", "SLACK_WEBHOOK_URL": ""},
			check: func(t *testing.T, c Config) {
				if c.StateTable != "" || c.Slack.Mode != ModePrint {
					t.Errorf("StateTable %q, Slack mode %v; want none and print", c.StateTable, c.Slack.Mode)
				}
				if c.Lookback != DefaultLookback || c.DigestThreshold != DefaultDigestThreshold {
					t.Errorf("defaults not applied: %+v", c)
				}
			},
		},
		{
			name: "local run posts when Slack is set",
			load: LoadLocal,
			vars: map[string]string{"STATE_TABLE": ""},
			check: func(t *testing.T, c Config) {
				if c.Slack.Mode != ModeWebhook || c.Slack.WebhookURL != testWebhook {
					t.Errorf("Slack mode %v, want webhook", c.Slack.Mode)
				}
			},
		},
		{
			name: "mention the channel, local",
			load: LoadLocal,
			vars: map[string]string{"STATE_TABLE": "", "SLACK_WEBHOOK_URL": "", "MENTION_ON_FAILURE": "channel"},
			check: func(t *testing.T, c Config) {
				if !slices.Equal(c.Slack.MentionOnFailure, []string{"channel"}) {
					t.Errorf("MentionOnFailure = %q, want [channel]", c.Slack.MentionOnFailure)
				}
			},
		},
		{
			name: "days unit",
			load: Load,
			vars: map[string]string{"LOOKBACK": "2d"},
			check: func(t *testing.T, c Config) {
				if c.Lookback != 48*time.Hour {
					t.Errorf("Lookback = %v, want 48h", c.Lookback)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.load(env(tt.vars))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

// TestLoadJobWatchSettings covers each accepted form of SLACK_CARDS,
// PROGRESS_MILESTONES, STUCK_AFTER and FAILED_OBJECTS_WARN; a case sets one
// or two of them and wants the others at their defaults.
func TestLoadJobWatchSettings(t *testing.T) {
	type settings struct {
		cards             Cards
		milestones        []int
		stuckAfter        time.Duration
		failedObjectsWarn float64
	}
	defaults := settings{cards: CardsAuto, stuckAfter: 6 * time.Hour, failedObjectsWarn: 0.01}
	with := func(change func(*settings)) settings {
		s := defaults
		change(&s)
		return s
	}
	bot := map[string]string{"SLACK_WEBHOOK_URL": "", "SLACK_BOT_TOKEN": testToken, "SLACK_CHANNEL": "C0123456789"}
	tests := []struct {
		name  string
		local bool // LoadLocal instead of Load
		vars  map[string]string
		want  settings
	}{
		{name: "defaults", want: defaults},
		{name: "empty values are the defaults", vars: map[string]string{"SLACK_CARDS": " ", "PROGRESS_MILESTONES": " ", "STUCK_AFTER": " ", "FAILED_OBJECTS_WARN": " "}, want: defaults},

		{name: "cards on with a bot token", vars: mergeVars(bot, map[string]string{"SLACK_CARDS": "on"}), want: with(func(s *settings) { s.cards = CardsOn })},
		{name: "cards on, upper case, with a secret", vars: map[string]string{"SLACK_WEBHOOK_URL": "", "SLACK_SECRET_ARN": testSecretARN, "SLACK_CARDS": " ON "}, want: with(func(s *settings) { s.cards = CardsOn })},
		{name: "cards on, printing locally", local: true, vars: map[string]string{"STATE_TABLE": "", "SLACK_WEBHOOK_URL": "", "SLACK_CARDS": "on"}, want: with(func(s *settings) { s.cards = CardsOn })},
		{name: "cards off with a webhook", vars: map[string]string{"SLACK_CARDS": "off"}, want: with(func(s *settings) { s.cards = CardsOff })},
		{name: "cards off with a bot token", vars: mergeVars(bot, map[string]string{"SLACK_CARDS": "Off"}), want: with(func(s *settings) { s.cards = CardsOff })},

		{name: "one milestone", vars: map[string]string{"PROGRESS_MILESTONES": "50"}, want: with(func(s *settings) { s.milestones = []int{50} })},
		{name: "milestones sorted, each once", vars: map[string]string{"PROGRESS_MILESTONES": "90,50,90,10"}, want: with(func(s *settings) { s.milestones = []int{10, 50, 90} })},
		{name: "milestones with spaces and empty items", vars: map[string]string{"PROGRESS_MILESTONES": " 1 , 99,, "}, want: with(func(s *settings) { s.milestones = []int{1, 99} })},
		{name: "milestones with only commas are none", vars: map[string]string{"PROGRESS_MILESTONES": ", ,"}, want: defaults},

		{name: "stuck after minutes", vars: map[string]string{"STUCK_AFTER": "90m"}, want: with(func(s *settings) { s.stuckAfter = 90 * time.Minute })},
		{name: "stuck after mixed units", vars: map[string]string{"STUCK_AFTER": "1h30m"}, want: with(func(s *settings) { s.stuckAfter = 90 * time.Minute })},
		{name: "stuck after days", vars: map[string]string{"STUCK_AFTER": "2d"}, want: with(func(s *settings) { s.stuckAfter = 48 * time.Hour })},
		{name: "stuck after exactly a minute", vars: map[string]string{"STUCK_AFTER": "60s"}, want: with(func(s *settings) { s.stuckAfter = time.Minute })},
		{name: "stuck check off by 0", vars: map[string]string{"STUCK_AFTER": "0"}, want: with(func(s *settings) { s.stuckAfter = 0 })},
		{name: "stuck check off by 0s", vars: map[string]string{"STUCK_AFTER": "0s"}, want: with(func(s *settings) { s.stuckAfter = 0 })},
		{name: "stuck check off by off", vars: map[string]string{"STUCK_AFTER": " OFF "}, want: with(func(s *settings) { s.stuckAfter = 0 })},

		{name: "failed objects percent", vars: map[string]string{"FAILED_OBJECTS_WARN": "1%"}, want: defaults},
		{name: "failed objects fractional percent", vars: map[string]string{"FAILED_OBJECTS_WARN": "0.5%"}, want: with(func(s *settings) { s.failedObjectsWarn = 0.005 })},
		{name: "failed objects bare number is a percent", vars: map[string]string{"FAILED_OBJECTS_WARN": "2"}, want: with(func(s *settings) { s.failedObjectsWarn = 0.02 })},
		{name: "failed objects at most everything", vars: map[string]string{"FAILED_OBJECTS_WARN": "100%"}, want: with(func(s *settings) { s.failedObjectsWarn = 1 })},
		{name: "failed objects with a space before the sign", vars: map[string]string{"FAILED_OBJECTS_WARN": " 12.5 % "}, want: with(func(s *settings) { s.failedObjectsWarn = 0.125 })},
		{name: "failed objects warning off by 0", vars: map[string]string{"FAILED_OBJECTS_WARN": "0"}, want: with(func(s *settings) { s.failedObjectsWarn = 0 })},
		{name: "failed objects warning off by 0%", vars: map[string]string{"FAILED_OBJECTS_WARN": "0%"}, want: with(func(s *settings) { s.failedObjectsWarn = 0 })},
		{name: "failed objects warning off by off", vars: map[string]string{"FAILED_OBJECTS_WARN": "off"}, want: with(func(s *settings) { s.failedObjectsWarn = 0 })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			load := Load
			if tt.local {
				load = LoadLocal
			}
			c, err := load(env(tt.vars))
			if err != nil {
				t.Fatal(err)
			}
			got := settings{cards: c.Slack.Cards, milestones: c.Milestones, stuckAfter: c.StuckAfter, failedObjectsWarn: c.FailedObjectsWarn}
			if got.cards != tt.want.cards || !slices.Equal(got.milestones, tt.want.milestones) || got.stuckAfter != tt.want.stuckAfter ||
				math.Abs(got.failedObjectsWarn-tt.want.failedObjectsWarn) > 1e-12 {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if len(tt.want.milestones) == 0 && got.milestones != nil {
				t.Errorf("Milestones = %#v, want nil", got.milestones)
			}
		})
	}
}

func TestLoadBroadcast(t *testing.T) {
	tests := []struct {
		value string
		want  Broadcast
		bad   bool
	}{
		{value: "", want: BroadcastAll},
		{value: " ", want: BroadcastAll},
		{value: "all", want: BroadcastAll},
		{value: "failures", want: BroadcastFailures},
		{value: " Failures ", want: BroadcastFailures},
		{value: "none", bad: true},
		{value: "completions", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			c, err := Load(env(map[string]string{"SLACK_BROADCAST": tt.value, "LOOKBACK": "soon"}))
			if tt.bad {
				if err == nil || !strings.Contains(err.Error(), "SLACK_BROADCAST") || !strings.Contains(err.Error(), "LOOKBACK") {
					t.Fatalf("Load = %v, want an error naming SLACK_BROADCAST and LOOKBACK", err)
				}
				return
			}
			if err == nil || strings.Contains(err.Error(), "SLACK_BROADCAST") {
				t.Fatalf("Load = %v, want only LOOKBACK's error", err)
			}
			c, err = Load(env(map[string]string{"SLACK_BROADCAST": tt.value}))
			if err != nil || c.Slack.Broadcast != tt.want {
				t.Errorf("Broadcast = %v, %v; want %v", c.Slack.Broadcast, err, tt.want)
			}
		})
	}
}

// mergeVars is a and b in one map, b's value where both set a variable.
func mergeVars(a, b map[string]string) map[string]string {
	m := maps.Clone(a)
	maps.Copy(m, b)
	return m
}

// problemLine matches one problem in a configuration error: a variable, or
// a variable and the value at fault ("SLACK_CARDS=on"), then the problem.
var problemLine = regexp.MustCompile(`(?m)^  [A-Z_]+(=\S+)? `)

func TestLoadRoutes(t *testing.T) {
	c, err := Load(env(map[string]string{
		"SLACK_WEBHOOK_URL": "", "SLACK_SECRET_ARN": testSecretARN,
		"ACCOUNT_NAMES": "222222222222=research",
		"ROUTES": `[{"account": "research", "region": ["eu-west-1", "us-east-1"], "name": "cats-*", "status": ["Failed", "Stopped"],
			"channel": " C0RESEARCH1 ", "mention_on_failure": ["S0ONCALL1", "here"], "continue": true},
			{"webhook": "vision"}]`,
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := []Route{
		{Accounts: []string{"222222222222"}, Regions: []string{"eu-west-1", "us-east-1"}, Names: []string{"cats-*"},
			Statuses: []labeling.Status{labeling.StatusFailed, labeling.StatusStopped}, Channel: "C0RESEARCH1", MentionOnFailure: []string{"S0ONCALL1", "here"}, Continue: true},
		{Webhook: "vision"},
	}
	if !reflect.DeepEqual(c.Routes, want) {
		t.Fatalf("routes %+v\nwant %+v", c.Routes, want)
	}
	job := func(arn, name string, status labeling.Status) labeling.Job {
		return labeling.Job{ARN: arn, Name: name, Status: status}
	}
	const research, other = "arn:aws:sagemaker:eu-west-1:222222222222:labeling-job/", "arn:aws:sagemaker:eu-west-1:333333333333:labeling-job/"
	for _, tc := range []struct {
		job  labeling.Job
		want bool
	}{
		{job(research+"cats-1", "cats-1", labeling.StatusFailed), true},
		{job(research+"cats-1", "cats-1", labeling.StatusCompleted), false},
		{job(research+"dogs-1", "dogs-1", labeling.StatusFailed), false},
		{job(other+"cats-1", "cats-1", labeling.StatusFailed), false},
		{job("arn:aws:sagemaker:us-west-2:222222222222:labeling-job/cats-1", "cats-1", labeling.StatusStopped), false},
	} {
		if got := c.Routes[0].Matches(tc.job); got != tc.want {
			t.Errorf("route 1 matches %s %s: %v, want %v", tc.job.ARN, tc.job.Status, got, tc.want)
		}
		if !c.Routes[1].Matches(tc.job) {
			t.Errorf("route 2, with no conditions, does not match %s", tc.job.ARN)
		}
	}
}

func TestLoadInvalid(t *testing.T) {
	tests := []struct {
		name     string
		local    bool // LoadLocal instead of Load
		vars     map[string]string
		named    []string // variables the error must name
		says     []string // further text it must hold, such as the item at fault
		problems int      // problems it must list
	}{
		{name: "missing table", vars: map[string]string{"STATE_TABLE": " "}, named: []string{"STATE_TABLE"}, problems: 1},
		{name: "unknown status in ALERT_ON", vars: map[string]string{"ALERT_ON": "Failed,Paused"}, named: []string{"ALERT_ON"}, problems: 1},
		{name: "status in the wrong case", vars: map[string]string{"ALERT_ON": "failed"}, named: []string{"ALERT_ON"}, problems: 1},
		{name: "ALERT_ON with no status", vars: map[string]string{"ALERT_ON": " , ,"}, named: []string{"ALERT_ON"}, problems: 1},
		{name: "duration without unit", vars: map[string]string{"LOOKBACK": "10"}, named: []string{"LOOKBACK"}, problems: 1},
		{name: "duration not a duration", vars: map[string]string{"OVERLAP": "soon"}, named: []string{"OVERLAP"}, problems: 1},
		{name: "negative duration", vars: map[string]string{"DEADLINE_MARGIN": "-5s"}, named: []string{"DEADLINE_MARGIN"}, problems: 1},
		{name: "negative days", vars: map[string]string{"RETENTION": "-2d"}, named: []string{"RETENTION"}, problems: 1},
		{name: "fractional days", vars: map[string]string{"RETENTION": "1.5d"}, named: []string{"RETENTION"}, problems: 1},
		{name: "days beyond a duration's range", vars: map[string]string{"RETENTION": "999999999d"}, named: []string{"RETENTION"}, problems: 1},
		{name: "days that wrap around to 25 minutes", vars: map[string]string{"LOOKBACK": "213504d"}, named: []string{"LOOKBACK"}, problems: 1},
		{name: "zero duration", vars: map[string]string{"LOOKBACK": "0s"}, named: []string{"LOOKBACK"}, problems: 1},
		{name: "ACCOUNT_ROLES not roles, and an account twice", vars: map[string]string{"ACCOUNT_ROLES": "arn:aws:iam::222222222222:user/bob,arn:aws:iam::222222222222:role/a,arn:aws:iam::222222222222:role/b"}, named: []string{"ACCOUNT_ROLES"}, problems: 2},
		{name: "ACCOUNT_NAMES bad pairs", vars: map[string]string{"ACCOUNT_NAMES": "2222=research,222222222222=,333333333333=a,333333333333=b"}, named: []string{"ACCOUNT_NAMES"}, problems: 3},
		{
			name: "ROUTES: every problem of every route",
			vars: map[string]string{"SLACK_WEBHOOK_URL": "", "SLACK_SECRET_ARN": testSecretARN, "ACCOUNT_NAMES": "222222222222=research", "ROUTES": `[
				{"account": ["research", "nobody"], "region": "Europe", "name": "[a-", "status": "failed", "channel": "#ml-team"},
				{"webhook": "Team A", "mention_on_failure": "@alice", "continue": "yes", "chanel": "C0123456"},
				{"channel": "C0123456", "webhook": "team-a"},
				{},
				"C0123456"]`},
			named: []string{"ROUTES route 1", "ROUTES route 2", "ROUTES route 3", "ROUTES route 4", "ROUTES route 5"},
			says: []string{`account "nobody"`, `region "Europe"`, `name "[a-"`, `status "failed"`, `channel "#ml-team" is not a channel's ID`,
				`webhook "Team A"`, `"@alice"`, `"continue" is not true or false`, `unknown key "chanel"`, "needs one destination", "not a JSON object"},
			problems: 12,
		},
		{name: "ROUTES not JSON", vars: map[string]string{"ROUTES": `{"channel": "C0123456"}`}, named: []string{"ROUTES"}, says: []string{"not a JSON array"}, problems: 1},
		{
			name:     "ROUTES to a channel and a named webhook with SLACK_WEBHOOK_URL",
			vars:     map[string]string{"ROUTES": `[{"channel": "C0123456"}, {"webhook": "team-a"}]`},
			named:    []string{"ROUTES route 1", "ROUTES route 2"},
			says:     []string{"needs a bot token", "held in the Slack secret"},
			problems: 2,
		},
		{name: "EXTERNAL_ID too short", vars: map[string]string{"EXTERNAL_ID": "x"}, named: []string{"EXTERNAL_ID"}, problems: 1},
		{name: "REGIONS with a bad name", vars: map[string]string{"REGIONS": "eu-west-1,Europe,eu-west-1"}, named: []string{"REGIONS"}, problems: 1},
		{name: "NAME_CONTAINS with a space", vars: map[string]string{"NAME_CONTAINS": "street scenes"}, named: []string{"NAME_CONTAINS"}, problems: 1},
		{name: "NAME_CONTAINS with an underscore", vars: map[string]string{"NAME_CONTAINS": "street_scenes"}, named: []string{"NAME_CONTAINS"}, problems: 1},
		{name: "NAME_CONTAINS over 63 characters", vars: map[string]string{"NAME_CONTAINS": strings.Repeat("a", 64)}, named: []string{"NAME_CONTAINS"}, problems: 1},
		{name: "retention under a day", vars: map[string]string{"RETENTION": "12h"}, named: []string{"RETENTION"}, problems: 1},
		{name: "bad clock skew", vars: map[string]string{"CLOCK_SKEW": "-30s"}, named: []string{"CLOCK_SKEW"}, problems: 1},
		{name: "bad slack timeout", vars: map[string]string{"SLACK_TIMEOUT": "fast"}, named: []string{"SLACK_TIMEOUT"}, problems: 1},
		{name: "negative slack pace", vars: map[string]string{"SLACK_PACE": "-1s"}, named: []string{"SLACK_PACE"}, problems: 1},
		{name: "digest threshold not a number", vars: map[string]string{"DIGEST_THRESHOLD": "ten"}, named: []string{"DIGEST_THRESHOLD"}, problems: 1},
		{name: "digest threshold zero", vars: map[string]string{"DIGEST_THRESHOLD": "0"}, named: []string{"DIGEST_THRESHOLD"}, problems: 1},
		{name: "digest threshold fractional", vars: map[string]string{"DIGEST_THRESHOLD": "1.5"}, named: []string{"DIGEST_THRESHOLD"}, problems: 1},
		{name: "created-before a date only", vars: map[string]string{"IGNORE_CREATED_BEFORE": "2026-01-02"}, named: []string{"IGNORE_CREATED_BEFORE"}, problems: 1},
		{name: "created-before without zone", vars: map[string]string{"IGNORE_CREATED_BEFORE": "2026-01-02T15:04:05"}, named: []string{"IGNORE_CREATED_BEFORE"}, problems: 1},
		{
			name:     "both Slack modes",
			vars:     map[string]string{"SLACK_BOT_TOKEN": testToken, "SLACK_CHANNEL": "C0123"},
			named:    []string{"SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN"},
			problems: 1,
		},
		{
			name:     "both Slack modes, local",
			local:    true,
			vars:     map[string]string{"SLACK_CHANNEL": "C0123"},
			named:    []string{"SLACK_WEBHOOK_URL", "SLACK_CHANNEL"},
			problems: 1,
		},
		{name: "neither Slack mode", vars: map[string]string{"SLACK_WEBHOOK_URL": ""}, named: []string{"SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN"}, problems: 1},
		{
			name:     "secret and webhook",
			vars:     map[string]string{"SLACK_SECRET_ARN": testSecretARN},
			named:    []string{"SLACK_SECRET_ARN", "SLACK_WEBHOOK_URL"},
			problems: 1,
		},
		{
			name:     "secret and bot token",
			vars:     map[string]string{"SLACK_WEBHOOK_URL": "", "SLACK_SECRET_ARN": testSecretARN, "SLACK_BOT_TOKEN": testToken, "SLACK_CHANNEL": "C0123"},
			named:    []string{"SLACK_SECRET_ARN", "SLACK_BOT_TOKEN"},
			problems: 1,
		},
		{
			name:     "secret and channel alone",
			vars:     map[string]string{"SLACK_WEBHOOK_URL": "", "SLACK_SECRET_ARN": testSecretARN, "SLACK_CHANNEL": "C0123"},
			named:    []string{"SLACK_SECRET_ARN", "SLACK_CHANNEL"},
			problems: 1,
		},
		{name: "neither secret nor Slack variables names the secret", vars: map[string]string{"SLACK_WEBHOOK_URL": ""}, named: []string{"SLACK_SECRET_ARN"}, problems: 1},
		{name: "secret ARN of another service", vars: map[string]string{"SLACK_WEBHOOK_URL": "", "SLACK_SECRET_ARN": "arn:aws:ssm:us-east-1:123456789012:parameter/slack"}, named: []string{"SLACK_SECRET_ARN"}, problems: 1},
		{name: "secret name instead of ARN", vars: map[string]string{"SLACK_WEBHOOK_URL": "", "SLACK_SECRET_ARN": "labelwatch/slack"}, named: []string{"SLACK_SECRET_ARN"}, problems: 1},
		{name: "secret ARN with a short account", vars: map[string]string{"SLACK_WEBHOOK_URL": "", "SLACK_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1234:secret:slack-AbCdEf"}, named: []string{"SLACK_SECRET_ARN"}, problems: 1},
		{name: "secret ARN without region", vars: map[string]string{"SLACK_WEBHOOK_URL": "", "SLACK_SECRET_ARN": "arn:aws:secretsmanager::123456789012:secret:slack-AbCdEf"}, named: []string{"SLACK_SECRET_ARN"}, problems: 1},
		{name: "secret ARN with a space in the name", vars: map[string]string{"SLACK_WEBHOOK_URL": "", "SLACK_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:my slack"}, named: []string{"SLACK_SECRET_ARN"}, problems: 1},
		{name: "secret ARN, local", local: true, vars: map[string]string{"SLACK_WEBHOOK_URL": "", "SLACK_SECRET_ARN": testSecretARN}, named: []string{"SLACK_SECRET_ARN"}, problems: 1},
		{name: "mention by name", vars: map[string]string{"MENTION_ON_FAILURE": "@alice"}, named: []string{"MENTION_ON_FAILURE"}, problems: 1},
		{name: "mention in Slack's markup", vars: map[string]string{"MENTION_ON_FAILURE": "<@U024BE7LH>"}, named: []string{"MENTION_ON_FAILURE"}, problems: 1},
		{name: "mention of a lower-case ID", vars: map[string]string{"MENTION_ON_FAILURE": "u024be7lh"}, named: []string{"MENTION_ON_FAILURE"}, problems: 1},
		{name: "mention of a channel ID", vars: map[string]string{"MENTION_ON_FAILURE": "C0123456789"}, named: []string{"MENTION_ON_FAILURE"}, problems: 1},
		{name: "mention of everyone", vars: map[string]string{"MENTION_ON_FAILURE": "U024BE7LH,everyone,!here"}, named: []string{"MENTION_ON_FAILURE"}, problems: 2},

		// The four job-watch settings, each bad form beside another problem,
		// so it is known to join the one error rather than stop it.
		{name: "cards auto spelled out", vars: map[string]string{"SLACK_CARDS": "auto", "LOOKBACK": "soon"}, named: []string{"SLACK_CARDS", "LOOKBACK"}, says: []string{`"auto"`}, problems: 2},
		{name: "cards yes", vars: map[string]string{"SLACK_CARDS": "yes", "DIGEST_THRESHOLD": "0"}, named: []string{"SLACK_CARDS", "DIGEST_THRESHOLD"}, says: []string{`"yes"`}, problems: 2},
		{name: "cards true", vars: map[string]string{"SLACK_CARDS": "true", "STATE_TABLE": ""}, named: []string{"SLACK_CARDS", "STATE_TABLE"}, problems: 2},
		{
			name:     "cards on with a webhook",
			vars:     map[string]string{"SLACK_CARDS": "on", "LOG_LEVEL": "loud"},
			named:    []string{"SLACK_CARDS", "LOG_LEVEL"},
			says:     []string{"SLACK_CARDS=on needs a bot token: an incoming webhook cannot edit messages"},
			problems: 2,
		},
		{
			name:     "cards on with a webhook, local",
			local:    true,
			vars:     map[string]string{"STATE_TABLE": "", "SLACK_CARDS": " On ", "STUCK_AFTER": "5s"},
			named:    []string{"SLACK_CARDS=on", "STUCK_AFTER"},
			problems: 2,
		},
		{
			name:     "cards on with a bad webhook",
			vars:     map[string]string{"SLACK_CARDS": "on", "SLACK_WEBHOOK_URL": "http://hooks.slack.com/services/SECRET"},
			named:    []string{"SLACK_CARDS=on", "SLACK_WEBHOOK_URL"},
			problems: 2,
		},
		{name: "milestone 0", vars: map[string]string{"PROGRESS_MILESTONES": "0,50", "OVERLAP": "-1m"}, named: []string{"PROGRESS_MILESTONES", "OVERLAP"}, says: []string{`"0"`}, problems: 2},
		{name: "milestone 100", vars: map[string]string{"PROGRESS_MILESTONES": "50,100", "OVERLAP": "-1m"}, named: []string{"PROGRESS_MILESTONES", "OVERLAP"}, says: []string{`"100"`}, problems: 2},
		{name: "milestone with a percent sign", vars: map[string]string{"PROGRESS_MILESTONES": "50%", "OVERLAP": "-1m"}, named: []string{"PROGRESS_MILESTONES", "OVERLAP"}, says: []string{`"50%"`}, problems: 2},
		{name: "milestone fractional", vars: map[string]string{"PROGRESS_MILESTONES": "12.5", "OVERLAP": "-1m"}, named: []string{"PROGRESS_MILESTONES", "OVERLAP"}, says: []string{`"12.5"`}, problems: 2},
		{name: "milestone signed", vars: map[string]string{"PROGRESS_MILESTONES": "+5,-5", "OVERLAP": "-1m"}, named: []string{"PROGRESS_MILESTONES", "OVERLAP"}, says: []string{`"+5"`, `"-5"`}, problems: 3},
		{name: "milestones split by a space", vars: map[string]string{"PROGRESS_MILESTONES": "50 90", "OVERLAP": "-1m"}, named: []string{"PROGRESS_MILESTONES", "OVERLAP"}, says: []string{`"50 90"`}, problems: 2},
		{name: "milestones, each bad item named", vars: map[string]string{"PROGRESS_MILESTONES": "25,fifty,75,200"}, named: []string{"PROGRESS_MILESTONES"}, says: []string{`"fifty"`, `"200"`}, problems: 2},
		{name: "stuck after under a minute", vars: map[string]string{"STUCK_AFTER": "59s", "CLOCK_SKEW": "x"}, named: []string{"STUCK_AFTER", "CLOCK_SKEW"}, says: []string{`"59s"`, "1m"}, problems: 2},
		{name: "stuck after without unit", vars: map[string]string{"STUCK_AFTER": "6", "CLOCK_SKEW": "x"}, named: []string{"STUCK_AFTER", "CLOCK_SKEW"}, problems: 2},
		{name: "stuck after negative", vars: map[string]string{"STUCK_AFTER": "-6h", "CLOCK_SKEW": "x"}, named: []string{"STUCK_AFTER", "CLOCK_SKEW"}, problems: 2},
		{name: "stuck after fractional days", vars: map[string]string{"STUCK_AFTER": "0.5d", "CLOCK_SKEW": "x"}, named: []string{"STUCK_AFTER", "CLOCK_SKEW"}, problems: 2},
		{name: "stuck after never", vars: map[string]string{"STUCK_AFTER": "never", "CLOCK_SKEW": "x"}, named: []string{"STUCK_AFTER", "CLOCK_SKEW"}, problems: 2},
		{name: "failed objects over 100%", vars: map[string]string{"FAILED_OBJECTS_WARN": "101%", "SLACK_PACE": "-1s"}, named: []string{"FAILED_OBJECTS_WARN", "SLACK_PACE"}, says: []string{`"101%"`}, problems: 2},
		{name: "failed objects over 100, bare", vars: map[string]string{"FAILED_OBJECTS_WARN": "100.5", "SLACK_PACE": "-1s"}, named: []string{"FAILED_OBJECTS_WARN", "SLACK_PACE"}, problems: 2},
		{name: "failed objects negative", vars: map[string]string{"FAILED_OBJECTS_WARN": "-1%", "SLACK_PACE": "-1s"}, named: []string{"FAILED_OBJECTS_WARN", "SLACK_PACE"}, problems: 2},
		{name: "failed objects as a fraction in exponent form", vars: map[string]string{"FAILED_OBJECTS_WARN": "1e-2", "SLACK_PACE": "-1s"}, named: []string{"FAILED_OBJECTS_WARN", "SLACK_PACE"}, problems: 2},
		{name: "failed objects infinite", vars: map[string]string{"FAILED_OBJECTS_WARN": "Inf", "SLACK_PACE": "-1s"}, named: []string{"FAILED_OBJECTS_WARN", "SLACK_PACE"}, problems: 2},
		{name: "failed objects not a number", vars: map[string]string{"FAILED_OBJECTS_WARN": "NaN%", "SLACK_PACE": "-1s"}, named: []string{"FAILED_OBJECTS_WARN", "SLACK_PACE"}, problems: 2},
		{name: "failed objects sign alone", vars: map[string]string{"FAILED_OBJECTS_WARN": "%", "SLACK_PACE": "-1s"}, named: []string{"FAILED_OBJECTS_WARN", "SLACK_PACE"}, problems: 2},
		{name: "failed objects two signs", vars: map[string]string{"FAILED_OBJECTS_WARN": "1%%", "SLACK_PACE": "-1s"}, named: []string{"FAILED_OBJECTS_WARN", "SLACK_PACE"}, problems: 2},
		{name: "failed objects in words", vars: map[string]string{"FAILED_OBJECTS_WARN": "one percent", "SLACK_PACE": "-1s"}, named: []string{"FAILED_OBJECTS_WARN", "SLACK_PACE"}, problems: 2},

		{name: "unknown log level", vars: map[string]string{"LOG_LEVEL": "verbose"}, named: []string{"LOG_LEVEL"}, problems: 1},
		{name: "numeric log level", vars: map[string]string{"LOG_LEVEL": "-4"}, named: []string{"LOG_LEVEL"}, problems: 1},
		{
			name:     "token without channel",
			vars:     map[string]string{"SLACK_WEBHOOK_URL": "", "SLACK_BOT_TOKEN": testToken},
			named:    []string{"SLACK_CHANNEL"},
			problems: 1,
		},
		{
			name:     "channel without token",
			vars:     map[string]string{"SLACK_WEBHOOK_URL": "", "SLACK_CHANNEL": "C0123"},
			named:    []string{"SLACK_BOT_TOKEN"},
			problems: 1,
		},
		{name: "webhook URL without scheme", vars: map[string]string{"SLACK_WEBHOOK_URL": "hooks.slack.com/services/SECRET"}, named: []string{"SLACK_WEBHOOK_URL"}, problems: 1},
		{name: "webhook URL unparseable", vars: map[string]string{"SLACK_WEBHOOK_URL": "https://hooks slack com/%zzSECRET"}, named: []string{"SLACK_WEBHOOK_URL"}, problems: 1},
		{name: "webhook URL not http", vars: map[string]string{"SLACK_WEBHOOK_URL": "ftp://hooks.slack.com/SECRET"}, named: []string{"SLACK_WEBHOOK_URL"}, problems: 1},
		{name: "webhook over http to another host", vars: map[string]string{"SLACK_WEBHOOK_URL": "http://hooks.slack.com/services/SECRET"}, named: []string{"SLACK_WEBHOOK_URL"}, problems: 1},
		{name: "webhook over http to a private address", vars: map[string]string{"SLACK_WEBHOOK_URL": "http://10.0.0.1/services/SECRET"}, named: []string{"SLACK_WEBHOOK_URL"}, problems: 1},
		{name: "webhook over http to a look-alike of localhost", vars: map[string]string{"SLACK_WEBHOOK_URL": "http://localhost.example.com/SECRET"}, named: []string{"SLACK_WEBHOOK_URL"}, problems: 1},
		{
			name:     "API URL over http to another host",
			vars:     map[string]string{"SLACK_WEBHOOK_URL": "", "SLACK_BOT_TOKEN": testToken, "SLACK_CHANNEL": "C0", "SLACK_API_URL": "http://slack.example.com/api/"},
			named:    []string{"SLACK_API_URL"},
			problems: 1,
		},
		{
			name: "every problem at once",
			vars: map[string]string{
				"STATE_TABLE":           "",
				"ALERT_ON":              "Paused",
				"LOOKBACK":              "1 hour",
				"OVERLAP":               "-1m",
				"RETENTION":             "1h",
				"DEADLINE_MARGIN":       "x",
				"CLOCK_SKEW":            "30",
				"DIGEST_THRESHOLD":      "-3",
				"IGNORE_CREATED_BEFORE": "yesterday",
				"SLACK_WEBHOOK_URL":     "http://example.com/SECRET",
				"SLACK_TIMEOUT":         "0",
				"SLACK_PACE":            "later",
				"SLACK_API_URL":         "gopher://SECRET",
				"LOG_LEVEL":             "loud",
				"MENTION_ON_FAILURE":    "@oncall",
				"SLACK_CARDS":           "on",
				"PROGRESS_MILESTONES":   "50,150",
				"STUCK_AFTER":           "30s",
				"FAILED_OBJECTS_WARN":   "200%",
			},
			named: []string{
				"STATE_TABLE", "ALERT_ON", "LOOKBACK", "OVERLAP", "RETENTION", "DEADLINE_MARGIN", "CLOCK_SKEW",
				"DIGEST_THRESHOLD", "IGNORE_CREATED_BEFORE", "SLACK_WEBHOOK_URL", "SLACK_TIMEOUT",
				"SLACK_PACE", "SLACK_API_URL", "LOG_LEVEL", "MENTION_ON_FAILURE",
				"SLACK_CARDS=on", "PROGRESS_MILESTONES", "STUCK_AFTER", "FAILED_OBJECTS_WARN",
			},
			problems: 19,
		},
		{
			name:     "bot mode problems at once, local",
			local:    true,
			vars:     map[string]string{"SLACK_WEBHOOK_URL": "", "SLACK_BOT_TOKEN": testToken, "SLACK_API_URL": "::SECRET", "LOOKBACK": "-1h"},
			named:    []string{"SLACK_CHANNEL", "SLACK_API_URL", "LOOKBACK"},
			problems: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			load := Load
			if tt.local {
				load = LoadLocal
			}
			c, err := load(env(tt.vars))
			if err == nil {
				t.Fatalf("no error; config %+v", c)
			}
			if c.Slack.WebhookURL != "" || c.Slack.BotToken != "" || c.StateTable != "" {
				t.Errorf("a failed load returned settings: %+v", c)
			}
			msg := err.Error()
			for _, name := range tt.named {
				if !strings.Contains(msg, name) {
					t.Errorf("error does not name %s:\n%s", name, msg)
				}
			}
			for _, text := range tt.says {
				if !strings.Contains(msg, text) {
					t.Errorf("error does not say %s:\n%s", text, msg)
				}
			}
			if got := len(problemLine.FindAllString(msg, -1)); got != tt.problems {
				t.Errorf("error lists %d problems, want %d:\n%s", got, tt.problems, msg)
			}
			// The variable SLACK_SECRET_ARN carries the marker in its name.
			shown := strings.ReplaceAll(msg, "SLACK_SECRET_ARN", "")
			for _, secret := range []string{"SECRET", testWebhook, testToken} {
				if strings.Contains(shown, secret) {
					t.Errorf("error shows a secret (%q):\n%s", secret, msg)
				}
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: "90s", want: 90 * time.Second},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "90d", want: 90 * 24 * time.Hour},
		{in: "0d", want: 0},
		{in: "106751d", want: 106751 * 24 * time.Hour}, // the most whole days a Duration holds
		{in: "106752d", wantErr: true},
		{in: "-106752d", wantErr: true},
		{in: "d", wantErr: true},
		{in: "1.5d", wantErr: true},
		{in: "5", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ParseDuration(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func checkConfig(t *testing.T, got, want Config) {
	t.Helper()
	if !maps.Equal(got.AlertOn, want.AlertOn) {
		t.Errorf("AlertOn = %v, want %v", got.AlertOn, want.AlertOn)
	}
	if !got.IgnoreCreatedBefore.Equal(want.IgnoreCreatedBefore) {
		t.Errorf("IgnoreCreatedBefore = %v, want %v", got.IgnoreCreatedBefore, want.IgnoreCreatedBefore)
	}
	got.AlertOn, want.AlertOn = nil, nil
	got.IgnoreCreatedBefore, want.IgnoreCreatedBefore = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("config\n got %+v\nwant %+v", got, want)
	}
}
