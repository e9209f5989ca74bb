// Package watch decides and delivers labelwatch's alerts: one cycle, in
// stages, each in its own file.
//
//	Poll: list (listing.go) -> load and decide (decide.go) -> ration (budget.go)
//	      -> claim (claim.go) -> send (deliver.go) -> commit (claim.go) -> cursor (cursor.go)
//	Push: describe one job -> the same stages, without the cursor
//
// A first run (firstrun.go) records the account's jobs before the first
// cursor exists. cycle.go holds Poll, Push and Apply, each the pipeline in
// one function.
//
// The words the code uses:
//   - transition: a job's status differs from the one its record holds.
//   - alert: the message of a transition into an alerting status (ALERT_ON).
//   - card: the one living Slack message of a running job (bot token only),
//     edited as the job moves; its outcome is a reply in the card's thread.
//   - news: what is told of a running job: its card posted or edited, and
//     progress notices (a milestone, a stall, failed objects) in its thread.
//   - claim: a lease on a job's record, taken before its alert or news is
//     sent, so that no other run sends it too.
//   - commit: the record written once Slack accepted the message, which
//     releases the claim; a claim not sent is released, to be tried again.
//   - cursor: where the last complete poll ended: the next lists the jobs
//     modified since, less OVERLAP, and those it saw there need no read.
//   - idle job: a job in progress that the last poll found nothing to do
//     for; the cursor keeps it, so the next poll need not read it either.
//   - origin: when the first run began; a job with no record that ended
//     before it was no news then, and is recorded without an alert.
//   - destination: where a route sends a job's messages (routes.go). The
//     first holds its card and news; an alert to each further one is a copy,
//     claimed and committed in a record of its own ("job#destination").
package watch

import (
	"context"
	"errors"
	"iter"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/labelwatch/labelwatch/internal/clock"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/slack"
	"github.com/labelwatch/labelwatch/internal/state"
)

// Source reads labeling jobs, within the user's filters.
type Source interface {
	// Modified lists the jobs modified after since, a page at a time.
	Modified(ctx context.Context, since time.Time) iter.Seq2[[]labeling.Job, error]
	// Running lists the jobs in progress, however long ago they were
	// modified, a page at a time.
	Running(ctx context.Context) iter.Seq2[[]labeling.Job, error]
	// Created lists the jobs created after after, oldest first, a page at
	// a time.
	Created(ctx context.Context, after time.Time) iter.Seq2[[]labeling.Job, error]
	// Describe reads one job. It fails with labeling.ErrNotFound when the
	// job does not exist and labeling.ErrNotWatched when it is outside the
	// filters.
	Describe(ctx context.Context, name string) (labeling.Job, error)
}

// Notifier delivers one Slack message (a post, an edit or a reply, as the
// message says), answers where Slack put it, and says whether a failure is
// worth retrying. It states what it can do: a run keeps living cards only
// when it can edit, and keeps them in the channel it posts to. A notifier
// whose credential can change (one read from a secret) states what the
// current one can do, so each run asks anew.
type Notifier interface {
	Send(ctx context.Context, m slack.Message) (at slack.Posted, retry bool, err error)
	Capabilities() slack.Capabilities
}

// Options tune a Watcher. Zero values take the defaults noted.
type Options struct {
	Rules           Rules
	Overlap         time.Duration // how far before the cursor to list again
	DeadlineMargin  time.Duration // stop this long before the invocation deadline
	DigestThreshold int           // more alerts than this in one cycle become one digest
	Pace            time.Duration // least time between two Slack posts
	Concurrency     int           // state reads and writes in flight; default DefaultConcurrency
	Retrier         Retrier       // default DefaultRetrier
	ClockSkew       time.Duration // how far two hosts' clocks may differ; leases outlive the deadline by this; default DefaultClockSkew
	// Router picks where each job's messages go; nil sends them all to
	// the notifier's own channel or webhook, mentioning no one.
	Router Router
	// Lanes pace the messages to each destination of every watcher that
	// shares them (the sources of one function); nil gives each run lanes
	// of its own.
	Lanes *Lanes
	// ThreadOutcomes keeps the outcome of a job with a card, but for a
	// failure, in the card's thread. By default every outcome is broadcast
	// to the channel too: the card itself was posted long ago, far up.
	ThreadOutcomes bool
}

// DefaultConcurrency is how many state reads and writes a cycle keeps in
// flight unless Options say otherwise. The AWS clients keep as many idle
// connections (app.AWSHTTPClient), so a burst reuses them.
const DefaultConcurrency = 32

// DefaultClockSkew is how far apart the clocks of two Lambda hosts are
// assumed to be at most.
const DefaultClockSkew = 30 * time.Second

// Watcher polls and pushes. It holds no state between invocations: all of it
// is in the Store. It only remembers that it found the cursor seeded, which
// stays so, to list ahead in the next cycle.
type Watcher struct {
	source   Source
	store    state.Store
	notifier Notifier
	log      *slog.Logger
	clock    clock.Clock
	opts     Options
	seeded   atomic.Bool
}

// New returns a Watcher.
func New(source Source, store state.Store, notifier Notifier, log *slog.Logger, clock clock.Clock, opts Options) *Watcher {
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Retrier.Attempts <= 0 {
		opts.Retrier = DefaultRetrier
	}
	if opts.DigestThreshold <= 0 {
		opts.DigestThreshold = 10
	}
	if opts.ClockSkew <= 0 {
		opts.ClockSkew = DefaultClockSkew
	}
	return &Watcher{source: source, store: store, notifier: notifier, log: log, clock: clock, opts: opts}
}

// ErrPending is returned (wrapped) by Poll, Push and Apply when some alert is
// not delivered.
var ErrPending = errors.New("alerts pending")
