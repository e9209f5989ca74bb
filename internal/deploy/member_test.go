package deploy

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
)

// TestMemberTemplate checks member.yaml as a StackSet deploys it: the rule
// forwards exactly the events the central stack's rule takes, with a role
// that may put events on the central bus only; the read role, made only
// where asked, trusts the central function's role alone (with the external
// ID when one is set) and grants the SageMaker calls the code makes and
// nothing else.
func TestMemberTemplate(t *testing.T) {
	member := loadTemplateFile(t, "member.yaml")
	central := loadTemplate(t)
	root := repoRoot(t)
	calls, err := codeCalls(root)
	if err != nil {
		t.Fatal(err)
	}
	var sagemakerCalls []string
	for _, c := range calls {
		if len(c) > 10 && c[:10] == "sagemaker:" {
			sagemakerCalls = append(sagemakerCalls, c)
		}
	}
	required := map[string]string{
		"CentralEventBusArn":     "arn:aws:events:us-east-1:111111111111:event-bus/default",
		"CentralFunctionRoleArn": "arn:aws:iam::111111111111:role/labelwatch-LabelwatchFunctionRole-AbC",
	}
	with := func(more map[string]string) map[string]string {
		v := map[string]string{}
		for k, x := range required {
			v[k] = x
		}
		for k, x := range more {
			v[k] = x
		}
		return v
	}
	jsonOf := func(v any) string { b, _ := json.Marshal(v); return string(b) }

	for _, tc := range []struct {
		name       string
		values     map[string]string
		readRole   bool
		externalID bool
	}{
		{"defaults", with(nil), true, false},
		{"with an external ID", with(map[string]string{"ExternalId": "lw-test"}), true, true},
		{"another region of the account", with(map[string]string{"CreateReadRole": "no"}), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := withParameters(t, member, tc.values)
			pattern, _ := lookup(doc, "Resources", "ForwardRule", "Properties", "EventPattern")
			centralPattern, _ := lookup(central, "Resources", functionID, "Properties", "Events", pushEventID, "Properties", "Pattern")
			if !jsonEqual([]byte(jsonOf(pattern)), []byte(jsonOf(centralPattern))) {
				t.Errorf("the rule forwards %s, the central rule takes %s", jsonOf(pattern), jsonOf(centralPattern))
			}
			targets, _ := lookup(doc, "Resources", "ForwardRule", "Properties", "Targets")
			if got, want := jsonOf(targets), `[{"Arn":{"Ref":"CentralEventBusArn"},"Id":"central-labelwatch","RoleArn":{"Fn::GetAtt":["ForwardRole","Arn"]}}]`; !jsonEqual([]byte(got), []byte(want)) {
				t.Errorf("the rule's targets are %s, want %s", got, want)
			}
			forward, _ := lookup(doc, "Resources", "ForwardRole", "Properties", "Policies")
			if got, want := grants(forward), []string{`events:PutEvents on {"Ref":"CentralEventBusArn"}`}; !slices.Equal(got, want) {
				t.Errorf("the forward role grants %v, want %v", got, want)
			}
			role, made := lookup(doc, "Resources", "ReadRole")
			if made != tc.readRole {
				t.Fatalf("read role made: %v, want %v", made, tc.readRole)
			}
			if !made {
				return
			}
			policies, _ := lookup(role, "Properties", "Policies")
			var want []string
			for _, c := range sagemakerCalls {
				if c == "sagemaker:ListLabelingJobs" {
					want = append(want, c+` on "*"`)
				} else {
					want = append(want, c+` on {"Fn::Sub":"arn:${AWS::Partition}:sagemaker:*:${AWS::AccountId}:labeling-job/*"}`)
				}
			}
			if got := grants(policies); !slices.Equal(got, want) {
				t.Errorf("the read role grants %v, want the code's SageMaker calls %v", got, want)
			}
			trust, _ := lookup(role, "Properties", "AssumeRolePolicyDocument", "Statement")
			wantTrust := `[{"Action":"sts:AssumeRole","Effect":"Allow","Principal":{"AWS":{"Ref":"CentralFunctionRoleArn"}}}]`
			if tc.externalID {
				wantTrust = `[{"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":{"Ref":"ExternalId"}}},"Effect":"Allow","Principal":{"AWS":{"Ref":"CentralFunctionRoleArn"}}}]`
			}
			if got := jsonOf(trust); !jsonEqual([]byte(got), []byte(wantTrust)) {
				t.Errorf("the read role trusts %s, want %s", got, wantTrust)
			}
		})
	}
}

// grants lists "action on resource" for every Allow statement of policies
// (a role's Policies), sorted.
func grants(policies any) []string {
	var out []string
	for _, p := range asList(policies) {
		stmts, _ := lookup(p, "PolicyDocument", "Statement")
		for _, s := range asList(stmts) {
			m, _ := s.(map[string]any)
			if m["Effect"] != "Allow" {
				continue
			}
			for _, a := range asList(m["Action"]) {
				for _, r := range asList(m["Resource"]) {
					out = append(out, fmt.Sprintf("%s on %s", a, canonicalOrText(r)))
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestCentralBusPolicy checks who may put events on the central stack's
// bus: nobody but its own region by default; the accounts of
// MemberAccountIds; every account of OrganizationId.
func TestCentralBusPolicy(t *testing.T) {
	doc := loadTemplate(t)
	bus := `{"Fn::Sub":"arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default"}`
	for _, tc := range []struct {
		name   string
		values map[string]string
		want   map[string]string // resource -> its statement
	}{
		{"defaults", nil, map[string]string{}},
		{"member accounts", map[string]string{"MemberAccountIds": "222222222222,333333333333"}, map[string]string{
			"MemberAccountsPutEvents": `{"Action":"events:PutEvents","Effect":"Allow","Principal":{"AWS":{"Fn::Split":[",",{"Ref":"MemberAccountIds"}]}},"Resource":` + bus + `}`,
		}},
		{"an organization", map[string]string{"OrganizationId": "o-a1b2c3d4e5"}, map[string]string{
			"OrganizationPutEvents": `{"Action":"events:PutEvents","Condition":{"StringEquals":{"aws:PrincipalOrgID":{"Ref":"OrganizationId"}}},"Effect":"Allow","Principal":"*","Resource":` + bus + `}`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resources, _ := lookup(withParameters(t, doc, tc.values), "Resources")
			got := map[string]string{}
			for id, r := range resources.(map[string]any) {
				if typ, _ := lookup(r, "Type"); typ == "AWS::Events::EventBusPolicy" {
					stmt, _ := lookup(r, "Properties", "Statement")
					b, _ := json.Marshal(stmt)
					got[id] = string(b)
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("bus policies %v, want %v", got, tc.want)
			}
			for id, want := range tc.want {
				if !jsonEqual([]byte(got[id]), []byte(want)) {
					t.Errorf("%s: %s, want %s", id, got[id], want)
				}
			}
		})
	}
}
