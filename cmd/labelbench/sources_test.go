package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// TestTenSources runs the ten-source measurement: the deployed bootstrap
// under the Lambda emulator, watching its own region and nine more
// (REGIONS). It judges the quiet run's calls: one listing set a source (a
// page of jobs modified, a page per hundred in progress), exactly one
// DynamoDB read in all (the ten cursors in one BatchGetItem) and no write,
// no Slack post; and that the report states them beside the budget.
func TestTenSources(t *testing.T) {
	dep, err := readDeployment()
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	s, err := measureSources(t.Context(), dep, 0, func(format string, args ...any) { fmt.Fprintf(&log, format+"\n", args...) })
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if n := len(s.warmUps); n < 2 || !s.warmUps[0].FirstRun {
		t.Errorf("warm-ups %+v; want every source's first run, then a cycle", s.warmUps)
	} else if last := s.warmUps[n-1]; last.ErrorMessage != "" || last.SourcesFailed != 0 || last.FirstRun {
		t.Errorf("last warm-up %+v; want a cycle after the first runs, no source failing", last)
	}
	r := s.result
	if r.ErrorMessage != "" || r.SourcesFailed != 0 || r.FirstRun || r.Transitions != 0 || r.Listed != 0 || r.Running != len(s.regions)*sourceRunning {
		t.Errorf("the quiet run: %+v; want no job modified, %d in progress, no transition, no source failing", r, len(s.regions)*sourceRunning)
	}
	if len(s.listings) != 10 {
		t.Fatalf("%d sources listed, want 10", len(s.listings))
	}
	for i, n := range s.listings {
		if n != sourceListings() {
			t.Errorf("source %s: %d ListLabelingJobs calls, want one listing set, %d", s.regions[i], n, sourceListings())
		}
	}
	if s.smErrors != 0 {
		t.Errorf("SageMaker answered %d calls with an error", s.smErrors)
	}
	if s.reads() != 1 || s.ddb["BatchGetItem"] != 1 || s.writes() != 0 {
		t.Errorf("DynamoDB calls %s: %d read(s), %d write(s); want the one BatchGetItem of the ten cursors, no write", ddbOps(s.ddb), s.reads(), s.writes())
	}
	if s.posts != 0 {
		t.Errorf("%d Slack posts, want none", s.posts)
	}

	rep := &report{deployed: dep, sources: s}
	doc := rep.render()
	for _, want := range []string{
		"| Quiet run of 10 sources (`REGIONS`: 9 regions beside the function's own): one listing set a source (3 ListLabelingJobs calls: one of jobs modified, one per 100 of its 120 jobs in progress), one DynamoDB read in all (the 10 cursors in one BatchGetItem), no write | ListLabelingJobs 3 3 3 3 3 3 3 3 3 3 a source (30 in all); 1 read(s) (BatchGetItem 1); 0 write(s); wall ",
		"## Ten sources: a quiet run",
		"| eu-west-1 | 3 | 3 |",
		"| **all ten** | **30** | **30** |",
		"| Reads (BatchGetItem 1) | 1 | 1 |",
		"| Writes | 0 | 0 |",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("the report lacks %q:\n%s", want, doc)
		}
	}
}
