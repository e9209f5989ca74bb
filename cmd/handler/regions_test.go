package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/labelwatch/labelwatch/internal/emulator"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/state"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

// TestRegions runs the function over three regions of its account
// (REGIONS): its own, one with jobs, and one SageMaker does not serve (a
// region not enabled for the account). The same job name in two regions is
// two jobs, alerted once each; the region that fails holds back none of
// the others, keeps no cursor, and fails the invocation; a pushed event is
// read in its job's region.
func TestRegions(t *testing.T) {
	s := newStack(t, "REGIONS=us-east-1,eu-west-1,ap-south-1")
	west := s.estate.Add(emulator.Place{Account: testenv.LambdaAccount, Region: "eu-west-1"})
	now := time.Now()
	for _, emu := range []*emulator.Emulator{s.emu, west} {
		emu.Put(labeling.Job{Name: "shared-name", Status: labeling.StatusInProgress, CreatedAt: now.Add(-time.Hour), ModifiedAt: now.Add(-time.Hour)})
	}
	west.Put(labeling.Job{Name: "west-only", Status: labeling.StatusInProgress, CreatedAt: now.Add(-time.Hour), ModifiedAt: now.Add(-time.Hour)})

	// First runs, each region its own; the unserved region fails the
	// invocation, and names itself.
	r := s.invoke()
	if !strings.Contains(r.ErrorMessage, "region ap-south-1") || !strings.Contains(r.ErrorMessage, "UnrecognizedClientException") {
		t.Fatalf("first poll: error %q, want region ap-south-1's UnrecognizedClientException", r.ErrorMessage)
	}
	// The Lambda answer of a failed invocation is its error only; each
	// region's summary line says what it did.
	if out := s.lambda.Output(); !strings.Contains(out, `"msg":"poll incomplete","region":"ap-south-1"`) || !strings.Contains(out, `"msg":"poll complete","region":"eu-west-1"`) {
		t.Errorf("first poll's log has no failed ap-south-1 and completed eu-west-1 summary lines:\n%s", out)
	}
	cursors := func() map[string]bool {
		out := map[string]bool{}
		for _, scope := range []string{"", "eu-west-1", "ap-south-1"} {
			store, err := s.store.Scope(scope)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			_, ok, err := store.Cursor(ctx)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			out[scope] = ok
		}
		return out
	}
	if c := cursors(); !c[""] || !c["eu-west-1"] || c["ap-south-1"] {
		t.Errorf("cursors set after the first poll: %v; want us-east-1's and eu-west-1's, not ap-south-1's", c)
	}

	// The same name fails in both regions: two alerts, each naming its
	// region, each recorded in its region's state.
	for _, emu := range []*emulator.Emulator{s.emu, west} {
		emu.Update("shared-name", func(j *labeling.Job) {
			j.Status, j.FailureReason = labeling.StatusFailed, "ClientError: bad manifest"
			j.ModifiedAt = time.Time{}
		})
	}
	before := len(s.slack.Messages())
	if r = s.invoke(); !strings.Contains(r.ErrorMessage, "region ap-south-1") {
		t.Errorf("second poll: error %q, want region ap-south-1's", r.ErrorMessage)
	}
	var regions []string
	for _, m := range s.slack.Messages()[before:] {
		for _, region := range []string{"us-east-1", "eu-west-1"} {
			if strings.Contains(m.Text, "shared-name") && strings.Contains(string(m.Raw), region) {
				regions = append(regions, region)
			}
		}
	}
	if len(regions) != 2 || regions[0] == regions[1] || len(s.slack.Messages()) != before+2 {
		t.Errorf("alerts of shared-name name regions %v, want one each of us-east-1 and eu-west-1", regions)
	}
	s.wantAlerted("shared-name", labeling.StatusFailed)
	westStore, err := s.store.Scope("eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	recs, err := westStore.Load(ctx, []string{"shared-name"})
	if rec := recs["shared-name"]; err != nil || rec.Status != labeling.StatusFailed || rec.AlertedAt.IsZero() {
		t.Errorf("eu-west-1's record of shared-name: %+v, %v; want Failed, alerted", rec, err)
	}

	// A pushed event of eu-west-1 is read there.
	west.Update("west-only", func(j *labeling.Job) { j.Status, j.ModifiedAt = labeling.StatusCompleted, time.Time{} })
	job, _ := west.Job("west-only")
	described := west.Calls("DescribeLabelingJob")
	r = s.send(s.stateChangeFor(labeling.StatusCompleted, job.ARN))
	if r.Alerted != 1 || west.Calls("DescribeLabelingJob") != described+1 {
		t.Errorf("push of eu-west-1's job: alerted %d, described there %d times; want 1 and 1", r.Alerted, west.Calls("DescribeLabelingJob")-described)
	}
	recs, err = westStore.Load(ctx, []string{"west-only"})
	if rec := recs["west-only"]; err != nil || rec.Status != labeling.StatusCompleted {
		t.Errorf("eu-west-1's record of west-only: %+v, %v", rec, err)
	}
	var _ state.Store = westStore
}
