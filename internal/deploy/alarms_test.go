package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The alarms: each must reach AlarmTopicArn when it is set, and measure in
// periods of the schedule.
var alarmIDs = []string{"ErrorsAlarm", "AlertsPendingAlarm", "PollsStalledAlarm"}

// TestAlarms checks each alarm as deployed with AlarmTopicArn empty or set and
// every schedule period: its metric, statistic, period, threshold and
// missing-data treatment, and that its actions are the topic or nothing.
func TestAlarms(t *testing.T) {
	const topic = "arn:aws:sns:us-east-1:123456789012:labelwatch-alarms"
	fnDimension := `[{"Name":"FunctionName","Value":{"Ref":"` + functionID + `"}}]`
	// What each alarm watches; Period is the schedule's, checked apart.
	want := map[string]string{
		"ErrorsAlarm": `{"Namespace":"AWS/Lambda","MetricName":"Errors","Dimensions":` + fnDimension + `,
			"Statistic":"Sum","EvaluationPeriods":3,"DatapointsToAlarm":3,"Threshold":1,
			"ComparisonOperator":"GreaterThanOrEqualToThreshold","TreatMissingData":"notBreaching"}`,
		// Every poll of three periods left alerts unsent.
		"AlertsPendingAlarm": `{"Namespace":"Labelwatch","MetricName":"AlertsPending","Dimensions":` + fnDimension + `,
			"Statistic":"Minimum","EvaluationPeriods":3,"DatapointsToAlarm":3,"Threshold":1,
			"ComparisonOperator":"GreaterThanOrEqualToThreshold","TreatMissingData":"notBreaching"}`,
		// No completed poll in three periods; no data is no poll.
		"PollsStalledAlarm": `{"Namespace":"Labelwatch","MetricName":"PollsCompleted","Dimensions":` + fnDimension + `,
			"Statistic":"Sum","EvaluationPeriods":3,"DatapointsToAlarm":3,"Threshold":1,
			"ComparisonOperator":"LessThanThreshold","TreatMissingData":"breaching"}`,
	}
	alarm := func(t *testing.T, doc map[string]any, id string) map[string]any {
		return mapAt(t, doc, "Resources", id, "Properties")
	}
	tests := []struct {
		name   string
		values map[string]string
		mutate func(t *testing.T, doc map[string]any)
		want   string // text one of the violations must contain; "" means none allowed
	}{
		{name: "as written, no topic"},
		{name: "as written, a topic", values: map[string]string{"AlarmTopicArn": topic}},
		{name: "as written, every minute, a topic", values: map[string]string{"AlarmTopicArn": topic, scheduleParam: "1"}},
		{name: "as written, hourly", values: map[string]string{scheduleParam: "60"}},
		{
			name:   "a fixed five-minute period",
			values: map[string]string{scheduleParam: "15"},
			mutate: func(t *testing.T, doc map[string]any) { alarm(t, doc, "PollsStalledAlarm")["Period"] = 300 },
			want:   "PollsStalledAlarm has Period 300, want 900",
		},
		{
			name:   "no OK action",
			values: map[string]string{"AlarmTopicArn": topic},
			mutate: func(t *testing.T, doc map[string]any) { delete(alarm(t, doc, "ErrorsAlarm"), "OKActions") },
			want:   `ErrorsAlarm OKActions are null, want [{"Ref":"AlarmTopicArn"}]`,
		},
		{
			name: "an action without a topic",
			mutate: func(t *testing.T, doc map[string]any) {
				alarm(t, doc, "AlertsPendingAlarm")["AlarmActions"] = []any{map[string]any{"Ref": "AlarmTopicArn"}}
			},
			want: `AlertsPendingAlarm AlarmActions are [{"Ref":"AlarmTopicArn"}], want null`,
		},
		{
			name: "missing polls not breaching",
			mutate: func(t *testing.T, doc map[string]any) {
				alarm(t, doc, "PollsStalledAlarm")["TreatMissingData"] = "notBreaching"
			},
			want: "PollsStalledAlarm watches",
		},
		{
			name: "the metric under another dimension",
			mutate: func(t *testing.T, doc map[string]any) {
				alarm(t, doc, "AlertsPendingAlarm")["Dimensions"] = []any{map[string]any{"Name": "Service", "Value": "labelwatch"}}
			},
			want: "AlertsPendingAlarm watches",
		},
		{
			name:   "an alarm gone",
			mutate: func(t *testing.T, doc map[string]any) { delete(mapAt(t, doc, "Resources"), "ErrorsAlarm") },
			want:   "no ErrorsAlarm",
		},
		{
			name: "a fixed alarm name",
			mutate: func(t *testing.T, doc map[string]any) {
				alarm(t, doc, "ErrorsAlarm")["AlarmName"] = "labelwatch-errors"
			},
			want: "ErrorsAlarm sets AlarmName",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := loadTemplate(t)
			if tt.mutate != nil {
				tt.mutate(t, doc)
			}
			deployed := withParameters(t, doc, tt.values)
			minutes, err := strconv.Atoi(parameterValue(t, doc, tt.values, scheduleParam))
			if err != nil {
				t.Fatal(err)
			}
			var wantActions any // none without a topic
			if parameterValue(t, doc, tt.values, "AlarmTopicArn") != "" {
				wantActions = []any{map[string]any{"Ref": "AlarmTopicArn"}}
			}
			var violations []string
			add := func(format string, args ...any) { violations = append(violations, fmt.Sprintf(format, args...)) }
			for _, id := range alarmIDs {
				p, ok := lookup(deployed, "Resources", id, "Properties")
				if !ok {
					add("no %s", id)
					continue
				}
				props := maps.Clone(p.(map[string]any))
				if got := canonicalOrText(props["Period"]); got != strconv.Itoa(minutes*60) {
					add("%s has Period %s, want %d", id, got, minutes*60)
				}
				for _, k := range []string{"AlarmActions", "OKActions"} {
					if got, w := canonicalOrText(props[k]), canonicalOrText(wantActions); got != w {
						add("%s %s are %s, want %s", id, k, got, w)
					}
				}
				if _, ok := props["AlarmName"]; ok {
					add("%s sets AlarmName: two stacks in one region would clash", id)
				}
				for _, k := range []string{"Period", "AlarmActions", "OKActions", "AlarmDescription", "AlarmName"} {
					delete(props, k)
				}
				if got, w := canonical(t, props), canonicalText(t, want[id]); got != w {
					add("%s watches %s, want %s", id, got, w)
				}
			}
			checkViolations(t, violations, tt.want)
		})
	}
}

// TestNoFixedNames checks that no resource of template.yaml names itself, so
// that two stacks in one region never clash and a replacement never fails on
// a name still taken.
func TestNoFixedNames(t *testing.T) {
	nameProps := []string{"FunctionName", "TableName", "LogGroupName", "AlarmName", "Name", "RuleName", "TopicName"}
	violations := func(doc map[string]any) []string {
		var out []string
		for id, r := range mapAt(t, doc, "Resources") {
			props, _ := lookup(r, "Properties")
			for _, k := range nameProps {
				if _, ok := lookup(props, k); ok {
					out = append(out, id+" sets "+k)
				}
			}
		}
		return out
	}
	if v := violations(loadTemplate(t)); len(v) > 0 {
		t.Errorf("fixed names: %v", v)
	}
	// The check sees a name where one is set.
	for id, prop := range map[string]string{functionID: "FunctionName", tableID: "TableName", logGroupID: "LogGroupName", secretID: "Name"} {
		doc := loadTemplate(t)
		mapAt(t, doc, "Resources", id, "Properties")[prop] = "labelwatch"
		if v := violations(doc); !slices.Contains(v, id+" sets "+prop) {
			t.Errorf("%s.%s set, but the check found %v", id, prop, v)
		}
	}
}

// TestSecretOutput checks that the stack tells whoever deployed it where the
// Slack credential goes, and how to put it there.
func TestSecretOutput(t *testing.T) {
	doc := loadTemplate(t)
	desc, _ := lookup(doc, "Outputs", "SlackSecretArn", "Description")
	text := fmt.Sprint(desc)
	for _, want := range []string{"aws secretsmanager put-secret-value", "--secret-id", "--secret-string file://", `"webhook_url"`, `"bot_token"`, `"channel"`} {
		if !strings.Contains(text, want) {
			t.Errorf("Outputs.SlackSecretArn.Description does not mention %s:\n%s", want, text)
		}
	}
	if len(text) > 1024 {
		t.Errorf("Outputs.SlackSecretArn.Description is %d characters; CloudFormation takes at most 1024", len(text))
	}
	// The stack's own secret has no value the template knows.
	props, _ := lookup(doc, "Resources", secretID, "Properties")
	for _, k := range []string{"SecretString", "GenerateSecretString"} {
		if _, ok := lookup(props, k); ok {
			t.Errorf("%s sets %s: the credential is put by hand, and a stack update would overwrite it", secretID, k)
		}
	}
}

// TestParameterConstraints lays each fixture of testdata/parameters, a
// parameter Default that CloudFormation must refuse, over template.yaml and
// requires cfn-lint to refuse that parameter, and nothing else, for the
// reason given: so each deploy-time constraint is known to be there and to
// hold.
func TestParameterConstraints(t *testing.T) {
	tests := map[string]struct {
		param, reason string
		also          []string // further findings required, as "RULE [path]"
	}{
		"alarm-topic-not-sns.yaml":       {param: "AlarmTopicArn", reason: "AllowedPattern"},
		"alert-on-unknown-status.yaml":   {param: "AlertOn", reason: "AllowedPattern"},
		"log-level-unknown.yaml":         {param: "LogLevel", reason: "AllowedValues"},
		"name-contains-space.yaml":       {param: "NameContains", reason: "AllowedPattern"},
		"name-contains-too-long.yaml":    {param: "NameContains", reason: "MaxLength"},
		"retention-mixed-units.yaml":     {param: "Retention", reason: "AllowedPattern"},
		"retention-under-a-day.yaml":     {param: "Retention", reason: "AllowedPattern"},
		"schedule-minutes-unmapped.yaml": {param: "ScheduleMinutes", reason: "AllowedValues"},
		"slack-secret-not-a-secret.yaml": {param: "SlackSecretArn", reason: "AllowedPattern"},
		"slack-secret-partial-arn.yaml":  {param: "SlackSecretArn", reason: "AllowedPattern"},
		"mention-by-name.yaml":           {param: "MentionOnFailure", reason: "AllowedPattern"},
		"slack-cards-auto.yaml":          {param: "SlackCards", reason: "AllowedValues"},
		"milestone-hundred.yaml":         {param: "ProgressMilestones", reason: "AllowedPattern"},
		"stuck-after-seconds.yaml":       {param: "StuckAfter", reason: "AllowedPattern"},
		"failed-objects-over-100.yaml":   {param: "FailedObjectsWarn", reason: "AllowedPattern"},
		"slack-broadcast-none.yaml":      {param: "SlackBroadcast", reason: "AllowedValues"},
		"secret-key-alias.yaml":          {param: "SlackSecretKmsKeyArn", reason: "AllowedPattern"},
		// cfn-lint follows this one to the grant too, which takes only an ARN.
		"secret-key-bare-id.yaml": {param: "SlackSecretKmsKeyArn", reason: "AllowedPattern", also: []string{
			"E3510 [Resources LabelwatchFunctionRole Properties Policies 2 Fn::If 1 PolicyDocument Statement 0 Resource]"}},
		// cfn-lint also follows the parameter, through AWS::LanguageExtensions,
		// to the table's policies: it would catch a wrong value there too.
		"table-policy-snapshot.yaml": {param: "StateTableDeletionPolicy", reason: "AllowedValues", also: []string{
			"E3035 [Resources StateTable DeletionPolicy]", "E3036 [Resources StateTable UpdateReplacePolicy]"}},
	}
	cfnLint, err := exec.LookPath("cfn-lint")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("cfn-lint is required in CI")
		}
		t.Skip("the parameter constraints were NOT checked: cfn-lint is not on PATH")
	}
	root := repoRoot(t)
	fixtures, err := filepath.Glob(filepath.Join(root, "internal", "deploy", "testdata", "parameters", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var paths []string
	for _, fixture := range fixtures {
		name := filepath.Base(fixture)
		if _, ok := tests[name]; !ok {
			t.Errorf("testdata/parameters/%s has no case in this test", name)
			continue
		}
		var overlay struct {
			Parameters map[string]struct {
				Default yaml.Node `yaml:"Default"`
			} `yaml:"Parameters"`
		}
		b, err := os.ReadFile(fixture)
		if err == nil {
			err = yaml.Unmarshal(b, &overlay)
		}
		if err != nil || len(overlay.Parameters) != 1 {
			t.Fatalf("%s: want one parameter's Default (%v)", name, err)
		}
		var tree yaml.Node
		if err := yaml.Unmarshal(src, &tree); err != nil {
			t.Fatal(err)
		}
		for param, p := range overlay.Parameters {
			if want := tests[name].param; param != want {
				t.Errorf("%s sets %s, its case expects %s", name, param, want)
			}
			def := mappingValue(mappingValue(mappingValue(tree.Content[0], "Parameters"), param), "Default")
			if def == nil {
				t.Fatalf("%s: template.yaml has no Parameters.%s.Default", name, param)
			}
			*def = p.Default
		}
		out, err := yaml.Marshal(&tree)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	for name := range tests {
		if !slices.Contains(paths, filepath.Join(dir, name)) && !slices.ContainsFunc(fixtures, func(f string) bool { return filepath.Base(f) == name }) {
			t.Errorf("no fixture testdata/parameters/%s", name)
		}
	}

	// One run for all: cfn-lint takes seconds to start.
	cmd := exec.Command(cfnLint, append([]string{"--format", "json", "--"}, paths...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("run cfn-lint: %v", err)
	}
	var findings []struct {
		Filename string
		Rule     struct {
			ID string `json:"Id"`
		}
		Location struct{ Path []any }
		Message  string
	}
	if err := json.Unmarshal(stdout.Bytes(), &findings); err != nil {
		t.Fatalf("read cfn-lint's findings: %v\n%s%s", err, stdout.Bytes(), stderr.Bytes())
	}
	for _, path := range paths {
		name := filepath.Base(path)
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			tt := tests[name]
			var got []string
			for _, f := range findings {
				if filepath.Base(f.Filename) == name {
					got = append(got, fmt.Sprintf("%s %v: %s", f.Rule.ID, f.Location.Path, f.Message))
				}
			}
			want := fmt.Sprintf("E2015 [Parameters %s Default]: ", tt.param)
			ok := len(got) == 1+len(tt.also) && strings.HasPrefix(got[0], want) && strings.Contains(got[0], tt.reason)
			for i, also := range tt.also {
				ok = ok && strings.HasPrefix(got[1+i], also+": ")
			}
			if !ok {
				t.Errorf("cfn-lint reported %q, want only %s...%s... and %q", got, want, tt.reason, tt.also)
			}
		})
	}
}

// mappingValue is the value node of key in mapping node m, or nil.
func mappingValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
