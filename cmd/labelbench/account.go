package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/state"
)

// history is how far back the account's jobs were last modified; running is
// how many of them are in progress (at most a tenth of the account): a few
// hundred, as Ground Truth's limits on concurrent labeling jobs allow.
const (
	history = 30 * 24 * time.Hour
	running = 300
)

// account is the simulated SageMaker account: jobs last modified uniformly
// over the 30 days before its cursor, all but a few hundred of them
// finished, as Ground Truth's limits on concurrent labeling jobs keep any
// real account.
type account struct {
	jobs []labeling.Job
	// running are the jobs in progress, one in three of the newest jobs
	// of the account (the others ended recently), in creation order; the
	// settling cycle keeps the last recent of them in the overlap window.
	running []string
	// recent is how many jobs a uniform history puts in the overlap window
	// before the cursor (OVERLAP, 10 minutes): the jobs every cycle lists
	// again, whatever changed.
	recent int
	cursor time.Time // the newest modification in the seeded state

	// completed are the Completed jobs, oldest first: scenarios stage the
	// jobs they finish or start from them (fresh ones, from the front) and
	// touch the jobs that only move (from the back).
	completed []string
	staged    int // completed jobs used up by staging so far
}

func newAccount(o options, overlap time.Duration, now time.Time) *account {
	// The account's clock runs a day ahead of the real one, which the
	// function reads: its cursor is then the newest modification listed,
	// as in an account whose jobs changed just before the run (not the
	// listing's start, which it would be for jobs older than the run).
	// Each scenario happens an hour after the one before, so every one of
	// them stays ahead of the real clock.
	a := &account{cursor: now.Add(24 * time.Hour).Truncate(time.Millisecond)}
	a.recent = max(1, int(int64(o.jobs)*int64(overlap)/int64(history)))
	running := max(a.recent, min(running, o.jobs/10))
	step := history / time.Duration(o.jobs)
	a.jobs = make([]labeling.Job, 0, o.jobs)
	for i := range o.jobs {
		modified := a.cursor.Add(-time.Duration(o.jobs-1-i) * step)
		j := labeling.Job{
			Name:          fmt.Sprintf("bench-job-%07d", i),
			CreatedAt:     modified.Add(-time.Hour),
			ModifiedAt:    modified,
			Workteam:      "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/bench-team",
			InputManifest: fmt.Sprintf("s3://bench-bucket/input/bench-job-%07d.manifest", i),
			Counters:      labeling.Counters{Total: 900, Human: 600, Machine: 300, Unlabeled: 100},
		}
		switch {
		case i >= o.jobs-3*running && (o.jobs-1-i)%3 == 0: // one in three of the newest
			j.Status = labeling.StatusInProgress
			a.running = append(a.running, j.Name)
		case i%20 == 4: // 5%
			j.Status = labeling.StatusFailed
			j.FailureReason = "ClientError: The manifest file could not be read from s3://bench-bucket/input."
		case i%20 == 5: // 5%
			j.Status = labeling.StatusStopped
		default: // 90%
			end(&j, labeling.StatusCompleted)
			a.completed = append(a.completed, j.Name)
		}
		a.jobs = append(a.jobs, j)
	}
	return a
}

// end gives j the status a finished job ends with, and what SageMaker gives
// a job that ends so: a Completed job its labels and output manifest, a
// Failed one its reason.
func end(j *labeling.Job, status labeling.Status) {
	j.Status = status
	switch status {
	case labeling.StatusCompleted:
		j.Counters = labeling.Counters{Total: 1000, Human: 700, Machine: 300}
		j.OutputManifest = "s3://bench-bucket/output/" + j.Name + "/manifests/output/output.manifest"
	case labeling.StatusFailed:
		j.FailureReason = "ClientError: Annotation consolidation Lambda returned an invalid response for 12 objects."
	}
}

// justAfter is when the nth job a scenario changes was modified: one after
// another, from a second after the cursor at.
func justAfter(at time.Time, n int) time.Time {
	return at.Add(time.Second + time.Duration(n)*10*time.Millisecond)
}

func (a *account) describe(overlap time.Duration) string {
	return fmt.Sprintf("%d jobs, %d of them InProgress (one in three of the newest; Ground Truth's limits on concurrent labeling jobs keep a real account at a few hundred or fewer), "+
		"the rest 90%% Completed, 5%% Failed, 5%% Stopped, last modified uniformly over the %d days before the cursor, so %d of them fall in the %v overlap window",
		len(a.jobs), len(a.running), int(history.Hours()/24), a.recent, overlap)
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
	var err error
	if b.templates, err = recordTemplates(ctx, b.store, b.direct, table, b.acct.jobs[0].ModifiedAt); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	status := map[string]labeling.Status{}
	for _, j := range b.acct.jobs {
		status[j.Name] = j.Status
	}
	if err := b.putStates(ctx, status); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	if err := b.store.AdvanceCursor(ctx, state.Cursor{At: b.acct.cursor}); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	b.logf("seeded %d jobs in %v", len(b.acct.jobs), time.Since(start).Round(time.Millisecond))
	return nil
}

// recordTemplates has store write one record of each status, modified at
// at, and returns the items it wrote, by status: putRecords clones them, so
// that seeded items stay in the store's format.
func recordTemplates(ctx context.Context, store *state.DynamoStore, client *dynamodb.Client, tableName string, at time.Time) (map[labeling.Status]map[string]types.AttributeValue, error) {
	templates := map[labeling.Status]map[string]types.AttributeValue{}
	for _, s := range labeling.Statuses {
		name := "bench-template-" + string(s)
		if err := store.Save(ctx, state.Record{Job: name}, state.Record{Job: name, Status: s, ModifiedAt: at}); err != nil {
			return nil, err
		}
		out, err := client.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String(tableName), Key: itemKey(name), ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			return nil, fmt.Errorf("read template item: %w", err)
		}
		templates[s] = out.Item
	}
	return templates, nil
}

// putStates stores each named job with its status, straight to dynalite,
// as a baseline would record it (no progress, no card).
func (b *bench) putStates(ctx context.Context, jobs map[string]labeling.Status) error {
	return putRecords(ctx, b.direct, table, b.templates, jobs)
}

// putRecords stores each named job with its status in tableName, each item
// a clone of the template item of its status (one the store wrote), with
// parallel BatchWriteItem.
func putRecords(ctx context.Context, client *dynamodb.Client, tableName string, templates map[labeling.Status]map[string]types.AttributeValue, jobs map[string]labeling.Status) error {
	names := slices.Sorted(maps.Keys(jobs))
	const perBatch = 25 // BatchWriteItem's limit
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for lo := 0; lo < len(names); lo += perBatch {
		chunk := names[lo:min(lo+perBatch, len(names))]
		g.Go(func() error {
			writes := make([]types.WriteRequest, len(chunk))
			for i, name := range chunk {
				item := maps.Clone(templates[jobs[name]])
				maps.Copy(item, itemKey(name))
				writes[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: item}}
			}
			for attempt := 0; len(writes) > 0; attempt++ {
				if attempt == 10 {
					return fmt.Errorf("%d items still unprocessed", len(writes))
				}
				out, err := client.BatchWriteItem(gctx, &dynamodb.BatchWriteItemInput{
					RequestItems: map[string][]types.WriteRequest{tableName: writes},
				})
				if err != nil {
					return fmt.Errorf("batch write: %w", err)
				}
				writes = out.UnprocessedItems[tableName]
			}
			return nil
		})
	}
	return g.Wait()
}

func itemKey(pk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{state.AttrPK: &types.AttributeValueMemberS{Value: pk}}
}

// settle brings the account to the same starting point for every scenario:
// the last activity before the cursor is acct.recent jobs progressing in the
// overlap window, with the cursor at the newest of them, at an hour past the
// previous scenario. It runs the real cycle in process, straight to dynalite.
func (b *bench) settle(ctx context.Context) (time.Time, error) {
	b.phase++
	at := b.acct.cursor.Add(time.Duration(b.phase) * time.Hour)
	recent := b.acct.running[len(b.acct.running)-b.acct.recent:]
	step := b.cfg.Overlap / time.Duration(len(recent)+1)
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

// prepare stages finishing and starting jobs and settles the account: the
// start of every measured scenario. It returns the cursor the settling
// cycle left.
func (b *bench) prepare(ctx context.Context, finishing, starting int) (staged, time.Time, error) {
	st, err := b.stage(ctx, finishing, starting)
	if err != nil {
		return st, time.Time{}, err
	}
	at, err := b.settle(ctx)
	return st, at, err
}

// staged is what stage set up for one scenario: the jobs it finishes, stored
// and listed as InProgress, and the jobs it starts, as Initializing.
type staged struct {
	finishing, starting []string
}

// stage takes fresh Completed jobs and makes finishing of them InProgress
// and starting of them Initializing, in the emulator and in the store, as
// if they had been so all along. Their LastModifiedTime is the emulator's
// clock (the real one, a day behind the account's), so the modified
// listing never returns them: the jobs in progress are listed by the
// listing of those. The settling cycle then records their progress. This
// keeps the account at a few hundred jobs in progress between scenarios,
// however many a scenario finishes.
func (b *bench) stage(ctx context.Context, finishing, starting int) (staged, error) {
	a := b.acct
	var st staged
	if n := finishing + starting; a.staged+n > len(a.completed)/2 {
		return st, fmt.Errorf("the account of %d jobs has %d Completed jobs left to stage, not %d; raise -jobs", len(a.jobs), len(a.completed)/2-a.staged, n)
	}
	st.finishing = a.completed[a.staged : a.staged+finishing]
	st.starting = a.completed[a.staged+finishing : a.staged+finishing+starting]
	a.staged += finishing + starting
	status := map[string]labeling.Status{}
	for _, name := range st.finishing {
		status[name] = labeling.StatusInProgress
		b.emu.Update(name, func(j *labeling.Job) {
			j.Status, j.OutputManifest = labeling.StatusInProgress, ""
			j.Counters = labeling.Counters{Total: 900, Human: 600, Machine: 300, Unlabeled: 100}
		})
	}
	for _, name := range st.starting {
		status[name] = labeling.StatusInitializing
		b.emu.Update(name, func(j *labeling.Job) {
			j.Status, j.OutputManifest = labeling.StatusInitializing, ""
			j.Counters = labeling.Counters{Unlabeled: 1000}
		})
	}
	if err := b.putStates(ctx, status); err != nil {
		return st, fmt.Errorf("stage: %w", err)
	}
	return st, nil
}

// unstage ends the jobs a scenario started, Completed in the emulator and in
// the store, out of every later listing: the account goes back to its few
// hundred jobs in progress.
func (b *bench) unstage(ctx context.Context, st staged) error {
	status := map[string]labeling.Status{}
	for _, name := range st.starting {
		status[name] = labeling.StatusCompleted
		b.emu.Update(name, func(j *labeling.Job) {
			end(j, labeling.StatusCompleted)
			j.ModifiedAt = time.Time{} // the emulator's clock: before any later window
		})
	}
	if err := b.putStates(ctx, status); err != nil {
		return fmt.Errorf("unstage: %w", err)
	}
	return nil
}

// progressPool is the jobs in progress a scenario's progressing jobs come
// from, short of those the settling cycle moves.
func (a *account) progressPool() []string { return a.running[:len(a.running)-a.recent] }

// modify applies s to the account, just after the cursor at: the staged
// jobs finish (a tenth of them Failed, a tenth Stopped) or start, and the
// rest progress: jobs in progress first (their counters move), then, past the few hundred an account has, Completed
// jobs whose LastModifiedTime alone moves (listed and read, never written).
func (b *bench) modify(s scenario, st staged, at time.Time) error {
	a := b.acct
	progressing := s.modified - s.finishing - s.starting
	if len(st.finishing) != s.finishing || len(st.starting) != s.starting || progressing > len(a.completed)/2 {
		return fmt.Errorf("the account of %d jobs is too small for %d modified jobs; raise -jobs", len(a.jobs), s.modified)
	}
	n := 0
	change := func(name string, f func(*labeling.Job)) {
		modified := justAfter(at, n)
		n++
		b.emu.Update(name, func(j *labeling.Job) {
			f(j)
			j.ModifiedAt = modified
		})
	}
	for i, name := range st.finishing {
		status := labeling.StatusCompleted
		switch i % 10 {
		case 7, 8:
			status = labeling.StatusFailed
		case 9:
			status = labeling.StatusStopped
		}
		change(name, func(j *labeling.Job) { end(j, status) })
	}
	for _, name := range st.starting {
		change(name, func(j *labeling.Job) {
			j.Status = labeling.StatusInProgress
			j.Counters = labeling.Counters{Total: 10, Human: 10, Unlabeled: 990}
		})
	}
	pool := a.progressPool()
	for i := range progressing {
		if i < len(pool) {
			change(pool[len(pool)-1-i], func(j *labeling.Job) {
				j.Counters.Total += 5
				j.Counters.Human += 5
				j.Counters.Unlabeled = max(0, j.Counters.Unlabeled-5)
			})
			continue
		}
		change(a.completed[len(a.completed)-1-(i-len(pool))], func(*labeling.Job) {})
	}
	return nil
}

// shape is what of the account the scenarios' minimums depend on.
func (a *account) shape() shape { return shape{overlap: a.recent, running: len(a.running)} }
