package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSmoke runs the whole benchmark on a small account: the real bootstrap
// under the Lambda emulator, quiet, steady and a burst big enough for a
// digest. run itself fails when a cycle's transitions, alerts or Slack posts
// are not what the scenario requires.
func TestSmoke(t *testing.T) {
	// No deadline of its own: go test's -timeout catches a hang, with every
	// goroutine's stack, and a loaded machine is not mistaken for one.
	ctx := t.Context()
	out := filepath.Join(t.TempDir(), "PERFORMANCE.md")
	var log bytes.Buffer
	args := []string{"-out", out, "-jobs", "1000", "-steady", "20", "-burst", "150",
		"-latency", "0s", "-paced=false", "-coldstarts", "1", "-arm64=false"}
	if err := run(ctx, args, &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	doc, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"## Budgets",
		"| quiet: 0 modified, 0 finishing | 0s | 1 |",
		"| steady: 20 modified, 2 finishing | 0s | 21 |",
		"| burst: 150 modified, 15 finishing | 0s | 151 |",
		"| 1 (1) |", // the burst's one digest
		"Cold start:",
	} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("the report lacks %q:\n%s", want, doc)
		}
	}
}

func TestMinimum(t *testing.T) {
	tests := []struct {
		name    string
		scn     scenario
		overlap int
		want    minimum
	}{
		{"quiet: one list call finds the overlap window", scenario{}, 23,
			minimum{listPages: 1, modifiedPages: 1, cursorRead: 1}},
		{"steady: the overlap window takes a second page; alerts one by one", scenario{modified: 100, finishing: 10, starting: 10}, 23,
			minimum{listPages: 2, modifiedPages: 1, cursorRead: 1, batchReads: 1, writes: 10 + 10 + 10 + 1, slack: 10}},
		{"burst: one digest", scenario{modified: 10_000, finishing: 1_000, starting: 1_000}, 23,
			minimum{listPages: 101, modifiedPages: 100, cursorRead: 1, batchReads: 100, writes: 1_000 + 1_000 + 1_000 + 1, slack: 1}},
		{"a page and one job", scenario{modified: 101}, 0,
			minimum{listPages: 2, modifiedPages: 2, cursorRead: 1, batchReads: 2, writes: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.scn.minimum(10, tt.overlap); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestCallBudget judges the budget on all calls together, and shows the
// narrow reading and the worst category without judging them.
func TestCallBudget(t *testing.T) {
	steady := scenario{name: "steady", modified: 100, finishing: 10, starting: 10}
	cycle := func(smCalls, writes int) measurement {
		return measurement{
			scn: steady, min: steady.minimum(10, 23), smCalls: smCalls, slackCalls: 10,
			ddbCalls: map[string]int{"GetItem": 1, "BatchGetItem": 1, "UpdateItem": writes},
		}
	}
	tests := []struct {
		name     string
		cycles   []measurement
		met      bool
		measured []string
	}{
		{"at the minimum", []measurement{cycle(2, 31)}, true, []string{
			"all calls: worst 45/45 = 1.00 (steady @ 0s)",
			"narrow reading: worst 45/44 = 1.02 (steady @ 0s)",
			"one category alone, either reading: worst SageMaker 2/1 = 2.00 (steady @ 0s)",
		}},
		{"over in all", []measurement{cycle(2, 31), cycle(2, 34)}, false, []string{
			"all calls: over in 1 of 2: steady @ 0s (48/45 = 1.07)",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := (&report{cycles: tt.cycles}).callBudget()
			if b.met != tt.met {
				t.Errorf("met = %v, want %v: %s", b.met, tt.met, b.measured)
			}
			for _, want := range tt.measured {
				if !strings.Contains(b.measured, want) {
					t.Errorf("measured %q lacks %q", b.measured, want)
				}
			}
		})
	}
}

func TestPeakHeap(t *testing.T) {
	out := "START\ngc 1 @0.004s 2%: 0.010+1.2+0.003 ms clock, 0.020+0.1/0.9/0.4+0.006 ms cpu, 4->5->1 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P\n" +
		`{"level":"INFO","msg":"cycle complete"}` + "\n" +
		"gc 2 @1.500s 1%: 0.011+2.0+0.004 ms clock, 0.022+0.2/1.8/0.3+0.008 ms cpu, 17->19->6 MB, 18 MB goal, 0 MB stacks, 0 MB globals, 2 P\n" +
		"gc 3 @1.700s 1%: 0.011+2.0+0.004 ms clock, 0.022+0.2/1.8/0.3+0.008 ms cpu, " + `{"level":"INFO","msg":"alert sent"}` + "\n" +
		"21->22->8 MB, 24 MB goal, 0 MB stacks, 0 MB globals, 2 P\n" // split by a log line
	if got := peakHeap(out); got != 21 {
		t.Errorf("peakHeap = %d, want 21", got)
	}
	if got := peakHeap("no collections"); got != 0 {
		t.Errorf("peakHeap without collections = %d, want 0", got)
	}
}

func TestOverLimits(t *testing.T) {
	block := `{"type":"section","text":{"type":"mrkdwn","text":"ok"}}`
	many := `{"text":"t","blocks":[` + strings.Repeat(block+",", 50) + block + `]}`
	long := `{"text":"t","blocks":[{"type":"header","text":{"type":"plain_text","text":"` + strings.Repeat("x", 151) + `"}}]}`
	tests := []struct {
		name, body string
		want       int
	}{
		{"within limits", `{"text":"t","blocks":[` + block + `]}`, 0},
		{"51 blocks", many, 1},
		{"long header", long, 1},
		{"not JSON", "text", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := overLimits([]byte(tt.body)); len(got) != tt.want {
				t.Errorf("overLimits = %q, want %d findings", got, tt.want)
			}
		})
	}
}
