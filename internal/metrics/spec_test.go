package metrics_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
)

// emfProblems lists how line breaks the embedded metric format
// specification,
// https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html:
// its structure, the members each object must and may have, its limits
// (100 metrics a directive, 30 keys a dimension set, the lengths of its
// JSON schema) and that every name it references is a root member of the
// right type. A log event is one line of stdout, so the line must be one.
func emfProblems(line []byte) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if !bytes.HasSuffix(line, []byte("\n")) || bytes.Count(line, []byte("\n")) != 1 {
		bad("not one line ending in a newline")
		return problems
	}
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	var root map[string]any
	if err := d.Decode(&root); err != nil {
		bad("root is not a JSON object: %v", err)
		return problems
	}
	if d.More() {
		bad("data after the root object")
	}

	meta, ok := root["_aws"].(map[string]any)
	if !ok {
		bad("no _aws object")
		return problems
	}
	only(meta, "_aws", bad, "Timestamp", "CloudWatchMetrics")
	if ts, ok := meta["Timestamp"].(json.Number); !ok {
		bad("_aws.Timestamp is not a number")
	} else if _, err := ts.Int64(); err != nil {
		bad("_aws.Timestamp %s is not integer milliseconds", ts)
	}
	directives, ok := meta["CloudWatchMetrics"].([]any)
	if !ok || len(directives) == 0 {
		bad("_aws.CloudWatchMetrics is not a non-empty array")
	}
	for i, v := range directives {
		at := fmt.Sprintf("CloudWatchMetrics[%d]", i)
		dir, ok := v.(map[string]any)
		if !ok {
			bad("%s is not an object", at)
			continue
		}
		only(dir, at, bad, "Namespace", "Dimensions", "Metrics")
		if ns, ok := dir["Namespace"].(string); !ok || len(ns) < 1 || len(ns) > 1024 {
			bad("%s.Namespace is not a string of 1 to 1024 characters", at)
		}

		sets, ok := dir["Dimensions"].([]any)
		if !ok || len(sets) == 0 {
			bad("%s.Dimensions is not a non-empty array of dimension sets", at)
		}
		for j, s := range sets {
			keys, ok := s.([]any)
			if !ok {
				bad("%s.Dimensions[%d] is not an array", at, j)
				continue
			}
			if len(keys) > 30 {
				bad("%s.Dimensions[%d] has %d dimension keys, more than 30", at, j, len(keys))
			}
			for _, k := range keys {
				key, ok := k.(string)
				if !ok || len(key) < 1 || len(key) > 250 {
					bad("%s.Dimensions[%d] holds %v, not a key of 1 to 250 characters", at, j, k)
					continue
				}
				switch value, found := root[key]; {
				case !found:
					bad("dimension %s has no root member", key)
				case !isString(value):
					bad("dimension %s is %v, not a string", key, value)
				case len(value.(string)) > 1024:
					bad("dimension %s is longer than 1024 characters", key)
				}
			}
		}

		defs, ok := dir["Metrics"].([]any)
		if !ok {
			bad("%s.Metrics is not an array", at)
		}
		if len(defs) > 100 {
			bad("%s has %d metrics, more than 100", at, len(defs))
		}
		for j, v := range defs {
			def, ok := v.(map[string]any)
			if !ok {
				bad("%s.Metrics[%d] is not an object", at, j)
				continue
			}
			only(def, fmt.Sprintf("%s.Metrics[%d]", at, j), bad, "Name", "Unit", "StorageResolution")
			if u, set := def["Unit"]; set && !(isString(u) && unit.MatchString(u.(string))) {
				bad("%s.Metrics[%d] has unit %v, not a CloudWatch unit", at, j, u)
			}
			if r, set := def["StorageResolution"]; set && r != json.Number("1") && r != json.Number("60") {
				bad("%s.Metrics[%d] has storage resolution %v, not 1 or 60", at, j, r)
			}
			name, ok := def["Name"].(string)
			if !ok || len(name) < 1 || len(name) > 1024 {
				bad("%s.Metrics[%d].Name is not a string of 1 to 1024 characters", at, j)
				continue
			}
			value, found := root[name]
			if !found {
				bad("metric %s has no root member", name)
			} else if !numeric(value) {
				bad("metric %s is %v, not numeric nor up to 100 numbers", name, value)
			}
		}
	}
	return problems
}

// unit is the specification schema's pattern of MetricDefinition.Unit.
var unit = regexp.MustCompile(`^(Seconds|Microseconds|Milliseconds|Bytes|Kilobytes|Megabytes|Gigabytes|Terabytes|Bits|Kilobits|Megabits|Gigabits|Terabits|Percent|Count|Bytes/Second|Kilobytes/Second|Megabytes/Second|Gigabytes/Second|Terabytes/Second|Bits/Second|Kilobits/Second|Megabits/Second|Gigabits/Second|Terabits/Second|Count/Second|None)$`)

// only reports the members of obj not among allowed: "objects defined by
// this specification MUST NOT contain any additional members".
func only(obj map[string]any, at string, bad func(string, ...any), allowed ...string) {
	for k := range obj {
		if !slices.Contains(allowed, k) {
			bad("%s has a member %s the specification does not define", at, k)
		}
	}
}

func isString(v any) bool { _, ok := v.(string); return ok }

// numeric says whether v is a metric target: a number, or an array of at
// most 100 numbers.
func numeric(v any) bool {
	if _, ok := v.(json.Number); ok {
		return true
	}
	values, ok := v.([]any)
	if !ok || len(values) > 100 {
		return false
	}
	for _, x := range values {
		if _, ok := x.(json.Number); !ok {
			return false
		}
	}
	return true
}
