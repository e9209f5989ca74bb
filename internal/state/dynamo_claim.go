package state

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/errgroup"

	"github.com/labelwatch/labelwatch/internal/labeling"
)

// maxTransact is the most items one TransactWriteItems takes.
const maxTransact = 100

// transactionsInFlight is how many TransactWriteItems (and BatchWriteItem)
// calls a batch keeps in flight: a storm's thousands of jobs take tens of
// calls, and DynamoDB serves them at once.
const transactionsInFlight = 8

// oneByOneInFlight is how many writes a batch makes at once when it writes
// one by one: as many as a watch cycle keeps in flight by default.
const oneByOneInFlight = 32

var (
	_ BatchClaimer = (*DynamoStore)(nil)
	_ BatchSaver   = (*DynamoStore)(nil)
)

// ClaimAll claims jobs as Claim does, in transactions (transactAll).
func (s *DynamoStore) ClaimAll(ctx context.Context, jobs []Record, targets []labeling.Status, lease Lease) []error {
	errs := make([]error, len(jobs))
	var ready []int
	leaseOf := func(i int) Lease {
		l := lease
		l.Target = targets[i]
		return l
	}
	for i, prev := range jobs {
		if err := cmp.Or(checkJob(prev.Job), checkLease(leaseOf(i))); err != nil {
			errs[i] = fmt.Errorf("claim alert for job %q: %w", prev.Job, err)
			continue
		}
		ready = append(ready, i)
	}
	s.transactAll(ctx, ready, errs, transaction{
		op: func(i int) string { return fmt.Sprintf("claim alert for job %q", jobs[i].Job) },
		write: func(i int, now time.Time) (string, write, error) {
			return jobs[i].Job, claimOf(jobs[i], leaseOf(i), now), nil
		},
		one: func(i int) error { return s.Claim(ctx, jobs[i], leaseOf(i)) },
	})
	return errs
}

// SaveAll saves jobs as Save does, in transactions (transactAll).
func (s *DynamoStore) SaveAll(ctx context.Context, jobs []Saving) []error {
	errs := make([]error, len(jobs))
	var ready []int
	for i, j := range jobs {
		if err := checkSave(j.Prev, j.Next); err != nil {
			errs[i] = fmt.Errorf("save state of job %q: %w", j.Prev.Job, err)
			continue
		}
		ready = append(ready, i)
	}
	s.transactAll(ctx, ready, errs, transaction{
		op: func(i int) string { return fmt.Sprintf("save state of job %q", jobs[i].Prev.Job) },
		write: func(i int, now time.Time) (string, write, error) {
			update, cond, err := s.saveOf(jobs[i].Prev, jobs[i].Next, now)
			if err != nil {
				return "", write{}, err
			}
			w, err := built(update, cond)
			return jobs[i].Prev.Job, w, err
		},
		one: func(i int) error { return s.Save(ctx, jobs[i].Prev, jobs[i].Next) },
	})
	return errs
}

// A transaction is what transactAll writes for each of its jobs.
type transaction struct {
	op func(i int) string // names job i's write in its error
	// write is job i's conditional write at now: the job, and the update
	// under its condition, exactly as the write of one job makes them.
	write func(i int, now time.Time) (job string, w write, err error)
	one   func(i int) error // writes job i alone
}

// transactAll makes the writes of the jobs ready (indexes) with
// TransactWriteItems, 100 a call and transactionsInFlight calls at once,
// each item the very conditional write the job's own write makes, and sets
// errs[i] for each. A transaction is all or nothing: when it is cancelled,
// the jobs whose condition failed are reported ErrConflict, and the others
// are written in another call (after a wait when none failed: another
// transaction held one of them). A table that serves no transactions
// (dynalite) is remembered, and its jobs are written one by one, as many
// at once as a cycle keeps in flight; so is what is left after
// batchAttempts calls.
func (s *DynamoStore) transactAll(ctx context.Context, ready []int, errs []error, t transaction) {
	var (
		mu   sync.Mutex
		left []int // to write one by one
	)
	if s.transactions.Load() != transactionsRefused {
		chunks := slices.Collect(slices.Chunk(ready, maxTransact))
		if len(chunks) > 1 && s.transactions.Load() == transactionsUnknown {
			// Whether the table serves transactions is not known yet: one
			// goes alone, so that a table without them refuses one call,
			// not one for each call in flight.
			left = s.transact(ctx, chunks[0], errs, t)
			chunks = chunks[1:]
		}
		var g errgroup.Group
		g.SetLimit(transactionsInFlight)
		for _, chunk := range chunks {
			if s.transactions.Load() == transactionsRefused {
				mu.Lock()
				left = append(left, chunk...)
				mu.Unlock()
				continue
			}
			g.Go(func() error {
				if rest := s.transact(ctx, chunk, errs, t); len(rest) > 0 {
					mu.Lock()
					left = append(left, rest...)
					mu.Unlock()
				}
				return nil
			})
		}
		g.Wait()
	} else {
		left = ready
	}
	var g errgroup.Group
	g.SetLimit(oneByOneInFlight)
	for _, i := range left {
		g.Go(func() error { errs[i] = t.one(i); return nil })
	}
	g.Wait()
}

// transact writes the jobs of one chunk in transactions, until each is
// written or failed, and returns those left to write one by one.
func (s *DynamoStore) transact(ctx context.Context, pending []int, errs []error, t transaction) []int {
	delay := batchRetryDelay
	for attempt := 1; len(pending) > 0; attempt++ {
		if s.transactions.Load() == transactionsRefused || attempt > batchAttempts {
			return pending
		}
		items, err := s.transactItems(pending, t)
		if err != nil {
			for _, i := range pending {
				errs[i] = fmt.Errorf("%s: %w", t.op(i), err)
			}
			return nil
		}
		_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if err == nil {
			s.transactions.Store(transactionsServed)
			return nil
		}
		var api smithy.APIError
		if errors.As(err, &api) && api.ErrorCode() == "UnknownOperationException" {
			s.transactions.Store(transactionsRefused)
			continue
		}
		var cancelled *types.TransactionCanceledException
		if errors.As(err, &cancelled) {
			s.transactions.Store(transactionsServed)
		}
		if cancelled == nil || len(cancelled.CancellationReasons) != len(pending) {
			for _, i := range pending {
				errs[i] = s.fail(t.op(i), err)
			}
			return nil
		}
		var again []int
		for k, reason := range cancelled.CancellationReasons {
			i := pending[k]
			if aws.ToString(reason.Code) == "ConditionalCheckFailed" {
				errs[i] = fmt.Errorf("%s: %w", t.op(i), ErrConflict)
				continue
			}
			again = append(again, i)
		}
		if len(again) == len(pending) {
			// No condition failed: another transaction held an item, or
			// the table throttled. Wait, then try them all again.
			if err := wait(ctx, s.clock, delay/2+rand.N(delay/2+1)); err != nil {
				for _, i := range pending {
					errs[i] = fmt.Errorf("%s: %w", t.op(i), err)
				}
				return nil
			}
			delay = min(2*delay, batchRetryMax)
		}
		pending = again
	}
	return nil
}

// transactItems are the transaction's writes: those of the jobs which, with
// their conditions.
func (s *DynamoStore) transactItems(which []int, t transaction) ([]types.TransactWriteItem, error) {
	now := s.clock.Now()
	items := make([]types.TransactWriteItem, len(which))
	for k, i := range which {
		job, w, err := t.write(i, now)
		if err != nil {
			return nil, err
		}
		items[k] = types.TransactWriteItem{Update: &types.Update{
			TableName:                 aws.String(s.table),
			Key:                       key(s.prefix + job),
			UpdateExpression:          aws.String(w.update),
			ConditionExpression:       aws.String(w.cond),
			ExpressionAttributeNames:  w.names,
			ExpressionAttributeValues: w.values,
		}}
	}
	return items, nil
}
