// Command labelwatch runs labelwatch's watch cycle on your own machine:
//
//	labelwatch run   one real cycle against the AWS account of your default
//	                 credentials, state in a local file (or STATE_TABLE),
//	                 printing alerts unless Slack is configured;
//	labelwatch demo  several cycles against a built-in SageMaker emulator
//	                 playing a scripted scenario; no AWS account needed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/labelwatch/labelwatch/internal/app"
	"github.com/labelwatch/labelwatch/internal/config"
	"github.com/labelwatch/labelwatch/internal/slack"
	"github.com/labelwatch/labelwatch/internal/state"
	"github.com/labelwatch/labelwatch/internal/watch"
)

const usage = `usage: labelwatch run  [-state FILE]   one cycle against your AWS account
       labelwatch demo [-state FILE]   a scripted scenario against a local SageMaker emulator

Settings come from the same environment variables as the Lambda (see README.md).
STATE_TABLE and Slack are optional here: without them state goes to FILE and
alerts are printed.`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "labelwatch:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return errors.New("missing command: run or demo")
	}
	flags := flag.NewFlagSet(args[0], flag.ContinueOnError)
	flags.SetOutput(stderr)
	statePath := flags.String("state", "", "state file (default: labelwatch-state.json for run, a temporary file for demo)")
	if err := flags.Parse(args[1:]); err != nil {
		return err
	}
	switch args[0] {
	case "run":
		return runOnce(ctx, getenv, *statePath, stdout, stderr)
	case "demo":
		return demo(ctx, getenv, *statePath, stdout, stderr)
	default:
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("unknown command %q: want run or demo", args[0])
	}
}

// runOnce runs one real cycle with the user's AWS credentials.
func runOnce(ctx context.Context, getenv func(string) string, statePath string, stdout, stderr io.Writer) error {
	cfg, err := config.LoadLocal(getenv)
	if err != nil {
		return err
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithHTTPClient(app.AWSHTTPClient()))
	if err != nil {
		return fmt.Errorf("load AWS configuration: %w", err)
	}
	var store state.Store
	if cfg.StateTable != "" {
		store = state.NewDynamoStore(dynamodb.NewFromConfig(awsCfg), cfg.StateTable, cfg.Retention, time.Now)
	} else {
		if statePath == "" {
			statePath = "labelwatch-state.json"
		}
		if store, err = state.OpenFile(statePath, cfg.Retention, time.Now); err != nil {
			return err
		}
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	sum, err := app.NewWatcher(cfg, awsCfg, store, notifier(cfg.Slack, stdout), log).Run(ctx)
	fmt.Fprintln(stdout, describe(sum))
	return err
}

// notifier prints every alert and, when Slack is configured, posts it too.
func notifier(cfg config.Slack, stdout io.Writer) watch.Notifier {
	printer := slack.NewPrinter(stdout)
	if sender := app.NewNotifier(cfg); sender != nil {
		// Post first: a post that fails is retried, and printed only once it succeeds.
		return app.Tee{sender, printer}
	}
	return printer
}

func describe(s watch.Summary) string {
	cursor := "none yet"
	if !s.Cursor.IsZero() {
		cursor = s.Cursor.Format(time.RFC3339)
	}
	return fmt.Sprintf("listed %d, transitions %d, alerted %d, recorded silently %d, pending %d, held by another run %d; cursor %s (%s)",
		s.Listed, s.Transitions, s.Alerted, s.Recorded, s.Pending, s.Contended, cursor, s.Duration.Round(time.Millisecond))
}
