package metrics_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labelwatch/labelwatch/internal/clock"
	"github.com/labelwatch/labelwatch/internal/metrics"
	"github.com/labelwatch/labelwatch/internal/watch"
)

// now is the tests' fixed time: 2026-01-02T15:05:00.123Z, 1767366300123 ms.
var now = time.Date(2026, 1, 2, 15, 5, 0, 123_000_000, time.UTC)

const function = "labelwatch-LabelwatchFunction-AbC123"

// emit runs write on an Emitter stamped with now and returns what it wrote.
func emit(t *testing.T, write func(*metrics.Emitter) error) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := write(metrics.NewEmitter(&out, function, clock.NewFake(now))); err != nil {
		t.Fatalf("emit: %v", err)
	}
	return out.Bytes()
}

// decode reads line as JSON, numbers as json.Number.
func decode(t *testing.T, line []byte) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	var doc map[string]any
	if err := d.Decode(&doc); err != nil {
		t.Fatalf("line is no JSON object: %v\n%s", err, line)
	}
	return doc
}

// golden builds the decoded document the emitter must write: metrics as
// {name, unit, value} triples in the order of the directive.
func golden(trigger string, ms ...[3]string) map[string]any {
	defs := make([]any, len(ms))
	doc := map[string]any{
		"_aws": map[string]any{
			"Timestamp": json.Number("1767366300123"),
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace":  "Labelwatch",
				"Dimensions": []any{[]any{"FunctionName"}},
				"Metrics":    defs,
			}},
		},
		"FunctionName": function,
		"Trigger":      trigger,
	}
	for i, m := range ms {
		defs[i] = map[string]any{"Name": m[0], "Unit": m[1]}
		doc[m[0]] = json.Number(m[2])
	}
	return doc
}

func TestLines(t *testing.T) {
	cursor := now.Add(-90*time.Second - 500*time.Millisecond)
	for _, tc := range []struct {
		name  string
		write func(*metrics.Emitter) error
		want  map[string]any
	}{
		{
			name: "poll",
			write: func(e *metrics.Emitter) error {
				return e.Poll(watch.Summary{Listed: 12, Transitions: 3, Alerted: 2, Cursor: cursor, DurationMS: 1234}, false)
			},
			want: golden("poll",
				[3]string{"PollsCompleted", "Count", "1"},
				[3]string{"JobsListed", "Count", "12"},
				[3]string{"Transitions", "Count", "3"},
				[3]string{"AlertsSent", "Count", "2"},
				[3]string{"AlertsPending", "Count", "0"},
				[3]string{"RunDuration", "Milliseconds", "1234"},
				[3]string{"CursorLag", "Seconds", "90.5"}),
		},
		{
			// The run's error is why pending alerts must show: the line is
			// written all the same, and says the poll did not complete.
			name: "failed poll",
			write: func(e *metrics.Emitter) error {
				return e.Poll(watch.Summary{Listed: 5, Transitions: 4, Alerted: 1, Pending: 3, Cursor: now.Add(-time.Hour), DurationMS: 7000}, true)
			},
			want: golden("poll",
				[3]string{"PollsCompleted", "Count", "0"},
				[3]string{"JobsListed", "Count", "5"},
				[3]string{"Transitions", "Count", "4"},
				[3]string{"AlertsSent", "Count", "1"},
				[3]string{"AlertsPending", "Count", "3"},
				[3]string{"RunDuration", "Milliseconds", "7000"},
				[3]string{"CursorLag", "Seconds", "3600"}),
		},
		{
			// Before the first poll completes there is no cursor, so no lag:
			// a lag since 1970 would set off every alarm on it.
			name: "poll without cursor",
			write: func(e *metrics.Emitter) error {
				return e.Poll(watch.Summary{Listed: 40}, false)
			},
			want: golden("poll",
				[3]string{"PollsCompleted", "Count", "1"},
				[3]string{"JobsListed", "Count", "40"},
				[3]string{"Transitions", "Count", "0"},
				[3]string{"AlertsSent", "Count", "0"},
				[3]string{"AlertsPending", "Count", "0"},
				[3]string{"RunDuration", "Milliseconds", "0"}),
		},
		{
			// A cursor ahead of this host's clock is skew, not lag.
			name: "poll with cursor ahead",
			write: func(e *metrics.Emitter) error {
				return e.Poll(watch.Summary{Cursor: now.Add(2 * time.Second)}, false)
			},
			want: golden("poll",
				[3]string{"PollsCompleted", "Count", "1"},
				[3]string{"JobsListed", "Count", "0"},
				[3]string{"Transitions", "Count", "0"},
				[3]string{"AlertsSent", "Count", "0"},
				[3]string{"AlertsPending", "Count", "0"},
				[3]string{"RunDuration", "Milliseconds", "0"},
				[3]string{"CursorLag", "Seconds", "0"}),
		},
		{
			// A push has no listing and no cursor of its own: Listed and
			// Cursor, were they set, are not reported. Nor is Pending: the
			// pending-alerts alarm watches polls only.
			name: "push",
			write: func(e *metrics.Emitter) error {
				return e.Push(watch.Summary{Transitions: 1, Alerted: 1, Listed: 9, Cursor: cursor, DurationMS: 85})
			},
			want: golden("push",
				[3]string{"AlertsSent", "Count", "1"},
				[3]string{"Transitions", "Count", "1"},
				[3]string{"RunDuration", "Milliseconds", "85"}),
		},
		{
			name: "failed push",
			write: func(e *metrics.Emitter) error {
				return e.Push(watch.Summary{Transitions: 1, Pending: 1, DurationMS: 3000})
			},
			want: golden("push",
				[3]string{"AlertsSent", "Count", "0"},
				[3]string{"Transitions", "Count", "1"},
				[3]string{"RunDuration", "Milliseconds", "3000"}),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			line := emit(t, tc.write)
			if got := decode(t, line); !reflect.DeepEqual(got, tc.want) {
				gotJSON, _ := json.MarshalIndent(got, "", "  ")
				wantJSON, _ := json.MarshalIndent(tc.want, "", "  ")
				t.Errorf("line decodes to\n%s\nwant\n%s", gotJSON, wantJSON)
			}
			for _, p := range emfProblems(line) {
				t.Errorf("not embedded metric format: %s\n%s", p, line)
			}
		})
	}
}

// TestPollLine pins the bytes of a poll's line: the _aws member first, then
// the dimension, the Trigger and the metrics in the directive's order, all
// on one line.
func TestPollLine(t *testing.T) {
	line := emit(t, func(e *metrics.Emitter) error {
		return e.Poll(watch.Summary{Listed: 12, Transitions: 3, Alerted: 2, Cursor: now.Add(-5 * time.Minute), DurationMS: 842}, false)
	})
	const want = `{"_aws":{"Timestamp":1767366300123,"CloudWatchMetrics":[{"Namespace":"Labelwatch","Dimensions":[["FunctionName"]],` +
		`"Metrics":[{"Name":"PollsCompleted","Unit":"Count"},{"Name":"JobsListed","Unit":"Count"},{"Name":"Transitions","Unit":"Count"},` +
		`{"Name":"AlertsSent","Unit":"Count"},{"Name":"AlertsPending","Unit":"Count"},{"Name":"RunDuration","Unit":"Milliseconds"},` +
		`{"Name":"CursorLag","Unit":"Seconds"}]}]},"FunctionName":"labelwatch-LabelwatchFunction-AbC123","Trigger":"poll",` +
		`"PollsCompleted":1,"JobsListed":12,"Transitions":3,"AlertsSent":2,"AlertsPending":0,"RunDuration":842,"CursorLag":300}` + "\n"
	if string(line) != want {
		t.Errorf("poll line\n%s\nwant\n%s", line, want)
	}
}

// TestOneWritePerLine checks that a line reaches the writer in one Write, so
// that it cannot interleave with the log lines sharing stdout.
func TestOneWritePerLine(t *testing.T) {
	var w writes
	e := metrics.NewEmitter(&w, function, clock.NewFake(now))
	if err := e.Poll(watch.Summary{Cursor: now}, false); err != nil {
		t.Fatal(err)
	}
	if err := e.Push(watch.Summary{}); err != nil {
		t.Fatal(err)
	}
	if len(w) != 2 {
		t.Fatalf("2 lines took %d writes", len(w))
	}
	for _, line := range w {
		if bytes.Count(line, []byte("\n")) != 1 || !bytes.HasSuffix(line, []byte("\n")) {
			t.Errorf("write is not one line: %q", line)
		}
	}
}

type writes [][]byte

func (w *writes) Write(p []byte) (int, error) {
	*w = append(*w, bytes.Clone(p))
	return len(p), nil
}

func TestWriteFails(t *testing.T) {
	e := metrics.NewEmitter(failing{}, function, clock.NewFake(now))
	if err := e.Poll(watch.Summary{}, false); !errors.Is(err, errClosed) {
		t.Errorf("Poll on a failing writer: %v, want %v", err, errClosed)
	}
}

var errClosed = errors.New("stdout closed")

type failing struct{}

func (failing) Write([]byte) (int, error) { return 0, errClosed }

// TestSpecCheck shows that emfProblems finds what the specification forbids,
// so that its silence on the emitter's lines means something.
func TestSpecCheck(t *testing.T) {
	doc := func(defs []string, dims []string, extra string) string {
		var names, members []string
		for _, d := range defs {
			names = append(names, fmt.Sprintf(`{"Name":%q,"Unit":"Count"}`, d))
			members = append(members, fmt.Sprintf(`%q:1`, d))
		}
		for _, d := range dims {
			members = append(members, fmt.Sprintf(`%q:"x"`, d))
		}
		dimsJSON, _ := json.Marshal([][]string{dims})
		return fmt.Sprintf(`{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":%s,"Metrics":[%s]}]},%s%s}`+"\n",
			dimsJSON, strings.Join(names, ","), strings.Join(members, ","), extra)
	}
	seq := func(prefix string, n int) []string {
		s := make([]string, n)
		for i := range s {
			s[i] = fmt.Sprintf("%s%d", prefix, i)
		}
		return s
	}
	for _, tc := range []struct {
		name, line string
		want       string // a word of the problem; "" for none
	}{
		{"valid", doc(seq("M", 100), seq("D", 30), ""), ""},
		{"101 metrics", doc(seq("M", 101), []string{"D"}, ""), "101 metrics"},
		{"31 dimensions", doc([]string{"M"}, seq("D", 31), ""), "31 dimension keys"},
		{"metric not a number", strings.Replace(doc([]string{"M"}, []string{"D"}, ""), `"M":1`, `"M":"1"`, 1), "not numeric"},
		{"dimension not a string", strings.Replace(doc([]string{"M"}, []string{"D"}, ""), `"D":"x"`, `"D":1`, 1), "not a string"},
		{"metric missing", strings.Replace(doc([]string{"M"}, []string{"D"}, ""), `"M":1,`, ``, 1), "no root member"},
		{"unknown unit", strings.Replace(doc([]string{"M"}, []string{"D"}, ""), `"Unit":"Count"`, `"Unit":"Items"`, 1), "unit"},
		{"extra directive member", strings.Replace(doc([]string{"M"}, []string{"D"}, ""), `"Namespace"`, `"Extra":1,"Namespace"`, 1), "Extra"},
		{"two lines", doc([]string{"M"}, []string{"D"}, "") + doc([]string{"M"}, []string{"D"}, ""), "one line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problems := emfProblems([]byte(tc.line))
			if tc.want == "" {
				if len(problems) > 0 {
					t.Errorf("problems in a valid document: %q", problems)
				}
				return
			}
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("problems %q, want one about %q", problems, tc.want)
			}
		})
	}
}
