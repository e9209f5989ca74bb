package slack

import (
	"testing"

	"github.com/labelwatch/labelwatch/internal/labeling"
)

func TestStatusEmojiDistinct(t *testing.T) {
	seen := map[string]labeling.Status{}
	for _, s := range append(append([]labeling.Status{}, labeling.Statuses...), "SomethingNew") {
		e := StatusEmoji(s)
		if e == "" {
			t.Errorf("%s has no emoji", s)
		}
		if other, dup := seen[e]; dup {
			t.Errorf("%s and %s share emoji %s", s, other, e)
		}
		seen[e] = s
	}
	if len(seen) != 7 {
		t.Errorf("%d distinct emoji, want 7", len(seen))
	}
}

// TestStatusWordsAreLabelings keeps statusWords to the statuses labeling
// knows: each has its words, and no other status does.
func TestStatusWordsAreLabelings(t *testing.T) {
	phrases := map[string]labeling.Status{}
	for _, s := range labeling.Statuses {
		w, ok := statusWords[s]
		if !ok {
			t.Errorf("%s has no words", s)
			continue
		}
		if other, dup := phrases[w.phrase]; dup {
			t.Errorf("%s and %s share phrase %q", s, other, w.phrase)
		}
		phrases[w.phrase] = s
	}
	for s := range statusWords {
		if !s.Known() {
			t.Errorf("statusWords has words for %q, a status labeling does not know", s)
		}
	}
}
