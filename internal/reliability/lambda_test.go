package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labelwatch/labelwatch/internal/app"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

// The end-to-end tests run the real bootstrap under the Lambda Runtime
// Interface Emulator, configured only through its environment as in
// production: the SDK reaches the SageMaker emulator and the DynamoDB proxy
// through AWS_ENDPOINT_URL_*, Slack is the fake one. The clock is real.

// lambdaEnv is the environment of a function in env e, before the test's
// own variables (a later value of a variable wins).
func (e *env) lambdaEnv(timeout int) []string {
	return []string{
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_SESSION_TOKEN=",
		"AWS_ENDPOINT_URL_SAGEMAKER=" + e.smURL, "AWS_ENDPOINT_URL_DYNAMODB=" + e.proxy.URL,
		fmt.Sprintf("AWS_LAMBDA_FUNCTION_TIMEOUT=%d", timeout),
		"STATE_TABLE=" + e.table,
		"SLACK_WEBHOOK_URL=" + e.slack.WebhookURL(), "SLACK_PACE=0s",
		"ALERT_ON=Completed,Failed,Stopping,Stopped",
		"DEADLINE_MARGIN=500ms",
		// Claims outlive the deadline by DEADLINE_MARGIN plus this; the
		// default 30 s would make the crash test wait that long.
		"CLOCK_SKEW=1s",
	}
}

// startLambda starts one function (one RIE) in e with extra variables.
func (e *env) startLambda(timeout int, extra ...string) *testenv.Lambda {
	e.t.Helper()
	return testenv.StartLambda(e.t, bootstrap(e.t), append(e.lambdaEnv(timeout), extra...)...)
}

// newLambdaEnv is an env on the real clock, the function's.
func newLambdaEnv(t *testing.T) *env {
	t.Helper()
	return newEnvOn(t, testenv.RealClock())
}

var scheduledEvent = sync.OnceValues(func() ([]byte, error) {
	root, err := testenv.RepoRoot()
	if err != nil {
		return nil, err
	}
	return os.ReadFile(filepath.Join(root, "events", "scheduled.json"))
})

// invoke sends the scheduled event to l and returns the answer, decoded
// (the handler's Result, or Lambda's error object in its ErrorMessage and
// ErrorType) and as the function sent it, for a search of all it holds.
func invoke(t testing.TB, l *testenv.Lambda) (r app.Result, raw string) {
	t.Helper()
	event, err := scheduledEvent()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	body, err := l.Invoke(ctx, event)
	if err != nil {
		t.Fatalf("%v\n%s", err, l.Output())
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("decode %s: %v\n%s", body, err, l.Output())
	}
	return r, string(body)
}

// succeeded fails unless r, an invocation of l, is a successful one.
func succeeded(t testing.TB, l *testenv.Lambda, r app.Result, what string) {
	t.Helper()
	if r.ErrorMessage != "" || r.ErrorType != "" {
		t.Fatalf("%s: %s (%s)\n%s", what, r.ErrorMessage, r.ErrorType, l.Output())
	}
}

// baseline runs the function's first cycle over jobs just put.
func (e *env) baseline(l *testenv.Lambda, n int) []string {
	e.t.Helper()
	jobs := e.putJobs(n)
	r, _ := invoke(e.t, l)
	succeeded(e.t, l, r, "first run")
	if !r.FirstRun || r.Listed != n {
		e.t.Fatalf("first run: %+v", r)
	}
	return jobs
}

// waitPast waits until the real clock passes t: the test needs a claim,
// whose expiry the function computed, to expire. It is not a wait for
// something to happen.
func waitPast(t time.Time) {
	timer := time.NewTimer(time.Until(t) + 50*time.Millisecond)
	defer timer.Stop()
	<-timer.C
}

// TestLambdaCrash kills the function (RIE and bootstrap, as a crash or a
// Lambda timeout does) while Slack holds its post, once after Slack accepted
// the message and once before. A fresh function at once leaves the alert to
// the dead run's claim; once the claim expires it sends it: the alert is
// never lost, and a message Slack accepted is posted at most once more.
func TestLambdaCrash(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		fault    testenv.SlackFault
		postedAt int // messages posted when the function dies
	}{
		{name: "after Slack accepted", fault: testenv.SlackFault{Hold: true, Post: true}, postedAt: 1},
		{name: "before Slack accepted", fault: testenv.SlackFault{Hold: true}, postedAt: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newLambdaEnv(t)
			dying := e.startLambda(3)
			jobs := e.baseline(dying, 5)
			due := e.finish(jobs[0])
			e.slack.FailNext(1, tt.fault)

			done := make(chan struct{})
			go func() {
				defer close(done)
				event, _ := scheduledEvent()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				_, _ = dying.Invoke(ctx, event) // fails: the function dies
			}()
			select {
			case <-e.slack.Held():
			case <-time.After(30 * time.Second):
				t.Fatalf("Slack never got the post\n%s", dying.Output())
			}
			dying.Kill()
			<-done
			if n := len(e.slack.Messages()); n != tt.postedAt {
				t.Fatalf("%d messages posted when the function died, want %d", n, tt.postedAt)
			}
			rec := e.record(jobs[0])
			if rec.Lease == nil || rec.Status != "Initializing" {
				t.Fatalf("record after the crash: %+v; want the old status and the dead run's claim\n%s", rec, dying.Output())
			}

			fresh := e.startLambda(3)
			r, _ := invoke(t, fresh)
			succeeded(t, fresh, r, "run while the claim lives")
			if r.Contended != 1 || r.Alerted != 0 {
				t.Errorf("run while the claim lives: %+v; want the job left to the claim", r)
			}
			if n := len(e.slack.Messages()); n != tt.postedAt {
				t.Errorf("%d messages while the claim lives, want %d", n, tt.postedAt)
			}
			e.check()

			waitPast(rec.Lease.Until)
			r, _ = invoke(t, fresh)
			succeeded(t, fresh, r, "run after the claim expired")
			if r.Alerted != 1 {
				t.Errorf("run after the claim expired: %+v; want the alert sent", r)
			}
			r, _ = invoke(t, fresh)
			succeeded(t, fresh, r, "last run")
			if r.Alerted != 0 {
				t.Errorf("last run: %+v; want nothing more", r)
			}
			counts := e.check()
			e.ledger.checkDelivered(t, counts)
			expectCounts(t, counts, map[alertKey]int{due[0]: tt.postedAt + 1})
			e.checkTable()
		})
	}
}

// TestLambdaOverlap invokes four functions (four RIEs, as Lambda would run
// overlapping invocations in separate environments) at once on one table,
// three times, with Slack slow enough that their cycles interleave.
func TestLambdaOverlap(t *testing.T) {
	t.Parallel()
	e := newLambdaEnv(t)
	var fns []*testenv.Lambda
	for range 4 {
		fns = append(fns, e.startLambda(30))
	}
	jobs := e.baseline(fns[0], 40)
	e.slack.SetLatency(20 * time.Millisecond)
	contended := 0
	for round := range 3 {
		e.finish(jobs[round*12 : round*12+10]...)
		results := make([]app.Result, len(fns))
		var wg sync.WaitGroup
		for i, fn := range fns {
			wg.Go(func() { results[i], _ = invoke(t, fn) })
		}
		wg.Wait()
		alerted := 0
		for i, r := range results {
			succeeded(t, fns[i], r, fmt.Sprintf("round %d, function %d", round, i))
			alerted += r.Alerted
			contended += r.Contended
		}
		if alerted != 10 {
			t.Errorf("round %d: %d alerted in all, want 10", round, alerted)
		}
		e.check()
	}
	if contended == 0 {
		t.Errorf("the functions never contended for a job: they did not overlap")
	}
	r, _ := invoke(t, fns[0])
	succeeded(t, fns[0], r, "last run")
	counts := e.check()
	e.ledger.checkDelivered(t, counts)
	e.checkTable()
}

// TestLambdaDeadline gives the function a 3 s timeout (2.5 s of work) and
// twelve alerts to post at 300 ms each: the invocation returns an error
// before Lambda's deadline (no timeout), and the next invocation posts the
// rest.
func TestLambdaDeadline(t *testing.T) {
	t.Parallel()
	e := newLambdaEnv(t)
	fn := e.startLambda(3, "DIGEST_THRESHOLD=100")
	jobs := e.baseline(fn, 20)
	due := e.finish(jobs[:12]...)
	e.slack.SetLatency(300 * time.Millisecond)
	r, _ := invoke(t, fn)
	if !strings.Contains(r.ErrorMessage, "alerts pending") || !strings.Contains(r.ErrorMessage, "deadline") {
		t.Errorf("invocation: %+v; want an error saying alerts are pending at the deadline", r)
	}
	if strings.Contains(strings.ToLower(r.ErrorType+r.ErrorMessage), "timed out") {
		t.Errorf("the function ran into Lambda's timeout: %+v", r)
	}
	e.slack.Settle()
	first := len(e.slack.Messages())
	if first == 0 || first >= len(due) {
		t.Errorf("%d of %d posted before the deadline; want some", first, len(due))
	}
	// A post the deadline cut off under way may have been taken by Slack
	// all the same: the documented duplicate. The function logs it as not
	// delivered, with the attempt's context error; Slack says whether it
	// took it.
	want, raced := once(due), 0
	for _, k := range cutOff(fn.Output(), due) {
		for _, m := range e.slack.Messages() {
			if strings.Contains(m.Text, k.Job) {
				e.ledger.allowDuplicate([]alertKey{k})
				want[k], raced = 2, raced+1
				t.Logf("%v: its post was cut off by the deadline after Slack took it", k)
			}
		}
	}
	e.check()
	e.slack.SetLatency(0)
	r, _ = invoke(t, fn)
	succeeded(t, fn, r, "next run")
	if r.Alerted != len(due)-first+raced {
		t.Errorf("next run: %+v; want the other %d alerted", r, len(due)-first+raced)
	}
	counts := e.check()
	expectCounts(t, counts, want)
	e.ledger.checkDelivered(t, counts)
	e.checkTable()
}

// cutOff are the alerts of due whose post the function logged as not
// delivered because its context ended while the attempt was under way
// (not a send it never began: "stop sending").
func cutOff(output string, due []alertKey) []alertKey {
	var out []alertKey
	for _, line := range strings.Split(output, "\n") {
		var l struct {
			Msg, Job, Status, Error string
		}
		if json.Unmarshal([]byte(line), &l) != nil || l.Msg != "alert not delivered; pending for the next run" ||
			!strings.Contains(l.Error, "attempt ") || !strings.Contains(l.Error, "context deadline exceeded") && !strings.Contains(l.Error, "context canceled") {
			continue
		}
		if k := (alertKey{Job: l.Job, Status: labeling.Status(l.Status)}); slices.Contains(due, k) {
			out = append(out, k)
		}
	}
	return out
}
