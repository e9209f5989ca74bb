package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// runbookParamsHeader opens the table of docs/RUNBOOK.md that walks a
// deployer through sam deploy --guided, one row per template parameter.
const runbookParamsHeader = "| parameter | default | answer |"

// TestRunbookParameters checks that docs/RUNBOOK.md's parameter table is the
// template's: a row for every parameter, in the order guided deploy asks for
// them, none for a parameter the template lacks, each with the template's
// Default.
func TestRunbookParameters(t *testing.T) {
	root := repoRoot(t)
	runbook, err := os.ReadFile(filepath.Join(root, "docs", "RUNBOOK.md"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	params := templateParameters(t, src)
	if len(params) == 0 {
		t.Fatal("template.yaml has no parameters")
	}

	// replaceRow returns the runbook with the row of param replaced by row.
	replaceRow := func(t *testing.T, text, param, row string) string {
		re := regexp.MustCompile("(?m)^\\| `" + regexp.QuoteMeta(param) + "` \\|.*\\n")
		if !re.MatchString(text) {
			t.Fatalf("no row for %s to change", param)
		}
		return re.ReplaceAllLiteralString(text, row)
	}
	first, second := params[0].name, params[1].name
	tests := []struct {
		name   string
		mutate func(t *testing.T, text string) string
		want   string // text one of the violations must contain; "" means none allowed
	}{
		{name: "as written"},
		{
			name:   "a parameter without a row",
			mutate: func(t *testing.T, text string) string { return replaceRow(t, text, second, "") },
			want:   fmt.Sprintf("no row for parameter %s", second),
		},
		{
			name: "two rows swapped",
			mutate: func(t *testing.T, text string) string {
				rows := regexp.MustCompile("(?m)^\\| `("+regexp.QuoteMeta(first)+"|"+regexp.QuoteMeta(second)+")` \\|.*\\n").FindAllString(text, -1)
				if len(rows) != 2 {
					t.Fatalf("rows of %s and %s: %q", first, second, rows)
				}
				text = replaceRow(t, text, first, "@@FIRST@@\n")
				text = replaceRow(t, text, second, rows[0])
				return strings.Replace(text, "@@FIRST@@\n", rows[1], 1)
			},
			want: "not in template.yaml's order",
		},
		{
			name: "a row for a parameter the template lacks",
			mutate: func(t *testing.T, text string) string {
				return strings.Replace(text, runbookParamsHeader+"\n| --- | --- | --- |\n",
					runbookParamsHeader+"\n| --- | --- | --- |\n| `SlackChannel` | *(empty)* | Enter. |\n", 1)
			},
			want: "a row for SlackChannel, which is no parameter",
		},
		{
			name: "another default",
			mutate: func(t *testing.T, text string) string {
				return replaceRow(t, text, "Lookback", "| `Lookback` | `2h` | Enter. |\n")
			},
			want: "Lookback: default `2h`, template.yaml's is 1h",
		},
		{
			name: "an empty default shown as a value",
			mutate: func(t *testing.T, text string) string {
				return replaceRow(t, text, "NameContains", "| `NameContains` | `labelwatch` | Enter. |\n")
			},
			want: "NameContains: default `labelwatch`, template.yaml's is empty",
		},
		{
			name: "a default shown as empty",
			mutate: func(t *testing.T, text string) string {
				return replaceRow(t, text, "PushEvents", "| `PushEvents` | *(empty)* | Enter. |\n")
			},
			want: "PushEvents: default *(empty)*, template.yaml's is enabled",
		},
		{
			name: "no table",
			mutate: func(t *testing.T, text string) string {
				return strings.Replace(text, runbookParamsHeader, "| setting | default | answer |", 1)
			},
			want: "no table headed " + runbookParamsHeader,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := string(runbook)
			if tt.mutate != nil {
				text = tt.mutate(t, text)
			}
			checkViolations(t, runbookParameterViolations(params, text), tt.want)
		})
	}
}

// templateParameter is a parameter of template.yaml as a reader sees it: its
// name, and its Default as text ("" when empty or absent).
type templateParameter struct {
	name, def string
}

// templateParameters returns the parameters of the template src in the order
// it declares them, which is the order sam deploy --guided asks for them.
func templateParameters(t *testing.T, src []byte) []templateParameter {
	t.Helper()
	var tree yaml.Node
	if err := yaml.Unmarshal(src, &tree); err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	m := mappingValue(tree.Content[0], "Parameters")
	if m == nil || m.Kind != yaml.MappingNode {
		t.Fatal("template.yaml has no Parameters mapping")
	}
	var out []templateParameter
	for i := 0; i+1 < len(m.Content); i += 2 {
		p := templateParameter{name: m.Content[i].Value}
		if def := mappingValue(m.Content[i+1], "Default"); def != nil {
			p.def = def.Value
		}
		out = append(out, p)
	}
	return out
}

// runbookParameterViolations lists every way the parameter table of runbook
// differs from params.
func runbookParameterViolations(params []templateParameter, runbook string) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	lines := strings.Split(runbook, "\n")
	start := slices.Index(lines, runbookParamsHeader)
	if start < 0 {
		return []string{"docs/RUNBOOK.md has no table headed " + runbookParamsHeader}
	}
	row := regexp.MustCompile("^\\| `([A-Za-z0-9]+)` \\| ([^|]*) \\|")
	firstCode := regexp.MustCompile("`([^`]*)`")
	var names []string
	defaults := map[string]string{}
	for _, line := range lines[start+2:] { // past the header and its --- line
		if !strings.HasPrefix(line, "|") {
			break
		}
		m := row.FindStringSubmatch(line)
		if m == nil {
			add("row %q does not begin with a parameter name in backticks and its default", line)
			continue
		}
		names = append(names, m[1])
		defaults[m[1]] = strings.TrimSpace(m[2])
	}
	known := map[string]bool{}
	var declared []string
	for _, p := range params {
		known[p.name] = true
		if !slices.Contains(names, p.name) {
			add("no row for parameter %s", p.name)
			continue
		}
		declared = append(declared, p.name)
		cell := defaults[p.name]
		switch code := firstCode.FindStringSubmatch(cell); {
		case p.def == "" && cell != "*(empty)*":
			add("%s: default %s, template.yaml's is empty: write *(empty)*", p.name, cell)
		case p.def != "" && (code == nil || code[1] != p.def):
			add("%s: default %s, template.yaml's is %s", p.name, cell, p.def)
		}
	}
	var listed []string
	for _, n := range names {
		if !known[n] {
			add("a row for %s, which is no parameter of template.yaml", n)
			continue
		}
		listed = append(listed, n)
	}
	if !slices.Equal(listed, declared) {
		add("rows %v are not in template.yaml's order %v", listed, declared)
	}
	return out
}
