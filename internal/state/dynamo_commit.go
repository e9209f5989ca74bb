package state

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"
)

// maxBatchWrite is the most items one BatchWriteItem takes.
const maxBatchWrite = 25

var _ BatchCommitter = (*DynamoStore)(nil)

// CommitAll writes the records of jobs owner claimed with BatchWriteItem,
// 25 a call and several calls at once, each item whole (the claim's lease dropped, its version one
// past the claim's): while owner's leases are live, until until, no other
// run writes them, so the puts need no condition (BatchWriteItem takes
// none). A call that fails leaves its jobs' errors set: like a Commit that
// fails, their leases expire and the next run finds them as they are. From
// until on, each job is committed as Commit does.
func (s *DynamoStore) CommitAll(ctx context.Context, owner string, until time.Time, jobs []Committing) []error {
	errs := make([]error, len(jobs))
	var ready []int
	for i, c := range jobs {
		switch err := checkCommit(owner, c.Next); {
		case err != nil:
			errs[i] = fmt.Errorf("commit alert for job %q: %w", c.Next.Job, err)
		case c.Claimed < 1:
			errs[i] = fmt.Errorf("commit alert for job %q: claimed version %d, want 1 or more", c.Next.Job, c.Claimed)
		default:
			ready = append(ready, i)
		}
	}
	var g errgroup.Group
	g.SetLimit(transactionsInFlight)
	for chunk := range slices.Chunk(ready, maxBatchWrite) {
		g.Go(func() error { s.commitChunk(ctx, owner, until, jobs, chunk, errs); return nil })
	}
	g.Wait()
	return errs
}

// commitChunk commits the jobs of one chunk (indexes), with one
// BatchWriteItem before until, one by one from then on.
func (s *DynamoStore) commitChunk(ctx context.Context, owner string, until time.Time, jobs []Committing, chunk []int, errs []error) {
	now := s.clock.Now()
	if !now.Before(until) {
		for _, i := range chunk {
			errs[i] = s.Commit(ctx, owner, jobs[i].Next)
		}
		return
	}
	puts := make([]types.WriteRequest, len(chunk))
	var err error
	for k, i := range chunk {
		var item map[string]types.AttributeValue
		if item, err = s.committed(jobs[i], now); err != nil {
			break
		}
		puts[k] = types.WriteRequest{PutRequest: &types.PutRequest{Item: item}}
	}
	if err == nil {
		err = s.batchWrite(ctx, puts)
	}
	if err != nil {
		for _, i := range chunk {
			errs[i] = s.fail(fmt.Sprintf("commit alert for job %q", jobs[i].Next.Job), err)
		}
	}
}

// committed is the whole item of c's job once committed: next's state, the
// version one past the claim's, no lease.
func (s *DynamoStore) committed(c Committing, now time.Time) (map[string]types.AttributeValue, error) {
	next := c.Next
	item := map[string]types.AttributeValue{
		AttrPK:      &types.AttributeValueMemberS{Value: s.prefix + next.Job},
		AttrStatus:  &types.AttributeValueMemberS{Value: string(next.Status)},
		attrVersion: &types.AttributeValueMemberN{Value: fmt.Sprint(c.Claimed + 1)},
	}
	for attr, t := range map[string]time.Time{AttrModifiedAt: next.ModifiedAt, attrAlertedAt: next.AlertedAt} {
		if !t.IsZero() {
			item[attr] = &types.AttributeValueMemberN{Value: fmt.Sprint(millis(t))}
		}
	}
	if at := expiry(next.Status, now, s.retention); !at.IsZero() {
		item[attrExpiresAt] = &types.AttributeValueMemberN{Value: fmt.Sprint(at.Unix())}
	}
	if next.Card != nil {
		av, err := attributevalue.Marshal(cardItem{Channel: next.Card.Channel, TS: next.Card.TS, Shown: next.Card.Shown})
		if err != nil {
			return nil, fmt.Errorf("encode card: %w", err)
		}
		item[attrCard] = av
	}
	if !next.Progress.zero() {
		av, err := attributevalue.Marshal(newProgressItem(next.Progress))
		if err != nil {
			return nil, fmt.Errorf("encode progress: %w", err)
		}
		item[attrProgress] = av
	}
	return item, nil
}

// batchWrite makes the writes with BatchWriteItem, and again for the ones
// DynamoDB leaves unprocessed (it does so under throttling), as batchGet
// does for reads.
func (s *DynamoStore) batchWrite(ctx context.Context, writes []types.WriteRequest) error {
	pending := writes
	delay := batchRetryDelay
	for attempt := 1; ; attempt++ {
		out, err := s.client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
			RequestItems: map[string][]types.WriteRequest{s.table: pending},
		})
		if err != nil {
			return err
		}
		left := out.UnprocessedItems[s.table]
		if len(left) == 0 {
			return nil
		}
		if attempt == batchAttempts {
			return fmt.Errorf("%d of %d writes still unprocessed after %d attempts (table throttled?)", len(left), len(writes), attempt)
		}
		pending = left
		if err := wait(ctx, s.clock, delay/2+rand.N(delay/2+1)); err != nil {
			return fmt.Errorf("%d of %d writes unprocessed: %w", len(left), len(writes), err)
		}
		delay = min(2*delay, batchRetryMax)
	}
}
