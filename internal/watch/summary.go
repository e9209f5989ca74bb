package watch

import (
	"cmp"
	"time"
)

// Summary counts what one poll, push or apply did. It is the one account of
// a run: the Lambda result carries it as it is, and the metrics read it.
type Summary struct {
	// The job a push was for, named as SageMaker names it (an event's
	// ARN lower-cases the name).
	Job string `json:"job,omitempty"`

	// A poll's own counts; zero for a push.
	FirstRun bool      `json:"firstRun"`
	Listed   int       `json:"listed"`
	Unread   int       `json:"unread"`          // jobs listed as the cursor saw them, or idle as it left them: decided without a read
	Running  int       `json:"running"`         // jobs listed as in progress, for their cards and warnings
	Cursor   time.Time `json:"cursor,omitzero"` // the cursor after the poll; a push has none
	Advanced bool      `json:"advanced"`        // the poll moved the cursor

	// What the stages did with the jobs.
	Transitions int  `json:"transitions"` // jobs whose status differs from the stored one
	Recorded    int  `json:"recorded"`    // transitions stored without an alert
	Alerted     int  `json:"alerted"`     // alerts Slack accepted and that are committed
	News        int  `json:"news"`        // cards posted or edited and progress news told, committed
	Pending     int  `json:"pending"`     // alerts and news not delivered; retried by the next poll
	Deferred    int  `json:"deferred"`    // pushed alerts and news left to the poll, in a storm of pushes
	Contended   int  `json:"contended"`   // jobs another run holds or changed meanwhile
	Stale       int  `json:"stale"`       // readings older than the stored state
	Digest      bool `json:"digest"`      // the alerts went out as a digest

	// SourcesFailed counts the sources whose poll failed, of a function
	// that watches several; their cursors stay.
	SourcesFailed int `json:"sourcesFailed,omitempty"`

	DurationMS int64 `json:"durationMs"`
}

// Plus is the summary of two runs done at once, such as the polls of two
// sources: their counts added, the older cursor (the worse lag), the
// longer duration.
func (s Summary) Plus(o Summary) Summary {
	s.Job = cmp.Or(s.Job, o.Job)
	s.FirstRun = s.FirstRun || o.FirstRun
	s.Listed += o.Listed
	s.Unread += o.Unread
	s.Running += o.Running
	if s.Cursor.IsZero() || !o.Cursor.IsZero() && o.Cursor.Before(s.Cursor) {
		s.Cursor = o.Cursor
	}
	s.Advanced = s.Advanced || o.Advanced
	s.Transitions += o.Transitions
	s.Recorded += o.Recorded
	s.Alerted += o.Alerted
	s.News += o.News
	s.Pending += o.Pending
	s.Deferred += o.Deferred
	s.Contended += o.Contended
	s.Stale += o.Stale
	s.Digest = s.Digest || o.Digest
	s.SourcesFailed += o.SourcesFailed
	s.DurationMS = max(s.DurationMS, o.DurationMS)
	return s
}

// count takes in what a poll's listings found.
func (s *Summary) count(found listing) {
	s.Listed, s.Unread, s.Running = found.listed, found.unread, found.running
}

// report logs the one summary line of run r, with attrs first, and returns
// sum, its duration set, and err.
func (w *Watcher) report(r run, sum Summary, err error, attrs ...any) (Summary, error) {
	sum.DurationMS = w.clock.Now().Sub(r.now).Milliseconds()
	counts := []any{
		"first_run", sum.FirstRun, "listed", sum.Listed, "unread", sum.Unread, "transitions", sum.Transitions,
		"running", sum.Running, "recorded", sum.Recorded, "alerted", sum.Alerted, "news", sum.News, "pending", sum.Pending,
		"contended", sum.Contended, "stale", sum.Stale, "digest", sum.Digest,
		"cursor", sum.Cursor, "cursor_advanced", sum.Advanced, "duration_ms", sum.DurationMS,
	}
	if r.kind != "poll" {
		counts = []any{
			"transitions", sum.Transitions, "recorded", sum.Recorded, "alerted", sum.Alerted, "news", sum.News,
			"pending", sum.Pending, "deferred", sum.Deferred, "contended", sum.Contended, "stale", sum.Stale, "duration_ms", sum.DurationMS,
		}
	}
	attrs = append(attrs, counts...)
	if err != nil {
		w.log.Error(r.kind+" incomplete", append(attrs, "error", err)...)
		return sum, err
	}
	w.log.Info(r.kind+" complete", attrs...)
	return sum, nil
}
