package testenv

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	smithy "github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func TestDynamoProxy(t *testing.T) {
	ddb := Dynalite(t)
	direct := dynamodb.NewFromConfig(AWSConfig(ddb))
	const table = "proxy-test"
	CreateTable(t, direct, table)
	ctx := context.Background()
	for i := range 3 {
		_, err := direct.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(table),
			Item:      map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: fmt.Sprintf("k%d", i)}},
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	proxy := NewDynamoProxy(ddb)
	t.Cleanup(proxy.Close)
	// attempts tries per call with no backoff to speak of, so the tests do
	// not wait on the SDK's one-second throttle backoff.
	// The SDK checks X-Amz-Crc32 when it closes the answer and only logs a
	// mismatch, as a warning; sdkWarnings collects those.
	var (
		warnMu      sync.Mutex
		sdkWarnings []string
	)
	client := func(attempts int) *dynamodb.Client {
		return dynamodb.NewFromConfig(AWSConfig(proxy.URL), func(o *dynamodb.Options) {
			o.Logger = logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
				warnMu.Lock()
				defer warnMu.Unlock()
				sdkWarnings = append(sdkWarnings, fmt.Sprintf(format, v...))
			})
			o.Retryer = retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = attempts
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
				o.RateLimiter = ratelimit.None
			})
		})
	}
	once, retrying := client(1), client(3)
	keys := func(names ...string) []map[string]types.AttributeValue {
		out := make([]map[string]types.AttributeValue, len(names))
		for i, n := range names {
			out[i] = map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: n}}
		}
		return out
	}
	batchGet := func(c *dynamodb.Client) (*dynamodb.BatchGetItemOutput, error) {
		return c.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
			table: {Keys: keys("k0", "k1", "k2"), ConsistentRead: aws.Bool(true)},
		}})
	}
	put := func(c *dynamodb.Client, ctx context.Context, pk string) error {
		_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: keys(pk)[0]})
		return err
	}
	exists := func(pk string) bool {
		t.Helper()
		out, err := direct.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: keys(pk)[0], ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		return out.Item != nil
	}
	apiCode := func(err error) string {
		var api smithy.APIError
		if errors.As(err, &api) {
			return api.ErrorCode()
		}
		return ""
	}

	t.Run("counts calls and capacity", func(t *testing.T) {
		before := proxy.Calls("BatchGetItem")
		capBefore := proxy.CapacityUnits()
		out, err := batchGet(once)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(out.Responses[table]); n != 3 {
			t.Errorf("got %d items, want 3", n)
		}
		if got := proxy.Calls("BatchGetItem") - before; got != 1 {
			t.Errorf("BatchGetItem calls: got %d, want 1", got)
		}
		batchCap := proxy.CapacityUnits() - capBefore
		if batchCap <= 0 {
			t.Errorf("batch consumed %v capacity units, want > 0", batchCap)
		}
		if err := put(once, ctx, "k9"); err != nil {
			t.Fatal(err)
		}
		if proxy.CapacityUnits()-capBefore <= batchCap {
			t.Errorf("PutItem added no capacity units")
		}
		if proxy.AllCalls()["PutItem"] < 1 {
			t.Errorf("AllCalls: %v", proxy.AllCalls())
		}
	})

	t.Run("faults", func(t *testing.T) {
		tests := []struct {
			fault      DynamoFault
			wantCode   string
			wantStatus int
		}{
			{Throttle, "ThrottlingException", 400},
			{ThroughputExceeded, "ProvisionedThroughputExceededException", 400},
			{InternalError, "InternalServerError", 500},
		}
		for _, tt := range tests {
			t.Run(tt.fault.String(), func(t *testing.T) {
				proxy.FailNext("PutItem", 1, tt.fault)
				err := put(once, ctx, "f-"+tt.fault.String())
				if got := apiCode(err); got != tt.wantCode {
					t.Errorf("one attempt: got %v (code %q), want %s", err, got, tt.wantCode)
				}
				var re *smithyhttp.ResponseError
				if !errors.As(err, &re) || re.HTTPStatusCode() != tt.wantStatus {
					t.Errorf("one attempt: got %v, want HTTP %d", err, tt.wantStatus)
				}
				if exists("f-" + tt.fault.String()) {
					t.Errorf("the faulted request reached the table")
				}
				// The SDK's standard retryer retries it.
				before := proxy.Calls("PutItem")
				proxy.FailNext("PutItem", 2, tt.fault)
				if err := put(retrying, ctx, "f-"+tt.fault.String()); err != nil {
					t.Errorf("with retries: %v", err)
				}
				if got := proxy.Calls("PutItem") - before; got != 3 {
					t.Errorf("with retries: %d calls, want 3", got)
				}
			})
		}
	})

	t.Run("unprocessed", func(t *testing.T) {
		for _, tt := range []struct {
			fault            DynamoFault
			items, unhandled int
		}{{Unprocessed, 1, 2}, {UnprocessedAll, 0, 3}} {
			proxy.FailNext("BatchGetItem", 1, tt.fault)
			// A successful call proves the SDK accepted the rewritten body's
			// checksum.
			out, err := batchGet(once)
			if err != nil {
				t.Fatalf("%v: %v", tt.fault, err)
			}
			if got := len(out.Responses[table]); got != tt.items {
				t.Errorf("%v: %d items, want %d", tt.fault, got, tt.items)
			}
			left := out.UnprocessedKeys[table]
			if got := len(left.Keys); got != tt.unhandled {
				t.Errorf("%v: %d unprocessed keys, want %d", tt.fault, got, tt.unhandled)
			}
			warnMu.Lock()
			if len(sdkWarnings) > 0 {
				t.Errorf("%v: the SDK warned: %q", tt.fault, sdkWarnings)
			}
			warnMu.Unlock()
			if !aws.ToBool(left.ConsistentRead) {
				t.Errorf("%v: unprocessed keys lost ConsistentRead", tt.fault)
			}
			// The unprocessed keys are the ones whose items are missing.
			seen := map[string]bool{}
			for _, it := range out.Responses[table] {
				seen[it["pk"].(*types.AttributeValueMemberS).Value] = true
			}
			for _, k := range left.Keys {
				if pk := k["pk"].(*types.AttributeValueMemberS).Value; seen[pk] {
					t.Errorf("%v: key %s both answered and unprocessed", tt.fault, pk)
				}
			}
		}
	})

	t.Run("reset", func(t *testing.T) {
		proxy.FailNext("PutItem", 1, Reset)
		if err := put(once, ctx, "reset"); err == nil {
			t.Errorf("Reset: no error")
		}
		if exists("reset") {
			t.Errorf("Reset: the request reached the table")
		}
		before := proxy.Calls("PutItem")
		proxy.FailNext("PutItem", 1, Reset)
		if err := put(retrying, ctx, "reset"); err != nil {
			t.Errorf("Reset with retries: %v", err)
		}
		if got := proxy.Calls("PutItem") - before; got != 2 {
			t.Errorf("Reset with retries: %d calls, want 2", got)
		}
	})

	t.Run("lost answer", func(t *testing.T) {
		proxy.FailNext("PutItem", 1, LostAnswer)
		if err := put(once, ctx, "lost"); err == nil {
			t.Errorf("LostAnswer: no error")
		}
		if !exists("lost") {
			t.Errorf("LostAnswer: the write did not happen")
		}
	})

	t.Run("any operation", func(t *testing.T) {
		proxy.FailNext("", 1, InternalError)
		if _, err := batchGet(once); apiCode(err) != "InternalServerError" {
			t.Errorf("got %v, want InternalServerError", err)
		}
		if _, err := batchGet(once); err != nil {
			t.Errorf("second call: %v", err)
		}
	})

	t.Run("latency honours the request context", func(t *testing.T) {
		proxy.SetLatency(time.Minute)
		defer proxy.SetLatency(0)
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		if err := put(once, short, "slow"); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want a deadline error", err)
		}
		proxy.SetLatency(20 * time.Millisecond)
		start := time.Now()
		if err := put(once, ctx, "slow"); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 20*time.Millisecond {
			t.Errorf("call took %v, want at least the 20ms latency", d)
		}
	})

	t.Run("passes other requests through", func(t *testing.T) {
		// CreateTable does not take ReturnConsumedCapacity; the proxy must
		// not add it.
		CreateTable(t, dynamodb.NewFromConfig(AWSConfig(proxy.URL)), "proxy-created")
		// A missing table is dynalite's own 400.
		_, err := once.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("no-such-table"), Key: keys("k0")[0]})
		var missing *types.ResourceNotFoundException
		if !errors.As(err, &missing) {
			t.Errorf("got %v, want ResourceNotFoundException", err)
		}
		var re *smithyhttp.ResponseError
		if errors.As(err, &re) && re.HTTPStatusCode() != http.StatusBadRequest {
			t.Errorf("status %d", re.HTTPStatusCode())
		}
	})
}
