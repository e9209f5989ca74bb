package testenv

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// DeployedFunctionName is the logical ID of labelwatch's function in
// template.yaml.
const DeployedFunctionName = "LabelwatchFunction"

// Stack is what a deploy decides besides the template: the parameters it
// overrides and what CloudFormation made.
type Stack struct {
	// Parameters override the template's defaults, as `sam deploy
	// --parameter-overrides` does; every other parameter takes its Default.
	Parameters map[string]string
	// Refs are the values of !Ref to resources (their physical IDs, such as
	// a table's name or a secret's ARN) and to pseudo parameters such as
	// AWS::Region, AWS::AccountId, AWS::Partition and AWS::StackName.
	Refs map[string]string
	// Attrs are the values of !GetAtt, by "Resource.Attribute".
	Attrs map[string]string
}

// Function is a template's function as CloudFormation deploys it with a
// Stack's parameters and resources: what Lambda gives the process.
type Function struct {
	// Env is Environment.Variables, those of the template's Globals
	// included, with every intrinsic function resolved; a variable set to
	// !Ref AWS::NoValue is absent.
	Env map[string]string
	// Timeout and MemorySize are the function's, SAM's defaults (3 s,
	// 128 MB) when the template sets none.
	Timeout    int
	MemorySize int
	// Events are the function's event sources, by name, with their
	// properties resolved.
	Events map[string]FunctionEvent
}

// FunctionEvent is one of a function's event sources: Type as SAM names it
// (Schedule, ScheduleV2, EventBridgeRule, ...) and its Properties resolved,
// as strings, []any and map[string]any.
type FunctionEvent struct {
	Type       string
	Properties map[string]any
}

// Environ is the function's environment as "NAME=value" lines, sorted, with
// the variables Lambda derives from its settings:
// AWS_LAMBDA_FUNCTION_TIMEOUT (which the Lambda Runtime Interface Emulator
// takes for the invocation's deadline) and AWS_LAMBDA_FUNCTION_MEMORY_SIZE.
func (f Function) Environ() []string {
	var env []string
	for _, name := range slices.Sorted(maps.Keys(f.Env)) {
		env = append(env, name+"="+f.Env[name])
	}
	return append(env,
		"AWS_LAMBDA_FUNCTION_TIMEOUT="+strconv.Itoa(f.Timeout),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE="+strconv.Itoa(f.MemorySize))
}

// DeployedFunction reads the repository's template.yaml and returns its
// DeployedFunctionName as stack deploys it (see ResolveFunction). It fails
// the test on anything it cannot resolve, so that no change to the template
// goes untested unnoticed.
func DeployedFunction(t testing.TB, stack Stack) Function {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "template.yaml")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := ResolveFunction(src, DeployedFunctionName, stack)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return f
}

// ResolveFunction returns the function name of a SAM (or CloudFormation)
// template as CloudFormation deploys it with stack: every parameter at its
// Default or its override (each checked against its constraints, as a
// deploy checks it), Conditions evaluated, and Ref, Fn::If, Fn::FindInMap,
// Fn::Sub, Fn::GetAtt and Fn::Join resolved, the Refs and Attrs of
// resources and pseudo parameters from stack. Environment variables of the
// template's Globals are merged under the function's own, as SAM merges
// them.
//
// Anything else is an error: another intrinsic function, a reference the
// template does not define or stack does not give, a resource that a
// condition leaves out, a YAML tag CloudFormation does not know, an
// environment variable that is not a string.
func ResolveFunction(template []byte, name string, stack Stack) (Function, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(template, &doc); err != nil {
		return Function{}, fmt.Errorf("read template: %w", err)
	}
	if len(doc.Content) != 1 {
		return Function{}, errors.New("read template: no YAML document")
	}
	tree, err := fromYAML(doc.Content[0], "")
	if err != nil {
		return Function{}, fmt.Errorf("read template: %w", err)
	}
	top, ok := tree.(map[string]any)
	if !ok {
		return Function{}, errors.New("read template: not a mapping")
	}
	r := &resolver{
		stack:      stack,
		conditions: mapping(top["Conditions"]),
		mappings:   mapping(top["Mappings"]),
		resources:  mapping(top["Resources"]),
		decided:    map[string]bool{},
		deciding:   map[string]bool{},
	}
	if r.params, err = parameters(mapping(top["Parameters"]), stack.Parameters); err != nil {
		return Function{}, err
	}
	return r.function(name, mapping(mapping(top["Globals"])["Function"]))
}

// mapping is v as a mapping, or nil.
func mapping(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// fromYAML turns a YAML node into strings, []any and map[string]any, a
// CloudFormation short tag (!Ref X, !If [...]) into its long form
// ({"Ref": "X"}, {"Fn::If": [...]}). path names the node in errors.
func fromYAML(n *yaml.Node, path string) (any, error) {
	tag := n.Tag
	if n.Kind == yaml.AliasNode {
		return nil, fmt.Errorf("%s: a YAML alias, which CloudFormation does not read", orTop(path))
	}
	if strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!") {
		fn, ok := shortTags[tag]
		if !ok {
			return nil, fmt.Errorf("%s: unknown tag %s", orTop(path), tag)
		}
		plain := *n
		plain.Tag = ""
		plain.Style &^= yaml.TaggedStyle
		arg, err := fromYAML(&plain, path+"."+fn)
		if err != nil {
			return nil, err
		}
		if s, ok := arg.(string); ok && fn == "Fn::GetAtt" {
			// !GetAtt Resource.Attribute; an attribute may hold dots.
			res, attr, ok := strings.Cut(s, ".")
			if !ok {
				return nil, fmt.Errorf("%s: !GetAtt %q is not Resource.Attribute", orTop(path), s)
			}
			arg = []any{res, attr}
		}
		return map[string]any{fn: arg}, nil
	}
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, fmt.Errorf("%s: null, which CloudFormation does not take as a value", orTop(path))
		case "!!bool":
			return strings.ToLower(n.Value), nil
		case "!!str":
			// YAML 1.1 readers take these for booleans, YAML 1.2 ones for
			// strings: unquoted, what the template means is unclear.
			if n.Style == 0 && yaml11Bools[strings.ToLower(n.Value)] {
				return nil, fmt.Errorf("%s: unquoted %s is a boolean to some YAML readers and a string to others: quote it", orTop(path), n.Value)
			}
		}
		return n.Value, nil
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			v, err := fromYAML(c, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			if n.Content[i].Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("%s: a key that is not a scalar", orTop(path))
			}
			if _, dup := out[key]; dup {
				return nil, fmt.Errorf("%s: key %s twice", orTop(path), key)
			}
			v, err := fromYAML(n.Content[i+1], strings.TrimPrefix(path+"."+key, "."))
			if err != nil {
				return nil, err
			}
			out[key] = v
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: unexpected YAML node", orTop(path))
}

func orTop(path string) string {
	if path == "" {
		return "template"
	}
	return path
}

// shortTags are CloudFormation's YAML short forms of its functions.
var shortTags = map[string]string{
	"!Ref": "Ref", "!Condition": "Condition",
	"!And": "Fn::And", "!Base64": "Fn::Base64", "!Cidr": "Fn::Cidr", "!Equals": "Fn::Equals",
	"!FindInMap": "Fn::FindInMap", "!GetAtt": "Fn::GetAtt", "!GetAZs": "Fn::GetAZs", "!If": "Fn::If",
	"!ImportValue": "Fn::ImportValue", "!Join": "Fn::Join", "!Not": "Fn::Not", "!Or": "Fn::Or",
	"!Select": "Fn::Select", "!Split": "Fn::Split", "!Sub": "Fn::Sub", "!Transform": "Fn::Transform",
}

var yaml11Bools = map[string]bool{"y": true, "yes": true, "n": true, "no": true, "on": true, "off": true}

// parameters are the template's parameters as a deploy sets them: each
// override or else its Default, checked against its constraints.
func parameters(declared map[string]any, overrides map[string]string) (map[string]param, error) {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(overrides)) {
		if _, ok := declared[name]; !ok {
			errs = append(errs, fmt.Errorf("parameter override %s: the template has no such parameter", name))
		}
	}
	params := map[string]param{}
	for _, name := range slices.Sorted(maps.Keys(declared)) {
		decl := mapping(declared[name])
		typ, _ := decl["Type"].(string)
		value, ok := overrides[name]
		if !ok {
			if value, ok = decl["Default"].(string); !ok {
				errs = append(errs, fmt.Errorf("parameter %s has no Default (or one that is not a scalar), and no override", name))
				continue
			}
		}
		if err := checkParameter(decl, typ, value); err != nil {
			errs = append(errs, fmt.Errorf("parameter %s=%q: %w", name, value, err))
			continue
		}
		params[name] = param{typ: typ, value: value}
	}
	return params, errors.Join(errs...)
}

type param struct{ typ, value string }

// checkParameter checks value against a parameter's constraints, as a
// deploy does.
func checkParameter(decl map[string]any, typ, value string) error {
	switch {
	case typ == "String", typ == "Number", typ == "CommaDelimitedList", strings.HasPrefix(typ, "List<"):
	default:
		return fmt.Errorf("type %q is not resolved here", typ)
	}
	if typ == "Number" {
		n, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return errors.New("not a number")
		}
		for key, bad := range map[string]func(float64) bool{
			"MinValue": func(m float64) bool { return n < m }, "MaxValue": func(m float64) bool { return n > m },
		} {
			if s, ok := decl[key].(string); ok {
				m, err := strconv.ParseFloat(s, 64)
				if err != nil || bad(m) {
					return fmt.Errorf("outside %s %s", key, s)
				}
			}
		}
	}
	if typ == "String" {
		length := utf8.RuneCountInString(value)
		for key, bad := range map[string]func(int) bool{
			"MinLength": func(m int) bool { return length < m }, "MaxLength": func(m int) bool { return length > m },
		} {
			if s, ok := decl[key].(string); ok {
				m, err := strconv.Atoi(s)
				if err != nil || bad(m) {
					return fmt.Errorf("outside %s %s", key, s)
				}
			}
		}
	}
	if allowed, ok := decl["AllowedValues"]; ok {
		list, _ := allowed.([]any)
		if !slices.Contains(list, any(value)) {
			return fmt.Errorf("not one of AllowedValues %v", list)
		}
	}
	if pattern, ok := decl["AllowedPattern"].(string); ok {
		// CloudFormation matches the pattern against the whole value.
		re, err := regexp.Compile("^(?:" + pattern + ")$")
		if err != nil {
			return fmt.Errorf("AllowedPattern %q is not read here: %w", pattern, err)
		}
		if !re.MatchString(value) {
			return fmt.Errorf("does not match AllowedPattern %s", pattern)
		}
	}
	return nil
}

// resolver resolves a template's intrinsic functions for one stack.
type resolver struct {
	stack      Stack
	params     map[string]param
	conditions map[string]any
	mappings   map[string]any
	resources  map[string]any
	decided    map[string]bool // conditions evaluated so far
	deciding   map[string]bool // conditions being evaluated, against cycles
}

// noValue is what !Ref AWS::NoValue resolves to: the property or list item
// holding it is removed.
type noValue struct{}

// function resolves the function name, globals being the template's
// Globals.Function.
func (r *resolver) function(name string, globals map[string]any) (Function, error) {
	res := mapping(r.resources[name])
	if res == nil {
		return Function{}, fmt.Errorf("no resource %s", name)
	}
	path := "Resources." + name
	if err := r.created(name); err != nil {
		return Function{}, err
	}
	typ, _ := res["Type"].(string)
	switch typ {
	case "AWS::Serverless::Function":
	case "AWS::Lambda::Function":
		globals = nil // SAM's Globals are for its own resource types
	default:
		return Function{}, fmt.Errorf("%s is a %s, not a function", path, typ)
	}
	props := mapping(res["Properties"])
	f := Function{Env: map[string]string{}, Timeout: 3, MemorySize: 128, Events: map[string]FunctionEvent{}}

	vars, err := mergeGlobal(mapping(globals["Environment"])["Variables"], mapping(props["Environment"])["Variables"], path)
	if err != nil {
		return Function{}, err
	}
	if vars != nil {
		v, err := r.eval(vars, path+".Properties.Environment.Variables")
		if err != nil {
			return Function{}, err
		}
		env, ok := v.(map[string]any)
		if !ok {
			return Function{}, fmt.Errorf("%s.Properties.Environment.Variables: resolves to %T, not a mapping", path, v)
		}
		for _, k := range slices.Sorted(maps.Keys(env)) {
			s, ok := env[k].(string)
			if !ok {
				return Function{}, fmt.Errorf("%s.Properties.Environment.Variables.%s: resolves to %v, not a string", path, k, env[k])
			}
			f.Env[k] = s
		}
	}

	for key, dst := range map[string]*int{"Timeout": &f.Timeout, "MemorySize": &f.MemorySize} {
		raw, ok := props[key]
		if !ok {
			raw, ok = globals[key]
		}
		if !ok {
			continue
		}
		v, err := r.eval(raw, path+".Properties."+key)
		if err != nil {
			return Function{}, err
		}
		s, _ := v.(string)
		if *dst, err = strconv.Atoi(s); err != nil {
			return Function{}, fmt.Errorf("%s.Properties.%s: resolves to %v, not a whole number", path, key, v)
		}
	}

	for ev, raw := range mapping(props["Events"]) {
		evPath := path + ".Properties.Events." + ev
		def := mapping(raw)
		typ, ok := def["Type"].(string)
		if !ok {
			return Function{}, fmt.Errorf("%s: no Type", evPath)
		}
		v, err := r.eval(mapping(def["Properties"]), evPath+".Properties")
		if err != nil {
			return Function{}, err
		}
		f.Events[ev] = FunctionEvent{Type: typ, Properties: mapping(v)}
	}
	return f, nil
}

// mergeGlobal merges Globals' environment variables under the function's,
// before any is resolved, as SAM does: a function's !Ref AWS::NoValue
// removes a global variable.
func mergeGlobal(global, own any, path string) (any, error) {
	switch {
	case global == nil:
		return own, nil
	case own == nil:
		return global, nil
	}
	g, own1 := mapping(global), mapping(own)
	if g == nil || own1 == nil || isIntrinsic(g) || isIntrinsic(own1) {
		return nil, fmt.Errorf("%s: Globals and the function both set Environment.Variables, one of them with an intrinsic function: not merged here", path)
	}
	merged := maps.Clone(g)
	maps.Copy(merged, own1)
	return merged, nil
}

// isIntrinsic reports whether m is an intrinsic function: one key, Ref or
// Fn::*. ({Condition: name} is one only among conditions: see decide.)
func isIntrinsic(m map[string]any) bool {
	if len(m) != 1 {
		return false
	}
	for k := range m {
		return k == "Ref" || strings.HasPrefix(k, "Fn::")
	}
	return false
}

// created fails when the resource name is left out of the stack by its
// Condition.
func (r *resolver) created(name string) error {
	cond, ok := mapping(r.resources[name])["Condition"]
	if !ok {
		return nil
	}
	c, _ := cond.(string)
	yes, err := r.condition(c)
	if err != nil {
		return fmt.Errorf("Resources.%s.Condition: %w", name, err)
	}
	if !yes {
		return fmt.Errorf("resource %s is not created: its condition %s is false with these parameters", name, c)
	}
	return nil
}

// eval resolves v, found at path: strings stay, lists and mappings are
// resolved item by item (an item that resolves to noValue is dropped), an
// intrinsic function is applied.
func (r *resolver) eval(v any, path string) (any, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case []any:
		out := make([]any, 0, len(v))
		for i, item := range v {
			x, err := r.eval(item, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			if x != (noValue{}) {
				out = append(out, x)
			}
		}
		return out, nil
	case map[string]any:
		if isIntrinsic(v) {
			for fn, arg := range v {
				x, err := r.intrinsic(fn, arg, path)
				if err != nil {
					return nil, fmt.Errorf("%s: %s: %w", path, fn, err)
				}
				return x, nil
			}
		}
		out := make(map[string]any, len(v))
		for _, k := range slices.Sorted(maps.Keys(v)) { // the first error, always the same
			x, err := r.eval(v[k], path+"."+k)
			if err != nil {
				return nil, err
			}
			if x != (noValue{}) {
				out[k] = x
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: unexpected %T", path, v)
}

func (r *resolver) intrinsic(fn string, arg any, path string) (any, error) {
	switch fn {
	case "Ref":
		name, ok := arg.(string)
		if !ok {
			return nil, fmt.Errorf("takes a name, not %v", arg)
		}
		return r.ref(name)
	case "Fn::If":
		args, ok := arg.([]any)
		if !ok || len(args) != 3 {
			return nil, errors.New("takes [condition, value if true, value if false]")
		}
		name, ok := args[0].(string)
		if !ok {
			return nil, fmt.Errorf("condition %v is not a name", args[0])
		}
		yes, err := r.condition(name)
		if err != nil {
			return nil, err
		}
		if yes {
			return r.eval(args[1], path)
		}
		return r.eval(args[2], path)
	case "Fn::FindInMap":
		args, ok := arg.([]any)
		if !ok || len(args) != 3 {
			return nil, errors.New("takes [map, top-level key, second-level key] (no DefaultValue here)")
		}
		keys, err := r.strings(args, path)
		if err != nil {
			return nil, err
		}
		top, ok := mapping(r.mappings[keys[0]])[keys[1]]
		if !ok {
			return nil, fmt.Errorf("no key %q in mapping %q", keys[1], keys[0])
		}
		v, ok := mapping(top)[keys[2]]
		if !ok {
			return nil, fmt.Errorf("no key %q under %q in mapping %q", keys[2], keys[1], keys[0])
		}
		return r.eval(v, path)
	case "Fn::GetAtt":
		args, ok := arg.([]any)
		if !ok || len(args) != 2 {
			return nil, errors.New("takes [resource, attribute]")
		}
		names, err := r.strings(args, path)
		if err != nil {
			return nil, err
		}
		return r.getAtt(names[0], names[1])
	case "Fn::Join":
		args, ok := arg.([]any)
		if !ok || len(args) != 2 {
			return nil, errors.New("takes [delimiter, list]")
		}
		sep, ok := args[0].(string)
		if !ok {
			return nil, fmt.Errorf("delimiter %v is not a string", args[0])
		}
		list, err := r.eval(args[1], path)
		if err != nil {
			return nil, err
		}
		items, ok := list.([]any)
		if !ok {
			return nil, fmt.Errorf("%v is not a list", list)
		}
		parts, err := r.strings(items, path)
		if err != nil {
			return nil, err
		}
		return strings.Join(parts, sep), nil
	case "Fn::Sub":
		return r.sub(arg, path)
	}
	return nil, errors.New("not resolved here: resolve it in internal/testenv/template.go, or change the template")
}

// strings resolves each of items to a string.
func (r *resolver) strings(items []any, path string) ([]string, error) {
	out := make([]string, len(items))
	for i, item := range items {
		v, err := r.eval(item, path)
		if err != nil {
			return nil, err
		}
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%v is not a string", v)
		}
		out[i] = s
	}
	return out, nil
}

// ref is !Ref name: a parameter's value, a pseudo parameter's or a
// resource's from the stack, or noValue for AWS::NoValue.
func (r *resolver) ref(name string) (any, error) {
	if p, ok := r.params[name]; ok {
		if p.typ == "String" || p.typ == "Number" {
			return p.value, nil
		}
		var list []any
		for _, s := range strings.Split(p.value, ",") {
			list = append(list, s)
		}
		return list, nil
	}
	if name == "AWS::NoValue" {
		return noValue{}, nil
	}
	_, resource := r.resources[name]
	if !resource && !strings.HasPrefix(name, "AWS::") {
		return nil, fmt.Errorf("%s is no parameter or resource of the template", name)
	}
	if resource {
		if err := r.created(name); err != nil {
			return nil, err
		}
	}
	v, ok := r.stack.Refs[name]
	if !ok {
		return nil, fmt.Errorf("the stack gives no value for %s (Stack.Refs)", name)
	}
	return v, nil
}

// getAtt is !GetAtt res.attr, from the stack.
func (r *resolver) getAtt(res, attr string) (any, error) {
	if _, ok := r.resources[res]; !ok {
		return nil, fmt.Errorf("%s is no resource of the template", res)
	}
	if err := r.created(res); err != nil {
		return nil, err
	}
	v, ok := r.stack.Attrs[res+"."+attr]
	if !ok {
		return nil, fmt.Errorf("the stack gives no value for %s.%s (Stack.Attrs)", res, attr)
	}
	return v, nil
}

// subVar is a ${...} of Fn::Sub; ${!...} is a literal ${...}.
var subVar = regexp.MustCompile(`\$\{([^}]*)\}`)

// sub is Fn::Sub: "text ${Name} ${Resource.Attribute}" or [text, {Name: value}].
func (r *resolver) sub(arg any, path string) (any, error) {
	text, ok := arg.(string)
	vars := map[string]any{}
	if !ok {
		args, isList := arg.([]any)
		if !isList || len(args) != 2 {
			return nil, errors.New("takes a string or [string, {name: value}]")
		}
		if text, ok = args[0].(string); !ok {
			return nil, fmt.Errorf("%v is not a string", args[0])
		}
		if vars = mapping(args[1]); vars == nil {
			return nil, fmt.Errorf("%v is not a mapping", args[1])
		}
	}
	var errs []error
	out := subVar.ReplaceAllStringFunc(text, func(m string) string {
		name := m[2 : len(m)-1]
		if strings.HasPrefix(name, "!") {
			return "${" + name[1:] + "}"
		}
		name = strings.TrimSpace(name)
		var (
			v   any
			err error
		)
		switch raw, given := vars[name]; {
		case given:
			v, err = r.eval(raw, path)
		case strings.Contains(name, "."):
			res, attr, _ := strings.Cut(name, ".")
			v, err = r.getAtt(res, attr)
		default:
			v, err = r.ref(name)
		}
		s, ok := v.(string)
		if err == nil && !ok {
			err = fmt.Errorf("${%s} resolves to %v, not a string", name, v)
		}
		if err != nil {
			errs = append(errs, err)
		}
		return s
	})
	return out, errors.Join(errs...)
}

// condition evaluates the named condition of the template's Conditions.
func (r *resolver) condition(name string) (bool, error) {
	if yes, ok := r.decided[name]; ok {
		return yes, nil
	}
	def, ok := r.conditions[name]
	if !ok {
		return false, fmt.Errorf("no condition %s", name)
	}
	if r.deciding[name] {
		return false, fmt.Errorf("condition %s depends on itself", name)
	}
	r.deciding[name] = true
	defer delete(r.deciding, name)
	yes, err := r.decide(def, "Conditions."+name)
	if err != nil {
		return false, err
	}
	r.decided[name] = yes
	return yes, nil
}

// decide evaluates a condition function: Fn::Equals, Fn::Not, Fn::And,
// Fn::Or or {Condition: name}.
func (r *resolver) decide(v any, path string) (bool, error) {
	m := mapping(v)
	if _, ok := m["Condition"]; !isIntrinsic(m) && !(ok && len(m) == 1) {
		return false, fmt.Errorf("%s: %v is not a condition function", path, v)
	}
	for fn, arg := range m {
		if fn == "Condition" {
			name, ok := arg.(string)
			if !ok {
				return false, fmt.Errorf("%s: Condition takes a name, not %v", path, arg)
			}
			return r.condition(name)
		}
		args, ok := arg.([]any)
		if !ok {
			return false, fmt.Errorf("%s: %s takes a list", path, fn)
		}
		switch fn {
		case "Fn::Equals":
			if len(args) != 2 {
				return false, fmt.Errorf("%s: Fn::Equals takes two values", path)
			}
			values, err := r.strings(args, path+".Fn::Equals")
			if err != nil {
				return false, fmt.Errorf("%s: Fn::Equals: %w", path, err)
			}
			return values[0] == values[1], nil
		case "Fn::Not":
			if len(args) != 1 {
				return false, fmt.Errorf("%s: Fn::Not takes one condition", path)
			}
			yes, err := r.decide(args[0], path+".Fn::Not")
			return !yes, err
		case "Fn::And", "Fn::Or":
			if len(args) < 2 || len(args) > 10 {
				return false, fmt.Errorf("%s: %s takes 2 to 10 conditions", path, fn)
			}
			// Every operand is evaluated, so that a broken one fails even
			// where an earlier one decides.
			all, some := true, false
			for i, c := range args {
				yes, err := r.decide(c, fmt.Sprintf("%s.%s[%d]", path, fn, i))
				if err != nil {
					return false, err
				}
				all, some = all && yes, some || yes
			}
			if fn == "Fn::And" {
				return all, nil
			}
			return some, nil
		}
		return false, fmt.Errorf("%s: %s is not a condition function", path, fn)
	}
	return false, nil
}
