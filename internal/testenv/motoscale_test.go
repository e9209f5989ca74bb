package testenv

import (
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TestMotoSerialAtScale: a transaction that moto cancels leaves the table
// as it was, the items it updated and the one it would have made alike,
// and one that passes writes every item, as in moto's own rollback.
func TestMotoSerialAtScale(t *testing.T) {
	client := dynamodb.NewFromConfig(AWSConfig(MotoSerialAtScale(t)))
	const table = "moto-at-scale"
	CreateTable(t, client, table)
	ctx := t.Context()
	for _, pk := range []string{"a", "b", "untouched"} {
		if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: pk}, "v": &types.AttributeValueMemberN{Value: "1"},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	update := func(pk string, from, to int) types.TransactWriteItem {
		return types.TransactWriteItem{Update: &types.Update{
			TableName: aws.String(table), Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}},
			UpdateExpression: aws.String("SET v = :to"), ConditionExpression: aws.String("v = :from"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":from": &types.AttributeValueMemberN{Value: fmt.Sprint(from)}, ":to": &types.AttributeValueMemberN{Value: fmt.Sprint(to)},
			},
		}}
	}
	put := types.TransactWriteItem{Put: &types.Put{TableName: aws.String(table), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "new"}, "v": &types.AttributeValueMemberN{Value: "1"},
	}}}
	values := func() map[string]string {
		out, err := client.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table)})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, item := range out.Items {
			got[item["pk"].(*types.AttributeValueMemberS).Value] = item["v"].(*types.AttributeValueMemberN).Value
		}
		return got
	}

	_, err := client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{update("a", 1, 2), put, update("b", 5, 6)}})
	var cancelled *types.TransactionCanceledException
	if !errors.As(err, &cancelled) || len(cancelled.CancellationReasons) != 3 || aws.ToString(cancelled.CancellationReasons[2].Code) != "ConditionalCheckFailed" {
		t.Fatalf("a transaction whose last condition fails: %v, want cancelled on its last item", err)
	}
	if got := values(); fmt.Sprint(got) != "map[a:1 b:1 untouched:1]" {
		t.Errorf("after a cancelled transaction the table holds %v, want it as it was", got)
	}
	if _, err := client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{update("a", 1, 2), put, update("b", 1, 2)}}); err != nil {
		t.Fatalf("a transaction whose conditions hold: %v", err)
	}
	if got := values(); fmt.Sprint(got) != "map[a:2 b:2 new:1 untouched:1]" {
		t.Errorf("after a transaction the table holds %v, want a and b updated and new made", got)
	}
}
