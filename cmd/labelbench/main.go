// Command labelbench measures labelwatch's cycle at account scale and writes
// the results as docs/PERFORMANCE.md. It runs the real Lambda bootstrap under
// the Runtime Interface Emulator against the SageMaker emulator, dynalite
// (behind a proxy that adds latency and counts calls) and testenv's Slack,
// all on loopback, and reports time, calls against the least possible,
// memory, cold start and the size of the deployed binary: of the scheduled
// cycle, of labeling job state change events pushed to one warm function,
// and of a quiet cycle of a function watching ten sources (sources.go).
// Issue 19's scenarios, at 20 ms per AWS call: the quiet cycle's median
// wall beside the floor's (quietfloor.go); and, on moto's DynamoDB, which
// has the TransactWriteItems dynalite lacks (motorig.go), a storm of
// endings in one run, beside the same storm run by the function built from
// an older commit (storm.go), and a first run into an account of jobs in
// progress (busyfirstrun.go). It measures and reports; its tests judge
// (main_test.go, sources_test.go, storm_test.go).
//
//	go run ./cmd/labelbench -out docs/PERFORMANCE.md
//
// It needs what `make test` installs: dynalite (node_modules) and
// aws-lambda-rie (.bin); and moto (Python) for the scenarios on moto, which
// without it are reported not measured.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labelwatch/labelwatch/internal/testenv"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "labelbench:", err)
		os.Exit(1)
	}
}

// options are the benchmark's settings; the defaults are the scenarios of
// issue 4.
type options struct {
	out        string
	jobs       int             // jobs in the account
	steady     int             // jobs modified in the steady cycle
	burst      int             // jobs modified in the burst cycle
	latencies  []time.Duration // added to every AWS call, one run each
	paced      bool            // also run steady and burst with the default Slack pace
	coldStarts int             // cold starts to time
	arm64      bool            // build the deployed arm64 bootstrap and report its size
	only       map[string]bool // scenario names to run; all when empty
	share      bool            // also run the function at its deployed CPU share, where a quota can be set
	sizes      []int           // memory sizes (MB) to measure quiet and burst at, ascending
	profile    bool            // take a CPU profile of the burst at the last latency
	scale      []int           // account sizes of the scale curve
	firstRun   []int           // account sizes to deploy into for the first time
	// firstRunTimeout and firstRunMargin are the function's
	// AWS_LAMBDA_FUNCTION_TIMEOUT and DEADLINE_MARGIN in a first deploy
	// (0: the function's default margin).
	firstRunTimeout, firstRunMargin time.Duration
	push                            int  // state change events pushed one after another, at budgetPushAt; 0 for none
	sources                         bool // also measure a quiet run of ten sources
	// Issue 19's scenarios, at budgetIssue19At; 0 or "" for none.
	storm        int    // labeling jobs ending in one run, on moto
	before       string // the commit whose function runs the storm beside this tree's
	busyFirstRun int    // jobs in progress at a first run, on moto
	quietRuns    int    // runs of the quiet cycle beside the floor, for the median wall
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("labelbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := options{}
	fs.StringVar(&o.out, "out", "docs/PERFORMANCE.md", "write the report here (- for standard output)")
	fs.IntVar(&o.jobs, "jobs", 100_000, "labeling jobs in the account")
	fs.IntVar(&o.steady, "steady", 100, "jobs modified in the steady cycle (a tenth finish, a tenth start)")
	fs.IntVar(&o.burst, "burst", 10_000, "jobs modified in the burst cycle (a tenth finish, a tenth start)")
	latencies := fs.String("latency", "0s,20ms", "comma-separated latencies added to every AWS call; one run of each scenario per latency")
	fs.BoolVar(&o.paced, "paced", true, "also run steady and burst with the default SLACK_PACE at the first latency")
	fs.IntVar(&o.coldStarts, "coldstarts", 21, "cold starts to time (the median is reported)")
	fs.BoolVar(&o.arm64, "arm64", true, "build the deployed linux/arm64 bootstrap (make build-LabelwatchFunction) and report its size")
	fs.IntVar(&o.push, "push", 50, "labeling job state change events to push, one after another, to one warm function (0 for none)")
	fs.BoolVar(&o.share, "share", true, "also run every scenario and the cold starts with the function at the CPU share of the template's MemorySize (needs root and a cgroup cpu controller; off: estimates only)")
	sizes := fs.String("sizes", "128,256,512,1024", "comma-separated memory sizes (MB) at whose CPU share to measure quiet (each latency) and burst (the last latency), with the cost of a month at each; empty for none (needs what -share needs)")
	fs.BoolVar(&o.profile, "profile", true, "take a CPU profile of the burst at the last latency (at the CPU share where it can be set)")
	scale := fs.String("scale", "1000,100000,1000000", "comma-separated account sizes for the scale curve (quiet and burst in each); empty for none")
	firstRun := fs.String("firstrun", "100000", "comma-separated account sizes to deploy into for the first time, invoking until the cursor is set; empty for none")
	fs.DurationVar(&o.firstRunTimeout, "firstrun-timeout", 60*time.Second, "the function's timeout in a first deploy (whole seconds)")
	fs.DurationVar(&o.firstRunMargin, "firstrun-margin", 0, "DEADLINE_MARGIN in a first deploy (0: the function's default)")
	fs.BoolVar(&o.sources, "sources", true, "also measure a quiet run of the function watching ten sources (REGIONS), at the last latency")
	fs.IntVar(&o.storm, "storm", 10_000, "labeling jobs ending in one run (a tenth Failed), at 20ms per AWS call, on moto (0 for none)")
	fs.StringVar(&o.before, "before", "d047384", "the commit whose function also runs the storm, for its CPU (empty for none)")
	fs.IntVar(&o.busyFirstRun, "firstrun-running", 3_000, "jobs in progress at a first run into an empty table, at 20ms per AWS call, on moto (0 for none)")
	fs.IntVar(&o.quietRuns, "quiet-runs", 5, "runs of the quiet cycle at 20ms per AWS call beside the floor, for the median wall (0 for none)")
	only := fs.String("only", "", "comma-separated scenarios to run (quiet, steady, burst, push, sources, storm, firstrun-running, quiet-floor); all when empty")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, s := range strings.Split(*latencies, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil || d < 0 {
			return o, fmt.Errorf("-latency: %q is not a duration such as 0s or 20ms", s)
		}
		o.latencies = append(o.latencies, d)
	}
	var err error
	if o.scale, err = intList("-scale", *scale, 100, 0, "an account size of at least 100"); err != nil {
		return o, err
	}
	if o.firstRun, err = intList("-firstrun", *firstRun, 100, 0, "an account size of at least 100"); err != nil {
		return o, err
	}
	if o.sizes, err = intList("-sizes", *sizes, 128, 10_240, "a Lambda memory size (128 to 10240 MB)"); err != nil {
		return o, err
	}
	slices.Sort(o.sizes)
	o.sizes = slices.Compact(o.sizes)
	if *only != "" {
		o.only = map[string]bool{}
		for _, name := range strings.Split(*only, ",") {
			o.only[strings.TrimSpace(name)] = true
		}
	}
	if o.jobs < 1 || o.steady < 1 || o.burst < 1 || o.coldStarts < 1 {
		return o, errors.New("-jobs, -steady, -burst and -coldstarts must be at least 1")
	}
	if o.push < 0 || o.storm < 0 || o.busyFirstRun < 0 || o.quietRuns < 0 {
		return o, errors.New("-push, -storm, -firstrun-running and -quiet-runs must not be negative")
	}
	return o, nil
}

// intList reads a comma-separated list of whole numbers from least to most
// (no most when 0); want says what each must be.
func intList(name, text string, least, most int, want string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(text, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < least || most > 0 && n > most {
			return nil, fmt.Errorf("%s: %q is not %s", name, f, want)
		}
		out = append(out, n)
	}
	return out, nil
}

// wants reports whether -only lets the named scenario run.
func (o options) wants(name string) bool { return len(o.only) == 0 || o.only[name] }

func run(ctx context.Context, args []string, stderr io.Writer) error {
	opts, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
	rep, err := measureAll(ctx, opts, logf)
	if err != nil {
		return err
	}
	text := rep.render()
	if opts.out == "-" {
		_, err = io.WriteString(os.Stdout, text)
		return err
	}
	if err := os.MkdirAll(filepath.Dir(opts.out), 0o755); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := os.WriteFile(opts.out, []byte(text), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	logf("wrote %s", opts.out)
	return nil
}

// measureAll runs every measurement opts asks for, in the order the report
// shows them but for the other accounts (scale, first deploy), which come
// last so that the main account's memory is freed first.
func measureAll(ctx context.Context, opts options, logf func(string, ...any)) (*report, error) {
	dep, err := readDeployment()
	if err != nil {
		return nil, err
	}
	rep := &report{opts: opts, deployed: dep, started: time.Now(), loadBefore: loadAverage()}
	plan := planShare(cgroupRoot, os.Geteuid(), opts.share)
	share, shareLine := openShare(plan, dep.memoryMB)
	rep.shareLine = shareLine
	logf("%s", shareLine)
	if share != nil {
		defer func() {
			if err := share.Close(); err != nil {
				logf("%v", err)
			}
		}()
	}

	b, err := newBench(ctx, opts, dep, time.Now(), logf)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	rep.cfg = b.cfg
	if err := b.seed(ctx); err != nil {
		return nil, err
	}
	for _, scn := range scenarios(opts) {
		logf("%s: measuring", scn)
		m, err := b.measure(ctx, scn, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", scn, err)
		}
		logf("%s: %v, %d listed, %+v calls", scn, m.invoke.Round(time.Millisecond), m.result.Listed, m.made())
		if share != nil {
			if m.atShare, err = b.measureAtShare(ctx, scn, share); err != nil {
				return nil, fmt.Errorf("%s at the CPU share: %w", scn, err)
			}
		}
		rep.cycles = append(rep.cycles, m)
	}
	if rep.sweep, err = b.sweep(ctx, plan); err != nil {
		return nil, err
	}
	if opts.quietRuns > 0 && opts.wants("quiet-floor") {
		logf("quiet @ %v beside the floor: %d runs", budgetIssue19At, opts.quietRuns)
		if rep.quietFloor, err = b.measureQuietFloor(ctx, opts.quietRuns, share); err != nil {
			return nil, fmt.Errorf("quiet beside the floor: %w", err)
		}
	}
	if opts.profile && opts.wants("burst") {
		last := opts.latencies[len(opts.latencies)-1]
		s := changing("burst", opts.burst, last)
		logf("%s: CPU profile", s)
		pr, err := b.profile(ctx, s, share)
		if err != nil {
			return nil, fmt.Errorf("%s, profiled: %w", s, err)
		}
		rep.profile = &pr
	}
	if opts.push > 0 && opts.wants("push") {
		logf("push: %d events @ %v", opts.push, budgetPushAt)
		p, err := b.push(ctx, opts.push)
		if err != nil {
			return nil, fmt.Errorf("push: %w", err)
		}
		rep.push = &p
	}
	logf("cold start: %d runs", opts.coldStarts)
	if rep.coldStarts, err = b.coldStarts(ctx, opts.coldStarts, nil); err != nil {
		return nil, err
	}
	if share != nil {
		logf("cold start at the CPU share: %d runs", opts.coldStarts)
		if rep.coldStartsShare, err = b.coldStarts(ctx, opts.coldStarts, share); err != nil {
			return nil, fmt.Errorf("at the CPU share: %w", err)
		}
	}
	if opts.arm64 {
		logf("building the linux/arm64 bootstrap")
		if rep.armSize, err = armBootstrapSize(ctx); err != nil {
			return nil, err
		}
	}
	rep.account = b.acct.describe(b.cfg.Overlap)
	b.Close()
	if opts.sources && opts.wants("sources") {
		logf("ten sources: a quiet run")
		if rep.sources, err = measureSources(ctx, dep, opts.latencies[len(opts.latencies)-1], logf); err != nil {
			return nil, fmt.Errorf("ten sources: %w", err)
		}
	}
	if err := measureOnMoto(ctx, opts, dep, share, rep, logf); err != nil {
		return nil, err
	}
	for _, n := range opts.scale {
		logf("scale: %d jobs", n)
		sp, err := scale(ctx, opts, dep, n, opts.latencies[len(opts.latencies)-1], share, logf)
		if err != nil {
			return nil, fmt.Errorf("scale %d: %w", n, err)
		}
		rep.scale = append(rep.scale, sp)
	}
	for _, n := range opts.firstRun {
		logf("first run: %d jobs", n)
		fr, err := firstRun(ctx, opts, dep, n, share, logf)
		if err != nil {
			return nil, fmt.Errorf("first run into %d jobs: %w", n, err)
		}
		rep.firstRuns = append(rep.firstRuns, fr)
	}
	rep.loadAfter = loadAverage()
	rep.finished = time.Now()
	return rep, nil
}

// measureOnMoto runs the scenarios that need TransactWriteItems, which
// dynalite lacks: the storm and the busy first run, on one moto serving one
// request at a time. Without moto they are not measured, and the report
// says so.
func measureOnMoto(ctx context.Context, opts options, dep deployment, share *shareGroup, rep *report, logf func(string, ...any)) error {
	storm := opts.storm > 0 && opts.wants("storm")
	busy := opts.busyFirstRun > 0 && opts.wants("firstrun-running")
	if !storm && !busy {
		return nil
	}
	moto, stop, err := startMotoDynamo(ctx)
	if errors.Is(err, testenv.ErrMotoMissing) {
		rep.motoMissing = err.Error()
		logf("the storm and the busy first run are NOT measured: %v", err)
		return nil
	}
	if err != nil {
		return err
	}
	defer stop()
	if storm {
		if rep.storm, err = measureStorm(ctx, dep, moto, opts.storm, budgetIssue19At, opts.before, share, logf); err != nil {
			return err
		}
	}
	if busy {
		logf("first run into %d jobs in progress", opts.busyFirstRun)
		if rep.busyFirstRun, err = measureBusyFirstRun(ctx, dep, moto, opts.busyFirstRun, budgetIssue19At, share, logf); err != nil {
			return err
		}
	}
	return nil
}
