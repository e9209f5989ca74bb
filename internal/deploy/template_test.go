package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

// The logical IDs the checks below look for.
const (
	functionID = "LabelwatchFunction"
	tableID    = "StateTable"
	logGroupID = "LogGroup"
	alarmID    = "ErrorsAlarm"
)

func TestTemplateMatchesSAMSchema(t *testing.T) {
	root := repoRoot(t)
	// Where the file is, per shared/schemas/README.md: beside the repository.
	schemaPath := filepath.Join(root, "..", "shared", "schemas", "sam.schema.json")
	if _, err := os.Stat(schemaPath); errors.Is(err, fs.ErrNotExist) {
		t.Skipf("skipping the SAM schema check: %s is absent (see shared/schemas/README.md)", schemaPath)
	}
	// The schema is 750 KB: compile it once for every case. Go's regexp
	// cannot compile one of its patterns; compileSchemaRegexp can.
	c := jsonschema.NewCompiler()
	c.UseRegexpEngine(compileSchemaRegexp)
	schema, err := c.Compile(schemaPath)
	if err != nil {
		t.Fatalf("compile %s: %v", schemaPath, err)
	}

	// The schema passes many function properties (Runtime, Handler,
	// Architectures ...) through to CloudFormation unchecked, so a broken
	// Runtime is TestDeployConventions' to catch; these cases break what the
	// schema does check.
	tests := []struct {
		name    string
		mutate  func(t *testing.T, doc map[string]any)
		wantErr string // text the validation error must contain; "" means valid
	}{
		{name: "template as written"},
		{
			name: "unknown function property",
			mutate: func(t *testing.T, doc map[string]any) {
				mapAt(t, doc, "Resources", functionID, "Properties")["Runtimes"] = "provided.al2023"
			},
			wantErr: "Runtimes",
		},
		{
			name: "misspelled serverless resource type",
			mutate: func(t *testing.T, doc map[string]any) {
				mapAt(t, doc, "Resources", functionID)["Type"] = "AWS::Serverless::Functon"
			},
			// Only the lookahead pattern of the catch-all definition refuses it.
			wantErr: "does not match pattern '^(?!AWS::Serverless::).+$'",
		},
		{
			name: "unknown schedule event property",
			mutate: func(t *testing.T, doc map[string]any) {
				mapAt(t, doc, "Resources", functionID, "Properties", "Events", "Schedule", "Properties")["Rate"] = "5 minutes"
			},
			wantErr: "Rate",
		},
		{
			name: "CodeUri given as a list",
			mutate: func(t *testing.T, doc map[string]any) {
				mapAt(t, doc, "Resources", functionID, "Properties")["CodeUri"] = []any{"."}
			},
			wantErr: "CodeUri",
		},
		{
			name: "retry attempts given as text",
			mutate: func(t *testing.T, doc map[string]any) {
				mapAt(t, doc, "Resources", functionID, "Properties", "EventInvokeConfig")["MaximumRetryAttempts"] = "zero"
			},
			wantErr: "MaximumRetryAttempts",
		},
		{
			name:    "no Resources",
			mutate:  func(t *testing.T, doc map[string]any) { delete(doc, "Resources") },
			wantErr: "Resources",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := loadTemplate(t)
			if tt.mutate != nil {
				tt.mutate(t, doc)
			}
			err := schema.Validate(any(doc))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("template.yaml does not match the SAM schema:\n%v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatal("the broken template passed validation")
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("validation error does not mention %q:\n%v", tt.wantErr, err)
			}
		})
	}
}

func TestSchemaRegexp(t *testing.T) {
	tests := []struct {
		pattern string
		input   string
		want    bool
	}{
		{`^(?!AWS::Serverless::).+$`, "AWS::DynamoDB::Table", true},
		{`^(?!AWS::Serverless::).+$`, "AWS::Serverless::Function", false},
		{`^(?!AWS::Serverless::).+$`, "AWS::Serverless::Functon", false},
		{`^(?!AWS::Serverless::).+$`, "", false},
		{`^[a-z]+$`, "abc", true},
		{`^[a-z]+$`, "ABC", false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.input, func(t *testing.T) {
			re, err := compileSchemaRegexp(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			if got := re.MatchString(tt.input); got != tt.want {
				t.Errorf("MatchString(%q) = %v, want %v", tt.input, got, tt.want)
			}
		})
	}
	if _, err := compileSchemaRegexp(`(?<=a)b`); err == nil {
		t.Error("a lookbehind compiled; only a leading negative lookahead on a literal is supported")
	}
}

func TestShortTags(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    string // JSON; "" when an error is expected
		wantErr string
	}{
		{name: "Ref", yaml: `v: !Ref Table`, want: `{"v":{"Ref":"Table"}}`},
		{name: "Sub string", yaml: `v: !Sub "${AWS::StackName}-x"`, want: `{"v":{"Fn::Sub":"${AWS::StackName}-x"}}`},
		{name: "Sub with variables", yaml: `v: !Sub ["${A}", {A: !Ref B}]`, want: `{"v":{"Fn::Sub":["${A}",{"A":{"Ref":"B"}}]}}`},
		{name: "GetAtt dotted", yaml: `v: !GetAtt Table.Arn`, want: `{"v":{"Fn::GetAtt":["Table","Arn"]}}`},
		{name: "GetAtt nested attribute", yaml: `v: !GetAtt Db.Endpoint.Address`, want: `{"v":{"Fn::GetAtt":["Db","Endpoint.Address"]}}`},
		{name: "GetAtt list", yaml: `v: !GetAtt [Table, Arn]`, want: `{"v":{"Fn::GetAtt":["Table","Arn"]}}`},
		{name: "Join", yaml: `v: !Join [",", [a, !Ref B]]`, want: `{"v":{"Fn::Join":[",",["a",{"Ref":"B"}]]}}`},
		{name: "If Equals Not", yaml: `v: !If [C, !Not [!Equals [!Ref P, ""]], !Ref AWS::NoValue]`, want: `{"v":{"Fn::If":["C",{"Fn::Not":[{"Fn::Equals":[{"Ref":"P"},""]}]},{"Ref":"AWS::NoValue"}]}}`},
		{name: "Select Split", yaml: `v: !Select [0, !Split [",", !Ref P]]`, want: `{"v":{"Fn::Select":[0,{"Fn::Split":[",",{"Ref":"P"}]}]}}`},
		{name: "FindInMap", yaml: `v: !FindInMap [M, !Ref AWS::Region, K]`, want: `{"v":{"Fn::FindInMap":["M",{"Ref":"AWS::Region"},"K"]}}`},
		{name: "ImportValue Base64", yaml: `v: !Base64 {"Fn::ImportValue": x}`, want: `{"v":{"Fn::Base64":{"Fn::ImportValue":"x"}}}`},
		{name: "ImportValue short", yaml: `v: !ImportValue other-stack-Arn`, want: `{"v":{"Fn::ImportValue":"other-stack-Arn"}}`},
		{name: "GetAZs empty", yaml: `v: !GetAZs ""`, want: `{"v":{"Fn::GetAZs":""}}`},
		{name: "Condition And Or", yaml: `v: !And [!Condition A, !Or [!Condition B, !Condition C]]`, want: `{"v":{"Fn::And":[{"Condition":"A"},{"Fn::Or":[{"Condition":"B"},{"Condition":"C"}]}]}}`},
		{name: "Cidr", yaml: `v: !Cidr [10.0.0.0/16, 4, 8]`, want: `{"v":{"Fn::Cidr":["10.0.0.0/16",4,8]}}`},
		{name: "scalar argument stays text", yaml: `v: !Ref 10`, want: `{"v":{"Ref":"10"}}`},
		{name: "plain values keep their types", yaml: "a: 1\nb: true\nc: \"1\"\nd: null\ne: 2012-10-17\nf: 1.5", want: `{"a":1,"b":true,"c":"1","d":null,"e":"2012-10-17","f":1.5}`},
		{name: "alias", yaml: "a: &x {k: !Ref R}\nb: *x", want: `{"a":{"k":{"Ref":"R"}},"b":{"k":{"Ref":"R"}}}`},
		{name: "unknown tag", yaml: `v: !Refs Table`, wantErr: "!Refs"},
		{name: "GetAtt without attribute", yaml: `v: !GetAtt Table`, wantErr: "GetAtt"},
		{name: "duplicate key", yaml: "a: 1\na: 2", wantErr: "duplicate"},
		{name: "merge key", yaml: "a: &x {k: 1}\nb:\n  <<: *x", wantErr: "merge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cfnJSON([]byte(tt.yaml))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g, w := canonical(t, got), canonicalText(t, tt.want); g != w {
				t.Errorf("got  %s\nwant %s", g, w)
			}
		})
	}
}

func TestDeployConventions(t *testing.T) {
	doc := loadTemplate(t)
	fn := func(path ...string) []string { return append([]string{"Resources", functionID, "Properties"}, path...) }
	table := func(path ...string) []string { return append([]string{"Resources", tableID, "Properties"}, path...) }
	param := func(name, field string) []string { return []string{"Parameters", name, field} }

	tests := []struct {
		name string
		path []string
		want string // JSON
	}{
		{"SAM transform", []string{"Transform"}, `"AWS::Serverless-2016-10-31"`},
		{"function type", []string{"Resources", functionID, "Type"}, `"AWS::Serverless::Function"`},
		{"build method", []string{"Resources", functionID, "Metadata", "BuildMethod"}, `"makefile"`},
		{"runtime", fn("Runtime"), `"provided.al2023"`},
		{"architectures", fn("Architectures"), `["arm64"]`},
		{"handler", fn("Handler"), `"bootstrap"`},
		{"code uri", fn("CodeUri"), `"."`},
		{"memory", fn("MemorySize"), `128`},
		{"timeout", fn("Timeout"), `60`},
		{"function name matches the log group", fn("FunctionName"), `{"Fn::Sub":"${AWS::StackName}-labelwatch"}`},
		{"JSON logs", fn("LoggingConfig", "LogFormat"), `"JSON"`},
		{"logs to the stack's log group", fn("LoggingConfig", "LogGroup"), `{"Ref":"LogGroup"}`},
		{"schedule event type", fn("Events", "Schedule", "Type"), `"Schedule"`},
		{"schedule from the parameter", fn("Events", "Schedule", "Properties", "Schedule"), `{"Ref":"ScheduleExpression"}`},
		{"environment", fn("Environment", "Variables"), `{
			"STATE_TABLE": {"Ref": "StateTable"},
			"SLACK_WEBHOOK_URL": {"Ref": "SlackWebhookUrl"},
			"SLACK_BOT_TOKEN": {"Ref": "SlackBotToken"},
			"SLACK_CHANNEL": {"Ref": "SlackChannel"},
			"ALERT_ON": {"Ref": "AlertOn"},
			"NAME_CONTAINS": {"Ref": "NameContains"},
			"IGNORE_CREATED_BEFORE": {"Ref": "IgnoreCreatedBefore"},
			"LOOKBACK": {"Ref": "Lookback"},
			"OVERLAP": {"Ref": "Overlap"},
			"RETENTION": {"Ref": "Retention"},
			"DIGEST_THRESHOLD": {"Ref": "DigestThreshold"}}`},

		{"table type", []string{"Resources", tableID, "Type"}, `"AWS::DynamoDB::Table"`},
		{"on-demand billing", table("BillingMode"), `"PAY_PER_REQUEST"`},
		{"key schema", table("KeySchema"), `[{"AttributeName":"pk","KeyType":"HASH"}]`},
		{"key attribute", table("AttributeDefinitions"), `[{"AttributeName":"pk","AttributeType":"S"}]`},
		{"TTL on expiresAt", table("TimeToLiveSpecification"), `{"AttributeName":"expiresAt","Enabled":true}`},
		{"point-in-time recovery", table("PointInTimeRecoverySpecification"), `{"PointInTimeRecoveryEnabled":true}`},
		{"encryption", table("SSESpecification"), `{"SSEEnabled":true}`},

		{"log group type", []string{"Resources", logGroupID, "Type"}, `"AWS::Logs::LogGroup"`},
		{"log group name", []string{"Resources", logGroupID, "Properties", "LogGroupName"}, `{"Fn::Sub":"/aws/lambda/${AWS::StackName}-labelwatch"}`},
		{"log retention", []string{"Resources", logGroupID, "Properties", "RetentionInDays"}, `{"Ref":"LogRetentionDays"}`},

		{"alarm type", []string{"Resources", alarmID, "Type"}, `"AWS::CloudWatch::Alarm"`},
		{"alarm metric", []string{"Resources", alarmID, "Properties", "MetricName"}, `"Errors"`},
		{"alarm namespace", []string{"Resources", alarmID, "Properties", "Namespace"}, `"AWS/Lambda"`},
		{"alarm function", []string{"Resources", alarmID, "Properties", "Dimensions"}, `[{"Name":"FunctionName","Value":{"Ref":"LabelwatchFunction"}}]`},
		{"alarm threshold", []string{"Resources", alarmID, "Properties", "Threshold"}, `1`},
		{"alarm comparison", []string{"Resources", alarmID, "Properties", "ComparisonOperator"}, `"GreaterThanOrEqualToThreshold"`},
		{"alarm periods", []string{"Resources", alarmID, "Properties", "EvaluationPeriods"}, `3`},

		{"webhook is secret", param("SlackWebhookUrl", "NoEcho"), `true`},
		{"bot token is secret", param("SlackBotToken", "NoEcho"), `true`},
		{"default schedule", param("ScheduleExpression", "Default"), `"rate(5 minutes)"`},
		{"default webhook", param("SlackWebhookUrl", "Default"), `""`},
		{"default bot token", param("SlackBotToken", "Default"), `""`},
		{"default channel", param("SlackChannel", "Default"), `""`},
		{"default alert statuses", param("AlertOn", "Default"), `"Failed,Completed,Stopped"`},
		{"default name filter", param("NameContains", "Default"), `""`},
		{"default creation cut-off", param("IgnoreCreatedBefore", "Default"), `""`},
		{"default lookback", param("Lookback", "Default"), `"1h"`},
		{"default overlap", param("Overlap", "Default"), `"10m"`},
		{"default retention", param("Retention", "Default"), `"2160h"`},
		{"default digest threshold", param("DigestThreshold", "Default"), `10`},
		{"default log retention", param("LogRetentionDays", "Default"), `30`},
		{"log retention values", param("LogRetentionDays", "AllowedValues"),
			`[1,3,5,7,14,30,60,90,120,150,180,365,400,545,731,1096,1827,2192,2557,2922,3288,3653]`},

		{"output function name", []string{"Outputs", "FunctionName", "Value"}, `{"Ref":"LabelwatchFunction"}`},
		{"output function ARN", []string{"Outputs", "FunctionArn", "Value"}, `{"Fn::GetAtt":["LabelwatchFunction","Arn"]}`},
		{"output table name", []string{"Outputs", "StateTableName", "Value"}, `{"Ref":"StateTable"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := lookup(doc, tt.path...)
			if !ok {
				t.Fatalf("%s is not set", strings.Join(tt.path, "."))
			}
			if g, w := canonical(t, got), canonicalText(t, tt.want); g != w {
				t.Errorf("%s\n got %s\nwant %s", strings.Join(tt.path, "."), g, w)
			}
		})
	}
}

// TestParameters checks what a reader of `sam deploy --guided` relies on:
// every parameter is explained, used, and accepts its own default.
func TestParameters(t *testing.T) {
	doc := loadTemplate(t)
	params := mapAt(t, doc, "Parameters")
	used := referencedNames(doc)
	for _, name := range slices.Sorted(maps.Keys(params)) {
		t.Run(name, func(t *testing.T) {
			p := mapAt(t, params, name)
			if d, _ := p["Description"].(string); strings.TrimSpace(d) == "" {
				t.Error("has no Description")
			}
			if !used[name] {
				t.Error("is never referenced")
			}
			def, hasDefault := p["Default"]
			if !hasDefault {
				return
			}
			text := strings.Trim(canonical(t, def), `"`)
			if pattern, ok := p["AllowedPattern"].(string); ok {
				// CloudFormation matches the whole value.
				re, err := regexp.Compile(`^(?:` + pattern + `)$`)
				if err != nil {
					t.Fatalf("AllowedPattern: %v", err)
				}
				if !re.MatchString(text) {
					t.Errorf("Default %q does not match AllowedPattern %s", text, pattern)
				}
			}
			if allowed, ok := p["AllowedValues"].([]any); ok {
				if !slices.ContainsFunc(allowed, func(v any) bool { return strings.Trim(canonical(t, v), `"`) == text }) {
					t.Errorf("Default %q is not among AllowedValues", text)
				}
			}
		})
	}
}

// TestReferencesResolve catches a typo in a !Ref, !GetAtt or !Sub name, which
// CloudFormation would only report at deploy time.
func TestReferencesResolve(t *testing.T) {
	doc := loadTemplate(t)
	pseudo := map[string]bool{
		"AWS::AccountId": true, "AWS::NotificationARNs": true, "AWS::NoValue": true, "AWS::Partition": true,
		"AWS::Region": true, "AWS::StackId": true, "AWS::StackName": true, "AWS::URLSuffix": true,
	}
	params, _ := lookup(doc, "Parameters")
	resources, _ := lookup(doc, "Resources")
	for _, name := range slices.Sorted(maps.Keys(referencedNames(doc))) {
		_, isParam := params.(map[string]any)[name]
		_, isResource := resources.(map[string]any)[name]
		if !pseudo[name] && !isParam && !isResource {
			t.Errorf("%s is referenced but is neither a parameter, a resource nor a pseudo parameter", name)
		}
	}
}

func TestLeastPrivilege(t *testing.T) {
	root := repoRoot(t)
	calls, err := codeCalls(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the code calls %v", calls)

	jobState := func(t *testing.T, doc map[string]any) map[string]any { return statement(t, doc, "JobState") }
	policies := func(t *testing.T, doc map[string]any) map[string]any {
		return mapAt(t, doc, "Resources", functionID, "Properties")
	}
	tests := []struct {
		name   string
		mutate func(t *testing.T, doc map[string]any)
		want   string // text one of the violations must contain; "" means none allowed
	}{
		{name: "template as written"},
		{
			name:   "all actions",
			mutate: func(t *testing.T, doc map[string]any) { jobState(t, doc)["Action"] = "*" },
			want:   `wildcard action "*"`,
		},
		{
			name:   "service wildcard",
			mutate: func(t *testing.T, doc map[string]any) { jobState(t, doc)["Action"] = []any{"dynamodb:*"} },
			want:   `wildcard action "dynamodb:*"`,
		},
		{
			name: "partial wildcard",
			mutate: func(t *testing.T, doc map[string]any) {
				jobState(t, doc)["Action"] = []any{"dynamodb:*Item", "dynamodb:BatchGetItem"}
			},
			want: `wildcard action "dynamodb:*Item"`,
		},
		{
			name: "an action the code does not call",
			mutate: func(t *testing.T, doc map[string]any) {
				s := jobState(t, doc)
				s["Action"] = append(s["Action"].([]any), "dynamodb:PutItem")
			},
			want: `grants dynamodb:PutItem, which the code does not call`,
		},
		{
			name: "an action the code calls is missing",
			mutate: func(t *testing.T, doc map[string]any) {
				s := jobState(t, doc)
				s["Action"] = slices.DeleteFunc(s["Action"].([]any), func(a any) bool { return a == "dynamodb:UpdateItem" })
			},
			want: `does not grant dynamodb:UpdateItem`,
		},
		{
			name:   "table actions on every resource",
			mutate: func(t *testing.T, doc map[string]any) { jobState(t, doc)["Resource"] = "*" },
			want:   `dynamodb actions on "*"`,
		},
		{
			name: "table actions on its indexes too",
			mutate: func(t *testing.T, doc map[string]any) {
				s := jobState(t, doc)
				s["Resource"] = []any{s["Resource"], map[string]any{"Fn::Sub": "${StateTable.Arn}/index/*"}}
			},
			want: `dynamodb actions on`,
		},
		{
			name:   "NotAction",
			mutate: func(t *testing.T, doc map[string]any) { jobState(t, doc)["NotAction"] = []any{"iam:*"} },
			want:   "NotAction",
		},
		{
			name: "another service",
			mutate: func(t *testing.T, doc map[string]any) {
				s := statement(t, doc, "ListLabelingJobs")
				s["Action"] = []any{"sagemaker:ListLabelingJobs", "s3:GetObject"}
			},
			want: `grants s3:GetObject, which the code does not call`,
		},
		{
			name: "a non-list sagemaker action on every resource",
			mutate: func(t *testing.T, doc map[string]any) {
				s := statement(t, doc, "ListLabelingJobs")
				s["Action"] = []any{"sagemaker:ListLabelingJobs", "sagemaker:StopLabelingJob"}
			},
			want: `sagemaker:StopLabelingJob on "*"`,
		},
		{
			name: "a managed policy",
			mutate: func(t *testing.T, doc map[string]any) {
				p := policies(t, doc)
				p["Policies"] = append(p["Policies"].([]any), "AmazonDynamoDBFullAccess")
			},
			want: "AmazonDynamoDBFullAccess",
		},
		{
			name: "a SAM policy template",
			mutate: func(t *testing.T, doc map[string]any) {
				p := policies(t, doc)
				p["Policies"] = append(p["Policies"].([]any), map[string]any{
					"DynamoDBCrudPolicy": map[string]any{"TableName": map[string]any{"Ref": tableID}},
				})
			},
			want: "DynamoDBCrudPolicy",
		},
		{
			name: "a role of its own",
			mutate: func(t *testing.T, doc map[string]any) {
				policies(t, doc)["Role"] = "arn:aws:iam::123456789012:role/admin"
			},
			want: "Role",
		},
		{
			name: "an IAM resource",
			mutate: func(t *testing.T, doc map[string]any) {
				mapAt(t, doc, "Resources")["ExtraPolicy"] = map[string]any{"Type": "AWS::IAM::ManagedPolicy"}
			},
			want: "ExtraPolicy",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := loadTemplate(t)
			if tt.mutate != nil {
				tt.mutate(t, doc)
			}
			violations := iamViolations(doc, calls)
			if tt.want == "" {
				for _, v := range violations {
					t.Error(v)
				}
				return
			}
			if !slices.ContainsFunc(violations, func(v string) bool { return strings.Contains(v, tt.want) }) {
				t.Errorf("no violation mentions %q; got %q", tt.want, violations)
			}
		})
	}
}

func TestInterfaceMethods(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		want    []string
		found   bool
		wantErr string
	}{
		{
			name: "methods",
			src: `package state
type DynamoAPI interface {
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
}`,
			want:  []string{"BatchGetItem", "GetItem", "UpdateItem"},
			found: true,
		},
		{
			name: "in a group with other types",
			src: `package state
type (
	Other struct{}
	DynamoAPI interface{ GetItem(); Query() }
)`,
			want:  []string{"GetItem", "Query"},
			found: true,
		},
		{
			name:    "embedded interface",
			src:     "package state\ntype DynamoAPI interface{ dynamodb.QueryAPIClient; GetItem() }",
			found:   true,
			wantErr: "embeds dynamodb.QueryAPIClient",
		},
		{
			name:    "not an interface",
			src:     "package state\ntype DynamoAPI = *dynamodb.Client",
			found:   true,
			wantErr: "not an interface",
		},
		{
			name: "absent",
			src:  "package state\ntype Store interface{ Load() }",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := parser.ParseFile(token.NewFileSet(), "dynamo.go", tt.src, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			got, found, err := interfaceMethodsIn(f, "DynamoAPI")
			if found != tt.found {
				t.Fatalf("found = %v, want %v", found, tt.found)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSamconfig(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(repoRoot(t), "samconfig.toml"))
	if err != nil {
		t.Fatal(err)
	}
	tables, err := readTOML(string(src))
	if err != nil {
		t.Fatalf("samconfig.toml: %v", err)
	}
	tests := []struct {
		table, key string
		want       string // the TOML value as written
	}{
		{"", "version", `0.1`},
		{"default.global.parameters", "stack_name", `"labelwatch"`},
		{"default.build.parameters", "cached", `true`},
		{"default.build.parameters", "parallel", `true`},
		{"default.deploy.parameters", "capabilities", `"CAPABILITY_IAM"`},
		{"default.deploy.parameters", "confirm_changeset", `true`},
		{"default.deploy.parameters", "resolve_s3", `true`},
		{"default.deploy.parameters", "s3_prefix", `"labelwatch"`},
	}
	for _, tt := range tests {
		t.Run(tt.table+"."+tt.key, func(t *testing.T) {
			got, ok := tables[tt.table][tt.key]
			if !ok {
				t.Fatalf("[%s] has no %s", tt.table, tt.key)
			}
			if got != tt.want {
				t.Errorf("[%s] %s = %s, want %s", tt.table, tt.key, got, tt.want)
			}
		})
	}
	t.Run("no secrets", func(t *testing.T) {
		for table, kv := range tables {
			for key, value := range kv {
				for _, secret := range []string{"SlackWebhookUrl", "SlackBotToken", "hooks.slack.com", "xoxb-", "xoxp-"} {
					if strings.Contains(value, secret) {
						t.Errorf("[%s] %s holds %s: pass Slack secrets at deploy time, never in this file", table, key, secret)
					}
				}
			}
		}
	})
}

func TestReadTOML(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		want    map[string]map[string]string
		wantErr string
	}{
		{
			name: "tables and comments",
			src:  "# c\nversion = 0.1\n\n[a.b]\nk = \"v # not a comment\" # comment\n[c]\nx=true\n",
			want: map[string]map[string]string{"": {"version": "0.1"}, "a.b": {"k": `"v # not a comment"`}, "c": {"x": "true"}},
		},
		{name: "duplicate key", src: "[a]\nk = 1\nk = 2\n", wantErr: "twice"},
		{name: "not key = value", src: "[a]\njust words\n", wantErr: "line 2"},
		{name: "unterminated header", src: "[a\n", wantErr: "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readTOML(tt.src)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g, w := fmt.Sprint(got), fmt.Sprint(tt.want); g != w {
				t.Errorf("got %s, want %s", g, w)
			}
		})
	}
}

// TestScheduledEvent checks events/scheduled.json is what EventBridge sends a
// scheduled function: every field of the envelope and nothing else.
func TestScheduledEvent(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(repoRoot(t), "events", "scheduled.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(src, &fields); err != nil {
		t.Fatal(err)
	}
	wantFields := []string{"account", "detail", "detail-type", "id", "region", "resources", "source", "time", "version"}
	if got := slices.Sorted(maps.Keys(fields)); !slices.Equal(got, wantFields) {
		t.Errorf("fields %v, want %v", got, wantFields)
	}
	var ev events.EventBridgeEvent
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		t.Fatalf("decode as events.EventBridgeEvent: %v", err)
	}
	tests := []struct {
		name string
		ok   bool
	}{
		{"version is 0", ev.Version == "0"},
		{"id is set", ev.ID != ""},
		{"detail-type is Scheduled Event", ev.DetailType == "Scheduled Event"},
		{"source is aws.events", ev.Source == "aws.events"},
		{"account is 12 digits", regexp.MustCompile(`^[0-9]{12}$`).MatchString(ev.AccountID)},
		{"time is set", !ev.Time.IsZero()},
		{"region is set", ev.Region != ""},
		{"resources is the rule", len(ev.Resources) == 1 &&
			strings.HasPrefix(ev.Resources[0], "arn:aws:events:"+ev.Region+":"+ev.AccountID+":rule/")},
		{"detail is empty", string(bytes.TrimSpace(ev.Detail)) == "{}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.ok {
				t.Errorf("events/scheduled.json: want %s", tt.name)
			}
		})
	}
}

// repoRoot walks up from the test's directory to the one holding go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// loadTemplate returns a fresh copy of template.yaml in CloudFormation's JSON
// form, for a test to read or change.
func loadTemplate(t *testing.T) map[string]any {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(repoRoot(t), "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := cfnJSON(src)
	if err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	doc, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("template.yaml is a %T, not a mapping", v)
	}
	return doc
}

// cfnJSON reads a CloudFormation YAML document into the values JSON would
// give (numbers as json.Number), with each short-form tag (!Ref, !GetAtt ...)
// turned into its long form ({"Ref": ...}, {"Fn::GetAtt": [...]}).
func cfnJSON(src []byte) (any, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		return nil, err
	}
	v, err := longForm(&root)
	if err != nil {
		return nil, err
	}
	// A JSON round trip leaves only the types the schema validator knows.
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}

func longForm(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return nil, fmt.Errorf("line %d: want one YAML document", n.Line)
		}
		return longForm(n.Content[0])
	case yaml.AliasNode:
		return longForm(n.Alias)
	}
	if n.Tag != "" && !strings.HasPrefix(n.Tag, "!!") {
		return intrinsic(n)
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Tag == "!!merge" {
				return nil, fmt.Errorf("line %d: CloudFormation has no YAML merge keys (<<)", k.Line)
			}
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: a key must be a scalar", k.Line)
			}
			if _, dup := m[k.Value]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %q", k.Line, k.Value)
			}
			val, err := longForm(v)
			if err != nil {
				return nil, err
			}
			m[k.Value] = val
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			val, err := longForm(c)
			if err != nil {
				return nil, err
			}
			s = append(s, val)
		}
		return s, nil
	case yaml.ScalarNode:
		if n.Tag == "!!timestamp" {
			// CloudFormation reads an unquoted date (Version: 2012-10-17) as text.
			return n.Value, nil
		}
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return v, nil
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node kind %v", n.Line, n.Kind)
}

// intrinsic turns a node tagged with a CloudFormation short form into the
// long form: the tag names the function, the node is its argument.
func intrinsic(n *yaml.Node) (any, error) {
	name := strings.TrimPrefix(n.Tag, "!")
	var key string
	switch name {
	case "Ref", "Condition":
		key = name
	case "Sub", "GetAtt", "Join", "If", "Equals", "Not", "Select", "Split", "FindInMap",
		"ImportValue", "Base64", "GetAZs", "And", "Or", "Cidr":
		key = "Fn::" + name
	default:
		return nil, fmt.Errorf("line %d: unknown tag %s", n.Line, n.Tag)
	}
	if n.Kind == yaml.ScalarNode {
		// A short form's scalar argument is text, whatever it looks like.
		if name == "GetAtt" {
			resource, attribute, ok := strings.Cut(n.Value, ".")
			if !ok {
				return nil, fmt.Errorf("line %d: !GetAtt %q has no .Attribute", n.Line, n.Value)
			}
			return map[string]any{key: []any{resource, attribute}}, nil
		}
		return map[string]any{key: n.Value}, nil
	}
	arg := *n
	arg.Tag = ""
	v, err := longForm(&arg)
	if err != nil {
		return nil, err
	}
	return map[string]any{key: v}, nil
}

// compileSchemaRegexp is Go's regexp plus the one pattern form of the SAM
// schema RE2 lacks: a leading negative lookahead on a literal,
// ^(?!LITERAL)REST, with which the catch-all resource definition refuses
// AWS::Serverless:: types.
func compileSchemaRegexp(pattern string) (jsonschema.Regexp, error) {
	re, err := regexp.Compile(pattern)
	if err == nil {
		return re, nil
	}
	rest, ok := strings.CutPrefix(pattern, "^(?!")
	if !ok {
		return nil, err
	}
	prefix, tail, ok := strings.Cut(rest, ")")
	if !ok || prefix == "" || regexp.QuoteMeta(prefix) != prefix {
		return nil, err
	}
	tailRe, tailErr := regexp.Compile("^" + tail)
	if tailErr != nil {
		return nil, err
	}
	return notPrefixed{pattern: pattern, prefix: prefix, rest: tailRe}, nil
}

type notPrefixed struct {
	pattern string
	prefix  string
	rest    *regexp.Regexp
}

func (r notPrefixed) MatchString(s string) bool {
	return !strings.HasPrefix(s, r.prefix) && r.rest.MatchString(s)
}

func (r notPrefixed) String() string { return r.pattern }

// codeCalls returns the IAM actions the code needs: the methods of
// internal/state's DynamoAPI, and the SageMaker calls of the job source.
func codeCalls(root string) ([]string, error) {
	dir := filepath.Join(root, "internal", "state")
	methods, err := interfaceMethods(dir, "DynamoAPI")
	if err != nil {
		return nil, err
	}
	calls := []string{"sagemaker:ListLabelingJobs"}
	for _, m := range methods {
		calls = append(calls, "dynamodb:"+m)
	}
	describes, err := callsMethod(root, ".DescribeLabelingJob(")
	if err != nil {
		return nil, err
	}
	if describes {
		calls = append(calls, "sagemaker:DescribeLabelingJob")
	}
	slices.Sort(calls)
	return calls, nil
}

// interfaceMethods returns the sorted method names of the interface type
// name declared in the non-test Go files of dir.
func interfaceMethods(dir, name string) ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	for _, path := range paths {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", path, err)
		}
		methods, found, err := interfaceMethodsIn(f, name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if found {
			return methods, nil
		}
	}
	return nil, fmt.Errorf("no type %s interface in %s: the DynamoDB grants are checked against its methods", name, dir)
}

func interfaceMethodsIn(f *ast.File, name string) (methods []string, found bool, err error) {
	for _, decl := range f.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.TYPE {
			continue
		}
		for _, spec := range gen.Specs {
			ts := spec.(*ast.TypeSpec)
			if ts.Name.Name != name {
				continue
			}
			iface, ok := ts.Type.(*ast.InterfaceType)
			if !ok {
				return nil, true, fmt.Errorf("%s is not an interface type", name)
			}
			for _, field := range iface.Methods.List {
				if _, isFunc := field.Type.(*ast.FuncType); !isFunc || len(field.Names) == 0 {
					return nil, true, fmt.Errorf("%s embeds %s: list its methods so the IAM grants can be checked against them",
						name, types.ExprString(field.Type))
				}
				for _, n := range field.Names {
					methods = append(methods, n.Name)
				}
			}
			slices.Sort(methods)
			return methods, true, nil
		}
	}
	return nil, false, nil
}

// callsMethod reports whether a non-test Go file of the shipped code (cmd/
// and internal/) contains call. internal/emulator and internal/testenv are
// left out: they serve or set up the APIs for tests and are not deployed.
func callsMethod(root, call string) (bool, error) {
	found := false
	for _, top := range []string{"cmd", "internal"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(path string, d fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) && path == filepath.Join(root, top) {
				return fs.SkipDir
			}
			if err != nil {
				return err
			}
			if d.IsDir() {
				if rel, _ := filepath.Rel(root, path); rel == filepath.Join("internal", "emulator") || rel == filepath.Join("internal", "testenv") {
					return fs.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if bytes.Contains(src, []byte(call)) {
				found = true
			}
			return nil
		})
		if err != nil {
			return false, err
		}
	}
	return found, nil
}

// iamViolations lists every way the template's grants go beyond calls, the
// actions the code makes. It refuses what it cannot see through: managed
// policies, SAM policy templates, a role of the function's own and IAM
// resources.
func iamViolations(doc map[string]any, calls []string) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }

	resources, _ := lookup(doc, "Resources")
	for id, r := range resources.(map[string]any) {
		if typ, _ := lookup(r, "Type"); strings.HasPrefix(fmt.Sprint(typ), "AWS::IAM::") {
			add("resource %s is a %s: grant permissions only through the function's Policies", id, typ)
		}
	}
	props, _ := lookup(doc, "Resources", functionID, "Properties")
	if _, ok := lookup(props, "Role"); ok {
		add("the function sets Role: let SAM build it from Policies so the grants can be checked")
	}
	policies, _ := lookup(props, "Policies")
	list, ok := policies.([]any)
	if !ok {
		list = []any{policies}
	}
	var statements []map[string]any
	for _, p := range list {
		stmts, ok := lookup(p, "Statement")
		if !ok {
			add("policy %s is not an inline policy document", canonicalOrText(p))
			continue
		}
		for _, s := range asList(stmts) {
			m, ok := s.(map[string]any)
			if !ok {
				add("statement %s is not a mapping", canonicalOrText(s))
				continue
			}
			statements = append(statements, m)
		}
	}

	tableARN := `{"Fn::GetAtt":["` + tableID + `","Arn"]}`
	granted := map[string]bool{}
	for _, s := range statements {
		sid := canonicalOrText(s["Sid"])
		for _, k := range []string{"NotAction", "NotResource", "NotPrincipal"} {
			if _, ok := s[k]; ok {
				add("statement %s uses %s, which grants everything it does not name", sid, k)
			}
		}
		if s["Effect"] != "Allow" {
			continue
		}
		var actions []string
		for _, a := range asList(s["Action"]) {
			action, ok := a.(string)
			if !ok {
				add("statement %s has action %s, which is not a literal", sid, canonicalOrText(a))
				continue
			}
			if strings.ContainsAny(action, "*?") {
				add("statement %s grants wildcard action %q", sid, action)
			}
			actions = append(actions, action)
			granted[action] = true
		}
		resources := asList(s["Resource"])
		for _, action := range actions {
			service, op, _ := strings.Cut(action, ":")
			switch service {
			case "dynamodb":
				if len(resources) != 1 || canonicalOrText(resources[0]) != tableARN {
					add("statement %s grants dynamodb actions on %s: want only %s", sid, canonicalOrText(s["Resource"]), tableARN)
				}
			case "sagemaker":
				// Resource "*" is forced on List actions only; others take ARNs.
				if !strings.HasPrefix(op, "List") && slices.ContainsFunc(resources, func(r any) bool { return r == "*" }) {
					add("statement %s grants %s on \"*\": scope it to labeling-job ARNs", sid, action)
				}
			}
		}
	}
	for _, action := range slices.Sorted(maps.Keys(granted)) {
		if !slices.Contains(calls, action) {
			add("the template grants %s, which the code does not call", action)
		}
	}
	for _, call := range calls {
		if !granted[call] {
			add("the template does not grant %s, which the code calls", call)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// statement returns the function's inline policy statement with the given Sid.
func statement(t *testing.T, doc map[string]any, sid string) map[string]any {
	t.Helper()
	policies, _ := lookup(doc, "Resources", functionID, "Properties", "Policies")
	for _, p := range asList(policies) {
		stmts, _ := lookup(p, "Statement")
		for _, s := range asList(stmts) {
			if m, ok := s.(map[string]any); ok && m["Sid"] == sid {
				return m
			}
		}
	}
	t.Fatalf("no policy statement %q", sid)
	return nil
}

// referencedNames returns every name a Ref, GetAtt or Sub in v refers to.
func referencedNames(v any) map[string]bool {
	names := map[string]bool{}
	subVar := regexp.MustCompile(`\$\{([^}!][^}]*)\}`)
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["Ref"].(string); ok && len(v) == 1 {
				names[ref] = true
			}
			if args, ok := v["Fn::GetAtt"].([]any); ok && len(args) > 0 {
				if r, ok := args[0].(string); ok {
					names[r] = true
				}
			}
			if sub, ok := v["Fn::Sub"]; ok {
				text, local := sub, map[string]any{}
				if args, ok := sub.([]any); ok && len(args) == 2 {
					text = args[0]
					local, _ = args[1].(map[string]any)
				}
				if s, ok := text.(string); ok {
					for _, m := range subVar.FindAllStringSubmatch(s, -1) {
						name, _, _ := strings.Cut(m[1], ".")
						if _, isLocal := local[name]; !isLocal {
							names[name] = true
						}
					}
				}
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(v)
	return names
}

// readTOML reads the subset of TOML samconfig.toml uses, [table] headers and
// key = value lines, into table name -> key -> the value as written. Keys
// before the first header are in table "".
func readTOML(src string) (map[string]map[string]string, error) {
	tables := map[string]map[string]string{"": {}}
	current := ""
	sc := bufio.NewScanner(strings.NewReader(src))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(stripTOMLComment(sc.Text()))
		switch {
		case line == "":
		case strings.HasPrefix(line, "["):
			name, ok := strings.CutSuffix(strings.TrimPrefix(line, "["), "]")
			if !ok || strings.TrimSpace(name) == "" {
				return nil, fmt.Errorf("line %d: bad table header %q", n, line)
			}
			current = strings.TrimSpace(name)
			if tables[current] == nil {
				tables[current] = map[string]string{}
			}
		default:
			key, value, ok := strings.Cut(line, "=")
			key, value = strings.TrimSpace(key), strings.TrimSpace(value)
			if !ok || key == "" || value == "" {
				return nil, fmt.Errorf("line %d: want key = value, got %q", n, line)
			}
			if _, dup := tables[current][key]; dup {
				return nil, fmt.Errorf("line %d: %s set twice in [%s]", n, key, current)
			}
			tables[current][key] = value
		}
	}
	return tables, sc.Err()
}

// stripTOMLComment drops a # comment that is not inside a basic string.
func stripTOMLComment(line string) string {
	inString := false
	for i, r := range line {
		switch {
		case r == '"' && (i == 0 || line[i-1] != '\\'):
			inString = !inString
		case r == '#' && !inString:
			return line[:i]
		}
	}
	return line
}

// lookup follows keys down nested mappings.
func lookup(v any, path ...string) (any, bool) {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

// mapAt is lookup for a mapping the test needs.
func mapAt(t *testing.T, v any, path ...string) map[string]any {
	t.Helper()
	got, ok := lookup(v, path...)
	m, isMap := got.(map[string]any)
	if !ok || !isMap {
		t.Fatalf("%s is not a mapping in the template", strings.Join(path, "."))
	}
	return m
}

// asList is v as a list: IAM allows one value where it allows a list.
func asList(v any) []any {
	switch v := v.(type) {
	case nil:
		return nil
	case []any:
		return v
	default:
		return []any{v}
	}
}

// canonical is v as compact JSON with sorted keys.
func canonical(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// canonicalText is canonical for a value written as JSON text.
func canonicalText(t *testing.T, text string) string {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		t.Fatalf("bad JSON in test table: %v\n%s", err, text)
	}
	return canonical(t, v)
}

func canonicalOrText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
