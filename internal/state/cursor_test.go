package state

import (
	"testing"
	"time"

	"github.com/labelwatch/labelwatch/internal/labeling"
)

func TestCursorSaw(t *testing.T) {
	at := t0.Add(250 * time.Millisecond)
	c := Cursor{At: t0, Seen: map[string]Listing{"job-1": {ModifiedAt: at, Status: labeling.StatusInProgress}}}
	job := func(name string, status labeling.Status, modified time.Time) labeling.Job {
		return labeling.Job{Name: name, Status: status, ModifiedAt: modified}
	}
	tests := []struct {
		name string
		job  labeling.Job
		want bool
	}{
		{"as seen", job("job-1", labeling.StatusInProgress, at), true},
		{"as seen, to the millisecond", job("job-1", labeling.StatusInProgress, at.Add(999*time.Microsecond)), true},
		{"modified since", job("job-1", labeling.StatusInProgress, at.Add(time.Millisecond)), false},
		{"an older listing", job("job-1", labeling.StatusInProgress, at.Add(-time.Millisecond)), false},
		{"changed in the same millisecond", job("job-1", labeling.StatusCompleted, at), false},
		{"never seen", job("job-2", labeling.StatusInProgress, at), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.Saw(tt.job); got != tt.want {
				t.Errorf("Saw(%s %s @%s) = %v, want %v", tt.job.Name, tt.job.Status, tt.job.ModifiedAt.Format(time.RFC3339Nano), got, tt.want)
			}
		})
	}
	if (Cursor{}).Saw(job("job-1", labeling.StatusInProgress, at)) {
		t.Errorf("an unset cursor saw a job")
	}
}
