// Command floor makes exactly the calls a scheduled cycle needs, with the
// SDK clients the function uses, and nothing else: labelbench runs it beside
// each measured cycle, under the same CPU quota and AWS latency, as the floor
// the function's CPU and wall time are set against (issue 11, item 3).
//
// It builds its clients, warms one connection to each AWS endpoint, prints
// "ready" and waits for a line on standard input; then it lists the jobs in
// progress while it reads the cursor item, and the jobs modified since
// -since once it has (100 a page, both listings at once, as the
// function's), reads the state of those modified after
// -cursor (BatchGetItem, 100 at a time, concurrently while listing goes on;
// the jobs in progress the last cycle left idle need no read),
// makes -writes-before writes (UpdateItem, concurrently), posts -posts Slack
// messages one after another, makes -writes-after writes, prints the calls it
// made as one JSON line, and exits when its input ends: labelbench reads its
// CPU time in between. Its writes go to -write-table, so that the
// function's state stays as it was.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	smtypes "github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	slackapi "github.com/slack-go/slack"
	"golang.org/x/sync/errgroup"

	"github.com/labelwatch/labelwatch/cmd/labelbench/internal/floorwire"
	"github.com/labelwatch/labelwatch/internal/app"
	"github.com/labelwatch/labelwatch/internal/state"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	var (
		table, writeTable, webhook, since, cursor     string
		writesBefore, writesAfter, posts, concurrency int
	)
	flag.StringVar(&table, "table", "", "the state table to read")
	flag.StringVar(&writeTable, "write-table", "", "the table to write to")
	flag.StringVar(&webhook, "webhook", "", "the Slack incoming webhook")
	flag.StringVar(&since, "since", "", "list jobs modified after this (RFC 3339)")
	flag.StringVar(&cursor, "cursor", "", "read the state of listed jobs modified after this (RFC 3339)")
	flag.IntVar(&writesBefore, "writes-before", 0, "writes before the posts (transitions recorded, claims)")
	flag.IntVar(&writesAfter, "writes-after", 0, "writes after the posts (commits, the cursor)")
	flag.IntVar(&posts, "posts", 0, "Slack posts")
	flag.IntVar(&concurrency, "concurrency", 32, "reads and writes in flight")
	pace := flag.Duration("pace", 0, "time between Slack posts, as SLACK_PACE spaces them")
	flag.Parse()
	sinceT, err := time.Parse(time.RFC3339Nano, since)
	if err != nil {
		return err
	}
	cursorT, err := time.Parse(time.RFC3339Nano, cursor)
	if err != nil {
		return err
	}

	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithHTTPClient(app.AWSHTTPClient()))
	if err != nil {
		return err
	}
	sm := sagemaker.NewFromConfig(awsCfg)
	ddb := dynamodb.NewFromConfig(awsCfg)
	hc := &http.Client{Timeout: 10 * time.Second}
	key := func(pk string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{state.AttrPK: &types.AttributeValueMemberS{Value: pk}}
	}
	// Warm one connection to each AWS endpoint, as a warm function has.
	if _, err := ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key(state.CursorKey)}); err != nil {
		return fmt.Errorf("warm DynamoDB: %w", err)
	}
	if _, err := sm.ListLabelingJobs(ctx, &sagemaker.ListLabelingJobsInput{MaxResults: aws.Int32(1)}); err != nil {
		return fmt.Errorf("warm SageMaker: %w", err)
	}
	fmt.Println("ready")
	in := bufio.NewReader(os.Stdin)
	if _, err := in.ReadString('\n'); err != nil {
		return err
	}

	var res floorwire.Result
	var reads, writes atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	var batch []string
	var changed []string
	read := func(names []string) {
		g.Go(func() error {
			keys := make([]map[string]types.AttributeValue, 0, len(names))
			seen := map[string]bool{}
			for _, n := range names {
				if !seen[n] {
					seen[n] = true
					keys = append(keys, key(n))
				}
			}
			req := map[string]types.KeysAndAttributes{table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
			for len(req) > 0 {
				out, err := ddb.BatchGetItem(gctx, &dynamodb.BatchGetItemInput{RequestItems: req})
				if err != nil {
					return fmt.Errorf("read state: %w", err)
				}
				reads.Add(1)
				req = out.UnprocessedKeys
			}
			return nil
		})
	}
	var mu sync.Mutex
	add := func(name string) {
		mu.Lock()
		defer mu.Unlock()
		changed = append(changed, name)
		batch = append(batch, name)
		if len(batch) == 100 {
			read(batch)
			batch = nil
		}
	}
	// Both listings at once. Only the jobs modified since the cursor are
	// read: a job in progress the last cycle left idle, listed alike, needs
	// no read, and one that changed was modified. The listing of jobs in
	// progress needs nothing the cursor holds, so it starts as the cursor
	// is read, as the function's does; the listing of jobs modified starts
	// once the cursor is read, as it must.
	var lists errgroup.Group
	var listCalls atomic.Int64
	list := func(in *sagemaker.ListLabelingJobsInput, modified bool) {
		lists.Go(func() error {
			p := sagemaker.NewListLabelingJobsPaginator(sm, in)
			for p.HasMorePages() {
				page, err := p.NextPage(gctx)
				if err != nil {
					return fmt.Errorf("list labeling jobs: %w", err)
				}
				listCalls.Add(1)
				for _, j := range page.LabelingJobSummaryList {
					if modified && j.LastModifiedTime.After(cursorT) {
						add(*j.LabelingJobName)
					}
				}
			}
			return nil
		})
	}
	list(&sagemaker.ListLabelingJobsInput{StatusEquals: smtypes.LabelingJobStatusInProgress, MaxResults: aws.Int32(100)}, false)
	if _, err := ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key(state.CursorKey), ConsistentRead: aws.Bool(true)}); err != nil {
		_ = lists.Wait()
		return fmt.Errorf("read cursor: %w", err)
	}
	reads.Add(1)
	list(&sagemaker.ListLabelingJobsInput{LastModifiedTimeAfter: aws.Time(sinceT), MaxResults: aws.Int32(100)}, true)
	if err := lists.Wait(); err != nil {
		return err
	}
	res.ListCalls = int(listCalls.Load())
	if len(batch) > 0 {
		read(batch)
	}
	if err := g.Wait(); err != nil {
		return err
	}

	write := func(n int, offset int) error {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(concurrency)
		for i := range n {
			pk := "floor-" + strconv.Itoa(offset+i)
			if len(changed) > 0 {
				pk = changed[(offset+i)%len(changed)]
			}
			g.Go(func() error {
				_, err := ddb.UpdateItem(gctx, &dynamodb.UpdateItemInput{
					TableName:                aws.String(writeTable),
					Key:                      key(pk),
					UpdateExpression:         aws.String("SET #s = :s, #m = :m"),
					ExpressionAttributeNames: map[string]string{"#s": state.AttrStatus, "#m": state.AttrModifiedAt},
					ExpressionAttributeValues: map[string]types.AttributeValue{
						":s": &types.AttributeValueMemberS{Value: "Completed"},
						":m": &types.AttributeValueMemberN{Value: strconv.FormatInt(time.Now().UnixMilli(), 10)},
					},
				})
				if err != nil {
					return fmt.Errorf("write: %w", err)
				}
				writes.Add(1)
				return nil
			})
		}
		return g.Wait()
	}
	if err := write(writesBefore, 0); err != nil {
		return err
	}
	for i := range posts {
		if i > 0 && *pace > 0 {
			time.Sleep(*pace)
		}
		msg := &slackapi.WebhookMessage{Text: fmt.Sprintf("labeling job %d finished", i)}
		if err := slackapi.PostWebhookCustomHTTPContext(ctx, webhook, hc, msg); err != nil {
			return fmt.Errorf("post: %w", err)
		}
		res.Posts++
	}
	if err := write(writesAfter, writesBefore); err != nil {
		return err
	}
	res.Reads, res.Writes = int(reads.Load()), int(writes.Load())
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, in)
	return err
}
