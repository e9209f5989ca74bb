package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/labelwatch/labelwatch/internal/testenv"
)

// deployment is what template.yaml deploys that the benchmark measures
// against: the function's memory size, which sets its CPU share, and how
// often the schedule runs it by default, which sets the cost of a month.
type deployment struct {
	memoryMB        int // the function's MemorySize
	scheduleMinutes int // the ScheduleMinutes parameter's Default
}

// readDeployment reads template.yaml at the repository root.
func readDeployment() (deployment, error) {
	root, err := testenv.RepoRoot()
	if err != nil {
		return deployment{}, err
	}
	path := filepath.Join(root, "template.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		return deployment{}, fmt.Errorf("read the template: %w", err)
	}
	d, err := parseDeployment(string(b))
	if err != nil {
		return deployment{}, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// parseDeployment scans a template's lines rather than parsing its YAML: it
// has one function, so one `MemorySize: N` line, and one `ScheduleMinutes:`
// parameter whose `Default: N` follows within its indented block. Anything
// else is an error, so a template that grows a second function fails here
// instead of being measured at the wrong size.
func parseDeployment(text string) (deployment, error) {
	var d deployment
	var memory []string
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		key, value, _ := strings.Cut(strings.TrimSpace(line), ":")
		switch key {
		case "MemorySize":
			memory = append(memory, strings.TrimSpace(value))
		case "ScheduleMinutes":
			if strings.TrimSpace(value) != "" {
				continue // a reference such as `!Ref ScheduleMinutes` inside a value
			}
			if d.scheduleMinutes != 0 {
				return d, fmt.Errorf("more than one ScheduleMinutes parameter (line %d)", i+1)
			}
			n, err := parameterDefault(lines[i:])
			if err != nil {
				return d, fmt.Errorf("ScheduleMinutes (line %d): %w", i+1, err)
			}
			d.scheduleMinutes = n
		}
	}
	switch {
	case len(memory) == 0:
		return d, errors.New("no MemorySize line")
	case len(memory) > 1:
		return d, fmt.Errorf("%d MemorySize lines, want the one function's", len(memory))
	case d.scheduleMinutes == 0:
		return d, errors.New("no ScheduleMinutes parameter")
	}
	n, err := strconv.Atoi(memory[0])
	if err != nil || n < 128 {
		return d, fmt.Errorf("MemorySize %q is not a number of MB (at least 128)", memory[0])
	}
	d.memoryMB = n
	return d, nil
}

// parameterDefault is the number in `Default: N` among the lines indented
// under block[0].
func parameterDefault(block []string) (int, error) {
	indent := len(block[0]) - len(strings.TrimLeft(block[0], " "))
	for _, line := range block[1:] {
		text := strings.TrimLeft(line, " ")
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if len(line)-len(text) <= indent {
			break
		}
		if value, ok := strings.CutPrefix(text, "Default:"); ok {
			n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(value), `"'`))
			if err != nil || n < 1 {
				return 0, fmt.Errorf("its Default %q is not a number of minutes", strings.TrimSpace(value))
			}
			return n, nil
		}
	}
	return 0, errors.New("no Default under it")
}
