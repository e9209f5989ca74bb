package main

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/labelwatch/labelwatch/internal/config"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/state"
)

// history is how far back the account's jobs were last modified.
const history = 30 * 24 * time.Hour

// account is the simulated SageMaker account: jobs last modified uniformly
// over the 30 days before its cursor, most of them finished.
type account struct {
	jobs         []labeling.Job
	inProgress   []string // names, in creation order
	initializing []string
	// recent is how many jobs a uniform history puts in the overlap window
	// before the cursor (OVERLAP, 10 minutes): the jobs every cycle lists
	// again, whatever changed.
	recent int
	cursor time.Time // the newest modification in the seeded state

	finished, started int // jobs used up by scenarios so far
}

func newAccount(o options, now time.Time) *account {
	// The account's clock runs a day ahead of the real one, which the
	// function reads: its cursor is then the newest modification listed,
	// as in an account whose jobs changed just before the run (not the
	// listing's start, which it would be for jobs older than the run).
	// Each scenario happens an hour after the one before, so every one of
	// them stays ahead of the real clock.
	a := &account{cursor: now.Add(24 * time.Hour).Truncate(time.Millisecond)}
	a.recent = max(1, int(int64(o.jobs)*int64(config.DefaultOverlap)/int64(history)))
	step := history / time.Duration(o.jobs)
	for i := range o.jobs {
		modified := a.cursor.Add(-time.Duration(o.jobs-1-i) * step)
		j := labeling.Job{
			Name:          fmt.Sprintf("bench-job-%06d", i),
			CreatedAt:     modified.Add(-time.Hour),
			ModifiedAt:    modified,
			Workteam:      "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/bench-team",
			InputManifest: fmt.Sprintf("s3://bench-bucket/input/bench-job-%06d.manifest", i),
			Counters:      labeling.Counters{Total: 900, Human: 600, Machine: 300, Unlabeled: 100},
		}
		switch i % 20 {
		case 0, 1, 2: // 15%
			j.Status = labeling.StatusInProgress
			a.inProgress = append(a.inProgress, j.Name)
		case 3: // 5%
			j.Status = labeling.StatusInitializing
			j.Counters = labeling.Counters{Unlabeled: 1000}
			a.initializing = append(a.initializing, j.Name)
		case 4:
			j.Status = labeling.StatusFailed
			j.FailureReason = "ClientError: The manifest file could not be read from s3://bench-bucket/input."
		case 5:
			j.Status = labeling.StatusStopped
		default: // 70%
			j.Status = labeling.StatusCompleted
			j.Counters = labeling.Counters{Total: 1000, Human: 700, Machine: 300}
			j.OutputManifest = fmt.Sprintf("s3://bench-bucket/output/bench-job-%06d/manifests/output/output.manifest", i)
		}
		a.jobs = append(a.jobs, j)
	}
	return a
}

func (a *account) describe() string {
	return fmt.Sprintf("%d jobs (70%% Completed, 5%% Failed, 5%% Stopped, 15%% InProgress, 5%% Initializing), "+
		"last modified uniformly over the %d days before the cursor, so %d of them fall in the %v overlap window",
		len(a.jobs), int(history.Hours()/24), a.recent, config.DefaultOverlap)
}

// seed puts the account into the emulator and its state into DynamoDB, as a
// completed baseline cycle would leave it, and sets the cursor. It writes
// items with parallel BatchWriteItem, cloned from items the store itself
// wrote, so that the format stays the store's.
func (b *bench) seed(ctx context.Context) error {
	start := time.Now()
	for _, j := range b.acct.jobs {
		b.emu.Put(j)
	}
	oldest := b.acct.jobs[0].ModifiedAt
	templates := map[labeling.Status]map[string]types.AttributeValue{}
	for _, s := range labeling.Statuses {
		name := "bench-template-" + string(s)
		if err := b.store.Save(ctx, state.Record{Job: name}, state.Record{Job: name, Status: s, ModifiedAt: oldest}); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		out, err := b.direct.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String(table), Key: itemKey(name), ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			return fmt.Errorf("seed: read template item: %w", err)
		}
		templates[s] = out.Item
	}

	const perBatch = 25 // BatchWriteItem's limit
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for lo := 0; lo < len(b.acct.jobs); lo += perBatch {
		chunk := b.acct.jobs[lo:min(lo+perBatch, len(b.acct.jobs))]
		g.Go(func() error {
			writes := make([]types.WriteRequest, len(chunk))
			for i, j := range chunk {
				item := maps.Clone(templates[j.Status])
				maps.Copy(item, itemKey(j.Name))
				writes[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: item}}
			}
			for attempt := 0; len(writes) > 0; attempt++ {
				if attempt == 10 {
					return fmt.Errorf("seed: %d items still unprocessed", len(writes))
				}
				out, err := b.direct.BatchWriteItem(gctx, &dynamodb.BatchWriteItemInput{
					RequestItems: map[string][]types.WriteRequest{table: writes},
				})
				if err != nil {
					return fmt.Errorf("seed: batch write: %w", err)
				}
				writes = out.UnprocessedItems[table]
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := b.checkSeed(ctx); err != nil {
		return err
	}
	if err := b.store.AdvanceCursor(ctx, state.Cursor{At: b.acct.cursor}); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	b.logf("seeded %d jobs in %v", len(b.acct.jobs), time.Since(start).Round(time.Millisecond))
	return nil
}

// checkSeed reads a spread of the seeded jobs through the store and checks
// it sees the status each job is listed with.
func (b *bench) checkSeed(ctx context.Context) error {
	jobs := b.acct.jobs
	step := max(1, len(jobs)/state.MaxBatch)
	var names []string
	want := map[string]labeling.Status{}
	for i := 0; i < len(jobs) && len(names) < state.MaxBatch; i += step {
		names = append(names, jobs[i].Name)
		want[jobs[i].Name] = jobs[i].Status
	}
	recs, err := b.store.Load(ctx, names)
	if err != nil {
		return fmt.Errorf("check seed: %w", err)
	}
	for name, status := range want {
		if got := recs[name].Status; got != status {
			return fmt.Errorf("check seed: job %s is stored as %q, want %q", name, got, status)
		}
	}
	return nil
}

func itemKey(pk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}}
}

// settle brings the account to the same starting point for every scenario:
// the last activity before the cursor is acct.recent jobs progressing in the
// overlap window, with the cursor at the newest of them, at an hour past the
// previous scenario. It runs the real cycle in process, straight to dynalite.
func (b *bench) settle(ctx context.Context) (time.Time, error) {
	b.phase++
	at := b.acct.cursor.Add(time.Duration(b.phase) * time.Hour)
	recent := b.acct.inProgress[len(b.acct.inProgress)-b.acct.recent:]
	step := config.DefaultOverlap / time.Duration(len(recent)+1)
	for i, name := range recent {
		modified := at.Add(-time.Duration(len(recent)-1-i) * step)
		b.emu.Update(name, func(j *labeling.Job) {
			j.ModifiedAt = modified
			j.Counters.Total++
			j.Counters.Unlabeled = max(0, j.Counters.Unlabeled-1)
		})
	}
	sum, err := b.settler.Poll(ctx)
	if err != nil {
		return at, fmt.Errorf("settle: %w", err)
	}
	if sum.Transitions != 0 || !sum.Advanced || !sum.Cursor.Equal(at) {
		return at, fmt.Errorf("settle: cycle made %d transitions and left the cursor at %v (advanced %v), want none and %v",
			sum.Transitions, sum.Cursor, sum.Advanced, at)
	}
	return at, nil
}

// take returns n in-progress jobs no scenario has finished yet, and counts
// them as finished: the stored state has each as InProgress.
func (a *account) take(n int) ([]string, error) {
	if spare := len(a.inProgress) - a.recent - a.finished; n > spare {
		return nil, fmt.Errorf("the account of %d jobs has %d in-progress jobs left to finish, not %d; raise -jobs", len(a.jobs), spare, n)
	}
	names := a.inProgress[a.finished : a.finished+n]
	a.finished += n
	return names, nil
}

// modify applies s to the account, just after the cursor at: jobs finish
// (a tenth of them Failed, a tenth Stopped), start, or only progress.
func (b *bench) modify(s scenario, at time.Time) error {
	a := b.acct
	progressing := s.modified - s.finishing - s.starting
	spare := len(a.inProgress) - a.recent - a.finished // in-progress jobs neither finished nor kept for settling
	if s.finishing+progressing > spare || a.started+s.starting > len(a.initializing) {
		return fmt.Errorf("the account of %d jobs is too small for %d modified jobs; raise -jobs", len(a.jobs), s.modified)
	}
	n := 0
	change := func(name string, f func(*labeling.Job)) {
		modified := at.Add(time.Second + time.Duration(n)*10*time.Millisecond)
		n++
		b.emu.Update(name, func(j *labeling.Job) {
			f(j)
			j.ModifiedAt = modified
		})
	}
	for i := range s.finishing {
		change(a.inProgress[a.finished], func(j *labeling.Job) {
			switch i % 10 {
			case 7, 8:
				j.Status = labeling.StatusFailed
				j.FailureReason = "ClientError: Annotation consolidation Lambda returned an invalid response for 12 objects."
			case 9:
				j.Status = labeling.StatusStopped
			default:
				j.Status = labeling.StatusCompleted
				j.Counters = labeling.Counters{Total: 1000, Human: 700, Machine: 300}
				j.OutputManifest = "s3://bench-bucket/output/" + j.Name + "/manifests/output/output.manifest"
			}
		})
		a.finished++
	}
	for range s.starting {
		change(a.initializing[a.started], func(j *labeling.Job) {
			j.Status = labeling.StatusInProgress
			j.Counters = labeling.Counters{Total: 10, Human: 10, Unlabeled: 990}
		})
		a.started++
	}
	// Progressing jobs come from the end of the pool, short of those kept
	// for settling; they stay InProgress, so later scenarios reuse them.
	pool := a.inProgress[:len(a.inProgress)-a.recent]
	for i := range progressing {
		change(pool[len(pool)-1-i], func(j *labeling.Job) {
			j.Counters.Total += 5
			j.Counters.Human += 5
			j.Counters.Unlabeled = max(0, j.Counters.Unlabeled-5)
		})
	}
	return nil
}
