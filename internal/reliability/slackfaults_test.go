package reliability

import (
	"errors"
	"slices"
	"testing"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/testenv"
	"github.com/labelwatch/labelwatch/internal/watch"
)

// TestSlackFaults runs a cycle with three alerts due while Slack misbehaves,
// checks what that cycle did, then lets Slack recover and checks that every
// alert was posted exactly once and the state converged.
func TestSlackFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		fault   func(e *env)
		sender  func(e *env) watch.Notifier // default: webhook, 2 s timeout
		timeout time.Duration               // the cycle's deadline; default 10 s
		check   func(t *testing.T, e *env, o outcome)
		want    func(due []alertKey) map[alertKey]int // posted per alert in the end; default once each
	}{
		{name: "500 retried", fault: failNext(2, testenv.SlackFault{Status: 500, Body: "internal_error"}), check: deliveredAfterRetries(2)},
		{name: "502 retried", fault: failNext(3, testenv.SlackFault{Status: 502, Body: "Bad Gateway"}), check: deliveredAfterRetries(3)},
		{name: "503 retried", fault: failNext(2, testenv.SlackFault{Status: 503, Body: "service_unavailable"}), check: deliveredAfterRetries(2)},
		{name: "connection reset retried", fault: failNext(2, testenv.SlackFault{Reset: true}), check: deliveredAfterRetries(2)},
		{name: "200 with a body other than ok retried", fault: failNext(2, testenv.SlackFault{Status: 200, Body: "<html>Sign in to the network</html>"}), check: deliveredAfterRetries(2)},
		{
			name:   "slow answers past the client timeout retried",
			fault:  failNext(2, testenv.SlackFault{Delay: 5 * time.Second}),
			sender: func(e *env) watch.Notifier { return e.webhook(400 * time.Millisecond) },
			check: func(t *testing.T, e *env, o outcome) {
				// A loaded machine may time out an answer that was not
				// slowed down too: at least two retries, then. A client
				// that waited for the slow answers would post each alert
				// at its first request.
				if o.err != nil || o.sum.Alerted != len(o.due) || o.requests < len(o.due)+2 {
					t.Errorf("cycle: %+v, %v, %d requests; want every alert delivered after two timeouts at least", o.sum, o.err, o.requests)
				}
			},
		},
		{
			name:  "5xx past the retry budget pending",
			fault: failNext(100, testenv.SlackFault{Status: 500, Body: "internal_error"}),
			check: func(t *testing.T, e *env, o outcome) {
				untouched(t, e, o)
				if want := 3 * fastRetrier.Attempts; o.requests != want {
					t.Errorf("%d requests, want %d (each alert tried %d times)", o.requests, want, fastRetrier.Attempts)
				}
				if n, want := len(e.clock.Waits()), 3*(fastRetrier.Attempts-1); n != want {
					t.Errorf("%d waits, want %d: a backoff before each retry", n, want)
				}
				errorSays(t, o.err, "500")
			},
		},
		{
			name:  "429 Retry-After honoured",
			fault: failNext(1, testenv.SlackRateLimit("1")),
			check: func(t *testing.T, e *env, o outcome) {
				deliveredAfterRetries(1)(t, e, o)
				if w := e.clock.Waits(); !slices.Equal(w, []time.Duration{time.Second}) {
					t.Errorf("waited %v after a 429 asking for 1 s, want exactly 1 s", w)
				}
			},
		},
		{
			name:    "429 Retry-After past the deadline",
			fault:   failNext(1, testenv.SlackRateLimit("30")),
			timeout: 3 * time.Second,
			check: func(t *testing.T, e *env, o outcome) {
				untouched(t, e, o)
				// Nothing more goes to the channel before Retry-After has
				// passed, and the run does not wait for it in vain.
				if o.requests != 1 {
					t.Errorf("%d requests, want 1: Slack asked for 30 s of quiet", o.requests)
				}
				if w := e.clock.Waits(); len(w) != 0 {
					t.Errorf("waited %v for a Retry-After past the deadline", w)
				}
				var rl *slackapi.RateLimitedError
				if !errors.As(o.err, &rl) || rl.RetryAfter != 30*time.Second {
					t.Errorf("error %v, want a RateLimitedError asking for 30s", o.err)
				}
			},
		},
		{
			name:  "webhook 404 no_service not retried",
			fault: failNext(3, testenv.SlackFault{Status: 404, Body: "no_service"}),
			check: finalFailure("no_service"),
		},
		{
			name: "bot invalid_auth not retried",
			sender: func(e *env) watch.Notifier {
				return e.bot("test-revoked-bot-token-SECRET-999", testenv.SlackChannel, 2*time.Second)
			},
			check: finalFailure("invalid_auth"),
		},
		{
			name:   "bot channel_not_found not retried",
			sender: func(e *env) watch.Notifier { return e.bot(testenv.SlackToken, "C0ARCHIVED", 2*time.Second) },
			check:  finalFailure("channel_not_found"),
		},
		{
			name:  "posted but the answer lost",
			fault: failNext(1, lostAnswer),
			check: deliveredAfterRetries(1),
			// Slack has the message but the client saw a reset, so the
			// retry posts it again: at-least-once, one duplicate at most.
			want: func(due []alertKey) map[alertKey]int {
				m := once(due)
				m[due[0]] = 2
				return m
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			jobs := e.seed(5)
			e.clock.Advance(time.Minute)
			due := e.finish(jobs[:3]...)
			var n watch.Notifier
			if tt.sender != nil {
				n = tt.sender(e)
			}
			if tt.fault != nil {
				tt.fault(e)
			}
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			sum, err := e.run(e.watcher(watcherConfig{notifier: n}), timeout)
			o := outcome{sum: sum, err: err, requests: e.slack.Requests(), due: due}
			tt.check(t, e, o)
			e.check()
			counts := e.converge()
			want := once(due)
			if tt.want != nil {
				want = tt.want(due)
			}
			expectCounts(t, counts, want)
		})
	}
}

// outcome is what a faulted cycle did.
type outcome struct {
	sum      watch.Summary
	err      error
	requests int // to Slack
	due      []alertKey
}

// failNext is a fault of the n next Slack requests.
func failNext(n int, f testenv.SlackFault) func(e *env) {
	return func(e *env) { e.slack.FailNext(n, f) }
}

// deliveredAfterRetries checks a cycle that delivered every alert within the
// run, after extra failed requests, each retried after a wait.
func deliveredAfterRetries(extra int) func(t *testing.T, e *env, o outcome) {
	return func(t *testing.T, e *env, o outcome) {
		t.Helper()
		if o.err != nil || o.sum.Alerted != len(o.due) || !o.sum.Advanced {
			t.Errorf("cycle: %+v, %v; want every alert delivered and the cursor advanced", o.sum, o.err)
		}
		if want := len(o.due) + extra; o.requests != want {
			t.Errorf("%d requests to Slack, want %d", o.requests, want)
		}
		if n := len(e.clock.Waits()); n != extra {
			t.Errorf("%d waits before retries, want %d", n, extra)
		}
	}
}

// untouched checks a cycle that delivered nothing: it failed with
// ErrPending, kept the cursor, and left every due job's record as it was,
// with no claim, so the next run sends the alerts.
func untouched(t *testing.T, e *env, o outcome) {
	t.Helper()
	errorIs(t, o.err, watch.ErrPending)
	if o.sum.Alerted != 0 || o.sum.Pending != len(o.due) || o.sum.Advanced {
		t.Errorf("cycle: %+v; want every alert pending and the cursor kept", o.sum)
	}
	if n := len(e.slack.Messages()); n != 0 {
		t.Errorf("%d messages posted, want none", n)
	}
	for _, k := range o.due {
		rec := e.record(k.Job)
		if rec.Status != labeling.StatusInitializing || rec.Lease != nil {
			t.Errorf("job %s: stored %s with lease %v; want its old status and no claim", k.Job, rec.Status, rec.Lease)
		}
	}
}

// finalFailure checks a cycle whose every post failed with a Slack error
// that needs a person: each alert tried once, not retried, and the run's
// error names the cause.
func finalFailure(code string) func(t *testing.T, e *env, o outcome) {
	return func(t *testing.T, e *env, o outcome) {
		t.Helper()
		untouched(t, e, o)
		if o.requests != len(o.due) {
			t.Errorf("%d requests to Slack, want %d: a final error is not retried", o.requests, len(o.due))
		}
		errorSays(t, o.err, code)
	}
}
