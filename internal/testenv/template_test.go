package testenv

import (
	"maps"
	"strings"
	"testing"
)

// templateHead declares what the inline templates below share: parameters
// with their defaults and constraints, a mapping, conditions, and a secret
// that only one condition creates.
const templateHead = `
Parameters:
  Minutes: {Type: Number, Default: "5", AllowedValues: ["1", "5"]}
  Mode: {Type: String, Default: auto, AllowedValues: [auto, "on", "off"]}
  SecretArn: {Type: String, Default: ""}
  Threshold: {Type: Number, Default: 10, MinValue: 1}
  Name: {Type: String, Default: "", AllowedPattern: "[a-z]*", MaxLength: 5}
  Level: {Type: String, Default: info}
Mappings:
  Schedule:
    "1": {Expression: rate(1 minute)}
    "5": {Expression: rate(5 minutes)}
Conditions:
  CreateSecret: !Equals [!Ref SecretArn, ""]
  HasSecret: !Not [!Condition CreateSecret]
  Auto: !Equals [!Ref Mode, auto]
  AutoAndCreate: !And [!Condition Auto, !Condition CreateSecret]
  AutoOrFast: {"Fn::Or": [{Condition: Auto}, {"Fn::Equals": [{Ref: Minutes}, "1"]}]}
`

const templateSecret = `
  Secret:
    Type: AWS::SecretsManager::Secret
    Condition: CreateSecret
`

// fn is a template with templateHead, the function Fn with props under its
// Properties (indented for it), and more resources.
func fn(props, more string) []byte {
	return []byte(templateHead + "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n" + props + templateSecret + more)
}

// env is a function's Environment.Variables, indented for fn.
func env(vars string) string {
	var b strings.Builder
	b.WriteString("      Environment:\n        Variables:\n")
	for _, line := range strings.Split(strings.TrimSpace(vars), "\n") {
		b.WriteString("          " + strings.TrimSpace(line) + "\n")
	}
	return b.String()
}

var testStack = Stack{
	Refs:  map[string]string{"Secret": "arn:secret", "Table": "table-1", "AWS::Region": "eu-west-1", "AWS::StackName": "lw"},
	Attrs: map[string]string{"Table.Arn": "arn:table"},
}

func TestResolveFunction(t *testing.T) {
	tests := []struct {
		name      string
		template  []byte
		overrides map[string]string
		want      map[string]string
	}{
		{"defaults and refs", fn(env(`
			MINUTES: !Ref Minutes
			THRESHOLD: !Ref Threshold
			TABLE: !Ref Table
			LITERAL: plain
			NUMBER: 42
			BOOL: true
			QUOTED: "on"`), "  Table: {Type: AWS::DynamoDB::Table}\n"),
			nil, map[string]string{"MINUTES": "5", "THRESHOLD": "10", "TABLE": "table-1", "LITERAL": "plain", "NUMBER": "42", "BOOL": "true", "QUOTED": "on"}},
		{"If picks the created secret at defaults", fn(env(`SECRET: !If [CreateSecret, !Ref Secret, !Ref SecretArn]`), ""),
			nil, map[string]string{"SECRET": "arn:secret"}},
		// With the secret not created, its Ref would fail: only the
		// branch taken is resolved.
		{"If picks the given ARN when overridden", fn(env(`SECRET: !If [CreateSecret, !Ref Secret, !Ref SecretArn]`), ""),
			map[string]string{"SecretArn": "arn:given"}, map[string]string{"SECRET": "arn:given"}},
		{"Not, And, Or and Condition", fn(env(`
			HAS: !If [HasSecret, "yes", "no"]
			AND: !If [AutoAndCreate, "yes", "no"]
			OR: !If [AutoOrFast, "yes", "no"]`), ""),
			map[string]string{"Mode": "off", "Minutes": "1"}, map[string]string{"HAS": "no", "AND": "no", "OR": "yes"}},
		{"NoValue removes the variable", fn(env(`
			GONE: !If [Auto, !Ref AWS::NoValue, set]
			KEPT: !If [HasSecret, !Ref AWS::NoValue, kept]`), ""),
			nil, map[string]string{"KEPT": "kept"}},
		{"FindInMap with a key from a parameter", fn(env(`EXPR: !FindInMap [Schedule, !Ref Minutes, Expression]`), ""),
			map[string]string{"Minutes": "1"}, map[string]string{"EXPR": "rate(1 minute)"}},
		{"Sub, GetAtt and Join", fn(env(`
			SUB: !Sub "${AWS::StackName}-${Level}-${Table.Arn}-${!Literal}"
			SUBVARS: !Sub ["${A}/${AWS::Region}", {A: !Ref Mode}]
			ATT: !GetAtt Table.Arn
			LONG: {"Fn::GetAtt": [Table, Arn]}
			JOIN: !Join [",", [a, !Ref Level]]`), "  Table: {Type: AWS::DynamoDB::Table}\n"),
			nil, map[string]string{"SUB": "lw-info-arn:table-${Literal}", "SUBVARS": "auto/eu-west-1", "ATT": "arn:table", "LONG": "arn:table", "JOIN": "a,info"}},
		{"Variables as a whole from If", fn("      Environment:\n        Variables: !If [Auto, {A: a}, {B: b}]\n", ""),
			nil, map[string]string{"A": "a"}},
		{"Globals merged under the function's own",
			[]byte("Globals:\n  Function:\n    Environment:\n      Variables: {G: global, BOTH: global, DROPPED: global}\n" + string(fn(env(`
				BOTH: own
				DROPPED: !Ref AWS::NoValue`), ""))),
			nil, map[string]string{"G": "global", "BOTH": "own"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stack := testStack
			stack.Parameters = tt.overrides
			f, err := ResolveFunction(tt.template, "Fn", stack)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(f.Env, tt.want) {
				t.Errorf("Env = %v, want %v", f.Env, tt.want)
			}
		})
	}
}

func TestResolveFunctionSettingsAndEvents(t *testing.T) {
	tpl := fn(`      Timeout: 60
      Events:
        Tick:
          Type: Schedule
          Properties:
            Schedule: !FindInMap [Schedule, !Ref Minutes, Expression]
        Change:
          Type: EventBridgeRule
          Properties:
            Pattern: {source: [aws.sagemaker]}
            State: !If [Auto, ENABLED, DISABLED]
`, "")
	f, err := ResolveFunction([]byte("Globals:\n  Function:\n    MemorySize: 256\n"+string(tpl)), "Fn", testStack)
	if err != nil {
		t.Fatal(err)
	}
	if f.Timeout != 60 || f.MemorySize != 256 {
		t.Errorf("Timeout %d, MemorySize %d; want 60 and Globals' 256", f.Timeout, f.MemorySize)
	}
	if tick := f.Events["Tick"]; tick.Type != "Schedule" || tick.Properties["Schedule"] != "rate(5 minutes)" {
		t.Errorf("Tick = %+v, want a Schedule at rate(5 minutes)", tick)
	}
	if change := f.Events["Change"]; change.Type != "EventBridgeRule" || change.Properties["State"] != "ENABLED" {
		t.Errorf("Change = %+v, want an enabled EventBridgeRule", change)
	}
	want := []string{"AWS_LAMBDA_FUNCTION_TIMEOUT=60", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256"}
	if got := f.Environ(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Environ() = %q, want %q", got, want)
	}

	f, err = ResolveFunction(fn(env(`B: b`+"\n"+`A: a`), ""), "Fn", testStack)
	if err != nil {
		t.Fatal(err)
	}
	if f.Timeout != 3 || f.MemorySize != 128 {
		t.Errorf("Timeout %d, MemorySize %d; want SAM's defaults 3 and 128", f.Timeout, f.MemorySize)
	}
	want = []string{"A=a", "B=b", "AWS_LAMBDA_FUNCTION_TIMEOUT=3", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128"}
	if got := f.Environ(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Environ() = %q, want %q", got, want)
	}
}

// TestResolveFunctionFailsLoudly checks that whatever is not resolved as
// CloudFormation would resolve it is an error that says where.
func TestResolveFunctionFailsLoudly(t *testing.T) {
	tests := []struct {
		name      string
		template  []byte
		overrides map[string]string
		stack     *Stack
		want      string // in the error
	}{
		{"an intrinsic not resolved here", fn(env(`X: !Select [0, [a, b]]`), ""), nil, nil, "Variables.X: Fn::Select: not resolved here"},
		{"an unknown tag", fn(env(`X: !Reff Level`), ""), nil, nil, "unknown tag !Reff"},
		{"a Ref to nothing", fn(env(`X: !Ref Nothing`), ""), nil, nil, "Nothing is no parameter or resource"},
		{"a resource the stack does not give", fn(env(`X: !Ref Table`), "  Table: {Type: AWS::DynamoDB::Table}\n"), nil, &Stack{}, "no value for Table"},
		{"a pseudo parameter the stack does not give", fn(env(`X: !Ref AWS::AccountId`), ""), nil, nil, "no value for AWS::AccountId"},
		{"a resource its condition leaves out", fn(env(`X: !Ref Secret`), ""), map[string]string{"SecretArn": "arn:given"}, nil,
			"resource Secret is not created: its condition CreateSecret is false"},
		{"an attribute the stack does not give", fn(env(`X: !GetAtt Table.StreamArn`), "  Table: {Type: AWS::DynamoDB::Table}\n"), nil, nil, "no value for Table.StreamArn"},
		{"a Sub of an unknown name", fn(env(`X: !Sub "a-${Nothing}"`), ""), nil, nil, "Nothing is no parameter or resource"},
		{"a FindInMap key that is missing", fn(env(`X: !FindInMap [Schedule, "2", Expression]`), ""), nil, nil, `no key "2" in mapping "Schedule"`},
		{"a FindInMap with a DefaultValue", fn(env(`X: !FindInMap [Schedule, "2", Expression, {DefaultValue: x}]`), ""), nil, nil, "no DefaultValue here"},
		{"an unknown condition", fn(env(`X: !If [Nope, a, b]`), ""), nil, nil, "no condition Nope"},
		{"a list as a variable", fn(env(`X: [a, b]`), ""), nil, nil, "Variables.X: resolves to [a b], not a string"},
		{"a null variable", fn(env(`X:`), ""), nil, nil, "Variables.X: null"},
		{"an unquoted YAML 1.1 boolean", fn(env(`X: on`), ""), nil, nil, "quote it"},
		{"an override of no parameter", fn(env(`X: a`), ""), map[string]string{"Nope": "1"}, nil, "override Nope: the template has no such parameter"},
		{"an override outside AllowedValues", fn(env(`X: a`), ""), map[string]string{"Mode": "maybe"}, nil, "Mode=\"maybe\": not one of AllowedValues"},
		{"an override against AllowedPattern", fn(env(`X: a`), ""), map[string]string{"Name": "ab1"}, nil, "does not match AllowedPattern"},
		{"an override too long", fn(env(`X: a`), ""), map[string]string{"Name": "abcdef"}, nil, "outside MaxLength 5"},
		{"an override below MinValue", fn(env(`X: a`), ""), map[string]string{"Threshold": "0"}, nil, "outside MinValue 1"},
		{"a parameter without a Default", []byte("Parameters:\n  P: {Type: String}\nResources:\n  Fn: {Type: AWS::Serverless::Function}\n"), nil, nil, "P has no Default"},
		{"a parameter of a type not resolved", []byte("Parameters:\n  P: {Type: 'AWS::SSM::Parameter::Value<String>', Default: /x}\nResources:\n  Fn: {Type: AWS::Serverless::Function}\n"), nil, nil, "is not resolved here"},
		{"a condition on itself", []byte("Conditions:\n  C: !Not [!Condition C]\nResources:\n  Fn: {Type: AWS::Serverless::Function, Condition: C}\n"), nil, nil, "C depends on itself"},
		{"a function its condition leaves out", []byte("Conditions:\n  C: !Equals [a, b]\nResources:\n  Fn: {Type: AWS::Serverless::Function, Condition: C}\n"), nil, nil, "resource Fn is not created"},
		{"no such function", fn(env(`X: a`), ""), nil, nil, "no resource Other"},
		{"a resource that is no function", []byte("Resources:\n  Fn: {Type: AWS::SNS::Topic}\n"), nil, nil, "not a function"},
		{"a YAML alias", fn(env("X: &a v\n Y: *a"), ""), nil, nil, "Variables.Y: a YAML alias"},
		{"a broken event", fn("      Events:\n        E: {Type: Schedule, Properties: {Schedule: !ImportValue x}}\n", ""), nil, nil, "Events.E.Properties.Schedule: Fn::ImportValue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stack := testStack
			if tt.stack != nil {
				stack = *tt.stack
			}
			stack.Parameters = tt.overrides
			name := "Fn"
			if tt.name == "no such function" {
				name = "Other"
			}
			f, err := ResolveFunction(tt.template, name, stack)
			if err == nil {
				t.Fatalf("resolved to %+v, want an error", f)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

// TestDeployedFunction resolves the repository's template.yaml at its
// defaults: the function takes its Slack credential from the secret the
// stack creates, and no local-run variable.
func TestDeployedFunction(t *testing.T) {
	f := DeployedFunction(t, Stack{Refs: map[string]string{"SlackSecret": "arn:secret", "StateTable": "table-1"}})
	if f.Env["SLACK_SECRET_ARN"] != "arn:secret" || f.Env["STATE_TABLE"] != "table-1" {
		t.Errorf("Env = %v, want the secret's ARN and the table's name", f.Env)
	}
	for _, local := range []string{"SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN", "SLACK_CHANNEL"} {
		if _, ok := f.Env[local]; ok {
			t.Errorf("the deployed function has %s, a local run's setting", local)
		}
	}
	given := DeployedFunction(t, Stack{Parameters: map[string]string{"SlackSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:lw-AbCdEf"},
		Refs: map[string]string{"StateTable": "table-1"}})
	if got := given.Env["SLACK_SECRET_ARN"]; got != "arn:aws:secretsmanager:us-east-1:123456789012:secret:lw-AbCdEf" {
		t.Errorf("with SlackSecretArn given, SLACK_SECRET_ARN = %q, want it", got)
	}
}
