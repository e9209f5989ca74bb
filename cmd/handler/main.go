// Command handler is the labelwatch Lambda function. It builds its
// configuration, AWS clients and watcher once, at cold start, then polls on
// each scheduled event and pushes the job of each labeling job state change
// event (app.Handler).
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/labelwatch/labelwatch/internal/app"
	"github.com/labelwatch/labelwatch/internal/config"
	"github.com/labelwatch/labelwatch/internal/state"
	"github.com/labelwatch/labelwatch/internal/watch"
)

func main() {
	if err := run(context.Background(), os.Getenv, os.Stdout); err != nil {
		// Lambda shows this as the init error; config errors list every problem.
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	// The level is LOG_LEVEL's once the configuration is read; until then,
	// and when it cannot be read, info.
	var level slog.LevelVar
	log := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: &level}))
	cfg, err := config.Load(getenv)
	if err != nil {
		log.Error("cold start failed", "error", err)
		return err
	}
	level.Set(cfg.LogLevel)
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithHTTPClient(app.AWSHTTPClient()))
	if err != nil {
		return fmt.Errorf("load AWS configuration: %w", err)
	}
	notifier, err := app.OpenNotifier(ctx, cfg.Slack, awsCfg, log)
	if err != nil {
		log.Error("cold start failed", "error", err)
		return err
	}
	store := state.NewDynamoStore(dynamodb.NewFromConfig(awsCfg), cfg.StateTable, cfg.Retention, time.Now)
	watcher := app.NewWatcher(cfg, awsCfg, store, notifier, log, watch.SystemClock{})

	handler := app.NewHandler(watcher, log, stdout, getenv("AWS_LAMBDA_FUNCTION_NAME"), time.Now)
	lambda.StartWithOptions(handler.Invoke, lambda.WithContext(ctx))
	return nil
}
