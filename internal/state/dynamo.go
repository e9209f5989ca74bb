package state

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/labelwatch/labelwatch/internal/labeling"
)

// DynamoAPI is the part of the DynamoDB client DynamoStore calls. The
// function's IAM policy grants exactly these actions, on the state table only.
type DynamoAPI interface {
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// The state table's layout: a string partition key "pk" and nothing else
// declared. The exported names are for tools that make the store's calls
// themselves (labelbench's floor). A job's item sits at pk = job name; the cursor at pk = CursorKey;
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

// Load retries keys DynamoDB left unprocessed (it does so under throttling)
// this many times in all, starting batchRetryDelay apart and doubling.
// Throttling errors proper are retried by the SDK's retryer; an unprocessed
// key is a partial success the SDK hands back, so the store owns this loop.
const (
	batchAttempts   = 6
	batchRetryDelay = 50 * time.Millisecond
	batchRetryMax   = time.Second
)

// DynamoStore is the Store the deployed function uses: one item per job in a
// DynamoDB table, every write a conditional UpdateItem. Terminal records get
// an expiresAt for the table's TTL, so finished jobs age out after the
// retention period.
type DynamoStore struct {
	client     DynamoAPI
	table      string
	retention  time.Duration
	now        func() time.Time
	retryDelay time.Duration // first wait before re-reading unprocessed keys
}

var _ Store = (*DynamoStore)(nil)

// NewDynamoStore returns a store over table. Records of jobs in a terminal
// status expire retention after they were written (DynamoDB TTL deletes them
// some time later); retention <= 0 keeps them forever. now is the clock used
// for lease expiry and retention; nil means time.Now.
func NewDynamoStore(client DynamoAPI, table string, retention time.Duration, now func() time.Time) *DynamoStore {
	if now == nil {
		now = time.Now
	}
	return &DynamoStore{client: client, table: table, retention: retention, now: now, retryDelay: batchRetryDelay}
}

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

// Cursor reads the cursor item with a consistent read.
func (s *DynamoStore) Cursor(ctx context.Context) (Cursor, bool, error) {
	const op = "read cursor"
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            key(CursorKey),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Cursor{}, false, s.fail(op, err)
	}
	if out.Item == nil {
		return Cursor{}, false, nil
	}
	var it cursorItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return Cursor{}, false, fmt.Errorf("%s: decode item: %w", op, err)
	}
	if it.Cursor == 0 {
		if it.BaselineCreated == 0 {
			return Cursor{}, false, nil
		}
		b := Baseline{Began: fromMillis(it.BaselineBegan), CreatedAfter: fromMillis(it.BaselineCreated)}
		return Cursor{Baseline: &b}, false, nil
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
	return c, true, nil
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
	err = s.update(ctx, CursorKey, update, cond)
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
	err = s.update(ctx, CursorKey, update, cond)
	var stale *types.ConditionalCheckFailedException
	if errors.As(err, &stale) {
		return nil // a cursor is set, or the stored baseline is as far or further
	}
	if err != nil {
		return s.fail(op, err)
	}
	return nil
}

// Load reads the records with one BatchGetItem, consistent reads, and
// re-requests any keys DynamoDB leaves unprocessed.
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
	keys := make([]map[string]types.AttributeValue, len(names))
	for i, name := range names {
		keys[i] = key(name)
	}
	pending := types.KeysAndAttributes{Keys: keys, ConsistentRead: aws.Bool(true)}
	delay := s.retryDelay
	for attempt := 1; ; attempt++ {
		out, err := s.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
			RequestItems: map[string]types.KeysAndAttributes{s.table: pending},
		})
		if err != nil {
			return nil, s.fail(op, err)
		}
		for _, item := range out.Responses[s.table] {
			var it dynamoItem
			if err := attributevalue.UnmarshalMap(item, &it); err != nil {
				return nil, fmt.Errorf("%s: decode item: %w", op, err)
			}
			recs[it.PK] = it.record()
		}
		left := out.UnprocessedKeys[s.table].Keys
		if len(left) == 0 {
			return recs, nil
		}
		if attempt == batchAttempts {
			return nil, fmt.Errorf("%s: %d of %d jobs still unprocessed after %d attempts (table throttled?)", op, len(left), len(names), attempt)
		}
		pending = types.KeysAndAttributes{Keys: left, ConsistentRead: aws.Bool(true)}
		if err := sleep(ctx, delay/2+rand.N(delay/2+1)); err != nil {
			return nil, fmt.Errorf("%s: %d of %d jobs unprocessed: %w", op, len(left), len(names), err)
		}
		delay = min(2*delay, batchRetryMax)
	}
}

// Save writes next, which needed no Slack message, dropping an expired lease.
func (s *DynamoStore) Save(ctx context.Context, prev, next Record) error {
	op := fmt.Sprintf("save state of job %q", prev.Job)
	if err := checkJob(prev.Job); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if next.Job != prev.Job {
		return fmt.Errorf("%s: next state is of job %q", op, next.Job)
	}
	if err := checkNext(next); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	now := s.now()
	update, err := s.setState(expression.Set(expression.Name(attrVersion), expression.Value(prev.Version+1)), next, now)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	update = removeLease(update)
	cond := expression.And(versionIs(prev.Version), noLiveLease(now))
	if err := s.update(ctx, prev.Job, update, cond); err != nil {
		return s.fail(op, err)
	}
	return nil
}

// Claim writes lease onto prev.Job's item, creating an item without a status
// for a job seen for the first time.
func (s *DynamoStore) Claim(ctx context.Context, prev Record, lease Lease) error {
	op := fmt.Sprintf("claim alert for job %q", prev.Job)
	if err := checkJob(prev.Job); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := checkLease(lease); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	update := expression.Set(expression.Name(attrLeaseOwner), expression.Value(lease.Owner)).
		Set(expression.Name(attrLeaseTarget), expression.Value(string(lease.Target))).
		Set(expression.Name(attrLeaseUntil), expression.Value(millis(lease.Until))).
		Set(expression.Name(attrVersion), expression.Value(prev.Version+1))
	cond := expression.And(versionIs(prev.Version), noLiveLease(s.now()))
	if err := s.update(ctx, prev.Job, update, cond); err != nil {
		return s.fail(op, err)
	}
	return nil
}

// Commit writes next and drops owner's lease, whether or not it has
// expired, as long as no other run has claimed since.
func (s *DynamoStore) Commit(ctx context.Context, owner string, next Record) error {
	op := fmt.Sprintf("commit alert for job %q", next.Job)
	if err := checkJob(next.Job); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := checkNext(next); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if owner == "" {
		return fmt.Errorf("%s: empty owner", op)
	}
	update, err := s.setState(expression.Set(expression.Name(attrVersion), expression.Name(attrVersion).Plus(expression.Value(1))), next, s.now())
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	update = removeLease(update)
	if err := s.update(ctx, next.Job, update, ownedBy(owner)); err != nil {
		return s.fail(op, err)
	}
	return nil
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
	if err := s.update(ctx, job, update, ownedBy(owner)); err != nil {
		return s.fail(op, err)
	}
	return nil
}

// Tally adds one to the tally's item with one unconditional UpdateItem.
// DynamoDB applies the updates of one item one after another, so each of
// concurrent calls reads back a count of its own. Every call sets the
// item's expiry to expires, so the item lives as long as its latest caller
// asked; its count is never read by anything but Tally.
func (s *DynamoStore) Tally(ctx context.Context, name string, expires time.Time) (int, error) {
	op := fmt.Sprintf("tally %q", name)
	if err := checkTally(name, expires); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	update := expression.Add(expression.Name(attrCount), expression.Value(1)).
		Set(expression.Name(attrExpiresAt), expression.Value(expires.Unix()))
	expr, err := expression.NewBuilder().WithUpdate(update).Build()
	if err != nil {
		return 0, fmt.Errorf("%s: build expression: %w", op, err)
	}
	out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       key(tallyPrefix + name),
		UpdateExpression:          expr.Update(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		ReturnValues:              types.ReturnValueUpdatedNew,
	})
	if err != nil {
		return 0, s.fail(op, err)
	}
	var it tallyItem
	if err := attributevalue.UnmarshalMap(out.Attributes, &it); err != nil {
		return 0, fmt.Errorf("%s: decode count: %w", op, err)
	}
	if it.Count < 1 {
		return 0, fmt.Errorf("%s: table answered count %d", op, it.Count)
	}
	return it.Count, nil
}

// tallyItem is what Tally reads back of a tally's item.
type tallyItem struct {
	Count int `dynamodbav:"n"`
}

// update runs one conditional UpdateItem on the item at pk.
func (s *DynamoStore) update(ctx context.Context, pk string, update expression.UpdateBuilder, cond expression.ConditionBuilder) error {
	expr, err := expression.NewBuilder().WithUpdate(update).WithCondition(cond).Build()
	if err != nil {
		return fmt.Errorf("build expression: %w", err)
	}
	_, err = s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       key(pk),
		UpdateExpression:          expr.Update(),
		ConditionExpression:       expr.Condition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
	})
	return err
}

// fail wraps err from op: a failed condition becomes ErrConflict, and a
// missing table says which table it looked for.
func (s *DynamoStore) fail(op string, err error) error {
	var conflict *types.ConditionalCheckFailedException
	if errors.As(err, &conflict) {
		return fmt.Errorf("%s: %w", op, ErrConflict)
	}
	var missing *types.ResourceNotFoundException
	if errors.As(err, &missing) {
		return fmt.Errorf("%s: table %q not found (or not active): %w", op, s.table, err)
	}
	return fmt.Errorf("%s: %w", op, err)
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

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
