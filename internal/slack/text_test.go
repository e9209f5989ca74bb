package slack

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain text", "plain text"},
		{"<!channel>", "&lt;!channel&gt;"},
		{"<!here> <@U123>", "&lt;!here&gt; &lt;@U123&gt;"},
		{"<https://x|y>", "&lt;https://x|y&gt;"},
		{"&amp;", "&amp;amp;"},
		{"a & b", "a &amp; b"},
		{"`code` *bold* _it_ ~s~ \"q\" 'a'", "`code` *bold* _it_ ~s~ \"q\" 'a'"},
		{"naïve 数据 🚫", "naïve 数据 🚫"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := Escape(tt.in); got != tt.want {
				t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestFitNeverBreaksRunesOrEntities(t *testing.T) {
	inputs := []string{
		strings.Repeat("<", 40),
		strings.Repeat("&>", 30),
		"数据<&>🚫ü" + strings.Repeat("é&", 20),
		"abc",
		"",
		"bad \xff utf8 <",
	}
	for _, in := range inputs {
		full := Escape(in)
		for max := 0; max <= 80; max++ {
			t.Run(fmt.Sprintf("%q/%d", in, max), func(t *testing.T) {
				got := escapeFit(in, max)
				if n := runes(got); n > max {
					t.Errorf("%d runes, limit %d: %q", n, max, got)
				}
				checkMrkdwn(t, "cut", got, false)
				if got != full && max > 0 && !strings.HasSuffix(got, ellipsis) {
					t.Errorf("cut text %q has no ellipsis", got)
				}
				if got != full && !strings.HasPrefix(full, strings.TrimSuffix(got, ellipsis)) {
					t.Errorf("cut text %q is not a prefix of %q", got, full)
				}
			})
		}
	}
}

func TestPlainFit(t *testing.T) {
	long := strings.Repeat("名", 200)
	got := plainFit(long, maxHeaderText)
	if runes(got) != maxHeaderText || !strings.HasSuffix(got, ellipsis) {
		t.Errorf("plainFit: %d runes, want %d ending in an ellipsis", runes(got), maxHeaderText)
	}
	if got := plainFit("a<b>&c\nd", 100); got != "a<b>&c d" {
		t.Errorf("plainFit escaped or kept a line break: %q", got)
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{45 * time.Second, "45s"},
		{4*time.Minute + 5*time.Second, "4m 5s"},
		{3*time.Hour + 12*time.Minute + 59*time.Second, "3h 12m"},
		{3*time.Hour + 12*time.Minute, "3h 12m"},
		{50 * time.Hour, "2d 2h"},
	}
	for _, tt := range tests {
		t.Run(tt.d.String(), func(t *testing.T) {
			if got := Duration(tt.d); got != tt.want {
				t.Errorf("Duration(%v) = %q, want %q", tt.d, got, tt.want)
			}
		})
	}
}

func TestSlackDate(t *testing.T) {
	tests := []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 11, 29, 10, 58, 7, 0, time.UTC), "<!date^1795949887^{date_short_pretty} {time}|2026-11-29 10:58 UTC>"},
		{time.Date(2026, 11, 29, 11, 58, 7, 0, time.FixedZone("CET", 3600)), "<!date^1795949887^{date_short_pretty} {time}|2026-11-29 10:58 UTC>"},
		{time.Time{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.at.String(), func(t *testing.T) {
			if got := slackDate(tt.at); got != tt.want {
				t.Errorf("slackDate = %q, want %q", got, tt.want)
			}
		})
	}
}
