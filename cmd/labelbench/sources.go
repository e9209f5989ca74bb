package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/labelwatch/labelwatch/internal/app"
	"github.com/labelwatch/labelwatch/internal/emulator"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

// The account of every source of the ten-source run: a thousand jobs, of
// them a hundred and twenty in progress (two pages of their listing), the
// newest modified two hours before the run, long before OVERLAP.
const (
	sourceJobs    = 1000
	sourceRunning = 120
	// maxWarmUps bounds the invocations before the measured one.
	maxWarmUps = 6
)

// sourceRegions are the ten sources of the ten-source run: the function's
// own region (testenv.LambdaEnviron's AWS_REGION) first, then the nine
// others of its account that REGIONS names.
func sourceRegions() []string {
	return []string{"us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2", "eu-central-1", "ap-south-1", "ap-northeast-1", "sa-east-1"}
}

// sourcesRun is a quiet run of the function watching ten sources, with
// what it did and cost.
type sourcesRun struct {
	regions  []string
	latency  time.Duration // on every AWS call of the measured run
	warmUps  []app.Result  // the invocations before it: every source's first run (resumed if need be), then a clean cycle
	result   app.Result
	invoke   time.Duration
	listings []int          // the ListLabelingJobs calls of each source, in the order of regions
	smErrors int            // SageMaker answers other than 200 OK
	ddb      map[string]int // DynamoDB calls by operation
	posts    int            // Slack posts
}

// sourceListings is the budget of one source's quiet listing: one page of
// the jobs modified since its cursor (none are) and one per hundred jobs in
// progress.
func sourceListings() int { return 1 + (sourceRunning+99)/100 }

// reads and writes are the run's DynamoDB calls of each kind.
func (s *sourcesRun) reads() int { return ddbReads(s.ddb) }

// readOps names the read calls made, with their counts.
func (s *sourcesRun) readOps() string {
	return ddbOps(map[string]int{"GetItem": s.ddb["GetItem"], "BatchGetItem": s.ddb["BatchGetItem"]})
}

func (s *sourcesRun) writes() int { return ddbWrites(s.ddb) }

// measureSources starts the function as deployed, with REGIONS naming nine
// regions beside its own, against one SageMaker endpoint serving each of the
// ten regions its own account (emulator.Estate tells them apart by the
// SigV4 signing region) and dynalite behind testenv's counting proxy. It
// invokes the scheduled event twice (every source's first run, then a cycle
// that finds each source's jobs in progress idle) and measures the third,
// a quiet run, with latency on every AWS call.
func measureSources(ctx context.Context, dep deployment, latency time.Duration, logf func(string, ...any)) (*sourcesRun, error) {
	run := &sourcesRun{regions: sourceRegions(), latency: latency}
	var cl closers
	defer cl.Close()
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	dynalite, err := testenv.StartDynalite(startCtx)
	if err != nil {
		return nil, err
	}
	cl.Cleanup(func() { _ = dynalite.Close() })
	if err := testenv.CreateStateTable(startCtx, dynamodb.NewFromConfig(testenv.AWSConfig(dynalite.URL)), table); err != nil {
		return nil, err
	}
	proxy := testenv.NewDynamoProxy(dynalite.URL)
	cl.Cleanup(proxy.Close)
	estate := emulator.NewEstate(testenv.LambdaAccount)
	emus := make([]*emulator.Emulator, len(run.regions))
	newest := time.Now().Add(-2 * time.Hour).Truncate(time.Millisecond)
	for i, region := range run.regions {
		emus[i] = estate.Add(emulator.Place{Account: testenv.LambdaAccount, Region: region})
		for _, j := range sourceAccount(newest) {
			emus[i].Put(j)
		}
	}
	sm := newProbe(estate)
	cl.Cleanup(sm.Close)
	slack := testenv.NewSlack(&cl)

	env := slices.DeleteFunc(dep.fn.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "SLACK_SECRET_ARN=") })
	env = append(env,
		"AWS_ENDPOINT_URL_SAGEMAKER="+sm.URL, "AWS_ENDPOINT_URL_DYNAMODB="+proxy.URL,
		"SLACK_WEBHOOK_URL="+slack.WebhookURL(), "SLACK_PACE=0s",
		"REGIONS="+strings.Join(run.regions[1:], ","))
	l, err := testenv.LaunchLambda(dep.bootstrap, env...)
	if err != nil {
		return nil, err
	}
	fn := &function{Lambda: l}
	defer fn.Close()
	event, err := scheduledEvent()
	if err != nil {
		return nil, err
	}
	// Warm up until a cycle after every source's first run ran clean. Ten
	// first runs at once write 1,200 records to the one dynalite; on a
	// loaded machine some time out, and the next invocation resumes them,
	// as Lambda's would.
	for attempt := 1; ; attempt++ {
		warm, _, _, err := fn.invoke(ctx, event)
		if err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
		run.warmUps = append(run.warmUps, warm)
		if warm.ErrorMessage == "" && !warm.FirstRun && len(run.warmUps) >= 2 {
			break
		}
		if attempt == maxWarmUps {
			return nil, fmt.Errorf("warm-up: no clean cycle after every source's first run in %d invocations; the last: %s\n%s", attempt, warm.ErrorMessage, fn.Output())
		}
	}

	listed := func() []int {
		out := make([]int, len(emus))
		for i, emu := range emus {
			out[i] = emu.Calls("ListLabelingJobs")
		}
		return out
	}
	listedBefore, ddbBefore, postsBefore, failedBefore := listed(), proxy.AllCalls(), len(slack.Calls()), sm.failed.Load()
	setLatency := func(d time.Duration) {
		for _, emu := range emus {
			emu.SetLatency(d)
		}
		proxy.SetLatency(d)
	}
	setLatency(latency)
	run.result, _, run.invoke, err = fn.invoke(ctx, event)
	setLatency(0)
	if err != nil {
		return nil, err
	}
	for i, n := range listed() {
		run.listings = append(run.listings, n-listedBefore[i])
	}
	run.ddb = counters{ddb: proxy.AllCalls()}.minus(counters{ddb: ddbBefore}).ddb
	run.posts, run.smErrors = len(slack.Calls())-postsBefore, int(sm.failed.Load()-failedBefore)
	logf("ten sources: %v, listings %v, DynamoDB %s", run.invoke.Round(time.Millisecond), run.listings, ddbOps(run.ddb))
	return run, nil
}

// sourceAccount is the jobs of one source: sourceJobs of them, last modified
// over the 30 days up to newest, the newest sourceRunning in progress, the
// others Completed.
func sourceAccount(newest time.Time) []labeling.Job {
	step := history / sourceJobs
	jobs := make([]labeling.Job, sourceJobs)
	for i := range jobs {
		modified := newest.Add(-time.Duration(sourceJobs-1-i) * step)
		j := labeling.Job{
			Name:      fmt.Sprintf("source-job-%04d", i),
			CreatedAt: modified.Add(-time.Hour), ModifiedAt: modified,
			Status:   labeling.StatusInProgress,
			Counters: labeling.Counters{Total: 900, Human: 600, Machine: 300, Unlabeled: 100},
		}
		if i < sourceJobs-sourceRunning {
			end(&j, labeling.StatusCompleted)
		}
		jobs[i] = j
	}
	return jobs
}

// scheduledEvent is the schedule's event, which polls.
func scheduledEvent() ([]byte, error) {
	root, err := testenv.RepoRoot()
	if err != nil {
		return nil, err
	}
	event, err := os.ReadFile(filepath.Join(root, "events", "scheduled.json"))
	if err != nil {
		return nil, fmt.Errorf("read the scheduled event: %w", err)
	}
	return event, nil
}

// sourcesBudget states the ten-source run's budget beside what it made.
func (s *sourcesRun) sourcesBudget() [2]string {
	total := 0
	for _, n := range s.listings {
		total += n
	}
	return [2]string{
		fmt.Sprintf("Quiet run of %d sources (`REGIONS`: %d regions beside the function's own): one listing set a source (%d ListLabelingJobs calls: one of jobs modified, one per 100 of its %d jobs in progress), one DynamoDB read in all (the %d cursors in one BatchGetItem), no write",
			len(s.regions), len(s.regions)-1, sourceListings(), sourceRunning, len(s.regions)),
		fmt.Sprintf("ListLabelingJobs %s a source (%d in all); %d read(s) (%s); %d write(s); wall %s",
			strings.Trim(fmt.Sprint(s.listings), "[]"), total, s.reads(), s.readOps(), s.writes(), ms(s.invoke)),
	}
}

// renderSources writes the ten-source run.
func (r *report) renderSources(p func(string, ...any), row func(...any)) {
	s := r.sources
	p("\n## Ten sources: a quiet run\n\n")
	p("One function watching %d sources: its own region (%s) and, by `REGIONS`, %d more of its account (%s). One SageMaker endpoint (`emulator.Estate`) serves each region's jobs to the client that signs for it (the SigV4 signing region), each region an emulator of its own; the state of all is in one table, each source's store a scope of it (`state.DynamoStore.Scope`). Each source has %d jobs, %d of them in progress, none modified within `OVERLAP`. The function is the deployed bootstrap under the Runtime Interface Emulator, configured as `template.yaml` deploys it but for `REGIONS`, the endpoints and the webhook; it is invoked %d times, not measured (every source's first run, resumed by the next invocation where one timed out, then a clean cycle that finds each source's jobs in progress idle), then the quiet run below, %v per AWS call. Every source reads its cursor as it starts: the poll reads the %d cursors with one BatchGetItem (`state.WithCursorBatch`), where each source made a GetItem. Budgets are stated beside what was measured; `TestTenSources` judges the calls.\n\n",
		len(s.regions), s.regions[0], len(s.regions)-1, strings.Join(s.regions[1:], ", "), sourceJobs, sourceRunning, len(s.warmUps), s.latency, len(s.regions))
	p("| Source | ListLabelingJobs calls | Budget |\n| --- | ---: | ---: |\n")
	total := 0
	for i, region := range s.regions {
		total += s.listings[i]
		row(region, s.listings[i], sourceListings())
	}
	row("**all ten**", fmt.Sprintf("**%d**", total), fmt.Sprintf("**%d**", sourceListings()*len(s.regions)))
	p("\n| DynamoDB | Calls | Budget |\n| --- | ---: | ---: |\n")
	row("Reads ("+s.readOps()+")", s.reads(), 1)
	row("Writes", s.writes(), 0)
	p("\n- Result: %d listed, %d in progress (%d decided without a read), %d transitions, %d Slack posts, %d sources failed; wall %s (the handler's own: %d ms).\n",
		s.result.Listed, s.result.Running, s.result.Unread, s.result.Transitions, s.posts, s.result.SourcesFailed, ms(s.invoke), s.result.DurationMS)
	if s.smErrors > 0 {
		p("- The SageMaker emulator answered %d calls with an error.\n", s.smErrors)
	}
}
