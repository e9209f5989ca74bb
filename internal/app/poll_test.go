package app_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"

	"github.com/labelwatch/labelwatch/internal/app"
	"github.com/labelwatch/labelwatch/internal/emulator"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/slack"
	"github.com/labelwatch/labelwatch/internal/state"
	"github.com/labelwatch/labelwatch/internal/testenv"
	"github.com/labelwatch/labelwatch/internal/watch"
)

// TestPollReadsCursorsOnce polls ten sources (the function's own region and
// nine more, each a SageMaker emulator of its own, their stores scopes of
// one table on dynalite, wired as OpenHandler wires them) three times: a
// first run, a poll that finds each source's jobs in progress idle, and a
// quiet poll. Every poll reads the ten cursors with one BatchGetItem and no
// GetItem; the quiet poll makes that one read and no other DynamoDB call,
// and one listing set per source (the jobs modified, the jobs in progress).
// The second poll finds every cursor the first set: a cursor read for one
// invocation is not another's.
func TestPollReadsCursorsOnce(t *testing.T) {
	const table = "labelwatch-ten-sources"
	regions := []string{"us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2", "eu-central-1", "ap-south-1", "ap-northeast-1", "sa-east-1"}
	clock := testenv.NewClock(start)
	proxy := testenv.NewDynamoProxy(testenv.Dynalite(t))
	t.Cleanup(proxy.Close)
	ddb := dynamodb.NewFromConfig(testenv.AWSConfig(proxy.URL))
	testenv.CreateTable(t, ddb, table)
	home := state.NewDynamoStore(ddb, table, 0, clock)
	sl := testenv.NewSlack(t)
	notifier := slack.NewWebhookSender(sl.WebhookURL(), &http.Client{Timeout: 10 * time.Second}, clock)
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	opts := watch.Options{
		Rules:   watch.Rules{AlertOn: map[labeling.Status]bool{labeling.StatusCompleted: true, labeling.StatusFailed: true}, Lookback: time.Hour, StuckAfter: 6 * time.Hour},
		Overlap: 10 * time.Minute, DeadlineMargin: time.Second,
	}

	emus := make([]*emulator.Emulator, len(regions))
	var own *watch.Watcher
	sources := map[string]*watch.Watcher{}
	for i, region := range regions {
		emus[i] = emulator.New(emulator.WithClock(clock), emulator.WithRegion(region))
		for n := range 5 {
			j := labeling.Job{Name: fmt.Sprintf("job-%d", n), Status: labeling.StatusInProgress, CreatedAt: start.Add(-3 * time.Hour), ModifiedAt: start.Add(-2 * time.Hour),
				Counters: labeling.Counters{Total: 100, Human: 40, Unlabeled: 60}}
			if n >= 3 {
				j.Status, j.Counters = labeling.StatusCompleted, labeling.Counters{Total: 100, Human: 100}
			}
			emus[i].Put(j)
		}
		srv := httptest.NewServer(emus[i])
		t.Cleanup(srv.Close)
		sm := sagemaker.NewFromConfig(aws.Config{
			Region: region, Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
			BaseEndpoint: aws.String(srv.URL), HTTPClient: testenv.HTTPClient(),
		})
		scope := region // openSources' key, and the store's scope
		if i == 0 {
			scope = "" // the function's own region keeps the table's keys
		}
		store, err := home.Scope(scope)
		if err != nil {
			t.Fatal(err)
		}
		w := watch.New(labeling.NewSource(sm, labeling.Filter{}), store, notifier, log.With("region", region), clock, opts)
		if i == 0 {
			own = w
		} else {
			sources[scope] = w
		}
	}
	h := app.NewHandler(own, log, io.Discard, function, clock, app.WithSources(sources))

	type calls struct{ get, batch, writes int }
	count := func() calls {
		all := proxy.AllCalls()
		c := calls{get: all["GetItem"], batch: all["BatchGetItem"]}
		for op, n := range all {
			if op != "GetItem" && op != "BatchGetItem" {
				c.writes += n
			}
		}
		return c
	}
	listings := func() []int {
		out := make([]int, len(emus))
		for i, emu := range emus {
			out[i] = emu.Calls("ListLabelingJobs")
		}
		return out
	}
	for _, step := range []struct {
		name     string
		firstRun bool
		quiet    bool // the one cursor read, no other DynamoDB call, and one listing set per source
	}{
		{name: "first run", firstRun: true},
		{name: "jobs in progress found idle"},
		{name: "quiet", quiet: true},
	} {
		clock.Advance(5 * time.Minute)
		before, listedBefore := count(), listings()
		r, err := h.Invoke(t.Context(), scheduled)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		made := count()
		made = calls{made.get - before.get, made.batch - before.batch, made.writes - before.writes}
		// A first run records the jobs in progress; nothing alerts.
		if r.FirstRun != step.firstRun || r.SourcesFailed != 0 || r.Alerted != 0 || r.Pending != 0 || !step.firstRun && r.Transitions != 0 {
			t.Errorf("%s: %+v, want a first run %v, no alert, no failed source", step.name, r.Summary, step.firstRun)
		}
		if made.get != 0 || made.batch < 1 {
			t.Errorf("%s: %d GetItem and %d BatchGetItem, want the cursors read with one BatchGetItem and no GetItem", step.name, made.get, made.batch)
		}
		if !step.quiet {
			continue
		}
		if made != (calls{batch: 1}) {
			t.Errorf("%s: DynamoDB calls %+v, want the one BatchGetItem of the ten cursors", step.name, made)
		}
		if r.Running != 3*len(regions) || r.Unread != r.Listed+r.Running {
			t.Errorf("%s: %d jobs in progress of %d listed, %d unread; want %d in progress, none read", step.name, r.Running, r.Listed, r.Unread, 3*len(regions))
		}
		for i, n := range listings() {
			// One page of the jobs modified since the cursor, one of the
			// jobs in progress.
			if n-listedBefore[i] != 2 {
				t.Errorf("%s: %s listed %d pages, want 2", step.name, regions[i], n-listedBefore[i])
			}
		}
	}
	if n := len(sl.Calls()); n != 0 {
		t.Errorf("%d Slack messages, want none", n)
	}
}
