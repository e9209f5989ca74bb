package state

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/labelwatch/labelwatch/internal/clock"
)

// DynamoAPI is the part of the DynamoDB client DynamoStore calls. The
// function's IAM policy grants exactly these actions, on the state table only.
type DynamoAPI interface {
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// DynamoStore is the Store the deployed function uses: one item per job in a
// DynamoDB table, every write a conditional UpdateItem. Terminal records get
// an expiresAt for the table's TTL, so finished jobs age out after the
// retention period.
type DynamoStore struct {
	client    DynamoAPI
	table     string
	retention time.Duration
	clock     clock.Clock // lease expiry, retention, and the waits before re-reading unprocessed keys

	// The source the store keeps the state of (Scope): its jobs' items
	// sit at pk = prefix + job name, its cursor at cursorKey.
	prefix, cursorKey string

	// transactions is what the table answered to a TransactWriteItems:
	// transactionsUnknown until it took or cancelled one (served) or
	// refused the operation (dynalite). Shared by the store's scopes.
	transactions *atomic.Int32
}

// What a table answered to a TransactWriteItems (DynamoStore.transactions).
const (
	transactionsUnknown int32 = iota // not asked yet: a batch sends one transaction alone first
	transactionsServed
	transactionsRefused // the batches write one by one
)

var _ Store = (*DynamoStore)(nil)

// NewDynamoStore returns a store over table. Records of jobs in a terminal
// status expire retention after they were written (DynamoDB TTL deletes them
// some time later); retention <= 0 keeps them forever. c is the clock of
// lease expiry and retention, and the one Load waits on before it asks again
// for keys DynamoDB left unprocessed; nil means clock.System{}.
func NewDynamoStore(client DynamoAPI, table string, retention time.Duration, c clock.Clock) *DynamoStore {
	if c == nil {
		c = clock.System{}
	}
	return &DynamoStore{client: client, table: table, retention: retention, clock: c, cursorKey: CursorKey, transactions: &atomic.Int32{}}
}

// update runs one conditional UpdateItem on the item at pk.
func (s *DynamoStore) update(ctx context.Context, pk string, update expression.UpdateBuilder, cond expression.ConditionBuilder) error {
	w, err := built(update, cond)
	if err != nil {
		return err
	}
	return s.send(ctx, pk, w)
}

// send runs w, one conditional UpdateItem, on the item at pk.
func (s *DynamoStore) send(ctx context.Context, pk string, w write) error {
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       key(pk),
		UpdateExpression:          aws.String(w.update),
		ConditionExpression:       aws.String(w.cond),
		ExpressionAttributeNames:  w.names,
		ExpressionAttributeValues: w.values,
	})
	return err
}

// A write is one conditional update's expressions, ready to send alone
// (send) or as an item of a transaction.
type write struct {
	update, cond string
	names        map[string]string
	values       map[string]types.AttributeValue
}

// built is the write of update under cond, as the SDK's expression builder
// makes it.
func built(update expression.UpdateBuilder, cond expression.ConditionBuilder) (write, error) {
	expr, err := expression.NewBuilder().WithUpdate(update).WithCondition(cond).Build()
	if err != nil {
		return write{}, fmt.Errorf("build expression: %w", err)
	}
	return write{update: aws.ToString(expr.Update()), cond: aws.ToString(expr.Condition()), names: expr.Names(), values: expr.Values()}, nil
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

// Scope returns the store of one source of labeling jobs (an account's
// region, say "eu-west-1" or "222222222222/eu-west-1") in the same table:
// its jobs are its own, so that two jobs of one name in two sources are
// two jobs, and so are its cursor and its first run. Tallies are the
// table's, shared by every source: the push budget is Slack's, not a
// source's. The empty scope is the store itself, the one source a table
// held before there were several: its items keep their keys. scope is one
// or two parts of lower-case letters, digits and hyphens, joined by "/"; a
// job name has no "/", so no scoped key is a job's of another scope.
func (s *DynamoStore) Scope(scope string) (*DynamoStore, error) {
	if scope == "" {
		return s, nil
	}
	if !validScope(scope) {
		return nil, fmt.Errorf("store scope %q: want one or two parts of lower-case letters, digits and hyphens joined by \"/\"", scope)
	}
	scoped := *s
	scoped.prefix, scoped.cursorKey = scope+"/", CursorKey+"/"+scope
	return &scoped, nil
}
