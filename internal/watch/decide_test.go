package watch

import (
	"testing"
	"time"

	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/state"
)

func TestDecide(t *testing.T) {
	const (
		initializing = labeling.StatusInitializing
		inProgress   = labeling.StatusInProgress
		stopping     = labeling.StatusStopping
		completed    = labeling.StatusCompleted
		failed       = labeling.StatusFailed
		stopped      = labeling.StatusStopped
		paused       = labeling.Status("Paused") // a status the API may add one day
	)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	defaults := Rules{AlertOn: map[labeling.Status]bool{failed: true, completed: true, stopped: true}, Lookback: time.Hour}
	onlyStopping := Rules{AlertOn: map[labeling.Status]bool{stopping: true}, Lookback: time.Hour}

	// stored is a record of a job last committed in status, modified at.
	stored := func(status labeling.Status, at time.Time) state.Record {
		return state.Record{Job: "job", Status: status, ModifiedAt: at, Version: 3}
	}
	leased := func(rec state.Record, until time.Time) state.Record {
		rec.Lease = &state.Lease{Owner: "other-run", Target: completed, Until: until}
		return rec
	}
	none := state.Record{Job: "job"}

	tests := []struct {
		name     string
		rules    Rules
		listed   labeling.Status
		modified time.Time
		rec      state.Record
		firstRun bool
		want     Verdict
	}{
		// A job never seen before, on the very first run.
		{name: "first run, finished within lookback", listed: failed, modified: ago(10 * time.Minute), rec: none, firstRun: true, want: Alert},
		{name: "first run, finished right at the lookback", listed: completed, modified: ago(time.Hour), rec: none, firstRun: true, want: Alert},
		{name: "first run, finished just before the lookback", listed: completed, modified: ago(time.Hour + time.Millisecond), rec: none, firstRun: true, want: Baseline},
		{name: "first run, finished days ago", listed: stopped, modified: ago(72 * time.Hour), rec: none, firstRun: true, want: Baseline},
		{name: "first run, running", listed: inProgress, modified: ago(time.Minute), rec: none, firstRun: true, want: Baseline},
		{name: "first run, unknown status", listed: paused, modified: ago(time.Minute), rec: none, firstRun: true, want: Baseline},
		// A job never seen before, on later runs.
		{name: "new job already finished", listed: failed, modified: ago(2 * time.Minute), rec: none, want: Alert},
		{name: "new job finished before the lookback", listed: completed, modified: ago(3 * time.Hour), rec: none, want: Alert},
		{name: "new job running", listed: initializing, modified: ago(time.Minute), rec: none, want: Silent},
		{name: "new job in an unknown status", listed: paused, modified: ago(time.Minute), rec: none, want: Silent},
		// Transitions of a known job.
		{name: "in progress to completed", listed: completed, modified: ago(time.Minute), rec: stored(inProgress, ago(time.Hour)), want: Alert},
		{name: "in progress to failed", listed: failed, modified: ago(time.Minute), rec: stored(inProgress, ago(time.Hour)), want: Alert},
		{name: "stopping to stopped", listed: stopped, modified: ago(time.Minute), rec: stored(stopping, ago(time.Hour)), want: Alert},
		{name: "initializing straight to failed", listed: failed, modified: ago(time.Minute), rec: stored(initializing, ago(time.Hour)), want: Alert},
		{name: "initializing to in progress", listed: inProgress, modified: ago(time.Minute), rec: stored(initializing, ago(time.Hour)), want: Silent},
		{name: "in progress to stopping", listed: stopping, modified: ago(time.Minute), rec: stored(inProgress, ago(time.Hour)), want: Silent},
		{name: "known job finished long ago, first run", listed: completed, modified: ago(48 * time.Hour), rec: stored(inProgress, ago(72*time.Hour)), firstRun: true, want: Alert},
		{name: "no change", listed: completed, modified: ago(time.Minute), rec: stored(completed, ago(time.Minute)), want: Unchanged},
		{name: "no change, listed again with a newer time", listed: inProgress, modified: ago(time.Minute), rec: stored(inProgress, ago(time.Hour)), want: Unchanged},
		// ALERT_ON customised.
		{name: "custom: stopping alerts", rules: onlyStopping, listed: stopping, modified: ago(time.Minute), rec: stored(inProgress, ago(time.Hour)), want: Alert},
		{name: "custom: completed is silent", rules: onlyStopping, listed: completed, modified: ago(time.Minute), rec: stored(inProgress, ago(time.Hour)), want: Silent},
		{name: "no alerting status at all", rules: Rules{Lookback: time.Hour}, listed: failed, modified: ago(time.Minute), rec: stored(inProgress, ago(time.Hour)), want: Silent},
		// Stale listings.
		{name: "completed back to in progress", listed: inProgress, modified: ago(time.Minute), rec: stored(completed, ago(time.Hour)), want: Stale},
		{name: "stopped back to stopping", listed: stopping, modified: ago(time.Minute), rec: stored(stopped, ago(time.Hour)), want: Stale},
		{name: "stopping back to in progress", listed: inProgress, modified: ago(time.Minute), rec: stored(stopping, ago(time.Hour)), want: Stale},
		{name: "in progress back to initializing", listed: initializing, modified: ago(time.Minute), rec: stored(inProgress, ago(time.Hour)), want: Stale},
		{name: "older listing of another terminal status", listed: completed, modified: ago(2 * time.Hour), rec: stored(failed, ago(time.Hour)), want: Stale},
		{name: "older listing after an unknown status", listed: inProgress, modified: ago(2 * time.Hour), rec: stored(paused, ago(time.Hour)), want: Stale},
		{name: "older listing that moves the job forward still alerts", listed: completed, modified: ago(2 * time.Hour), rec: stored(inProgress, ago(time.Hour)), want: Alert},
		{name: "older listing that moves the job forward silently", listed: stopping, modified: ago(2 * time.Hour), rec: stored(inProgress, ago(time.Hour)), want: Silent},
		// Unknown statuses never regress.
		{name: "in progress to unknown", listed: paused, modified: ago(time.Minute), rec: stored(inProgress, ago(time.Hour)), want: Silent},
		{name: "completed to unknown", listed: paused, modified: ago(time.Minute), rec: stored(completed, ago(time.Hour)), want: Silent},
		{name: "unknown to completed", listed: completed, modified: ago(time.Minute), rec: stored(paused, ago(time.Hour)), want: Alert},
		{name: "unknown to in progress", listed: inProgress, modified: ago(time.Minute), rec: stored(paused, ago(time.Hour)), want: Silent},
		// Claims held by another run.
		{name: "live lease on an alert", listed: completed, modified: ago(time.Minute), rec: leased(stored(inProgress, ago(time.Hour)), now.Add(time.Minute)), want: Contended},
		{name: "live lease on a new job", listed: failed, modified: ago(time.Minute), rec: leased(none, now.Add(time.Second)), want: Contended},
		{name: "live lease, status already committed", listed: completed, modified: ago(time.Minute), rec: leased(stored(completed, ago(time.Minute)), now.Add(time.Minute)), want: Contended},
		{name: "lease expiring now is expired", listed: completed, modified: ago(time.Minute), rec: leased(stored(inProgress, ago(time.Hour)), now), want: Alert},
		{name: "expired lease, alert still due", listed: completed, modified: ago(time.Minute), rec: leased(stored(inProgress, ago(time.Hour)), ago(time.Second)), want: Alert},
		{name: "expired lease, nothing to do", listed: inProgress, modified: ago(time.Minute), rec: leased(stored(inProgress, ago(time.Hour)), ago(time.Hour)), want: Unchanged},
		{name: "expired lease on a new job, first run", listed: failed, modified: ago(time.Minute), rec: leased(none, ago(time.Second)), firstRun: true, want: Alert},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules := tt.rules
			if rules.AlertOn == nil && rules.Lookback == 0 {
				rules = defaults
			}
			job := labeling.Job{Name: "job", Status: tt.listed, CreatedAt: tt.modified.Add(-time.Hour), ModifiedAt: tt.modified}
			if got := rules.Decide(job, tt.rec, tt.firstRun, now); got != tt.want {
				t.Errorf("Decide(listed %s at -%v, stored %q, first run %v) = %v, want %v",
					tt.listed, now.Sub(tt.modified), tt.rec.Status, tt.firstRun, got, tt.want)
			}
		})
	}
}

func TestVerdictString(t *testing.T) {
	want := map[Verdict]string{Unchanged: "unchanged", Stale: "stale", Contended: "contended", Baseline: "baseline", Silent: "silent", Alert: "alert"}
	for v, s := range want {
		if v.String() != s {
			t.Errorf("%d.String() = %q, want %q", int(v), v.String(), s)
		}
	}
}
