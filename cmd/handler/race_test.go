package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/labelwatch/labelwatch/internal/app"
	"github.com/labelwatch/labelwatch/internal/labeling"
)

// TestEventAndPollAtOnce runs a push and a poll for the same finished job at
// the same moment, on two instances of the function (one RIE serves one
// invocation at a time, as one Lambda execution environment does). The
// gates in front of SageMaker, DynamoDB and Slack put their calls in a
// chosen order: both read the job from SageMaker before either goes on, and
// then one of them, the winner, claims the alert first. Whichever order,
// Slack gets one alert and the other run reports the job contended or
// unchanged.
func TestEventAndPollAtOnce(t *testing.T) {
	// When the loser reads the job's stored state and claims the alert,
	// relative to the winner.
	const (
		claimsAfterCommit = "reads before the claim, claims after the commit"
		claimsDuringLease = "reads before the claim, claims while the winner sends"
		readsDuringLease  = "reads while the winner sends"
		readsAfterCommit  = "reads after the commit"
	)
	rounds := []struct {
		winner string // "push" or "poll"
		loser  string
	}{
		{"push", claimsAfterCommit},
		{"poll", claimsAfterCommit},
		{"push", claimsDuringLease},
		{"poll", claimsDuringLease},
		{"push", readsDuringLease},
		{"poll", readsDuringLease},
		{"push", readsAfterCommit},
		{"poll", readsAfterCommit},
	}
	s := newStack(t)
	pusher, poller := s.lambda, s.instance()
	for i, rd := range rounds {
		t.Run(rd.winner+" wins, the other "+rd.loser, func(t *testing.T) {
			defer s.use(t)()
			name := fmt.Sprintf("signs-%d", i)
			s.emu.Put(labeling.Job{Name: name, Status: labeling.StatusInProgress, CreatedAt: time.Now().Add(-time.Hour)})
			if r := s.ok(); r.Alerted != 0 {
				t.Fatalf("poll before the round = %+v, want nothing sent", r)
			}
			s.emu.Update(name, func(j *labeling.Job) { j.Status = labeling.StatusCompleted })
			alerts := len(s.texts())

			s.sagemaker.hold("DescribeLabelingJob", 1)
			s.sagemaker.hold("ListLabelingJobs", 1)
			s.dynamo.hold("BatchGetItem", 2)
			run := map[string]*invocation{
				"push": s.start(pusher, s.stateChange(name, labeling.StatusCompleted)),
				"poll": s.start(poller, s.event),
			}
			both := []*invocation{run["push"], run["poll"]}

			// Both read the job, completed, before either goes on.
			read := map[string]*heldCall{}
			for range 2 {
				c := s.sagemaker.await(both...)
				read[c.op] = c
			}
			describe, list := read["DescribeLabelingJob"], read["ListLabelingJobs"]
			if describe == nil || list == nil {
				t.Fatalf("held SageMaker calls %v, want a describe and a list", read)
			}
			describe.serve()
			list.serve()
			// Then each reads the job's stored state: the push first, so
			// the first load held is the push's.
			load := map[string]*heldCall{}
			describe.release()
			load["push"] = s.dynamo.await(both...)
			list.release()
			load["poll"] = s.dynamo.await(both...)

			loser := map[string]string{"push": "poll", "poll": "push"}[rd.winner]
			var won, lost app.Result
			switch rd.loser {
			case claimsAfterCommit:
				load[rd.winner].serve()
				load[loser].serve()
				load[rd.winner].release()
				won = s.wait(run[rd.winner])
				load[loser].release()
				lost = s.wait(run[loser])
			case claimsDuringLease, readsDuringLease:
				if rd.loser == claimsDuringLease {
					load[rd.winner].serve()
					load[loser].serve()
				}
				s.slackGate.hold(slackPost, 1)
				load[rd.winner].release()
				post := s.slackGate.await(both...) // the winner holds the claim
				load[loser].release()
				lost = s.wait(run[loser])
				post.release()
				won = s.wait(run[rd.winner])
			case readsAfterCommit:
				load[rd.winner].release()
				won = s.wait(run[rd.winner])
				load[loser].release()
				lost = s.wait(run[loser])
			}

			for _, r := range []struct {
				who string
				app.Result
			}{{rd.winner, won}, {loser, lost}} {
				s.succeeded(run[r.who].lambda, r.Result)
				if r.who == "push" {
					wantTrigger(t, r.Result, app.TriggerPush, name)
				} else {
					wantTrigger(t, r.Result, app.TriggerPoll, "")
				}
			}
			if won.Alerted != 1 || won.Contended != 0 {
				t.Errorf("the winner, the %s, = %+v, want one alert", rd.winner, won)
			}
			wantContended := rd.loser != readsAfterCommit
			if lost.Alerted != 0 || (lost.Contended == 1) != wantContended || (!wantContended && lost.Transitions != 0) {
				t.Errorf("the loser, the %s, = %+v, want no alert and the job %s", loser, lost,
					map[bool]string{true: "contended", false: "unchanged"}[wantContended])
			}
			// The loser's claim failed where it read the job unclaimed.
			claimFailed := 0
			for _, l := range logs(s.output(run[loser].lambda), "job claimed by another run") {
				if l["job"] == name {
					claimFailed++
				}
			}
			if wantClaimFailed := rd.loser == claimsAfterCommit || rd.loser == claimsDuringLease; (claimFailed == 1) != wantClaimFailed || claimFailed > 1 {
				t.Errorf("the loser logged %d failed claims for %s, want %d", claimFailed, name, map[bool]int{true: 1}[wantClaimFailed])
			}
			if texts := s.texts()[alerts:]; len(texts) != 1 || !strings.Contains(texts[0], name+" completed") {
				t.Errorf("Slack got %q in the round, want one message, for %s", texts, name)
			}
			s.wantAlerted(name, labeling.StatusCompleted)
			sent := 0
			for _, l := range append(logs(s.output(pusher), "alert sent"), logs(s.output(poller), "alert sent")...) {
				if l["job"] == name {
					sent++
				}
			}
			if sent != 1 {
				t.Errorf("%d alert sent log lines for %s, want 1", sent, name)
			}
		})
	}
	if r := s.ok(); r.Alerted != 0 || r.Transitions != 0 {
		t.Errorf("poll after the rounds = %+v, want nothing to do", r)
	}
	if n := len(s.texts()); n != len(rounds) {
		t.Errorf("Slack got %d messages in all, want one a round, %d", n, len(rounds))
	}
}
