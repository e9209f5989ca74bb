package state

import (
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/labelwatch/labelwatch/internal/labeling"
)

// The state table's layout: a string partition key "pk" and nothing else
// declared. The exported names are for tools that make the store's calls
// themselves (labelbench's floor). A job's item sits at pk = job name; the cursor at pk = CursorKey;
// in a store of one source (Scope), at scope/job name and CursorKey/scope;
// the counter of Tally(key) at pk = tallyPrefix + key.
const (
	AttrPK          = "pk"
	AttrStatus      = "status"      // S: labeling.Status; absent until a status is committed
	AttrModifiedAt  = "modifiedAt"  // N: epoch millis
	attrAlertedAt   = "alertedAt"   // N: epoch millis
	attrVersion     = "version"     // N: writes so far
	attrLeaseOwner  = "leaseOwner"  // S
	attrLeaseTarget = "leaseTarget" // S: labeling.Status
	attrLeaseUntil  = "leaseUntil"  // N: epoch millis
	attrExpiresAt   = "expiresAt"   // N: epoch seconds; the table's TTL attribute
	attrCard        = "card"        // M: cardItem; absent when the job has no card
	attrProgress    = "progress"    // M: progressItem; absent when Progress is zero
	attrCursor      = "cursor"      // N: epoch millis, on the cursor item only
	attrIdleRules   = "idleRules"   // S: Cursor.IdleRules, on the cursor item only; absent with idle
	attrIdle        = "idle"        // M: job name -> {t, s as in seen; c: L of the five counters; u: N epoch millis, absent for none}, on the cursor item only; absent when empty
	attrSeen        = "seen"        // M: job name -> {t: N epoch millis, s: S status}, on the cursor item only; absent when empty
	attrCount       = "n"           // N: the count, on tally items only

	// A first run's Baseline, on the cursor item while it has no cursor.
	attrBaselineBegan   = "baselineBegan"   // N: epoch millis, Baseline.Began
	attrBaselineCreated = "baselineCreated" // N: epoch millis, Baseline.CreatedAfter
	attrOrigin          = "origin"          // N: epoch millis, Cursor.Origin, on the cursor item once the first run is done

	CursorKey   = reservedPrefix + "cursor"
	tallyPrefix = reservedPrefix + "tally-"
)

// dynamoItem is a job's item as stored.
type dynamoItem struct {
	PK          string `dynamodbav:"pk"`
	Status      string `dynamodbav:"status"`
	ModifiedAt  int64  `dynamodbav:"modifiedAt"`
	AlertedAt   int64  `dynamodbav:"alertedAt"`
	Version     int64  `dynamodbav:"version"`
	LeaseOwner  string `dynamodbav:"leaseOwner"`
	LeaseTarget string `dynamodbav:"leaseTarget"`
	LeaseUntil  int64  `dynamodbav:"leaseUntil"`

	Card     *cardItem     `dynamodbav:"card"`
	Progress *progressItem `dynamodbav:"progress"`
}

// cardItem is Record.Card as stored. Its attribute names are short, as are
// the nested ones of progressItem, because every load of a job reads them and
// an item's size counts its names.
type cardItem struct {
	Channel string `dynamodbav:"c"`           // S
	TS      string `dynamodbav:"t"`           // S
	Shown   string `dynamodbav:"f,omitempty"` // S: the fingerprint; absent when empty
}

// progressItem is Record.Progress as stored. Each part is absent when zero:
// an absent attribute reads back as zero, and most jobs have few parts set.
type progressItem struct {
	Total        int   `dynamodbav:"t,omitempty"`  // N: Counters.Total
	Human        int   `dynamodbav:"h,omitempty"`  // N: Counters.Human
	Machine      int   `dynamodbav:"m,omitempty"`  // N: Counters.Machine
	Failed       int   `dynamodbav:"f,omitempty"`  // N: Counters.Failed
	Unlabeled    int   `dynamodbav:"u,omitempty"`  // N: Counters.Unlabeled
	MovedAt      int64 `dynamodbav:"mv,omitempty"` // N: epoch millis
	Milestone    int   `dynamodbav:"ms,omitempty"` // N: percent
	Stuck        bool  `dynamodbav:"st,omitempty"` // BOOL
	FailedWarned bool  `dynamodbav:"fw,omitempty"` // BOOL
}

func newProgressItem(p Progress) progressItem {
	return progressItem{
		Total:        p.Counters.Total,
		Human:        p.Counters.Human,
		Machine:      p.Counters.Machine,
		Failed:       p.Counters.Failed,
		Unlabeled:    p.Counters.Unlabeled,
		MovedAt:      millis(p.MovedAt),
		Milestone:    p.Milestone,
		Stuck:        p.Stuck,
		FailedWarned: p.FailedWarned,
	}
}

func (it progressItem) progress() Progress {
	return Progress{
		Counters: labeling.Counters{
			Total:     it.Total,
			Human:     it.Human,
			Machine:   it.Machine,
			Failed:    it.Failed,
			Unlabeled: it.Unlabeled,
		},
		MovedAt:      fromMillis(it.MovedAt),
		Milestone:    it.Milestone,
		Stuck:        it.Stuck,
		FailedWarned: it.FailedWarned,
	}
}

func (it dynamoItem) record() Record {
	rec := Record{
		Job:        it.PK,
		Status:     labeling.Status(it.Status),
		ModifiedAt: fromMillis(it.ModifiedAt),
		AlertedAt:  fromMillis(it.AlertedAt),
		Version:    it.Version,
	}
	if it.LeaseOwner != "" {
		rec.Lease = &Lease{Owner: it.LeaseOwner, Target: labeling.Status(it.LeaseTarget), Until: fromMillis(it.LeaseUntil)}
	}
	if it.Card != nil {
		rec.Card = &Card{Channel: it.Card.Channel, TS: it.Card.TS, Shown: it.Card.Shown}
	}
	if it.Progress != nil {
		rec.Progress = it.Progress.progress()
	}
	return rec
}

func key(pk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: pk}}
}

// setExpiry sets the TTL attribute for a terminal status and removes it
// otherwise.
func (s *DynamoStore) setExpiry(update expression.UpdateBuilder, status labeling.Status, now time.Time) expression.UpdateBuilder {
	at := expiry(status, now, s.retention)
	if at.IsZero() {
		return update.Remove(expression.Name(attrExpiresAt))
	}
	return update.Set(expression.Name(attrExpiresAt), expression.Value(at.Unix()))
}

// setState adds to update what Save and Commit write of next: the status,
// both times, the card, the progress and the TTL. A part that is zero in
// next is removed, so the item ends up holding exactly next's state, however
// much more it held before.
func (s *DynamoStore) setState(update expression.UpdateBuilder, next Record, now time.Time) (expression.UpdateBuilder, error) {
	update = update.Set(expression.Name(AttrStatus), expression.Value(string(next.Status)))
	update = setTime(update, AttrModifiedAt, next.ModifiedAt)
	update = setTime(update, attrAlertedAt, next.AlertedAt)
	update = s.setExpiry(update, next.Status, now)
	if next.Card == nil {
		update = update.Remove(expression.Name(attrCard))
	} else {
		card := cardItem{Channel: next.Card.Channel, TS: next.Card.TS, Shown: next.Card.Shown}
		av, err := attributevalue.Marshal(card)
		if err != nil {
			return update, fmt.Errorf("encode card: %w", err)
		}
		update = update.Set(expression.Name(attrCard), expression.Value(av))
	}
	if next.Progress.zero() {
		update = update.Remove(expression.Name(attrProgress))
	} else {
		av, err := attributevalue.Marshal(newProgressItem(next.Progress))
		if err != nil {
			return update, fmt.Errorf("encode progress: %w", err)
		}
		update = update.Set(expression.Name(attrProgress), expression.Value(av))
	}
	return update, nil
}

// setTime stores t as epoch millis; a zero t removes the attribute.
func setTime(update expression.UpdateBuilder, attr string, t time.Time) expression.UpdateBuilder {
	if t.IsZero() {
		return update.Remove(expression.Name(attr))
	}
	return update.Set(expression.Name(attr), expression.Value(millis(t)))
}
