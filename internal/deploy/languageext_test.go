package deploy

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// TestFindInMapKeysForSAMCLI checks template.yaml as SAM CLI's local
// AWS::LanguageExtensions processing (sam build --language-extensions)
// resolves it: that processing replaces a Ref to a parameter with the
// parameter's Default exactly as YAML typed it (sam build never sees
// samconfig.toml's parameter_overrides), and refuses a Fn::FindInMap whose
// map name or key is then not a string ("Fn::FindInMap layout is
// incorrect"), or is a string the map lacks. So every key must be a string
// present in the map at the parameter's Default, and at each of its
// AllowedValues, which reach it as text when a deployer passes them with
// --parameter-overrides.
func TestFindInMapKeysForSAMCLI(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(t *testing.T, doc map[string]any)
		want   string // text one of the violations must contain; "" means none allowed
	}{
		{name: "template as written"},
		{
			name:   "an integer Default",
			mutate: func(t *testing.T, doc map[string]any) { mapAt(t, doc, "Parameters", scheduleParam)["Default"] = 5 },
			want:   "ScheduleMinutes Default 5 is not a string (YAML int)",
		},
		{
			name: "an allowed value the map lacks",
			mutate: func(t *testing.T, doc map[string]any) {
				p := mapAt(t, doc, "Parameters", scheduleParam)
				p["AllowedValues"] = append(slices.Clone(p["AllowedValues"].([]any)), "7")
			},
			want: `ScheduleMinutes=7: no key "7" in map Schedule`,
		},
		{
			name: "a Default the map lacks",
			mutate: func(t *testing.T, doc map[string]any) {
				delete(mapAt(t, doc, "Mappings", "Schedule"), "5")
			},
			want: `ScheduleMinutes=5: no key "5" in map Schedule`,
		},
		{
			name: "a literal integer key",
			mutate: func(t *testing.T, doc map[string]any) {
				mapAt(t, doc, "Resources", alarmID, "Properties")["Period"] = map[string]any{"Fn::FindInMap": []any{"Schedule", 5, "Seconds"}}
			},
			want: "key 5 is not a string (YAML int)",
		},
		{
			name: "a second-level key the map lacks",
			mutate: func(t *testing.T, doc map[string]any) {
				delete(mapAt(t, doc, "Mappings", "Schedule", "60"), "Seconds")
			},
			want: `ScheduleMinutes=60: no key "Seconds" in map Schedule under "60"`,
		},
		{
			name: "a key parameter without a Default",
			mutate: func(t *testing.T, doc map[string]any) {
				delete(mapAt(t, doc, "Parameters", scheduleParam), "Default")
			},
			want: "ScheduleMinutes has no Default",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := loadTemplate(t)
			if tt.mutate != nil {
				tt.mutate(t, doc)
			}
			violations := findInMapViolations(doc)
			if tt.want == "" && len(findInMaps(doc)) == 0 {
				t.Fatal("the template has no Fn::FindInMap: the check saw nothing")
			}
			checkViolations(t, violations, tt.want)
		})
	}
}

// findInMapViolations lists every Fn::FindInMap of doc that SAM CLI's local
// language extensions processing would refuse, at each parameter's Default
// and at each of its AllowedValues.
func findInMapViolations(doc map[string]any) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	params, _ := lookup(doc, "Parameters")
	paramDefs, _ := params.(map[string]any)
	for _, fim := range findInMaps(doc) {
		args, ok := fim.([]any)
		if !ok || len(args) < 3 {
			add("Fn::FindInMap %s: want a map name and two keys", canonicalOrText(fim))
			continue
		}
		args = args[:3] // a fourth, {DefaultValue: ...}, is no key
		// The Refs among the keys, each with the values it may take: its
		// Default as typed, then its AllowedValues as text.
		type setting struct {
			param string
			value any
		}
		defaults := map[string]any{}
		var settings []setting
		for _, a := range args {
			ref, ok := lookup(a, "Ref")
			if !ok {
				continue
			}
			name := fmt.Sprint(ref)
			p, isParam := paramDefs[name]
			if !isParam {
				continue // a pseudo parameter; SAM CLI gives it as text
			}
			def, ok := lookup(p, "Default")
			if !ok {
				add("%s has no Default, and sam build sees no parameter_overrides: Fn::FindInMap %s cannot resolve", name, canonicalOrText(fim))
				continue
			}
			defaults[name] = def
			settings = append(settings, setting{name, def})
			allowed, _ := lookup(p, "AllowedValues")
			for _, v := range asList(allowed) {
				settings = append(settings, setting{name, strings.Trim(canonicalOrText(v), `"`)})
			}
		}
		if len(settings) == 0 {
			settings = append(settings, setting{}) // literal keys only: one lookup
		}
		for _, s := range settings {
			values := maps.Clone(defaults)
			at := ""
			if s.param != "" {
				values[s.param] = s.value
				at = fmt.Sprintf("%s=%v: ", s.param, s.value)
			}
			var keys []string
			bad := false
			for i, a := range args {
				what := []string{"map name", "key", "key"}[i]
				v := a
				if ref, ok := lookup(a, "Ref"); ok {
					name := fmt.Sprint(ref)
					if _, isParam := paramDefs[name]; !isParam {
						bad = true // a pseudo parameter: not known here
						break
					}
					if v, ok = values[name]; !ok {
						bad = true // reported above: no Default
						break
					}
					if _, isText := v.(string); !isText {
						add("%s%s Default %v is not a string (YAML %T): SAM CLI refuses the Fn::FindInMap %s; write Default: \"%v\"",
							at, name, v, v, canonicalOrText(fim), v)
						bad = true
						break
					}
				}
				text, isText := v.(string)
				if !isText {
					add("%sFn::FindInMap %s: %s %s is not a string (YAML %T)", at, canonicalOrText(fim), what, canonicalOrText(v), v)
					bad = true
					break
				}
				keys = append(keys, text)
			}
			if bad {
				continue
			}
			if _, ok := lookup(doc, "Mappings", keys[0]); !ok {
				add("%sno map %s in Mappings", at, keys[0])
			} else if _, ok := lookup(doc, "Mappings", keys[0], keys[1]); !ok {
				add("%sno key %q in map %s", at, keys[1], keys[0])
			} else if _, ok := lookup(doc, "Mappings", keys[0], keys[1], keys[2]); !ok {
				add("%sno key %q in map %s under %q", at, keys[2], keys[0], keys[1])
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// findInMaps returns the argument of every Fn::FindInMap in v.
func findInMaps(v any) []any {
	var out []any
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if args, ok := v["Fn::FindInMap"]; ok && len(v) == 1 {
				out = append(out, args)
			}
			for _, k := range slices.Sorted(maps.Keys(v)) {
				walk(v[k])
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(v)
	return out
}
