// Command handler is the labelwatch Lambda function. It builds its
// configuration, AWS clients and watcher once, at cold start, then runs one
// watch cycle per scheduled invocation.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/labelwatch/labelwatch/internal/app"
	"github.com/labelwatch/labelwatch/internal/config"
	"github.com/labelwatch/labelwatch/internal/state"
)

func main() {
	if err := run(context.Background(), os.Getenv, os.Stdout); err != nil {
		// Lambda shows this as the init error; config errors list every problem.
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// Result is what an invocation returns: the cycle's counts, never a secret.
type Result struct {
	FirstRun    bool      `json:"firstRun"`
	Listed      int       `json:"listed"`
	Transitions int       `json:"transitions"`
	Alerted     int       `json:"alerted"`
	Pending     int       `json:"pending"`
	Contended   int       `json:"contended"`
	Cursor      time.Time `json:"cursor"`
	DurationMS  int64     `json:"durationMs"`
}

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	log := slog.New(slog.NewJSONHandler(stdout, nil))
	cfg, err := config.Load(getenv)
	if err != nil {
		log.Error("cold start failed", "error", err)
		return err
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithHTTPClient(app.AWSHTTPClient()))
	if err != nil {
		return fmt.Errorf("load AWS configuration: %w", err)
	}
	store := state.NewDynamoStore(dynamodb.NewFromConfig(awsCfg), cfg.StateTable, cfg.Retention, time.Now)
	watcher := app.NewWatcher(cfg, awsCfg, store, app.NewNotifier(cfg.Slack), log)

	lambda.StartWithOptions(func(ctx context.Context, _ events.EventBridgeEvent) (Result, error) {
		sum, err := watcher.Run(ctx)
		return Result{
			FirstRun: sum.FirstRun, Listed: sum.Listed, Transitions: sum.Transitions,
			Alerted: sum.Alerted, Pending: sum.Pending, Contended: sum.Contended,
			Cursor: sum.Cursor, DurationMS: sum.Duration.Milliseconds(),
		}, err
	}, lambda.WithContext(ctx))
	return nil
}
