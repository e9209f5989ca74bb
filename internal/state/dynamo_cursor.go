package state

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/labelwatch/labelwatch/internal/labeling"
)

// cursorItem is the cursor's item as stored. Before the first complete
// cycle it holds only a first run's baseline, if any.
type cursorItem struct {
	Cursor          int64                `dynamodbav:"cursor"`
	Seen            map[string]seenEntry `dynamodbav:"seen"`
	Idle            map[string]idleEntry `dynamodbav:"idle"`
	IdleRules       string               `dynamodbav:"idleRules"`
	Origin          int64                `dynamodbav:"origin"`
	BaselineBegan   int64                `dynamodbav:"baselineBegan"`
	BaselineCreated int64                `dynamodbav:"baselineCreated"`
}

// seenEntry is one job of Cursor.Seen, with short attribute names: a cursor
// item holds up to MaxSeen of them.
type seenEntry struct {
	ModifiedAt int64  `dynamodbav:"t"`
	Status     string `dynamodbav:"s"`
}

// idleEntry is one job of Cursor.Idle, with short attribute names.
type idleEntry struct {
	ModifiedAt int64  `dynamodbav:"t"`
	Status     string `dynamodbav:"s"`
	// Counters are Total, Human, Machine, Failed and Unlabeled, in order.
	Counters [5]int `dynamodbav:"c"`
	Until    int64  `dynamodbav:"u,omitempty"`
}

func newIdleEntry(l Idle) idleEntry {
	c := l.Counters
	e := idleEntry{ModifiedAt: millis(l.ModifiedAt), Status: string(l.Status), Counters: [5]int{c.Total, c.Human, c.Machine, c.Failed, c.Unlabeled}}
	if !l.Until.IsZero() {
		e.Until = millis(l.Until)
	}
	return e
}

func (e idleEntry) idle() Idle {
	c := e.Counters
	l := Idle{
		Listing:  Listing{ModifiedAt: fromMillis(e.ModifiedAt), Status: labeling.Status(e.Status)},
		Counters: labeling.Counters{Total: c[0], Human: c[1], Machine: c[2], Failed: c[3], Unlabeled: c[4]},
	}
	if e.Until != 0 {
		l.Until = fromMillis(e.Until)
	}
	return l
}

// Cursor reads the cursor item with a consistent read. Under a context of
// WithCursorBatch that names the store's scope, it takes the cursor the
// batch read for it instead, once (see WithCursorBatch).
func (s *DynamoStore) Cursor(ctx context.Context) (Cursor, bool, error) {
	if read, ok := batchFrom(ctx).take(ctx, s); ok {
		return read.Cursor, read.OK, nil
	}
	const op = "read cursor"
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            key(s.cursorKey),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Cursor{}, false, s.fail(op, err)
	}
	read, err := decodeCursor(out.Item)
	if err != nil {
		return Cursor{}, false, fmt.Errorf("%s: %w", op, err)
	}
	return read.Cursor, read.OK, nil
}

// decodeCursor is the cursor a cursor item holds, as Cursor returns it; a
// nil item is no cursor.
func decodeCursor(item map[string]types.AttributeValue) (CursorRead, error) {
	if item == nil {
		return CursorRead{}, nil
	}
	var it cursorItem
	if err := attributevalue.UnmarshalMap(item, &it); err != nil {
		return CursorRead{}, fmt.Errorf("decode item: %w", err)
	}
	if it.Cursor == 0 {
		if it.BaselineCreated == 0 {
			return CursorRead{}, nil
		}
		b := Baseline{Began: fromMillis(it.BaselineBegan), CreatedAfter: fromMillis(it.BaselineCreated)}
		return CursorRead{Cursor: Cursor{Baseline: &b}}, nil
	}
	c := Cursor{At: fromMillis(it.Cursor)}
	if it.Origin != 0 {
		c.Origin = fromMillis(it.Origin)
	}
	if len(it.Seen) > 0 {
		c.Seen = make(map[string]Listing, len(it.Seen))
		for job, e := range it.Seen {
			c.Seen[job] = Listing{ModifiedAt: fromMillis(e.ModifiedAt), Status: labeling.Status(e.Status)}
		}
	}
	if len(it.Idle) > 0 {
		c.Idle = make(map[string]Idle, len(it.Idle))
		for job, e := range it.Idle {
			c.Idle[job] = e.idle()
		}
		c.IdleRules = it.IdleRules
	}
	return CursorRead{Cursor: c, OK: true}, nil
}

// AdvanceCursor writes c only if the stored cursor is older, so two runs
// racing to advance it can never move it back. Seen is written whole, in
// the same conditional write, so it always belongs to the stored cursor,
// and a first run's baseline goes in it too.
func (s *DynamoStore) AdvanceCursor(ctx context.Context, c Cursor) error {
	op := fmt.Sprintf("advance cursor to %s", c.At.UTC().Format(time.RFC3339Nano))
	c, err := checkCursor(c)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	ms := millis(c.At)
	update := expression.Set(expression.Name(attrCursor), expression.Value(ms)).
		Remove(expression.Name(attrBaselineBegan)).
		Remove(expression.Name(attrBaselineCreated))
	if len(c.Seen) == 0 {
		update = update.Remove(expression.Name(attrSeen))
	} else {
		seen := make(map[string]seenEntry, len(c.Seen))
		for job, l := range c.Seen {
			seen[job] = seenEntry{ModifiedAt: millis(l.ModifiedAt), Status: string(l.Status)}
		}
		av, err := attributevalue.Marshal(seen)
		if err != nil {
			return fmt.Errorf("%s: encode seen jobs: %w", op, err)
		}
		update = update.Set(expression.Name(attrSeen), expression.Value(av))
	}
	if !c.Origin.IsZero() {
		update = update.Set(expression.Name(attrOrigin), expression.Value(millis(c.Origin)))
	}
	if len(c.Idle) == 0 {
		update = update.Remove(expression.Name(attrIdle)).Remove(expression.Name(attrIdleRules))
	} else {
		update = update.Set(expression.Name(attrIdleRules), expression.Value(c.IdleRules))
		idle := make(map[string]idleEntry, len(c.Idle))
		for job, l := range c.Idle {
			idle[job] = newIdleEntry(l)
		}
		av, err := attributevalue.Marshal(idle)
		if err != nil {
			return fmt.Errorf("%s: encode idle jobs: %w", op, err)
		}
		update = update.Set(expression.Name(attrIdle), expression.Value(av))
	}
	// Not attribute_not_exists(pk): the item exists without a cursor while
	// it holds a baseline, and a comparison with a missing cursor is false.
	cond := expression.Or(
		expression.AttributeNotExists(expression.Name(attrCursor)),
		expression.Name(attrCursor).LessThan(expression.Value(ms)),
	)
	err = s.update(ctx, s.cursorKey, update, cond)
	var behind *types.ConditionalCheckFailedException
	if errors.As(err, &behind) {
		return nil // already at or past c.At
	}
	if err != nil {
		return s.fail(op, err)
	}
	return nil
}

// SaveBaseline writes b onto the cursor item with one conditional
// UpdateItem: only while the item has no cursor, and only over an older
// baseline, so invocations racing or finishing out of order never move it
// back, and none revives a first run a complete cycle has ended.
func (s *DynamoStore) SaveBaseline(ctx context.Context, b Baseline) error {
	op := fmt.Sprintf("save first run's progress to %s", b.CreatedAfter.UTC().Format(time.RFC3339Nano))
	b, err := checkBaseline(b)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	created := millis(b.CreatedAfter)
	update := expression.Set(expression.Name(attrBaselineBegan), expression.Value(millis(b.Began))).
		Set(expression.Name(attrBaselineCreated), expression.Value(created))
	cond := expression.And(
		expression.AttributeNotExists(expression.Name(attrCursor)),
		expression.Or(
			expression.AttributeNotExists(expression.Name(attrBaselineCreated)),
			expression.Name(attrBaselineCreated).LessThan(expression.Value(created)),
		),
	)
	err = s.update(ctx, s.cursorKey, update, cond)
	var stale *types.ConditionalCheckFailedException
	if errors.As(err, &stale) {
		return nil // a cursor is set, or the stored baseline is as far or further
	}
	if err != nil {
		return s.fail(op, err)
	}
	return nil
}
