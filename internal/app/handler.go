package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws/arn"

	"github.com/labelwatch/labelwatch/internal/clock"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/metrics"
	"github.com/labelwatch/labelwatch/internal/watch"
)

// The events the function acts on: the schedule's, and the one SageMaker
// puts on the default bus when a labeling job changes status.
const (
	scheduleSource     = "aws.events"
	scheduleDetailType = "Scheduled Event"
	stateChangeSource  = "aws.sagemaker"
	stateChangeType    = "SageMaker Ground Truth Labeling Job State Change"
)

// Triggers name what an invocation did, in Result.Trigger.
const (
	TriggerPoll    = "poll"
	TriggerPush    = "push"
	TriggerIgnored = "ignored"
)

// Result is what an invocation returns: the summary of the poll or push it
// ran, as the watcher counted it, never a secret. When the handler fails, Lambda answers with its own
// errorMessage and errorType instead; they are here too, so that every
// answer of the function, failed or not, decodes into this one type.
type Result struct {
	Trigger string `json:"trigger,omitempty"` // TriggerPoll, TriggerPush or TriggerIgnored
	watch.Summary

	ErrorMessage string `json:"errorMessage,omitempty"`
	ErrorType    string `json:"errorType,omitempty"`
}

// Handler is the function's handler: a scheduled event polls every source;
// a labeling job state change pushes the job it names, if the job is in a
// source the function watches (its own account and region, or one of
// WithSources); anything else is logged once and ignored. Each poll and
// push writes its metrics, failed or not.
type Handler struct {
	watcher *watch.Watcher
	metrics *metrics.Emitter
	log     *slog.Logger
	region  string // the function's, where its SageMaker client reads jobs; "" when not told
	// sources are the watchers of the other sources, by "region" or
	// "account/region" (WithSources).
	sources map[string]*watch.Watcher
	// lanes pace the Slack messages of every source of one invocation
	// (WithLanes).
	lanes *watch.Lanes
}

// Option configures a Handler built by NewHandler.
type Option func(*Handler)

// WithRegion sets the function's region, the one its SageMaker client reads
// jobs in: AWS_REGION, which Lambda sets. Without it, the region is the one
// in the ARN the function is invoked by, which is the same in Lambda but not
// under the Lambda Runtime Interface Emulator (and so `sam local invoke`),
// whose ARN always names us-east-1.
func WithRegion(region string) Option { return func(h *Handler) { h.region = region } }

// WithLanes names the lanes the watchers pace their Slack messages on:
// each invocation begins them anew (watch.Lanes.Begin).
func WithLanes(lanes *watch.Lanes) Option { return func(h *Handler) { h.lanes = lanes } }

// NewHandler returns the handler running watcher. It writes the metrics of
// each run to metricsOut (the function's stdout, where CloudWatch Logs
// extracts them) for the function named function (AWS_LAMBDA_FUNCTION_NAME),
// stamped with the clock's time.
func NewHandler(watcher *watch.Watcher, log *slog.Logger, metricsOut io.Writer, function string, clock clock.Clock, opts ...Option) *Handler {
	h := &Handler{watcher: watcher, metrics: metrics.NewEmitter(metricsOut, function, clock), log: log}
	for _, opt := range opts {
		opt(h)
	}
	return h
}

// Invoke handles one event. It takes the event as raw JSON, so that one it
// cannot read is ignored like any other it does not handle: it returns
// success, because EventBridge would otherwise retry it for hours.
func (h *Handler) Invoke(ctx context.Context, raw json.RawMessage) (Result, error) {
	if h.lanes != nil {
		h.lanes.Begin()
	}
	var ev events.EventBridgeEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return h.ignore(ev, fmt.Sprintf("not an EventBridge event: %v", err))
	}
	switch {
	case ev.Source == scheduleSource && ev.DetailType == scheduleDetailType:
		sum, err := h.poll(ctx)
		h.report(h.metrics.Poll(sum, err != nil))
		return Result{Trigger: TriggerPoll, Summary: sum}, err
	case ev.Source == stateChangeSource && ev.DetailType == stateChangeType:
		return h.push(ctx, ev)
	default:
		return h.ignore(ev, "not an event labelwatch handles")
	}
}

// push applies the job a state change event names. The event's own status
// is not used: Describe reads the job as it is now.
func (h *Handler) push(ctx context.Context, ev events.EventBridgeEvent) (Result, error) {
	if len(ev.Resources) != 1 {
		return h.ignore(ev, fmt.Sprintf("want one labeling job ARN in resources, got %d", len(ev.Resources)))
	}
	job, err := labeling.ParseARN(ev.Resources[0])
	if err != nil {
		return h.ignore(ev, err.Error())
	}
	// Another account's source, another region of the function's own, or
	// its own region.
	watcher, other := h.sources[job.Account+"/"+job.Region]
	sameAccount := !other
	if !other {
		watcher, other = h.sources[job.Region]
	}
	if !other {
		watcher = h.watcher
	}
	if why := h.elsewhere(ctx, job, sameAccount, !other); why != "" {
		return h.ignore(ev, why)
	}
	sum, err := watcher.Push(ctx, job.Name)
	if errors.Is(err, labeling.ErrNotFound) || errors.Is(err, labeling.ErrNotWatched) {
		return h.ignore(ev, err.Error())
	}
	h.report(h.metrics.Push(sum))
	return Result{Trigger: TriggerPush, Summary: sum}, err
}

// place is where something is in AWS. A part left "" is not known.
type place struct{ partition, region, account string }

// elsewhere says why the job is not the function's to read, or "" when it
// is. Describe takes the job's name only, and reads it in the function's own
// account and region: an event about a job elsewhere (from a bus that
// gathers the events of an organization's accounts, or of several regions)
// would be taken for the function's job of the same name, which alerts for
// the wrong job or for none. What the function cannot know of its own place
// is not compared, nor the account when checkAccount is false or the region
// when checkRegion is false: the job is in another source the function
// watches, and read there.
func (h *Handler) elsewhere(ctx context.Context, job labeling.ARN, checkAccount, checkRegion bool) string {
	home := h.home(ctx)
	if !checkAccount {
		home.account = ""
	}
	if !checkRegion {
		home.region = ""
	}
	for _, c := range []struct{ what, job, home string }{
		{"partition", job.Partition, home.partition},
		{"region", job.Region, home.region},
		{"account", job.Account, home.account},
	} {
		if c.home != "" && c.job != c.home {
			return fmt.Sprintf("the job is in %s %s, not in the function's %s %s", c.what, c.job, c.what, c.home)
		}
	}
	return ""
}

// home is the function's place: partition, region and account from the ARN
// Lambda invoked it by (a version's or an alias's names the same), the region
// from WithRegion when given. Outside Lambda (a test or a tool calling
// Invoke) there is no such ARN, and so no account: only the region given is
// compared, and an event from another account is read as the function's own.
func (h *Handler) home(ctx context.Context) place {
	var p place
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		// Lambda always sends a function ARN; were one unreadable, only the
		// region given would be compared, as outside Lambda.
		if fn, err := arn.Parse(lc.InvokedFunctionArn); err == nil && fn.Service == "lambda" {
			p = place{partition: fn.Partition, region: fn.Region, account: fn.AccountID}
		}
	}
	if h.region != "" {
		p.region = h.region
	}
	return p
}

// report logs a metrics line that could not be written. The run itself
// stands: its result and its log lines still tell what it did.
func (h *Handler) report(err error) {
	if err != nil {
		h.log.Warn("metrics not written", "error", err)
	}
}

// ignore logs the one warning for an event the function does not act on.
// What comes from the event is cut short, the reason too (a JSON error
// quotes the bad value): an event can hold anything.
func (h *Handler) ignore(ev events.EventBridgeEvent, why string) (Result, error) {
	h.log.Warn("event ignored", "reason", clip(why),
		"event_id", clip(ev.ID), "source", clip(ev.Source), "detail_type", clip(ev.DetailType))
	return Result{Trigger: TriggerIgnored}, nil
}

// clip cuts text from an event to about 200 bytes for the log.
func clip(s string) string { return labeling.Clip(s, 200) }
