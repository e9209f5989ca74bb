package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestShareQuota(t *testing.T) {
	tests := []struct{ memoryMB, want int }{
		{128, 7236},
		{512, 28943},
		{1769, quotaPeriodUS}, // one vCPU
	}
	for _, tt := range tests {
		if got := shareQuotaUS(tt.memoryMB); got != tt.want {
			t.Errorf("quota for %d MB: got %d µs per %d, want %d", tt.memoryMB, got, quotaPeriodUS, tt.want)
		}
	}
}

// TestOpenShare decides, with a temporary directory standing in for
// /sys/fs/cgroup, whether a quota can be set and what the report says.
func TestOpenShare(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t *testing.T, root string) // lays out the stand-in cgroup fs
		euid   int
		wanted bool
		// quota is the file and content the quota lands in, relative to
		// root; empty when no quota can be set.
		quota, content string
		line           string // the report line holds this
	}{
		{"asked not to", v1, 0, false, "", "", "CPU share: **not measured** (-share=false)"},
		{"not root", v1, 1000, true, "", "", "CPU share: **not measured** (not running as root)"},
		{"no cgroup fs", func(*testing.T, string) {}, 0, true, "", "", "CPU share: **not measured** (no cgroup cpu controller at "},
		{"cgroup v2 without cpu", func(t *testing.T, root string) { write(t, root, "cgroup.controllers", "memory pids") }, 0, true, "", "",
			"has no cpu controller"},
		{"cgroup v1", v1, 0, true, "cpu/labelbench-fn-*/cpu.cfs_quota_us", "7236", "cgroup v1"},
		{"cgroup v2", func(t *testing.T, root string) { write(t, root, "cgroup.controllers", "cpuset cpu io memory") }, 0, true,
			"labelbench-fn-*/cpu.max", "7236 100000", "cgroup v2"},
		{"says its memory size", v1, 0, true, "cpu/labelbench-fn-*/cpu.cfs_quota_us", "7236", "7236 per 100000 µs: 128 MB of the 1,769 MB"},
		{"cgroup v1 read-only", func(t *testing.T, root string) {
			v1(t, root)
			if err := os.Chmod(filepath.Join(root, "cpu"), 0o555); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = os.Chmod(filepath.Join(root, "cpu"), 0o755) })
		}, 0, true, "", "", "CPU share: **not measured** (make cgroup: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "cgroup v1 read-only" && os.Geteuid() == 0 {
				t.Skip("root writes to a read-only directory")
			}
			root := t.TempDir()
			tt.setup(t, root)
			g, line := openShare(planShare(root, tt.euid, tt.wanted), 128)
			if !strings.Contains(line, tt.line) {
				t.Errorf("report line %q lacks %q", line, tt.line)
			}
			if tt.quota == "" {
				if g != nil {
					t.Errorf("made cgroup %s; want none", g.dir)
				}
				if !strings.Contains(line, "estimate") {
					t.Errorf("report line %q does not say the figures are estimates", line)
				}
				return
			}
			if g == nil {
				t.Fatalf("no cgroup made: %s", line)
			}
			files, _ := filepath.Glob(filepath.Join(root, tt.quota))
			if len(files) != 1 {
				t.Fatalf("quota file %s: found %v", tt.quota, files)
			}
			if b, _ := os.ReadFile(files[0]); string(b) != tt.content {
				t.Errorf("%s holds %q, want %q", tt.quota, b, tt.content)
			}
			if err := g.enter(4242); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(g.procs()); string(b) != "4242" {
				t.Errorf("cgroup.procs holds %q, want 4242", b)
			}
			// A real cgroup fs empties cgroup.procs when the process
			// leaves; the stand-in needs the files gone for the removal.
			g.leave(4242)
			if b, _ := os.ReadFile(filepath.Join(g.plan.parent, "cgroup.procs")); string(b) != "4242" {
				t.Errorf("parent cgroup.procs holds %q, want 4242", b)
			}
			entries, _ := os.ReadDir(g.dir)
			for _, e := range entries {
				_ = os.Remove(filepath.Join(g.dir, e.Name()))
			}
			if err := g.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(g.dir); !os.IsNotExist(err) {
				t.Errorf("cgroup %s still there after Close", g.dir)
			}
		})
	}
}

func v1(t *testing.T, root string) {
	t.Helper()
	write(t, root, "cpu/cpu.cfs_quota_us", "-1")
}

func write(t *testing.T, root, name, content string) {
	t.Helper()
	path := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
