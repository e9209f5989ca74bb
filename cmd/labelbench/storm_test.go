package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/labelwatch/labelwatch/internal/testenv"
)

// TestWritesOnMoto runs the storm and the busy first run at a small scale,
// with the deployed bootstrap under the Lambda emulator against moto's
// DynamoDB served one request at a time (which has TransactWriteItems), and
// judges their writes: a storm's writes beyond its claims at most
// budgetStormBeyond per alert, a first run's writes at most
// budgetBusyWrites per job recorded. Without moto it is skipped, but under
// CI=true, where it fails.
func TestWritesOnMoto(t *testing.T) {
	dep, err := readDeployment()
	if err != nil {
		t.Fatal(err)
	}
	moto := motoDynamo{url: testenv.MotoSerialAtScale(t)}
	var log bytes.Buffer
	logf := func(format string, args ...any) { fmt.Fprintf(&log, format+"\n", args...) }

	t.Cleanup(func() {
		if t.Failed() {
			t.Log(log.String())
		}
	})
	t.Run("storm: writes beyond the claims per alert", func(t *testing.T) {
		const jobs = 300
		sm, err := measureStorm(t.Context(), dep, moto, jobs, 0, "", nil, logf)
		if err != nil {
			t.Fatalf("%v\n%s", err, log.String())
		}
		a, total := sm.after, sm.after.total()
		if len(a.steps) != 1 || total.result.Alerted != jobs || total.result.Pending != 0 || a.failure() != "" || !total.result.Digest {
			t.Fatalf("%d invocation(s), %+v; want one, alerting all %d jobs in a digest\n%s", len(a.steps), total.result, jobs, log.String())
		}
		if want := (jobs + 99) / 100; a.claims() != want {
			t.Errorf("%d TransactWriteItems calls for %d claims, want %d (%s)", a.claims(), jobs, want, ddbOps(total.ddb))
		}
		if got := a.beyondClaims(); got > budgetStormBeyond {
			t.Errorf("writes beyond the claims: %.3f per alert, over the budget of %.1f (%s)", got, budgetStormBeyond, ddbOps(total.ddb))
		}
		doc := (&report{deployed: dep, storm: sm}).render()
		for _, want := range []string{"## Storm: 300 jobs ending in one run", "| Storm: writes beyond the claims the protocol needs"} {
			if !strings.Contains(doc, want) {
				t.Errorf("the report lacks %q:\n%s", want, doc)
			}
		}
	})

	t.Run("first run: writes per job recorded", func(t *testing.T) {
		const jobs = 300
		fr, err := measureBusyFirstRun(t.Context(), dep, moto, jobs, 0, nil, logf)
		if err != nil {
			t.Fatalf("%v\n%s", err, log.String())
		}
		total := fr.total()
		if len(fr.steps) != 1 || !fr.cursorSet || total.result.Recorded != jobs || total.result.Alerted != 0 || fr.failure() != "" {
			t.Fatalf("%d invocation(s), cursor set %v, %+v; want one, recording all %d jobs and setting the cursor\n%s",
				len(fr.steps), fr.cursorSet, total.result, jobs, log.String())
		}
		if got := fr.writesPerJob(); got > budgetBusyWrites {
			t.Errorf("%d writes (%s) for %d jobs recorded: %.3f a job, over the budget of %.2f",
				ddbWrites(total.ddb), ddbOps(total.ddb), total.result.Recorded, got, budgetBusyWrites)
		}
	})
}
