package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCfnLint runs cfn-lint, the CloudFormation and SAM linter AWS maintains,
// as make lint-template does (informational rules included), on
// template.yaml, which must pass, and on a template broken on purpose, which
// must fail with the rule of each of its mistakes: so a linter that checks
// nothing, or not the informational rules, cannot pass for one that found
// nothing.
func TestCfnLint(t *testing.T) {
	cfnLint, err := exec.LookPath("cfn-lint")
	if err != nil {
		const install = "cfn-lint is not on PATH; install it with `pip install cfn-lint`"
		if os.Getenv("CI") == "true" {
			t.Fatalf("cfn-lint is required in CI, where template.yaml must be linted: %s", install)
		}
		t.Skipf("template.yaml was NOT linted: %s", install)
	}
	root := repoRoot(t)

	tests := []struct {
		name      string
		template  string   // relative to the repository root
		wantExit  int      // cfn-lint's exit code: 2 for errors, 4 warnings, 8 informational, or-ed
		wantRules []string // the IDs of the rules it reports, sorted
	}{
		{name: "template.yaml", template: "template.yaml"},
		{name: "member.yaml", template: "member.yaml"},
		{
			name:      "broken template",
			template:  filepath.Join("internal", "deploy", "testdata", "broken-template.yaml"),
			wantExit:  2 | 8,
			wantRules: []string{"E1010", "E3012", "E3030", "I3011"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each run takes about two seconds
			findings, exit := runCfnLint(t, cfnLint, root, tt.template)
			var rules []string
			for _, f := range findings {
				rules = append(rules, f.Rule.ID)
			}
			slices.Sort(rules)
			rules = slices.Compact(rules)
			if exit != tt.wantExit || !slices.Equal(rules, tt.wantRules) {
				t.Errorf("cfn-lint %s: exit %d with rules %v, want exit %d with rules %v; it reported:\n%s",
					tt.template, exit, rules, tt.wantExit, tt.wantRules, findingsText(findings))
			}
		})
	}
}

// cfnLintFinding is the part of a cfn-lint --format json finding the test reads.
type cfnLintFinding struct {
	Rule struct {
		ID string `json:"Id"`
	}
	Location struct {
		Start struct{ LineNumber int }
	}
	Message string
}

// runCfnLint lints template, a path relative to root, from root, so that a
// .cfnlintrc there applies, with the informational rules as the Makefile's
// lint-template target does, and returns the findings and the exit code.
func runCfnLint(t *testing.T, cfnLint, root, template string) ([]cfnLintFinding, int) {
	t.Helper()
	cmd := exec.Command(cfnLint, "--format", "json", "--include-checks", "I", "--", template)
	cmd.Dir = root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	exit := 0
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		exit = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("run cfn-lint: %v", err)
	}
	// Bit 1, or anything above the three finding bits, is cfn-lint (or
	// whatever stands in for it on PATH) failing to lint at all.
	if exit&1 != 0 || exit > 2|4|8 {
		t.Fatalf("cfn-lint could not lint %s (exit %d):\n%s%s", template, exit, stdout.Bytes(), stderr.Bytes())
	}
	var findings []cfnLintFinding
	if err := json.Unmarshal(stdout.Bytes(), &findings); err != nil {
		t.Fatalf("read cfn-lint's findings on %s: %v\n%s%s", template, err, stdout.Bytes(), stderr.Bytes())
	}
	return findings, exit
}

// findingsText is findings the way cfn-lint prints them to a reader.
func findingsText(findings []cfnLintFinding) string {
	var b strings.Builder
	for _, f := range findings {
		fmt.Fprintf(&b, "  %s line %d: %s\n", f.Rule.ID, f.Location.Start.LineNumber, f.Message)
	}
	if b.Len() == 0 {
		return "  nothing\n"
	}
	return b.String()
}
