package state

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/labelwatch/labelwatch/internal/clock"
)

// batchGet (for Load and Cursors) retries keys DynamoDB left unprocessed (it does so under throttling)
// this many times in all, starting batchRetryDelay apart on the store's clock
// and doubling. Throttling errors proper are retried by the SDK's retryer; an
// unprocessed key is a partial success the SDK hands back, so the store owns
// this loop.
const (
	batchAttempts   = 6
	batchRetryDelay = 50 * time.Millisecond
	batchRetryMax   = time.Second
)

// Load reads the records with one BatchGetItem, consistent reads, and
// re-requests any keys DynamoDB leaves unprocessed (batchGet).
func (s *DynamoStore) Load(ctx context.Context, jobs []string) (map[string]Record, error) {
	const op = "load job state"
	names, err := checkBatch(jobs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	recs := make(map[string]Record, len(names))
	if len(names) == 0 {
		return recs, nil
	}
	pks := make([]string, len(names))
	for i, name := range names {
		pks[i] = s.prefix + name
	}
	var decode error
	err = s.batchGet(ctx, pks, func(_ string, item map[string]types.AttributeValue) {
		var it dynamoItem
		if err := attributevalue.UnmarshalMap(item, &it); err != nil {
			decode = cmp.Or(decode, err)
			return
		}
		rec := it.record()
		rec.Job = strings.TrimPrefix(rec.Job, s.prefix)
		recs[rec.Job] = rec
	})
	switch {
	case err != nil:
		return nil, s.fail(op, err)
	case decode != nil:
		return nil, fmt.Errorf("%s: decode item: %w", op, decode)
	}
	return recs, nil
}

// wait waits d on c, or until ctx is done. A ctx already done waits
// nothing, even on a clock whose After answers at once.
func wait(ctx context.Context, c clock.Clock, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-c.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Save writes next, which needed no Slack message, dropping an expired lease.
func (s *DynamoStore) Save(ctx context.Context, prev, next Record) error {
	op := fmt.Sprintf("save state of job %q", prev.Job)
	if err := checkSave(prev, next); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	update, cond, err := s.saveOf(prev, next, s.clock.Now())
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := s.update(ctx, s.prefix+prev.Job, update, cond); err != nil {
		return s.fail(op, err)
	}
	return nil
}

// checkSave is what Save and SaveAll refuse before writing.
func checkSave(prev, next Record) error {
	if err := checkJob(prev.Job); err != nil {
		return err
	}
	if next.Job != prev.Job {
		return fmt.Errorf("next state is of job %q", next.Job)
	}
	return checkNext(next)
}

// saveOf is the write of a save of next over prev at now, and its
// condition: the record as read, and no live lease on it.
func (s *DynamoStore) saveOf(prev, next Record, now time.Time) (expression.UpdateBuilder, expression.ConditionBuilder, error) {
	update, err := s.setState(expression.Set(expression.Name(attrVersion), expression.Value(prev.Version+1)), next, now)
	if err != nil {
		return expression.UpdateBuilder{}, expression.ConditionBuilder{}, err
	}
	return removeLease(update), expression.And(versionIs(prev.Version), noLiveLease(now)), nil
}

// Claim writes lease onto prev.Job's item, creating an item without a status
// for a job seen for the first time.
func (s *DynamoStore) Claim(ctx context.Context, prev Record, lease Lease) error {
	op := fmt.Sprintf("claim alert for job %q", prev.Job)
	if err := cmp.Or(checkJob(prev.Job), checkLease(lease)); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := s.send(ctx, s.prefix+prev.Job, claimOf(prev, lease, s.clock.Now())); err != nil {
		return s.fail(op, err)
	}
	return nil
}

// claimOf is the write of a claim of prev's job for lease at now, under
// its condition: the record as read, and no live lease on it. It is the
// write made once per alert, written out here: the expression builder
// costs ten times what the rest of a claim's making does, and a storm
// makes thousands (`TestClaimOfAsBuilt` holds it to what the builder
// makes).
func claimOf(prev Record, lease Lease, now time.Time) write {
	w := write{
		update: "SET #owner = :owner, #target = :target, #until = :until, #version = :next",
		names:  map[string]string{"#owner": attrLeaseOwner, "#target": attrLeaseTarget, "#until": attrLeaseUntil, "#version": attrVersion},
		values: map[string]types.AttributeValue{
			":owner":  &types.AttributeValueMemberS{Value: lease.Owner},
			":target": &types.AttributeValueMemberS{Value: string(lease.Target)},
			":until":  &types.AttributeValueMemberN{Value: strconv.FormatInt(millis(lease.Until), 10)},
			":next":   &types.AttributeValueMemberN{Value: strconv.FormatInt(prev.Version+1, 10)},
			":now":    &types.AttributeValueMemberN{Value: strconv.FormatInt(millis(now), 10)},
		},
	}
	const noLiveLease = "(attribute_not_exists(#until) OR #until <= :now)"
	if prev.Version == 0 {
		w.names["#pk"] = AttrPK
		w.cond = "attribute_not_exists(#pk) AND " + noLiveLease
	} else {
		w.values[":read"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(prev.Version, 10)}
		w.cond = "#version = :read AND " + noLiveLease
	}
	return w
}

// Commit writes next and drops owner's lease, whether or not it has
// expired, as long as no other run has claimed since.
func (s *DynamoStore) Commit(ctx context.Context, owner string, next Record) error {
	op := fmt.Sprintf("commit alert for job %q", next.Job)
	if err := checkCommit(owner, next); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	update, err := s.setState(expression.Set(expression.Name(attrVersion), expression.Name(attrVersion).Plus(expression.Value(1))), next, s.clock.Now())
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	update = removeLease(update)
	if err := s.update(ctx, s.prefix+next.Job, update, ownedBy(owner)); err != nil {
		return s.fail(op, err)
	}
	return nil
}

// checkCommit is what Commit and CommitAll refuse before writing.
func checkCommit(owner string, next Record) error {
	if owner == "" {
		return errors.New("empty owner")
	}
	return cmp.Or(checkJob(next.Job), checkNext(next))
}

// Release drops owner's lease and leaves the status as it was.
func (s *DynamoStore) Release(ctx context.Context, job, owner string) error {
	op := fmt.Sprintf("release claim on job %q", job)
	if err := checkJob(job); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if owner == "" {
		return fmt.Errorf("%s: empty owner", op)
	}
	update := removeLease(expression.Set(expression.Name(attrVersion), expression.Name(attrVersion).Plus(expression.Value(1))))
	if err := s.update(ctx, s.prefix+job, update, ownedBy(owner)); err != nil {
		return s.fail(op, err)
	}
	return nil
}

func removeLease(update expression.UpdateBuilder) expression.UpdateBuilder {
	return update.Remove(expression.Name(attrLeaseOwner)).
		Remove(expression.Name(attrLeaseTarget)).
		Remove(expression.Name(attrLeaseUntil))
}

// versionIs holds when the item is still the one the writer read; version 0
// means the writer read no item.
func versionIs(version int64) expression.ConditionBuilder {
	if version == 0 {
		return expression.AttributeNotExists(expression.Name(AttrPK))
	}
	return expression.Name(attrVersion).Equal(expression.Value(version))
}

// noLiveLease holds when the item carries no lease or one that has expired
// at now. A lease is live while now < until, as Record.Live has it.
func noLiveLease(now time.Time) expression.ConditionBuilder {
	return expression.Or(
		expression.AttributeNotExists(expression.Name(attrLeaseUntil)),
		expression.Name(attrLeaseUntil).LessThanEqual(expression.Value(millis(now))),
	)
}

func ownedBy(owner string) expression.ConditionBuilder {
	return expression.Name(attrLeaseOwner).Equal(expression.Value(owner))
}
