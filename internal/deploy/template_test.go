package deploy

import (
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

	"github.com/BurntSushi/toml"
	"github.com/aws/aws-lambda-go/events"
	"go.yaml.in/yaml/v3"

	"github.com/labelwatch/labelwatch/internal/labeling"
)

// The logical IDs the checks below look for.
const (
	functionID = "LabelwatchFunction"
	tableID    = "StateTable"
	logGroupID = "LogGroup"
	alarmID    = "ErrorsAlarm"
	secretID   = "SlackSecret"
	// keyParam is the customer managed KMS key of a secret of the user's own.
	keyParam = "SlackSecretKmsKeyArn"
	// rolesParam names the roles of other accounts the function assumes.
	rolesParam = "AccountRoleArns"
)

// TestShortTags checks cfnValue, through which every other test reads
// template.yaml.
func TestShortTags(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    string // JSON; "" when an error is expected
		wantErr string
	}{
		{name: "Ref", yaml: `v: !Ref Table`, want: `{"v":{"Ref":"Table"}}`},
		{name: "Condition", yaml: `v: !Condition HasChannel`, want: `{"v":{"Condition":"HasChannel"}}`},
		{name: "Sub with variables", yaml: `v: !Sub ["${A}", {A: !Ref B}]`, want: `{"v":{"Fn::Sub":["${A}",{"A":{"Ref":"B"}}]}}`},
		{name: "GetAtt dotted", yaml: `v: !GetAtt Table.Arn`, want: `{"v":{"Fn::GetAtt":["Table","Arn"]}}`},
		{name: "GetAtt nested attribute", yaml: `v: !GetAtt Db.Endpoint.Address`, want: `{"v":{"Fn::GetAtt":["Db","Endpoint.Address"]}}`},
		{name: "GetAtt list", yaml: `v: !GetAtt [Table, Arn]`, want: `{"v":{"Fn::GetAtt":["Table","Arn"]}}`},
		{name: "nested functions", yaml: `v: !If [C, !Not [!Equals [!Ref P, ""]], !Ref AWS::NoValue]`, want: `{"v":{"Fn::If":["C",{"Fn::Not":[{"Fn::Equals":[{"Ref":"P"},""]}]},{"Ref":"AWS::NoValue"}]}}`},
		{name: "scalar argument stays text", yaml: `v: !Ref 10`, want: `{"v":{"Ref":"10"}}`},
		{name: "plain values keep their types", yaml: "a: 1\nb: true\nc: \"1\"\nd: null\ne: 2012-10-17\nf: 1.5", want: `{"a":1,"b":true,"c":"1","d":null,"e":"2012-10-17","f":1.5}`},
		{name: "alias", yaml: "a: &x {k: !Ref R}\nb: *x", want: `{"a":{"k":{"Ref":"R"}},"b":{"k":{"Ref":"R"}}}`},
		{name: "GetAtt without attribute", yaml: `v: !GetAtt Table`, wantErr: "GetAtt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got cfnValue
			err := yaml.Unmarshal([]byte(tt.yaml), &got)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g, w := canonical(t, got.v), canonicalText(t, tt.want); g != w {
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
		// LanguageExtensions first: it resolves the table's DeletionPolicy
		// before SAM sees the template.
		{"transforms", []string{"Transform"}, `["AWS::LanguageExtensions","AWS::Serverless-2016-10-31"]`},
		{"function type", []string{"Resources", functionID, "Type"}, `"AWS::Serverless::Function"`},
		{"build method", []string{"Resources", functionID, "Metadata", "BuildMethod"}, `"makefile"`},
		{"runtime", fn("Runtime"), `"provided.al2023"`},
		{"architectures", fn("Architectures"), `["arm64"]`},
		{"handler", fn("Handler"), `"bootstrap"`},
		{"code uri", fn("CodeUri"), `"."`},
		{"memory", fn("MemorySize"), `256`},
		{"timeout", fn("Timeout"), `60`},
		{"JSON logs", fn("LoggingConfig", "LogFormat"), `"JSON"`},
		{"logs to the stack's log group", fn("LoggingConfig", "LogGroup"), `{"Ref":"LogGroup"}`},
		{"schedule event type", fn("Events", "Schedule", "Type"), `"Schedule"`},
		{"schedule from ScheduleMinutes", fn("Events", "Schedule", "Properties", "Schedule"), `{"Fn::FindInMap":["Schedule",{"Ref":"ScheduleMinutes"},"Expression"]}`},
		{"one schedule delivery attempt", fn("Events", "Schedule", "Properties", "RetryPolicy"), `{"MaximumRetryAttempts":0}`},
		{"push event type", fn("Events", pushEventID, "Type"), `"EventBridgeRule"`},
		{"push event pattern", fn("Events", pushEventID, "Properties", "Pattern"),
			`{"source":["aws.sagemaker"],"detail-type":["SageMaker Ground Truth Labeling Job State Change"]}`},
		{"push rule switched by PushEvents", fn("Events", pushEventID, "Properties", "State"), `{"Fn::If":["PushEnabled","ENABLED","DISABLED"]}`},
		{"one push delivery attempt", fn("Events", pushEventID, "Properties", "RetryPolicy"), `{"MaximumRetryAttempts":0}`},
		{"async invocations", fn("EventInvokeConfig"),
			`{"MaximumRetryAttempts":0,"MaximumEventAgeInSeconds":{"Fn::FindInMap":["Schedule",{"Ref":"ScheduleMinutes"},"Seconds"]}}`},
		{"push condition", []string{"Conditions", "PushEnabled"}, `{"Fn::Equals":[{"Ref":"PushEvents"},"enabled"]}`},
		{"secret condition", []string{"Conditions", "CreateSlackSecret"}, `{"Fn::Equals":[{"Ref":"SlackSecretArn"},""]}`},
		{"alarm topic condition", []string{"Conditions", "HasAlarmTopic"}, `{"Fn::Not":[{"Fn::Equals":[{"Ref":"AlarmTopicArn"},""]}]}`},
		{"secret key condition", []string{"Conditions", "HasSlackSecretKey"}, `{"Fn::Not":[{"Fn::Equals":[{"Ref":"SlackSecretKmsKeyArn"},""]}]}`},
		{"environment", fn("Environment", "Variables"), `{
			"STATE_TABLE": {"Ref": "StateTable"},
			"SLACK_SECRET_ARN": {"Fn::If": ["CreateSlackSecret", {"Ref": "SlackSecret"}, {"Ref": "SlackSecretArn"}]},
			"ALERT_ON": {"Ref": "AlertOn"},
			"NAME_CONTAINS": {"Ref": "NameContains"},
			"IGNORE_CREATED_BEFORE": {"Ref": "IgnoreCreatedBefore"},
			"LOOKBACK": {"Ref": "Lookback"},
			"OVERLAP": {"Ref": "Overlap"},
			"RETENTION": {"Ref": "Retention"},
			"DIGEST_THRESHOLD": {"Ref": "DigestThreshold"},
			"LOG_LEVEL": {"Ref": "LogLevel"}, "MENTION_ON_FAILURE": {"Ref": "MentionOnFailure"},
			"SLACK_CARDS": {"Ref": "SlackCards"},
			"SLACK_BROADCAST": {"Ref": "SlackBroadcast"},
			"PROGRESS_MILESTONES": {"Ref": "ProgressMilestones"},
			"STUCK_AFTER": {"Ref": "StuckAfter"},
			"FAILED_OBJECTS_WARN": {"Ref": "FailedObjectsWarn"},
			"REGIONS": {"Ref": "Regions"},
			"ACCOUNT_ROLES": {"Ref": "AccountRoleArns"},
			"EXTERNAL_ID": {"Ref": "ExternalId"},
			"ACCOUNT_NAMES": {"Ref": "AccountNames"},
			"ROUTES": {"Ref": "Routes"}}`},

		{"table type", []string{"Resources", tableID, "Type"}, `"AWS::DynamoDB::Table"`},
		{"on-demand billing", table("BillingMode"), `"PAY_PER_REQUEST"`},
		{"key schema", table("KeySchema"), `[{"AttributeName":"pk","KeyType":"HASH"}]`},
		{"key attribute", table("AttributeDefinitions"), `[{"AttributeName":"pk","AttributeType":"S"}]`},
		{"TTL on expiresAt", table("TimeToLiveSpecification"), `{"AttributeName":"expiresAt","Enabled":true}`},
		{"point-in-time recovery", table("PointInTimeRecoverySpecification"), `{"PointInTimeRecoveryEnabled":true}`},
		{"encryption", table("SSESpecification"), `{"SSEEnabled":true}`},
		{"table kept or deleted as StateTableDeletionPolicy says", []string{"Resources", tableID, "DeletionPolicy"}, `{"Ref":"StateTableDeletionPolicy"}`},
		{"table kept or dropped on replacement alike", []string{"Resources", tableID, "UpdateReplacePolicy"}, `{"Ref":"StateTableDeletionPolicy"}`},

		{"secret type", []string{"Resources", secretID, "Type"}, `"AWS::SecretsManager::Secret"`},
		{"secret only without SlackSecretArn", []string{"Resources", secretID, "Condition"}, `"CreateSlackSecret"`},
		// Its value was put by hand, and CloudFormation deletes a secret
		// without a recovery window: kept, and the teardown deletes it.
		{"secret kept when the stack goes", []string{"Resources", secretID, "DeletionPolicy"}, `"Retain"`},
		{"secret kept when replaced", []string{"Resources", secretID, "UpdateReplacePolicy"}, `"Retain"`},

		{"log group type", []string{"Resources", logGroupID, "Type"}, `"AWS::Logs::LogGroup"`},
		{"log retention", []string{"Resources", logGroupID, "Properties", "RetentionInDays"}, `{"Ref":"LogRetentionDays"}`},

		{"alarm type", []string{"Resources", alarmID, "Type"}, `"AWS::CloudWatch::Alarm"`},
		{"alarm metric", []string{"Resources", alarmID, "Properties", "MetricName"}, `"Errors"`},
		{"alarm namespace", []string{"Resources", alarmID, "Properties", "Namespace"}, `"AWS/Lambda"`},
		{"alarm function", []string{"Resources", alarmID, "Properties", "Dimensions"}, `[{"Name":"FunctionName","Value":{"Ref":"LabelwatchFunction"}}]`},
		{"alarm threshold", []string{"Resources", alarmID, "Properties", "Threshold"}, `1`},
		{"alarm comparison", []string{"Resources", alarmID, "Properties", "ComparisonOperator"}, `"GreaterThanOrEqualToThreshold"`},
		{"alarm periods", []string{"Resources", alarmID, "Properties", "EvaluationPeriods"}, `3`},

		// Text: keys of the Schedule mapping (TestFindInMapKeysForSAMCLI).
		{"default schedule", param("ScheduleMinutes", "Default"), `"5"`},
		{"schedule periods", param("ScheduleMinutes", "AllowedValues"), `["1","2","5","10","15","30","60"]`},
		{"push events on by default", param("PushEvents", "Default"), `"enabled"`},
		{"push events values", param("PushEvents", "AllowedValues"), `["enabled","disabled"]`},
		{"default secret: the stack's own", param("SlackSecretArn", "Default"), `""`},
		{"default secret key: aws/secretsmanager", param("SlackSecretKmsKeyArn", "Default"), `""`},
		{"default log level", param("LogLevel", "Default"), `"info"`},
		{"log levels", param("LogLevel", "AllowedValues"), `["debug","info","warn","error"]`},
		{"table retained by default", param("StateTableDeletionPolicy", "Default"), `"Retain"`},
		{"table policies", param("StateTableDeletionPolicy", "AllowedValues"), `["Retain","Delete"]`},
		{"no alarm topic by default", param("AlarmTopicArn", "Default"), `""`},
		{"name filter as ListLabelingJobs takes it", param("NameContains", "AllowedPattern"), `"^[a-zA-Z0-9-]*$"`},
		{"name filter length", param("NameContains", "MaxLength"), `63`},
		{"default alert statuses", param("AlertOn", "Default"), `"Failed,Completed,Stopped"`},
		{"default name filter", param("NameContains", "Default"), `""`},
		{"default creation cut-off", param("IgnoreCreatedBefore", "Default"), `""`},
		{"default lookback", param("Lookback", "Default"), `"1h"`},
		{"default overlap", param("Overlap", "Default"), `"10m"`},
		{"default retention", param("Retention", "Default"), `"2160h"`},
		{"default digest threshold", param("DigestThreshold", "Default"), `10`},
		// Each default as internal/config documents it; an empty SlackCards
		// reaches the function as an unset SLACK_CARDS.
		{"default cards: as the credential allows", param("SlackCards", "Default"), `""`},
		{"cards values", param("SlackCards", "AllowedValues"), `["","on","off"]`},
		{"default broadcast: every outcome", param("SlackBroadcast", "Default"), `"all"`},
		{"broadcast values", param("SlackBroadcast", "AllowedValues"), `["all","failures"]`},
		{"no progress milestones by default", param("ProgressMilestones", "Default"), `""`},
		{"default stuck after", param("StuckAfter", "Default"), `"6h"`},
		{"default failed objects warning", param("FailedObjectsWarn", "Default"), `"1%"`},
		{"default log retention", param("LogRetentionDays", "Default"), `30`},
		{"log retention values", param("LogRetentionDays", "AllowedValues"),
			`[1,3,5,7,14,30,60,90,120,150,180,365,400,545,731,1096,1827,2192,2557,2922,3288,3653]`},

		{"output function name", []string{"Outputs", "FunctionName", "Value"}, `{"Ref":"LabelwatchFunction"}`},
		{"output function ARN", []string{"Outputs", "FunctionArn", "Value"}, `{"Fn::GetAtt":["LabelwatchFunction","Arn"]}`},
		{"output table name", []string{"Outputs", "StateTableName", "Value"}, `{"Ref":"StateTable"}`},
		{"output secret ARN", []string{"Outputs", "SlackSecretArn", "Value"},
			`{"Fn::If":["CreateSlackSecret",{"Ref":"SlackSecret"},{"Ref":"SlackSecretArn"}]}`},
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
	// SAM makes the function's role, named for the function, from its
	// Policies (cfn-lint, with SAM's translator, checks it exists).
	samMade := map[string]bool{functionID + "Role": true}
	params, _ := lookup(doc, "Parameters")
	resources, _ := lookup(doc, "Resources")
	for _, name := range slices.Sorted(maps.Keys(referencedNames(doc))) {
		_, isParam := params.(map[string]any)[name]
		_, isResource := resources.(map[string]any)[name]
		if !pseudo[name] && !isParam && !isResource && !samMade[name] {
			t.Errorf("%s is referenced but is neither a parameter, a resource nor a pseudo parameter", name)
		}
	}
}

// TestLeastPrivilege checks the function's grants, as deployed with
// PushEvents on and off, against the AWS calls the code makes: with push
// events off, the function never calls DescribeLabelingJob, so it must not be
// granted. With SlackSecretKmsKeyArn set, reading the secret takes
// kms:Decrypt on that key (Secrets Manager decrypts with the caller's
// permission), and without it nothing of KMS.
func TestLeastPrivilege(t *testing.T) {
	root := repoRoot(t)
	calls, err := codeCalls(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the code calls %v", calls)
	// A state change event carries only the job's ARN and new status; the
	// rest of the job comes from DescribeLabelingJob (internal/labeling).
	if !slices.Contains(calls, describeCall) {
		t.Errorf("the template delivers %s events, but no shipped code calls %s to read the job they name",
			pushDetail, strings.TrimPrefix(describeCall, "sagemaker:"))
	}

	jobState := func(t *testing.T, doc map[string]any) map[string]any { return statement(t, doc, "JobState") }
	describe := func(t *testing.T, doc map[string]any) map[string]any { return statement(t, doc, "DescribeLabelingJob") }
	slackSecret := func(t *testing.T, doc map[string]any) map[string]any { return statement(t, doc, "SlackSecret") }
	policies := func(t *testing.T, doc map[string]any) map[string]any {
		return mapAt(t, doc, "Resources", functionID, "Properties")
	}
	secretKey := func(t *testing.T, doc map[string]any) map[string]any { return statement(t, doc, "SlackSecretKey") }
	// conditionalPolicy is the index in Policies of the one granted only
	// under condition.
	conditionalPolicy := func(t *testing.T, doc map[string]any, condition string) int {
		list := policies(t, doc)["Policies"].([]any)
		i := slices.IndexFunc(list, func(p any) bool {
			branches, ok := lookup(p, "Fn::If")
			return ok && len(asList(branches)) == 3 && asList(branches)[0] == condition
		})
		if i < 0 {
			t.Fatalf("no policy in Policies depends on condition %s", condition)
		}
		return i
	}
	// pushPolicy is the one granted only with push events on.
	pushPolicy := func(t *testing.T, doc map[string]any) int { return conditionalPolicy(t, doc, "PushEnabled") }
	const (
		givenSecret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:labelwatch/slack-AbCdEf"
		givenKey    = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	)
	tests := []struct {
		name   string
		push   string            // the PushEvents value; "" leaves its default
		values map[string]string // other parameter values
		mutate func(t *testing.T, doc map[string]any)
		want   string // text one of the violations must contain; "" means none allowed
	}{
		{name: "template as written"},
		{name: "template as written, push events enabled", push: "enabled"},
		{name: "template as written, push events disabled", push: "disabled"},
		{name: "other regions watched", push: "enabled", values: map[string]string{"Regions": "eu-west-1,us-west-2"}},
		{name: "other accounts watched", push: "enabled", values: map[string]string{rolesParam: "arn:aws:iam::222222222222:role/lw,arn:aws:iam::333333333333:role/lw"}},
		{
			name:   "a role assumed beyond AccountRoleArns",
			values: map[string]string{rolesParam: "arn:aws:iam::222222222222:role/lw"},
			mutate: func(t *testing.T, doc map[string]any) {
				statement(t, doc, "AccountRoles")["Resource"] = "*"
			},
			want: "AccountRoles",
		},
		{
			name: "a SageMaker grant in every region",
			mutate: func(t *testing.T, doc map[string]any) {
				delete(statement(t, doc, "ListLabelingJobs"), "Condition")
			},
			want: "ListLabelingJobs",
		},
		{
			name:   "DescribeLabelingJob on every resource",
			push:   "enabled",
			mutate: func(t *testing.T, doc map[string]any) { describe(t, doc)["Resource"] = "*" },
			want:   `grants sagemaker:DescribeLabelingJob on "*"`,
		},
		{
			name: "DescribeLabelingJob on every SageMaker resource",
			push: "enabled",
			mutate: func(t *testing.T, doc map[string]any) {
				describe(t, doc)["Resource"] = map[string]any{"Fn::Sub": "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:*"}
			},
			want: `grants sagemaker:DescribeLabelingJob on {"Fn::Sub"`,
		},
		{
			name: "DescribeLabelingJob in the aws partition only",
			push: "enabled",
			mutate: func(t *testing.T, doc map[string]any) {
				describe(t, doc)["Resource"] = map[string]any{"Fn::Sub": "arn:aws:sagemaker:${AWS::Region}:${AWS::AccountId}:labeling-job/*"}
			},
			want: `grants sagemaker:DescribeLabelingJob on {"Fn::Sub"`,
		},
		{
			name: "DescribeLabelingJob beside ListLabelingJobs",
			push: "enabled",
			mutate: func(t *testing.T, doc map[string]any) {
				s := statement(t, doc, "ListLabelingJobs")
				s["Action"] = []any{"sagemaker:ListLabelingJobs", describeCall}
			},
			want: `grants sagemaker:DescribeLabelingJob on "*"`,
		},
		{
			name: "DescribeLabelingJob not granted",
			push: "enabled",
			mutate: func(t *testing.T, doc map[string]any) {
				p, i := policies(t, doc), pushPolicy(t, doc)
				p["Policies"] = slices.Delete(p["Policies"].([]any), i, i+1)
			},
			want: `does not grant sagemaker:DescribeLabelingJob`,
		},
		{
			name: "DescribeLabelingJob granted with push events disabled",
			push: "disabled",
			mutate: func(t *testing.T, doc map[string]any) {
				list := policies(t, doc)["Policies"].([]any)
				i := pushPolicy(t, doc)
				list[i] = list[i].(map[string]any)["Fn::If"].([]any)[1]
			},
			want: `grants sagemaker:DescribeLabelingJob, which the function does not call`,
		},
		{
			name:   "secret read on every resource",
			mutate: func(t *testing.T, doc map[string]any) { slackSecret(t, doc)["Resource"] = "*" },
			want:   `grants secretsmanager:GetSecretValue on "*"`,
		},
		{
			name: "secret read on every secret",
			mutate: func(t *testing.T, doc map[string]any) {
				slackSecret(t, doc)["Resource"] = map[string]any{"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*"}
			},
			want: `grants secretsmanager:GetSecretValue on {"Fn::Sub"`,
		},
		{
			name:   "the stack's secret granted though SlackSecretArn is given",
			values: map[string]string{"SlackSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:labelwatch/slack-AbCdEf"},
			mutate: func(t *testing.T, doc map[string]any) {
				slackSecret(t, doc)["Resource"] = map[string]any{"Ref": secretID}
			},
			want: `grants secretsmanager:GetSecretValue on {"Ref":"SlackSecret"}: want only SLACK_SECRET_ARN's {"Ref":"SlackSecretArn"}`,
		},
		{
			name:   "the given secret, as written",
			values: map[string]string{"SlackSecretArn": givenSecret},
		},
		{
			name:   "the given secret and its key, as written",
			values: map[string]string{"SlackSecretArn": givenSecret, keyParam: givenKey},
		},
		{
			name:   "a key with the stack's own secret, as written",
			values: map[string]string{keyParam: givenKey},
		},
		{
			name:   "decrypt with every key",
			values: map[string]string{"SlackSecretArn": givenSecret, keyParam: givenKey},
			mutate: func(t *testing.T, doc map[string]any) { secretKey(t, doc)["Resource"] = "*" },
			want:   `grants kms:Decrypt on "*": want only {"Ref":"SlackSecretKmsKeyArn"}`,
		},
		{
			name:   "decrypt outside Secrets Manager",
			values: map[string]string{"SlackSecretArn": givenSecret, keyParam: givenKey},
			mutate: func(t *testing.T, doc map[string]any) {
				delete(mapAt(t, secretKey(t, doc), "Condition", "StringEquals"), "kms:ViaService")
			},
			want: `grants kms:Decrypt under condition`,
		},
		{
			name:   "decrypt any secret under the key",
			values: map[string]string{"SlackSecretArn": givenSecret, keyParam: givenKey},
			mutate: func(t *testing.T, doc map[string]any) {
				delete(mapAt(t, secretKey(t, doc), "Condition", "StringEquals"), "kms:EncryptionContext:SecretARN")
			},
			want: `grants kms:Decrypt under condition`,
		},
		{
			name:   "decrypt for the other secret",
			values: map[string]string{"SlackSecretArn": givenSecret, keyParam: givenKey},
			mutate: func(t *testing.T, doc map[string]any) {
				mapAt(t, secretKey(t, doc), "Condition", "StringEquals")["kms:EncryptionContext:SecretARN"] = map[string]any{"Ref": secretID}
			},
			want: `grants kms:Decrypt under condition`,
		},
		{
			name:   "the key not granted",
			values: map[string]string{"SlackSecretArn": givenSecret, keyParam: givenKey},
			mutate: func(t *testing.T, doc map[string]any) {
				p, i := policies(t, doc), conditionalPolicy(t, doc, "HasSlackSecretKey")
				p["Policies"] = slices.Delete(p["Policies"].([]any), i, i+1)
			},
			want: `does not grant kms:Decrypt`,
		},
		{
			name:   "decrypt granted without a key",
			values: map[string]string{"SlackSecretArn": givenSecret},
			mutate: func(t *testing.T, doc map[string]any) {
				list := policies(t, doc)["Policies"].([]any)
				i := conditionalPolicy(t, doc, "HasSlackSecretKey")
				list[i] = list[i].(map[string]any)["Fn::If"].([]any)[1]
			},
			want: `grants kms:Decrypt, which the function does not call`,
		},
		{
			name: "secret write",
			mutate: func(t *testing.T, doc map[string]any) {
				slackSecret(t, doc)["Action"] = []any{"secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"}
			},
			want: `grants secretsmanager:PutSecretValue, which the function does not call`,
		},
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
			want: `grants dynamodb:PutItem, which the function does not call`,
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
			want: `grants s3:GetObject, which the function does not call`,
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
			values := maps.Clone(tt.values)
			if values == nil {
				values = map[string]string{}
			}
			if tt.push != "" {
				values[pushParam] = tt.push
			}
			needed := slices.Clone(calls)
			if parameterValue(t, doc, values, pushParam) != "enabled" {
				needed = slices.DeleteFunc(needed, func(c string) bool { return c == describeCall })
			}
			if parameterValue(t, doc, values, keyParam) != "" && slices.Contains(needed, secretCall) {
				needed = append(needed, decryptCall)
			}
			if parameterValue(t, doc, values, rolesParam) != "" {
				needed = append(needed, assumeCall)
			}
			violations := iamViolations(withParameters(t, doc, values), needed)
			checkViolations(t, violations, tt.want)
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
	var config map[string]any
	meta, err := toml.DecodeFile(filepath.Join(repoRoot(t), "samconfig.toml"), &config)
	if err != nil {
		t.Fatalf("samconfig.toml: %v", err)
	}
	tests := []struct {
		key  string // table.key
		want any
	}{
		{"version", 0.1},
		{"default.global.parameters.stack_name", "labelwatch"},
		{"default.build.parameters.cached", true},
		{"default.build.parameters.parallel", true},
		{"default.deploy.parameters.capabilities", "CAPABILITY_IAM CAPABILITY_AUTO_EXPAND"},
		{"default.deploy.parameters.confirm_changeset", true},
		{"default.deploy.parameters.resolve_s3", true},
		{"default.deploy.parameters.s3_prefix", "labelwatch"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			got, ok := lookup(config, strings.Split(tt.key, ".")...)
			if !ok {
				t.Fatalf("%s is not set", tt.key)
			}
			if got != tt.want {
				t.Errorf("%s = %#v, want %#v", tt.key, got, tt.want)
			}
		})
	}
	t.Run("no secrets", func(t *testing.T) {
		for _, key := range meta.Keys() {
			v, _ := lookup(config, key...)
			if _, isTable := v.(map[string]any); isTable {
				continue
			}
			for _, secret := range []string{"hooks.slack.com", "xoxb-", "xoxp-", "webhook_url", "bot_token"} {
				if strings.Contains(fmt.Sprint(v), secret) {
					t.Errorf("%s holds %s: pass Slack secrets at deploy time, never in this file", key, secret)
				}
			}
		}
	})
}

// TestSampleEvents checks each file of events/ is what EventBridge sends the
// function: every field of the envelope and nothing else, with the values its
// trigger gives them. The state change event must also match the pattern of
// the template's rule.
func TestSampleEvents(t *testing.T) {
	doc := loadTemplate(t)
	pattern := mapAt(t, doc, "Resources", functionID, "Properties", "Events", pushEventID, "Properties", "Pattern")
	// The ARN lower-cases the job name, which may be 1-63 letters, digits
	// and hyphens.
	jobARN := regexp.MustCompile(`^arn:aws:sagemaker:([a-z0-9-]+):([0-9]{12}):labeling-job/[a-z0-9](-*[a-z0-9]){0,62}$`)

	tests := []struct {
		file   string
		checks func(ev events.EventBridgeEvent) []check
	}{
		{
			file: "scheduled.json",
			checks: func(ev events.EventBridgeEvent) []check {
				return []check{
					{"detail-type is Scheduled Event", ev.DetailType == "Scheduled Event"},
					{"source is aws.events", ev.Source == "aws.events"},
					{"resources is the rule", len(ev.Resources) == 1 &&
						strings.HasPrefix(ev.Resources[0], "arn:aws:events:"+ev.Region+":"+ev.AccountID+":rule/")},
					{"detail is empty", string(bytes.TrimSpace(ev.Detail)) == "{}"},
				}
			},
		},
		{
			file: "labeling-job-state-change.json",
			checks: func(ev events.EventBridgeEvent) []check {
				var detail map[string]any
				detailErr := json.Unmarshal(ev.Detail, &detail)
				arn := []string{"", "", ""}
				if len(ev.Resources) == 1 {
					if m := jobARN.FindStringSubmatch(ev.Resources[0]); m != nil {
						arn = m
					}
				}
				return []check{
					{"detail-type is " + pushDetail, ev.DetailType == pushDetail},
					{"source is " + pushSource, ev.Source == pushSource},
					{"resources is one labeling job ARN", arn[0] != ""},
					{"the job is in the event's region and account", arn[1] == ev.Region && arn[2] == ev.AccountID},
					{"detail is only LabelingJobStatus, a status", detailErr == nil && len(detail) == 1 &&
						slices.Contains(labeling.Statuses, labeling.Status(fmt.Sprint(detail["LabelingJobStatus"])))},
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join(repoRoot(t), "events", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			var fields map[string]any
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
			match, err := matchesPattern(pattern, fields)
			if err != nil {
				t.Fatalf("the push rule's pattern: %v", err)
			}
			checks := append([]check{
				{"version is 0", ev.Version == "0"},
				{"id is set", ev.ID != ""},
				{"account is 12 digits", regexp.MustCompile(`^[0-9]{12}$`).MatchString(ev.AccountID)},
				{"time is set", !ev.Time.IsZero()},
				{"region is set", ev.Region != ""},
				// The schedule must not match it, or each run would be done twice.
				{"only a state change matches the push rule's pattern", match == (ev.DetailType == pushDetail)},
			}, tt.checks(ev)...)
			for _, c := range checks {
				if !c.ok {
					t.Errorf("events/%s: want %s", tt.file, c.name)
				}
			}
		})
	}
}

// check is a named condition a test requires.
type check struct {
	name string
	ok   bool
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
	return loadTemplateFile(t, "template.yaml")
}

// loadTemplateFile reads the template at name, relative to the repository's
// root, in JSON form.
func loadTemplateFile(t *testing.T, name string) map[string]any {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(repoRoot(t), name))
	if err != nil {
		t.Fatal(err)
	}
	var v cfnValue
	if err := yaml.Unmarshal(src, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	doc, ok := v.v.(map[string]any)
	if !ok {
		t.Fatalf("%s is a %T, not a mapping", name, v.v)
	}
	return doc
}

// cfnValue is a value of a CloudFormation YAML template as JSON would give it
// (mappings as map[string]any, sequences as []any), with each short-form tag
// turned into its long form: !Ref X is {"Ref": "X"}, !GetAtt T.Arn is
// {"Fn::GetAtt": ["T", "Arn"]}, !Sub ... is {"Fn::Sub": ...}. The tests then
// have one form to look for.
type cfnValue struct{ v any }

func (c *cfnValue) UnmarshalYAML(n *yaml.Node) error {
	// Tags of YAML's own types are !!str, !!map ...; a tag with one ! names
	// an intrinsic function.
	if name, ok := strings.CutPrefix(n.Tag, "!"); ok && !strings.HasPrefix(name, "!") {
		return c.intrinsic(name, n)
	}
	switch n.Kind {
	case yaml.MappingNode:
		var m map[string]cfnValue
		if err := n.Decode(&m); err != nil {
			return err
		}
		out := make(map[string]any, len(m))
		for k, v := range m {
			out[k] = v.v
		}
		c.v = out
	case yaml.SequenceNode:
		var s []cfnValue
		if err := n.Decode(&s); err != nil {
			return err
		}
		out := make([]any, len(s))
		for i, v := range s {
			out[i] = v.v
		}
		c.v = out
	case yaml.ScalarNode:
		if n.ShortTag() == "!!timestamp" {
			// CloudFormation reads an unquoted date (Version: 2012-10-17) as text.
			c.v = n.Value
			return nil
		}
		return n.Decode(&c.v)
	}
	return nil
}

// intrinsic reads node n, tagged !name, as the long form of function name
// with the node as its argument.
func (c *cfnValue) intrinsic(name string, n *yaml.Node) error {
	key := "Fn::" + name
	if name == "Ref" || name == "Condition" {
		key = name
	}
	var arg any = n.Value // a scalar argument is text, whatever it looks like
	switch {
	case n.Kind == yaml.ScalarNode && name == "GetAtt":
		resource, attribute, ok := strings.Cut(n.Value, ".")
		if !ok {
			return fmt.Errorf("line %d: !GetAtt %q has no .Attribute", n.Line, n.Value)
		}
		arg = []any{resource, attribute}
	case n.Kind != yaml.ScalarNode:
		untagged := *n
		untagged.Tag = ""
		var v cfnValue
		if err := untagged.Decode(&v); err != nil {
			return err
		}
		arg = v.v
	}
	c.v = map[string]any{key: arg}
	return nil
}

// codeCalls returns the IAM actions the code needs: the methods of
// internal/state's DynamoAPI, the SageMaker calls of the job source, and the
// read of the Slack secret.
func codeCalls(root string) ([]string, error) {
	dir := filepath.Join(root, "internal", "state")
	methods, err := interfaceMethods(dir, "DynamoAPI")
	if err != nil {
		return nil, err
	}
	calls := []string{"sagemaker:ListLabelingJobs"}
	for _, m := range methods {
		// A transaction's writes are governed by the actions of the writes
		// it holds (DynamoDB's "Using IAM with DynamoDB transactions"):
		// the store's transactions hold updates only.
		if m == "TransactWriteItems" {
			m = "UpdateItem"
		}
		if !slices.Contains(calls, "dynamodb:"+m) {
			calls = append(calls, "dynamodb:"+m)
		}
	}
	describes, err := callsMethod(root, ".DescribeLabelingJob(")
	if err != nil {
		return nil, err
	}
	if describes {
		calls = append(calls, "sagemaker:DescribeLabelingJob")
	}
	readsSecret, err := callsMethod(root, ".GetSecretValue(")
	if err != nil {
		return nil, err
	}
	if readsSecret {
		calls = append(calls, secretCall)
	}
	slices.Sort(calls)
	return calls, nil
}

// The IAM actions reading the Slack secret takes: GetSecretValue, and
// kms:Decrypt when the secret is under a customer managed key.
const (
	secretCall  = "secretsmanager:GetSecretValue"
	decryptCall = "kms:Decrypt"
	// assumeCall is made by the SDK's credential provider for the roles
	// of AccountRoleArns (stscreds in internal/app/sources.go), not by a
	// method the code's interfaces name.
	assumeCall = "sts:AssumeRole"
)

// jsonEqual reports whether two JSON texts hold the same value.
func jsonEqual(a, b []byte) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	ca, _ := json.Marshal(va)
	cb, _ := json.Marshal(vb)
	return bytes.Equal(ca, cb)
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

// iamViolations lists every way the grants of doc, a template as deployed
// (its conditions resolved), differ from calls, the actions the function
// makes. It refuses what it cannot see through: managed policies, SAM policy
// templates, a role of the function's own and IAM resources.
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
	// The one secret the function is told to read.
	secretARN, _ := lookup(props, "Environment", "Variables", "SLACK_SECRET_ARN")
	labelingJobARN := `{"Fn::Sub":"arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:labeling-job/*"}`
	rolesARNs := `{"Fn::Split":[",",{"Ref":"` + rolesParam + `"}]}`
	labelingJobAnyRegionARN := `{"Fn::Sub":"arn:${AWS::Partition}:sagemaker:*:${AWS::AccountId}:labeling-job/*"}`
	// The regions SageMaker is called in: the stack's, and Regions'.
	regionsHome := `{"StringEquals":{"aws:RequestedRegion":{"Fn::Split":[",",{"Ref":"AWS::Region"}]}}}`
	regionsListed := `{"StringEquals":{"aws:RequestedRegion":{"Fn::Split":[",",{"Fn::Sub":"${AWS::Region},${Regions}"}]}}}`
	keyARN := `{"Ref":"` + keyParam + `"}`
	// Through Secrets Manager in the function's region, where its client
	// calls, and for the one secret, which Secrets Manager names in the
	// encryption context.
	keyCondition := fmt.Sprintf(`{"StringEquals":{"kms:ViaService":{"Fn::Sub":"secretsmanager.${AWS::Region}.amazonaws.com"},"kms:EncryptionContext:SecretARN":%s}}`,
		canonicalOrText(secretARN))
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
			case "secretsmanager":
				if secretARN == nil {
					add("statement %s grants %s, but the function has no SLACK_SECRET_ARN to read", sid, action)
				} else if len(resources) != 1 || canonicalOrText(resources[0]) != canonicalOrText(secretARN) {
					add("statement %s grants %s on %s: want only SLACK_SECRET_ARN's %s",
						sid, action, canonicalOrText(s["Resource"]), canonicalOrText(secretARN))
				}
			case "kms":
				if len(resources) != 1 || canonicalOrText(resources[0]) != keyARN {
					add("statement %s grants %s on %s: want only %s", sid, action, canonicalOrText(s["Resource"]), keyARN)
				}
				if got, _ := json.Marshal(s["Condition"]); !jsonEqual(got, []byte(keyCondition)) {
					add("statement %s grants %s under condition %s: want %s", sid, action, got, keyCondition)
				}
			case "sts":
				if len(resources) != 1 || canonicalOrText(resources[0]) != rolesARNs {
					add("statement %s grants %s on %s: want only %s", sid, action, canonicalOrText(s["Resource"]), rolesARNs)
				}
			case "sagemaker":
				// Only in the regions watched: the stack's own, and those
				// of the Regions parameter when it names any, when the
				// labeling jobs are of any region of the account.
				jobs, regions := labelingJobARN, regionsHome
				if got, _ := json.Marshal(s["Condition"]); jsonEqual(got, []byte(regionsListed)) {
					jobs, regions = labelingJobAnyRegionARN, regionsListed
				}
				if got, _ := json.Marshal(s["Condition"]); !jsonEqual(got, []byte(regions)) {
					add("statement %s grants %s under condition %s: want %s", sid, action, got, regions)
				}
				// List actions take no resource-level permissions, so only
				// "*"; every other call the code makes is on a labeling job.
				if !strings.HasPrefix(op, "List") && (len(resources) != 1 || canonicalOrText(resources[0]) != jobs) {
					add("statement %s grants %s on %s: want only %s", sid, action, canonicalOrText(s["Resource"]), jobs)
				}
			}
		}
	}
	for _, action := range slices.Sorted(maps.Keys(granted)) {
		if !slices.Contains(calls, action) {
			add("the template grants %s, which the function does not call", action)
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

// statement returns the function's inline policy statement with the given
// Sid, also from a policy that Fn::If grants under a condition.
func statement(t *testing.T, doc map[string]any, sid string) map[string]any {
	t.Helper()
	policies, _ := lookup(doc, "Resources", functionID, "Properties", "Policies")
	var list []any
	for _, p := range asList(policies) {
		if branches, ok := lookup(p, "Fn::If"); ok && len(asList(branches)) == 3 {
			list = append(list, asList(branches)[1:]...)
			continue
		}
		list = append(list, p)
	}
	for _, p := range list {
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
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
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

// checkViolations fails t unless violations is empty when want is, or one
// of them mentions want: a deliberately broken template must be caught for
// the reason the case names.
func checkViolations(t *testing.T, violations []string, want string) {
	t.Helper()
	if want == "" {
		for _, v := range violations {
			t.Error(v)
		}
		return
	}
	if !slices.ContainsFunc(violations, func(v string) bool { return strings.Contains(v, want) }) {
		t.Errorf("no violation mentions %q; got %q", want, violations)
	}
}
