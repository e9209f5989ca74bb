package labeling

// Status is a labeling job's LabelingJobStatus as the API reports it. Values
// outside the six known ones are kept as they are, so a future API value is
// stored and logged rather than rejected.
type Status string

// The six statuses of the ListLabelingJobs API.
const (
	StatusInitializing Status = "Initializing"
	StatusInProgress   Status = "InProgress"
	StatusCompleted    Status = "Completed"
	StatusFailed       Status = "Failed"
	StatusStopping     Status = "Stopping"
	StatusStopped      Status = "Stopped"
)

// statuses is the one table of what labelwatch knows of each status, in the
// order a job moves through them (Statuses).
var statuses = []struct {
	status Status
	// stage is where the status sits in the API's state machine:
	// Initializing -> InProgress -> Stopping -> Completed/Failed/Stopped.
	stage int
	// urgency orders statuses by what needs a reader's attention first.
	urgency  int
	terminal bool // a job in it can change no more
	alerting bool // in DefaultAlerting
}{
	{StatusInitializing, 0, 5, false, false},
	{StatusInProgress, 1, 4, false, false},
	{StatusStopping, 2, 2, false, false},
	{StatusCompleted, 3, 3, true, true},
	{StatusFailed, 3, 0, true, true},
	{StatusStopped, 3, 1, true, true},
}

// Statuses lists the known statuses in the order a job moves through them.
var Statuses = func() []Status {
	out := make([]Status, len(statuses))
	for i, s := range statuses {
		out[i] = s.status
	}
	return out
}()

// DefaultAlerting is the statuses alerted unless ALERT_ON says otherwise:
// every terminal one.
var DefaultAlerting = func() []Status {
	var out []Status
	for _, s := range statuses {
		if s.alerting {
			out = append(out, s.status)
		}
	}
	return out
}()

func (s Status) lookup() (stage, urgency int, terminal, known bool) {
	for _, k := range statuses {
		if k.status == s {
			return k.stage, k.urgency, k.terminal, true
		}
	}
	return -1, len(statuses), false, false
}

// Known reports whether s is one of the six API statuses.
func (s Status) Known() bool {
	_, _, _, known := s.lookup()
	return known
}

// Terminal reports whether a job in status s can change no more.
func (s Status) Terminal() bool {
	_, _, terminal, _ := s.lookup()
	return terminal
}

// Stage is where s sits in the API's state machine, from 0 (Initializing)
// to 3 (the three terminal statuses), or -1 for a status the API did not
// have when this was written: a job never moves to a lower stage, and a
// reading that shows it so is stale.
func (s Status) Stage() int {
	stage, _, _, _ := s.lookup()
	return stage
}

// Urgency orders statuses by what needs attention first: Failed, Stopped,
// Stopping, Completed, InProgress, Initializing, then any unknown status.
func (s Status) Urgency() int {
	_, urgency, _, _ := s.lookup()
	return urgency
}
