package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The push trigger: the EventBridge rule SageMaker's labeling job state
// changes reach the function through, and the parameter that switches it.
const (
	pushEventID = "LabelingJobStateChange"
	pushParam   = "PushEvents"
	// scheduleParam sets the minutes between scheduled runs.
	scheduleParam = "ScheduleMinutes"
	pushSource    = "aws.sagemaker"
	pushDetail    = "SageMaker Ground Truth Labeling Job State Change"
	describeCall  = "sagemaker:DescribeLabelingJob"
)

// TestTriggers checks what SAM makes of the function's triggers, as
// CloudFormation deploys it with PushEvents on and off: one schedule, one rule
// for labeling job state changes that delivers only while PushEvents is
// enabled, one delivery attempt per event, and no asynchronous retries or
// stale events. Each mistake below must be caught, so that the check is known
// to see what it claims to.
func TestTriggers(t *testing.T) {
	push := func(t *testing.T, doc map[string]any) map[string]any {
		return mapAt(t, doc, "Resources", functionID, "Properties", "Events", pushEventID, "Properties")
	}
	schedule := func(t *testing.T, doc map[string]any) map[string]any {
		return mapAt(t, doc, "Resources", functionID, "Properties", "Events", "Schedule", "Properties")
	}
	invokeConfig := func(t *testing.T, doc map[string]any) map[string]any {
		return mapAt(t, doc, "Resources", functionID, "Properties", "EventInvokeConfig")
	}
	type testCase struct {
		name    string
		push    string // the PushEvents value; "" leaves its default
		minutes string // the ScheduleMinutes value; "" leaves its default
		mutate  func(t *testing.T, doc map[string]any)
		want    string // text one of the violations must contain; "" means none allowed
	}
	tests := []testCase{
		{name: "as written, push on by default"},
		{name: "as written, push enabled", push: "enabled"},
		{name: "as written, push disabled", push: "disabled"},
		{
			name:    "a fixed schedule",
			minutes: "10",
			mutate:  func(t *testing.T, doc map[string]any) { schedule(t, doc)["Schedule"] = "rate(5 minutes)" },
			want:    `schedule rate(5 minutes), want rate(10 minutes)`,
		},
		{
			// rate() wants the singular for 1; CloudFormation would refuse it.
			name:    "rate(1 minutes)",
			minutes: "1",
			mutate: func(t *testing.T, doc map[string]any) {
				mapAt(t, doc, "Mappings", "Schedule", "1")["Expression"] = "rate(1 minutes)"
			},
			want: `schedule rate(1 minutes), want rate(1 minute)`,
		},
		{
			name:    "events kept for a fixed 300 s",
			minutes: "30",
			mutate:  func(t *testing.T, doc map[string]any) { invokeConfig(t, doc)["MaximumEventAgeInSeconds"] = 300 },
			want:    `"MaximumEventAgeInSeconds":300`,
		},
		{
			name:   "rule always enabled",
			push:   "disabled",
			mutate: func(t *testing.T, doc map[string]any) { push(t, doc)["State"] = "ENABLED" },
			want:   "is ENABLED with PushEvents=disabled",
		},
		{
			// SAM turns Enabled into State with a truth test on the value,
			// and an unresolved !If is always true: the rule stays ENABLED.
			name: "Enabled switched by the condition",
			push: "disabled",
			mutate: func(t *testing.T, doc map[string]any) {
				p := push(t, doc)
				delete(p, "State")
				p["Enabled"] = map[string]any{"Fn::If": []any{"PushEnabled", true, false}}
			},
			want: "is ENABLED with PushEvents=disabled",
		},
		{
			name: "condition reversed",
			push: "enabled",
			mutate: func(t *testing.T, doc map[string]any) {
				push(t, doc)["State"] = map[string]any{"Fn::If": []any{"PushEnabled", "DISABLED", "ENABLED"}}
			},
			want: "no enabled rule delivers",
		},
		{
			name: "task events instead of job events",
			mutate: func(t *testing.T, doc map[string]any) {
				push(t, doc)["Pattern"] = map[string]any{
					"source":      []any{pushSource},
					"detail-type": []any{"SageMaker Ground Truth Labeling Job Task Status Change"},
				}
			},
			want: "has pattern",
		},
		{
			// Which statuses alert is AlertOn's business, in the code.
			name: "statuses filtered in the pattern",
			mutate: func(t *testing.T, doc map[string]any) {
				push(t, doc)["Pattern"].(map[string]any)["detail"] = map[string]any{"LabelingJobStatus": []any{"Completed"}}
			},
			want: "has pattern",
		},
		{
			name:   "a bus SageMaker does not send to",
			mutate: func(t *testing.T, doc map[string]any) { push(t, doc)["EventBusName"] = "labelwatch" },
			want:   `on bus "labelwatch"`,
		},
		{
			name:   "rule delivery retried for a day",
			mutate: func(t *testing.T, doc map[string]any) { delete(push(t, doc), "RetryPolicy") },
			want:   "RetryPolicy",
		},
		{
			name: "schedule delivery retried",
			mutate: func(t *testing.T, doc map[string]any) {
				schedule(t, doc)["RetryPolicy"] = map[string]any{"MaximumRetryAttempts": 2}
			},
			want: "RetryPolicy",
		},
		{
			name:   "async retries",
			mutate: func(t *testing.T, doc map[string]any) { delete(invokeConfig(t, doc), "MaximumRetryAttempts") },
			want:   "EventInvokeConfig",
		},
		{
			name:   "events kept for six hours",
			mutate: func(t *testing.T, doc map[string]any) { delete(invokeConfig(t, doc), "MaximumEventAgeInSeconds") },
			want:   "EventInvokeConfig",
		},
		{
			name: "a second schedule",
			mutate: func(t *testing.T, doc map[string]any) {
				events := mapAt(t, doc, "Resources", functionID, "Properties", "Events")
				events["Hourly"] = map[string]any{"Type": "Schedule", "Properties": map[string]any{"Schedule": "rate(1 hour)"}}
			},
			want: "schedules",
		},
	}

	// Every schedule period the template offers, as written.
	for _, m := range asList(mapAt(t, loadTemplate(t), "Parameters", "ScheduleMinutes")["AllowedValues"]) {
		minutes := fmt.Sprint(m)
		tests = append(tests, testCase{name: "as written, every " + minutes + " minutes", minutes: minutes})
	}

	// One run of the translator for all cases: it takes a second to start.
	docs := make([]map[string]any, len(tests))
	values := make([]map[string]string, len(tests))
	for i, tt := range tests {
		docs[i] = loadTemplate(t)
		if tt.mutate != nil {
			tt.mutate(t, docs[i])
		}
		values[i] = map[string]string{}
		if tt.push != "" {
			values[i][pushParam] = tt.push
		}
		if tt.minutes != "" {
			values[i][scheduleParam] = tt.minutes
		}
	}
	translated := samTranslate(t, docs, values)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if translated[i].Error != "" {
				t.Fatalf("SAM could not translate the template: %s", translated[i].Error)
			}
			values := values[i]
			deployed := withParameters(t, translated[i].Template, values)
			pushOn := parameterValue(t, translated[i].Template, values, pushParam) == "enabled"
			minutes, err := strconv.Atoi(parameterValue(t, translated[i].Template, values, scheduleParam))
			if err != nil {
				t.Fatalf("%s: %v", scheduleParam, err)
			}
			violations := triggerViolations(deployed, pushOn, minutes)
			checkViolations(t, violations, tt.want)
		})
	}
}

// triggerViolations lists every way cfn, a template as SAM translated it and
// CloudFormation would deploy it (conditions and mappings resolved), invokes
// the function otherwise than intended with push events on or off and a run
// every minutes.
func triggerViolations(cfn map[string]any, pushOn bool, minutes int) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	resources, _ := lookup(cfn, "Resources")
	byType := func(typ string) []string {
		var ids []string
		for id, r := range resources.(map[string]any) {
			if got, _ := lookup(r, "Type"); got == typ {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		return ids
	}
	props := func(id string) map[string]any {
		p, _ := lookup(resources, id, "Properties")
		m, _ := p.(map[string]any)
		return m
	}

	functionARN := `{"Fn::GetAtt":["` + functionID + `","Arn"]}`
	wantPattern := canonicalOrText(map[string]any{"source": []any{pushSource}, "detail-type": []any{pushDetail}})
	var schedules, pushRules []string
	for _, id := range byType("AWS::Events::Rule") {
		p := props(id)
		state, _ := p["State"].(string)
		if p["State"] != nil && state != "ENABLED" && state != "DISABLED" {
			add("rule %s has State %s, want ENABLED or DISABLED", id, canonicalOrText(p["State"]))
		}
		enabled := p["State"] == nil || state == "ENABLED" // a rule without State is enabled
		switch {
		case p["ScheduleExpression"] != nil:
			if enabled {
				schedules = append(schedules, id)
			}
			if got, want := canonicalOrText(p["ScheduleExpression"]), rateExpression(minutes); got != `"`+want+`"` {
				add("rule %s has schedule %s, want %s", id, strings.Trim(got, `"`), want)
			}
		case p["EventPattern"] != nil:
			if got := canonicalOrText(p["EventPattern"]); got != wantPattern {
				add("rule %s has pattern %s, want %s", id, got, wantPattern)
			}
			// SageMaker sends its events to the default bus only.
			if bus, ok := p["EventBusName"]; ok && bus != "default" {
				add("rule %s is on bus %s, where SageMaker sends nothing", id, canonicalOrText(bus))
			}
			if enabled {
				pushRules = append(pushRules, id)
			}
			if enabled && !pushOn {
				add("rule %s is ENABLED with PushEvents=disabled", id)
			}
		default:
			add("rule %s has neither ScheduleExpression nor EventPattern", id)
		}

		targets := asList(p["Targets"])
		if len(targets) != 1 {
			add("rule %s has %d targets, want the function only", id, len(targets))
		}
		for _, target := range targets {
			if arn, _ := lookup(target, "Arn"); canonicalOrText(arn) != functionARN {
				add("rule %s targets %s, want %s", id, canonicalOrText(arn), functionARN)
			}
			// One delivery attempt: EventBridge would otherwise retry for
			// 24 hours, and the next scheduled run makes up for a lost event.
			if policy, _ := lookup(target, "RetryPolicy"); canonicalOrText(policy) != `{"MaximumRetryAttempts":0}` {
				add("rule %s target RetryPolicy is %s, want {\"MaximumRetryAttempts\":0}", id, canonicalOrText(policy))
			}
		}
		permitted := slices.ContainsFunc(byType("AWS::Lambda::Permission"), func(pid string) bool {
			pp := props(pid)
			return pp["Principal"] == "events.amazonaws.com" && pp["Action"] == "lambda:InvokeFunction" &&
				canonicalOrText(pp["FunctionName"]) == `{"Ref":"`+functionID+`"}` &&
				canonicalOrText(pp["SourceArn"]) == `{"Fn::GetAtt":["`+id+`","Arn"]}`
		})
		if !permitted {
			add("rule %s may not invoke the function: no AWS::Lambda::Permission for it", id)
		}
	}
	if len(schedules) != 1 {
		add("%d enabled schedules %v, want 1", len(schedules), schedules)
	}
	if pushOn && len(pushRules) != 1 {
		add("no enabled rule delivers %s events with PushEvents=enabled (enabled: %v)", pushDetail, pushRules)
	}

	// Both triggers invoke asynchronously: no Lambda retries, and nothing
	// older than one schedule period.
	wantConfig := fmt.Sprintf(`{"FunctionName":{"Ref":"%s"},"MaximumEventAgeInSeconds":%d,"MaximumRetryAttempts":0,"Qualifier":"$LATEST"}`,
		functionID, minutes*60)
	configs := byType("AWS::Lambda::EventInvokeConfig")
	if len(configs) != 1 {
		add("%d AWS::Lambda::EventInvokeConfig resources %v, want 1", len(configs), configs)
	}
	for _, id := range configs {
		p := maps.Clone(props(id))
		if d, ok := p["DestinationConfig"].(map[string]any); ok && len(d) == 0 {
			delete(p, "DestinationConfig") // SAM writes an empty one
		}
		if got := canonicalOrText(p); got != wantConfig {
			add("EventInvokeConfig %s is %s, want %s", id, got, wantConfig)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// rateExpression is the EventBridge schedule expression for a run every
// minutes: rate() wants the singular unit for 1.
func rateExpression(minutes int) string {
	if minutes == 1 {
		return "rate(1 minute)"
	}
	return fmt.Sprintf("rate(%d minutes)", minutes)
}

// samTranslation is one template as the SAM translator returned it, or its
// refusal.
type samTranslation struct {
	Template map[string]any `json:"template"`
	Error    string         `json:"error"`
}

// samTranslateScript translates each SAM template of a JSON list read from
// stdin, with its parameter values, with the translator `sam deploy` uses
// (aws-sam-translator, which cfn-lint also runs), and writes the list of
// results. SAM resolves some parameter Refs itself (those in
// EventInvokeConfig, for one), so it must see the values the stack is
// deployed with.
const samTranslateScript = `
import json, sys
from samtranslator.public.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform

class NoManagedPolicies:
    def load(self):
        return {}

results = []
for item in json.load(sys.stdin):
    try:
        results.append({"template": transform(item["template"], item["parameters"], NoManagedPolicies())})
    except InvalidDocumentException as e:
        results.append({"error": "; ".join(c.message for c in e.causes)})
json.dump(results, sys.stdout)
`

// samTranslate returns docs, SAM templates in JSON form, as SAM translates
// them to CloudFormation with the parameter values of the same index, in one
// run of the translator.
func samTranslate(t *testing.T, docs []map[string]any, values []map[string]string) []samTranslation {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err == nil {
		err = exec.Command(python, "-c", "import samtranslator").Run()
	}
	if err != nil {
		const install = "python3 with aws-sam-translator is needed; `pip install cfn-lint` brings it"
		if os.Getenv("CI") == "true" {
			t.Fatalf("in CI the SAM translation of template.yaml must be checked: %s (%v)", install, err)
		}
		t.Skipf("what SAM makes of template.yaml was NOT checked: %s (%v)", install, err)
	}
	type item struct {
		Template   map[string]any    `json:"template"`
		Parameters map[string]string `json:"parameters"`
	}
	var in []item
	for i, doc := range docs {
		doc = maps.Clone(doc)
		// sam deploy uploads the code and gives the translator its S3
		// location; the translator refuses a local path.
		fn := maps.Clone(mapAt(t, doc, "Resources", functionID))
		fnProps := maps.Clone(mapAt(t, fn, "Properties"))
		fnProps["CodeUri"] = "s3://labelwatch-deploy-test/labelwatch.zip"
		fn["Properties"] = fnProps
		resources := maps.Clone(mapAt(t, doc, "Resources"))
		resources[functionID] = fn
		doc["Resources"] = resources
		in = append(in, item{Template: doc, Parameters: values[i]})
	}
	stdin, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-c", samTranslateScript)
	// The translator reads the region for ARNs it builds; none are checked.
	cmd.Env = append(os.Environ(), "AWS_DEFAULT_REGION=us-east-1")
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("run the SAM translator: %v\n%s", err, stderr.Bytes())
	}
	var out []samTranslation
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("read the SAM translator's output: %v\n%s", err, stdout.Bytes())
	}
	if len(out) != len(docs) {
		t.Fatalf("the SAM translator returned %d templates for %d", len(out), len(docs))
	}
	return out
}

// noValue stands for AWS::NoValue while withParameters resolves a template.
var noValue = &struct{}{}

// withParameters returns doc, a template in JSON form, as CloudFormation
// deploys it with the given parameter values (the others at their Default):
// resources whose Condition is false are left out, each Fn::If is replaced by
// the branch its condition picks, each Fn::FindInMap by the value it finds,
// and a Ref to AWS::NoValue removes the value that holds it. Other intrinsic
// functions are left as they are.
func withParameters(t *testing.T, doc map[string]any, values map[string]string) map[string]any {
	t.Helper()
	conditions, _ := lookup(doc, "Conditions")
	defs, _ := conditions.(map[string]any)
	var condition func(name string, seen []string) bool
	var eval func(expr any, seen []string) bool
	value := func(v any) string {
		if ref, ok := lookup(v, "Ref"); ok {
			return parameterValue(t, doc, values, fmt.Sprint(ref))
		}
		s, ok := v.(string)
		if !ok {
			t.Fatalf("condition compares %s: only text and parameter Refs are supported here", canonicalOrText(v))
		}
		return s
	}
	eval = func(expr any, seen []string) bool {
		m, ok := expr.(map[string]any)
		if !ok || len(m) != 1 {
			t.Fatalf("condition %s is not one function", canonicalOrText(expr))
		}
		for fn, arg := range m {
			args := asList(arg)
			switch fn {
			case "Condition":
				return condition(fmt.Sprint(arg), seen)
			case "Fn::Equals":
				if len(args) != 2 {
					t.Fatalf("Fn::Equals takes two values: %s", canonicalOrText(expr))
				}
				return value(args[0]) == value(args[1])
			case "Fn::Not":
				return !eval(args[0], seen)
			case "Fn::And":
				return !slices.ContainsFunc(args, func(a any) bool { return !eval(a, seen) })
			case "Fn::Or":
				return slices.ContainsFunc(args, func(a any) bool { return eval(a, seen) })
			}
			t.Fatalf("condition function %s is not supported here", fn)
		}
		return false
	}
	condition = func(name string, seen []string) bool {
		if slices.Contains(seen, name) {
			t.Fatalf("conditions refer to each other in a loop: %v", append(seen, name))
		}
		expr, ok := defs[name]
		if !ok {
			t.Fatalf("condition %s is not defined", name)
		}
		return eval(expr, append(seen, name))
	}

	var resolve func(v any) any
	resolve = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["Ref"]; ok && len(v) == 1 && ref == "AWS::NoValue" {
				return noValue
			}
			if args, ok := v["Fn::FindInMap"].([]any); ok && len(v) == 1 {
				return findInMap(t, doc, values, args)
			}
			if args, ok := v["Fn::If"].([]any); ok && len(v) == 1 {
				if len(args) != 3 {
					t.Fatalf("Fn::If takes a condition and two values: %s", canonicalOrText(v))
				}
				if condition(fmt.Sprint(args[0]), nil) {
					return resolve(args[1])
				}
				return resolve(args[2])
			}
			out := make(map[string]any, len(v))
			for k, c := range v {
				if r := resolve(c); r != noValue {
					out[k] = r
				}
			}
			return out
		case []any:
			out := make([]any, 0, len(v))
			for _, c := range v {
				if r := resolve(c); r != noValue {
					out = append(out, r)
				}
			}
			return out
		}
		return v
	}

	out := resolve(doc).(map[string]any)
	if resources, ok := out["Resources"].(map[string]any); ok {
		for id, r := range resources {
			if name, ok := lookup(r, "Condition"); ok && !condition(fmt.Sprint(name), nil) {
				delete(resources, id)
			}
		}
	}
	return out
}

// findInMap is the value Fn::FindInMap with args finds in doc's Mappings when
// the stack is deployed with values; each key is text or a parameter's Ref.
func findInMap(t *testing.T, doc map[string]any, values map[string]string, args []any) any {
	t.Helper()
	if len(args) != 3 {
		t.Fatalf("Fn::FindInMap takes a map and two keys: %s", canonicalOrText(args))
	}
	path := []string{"Mappings"}
	for _, a := range args {
		if ref, ok := lookup(a, "Ref"); ok {
			path = append(path, parameterValue(t, doc, values, fmt.Sprint(ref)))
			continue
		}
		switch a.(type) {
		case string, float64: // SAM resolves some Refs to a Number parameter's Default as a number
			path = append(path, fmt.Sprint(a))
		default:
			t.Fatalf("Fn::FindInMap key %s: only values and parameter Refs are supported here", canonicalOrText(a))
		}
	}
	v, ok := lookup(doc, path...)
	if !ok {
		t.Fatalf("Fn::FindInMap %s: no %s", canonicalOrText(args), strings.Join(path, "."))
	}
	return v
}

// parameterValue is the value of parameter name when the stack is deployed
// with values: the one given, or else its Default.
func parameterValue(t *testing.T, doc map[string]any, values map[string]string, name string) string {
	t.Helper()
	p, ok := lookup(doc, "Parameters", name)
	if !ok {
		t.Fatalf("%s is not a parameter", name)
	}
	v, given := values[name]
	if !given {
		def, ok := lookup(p, "Default")
		if !ok {
			t.Fatalf("parameter %s has no Default and no value", name)
		}
		v = strings.Trim(canonicalOrText(def), `"`)
	}
	if allowed, ok := lookup(p, "AllowedValues"); ok &&
		!slices.ContainsFunc(asList(allowed), func(a any) bool { return strings.Trim(canonicalOrText(a), `"`) == v }) {
		t.Fatalf("%s=%s is not among its AllowedValues %s", name, v, canonicalOrText(allowed))
	}
	return v
}

// TestWithParameters checks the condition resolution TestTriggers and
// TestLeastPrivilege rely on.
func TestWithParameters(t *testing.T) {
	doc := map[string]any{
		"Parameters": map[string]any{
			"Push": map[string]any{"Type": "String", "Default": "enabled", "AllowedValues": []any{"enabled", "disabled"}},
			"Name": map[string]any{"Type": "String", "Default": ""},
		},
		"Conditions": map[string]any{
			"On":      map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "Push"}, "enabled"}},
			"Off":     map[string]any{"Fn::Not": []any{map[string]any{"Condition": "On"}}},
			"Named":   map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{"", map[string]any{"Ref": "Name"}}}}},
			"OnNamed": map[string]any{"Fn::And": []any{map[string]any{"Condition": "On"}, map[string]any{"Condition": "Named"}}},
			"OnOr":    map[string]any{"Fn::Or": []any{map[string]any{"Condition": "On"}, map[string]any{"Condition": "Named"}}},
		},
		"Resources": map[string]any{
			"Always": map[string]any{"Type": "T", "Properties": map[string]any{
				"State":  map[string]any{"Fn::If": []any{"On", "ENABLED", "DISABLED"}},
				"List":   []any{"a", map[string]any{"Fn::If": []any{"Off", "b", map[string]any{"Ref": "AWS::NoValue"}}}},
				"Maybe":  map[string]any{"Fn::If": []any{"OnNamed", "x", map[string]any{"Ref": "AWS::NoValue"}}},
				"Either": map[string]any{"Fn::If": []any{"OnOr", "x", "y"}},
				"Other":  map[string]any{"Ref": "Name"},
			}},
			"OnlyOff": map[string]any{"Type": "T", "Condition": "Off"},
		},
	}
	tests := []struct {
		name   string
		values map[string]string
		want   string // the Resources, as JSON
	}{
		{
			name: "defaults",
			want: `{"Always":{"Type":"T","Properties":{"State":"ENABLED","List":["a"],"Either":"x","Other":{"Ref":"Name"}}}}`,
		},
		{
			name:   "off",
			values: map[string]string{"Push": "disabled"},
			want:   `{"Always":{"Type":"T","Properties":{"State":"DISABLED","List":["a","b"],"Either":"y","Other":{"Ref":"Name"}}},"OnlyOff":{"Type":"T","Condition":"Off"}}`,
		},
		{
			name:   "on and named",
			values: map[string]string{"Name": "x"},
			want:   `{"Always":{"Type":"T","Properties":{"State":"ENABLED","List":["a"],"Maybe":"x","Either":"x","Other":{"Ref":"Name"}}}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := withParameters(t, doc, tt.values)["Resources"]
			if g, w := canonical(t, got), canonicalText(t, tt.want); g != w {
				t.Errorf("got  %s\nwant %s", g, w)
			}
		})
	}
	if _, ok := lookup(doc, "Resources", "Always", "Properties", "State", "Fn::If"); !ok {
		t.Error("withParameters changed the template it was given")
	}
}

// errNoPattern is returned by matchesPattern for a pattern it cannot read.
var errNoPattern = errors.New("not an event pattern")

// matchesPattern reports whether event, an event in JSON form, matches an
// EventBridge event pattern made of exact values only: each field of the
// pattern lists the values the event's field may have, or holds a pattern for
// the event's object of that name.
func matchesPattern(pattern map[string]any, event map[string]any) (bool, error) {
	for k, want := range pattern {
		got, present := event[k]
		switch want := want.(type) {
		case map[string]any:
			obj, ok := got.(map[string]any)
			if !ok {
				return false, nil
			}
			match, err := matchesPattern(want, obj)
			if err != nil || !match {
				return false, err
			}
		case []any:
			if slices.ContainsFunc(want, func(w any) bool { _, isMap := w.(map[string]any); return isMap }) {
				return false, fmt.Errorf("%w: field %s uses content filters, which this test does not evaluate", errNoPattern, k)
			}
			// A value of the pattern matches the event's value, or any
			// element of it if it is a list.
			if !present || !slices.ContainsFunc(want, func(w any) bool { return slices.Contains(asList(got), w) }) {
				return false, nil
			}
		default:
			return false, fmt.Errorf("%w: field %s is %s, not a list or an object", errNoPattern, k, canonicalOrText(want))
		}
	}
	return true, nil
}
