package state

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

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
