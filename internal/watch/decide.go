package watch

import (
	"time"

	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/state"
)

// Verdict is what a cycle does with one listed job.
type Verdict int

// The verdicts, from doing nothing to alerting.
const (
	Unchanged Verdict = iota // stored status equals the listed one
	Stale                    // the listing is older than what is stored (by time or by the state machine); ignore it
	Contended                // another run holds a live claim on the job
	Baseline                 // first run: record without alerting (too old, or not alerting)
	Silent                   // a transition into a status that does not alert
	Alert                    // a transition into an alerting status
)

var verdictNames = [...]string{"unchanged", "stale", "contended", "baseline", "silent", "alert"}

func (v Verdict) String() string { return verdictNames[v] }

// Rules are the transition rules of a cycle.
type Rules struct {
	AlertOn  map[labeling.Status]bool
	Lookback time.Duration // first run: how recent a finished job must be to alert
}

// Decide says what to do with job given its stored record. firstRun is true
// until a cycle has completed once; now is the cycle's start.
func (r Rules) Decide(job labeling.Job, rec state.Record, firstRun bool, now time.Time) Verdict {
	switch {
	case rec.Live(now):
		return Contended
	case rec.Status == job.Status:
		return Unchanged
	case regresses(rec.Status, job.Status),
		// An older listing is stale too, unless it shows the job further
		// along: a stale read cannot, so the clock that stamped it went
		// back, and ignoring it would lose the alert for good.
		job.ModifiedAt.Before(rec.ModifiedAt) && !advances(rec.Status, job.Status):
		return Stale
	case !r.AlertOn[job.Status]:
		if rec.Status == "" && firstRun {
			return Baseline
		}
		return Silent
	case rec.Status == "" && firstRun && job.ModifiedAt.Before(now.Add(-r.Lookback)):
		return Baseline
	default:
		return Alert
	}
}

// regresses reports whether a job seems to move back along the API's state
// machine (Initializing -> InProgress -> Stopping -> Completed/Failed/
// Stopped), which only a stale listing can show. Unknown statuses never
// regress: a new API value is recorded, not ignored.
func regresses(stored, listed labeling.Status) bool {
	from, to := rank(stored), rank(listed)
	return from >= 0 && to >= 0 && to < from
}

// advances reports whether a job moves forward along the state machine.
func advances(stored, listed labeling.Status) bool {
	from, to := rank(stored), rank(listed)
	return from >= 0 && to >= 0 && to > from
}

func rank(s labeling.Status) int {
	switch {
	case s == labeling.StatusInitializing:
		return 0
	case s == labeling.StatusInProgress:
		return 1
	case s == labeling.StatusStopping:
		return 2
	case s.Terminal():
		return 3
	default:
		return -1
	}
}
