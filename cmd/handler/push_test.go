package main

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/labelwatch/labelwatch/internal/app"
	"github.com/labelwatch/labelwatch/internal/emulator"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

// These tests invoke the function with SageMaker Ground Truth Labeling Job
// State Change events (events/labeling-job-state-change.json, with the
// emulator's job ARN) beside the scheduled event, and check that each
// finished job alerts once whichever way it is found.

// sampleJob is the job events/labeling-job-state-change.json is about, as
// created: the ARN lower-cases the name.
const sampleJob = "Street-Signs-Batch-07"

// wantTrigger fails the test unless r is what an invocation with the
// trigger (app.TriggerPush for job, or app.TriggerPoll) returns.
func wantTrigger(t *testing.T, r app.Result, trigger, job string) {
	t.Helper()
	if r.Trigger != trigger || r.Job != job {
		t.Errorf("result = %+v, want trigger %q and job %q", r, trigger, job)
	}
	if trigger == app.TriggerPush && (!r.Cursor.IsZero() || r.Listed != 0 || r.FirstRun) {
		t.Errorf("push result = %+v, want no cursor, listing or first run: a push has none", r)
	}
}

func TestEventsAndPolls(t *testing.T) {
	const (
		poll  = "poll"  // the scheduled event
		event = "event" // a state change event for the job, with hint as its detail
		again = "again" // the step's previous event again, byte for byte
	)
	type step struct {
		status labeling.Status // before the step the job moves to this status, if set
		send   string
		hint   labeling.Status
		alerts int // the step's Result.Alerted
	}
	completed, inProgress := labeling.StatusCompleted, labeling.StatusInProgress
	tests := []struct {
		name  string
		fresh bool // no poll has run before; otherwise one saw the job in progress
		steps []step
	}{
		{"event then poll", false, []step{
			{status: completed, send: event, hint: completed, alerts: 1},
			{send: poll},
		}},
		{"poll then event", false, []step{
			{status: completed, send: poll, alerts: 1},
			{send: event, hint: completed},
		}},
		{"the same event three times", false, []step{
			{status: completed, send: event, hint: completed, alerts: 1},
			{send: again},
			{send: again},
		}},
		// Describe is the truth, the event's status only a hint: a late
		// InProgress event finds the job completed and alerts for that.
		{"an InProgress event after completion, then the Completed event", false, []step{
			{status: completed, send: event, hint: inProgress, alerts: 1},
			{send: event, hint: completed},
		}},
		{"the Completed event, then a stale InProgress event", false, []step{
			{status: completed, send: event, hint: completed, alerts: 1},
			{send: event, hint: inProgress},
			{send: poll},
		}},
		{"a Completed event Describe does not show yet", false, []step{
			{send: event, hint: completed},
			{status: completed, send: poll, alerts: 1},
			{send: again},
		}},
		{"an event before the first poll", true, []step{
			{status: completed, send: event, hint: completed, alerts: 1},
			{send: poll},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t)
			s.emu.Put(labeling.Job{Name: sampleJob, Status: labeling.StatusInProgress,
				CreatedAt: time.Now().Add(-time.Hour), ModifiedAt: time.Now().Add(-30 * time.Minute)})
			if !tt.fresh {
				if r := s.ok(); r.Alerted != 0 || r.Listed != 1 {
					t.Fatalf("poll before the steps = %+v", r)
				}
			}
			var last []byte
			alerts := 0
			for i, st := range tt.steps {
				if st.status != "" {
					s.emu.Update(sampleJob, func(j *labeling.Job) { j.Status = st.status })
				}
				before, seeded := s.cursor()
				var r app.Result
				switch st.send {
				case poll:
					r = s.ok()
					wantTrigger(t, r, app.TriggerPoll, "")
				case event, again:
					if st.send == event {
						last = s.stateChange(sampleJob, st.hint)
					}
					r = s.send(last)
					wantTrigger(t, r, app.TriggerPush, sampleJob)
					// A push never moves the cursor, nor makes one.
					after, ok := s.cursor()
					if ok != seeded || !reflect.DeepEqual(after, before) {
						t.Errorf("step %d: the push moved the cursor from %v (%v) to %v (%v)", i, before.At, seeded, after.At, ok)
					}
				}
				if r.Alerted != st.alerts {
					t.Errorf("step %d (%s %s): alerted %d, want %d: %+v", i, st.send, st.hint, r.Alerted, st.alerts, r)
				}
				alerts += st.alerts
				if got := len(s.texts()); got != alerts {
					t.Fatalf("after step %d Slack has %d messages, want %d", i, got, alerts)
				}
			}

			s.wantTexts(sampleJob + " completed")
			s.wantAlerted(sampleJob, labeling.StatusCompleted)
			if sent := logs(s.output(s.lambda), "alert sent"); len(sent) != 1 || sent[0]["job"] != sampleJob {
				t.Errorf("alert sent log lines = %v, want one for %s", sent, sampleJob)
			}
			// The next poll finds nothing to send, and ends at the job's
			// modification: it listed the job from the cursor it had.
			r := s.ok()
			job, _ := s.emu.Job(sampleJob)
			if r.Alerted != 0 || r.Transitions != 0 || !r.Cursor.Equal(job.ModifiedAt) {
				t.Errorf("last poll = %+v, want no transitions and the cursor at %v", r, job.ModifiedAt)
			}
			s.wantTexts(sampleJob + " completed")
		})
	}
}

// ignored fails the test unless r is the result of an ignored event and the
// function's output since from (a length of s.output) holds exactly one
// "event ignored" warning, which it returns.
func (s *stack) ignored(r app.Result, from int) logLine {
	s.t.Helper()
	if r.Trigger != app.TriggerIgnored || r.ErrorMessage != "" || r.Job != "" || r.Alerted != 0 {
		s.t.Errorf("result = %+v, want an ignored event", r)
	}
	out := s.output(s.lambda)[from:]
	warnings := logs(out, "event ignored")
	if len(warnings) != 1 {
		s.t.Fatalf("got %d event ignored lines, want 1:\n%s", len(warnings), out)
	}
	w := warnings[0]
	for _, key := range []string{"event_id", "source", "detail_type"} {
		if _, ok := w[key].(string); !ok {
			s.t.Errorf("warning %v lacks %s", w, key)
		}
	}
	if w["level"] != "WARN" || w["reason"] == "" || w["reason"] == nil {
		s.t.Errorf("warning %v: want level WARN and a reason", w)
	}
	return w
}

func TestEventOutsideFilters(t *testing.T) {
	floor := time.Now().Add(-24 * time.Hour).UTC().Truncate(time.Second)
	s := newStack(t, "NAME_CONTAINS=prod", "IGNORE_CREATED_BEFORE="+floor.Format(time.RFC3339))
	recent := time.Now().Add(-time.Hour)
	tests := []struct {
		job     labeling.Job
		alerts  bool
		because string // what the warning's reason says, when ignored
	}{
		{labeling.Job{Name: "staging-batch", CreatedAt: recent}, false, `does not contain "prod"`},
		{labeling.Job{Name: "prod-ancient", CreatedAt: floor.Add(-time.Millisecond)}, false, "before " + floor.Format(time.RFC3339)},
		// The filters hold as ListLabelingJobs applies them: the name in
		// any case, and a job created at the floor itself.
		{labeling.Job{Name: "Prod-Batch", CreatedAt: recent}, true, ""},
		{labeling.Job{Name: "prod-at-floor", CreatedAt: floor}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.job.Name, func(t *testing.T) {
			defer s.use(t)()
			tt.job.Status = labeling.StatusCompleted
			s.emu.Put(tt.job)
			sent := len(s.texts())
			from := len(s.output(s.lambda))
			event := s.stateChange(tt.job.Name, labeling.StatusCompleted)
			r := s.send(event)
			_, stored := s.record(tt.job.Name)
			if tt.alerts {
				wantTrigger(t, r, app.TriggerPush, tt.job.Name)
				if r.Alerted != 1 || len(s.texts()) != sent+1 || !stored {
					t.Errorf("result %+v, Slack %q, stored %v: want one alert, stored", r, s.texts(), stored)
				}
				return
			}
			w := s.ignored(r, from)
			if w["event_id"] != eventID(event) || w["detail_type"] != "SageMaker Ground Truth Labeling Job State Change" ||
				w["source"] != "aws.sagemaker" || !strings.Contains(fmt.Sprint(w["reason"]), tt.because) {
				t.Errorf("warning = %v, want the event's id, source and detail-type, and a reason saying %q", w, tt.because)
			}
			if len(s.texts()) != sent || stored {
				t.Errorf("Slack %q, stored %v: want no alert and nothing stored", s.texts(), stored)
			}
		})
	}
	// No poll has run, and the ignored jobs left nothing in the table.
	if n := s.items(); n != 2 {
		t.Errorf("the table holds %d items, want the 2 alerted jobs", n)
	}
	if r := s.ok(); r.Listed != 2 || r.Alerted != 0 {
		t.Errorf("poll after the events = %+v, want the 2 watched jobs listed and nothing sent", r)
	}
}

func TestEventForStatusNotAlerted(t *testing.T) {
	s := newStack(t, "ALERT_ON=Failed")
	s.emu.Put(labeling.Job{Name: sampleJob, Status: labeling.StatusInProgress, CreatedAt: time.Now().Add(-time.Hour)})
	s.ok()
	s.emu.Update(sampleJob, func(j *labeling.Job) { j.Status = labeling.StatusCompleted })

	r := s.send(s.stateChange(sampleJob, labeling.StatusCompleted))
	wantTrigger(t, r, app.TriggerPush, sampleJob)
	if r.Transitions != 1 || r.Alerted != 0 {
		t.Errorf("push = %+v, want one transition recorded without an alert", r)
	}
	rec, ok := s.record(sampleJob)
	if !ok || rec.Status != labeling.StatusCompleted || !rec.AlertedAt.IsZero() || rec.Lease != nil {
		t.Errorf("stored state = %+v (found %v), want Completed, never alerted", rec, ok)
	}
	if r := s.ok(); r.Transitions != 0 || r.Alerted != 0 {
		t.Errorf("poll after the push = %+v, want nothing to do", r)
	}
	s.wantTexts()
}

// An event about a job SageMaker does not know is ignored, whichever way
// SageMaker says so: as it does (a ValidationException) or as botocore's
// model says (ResourceNotFound).
func TestPushOfMissingJob(t *testing.T) {
	tests := []struct {
		name   string
		fault  emulator.Fault // the emulator's answer instead of its own, 0 for none
		answer string         // what the warning quotes of SageMaker's answer, before the cut at 200 bytes
	}{
		{"as SageMaker answers", 0, "api error ValidationException: Could not"},
		{"as the model declares", emulator.ResourceNotFound, "ResourceNotFound: Could not"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t)
			if tt.fault != 0 {
				s.emu.FailNext(1, tt.fault)
			}
			event := s.stateChangeFor(labeling.StatusCompleted, "arn:aws:sagemaker:us-east-1:"+testenv.LambdaAccount+":labeling-job/never-created")
			w := s.ignored(s.send(event), 0)
			reason := fmt.Sprint(w["reason"])
			if w["event_id"] != eventID(event) || w["detail_type"] != "SageMaker Ground Truth Labeling Job State Change" ||
				!strings.Contains(reason, "no such labeling job") || !strings.Contains(reason, tt.answer) {
				t.Errorf("warning = %v, want the event's id and detail-type, that the job does not exist, and SageMaker's %q", w, tt.answer)
			}
			if n := s.emu.Calls("DescribeLabelingJob"); n != 1 {
				t.Errorf("DescribeLabelingJob called %d times, want 1", n)
			}
			if n := s.items(); n != 0 {
				t.Errorf("the table holds %d items, want none", n)
			}
			s.wantTexts()
		})
	}
}

// An event about a job in another account or region than the function's
// is ignored before SageMaker is asked: described by its name alone, it
// would be read as the function's job of that name, here one that completed
// and would alert. The function's account is the one the Lambda emulator
// invokes it as (testenv.LambdaAccount), its region AWS_REGION (us-east-1).
func TestPushOfJobElsewhere(t *testing.T) {
	s := newStack(t)
	s.emu.Put(labeling.Job{Name: sampleJob, Status: labeling.StatusCompleted, CreatedAt: time.Now().Add(-time.Hour)})
	own, _ := s.emu.Job(sampleJob)
	tests := []struct {
		name                     string
		account, region, because string // the job's; "" for the function's own job, which alerts
	}{
		{name: "another account", account: "123456789012", region: "us-east-1",
			because: "the job is in account 123456789012, not in the function's account " + testenv.LambdaAccount},
		{name: "another region", account: testenv.LambdaAccount, region: "eu-west-1",
			because: "the job is in region eu-west-1, not in the function's region us-east-1"},
		{name: "another account and region", account: "210987654321", region: "ap-southeast-2", because: "region ap-southeast-2"},
		// Last, as it alerts: the job the others name, in the function's
		// account and region.
		{name: "the function's own", account: testenv.LambdaAccount, region: "us-east-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer s.use(t)()
			described := s.emu.Calls("DescribeLabelingJob")
			from := len(s.output(s.lambda))
			arn := fmt.Sprintf("arn:aws:sagemaker:%s:%s:labeling-job/%s", tt.region, tt.account, strings.ToLower(sampleJob))
			// As EventBridge sends it: the event's account and region are
			// the job's.
			event := s.edit(s.stateChangeFor(labeling.StatusCompleted, arn), map[string]any{"account": tt.account, "region": tt.region})
			r := s.send(event)
			if tt.because == "" {
				if arn != own.ARN {
					t.Fatalf("the function's own job is %s, not %s", own.ARN, arn)
				}
				wantTrigger(t, r, app.TriggerPush, sampleJob)
				if r.Alerted != 1 || s.emu.Calls("DescribeLabelingJob")-described != 1 {
					t.Errorf("result %+v: want the job described once and alerted", r)
				}
				s.wantTexts(sampleJob + " completed")
				return
			}
			w := s.ignored(r, from)
			if w["event_id"] != eventID(event) || !strings.Contains(fmt.Sprint(w["reason"]), tt.because) {
				t.Errorf("warning = %v, want the event's id and a reason saying %q", w, tt.because)
			}
			if n := s.emu.Calls("DescribeLabelingJob") - described; n != 0 {
				t.Errorf("DescribeLabelingJob called %d times, want none", n)
			}
			if n := s.items(); n != 0 {
				t.Errorf("the table holds %d items, want none", n)
			}
			s.wantTexts()
		})
	}
}

// A push that cannot read the job fails the invocation, stores nothing, and
// leaves the alert to the next poll.
func TestEventDuringSageMakerOutage(t *testing.T) {
	s := newStack(t)
	s.emu.Put(labeling.Job{Name: sampleJob, Status: labeling.StatusInProgress, CreatedAt: time.Now().Add(-time.Hour)})
	s.ok()
	s.emu.Update(sampleJob, func(j *labeling.Job) { j.Status = labeling.StatusCompleted })

	s.sagemaker.down(true)
	r := s.wait(s.start(s.lambda, s.stateChange(sampleJob, labeling.StatusCompleted)))
	if r.ErrorMessage == "" || r.Trigger != "" {
		t.Fatalf("push during the outage = %+v, want Lambda's error", r)
	}
	if leakedSecret(r.ErrorMessage+s.output(s.lambda)) != "" {
		t.Errorf("the webhook URL leaked into the error or logs")
	}
	if rec, _ := s.record(sampleJob); rec.Status != labeling.StatusInProgress || rec.Lease != nil {
		t.Errorf("stored state after the failed push = %+v, want InProgress as before", rec)
	}
	s.wantTexts()

	s.sagemaker.down(false)
	if r := s.ok(); r.Alerted != 1 {
		t.Errorf("poll after the outage = %+v, want the alert", r)
	}
	s.wantTexts(sampleJob + " completed")
}

func TestMalformedEvents(t *testing.T) {
	modes := []struct {
		name string
		env  []string
	}{
		{"webhook", nil},
		{"bot", []string{"SLACK_BOT_TOKEN=" + testenv.SlackToken, "SLACK_CHANNEL=" + testenv.SlackChannel, "SLACK_API_URL={slack}/api/"}},
	}
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			s := newStack(t, mode.env...)
			// The job the sample names exists and completed: an event
			// read too leniently would alert for it.
			s.emu.Put(labeling.Job{Name: sampleJob, Status: labeling.StatusCompleted, CreatedAt: time.Now().Add(-time.Hour)})
			arn := "arn:aws:sagemaker:us-east-1:" + testenv.LambdaAccount + ":labeling-job/street-signs-batch-07"
			sample := s.stateChangeFor(labeling.StatusCompleted, arn)
			long := strings.Repeat("é", 5000)
			tests := []struct {
				name  string
				event []byte
			}{
				{"an array", []byte(`[]`)},
				{"a string", []byte(`"Scheduled Event"`)},
				{"a number", []byte(`42`)},
				{"null", []byte(`null`)},
				{"an empty object", []byte(`{}`)},
				{"a source that is a number", []byte(`{"source": 5}`)},
				{"resources that are not strings", s.edit(sample, map[string]any{"resources": []int{5}})},
				{"a time that is not a time", s.edit(sample, map[string]any{"time": "yesterday"})},
				{"no resources", s.edit(sample, map[string]any{"resources": nil})},
				{"empty resources", s.edit(sample, map[string]any{"resources": []string{}})},
				{"two resources", s.edit(sample, map[string]any{"resources": []string{arn, arn}})},
				{"a training job ARN", s.edit(sample, map[string]any{"resources": []string{strings.Replace(arn, "labeling-job", "training-job", 1)}})},
				{"an S3 ARN", s.edit(sample, map[string]any{"resources": []string{"arn:aws:s3:::street-signs-batch-07"}})},
				{"a job name instead of an ARN", s.edit(sample, map[string]any{"resources": []string{"street-signs-batch-07"}})},
				{"an ARN with a name SageMaker cannot have", s.edit(sample, map[string]any{"resources": []string{arn + "_" + long}})},
				{"another SageMaker event", s.edit(sample, map[string]any{"detail-type": "SageMaker Training Job State Change"})},
				{"the state change from another source", s.edit(sample, map[string]any{"source": "custom.sagemaker"})},
				{"a scheduled event of another detail-type", s.edit(s.event, map[string]any{"detail-type": "Scheduled Event v2"})},
				{"a scheduled event from SageMaker", s.edit(s.event, map[string]any{"source": "aws.sagemaker"})},
				{"a long id and detail-type", s.edit(sample, map[string]any{"id": long, "detail-type": long})},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					defer s.use(t)()
					from := len(s.output(s.lambda))
					w := s.ignored(s.send(tt.event), from)
					if id := eventID(tt.event); len(id) <= 200 && w["event_id"] != id {
						t.Errorf("warning's event_id = %q, want the event's, %q", w["event_id"], id)
					}
					for _, key := range []string{"event_id", "detail_type", "source"} {
						if v := fmt.Sprint(w[key]); len(v) > 200+len("…") {
							t.Errorf("%s is %d bytes long; want it cut to about 200", key, len(v))
						}
					}
				})
			}
			out := s.output(s.lambda)
			if strings.Contains(out, "panic") {
				t.Errorf("the function panicked:\n%s", out)
			}
			if secret := leakedSecret(out); secret != "" {
				t.Errorf("the function's output holds its Slack secret %s:\n%s", secret, out)
			}
			if n := s.items(); n != 0 {
				t.Errorf("the table holds %d items, want none", n)
			}
			s.wantTexts()
		})
	}
}

// An event can hold anything, and its unreadable parts end up in the
// warning's reason: the warning stays short all the same.
func TestMalformedEventWarningIsBounded(t *testing.T) {
	s := newStack(t)
	event := s.edit(s.sample, map[string]any{"time": strings.Repeat("9", 100_000)})
	w := s.ignored(s.send(event), 0)
	if reason := fmt.Sprint(w["reason"]); len(reason) > 1000 {
		t.Fatalf("BUG internal/app/handler.go Invoke: the warning's reason for an event with a 100 KB \"time\" is %d bytes "+
			"(json's error quotes the value, twice, and ignore clips only id, source and detail-type); want it cut short, as the rest of the warning is",
			len(reason))
	}
}
