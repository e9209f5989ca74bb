// Command profile is the function's handler wired as cmd/handler wires it
// (config.Load, then app.OpenHandler), without
// the Lambda runtime, so that labelbench can take a CPU profile of one cycle
// at the function's CPU share without a change to cmd/handler.
//
// It reads its settings from the environment, as the function does, prints
// "ready" and waits for a line on standard input; invokes the handler with
// the event in -event (the warm-up), prints "warm" and waits for another
// line; then invokes it again with a CPU profile running, writes the profile
// to -out and prints the handler's result as one JSON line.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"time"

	"github.com/labelwatch/labelwatch/internal/app"
	"github.com/labelwatch/labelwatch/internal/config"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	eventPath := flag.String("event", "", "the event to invoke the handler with")
	out := flag.String("out", "cpu.pprof", "write the CPU profile here")
	timeout := flag.Duration("timeout", 60*time.Second, "each invocation's deadline, as AWS_LAMBDA_FUNCTION_TIMEOUT gives it")
	flag.Parse()
	event, err := os.ReadFile(*eventPath)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	app.TuneGC(os.Getenv)
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return err
	}
	handler, err := app.OpenHandler(ctx, cfg, log, io.Discard, "labelbench-profile")
	if err != nil {
		return err
	}

	in := bufio.NewReader(os.Stdin)
	invoke := func() (app.Result, error) {
		ictx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		return handler.Invoke(ictx, event)
	}
	fmt.Println("ready")
	if _, err := in.ReadString('\n'); err != nil {
		return err
	}
	if _, err := invoke(); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	fmt.Println("warm")
	if _, err := in.ReadString('\n'); err != nil {
		return err
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	r, err := invoke()
	pprof.StopCPUProfile()
	if err != nil {
		return fmt.Errorf("profiled invocation: %w", err)
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}
