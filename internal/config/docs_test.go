package config

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestVariablesAreDocumentedAndRead keeps three lists in step: the variables
// Load reads, the README's configuration table, and the template's
// environment (each variable it sets must be one Load reads).
func TestVariablesAreDocumentedAndRead(t *testing.T) {
	read := map[string]bool{}
	Load(func(name string) string { read[name] = true; return "" })
	for _, name := range Variables() {
		if !read[name] {
			t.Errorf("Variables lists %s but Load does not read it", name)
		}
	}
	for name := range read {
		if !slices.Contains(Variables(), name) {
			t.Errorf("Load reads %s but Variables does not list it", name)
		}
	}

	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range Variables() {
		if !strings.Contains(string(readme), "| `"+name+"` |") {
			t.Errorf("README.md's configuration table has no row for %s", name)
		}
	}

	template, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	env := regexp.MustCompile(`(?m)^\s{10}([A-Z][A-Z_]+): `).FindAllStringSubmatch(string(template), -1)
	if len(env) == 0 {
		t.Fatal("found no environment variables in template.yaml")
	}
	for _, m := range env {
		if !read[m[1]] {
			t.Errorf("template.yaml sets %s, which labelwatch does not read", m[1])
		}
	}
}

// TestTemplateRefusesWhatLoadRefuses holds the template's parameter
// constraints to Load: a value a parameter accepts at deploy time must not
// fail the cold start. The template may refuse more than Load (seconds in
// StuckAfter, spaces in MentionOnFailure), never less.
func TestTemplateRefusesWhatLoadRefuses(t *testing.T) {
	src, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var template struct {
		Parameters map[string]struct {
			AllowedPattern string   `yaml:"AllowedPattern"`
			AllowedValues  []string `yaml:"AllowedValues"`
		} `yaml:"Parameters"`
	}
	if err := yaml.Unmarshal(src, &template); err != nil {
		t.Fatalf("read template.yaml: %v", err)
	}
	tests := []struct {
		param, variable string
		values          []string // accepted and refused alike
	}{
		{"SlackCards", "SLACK_CARDS", []string{"", "on", "off", "auto", "ON", "yes"}},
		{"SlackBroadcast", "SLACK_BROADCAST", []string{"", "all", "failures", "none", "ALL"}},
		{"ProgressMilestones", "PROGRESS_MILESTONES", []string{"", "50", "50,90", " 10 , 20 ", "1,99", "0", "100", "50%", "05", "50,,90", "12.5", "+5"}},
		{"StuckAfter", "STUCK_AFTER", []string{"0", "off", "6h", "90m", "1h30m", "1d", "1m", "30s", "59s", "1.5h", "0.01h", "0m", "-6h", "6"}},
		{"FailedObjectsWarn", "FAILED_OBJECTS_WARN", []string{"1%", "0.5%", "2", "0", "0%", "off", "100", "100%", "100.0%", "99.99", "101%", "100.5", "1e-2", "-1%", ".5%"}},
		{"MentionOnFailure", "MENTION_ON_FAILURE", []string{"", "U024BE7LH", "here,channel", "S0614TZR7,W123ABC", "@alice", "u024be7lh"}},
		{"Regions", "REGIONS", []string{"", "eu-west-1", "eu-west-1,us-west-2", "eu-west-1,eu-west-1", "us-gov-west-1", "Europe", "eu-west-1,", " eu-west-1"}},
		// Two different roles of one account deploy but fail the cold start:
		// a pattern cannot tell them apart, and either choice would be a guess.
		{"AccountRoleArns", "ACCOUNT_ROLES", []string{"", "arn:aws:iam::222222222222:role/lw", "arn:aws:iam::222222222222:role/team/lw,arn:aws:iam::333333333333:role/lw", "arn:aws:iam::222222222222:role/lw,arn:aws:iam::222222222222:role/lw", "arn:aws:iam::2222:role/lw", "arn:aws:iam::222222222222:user/lw"}},
		{"ExternalId", "EXTERNAL_ID", []string{"", "lw-test", "x", "a b", "abc:def/ghi@jkl"}},
		// Likewise two different names of one account.
		{"AccountNames", "ACCOUNT_NAMES", []string{"", "222222222222=research", "222222222222=Vision & Speech,333333333333=x", "222222222222=a,222222222222=a", "222222222222= ", "222222222222=", "2222=x"}},
	}
	for _, tt := range tests {
		p, ok := template.Parameters[tt.param]
		if !ok {
			t.Errorf("template.yaml has no parameter %s", tt.param)
			continue
		}
		if p.AllowedPattern == "" && p.AllowedValues == nil {
			t.Errorf("%s has neither AllowedPattern nor AllowedValues", tt.param)
		}
		// CloudFormation matches the whole value.
		pattern := regexp.MustCompile(`^(?:` + p.AllowedPattern + `)$`)
		for _, v := range tt.values {
			deployable := (p.AllowedPattern == "" || pattern.MatchString(v)) && (p.AllowedValues == nil || slices.Contains(p.AllowedValues, v))
			if !deployable {
				continue
			}
			// As deployed: the credential always comes from the secret.
			_, err := Load(env(map[string]string{"SLACK_WEBHOOK_URL": "", "SLACK_SECRET_ARN": testSecretARN, tt.variable: v}))
			if err != nil {
				t.Errorf("%s=%q deploys but fails the cold start:\n%v", tt.param, v, err)
			}
		}
	}
}
