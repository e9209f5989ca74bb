package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Lambda's CPU share: one vCPU at 1,769 MB, in proportion below that, as a
// CFS quota per period.
const (
	oneVCPUMB     = 1769
	quotaPeriodUS = 100_000
	cgroupRoot    = "/sys/fs/cgroup" // where Linux mounts the cgroup hierarchies
)

// shareQuotaUS is the CPU share of a function of memoryMB as a CFS quota
// per quotaPeriodUS: 7236 µs for 128 MB.
func shareQuotaUS(memoryMB int) int { return (quotaPeriodUS*memoryMB + oneVCPUMB/2) / oneVCPUMB }

// sharePercent is the CPU share of a function of memoryMB in percent of a
// core.
func sharePercent(memoryMB int) float64 { return 100 * float64(shareQuotaUS(memoryMB)) / quotaPeriodUS }

// sharePlan is where a CPU quota can be set, or why it cannot.
type sharePlan struct {
	// parent is the cgroup directory the function's cgroup is made in:
	// ROOT/cpu for cgroup v1, ROOT for v2. Empty when no quota can be set.
	parent string
	v2     bool
	reason string // why no quota can be set; empty when one can
}

// planShare decides whether the function can run at its CPU share here:
// only when asked (-share), as root, with the cpu controller of cgroup v1
// (ROOT/cpu/cpu.cfs_quota_us) or of cgroup v2 (cpu in
// ROOT/cgroup.controllers) mounted at root.
func planShare(root string, euid int, wanted bool) sharePlan {
	switch {
	case !wanted:
		return sharePlan{reason: "-share=false"}
	case euid != 0:
		return sharePlan{reason: "not running as root"}
	}
	if _, err := os.Stat(filepath.Join(root, "cpu", "cpu.cfs_quota_us")); err == nil {
		return sharePlan{parent: filepath.Join(root, "cpu")}
	}
	b, err := os.ReadFile(filepath.Join(root, "cgroup.controllers"))
	switch {
	case err != nil:
		return sharePlan{reason: fmt.Sprintf("no cgroup cpu controller at %s (neither cgroup v1 cpu/ nor v2)", root)}
	case !slices.Contains(strings.Fields(string(b)), "cpu"):
		return sharePlan{reason: fmt.Sprintf("the cgroup v2 hierarchy at %s has no cpu controller", root)}
	}
	return sharePlan{parent: root, v2: true}
}

// openShare makes the function's cgroup at the CPU share of memoryMB when
// p allows one, and returns it (nil when there is none) with the report's
// line on the CPU share. Failing to make one is not an error: the run goes
// on at full core and says so.
func openShare(p sharePlan, memoryMB int) (*shareGroup, string) {
	g, err := newShareGroup(p, fmt.Sprintf("labelbench-fn-%d", os.Getpid()), memoryMB)
	if err != nil {
		return nil, fmt.Sprintf("CPU share: **not measured** (%s); the at-share figures are estimates (wall + function CPU × (%d/%d − 1)), marked *estimate*",
			strings.TrimPrefix(err.Error(), "no quota can be set: "), oneVCPUMB, memoryMB)
	}
	return g, g.describe()
}

// shareGroup is a cgroup holding only the function process, at the CPU
// share of its memory size.
type shareGroup struct {
	plan     sharePlan
	dir      string
	memoryMB int
}

// newShareGroup makes the cgroup name under p.parent with the quota of
// memoryMB set.
func newShareGroup(p sharePlan, name string, memoryMB int) (*shareGroup, error) {
	if p.parent == "" {
		return nil, errors.New("no quota can be set: " + p.reason)
	}
	g := &shareGroup{plan: p, dir: filepath.Join(p.parent, name), memoryMB: memoryMB}
	if err := os.Mkdir(g.dir, 0o755); err != nil {
		return nil, fmt.Errorf("make cgroup: %w", err)
	}
	quota := shareQuotaUS(memoryMB)
	var err error
	if p.v2 {
		// The parent must hand the cpu controller down; the root of a v2
		// hierarchy usually does already, and writing it again is harmless.
		_ = os.WriteFile(filepath.Join(p.parent, "cgroup.subtree_control"), []byte("+cpu"), 0o644)
		err = os.WriteFile(filepath.Join(g.dir, "cpu.max"), fmt.Appendf(nil, "%d %d", quota, quotaPeriodUS), 0o644)
	} else if err = os.WriteFile(filepath.Join(g.dir, "cpu.cfs_period_us"), []byte(strconv.Itoa(quotaPeriodUS)), 0o644); err == nil {
		err = os.WriteFile(filepath.Join(g.dir, "cpu.cfs_quota_us"), []byte(strconv.Itoa(quota)), 0o644)
	}
	if err != nil {
		_ = os.Remove(g.dir)
		return nil, fmt.Errorf("set CPU quota in %s: %w", g.dir, err)
	}
	return g, nil
}

// procs is the file that moves a process into this cgroup.
func (g *shareGroup) procs() string { return filepath.Join(g.dir, "cgroup.procs") }

// enter moves pid, and only pid, into the cgroup. A nil group is a full
// core: pid stays where it is.
func (g *shareGroup) enter(pid int) error {
	if g == nil {
		return nil
	}
	if err := os.WriteFile(g.procs(), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("move process %d into %s: %w", pid, g.dir, err)
	}
	return nil
}

// leave moves pid back to the parent cgroup; a process that has exited has
// left already. A nil group has nothing to leave.
func (g *shareGroup) leave(pid int) {
	if g != nil {
		_ = os.WriteFile(filepath.Join(g.plan.parent, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644)
	}
}

// Close removes the cgroup, which must be empty by then.
func (g *shareGroup) Close() error {
	if err := os.Remove(g.dir); err != nil {
		return fmt.Errorf("remove cgroup: %w", err)
	}
	return nil
}

// describe is the report's line on the CPU share.
func (g *shareGroup) describe() string {
	file, version := "cpu.cfs_quota_us", "v1"
	if g.plan.v2 {
		file, version = "cpu.max", "v2"
	}
	return fmt.Sprintf("CPU share: measured. The function process alone (not the emulators, dynalite or this benchmark) ran in cgroup %s `%s` with %s %d per %d µs: %d MB of the 1,769 MB that get one vCPU (%.1f%% of a core)",
		version, g.dir, file, shareQuotaUS(g.memoryMB), quotaPeriodUS, g.memoryMB, sharePercent(g.memoryMB))
}
