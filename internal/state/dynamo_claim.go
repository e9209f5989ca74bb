package state

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/errgroup"

	"github.com/labelwatch/labelwatch/internal/labeling"
)

// maxTransact is the most items one TransactWriteItems takes.
const maxTransact = 100

// claimsInFlight is how many claims ClaimAll makes at once when it claims
// one by one: as many as a watch cycle keeps in flight by default.
const claimsInFlight = 32

var _ BatchClaimer = (*DynamoStore)(nil)

// ClaimAll claims jobs with TransactWriteItems, 100 a call, each item the
// conditional write Claim makes. A transaction is all or nothing: when it
// is cancelled, the jobs whose condition failed are reported ErrConflict,
// and the others are claimed in another call (after a wait when none
// failed: another transaction held one of them). A table that serves no
// transactions (dynalite) is remembered, and each job is claimed as Claim
// does; so is what is left after batchAttempts calls.
func (s *DynamoStore) ClaimAll(ctx context.Context, jobs []Record, targets []labeling.Status, lease Lease) []error {
	errs := make([]error, len(jobs))
	var ready []int
	for i, prev := range jobs {
		l := lease
		l.Target = targets[i]
		switch {
		case checkJob(prev.Job) != nil:
			errs[i] = fmt.Errorf("claim alert for job %q: %w", prev.Job, checkJob(prev.Job))
		case checkLease(l) != nil:
			errs[i] = fmt.Errorf("claim alert for job %q: %w", prev.Job, checkLease(l))
		default:
			ready = append(ready, i)
		}
	}
	one := func(i int) {
		l := lease
		l.Target = targets[i]
		errs[i] = s.Claim(ctx, jobs[i], l)
	}
	for chunk := range slices.Chunk(ready, maxTransact) {
		pending := chunk
		delay := batchRetryDelay
		for attempt := 1; len(pending) > 0; attempt++ {
			if s.untransacted.Load() || attempt > batchAttempts {
				// One by one, as many at once as a cycle keeps in flight.
				var g errgroup.Group
				g.SetLimit(claimsInFlight)
				for _, i := range pending {
					g.Go(func() error { one(i); return nil })
				}
				g.Wait()
				break
			}
			items, err := s.claimItems(jobs, targets, lease, pending)
			if err != nil {
				for _, i := range pending {
					errs[i] = fmt.Errorf("claim alert for job %q: %w", jobs[i].Job, err)
				}
				break
			}
			_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
			if err == nil {
				break
			}
			var api smithy.APIError
			if errors.As(err, &api) && api.ErrorCode() == "UnknownOperationException" {
				s.untransacted.Store(true)
				continue
			}
			var cancelled *types.TransactionCanceledException
			if !errors.As(err, &cancelled) || len(cancelled.CancellationReasons) != len(pending) {
				for _, i := range pending {
					errs[i] = s.fail(fmt.Sprintf("claim alert for job %q", jobs[i].Job), err)
				}
				break
			}
			var again []int
			for k, reason := range cancelled.CancellationReasons {
				i := pending[k]
				if aws.ToString(reason.Code) == "ConditionalCheckFailed" {
					errs[i] = fmt.Errorf("claim alert for job %q: %w", jobs[i].Job, ErrConflict)
					continue
				}
				again = append(again, i)
			}
			if len(again) == len(pending) {
				// No condition failed: another transaction held an item,
				// or the table throttled. Wait, then try them all again.
				if err := wait(ctx, s.clock, delay/2+rand.N(delay/2+1)); err != nil {
					for _, i := range pending {
						errs[i] = fmt.Errorf("claim alert for job %q: %w", jobs[i].Job, err)
					}
					break
				}
				delay = min(2*delay, batchRetryMax)
			}
			pending = again
		}
	}
	return errs
}

// claimItems are the transaction's writes: the claims of jobs[i] for each i
// of which, with their conditions.
func (s *DynamoStore) claimItems(jobs []Record, targets []labeling.Status, lease Lease, which []int) ([]types.TransactWriteItem, error) {
	now := s.clock.Now()
	items := make([]types.TransactWriteItem, len(which))
	for k, i := range which {
		l := lease
		l.Target = targets[i]
		update, cond := claimOf(jobs[i], l, now)
		expr, err := expression.NewBuilder().WithUpdate(update).WithCondition(cond).Build()
		if err != nil {
			return nil, fmt.Errorf("build expression: %w", err)
		}
		items[k] = types.TransactWriteItem{Update: &types.Update{
			TableName:                 aws.String(s.table),
			Key:                       key(s.prefix + jobs[i].Job),
			UpdateExpression:          expr.Update(),
			ConditionExpression:       expr.Condition(),
			ExpressionAttributeNames:  expr.Names(),
			ExpressionAttributeValues: expr.Values(),
		}}
	}
	return items, nil
}
