package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labelwatch/labelwatch/internal/app"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

// These tests run the living Slack cards (bot-token mode) end to end: the
// real bootstrap under the Lambda emulator, SageMaker's emulator, dynalite
// and the local Slack. internal/watch/cards_test.go tests the same
// behaviours in-process, on a fake clock; here the clock is the real one,
// so a card edit costs the function its pause between chat.update calls.

// botEnv is the environment of a function that posts with a bot token,
// which keeps living cards (SLACK_CARDS=on), followed by more.
func botEnv(more ...string) []string {
	return append([]string{"SLACK_BOT_TOKEN=" + testenv.SlackToken, "SLACK_CHANNEL=" + testenv.SlackChannel,
		"SLACK_API_URL={slack}/api/", "SLACK_CARDS=on"}, more...)
}

// seed runs the function's first poll over one long finished job, so that
// the runs after it are not the first (the first run posts no card).
func (s *stack) seed() {
	s.t.Helper()
	s.emu.Put(labeling.Job{Name: "seed-old", Status: labeling.StatusCompleted,
		CreatedAt: time.Now().Add(-72 * time.Hour), ModifiedAt: time.Now().Add(-70 * time.Hour)})
	if r := s.ok(); !r.FirstRun || r.Alerted != 0 || r.News != 0 {
		s.t.Fatalf("first run = %+v, want a silent first run", r)
	}
	if n := len(s.slack.Calls()); n != 0 {
		s.t.Fatalf("the first run made %d Slack calls, want none", n)
	}
}

// slackCalls reads the local Slack's calls a step at a time.
type slackCalls struct {
	slack *testenv.Slack
	seen  int
}

// next describes the calls Slack accepted since the last look: "post",
// "edit TS", "reply TS" (in the thread of the message TS) or "reply TS
// broadcast" (shown in the channel too).
func (c *slackCalls) next() []string {
	all := c.slack.Calls()
	var out []string
	for _, call := range all[c.seen:] {
		out = append(out, call.String())
	}
	c.seen = len(all)
	return out
}

func wantCalls(t *testing.T, step string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: Slack calls %q, want %q", step, got, want)
	}
}

// lastTS is the ts Slack gave the last message posted.
func (s *stack) lastTS() string {
	s.t.Helper()
	msgs := s.slack.Messages()
	if len(msgs) == 0 {
		s.t.Fatal("no message posted")
	}
	return msgs[len(msgs)-1].TS
}

// message is the message Slack holds with ts.
func (s *stack) message(ts string) testenv.SlackMessage {
	s.t.Helper()
	for _, m := range s.slack.Messages() {
		if m.TS == ts {
			return m
		}
	}
	s.t.Fatalf("Slack holds no message %s", ts)
	return testenv.SlackMessage{}
}

// wantCard fails the test unless job's stored record has its card at ts
// in the bot's channel.
func (s *stack) wantCard(job, ts string) {
	s.t.Helper()
	r, ok := s.record(job)
	if !ok || r.Card == nil || r.Card.Channel != testenv.SlackChannel || r.Card.TS != ts {
		s.t.Errorf("stored record of %s = %+v (found %v), card %+v; want the card %s in %s", job, r, ok, r.Card, ts, testenv.SlackChannel)
	}
}

// quiet runs a poll and fails the test unless it made no Slack request.
func (s *stack) quiet(step string) app.Result {
	s.t.Helper()
	before := s.slack.Requests()
	r := s.ok()
	if n := s.slack.Requests() - before; n != 0 || r.Alerted != 0 || r.News != 0 {
		s.t.Errorf("%s: %d Slack requests, result %+v; want a quiet run", step, n, r)
	}
	return r
}

// progressed sets a job's counters to done of 100 objects labeled.
func progressed(done int) func(*labeling.Job) {
	return func(j *labeling.Job) {
		j.Counters = labeling.Counters{Total: done, Human: done, Unlabeled: 100 - done}
	}
}

// waitPast waits until the real clock passes t: a claim the function made,
// whose expiry it computed from its deadline, must lapse. It is not a wait
// for something to happen.
func waitPast(t time.Time) {
	timer := time.NewTimer(time.Until(t) + 50*time.Millisecond)
	defer timer.Stop()
	<-timer.C
}

func TestCardLifeUnderLambda(t *testing.T) {
	tests := []struct {
		end      labeling.Status
		change   func(*labeling.Job)
		reply    string // the outcome's reply: "" in the thread only, " broadcast" to the channel too
		cardSays string
		env      []string
	}{
		{labeling.StatusCompleted, progressed(100), " broadcast", "completed", nil},
		{labeling.StatusFailed, func(j *labeling.Job) { j.FailureReason = "ClientError: the manifest is unreadable" }, " broadcast", "failed", nil},
		{labeling.StatusCompleted, progressed(100), "", "completed", []string{"SLACK_BROADCAST=failures"}},
		{labeling.StatusFailed, func(j *labeling.Job) { j.FailureReason = "ClientError: the manifest is unreadable" }, " broadcast", "failed", []string{"SLACK_BROADCAST=failures"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.end)+strings.Join(tt.env, ","), func(t *testing.T) {
			s := newStack(t, botEnv(tt.env...)...)
			s.seed()
			calls := &slackCalls{slack: s.slack}
			const job = "cats"
			s.emu.Put(labeling.Job{Name: job, Status: labeling.StatusInitializing, CreatedAt: time.Now().Add(-time.Minute)})

			r := s.ok()
			wantCalls(t, "job starts", calls.next(), "post")
			ts := s.lastTS()
			if r.News != 1 || r.Alerted != 0 {
				t.Errorf("job starts: result %+v, want 1 told", r)
			}
			s.wantCard(job, ts)

			s.emu.Update(job, func(j *labeling.Job) { j.Status = labeling.StatusInProgress; progressed(10)(j) })
			r = s.ok()
			wantCalls(t, "labeling starts", calls.next(), "edit "+ts)
			if r.News != 1 || r.Running != 1 {
				t.Errorf("labeling starts: result %+v, want 1 running, 1 told", r)
			}
			if r := s.quiet("nothing moved"); r.Running != 1 {
				t.Errorf("nothing moved: result %+v, want 1 running", r)
			}
			calls.next()
			s.emu.Update(job, progressed(55))
			s.ok()
			wantCalls(t, "labeling moves", calls.next(), "edit "+ts)

			s.emu.Update(job, func(j *labeling.Job) { j.Status = tt.end; tt.change(j) })
			r = s.ok()
			wantCalls(t, "job ends", calls.next(), "edit "+ts, "reply "+ts+tt.reply)
			if r.Alerted != 1 || r.Pending != 0 {
				t.Errorf("job ends: result %+v, want 1 alerted", r)
			}
			s.wantAlerted(job, tt.end)
			s.wantCard(job, ts)
			card := s.message(ts)
			if card.Edits != 3 || !strings.Contains(card.Text, job) || !strings.Contains(strings.ToLower(card.Text), tt.cardSays) {
				t.Errorf("the card after the end: %q, edited %d times; want it edited 3 times, showing %s %s", card.Text, card.Edits, job, tt.cardSays)
			}
			if n := len(s.slack.Messages()); n != 2 {
				t.Errorf("Slack holds %d messages, want the card and its reply", n)
			}

			s.quiet("after the end")
			s.quiet("later still")
			wantCalls(t, "after the end", calls.next())
		})
	}
}

// TestCardOnceForOverlappingRuns runs two polls at once, on two instances
// of the function, for a job just started: exactly one card goes out, and
// the other run reports the job contended.
func TestCardOnceForOverlappingRuns(t *testing.T) {
	const (
		readsWhileFirstPosts = "the other run reads the job while the first posts its card"
		bothReadBeforeClaims = "both read the job before either claims it"
	)
	for _, order := range []string{readsWhileFirstPosts, bothReadBeforeClaims} {
		t.Run(order, func(t *testing.T) {
			s := newStack(t, botEnv()...)
			s.seed()
			other := s.instance()
			const job = "twice"
			s.emu.Put(labeling.Job{Name: job, Status: labeling.StatusInProgress, CreatedAt: time.Now().Add(-time.Minute)})
			s.emu.Update(job, progressed(5))

			var won, lost app.Result
			switch order {
			case readsWhileFirstPosts:
				s.slackGate.hold(slackPost, 1)
				first := s.start(s.lambda, s.event)
				post := s.slackGate.await(first) // the first run holds the claim
				lost = s.succeeded(other, s.wait(s.start(other, s.event)))
				post.release()
				won = s.succeeded(s.lambda, s.wait(first))
			case bothReadBeforeClaims:
				// A poll reads the stored state of the jobs it lists in one
				// BatchGetItem: hold each run's, so both read no record.
				s.dynamo.hold("BatchGetItem", 1)
				first := s.start(s.lambda, s.event)
				firstLoad := s.dynamo.await(first)
				s.dynamo.hold("BatchGetItem", 1)
				second := s.start(other, s.event)
				secondLoad := s.dynamo.await(first, second)
				firstLoad.serve()
				secondLoad.serve()
				s.slackGate.hold(slackPost, 1)
				firstLoad.release()
				post := s.slackGate.await(first, second) // the first run claimed
				secondLoad.release()
				lost = s.succeeded(other, s.wait(second))
				post.release()
				won = s.succeeded(s.lambda, s.wait(first))
			}

			if won.News != 1 || won.Contended != 0 {
				t.Errorf("the first run = %+v, want the card told", won)
			}
			if lost.News != 0 || lost.Contended != 1 {
				t.Errorf("the other run = %+v, want the job contended, nothing told", lost)
			}
			calls := &slackCalls{slack: s.slack}
			wantCalls(t, "both runs", calls.next(), "post")
			s.wantCard(job, s.lastTS())
			s.quiet("the next run")
		})
	}
}

// TestCardPostedOnceMoreAfterCrash kills the function (as a crash or a
// Lambda timeout does) after Slack took the job's card but before the
// function heard back, so the card is posted and not recorded. Once the
// dead run's claim lapses the next run posts the card again, the one
// duplicate a crash may cause, and later edits go to that second card only.
func TestCardPostedOnceMoreAfterCrash(t *testing.T) {
	// A short deadline, margin and skew keep the claim's life (the time
	// left of the invocation + DEADLINE_MARGIN + CLOCK_SKEW) to seconds.
	s := newStack(t, botEnv("AWS_LAMBDA_FUNCTION_TIMEOUT=3", "DEADLINE_MARGIN=500ms", "CLOCK_SKEW=1s")...)
	s.seed()
	calls := &slackCalls{slack: s.slack}
	const job = "crash"
	s.emu.Put(labeling.Job{Name: job, Status: labeling.StatusInProgress, CreatedAt: time.Now().Add(-time.Minute)})
	s.emu.Update(job, progressed(5))

	s.slack.FailNext(1, testenv.SlackFault{Hold: true, Post: true})
	dying := s.start(s.lambda, s.event)
	select {
	case <-s.slack.Held():
	case <-dying.done:
		t.Fatalf("the run ended before Slack got its card: %s\n%s", dying.body, s.lambda.Output())
	case <-time.After(time.Minute):
		t.Fatalf("Slack never got the card\n%s", s.lambda.Output())
	}
	s.lambda.Kill()
	<-dying.done
	s.slack.Settle()
	wantCalls(t, "the run that died", calls.next(), "post")
	first := s.lastTS()
	rec, _ := s.record(job)
	if rec.Lease == nil || rec.Card != nil {
		t.Fatalf("record after the crash = %+v; want the dead run's claim and no card", rec)
	}

	s.lambda = s.instance()
	waitPast(rec.Lease.Until)
	r := s.ok()
	wantCalls(t, "the run after the claim lapsed", calls.next(), "post")
	second := s.lastTS()
	if r.News != 1 || second == first {
		t.Errorf("the run after the claim lapsed = %+v, card %s (the lost one %s); want a second card told", r, second, first)
	}
	s.wantCard(job, second)
	s.quiet("nothing moved")

	s.emu.Update(job, progressed(50))
	s.ok()
	wantCalls(t, "job moves", calls.next(), "edit "+second)
	s.emu.Update(job, func(j *labeling.Job) { j.Status = labeling.StatusCompleted; progressed(100)(j) })
	s.ok()
	wantCalls(t, "job completes", calls.next(), "edit "+second, "reply "+second+" broadcast")
	if m := s.message(first); m.Edits != 0 {
		t.Errorf("the lost card was edited %d times, want never", m.Edits)
	}
}

// TestStormOfFinishedJobsWithCards finishes 400 jobs in one run, 100 of
// them failed with reasons of about 1,000 characters (some their own, some
// shared), with cards on. Slack refuses a message beyond its limits, so
// every message it took is within them; every failed job is named.
func TestStormOfFinishedJobsWithCards(t *testing.T) {
	// 400 claims and commits on dynalite under -race on two cores take a
	// few seconds: a deadline as deployed (template.yaml's 60 s).
	s := newStack(t, botEnv("AWS_LAMBDA_FUNCTION_TIMEOUT=60")...)
	const jobs, carded = 400, 2
	created := time.Now().Add(-2 * time.Hour)
	var names []string
	for i := range jobs {
		names = append(names, fmt.Sprintf("storm-%03d", i))
	}
	// The first run sees most jobs running (no cards: it is the first);
	// the next sees the rest start, and posts their cards.
	for _, name := range names[carded:] {
		s.emu.Put(labeling.Job{Name: name, Status: labeling.StatusInProgress, CreatedAt: created})
	}
	if r := s.ok(); !r.FirstRun || r.Listed != jobs-carded {
		t.Fatalf("first run = %+v", r)
	}
	for _, name := range names[:carded] {
		s.emu.Put(labeling.Job{Name: name, Status: labeling.StatusInProgress, CreatedAt: time.Now().Add(-time.Minute)})
	}
	calls := &slackCalls{slack: s.slack}
	if r := s.ok(); r.News != carded || r.Running != jobs {
		t.Fatalf("run with %d jobs starting = %+v, want their cards told and %d running", carded, r, jobs)
	}
	wantCalls(t, "jobs start", calls.next(), slices.Repeat([]string{"post"}, carded)...)

	// Every fourth job fails: half of them with a reason of their own,
	// half with one of two shared ones; markup in them grows when escaped.
	reason := func(tag string) string {
		r := "ClientError: " + tag + ": the worker task template <b>&amp;</b> failed to render for object s3://bucket/key & more; "
		return (r + strings.Repeat("x", 1000))[:1000]
	}
	var failed []string
	for i, name := range names {
		s.emu.Update(name, func(j *labeling.Job) {
			j.Counters = labeling.Counters{Total: 100, Human: 100}
			j.Status = labeling.StatusCompleted
			if i%4 != 0 {
				return
			}
			j.Status = labeling.StatusFailed
			switch k := len(failed); {
			case k < 50:
				j.FailureReason = reason(fmt.Sprintf("reason of %s alone", name))
			default:
				j.FailureReason = reason(fmt.Sprintf("shared reason %d", k%2))
			}
			failed = append(failed, name)
		})
	}

	before := len(s.slack.Calls())
	r := s.ok()
	if r.Alerted != jobs || r.Pending != 0 || r.Contended != 0 {
		t.Errorf("storm run = %+v, want %d alerted, none pending", r, jobs)
	}
	accepted := s.slack.Calls()[before:]
	if len(accepted) == 0 {
		t.Fatal("Slack took no message in the storm")
	}
	var all strings.Builder
	for i, c := range accepted {
		if len(c.Blocks) > testenv.SlackMaxBlocks || testenv.BlockText(c.Blocks) > testenv.SlackMaxBlockText {
			t.Errorf("message %d: %d blocks, %d characters; Slack's limits are %d and %d", i, len(c.Blocks), testenv.BlockText(c.Blocks), testenv.SlackMaxBlocks, testenv.SlackMaxBlockText)
		}
		b, _ := json.Marshal(c.Blocks)
		all.WriteString(c.Text + "\n" + string(b) + "\n")
	}
	for _, name := range failed {
		if !strings.Contains(all.String(), name) {
			t.Errorf("failed job %s is named in no message", name)
		}
	}
	if refused := logs(s.output(s.lambda), "slack refused the message; its minimal form went out instead"); len(refused) != 0 {
		t.Errorf("Slack refused %d messages of the storm (their minimal forms went out): %v", len(refused), refused)
	}
	t.Logf("the storm went out in %d messages", len(accepted))

	s.quiet("the run after the storm")
}

// TestCardOfJobEndingInDigest ends a job that has a card in a run where
// more jobs end than DIGEST_THRESHOLD, so the alerts go out as a digest:
// the card still shows the job's end.
func TestCardOfJobEndingInDigest(t *testing.T) {
	s := newStack(t, botEnv("DIGEST_THRESHOLD=3")...)
	s.seed()
	calls := &slackCalls{slack: s.slack}
	for i := range 5 {
		s.emu.Put(labeling.Job{Name: fmt.Sprintf("rush-%d", i), Status: labeling.StatusInProgress, CreatedAt: time.Now().Add(-time.Minute)})
	}
	s.ok() // more jobs start than DIGEST_THRESHOLD: no cards
	s.emu.Put(labeling.Job{Name: "carded", Status: labeling.StatusInProgress, CreatedAt: time.Now().Add(-time.Minute)})
	s.ok()
	wantCalls(t, "the carded job starts", calls.next(), "post")
	ts := s.lastTS()
	for _, j := range s.emu.Jobs() {
		if j.Status == labeling.StatusInProgress {
			s.emu.Update(j.Name, func(j *labeling.Job) { j.Status = labeling.StatusCompleted })
		}
	}
	if r := s.ok(); r.Alerted != 6 {
		t.Errorf("run where 6 jobs end = %+v, want 6 alerted", r)
	}
	calls.next()
	if card := s.message(ts); card.Edits == 0 || !strings.Contains(strings.ToLower(card.Text), "completed") {
		t.Errorf("BUG internal/watch/watch.go posts: with a digest, jobs with a card get no card step, so the card of a job that "+
			"ended in a digest run stays %q (edited %d times); want it edited to show the job completed", card.Text, card.Edits)
	}
}

// TestMilestonesOnce moves a job 10% → 55% → 60% → 95% with milestones at
// 50 and 90: each milestone is told once, in the card's thread.
func TestMilestonesOnce(t *testing.T) {
	s := newStack(t, botEnv("PROGRESS_MILESTONES=50,90")...)
	s.seed()
	calls := &slackCalls{slack: s.slack}
	const job = "miles"
	s.emu.Put(labeling.Job{Name: job, Status: labeling.StatusInProgress, CreatedAt: time.Now().Add(-time.Minute)})
	s.emu.Update(job, progressed(10))
	s.ok()
	wantCalls(t, "10%", calls.next(), "post")
	ts := s.lastTS()
	steps := []struct {
		done  int
		calls []string
		says  string // what the milestone reply says
	}{
		{55, []string{"edit " + ts, "reply " + ts}, "50%"},
		{60, []string{"edit " + ts}, ""},
		{95, []string{"edit " + ts, "reply " + ts}, "90%"},
	}
	for _, st := range steps {
		s.emu.Update(job, progressed(st.done))
		s.ok()
		step := fmt.Sprintf("%d%%", st.done)
		wantCalls(t, step, calls.next(), st.calls...)
		if st.says != "" {
			if text := s.slack.Messages()[len(s.slack.Messages())-1].Text; !strings.Contains(text, st.says) {
				t.Errorf("%s: the milestone reply %q does not say %s", step, text, st.says)
			}
		}
	}
	s.quiet("nothing moved")
	replies := 0
	for _, m := range s.slack.Messages() {
		if m.ThreadTS != "" {
			replies++
		}
	}
	if replies != 2 {
		t.Errorf("%d replies in all, want the two milestones", replies)
	}
}

// TestStuckWarningOnce leaves a job's record as a run 7 hours ago would
// have (its counters unmoved since), with STUCK_AFTER at 6h: one run warns,
// in the card's thread and the channel, and the next does not.
func TestStuckWarningOnce(t *testing.T) {
	s := newStack(t, botEnv("STUCK_AFTER=6h")...)
	s.seed()
	calls := &slackCalls{slack: s.slack}
	const job = "stall"
	s.emu.Put(labeling.Job{Name: job, Status: labeling.StatusInProgress, CreatedAt: time.Now().Add(-8 * time.Hour)})
	s.emu.Update(job, progressed(30))
	s.ok()
	wantCalls(t, "job seen", calls.next(), "post")
	ts := s.lastTS()
	s.quiet("a minute later")

	rec, ok := s.record(job)
	current, _ := s.emu.Job(job)
	if !ok || rec.Progress.Counters != current.Counters || rec.Progress.MovedAt.IsZero() || rec.Progress.Stuck {
		t.Fatalf("stored record = %+v (found %v), want the job's counters tracked, not stuck", rec, ok)
	}
	next := rec
	next.Progress.MovedAt = time.Now().Add(-7 * time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.store.Save(ctx, rec, next); err != nil {
		t.Fatal(err)
	}
	// The cursor remembers the job idle until its stuck warning could
	// come; seven hours on, it would be due: the record and the cursor
	// are seeded alike.
	c, _, err := s.store.Cursor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	idle, ok := c.Idle[job]
	if !ok {
		t.Fatalf("cursor %+v does not remember %s idle", c, job)
	}
	idle.Until = next.Progress.MovedAt.Add(6 * time.Hour)
	c.Idle[job], c.At = idle, c.At.Add(time.Millisecond)
	if err := s.store.AdvanceCursor(ctx, c); err != nil {
		t.Fatal(err)
	}

	r := s.ok()
	wantCalls(t, "7 hours still", calls.next(), "reply "+ts+" broadcast")
	if r.News != 1 {
		t.Errorf("7 hours still: result %+v, want 1 told", r)
	}
	if text := s.slack.Messages()[len(s.slack.Messages())-1].Text; !strings.Contains(text, "has not moved") {
		t.Errorf("the warning %q does not say the job has not moved", text)
	}
	if rec, _ := s.record(job); !rec.Progress.Stuck {
		t.Errorf("stored progress after the warning = %+v, want it marked stuck", rec.Progress)
	}
	s.quiet("the run after the warning")
}

// TestMentionsOnFailuresOnly runs two jobs with cards and milestones, one
// to completion and one to failure, with MENTION_ON_FAILURE set: only the
// failure's reply pages, and its text starts with the mentions.
func TestMentionsOnFailuresOnly(t *testing.T) {
	s := newStack(t, botEnv("MENTION_ON_FAILURE=U0ONCALL1,here", "PROGRESS_MILESTONES=50")...)
	s.seed()
	const good, bad = "good", "bad"
	for _, name := range []string{bad, good} {
		s.emu.Put(labeling.Job{Name: name, Status: labeling.StatusInProgress, CreatedAt: time.Now().Add(-time.Minute)})
		s.emu.Update(name, progressed(10))
	}
	s.ok()
	for _, name := range []string{bad, good} {
		s.emu.Update(name, progressed(55))
	}
	s.ok()
	s.emu.Update(good, func(j *labeling.Job) { j.Status = labeling.StatusCompleted; progressed(100)(j) })
	s.emu.Update(bad, func(j *labeling.Job) { j.Status = labeling.StatusFailed; j.FailureReason = "ClientError: no workers" })
	if r := s.ok(); r.Alerted != 2 {
		t.Fatalf("run where the jobs end = %+v, want 2 alerted", r)
	}

	badCard, ok := s.record(bad)
	if !ok || badCard.Card == nil {
		t.Fatalf("no card stored for %s: %+v", bad, badCard)
	}
	const mentions = "<@U0ONCALL1> <!here> "
	var kinds []string
	failureReplies := 0
	for _, c := range s.slack.Calls() {
		kind := c.String()
		kinds = append(kinds, kind)
		if c.ThreadTS == badCard.Card.TS && c.Broadcast {
			failureReplies++
			if !strings.HasPrefix(c.Text, mentions) {
				t.Errorf("the failure's reply %q does not start with %q", c.Text, mentions)
			}
			continue
		}
		b, _ := json.Marshal(c.Blocks)
		for _, m := range []string{"<@U0ONCALL1>", "<!here>"} {
			if strings.Contains(c.Text, m) || strings.Contains(string(b), m) {
				t.Errorf("%s pages %s: %q", kind, m, c.Text)
			}
		}
	}
	if failureReplies != 1 {
		t.Errorf("Slack calls %q: want one broadcast reply under %s's card", kinds, bad)
	}
	// Two cards, two edits at 10%→55% and two at the end, two milestone
	// replies and two outcome replies.
	if len(kinds) != 10 {
		t.Errorf("Slack calls %q, want 10: 2 cards, 4 edits, 2 milestones, 2 outcomes", kinds)
	}
}
