// Package metrics reports what each run of the function did as one line of
// CloudWatch embedded metric format (EMF) on the function's log stream:
// CloudWatch Logs extracts the metrics from it, so reporting them takes no
// API call and no permission.
//
// The format is the one specified at
// https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
package metrics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/labelwatch/labelwatch/internal/clock"
	"github.com/labelwatch/labelwatch/internal/watch"
)

// The metrics' identity, which alarms name: keep them as they are.
const (
	Namespace = "Labelwatch"
	// Dimension is the one dimension of every metric. Its value is the
	// function's name (AWS_LAMBDA_FUNCTION_NAME), so that two deployments in
	// one account and region have metrics of their own.
	Dimension = "FunctionName"
)

// Metric names.
const (
	PollsCompleted = "PollsCompleted" // 1 for a poll that ended without error, else 0
	JobsListed     = "JobsListed"
	Transitions    = "Transitions"
	AlertsSent     = "AlertsSent"
	AlertsPending  = "AlertsPending"
	RunDuration    = "RunDuration"
	CursorLag      = "CursorLag" // how far the cursor is behind now; a poll's, once there is a cursor
)

// Trigger is the run's kind, in the line's Trigger member. It is a property,
// not a dimension: the metrics of polls and pushes add up, and a search of
// the logs can still tell them apart.
const (
	TriggerPoll = "poll"
	TriggerPush = "push"
)

// Unit is a CloudWatch unit, of those the specification's schema allows.
type Unit string

// The units labelwatch's metrics use.
const (
	Count        Unit = "Count"
	Milliseconds Unit = "Milliseconds"
	Seconds      Unit = "Seconds"
)

// Emitter writes one EMF line per run. It is safe for concurrent use; each
// line goes out in one Write, so it does not interleave with other lines.
type Emitter struct {
	out      io.Writer
	function string
	clock    clock.Clock

	mu sync.Mutex // serializes writes to out
}

// NewEmitter returns an Emitter writing to out (the function's stdout) for
// the function named function, stamping each line with the clock's time.
func NewEmitter(out io.Writer, function string, clock clock.Clock) *Emitter {
	return &Emitter{out: out, function: function, clock: clock}
}

// metric is one value of a line.
type metric struct {
	name  string
	unit  Unit
	value float64
}

// Poll writes the line of a poll; failed is whether it returned an error
// (alerts may be pending, the cursor kept).
func (e *Emitter) Poll(r watch.Summary, failed bool) error {
	now := e.clock.Now()
	completed := 1.0
	if failed {
		completed = 0
	}
	ms := []metric{
		{PollsCompleted, Count, completed},
		{JobsListed, Count, float64(r.Listed)},
		{Transitions, Count, float64(r.Transitions)},
		{AlertsSent, Count, float64(r.Alerted)},
		{AlertsPending, Count, float64(r.Pending)},
		{RunDuration, Milliseconds, float64(r.DurationMS)},
	}
	if !r.Cursor.IsZero() {
		// The cursor is a SageMaker modification time and now this host's
		// clock: a skew between them is no lag.
		ms = append(ms, metric{CursorLag, Seconds, max(now.Sub(r.Cursor), 0).Seconds()})
	}
	return e.write(now, TriggerPoll, ms)
}

// Push writes the line of a push. It has no AlertsPending: an alert a push
// leaves pending is the next poll's to send, and to count, and the
// pending-alerts alarm takes the Minimum over a period, which one push that
// sent its alert would make 0 however stuck the polls' alerts are.
func (e *Emitter) Push(r watch.Summary) error {
	return e.write(e.clock.Now(), TriggerPush, []metric{
		{AlertsSent, Count, float64(r.Alerted)},
		{Transitions, Count, float64(r.Transitions)},
		{RunDuration, Milliseconds, float64(r.DurationMS)},
	})
}

// The document's parts, in the specification's names. Its root is written
// by hand, so that _aws comes first and the members follow in a fixed order.
type (
	metadata struct {
		Timestamp         int64             `json:"Timestamp"` // milliseconds since the Unix epoch
		CloudWatchMetrics []metricDirective `json:"CloudWatchMetrics"`
	}
	metricDirective struct {
		Namespace  string             `json:"Namespace"`
		Dimensions [][]string         `json:"Dimensions"`
		Metrics    []metricDefinition `json:"Metrics"`
	}
	metricDefinition struct {
		Name string `json:"Name"`
		Unit Unit   `json:"Unit"`
	}
)

func (e *Emitter) write(now time.Time, trigger string, ms []metric) error {
	meta := metadata{
		Timestamp: now.UnixMilli(),
		CloudWatchMetrics: []metricDirective{{
			Namespace:  Namespace,
			Dimensions: [][]string{{Dimension}},
			Metrics:    make([]metricDefinition, len(ms)),
		}},
	}
	for i, m := range ms {
		meta.CloudWatchMetrics[0].Metrics[i] = metricDefinition{Name: m.name, Unit: m.unit}
	}
	var line bytes.Buffer
	member := func(name string, value any) error {
		b, err := json.Marshal(value)
		if err != nil {
			return fmt.Errorf("encode metrics member %s: %w", name, err)
		}
		if line.Len() == 0 {
			line.WriteByte('{')
		} else {
			line.WriteByte(',')
		}
		k, _ := json.Marshal(name) // a string always encodes
		line.Write(k)
		line.WriteByte(':')
		line.Write(b)
		return nil
	}
	if err := member("_aws", meta); err != nil {
		return err
	}
	if err := member(Dimension, e.function); err != nil {
		return err
	}
	if err := member("Trigger", trigger); err != nil {
		return err
	}
	for _, m := range ms {
		if err := member(m.name, m.value); err != nil {
			return err
		}
	}
	line.WriteString("}\n")

	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.out.Write(line.Bytes()); err != nil {
		return fmt.Errorf("write metrics: %w", err)
	}
	return nil
}
