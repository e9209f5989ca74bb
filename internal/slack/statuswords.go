package slack

import "github.com/labelwatch/labelwatch/internal/labeling"

// statusWords is what messages call each status labeling knows (what the
// status means, its order and urgency, is labeling's).
var statusWords = map[labeling.Status]struct {
	emoji string
	// phrase ends "Labeling job …" and follows a job's name: "completed",
	// "is in progress" (statusClause adds the "is").
	phrase string
}{
	labeling.StatusInitializing: {"⏳", "initializing"},
	labeling.StatusInProgress:   {"🔄", "in progress"},
	labeling.StatusStopping:     {"🚧", "stopping"},
	labeling.StatusCompleted:    {"✅", "completed"},
	labeling.StatusFailed:       {"❌", "failed"},
	labeling.StatusStopped:      {"🛑", "stopped"},
}

// StatusEmoji is the emoji that stands for status s in messages; each of the
// six API statuses has its own, and any other value gets a question mark.
func StatusEmoji(s labeling.Status) string {
	if w, ok := statusWords[s]; ok {
		return w.emoji
	}
	return "❓"
}

// statusPhrase is status s as the end of "Labeling job …": its phrase, or
// for a status labeling does not know, what can be said of it.
func statusPhrase(s labeling.Status) string {
	if w, ok := statusWords[s]; ok {
		return w.phrase
	}
	if s == "" {
		return "in an unknown status"
	}
	return "in status " + string(s)
}

// statusClause is status s as what follows a job's name: "completed" for a
// status a job ends in, "is in progress" for one it is in.
func statusClause(s labeling.Status) string {
	if s.Terminal() {
		return statusPhrase(s)
	}
	return "is " + plainFit(statusPhrase(s), 60)
}

// statusName is the status as the API spells it, for "" a placeholder.
func statusName(s labeling.Status) string {
	if s == "" {
		return "unknown"
	}
	return string(s)
}
