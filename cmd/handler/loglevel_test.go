package main

import (
	"strings"
	"testing"
	"time"

	"github.com/labelwatch/labelwatch/internal/labeling"
)

// TestLogLevel checks that LOG_LEVEL sets the level of the function's log:
// at warn, a quiet run writes no line, not even its summary.
func TestLogLevel(t *testing.T) {
	s := newStack(t, "LOG_LEVEL=warn")
	s.emu.Put(labeling.Job{Name: "cats", Status: labeling.StatusInProgress, CreatedAt: time.Now().Add(-time.Hour)})
	if r := s.ok(); r.Listed != 1 {
		t.Fatalf("run = %+v, want one job listed", r)
	}
	s.lambda.Kill() // so Output holds every line written
	out := s.lambda.Output()
	if strings.Contains(out, `"level":"INFO"`) || len(logs(out, "poll complete")) != 0 {
		t.Errorf("the function logged at info with LOG_LEVEL=warn:\n%s", out)
	}
}
