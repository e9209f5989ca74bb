package config

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
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
