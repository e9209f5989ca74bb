// Command labelwatch runs labelwatch's watch cycle on your own machine:
//
//	labelwatch run   one real cycle against the AWS account of your default
//	                 credentials, state in a local file (or STATE_TABLE),
//	                 printing alerts unless Slack is configured;
//	labelwatch demo  several cycles against a built-in SageMaker emulator
//	                 playing a scripted scenario; no AWS account needed;
//	labelwatch help  the usage of labelwatch or of one command.
//
// A usage error exits with status 2, any other error with 1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/labelwatch/labelwatch/internal/app"
	"github.com/labelwatch/labelwatch/internal/clock"
	"github.com/labelwatch/labelwatch/internal/config"
	"github.com/labelwatch/labelwatch/internal/slack"
	"github.com/labelwatch/labelwatch/internal/state"
	"github.com/labelwatch/labelwatch/internal/watch"
)

const usage = `usage: labelwatch <command> [flags]

Commands:
  run    one watch cycle against your AWS account
  demo   a scripted scenario against a built-in SageMaker emulator; no AWS account needed
  help   this text, or a command's: labelwatch help run

Settings come from the same environment variables as the Lambda (see README.md).
STATE_TABLE and Slack are optional here: without them state goes to a local
file and alerts are printed.`

// commandUsage introduces the command name above its flags, or is empty for
// no such command.
func commandUsage(name string) string {
	switch name {
	case "run":
		return `usage: labelwatch run [-state FILE]

Runs one watch cycle against the SageMaker labeling jobs of the account and
region of your AWS credentials, found as the AWS CLI finds them: AWS_PROFILE
or the default profile (` + "`aws configure`, `aws sso login`" + `), or AWS_ACCESS_KEY_ID
and AWS_SECRET_ACCESS_KEY, or the role of the EC2 instance or ECS/EKS task.
It needs sagemaker:ListLabelingJobs. The first run records what is there;
later runs alert on what changed.`
	case "demo":
		return `usage: labelwatch demo [-state FILE]

Plays a scripted scenario through the real cycle against a SageMaker emulator
on 127.0.0.1 with fake credentials: jobs start, progress, complete, fail and
stop, and each alert is printed (and posted, if Slack is set up).`
	}
	return ""
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Getenv, os.DirFS("/"), os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// run runs the command args[0] names with the flags after it. root is the
// machine's file system, where loadAWS looks for signs of EC2.
func run(ctx context.Context, args []string, getenv func(string) string, root fs.FS, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{err: errors.New("missing command: run or demo")}
	}
	name, args := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		return help(args, stdout)
	case "run", "demo":
	default:
		return usageError{err: fmt.Errorf("unknown command %q: want run or demo", name)}
	}
	flags, statePath := commandFlags(name)
	if err := flags.Parse(args); errors.Is(err, flag.ErrHelp) {
		printUsage(stdout, name)
		return nil
	} else if err != nil {
		return usageError{command: name, err: err}
	}
	if flags.NArg() > 0 {
		return usageError{command: name, err: fmt.Errorf("%s takes no arguments, got %q", name, flags.Arg(0))}
	}
	if name == "demo" {
		return demo(ctx, getenv, *statePath, stdout, stderr)
	}
	return runOnce(ctx, getenv, root, *statePath, stdout, stderr)
}

// help prints the usage of the command args names, or the general usage.
func help(args []string, stdout io.Writer) error {
	switch {
	case len(args) == 0:
		fmt.Fprintln(stdout, usage)
	case len(args) == 1 && commandUsage(args[0]) != "":
		printUsage(stdout, args[0])
	default:
		return usageError{err: fmt.Errorf("help %s: want help, help run or help demo", strings.Join(args, " "))}
	}
	return nil
}

// commandFlags returns the flags of the command name. Parse errors are
// returned, never printed: run decides where usage goes.
func commandFlags(name string) (*flag.FlagSet, *string) {
	flags := flag.NewFlagSet(name, flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	where := "labelwatch-state.json in the current directory, created by the first write"
	if name == "demo" {
		where = "a temporary file, removed at the end"
	}
	return flags, flags.String("state", "", "`FILE` that keeps job state (default: "+where+")")
}

// printUsage prints the usage of the command name, flags included.
func printUsage(w io.Writer, name string) {
	fmt.Fprintf(w, "%s\n\nFlags:\n", commandUsage(name))
	flags, _ := commandFlags(name)
	flags.SetOutput(w)
	flags.PrintDefaults()
}

// usageError is a command line labelwatch cannot run; command names the
// command whose usage helps, or is empty for the general usage.
type usageError struct {
	command string
	err     error
}

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// loggedError is the error of a cycle, which the cycle's log has already
// reported in full.
type loggedError struct{ err error }

func (e loggedError) Error() string { return e.err.Error() }
func (e loggedError) Unwrap() error { return e.err }

// exitCode reports err on stderr, unless the log already did, and returns
// the exit status for it: 0 for none, 2 for a usage error, 1 for others.
func exitCode(err error, stderr io.Writer) int {
	var usageErr usageError
	var logged loggedError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &usageErr):
		fmt.Fprintf(stderr, "labelwatch: %v\n\n", err)
		if usageErr.command == "" {
			fmt.Fprintln(stderr, usage)
		} else {
			printUsage(stderr, usageErr.command)
		}
		return 2
	case errors.As(err, &logged):
		return 1
	default:
		fmt.Fprintln(stderr, "labelwatch:", err)
		return 1
	}
}

// runOnce runs one real cycle with the user's AWS credentials. Credentials
// are checked before the state store is opened, so a run that cannot reach
// AWS leaves no state behind.
func runOnce(ctx context.Context, getenv func(string) string, root fs.FS, statePath string, stdout, stderr io.Writer) error {
	cfg, err := config.LoadLocal(getenv)
	if err != nil {
		return err
	}
	awsCfg, err := loadAWS(ctx, getenv, root)
	if err != nil {
		return err
	}
	var store state.Store
	if cfg.StateTable != "" {
		store = state.NewDynamoStore(dynamodb.NewFromConfig(awsCfg), cfg.StateTable, cfg.Retention, clock.System{})
	} else {
		if statePath == "" {
			statePath = "labelwatch-state.json"
		}
		if store, err = state.OpenFile(statePath, cfg.Retention, clock.System{}); err != nil {
			return err
		}
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	sum, err := app.NewWatcher(cfg, awsCfg, store, notifier(cfg.Slack, stdout), log, clock.System{}).Poll(ctx)
	fmt.Fprintln(stdout, describe(sum))
	if err != nil {
		return loggedError{err}
	}
	return nil
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
	return fmt.Sprintf("listed %d (%d in progress), transitions %d, alerted %d, cards and news %d, recorded silently %d, pending %d, held by another run %d; cursor %s",
		s.Listed, s.Running, s.Transitions, s.Alerted, s.News, s.Recorded, s.Pending, s.Contended, cursor)
}
