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

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/labelwatch/labelwatch/internal/app"
	"github.com/labelwatch/labelwatch/internal/config"
)

func main() {
	if err := run(context.Background(), os.Getenv, os.Stdout); err != nil {
		// Lambda shows this as the init error; config errors list every problem.
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	app.TuneGC(getenv)
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
	handler, err := app.OpenHandler(ctx, cfg, log, stdout, getenv("AWS_LAMBDA_FUNCTION_NAME"))
	if err != nil {
		log.Error("cold start failed", "error", err)
		return err
	}
	lambda.StartWithOptions(handler.Invoke, lambda.WithContext(ctx))
	return nil
}
