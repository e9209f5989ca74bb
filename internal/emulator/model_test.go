package emulator_test

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/labelwatch/labelwatch/internal/emulator"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

// modelJSON is the part of botocore's SageMaker model the emulator answers
// with, written by testdata/extract_model.py (see there for the command).
//
//go:embed testdata/sagemaker-model.json
var modelJSON []byte

type ref struct{ Shape string }

// model is a botocore service model, as much of it as these checks read.
type model struct {
	Source     string
	Operations map[string]struct {
		Input, Output ref
		Errors        []ref
	}
	Shapes map[string]shape
}

type shape struct {
	Type      string
	Required  []string
	Members   map[string]ref
	Member    *ref // of a list
	Enum      []string
	Min, Max  *float64
	Pattern   string
	Exception bool
}

func loadModel(t *testing.T) *model {
	t.Helper()
	var m model
	if err := json.Unmarshal(modelJSON, &m); err != nil {
		t.Fatalf("testdata/sagemaker-model.json: %v", err)
	}
	return &m
}

// pattern compiles a model pattern to match a whole string. The model's
// patterns are Java's, which the service applies to the whole value; Go
// writes Java's \uXXXX as \x{XXXX}.
func (m *model) pattern(t *testing.T, name string) *regexp.Regexp {
	t.Helper()
	p := regexp.MustCompile(`\\u([0-9A-Fa-f]{4})`).ReplaceAllString(m.Shapes[name].Pattern, `\x{$1}`)
	re, err := regexp.Compile(`^(?:` + p + `)$`)
	if err != nil {
		t.Fatalf("pattern of %s: %v", name, err)
	}
	return re
}

// check reports where v, decoded with UseNumber, breaks the shape named
// name: unknown members, wrong types, values outside enums, lengths, ranges
// and patterns, and missing required members.
func (m *model) check(t *testing.T, path, name string, v any) []string {
	t.Helper()
	s, ok := m.Shapes[name]
	if !ok {
		t.Fatalf("%s: shape %s is not in the extract", path, name)
	}
	var problems []string
	bad := func(format string, args ...any) {
		problems = append(problems, path+": "+fmt.Sprintf(format, args...))
	}
	size := func(n int) {
		if s.Min != nil && float64(n) < *s.Min || s.Max != nil && float64(n) > *s.Max {
			bad("size %d outside %s's [%v, %v]", n, name, deref(s.Min), deref(s.Max))
		}
	}
	switch s.Type {
	case "structure":
		obj, ok := v.(map[string]any)
		if !ok {
			bad("%T, want a %s object", v, name)
			break
		}
		for k, mv := range obj {
			member, ok := s.Members[k]
			if !ok {
				bad("member %s is not in %s", k, name)
				continue
			}
			problems = append(problems, m.check(t, path+"."+k, member.Shape, mv)...)
		}
		for _, k := range s.Required {
			if _, ok := obj[k]; !ok {
				problems = append(problems, path+"."+k+": missing, and "+name+" requires it")
			}
		}
	case "list":
		list, ok := v.([]any)
		if !ok {
			bad("%T, want a list of %s", v, s.Member.Shape)
			break
		}
		size(len(list))
		for i, e := range list {
			problems = append(problems, m.check(t, fmt.Sprintf("%s[%d]", path, i), s.Member.Shape, e)...)
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			bad("%T, want a string (%s)", v, name)
			break
		}
		size(utf8.RuneCountInString(str))
		if len(s.Enum) > 0 && !slices.Contains(s.Enum, str) {
			bad("%q is not one of %s %v", str, name, s.Enum)
		}
		if s.Pattern != "" && !m.pattern(t, name).MatchString(str) {
			bad("%q does not match %s's pattern %s", str, name, s.Pattern)
		}
	case "integer", "long":
		n, ok := v.(json.Number)
		if !ok || strings.ContainsAny(n.String(), ".eE") {
			bad("%v, want an integer (%s)", v, name)
			break
		}
		i, _ := n.Int64()
		if s.Min != nil && float64(i) < *s.Min || s.Max != nil && float64(i) > *s.Max {
			bad("%d outside %s's [%v, %v]", i, name, deref(s.Min), deref(s.Max))
		}
	case "timestamp":
		// AWS JSON 1.1 sends timestamps as epoch seconds, a JSON number.
		if _, ok := v.(json.Number); !ok {
			bad("%v (%T), want epoch seconds as a number", v, v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			bad("%T, want a boolean", v)
		}
	default:
		t.Fatalf("%s: shape %s has type %s, which check does not know", path, name, s.Type)
	}
	return problems
}

func deref(f *float64) any {
	if f == nil {
		return "-"
	}
	return *f
}

// call posts one raw AWS JSON 1.1 request and decodes the answer.
func call(t *testing.T, url, op, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "SageMaker."+op)
	resp, err := testenv.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("%s answer: %v", op, err)
	}
	return resp.StatusCode, resp.Header, out
}

func marshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestModelAnswers checks the emulator's answers, member by member, against
// botocore's model: names, types, enums, lengths, patterns and required
// members, for a job with everything the emulator stores and for a bare one.
func TestModelAnswers(t *testing.T) {
	m := loadModel(t)
	t.Logf("model: %s", m.Source)
	full := labeling.Job{
		Name:           "Full-Job-7",
		Status:         labeling.StatusFailed,
		CreatedAt:      time.Unix(1700000000, 123_000_000),
		ModifiedAt:     time.Unix(1700000100, 999_000_000),
		Counters:       labeling.Counters{Total: 7, Human: 4, Machine: 3, Failed: 2, Unlabeled: 1},
		FailureReason:  "ClientError: <!channel> & " + strings.Repeat("x", 990),
		OutputManifest: "s3://out/Full-Job-7/manifests/output/output.manifest",
		InputManifest:  "s3://in/input.manifest",
		Workteam:       "arn:aws:sagemaker:eu-west-1:210987654321:workteam/private-crowd/team",
	}
	bare := labeling.Job{Name: "bare", CreatedAt: t0, ModifiedAt: t0}
	emu, _, srv := serve(t, []labeling.Job{full, bare}, emulator.WithRegion("eu-west-1"), emulator.WithAccount("210987654321"))

	// allow drops the problems of required members an answer may leave
	// out: the model requires a workteam, which the bare job was put
	// without.
	allow := func(problems []string, missing ...string) []string {
		return slices.DeleteFunc(problems, func(p string) bool {
			return slices.ContainsFunc(missing, func(m string) bool { return strings.HasPrefix(p, m+":") })
		})
	}
	answer := func(t *testing.T, op string, in any) map[string]any {
		t.Helper()
		status, _, out := call(t, srv.URL, op, marshal(t, in))
		if status != http.StatusOK {
			t.Fatalf("%s: HTTP %d: %v", op, status, out)
		}
		return out
	}
	describe := m.Operations["DescribeLabelingJob"].Output.Shape
	list := m.Operations["ListLabelingJobs"].Output.Shape

	t.Run("describe full job", func(t *testing.T) {
		out := answer(t, "DescribeLabelingJob", map[string]string{"LabelingJobName": full.Name})
		for _, p := range m.check(t, "DescribeLabelingJob", describe, out) {
			t.Error(p)
		}
	})
	t.Run("describe bare job", func(t *testing.T) {
		out := answer(t, "DescribeLabelingJob", map[string]string{"LabelingJobName": bare.Name})
		for _, p := range allow(m.check(t, "DescribeLabelingJob", describe, out), "DescribeLabelingJob.HumanTaskConfig.WorkteamArn") {
			t.Error(p)
		}
	})
	t.Run("list page by page", func(t *testing.T) {
		// By name, full's F sorts before bare's b.
		first := answer(t, "ListLabelingJobs", map[string]any{"SortBy": "Name", "MaxResults": 1})
		for _, p := range m.check(t, "ListLabelingJobs", list, first) {
			t.Error(p)
		}
		second := answer(t, "ListLabelingJobs", map[string]any{"SortBy": "Name", "MaxResults": 1, "NextToken": first["NextToken"]})
		for _, p := range allow(m.check(t, "ListLabelingJobs", list, second), "ListLabelingJobs.LabelingJobSummaryList[0].WorkteamArn") {
			t.Error(p)
		}
	})

	// A missing job: botocore's model declares ResourceNotFound for it, but
	// SageMaker answers a ValidationException, which is no shape of the
	// SageMaker model: AWS's JSON front end sends it for any service, with
	// the body {"__type", "message"}. The emulator answers as SageMaker
	// does, and gives the model's answer as a fault.
	op := m.Operations["DescribeLabelingJob"]
	t.Run("missing job, as SageMaker answers", func(t *testing.T) {
		if slices.Contains(op.Errors, ref{"ValidationException"}) {
			t.Errorf("the model's DescribeLabelingJob errors now list ValidationException: check its shape here")
		}
		if _, ok := m.Shapes["ValidationException"]; ok {
			t.Errorf("the extract has a ValidationException shape: check the answer against it")
		}
		status, header, out := call(t, srv.URL, "DescribeLabelingJob", `{"LabelingJobName":"nope"}`)
		if status != http.StatusBadRequest || out["__type"] != "ValidationException" || header.Get("X-Amzn-ErrorType") != "ValidationException" {
			t.Fatalf("HTTP %d, header %q, body %v; want 400 ValidationException", status, header.Get("X-Amzn-ErrorType"), out)
		}
		want := map[string]any{"__type": "ValidationException", "message": "Could not find requested job with name nope"}
		if !reflect.DeepEqual(out, want) {
			t.Errorf("body %v, want %v", out, want)
		}
	})
	t.Run("missing job, as the model declares", func(t *testing.T) {
		if !slices.Contains(op.Errors, ref{"ResourceNotFound"}) {
			t.Fatalf("the model's DescribeLabelingJob errors are %v, not ResourceNotFound", op.Errors)
		}
		emu.FailNext(1, emulator.ResourceNotFound)
		status, header, out := call(t, srv.URL, "DescribeLabelingJob", `{"LabelingJobName":"nope"}`)
		if status != http.StatusBadRequest || out["__type"] != "ResourceNotFound" || header.Get("X-Amzn-ErrorType") != "ResourceNotFound" {
			t.Fatalf("HTTP %d, header %q, body %v; want 400 ResourceNotFound", status, header.Get("X-Amzn-ErrorType"), out)
		}
		delete(out, "__type")
		for _, p := range m.check(t, "ResourceNotFound", "ResourceNotFound", out) {
			t.Error(p)
		}
		if msg, _ := out["Message"].(string); msg == "" {
			t.Errorf("body %v has no Message, the model's member", out)
		}
	})
}

// TestModelRequests checks that the emulator refuses with a
// ValidationException exactly the requests the model's constraints refuse,
// and says which constraint.
func TestModelRequests(t *testing.T) {
	m := loadModel(t)
	_, _, srv := serve(t, []labeling.Job{{Name: "Gamma-Cats"}})

	t.Run("LabelingJobName", func(t *testing.T) {
		s := m.Shapes["LabelingJobName"]
		pattern := m.pattern(t, "LabelingJobName")
		names := []string{
			"a", "Z", "7", "a-b", "a--b", "A-1-b", "Gamma-Cats", "gamma-cats", "GAMMA-CATS",
			"", "-", "-a", "a-", "a_b", "a.b", "a b", "a/b", "é", "a\n",
			strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("a", 70),
			"a" + strings.Repeat("-b", 31), // 63 characters, 32 of them letters
			"a" + strings.Repeat("-b", 32), // 65 characters: only the length is wrong
		}
		for _, name := range names {
			t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
				wantPattern := !pattern.MatchString(name)
				wantLength := float64(utf8.RuneCountInString(name)) < *s.Min || float64(utf8.RuneCountInString(name)) > *s.Max
				status, _, out := call(t, srv.URL, "DescribeLabelingJob", marshal(t, map[string]string{"LabelingJobName": name}))
				msg, _ := out["message"].(string)
				// A name the model accepts is looked up, and a missing job is a
				// ValidationException too: one that names no constraint.
				missing := strings.HasPrefix(msg, "Could not find requested job with name ")
				refused := status == http.StatusBadRequest && out["__type"] == "ValidationException" && !missing
				if refused != (wantPattern || wantLength) {
					t.Fatalf("HTTP %d %v; the model refuses it: %v", status, out, wantPattern || wantLength)
				}
				if got := strings.Contains(msg, "regular expression pattern"); got != wantPattern {
					t.Errorf("message %q names the pattern: %v, want %v", msg, got, wantPattern)
				}
				if got := strings.Contains(msg, "have length"); got != wantLength {
					t.Errorf("message %q names the length: %v, want %v", msg, got, wantLength)
				}
				if got := labeling.ValidName(name); got != !(wantPattern || wantLength) {
					t.Errorf("labeling.ValidName = %v, want %v", got, !(wantPattern || wantLength))
				}
			})
		}
	})

	t.Run("LabelingJobName required", func(t *testing.T) {
		req := m.Shapes[m.Operations["DescribeLabelingJob"].Input.Shape]
		if !slices.Contains(req.Required, "LabelingJobName") {
			t.Fatalf("the model no longer requires LabelingJobName: %v", req.Required)
		}
		for _, body := range []string{`{}`, `{"LabelingJobName":null}`} {
			status, _, out := call(t, srv.URL, "DescribeLabelingJob", body)
			if msg, _ := out["message"].(string); status != http.StatusBadRequest || out["__type"] != "ValidationException" || !strings.Contains(msg, "must not be null") {
				t.Errorf("%s: HTTP %d %v, want a ValidationException saying it must not be null", body, status, out)
			}
		}
	})

	t.Run("ListLabelingJobs", func(t *testing.T) {
		nameContains := m.pattern(t, "NameContains")
		nc := m.Shapes["NameContains"]
		for _, v := range []string{"a", "CATS", "a-b", "-", "", "a b", "a_b", strings.Repeat("a", 63), strings.Repeat("a", 64)} {
			n := float64(len(v))
			want := nameContains.MatchString(v) && n >= *nc.Min && n <= *nc.Max
			status, _, out := call(t, srv.URL, "ListLabelingJobs", marshal(t, map[string]string{"NameContains": v}))
			if got := status == http.StatusOK; got != want {
				t.Errorf("NameContains %q: HTTP %d %v; the model accepts it: %v", v, status, out, want)
			}
		}
		mr := m.Shapes["MaxResults"]
		for _, v := range []int{0, 1, 100, 101} {
			want := float64(v) >= *mr.Min && float64(v) <= *mr.Max
			status, _, out := call(t, srv.URL, "ListLabelingJobs", marshal(t, map[string]int{"MaxResults": v}))
			if got := status == http.StatusOK; got != want {
				t.Errorf("MaxResults %d: HTTP %d %v; the model accepts it: %v", v, status, out, want)
			}
		}
		for member, enum := range map[string]string{"SortBy": "SortBy", "SortOrder": "SortOrder", "StatusEquals": "LabelingJobStatus"} {
			for _, v := range append(slices.Clone(m.Shapes[enum].Enum), "Other") {
				want := v != "Other"
				status, _, out := call(t, srv.URL, "ListLabelingJobs", marshal(t, map[string]string{member: v}))
				if got := status == http.StatusOK; got != want {
					t.Errorf("%s %q: HTTP %d %v; the model accepts it: %v", member, v, status, out, want)
				}
			}
		}
	})
}

// TestModelCheck checks the checker: it must catch each kind of mistake.
func TestModelCheck(t *testing.T) {
	m := loadModel(t)
	tests := []struct {
		name, body, want string
	}{
		{"unknown member", `{"LabelingJobNmae": "a"}`, "member LabelingJobNmae is not in"},
		{"missing required", `{}`, ".LabelingJobName: missing"},
		{"timestamp as a string", `{"CreationTime": "2026-03-01T12:00:00Z"}`, "want epoch seconds"},
		{"integer with a fraction", `{"LabelCounters": {"TotalLabeled": 1.5}}`, "want an integer"},
		{"negative counter", `{"LabelCounters": {"Unlabeled": -1}}`, "outside LabelCounter's"},
		{"unknown status", `{"LabelingJobStatus": "Done"}`, "is not one of LabelingJobStatus"},
		{"name against its pattern", `{"LabelingJobName": "a_b"}`, "does not match LabelingJobName's pattern"},
		{"reason too long", `{"FailureReason": "` + strings.Repeat("x", 1025) + `"}`, "outside FailureReason's"},
		{"object for a string", `{"RoleArn": {}}`, "want a string"},
		{"workteam outside HumanTaskConfig's pattern", `{"HumanTaskConfig": {"WorkteamArn": "team"}}`, "does not match WorkteamArn's pattern"},
		{"title with Java's \\u range", `{"HumanTaskConfig": {"TaskTitle": "a\u0001"}}`, "does not match TaskTitle's pattern"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dec := json.NewDecoder(strings.NewReader(tt.body))
			dec.UseNumber()
			var v any
			if err := dec.Decode(&v); err != nil {
				t.Fatal(err)
			}
			problems := m.check(t, "R", "DescribeLabelingJobResponse", v)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.want) }) {
				t.Errorf("problems %q, want one saying %q", problems, tt.want)
			}
		})
	}
}

// TestModelExtract checks that testdata/sagemaker-model.json is botocore's
// and holds what the checks above read.
func TestModelExtract(t *testing.T) {
	m := loadModel(t)
	if !bytes.Contains(modelJSON, []byte(`"targetPrefix": "SageMaker"`)) || !strings.HasPrefix(m.Source, "botocore ") {
		t.Errorf("extract is not botocore's SageMaker model: source %q", m.Source)
	}
	for _, op := range []string{"ListLabelingJobs", "DescribeLabelingJob"} {
		o, ok := m.Operations[op]
		if !ok {
			t.Errorf("operation %s missing", op)
			continue
		}
		for _, r := range []ref{o.Input, o.Output} {
			if _, ok := m.Shapes[r.Shape]; !ok {
				t.Errorf("%s: shape %s missing", op, r.Shape)
			}
		}
	}
}
