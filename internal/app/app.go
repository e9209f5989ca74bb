// Package app wires labelwatch's parts from its configuration, the same way
// for the Lambda handler and the local CLI.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"

	"github.com/labelwatch/labelwatch/internal/config"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/slack"
	"github.com/labelwatch/labelwatch/internal/state"
	"github.com/labelwatch/labelwatch/internal/watch"
)

// NewWatcher builds the watcher for cfg: SageMaker from awsCfg (which honours
// AWS_ENDPOINT_URL_SAGEMAKER), the given store and notifier.
func NewWatcher(cfg config.Config, awsCfg aws.Config, store state.Store, notifier watch.Notifier, log *slog.Logger) *watch.Watcher {
	source := labeling.NewSource(sagemaker.NewFromConfig(awsCfg), labeling.Filter{NameContains: cfg.NameContains, CreatedAfter: cfg.IgnoreCreatedBefore})
	return watch.New(source, store, notifier, log, watch.SystemClock{}, watch.Options{
		Rules:           watch.Rules{AlertOn: cfg.AlertOn, Lookback: cfg.Lookback},
		Overlap:         cfg.Overlap,
		DeadlineMargin:  cfg.DeadlineMargin,
		DigestThreshold: cfg.DigestThreshold,
		Pace:            cfg.Slack.Pace,
		ClockSkew:       cfg.ClockSkew,
	})
}

// AWSHTTPClient is the HTTP client for labelwatch's AWS SDK clients: the
// SDK's default, keeping as many idle connections to each endpoint as a cycle
// has state reads and writes in flight. With the SDK's own 10, a burst of
// writes closes and reopens (and TLS-handshakes) connections all along.
func AWSHTTPClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = watch.DefaultConcurrency
	})
}

// NewNotifier returns the Slack sender cfg asks for, or nil in print mode.
func NewNotifier(cfg config.Slack) watch.Notifier {
	hc := &http.Client{Timeout: cfg.Timeout}
	switch cfg.Mode {
	case config.ModeWebhook:
		return slack.NewWebhookSender(cfg.WebhookURL, hc)
	case config.ModeBot:
		return slack.NewBotSender(cfg.BotToken, cfg.Channel, cfg.APIURL, hc)
	default:
		return nil
	}
}

// Tee sends every message to each notifier in turn and fails as the first
// failing one does. The local CLI prints and, when Slack is set up, posts.
type Tee []watch.Notifier

// Send delivers m to every notifier of t.
func (t Tee) Send(ctx context.Context, m slack.Message) (bool, error) {
	for _, n := range t {
		if retry, err := n.Send(ctx, m); err != nil {
			return retry, fmt.Errorf("tee: %w", err)
		}
	}
	return false, nil
}
