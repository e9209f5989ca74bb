package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

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

// Result is what an invocation returns: the counts of the poll or push it
// ran, never a secret. When the handler fails, Lambda answers with its own
// errorMessage and errorType instead; they are here too, so that every
// answer of the function, failed or not, decodes into this one type.
type Result struct {
	Trigger     string    `json:"trigger,omitempty"` // TriggerPoll, TriggerPush or TriggerIgnored
	Job         string    `json:"job,omitempty"`     // the job a push was for, as SageMaker names it
	FirstRun    bool      `json:"firstRun"`
	Listed      int       `json:"listed"`
	Running     int       `json:"running"` // jobs listed as in progress, for cards and warnings
	Transitions int       `json:"transitions"`
	Alerted     int       `json:"alerted"`
	Told        int       `json:"told"` // cards posted or edited, progress news told
	Pending     int       `json:"pending"`
	Deferred    int       `json:"deferred"` // a push's jobs left to the poll in a storm of pushes
	Contended   int       `json:"contended"`
	Cursor      time.Time `json:"cursor,omitzero"` // a poll's; a push has none
	DurationMS  int64     `json:"durationMs"`

	ErrorMessage string `json:"errorMessage,omitempty"`
	ErrorType    string `json:"errorType,omitempty"`
}

// Handler is the function's handler: a scheduled event polls; a labeling
// job state change pushes the job it names; anything else is logged once
// and ignored. Each poll and push writes its metrics, failed or not.
type Handler struct {
	watcher *watch.Watcher
	metrics *metrics.Emitter
	log     *slog.Logger
}

// NewHandler returns the handler running watcher. It writes the metrics of
// each run to metricsOut (the function's stdout, where CloudWatch Logs
// extracts them) for the function named function (AWS_LAMBDA_FUNCTION_NAME),
// stamped with now.
func NewHandler(watcher *watch.Watcher, log *slog.Logger, metricsOut io.Writer, function string, now func() time.Time) *Handler {
	return &Handler{watcher: watcher, metrics: metrics.NewEmitter(metricsOut, function, now), log: log}
}

// Invoke handles one event. It takes the event as raw JSON, so that one it
// cannot read is ignored like any other it does not handle: it returns
// success, because EventBridge would otherwise retry it for hours.
func (h *Handler) Invoke(ctx context.Context, raw json.RawMessage) (Result, error) {
	var ev events.EventBridgeEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return h.ignore(ev, fmt.Sprintf("not an EventBridge event: %v", err))
	}
	switch {
	case ev.Source == scheduleSource && ev.DetailType == scheduleDetailType:
		sum, err := h.watcher.Poll(ctx)
		h.report(h.metrics.Poll(run(sum, err)))
		return result(TriggerPoll, sum), err
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
	name, err := labeling.NameFromARN(ev.Resources[0])
	if err != nil {
		return h.ignore(ev, err.Error())
	}
	sum, err := h.watcher.Push(ctx, name)
	if errors.Is(err, labeling.ErrNotFound) || errors.Is(err, labeling.ErrNotWatched) {
		return h.ignore(ev, err.Error())
	}
	h.report(h.metrics.Push(run(sum, err)))
	return result(TriggerPush, sum), err
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

func run(sum watch.Summary, err error) metrics.Run {
	return metrics.Run{
		Failed: err != nil, Listed: sum.Listed, Transitions: sum.Transitions,
		Alerted: sum.Alerted, Pending: sum.Pending, Cursor: sum.Cursor, Duration: sum.Duration,
	}
}

func result(trigger string, sum watch.Summary) Result {
	return Result{
		Trigger: trigger, Job: sum.Job,
		FirstRun: sum.FirstRun, Listed: sum.Listed, Running: sum.Running, Transitions: sum.Transitions,
		Alerted: sum.Alerted, Told: sum.Told, Pending: sum.Pending, Deferred: sum.Deferred, Contended: sum.Contended,
		Cursor: sum.Cursor, DurationMS: sum.Duration.Milliseconds(),
	}
}
