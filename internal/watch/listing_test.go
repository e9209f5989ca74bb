package watch

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/labelwatch/labelwatch/internal/labeling"
)

// TestListedSeen checks which listed jobs the next cursor remembers: those
// modified inside its overlap window, each as listed, and none listed twice
// differently (the cycle acted on one listing of it only).
func TestListingSeen(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	job := func(name string, status labeling.Status, modified time.Time) labeling.Job {
		return labeling.Job{Name: name, Status: status, ModifiedAt: modified}
	}
	c := newListing()
	for _, j := range []labeling.Job{
		job("once", labeling.StatusInProgress, at),
		job("twice-alike", labeling.StatusCompleted, at.Add(-time.Minute)),
		job("twice-apart", labeling.StatusInProgress, at.Add(-time.Minute)),
		job("before-window", labeling.StatusInProgress, at.Add(-10*time.Minute)),
		job("twice-alike", labeling.StatusCompleted, at.Add(-time.Minute)),
		job("twice-apart", labeling.StatusCompleted, at.Add(-time.Minute)),
	} {
		c.add(j)
	}
	if c.listed != 6 || !c.newest.Equal(at) {
		t.Errorf("listed %d, newest %v; want 6 and %v", c.listed, c.newest, at)
	}
	seen := c.seenAfter(at.Add(-10 * time.Minute))
	if got := slices.Sorted(maps.Keys(seen)); !slices.Equal(got, []string{"once", "twice-alike"}) {
		t.Errorf("seen %v, want [once twice-alike]", got)
	}
	if l := seen["twice-alike"]; l.Status != labeling.StatusCompleted || !l.ModifiedAt.Equal(at.Add(-time.Minute)) {
		t.Errorf("twice-alike seen as %+v", l)
	}
}
