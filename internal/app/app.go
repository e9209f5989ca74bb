// Package app wires labelwatch's parts from its configuration, the same way
// for the Lambda handler and the local CLI.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/labelwatch/labelwatch/internal/clock"
	"github.com/labelwatch/labelwatch/internal/config"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/secret"
	"github.com/labelwatch/labelwatch/internal/slack"
	"github.com/labelwatch/labelwatch/internal/state"
	"github.com/labelwatch/labelwatch/internal/watch"
)

// OpenHandler builds, at cold start, the function's handler for cfg: the
// AWS SDK clients (which honour AWS_ENDPOINT_URL_*), the Slack notifier
// (reading the secret when cfg names one), the DynamoDB store and the
// watcher. Logs go to log, metrics to stdout under functionName.
// cmd/handler serves it to Lambda; labelbench profiles it.
func OpenHandler(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer, functionName string) (*Handler, error) {
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithHTTPClient(AWSHTTPClient()))
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	notifier, err := OpenNotifier(ctx, cfg, awsCfg, log)
	if err != nil {
		return nil, err
	}
	warnCards(cfg, notifier, log)
	store := state.NewDynamoStore(dynamodb.NewFromConfig(awsCfg), cfg.StateTable, cfg.Retention, clock.System{})
	// Every source's messages go to the same destinations: one lane each
	// paces them all, an invocation at a time.
	lanes := &watch.Lanes{}
	opts := []Option{WithRegion(awsCfg.Region), WithLanes(lanes)}
	sources, err := openSources(cfg, awsCfg, store, notifier, log, lanes)
	if err != nil {
		return nil, err
	}
	if len(sources) > 0 {
		opts = append(opts, WithSources(sources))
		log = log.With("region", awsCfg.Region)
	}
	watcher := newWatcher(cfg, awsCfg, store, notifier, log, clock.System{}, lanes)
	return NewHandler(watcher, log, stdout, functionName, clock.System{}, opts...), nil
}

// NewWatcher builds the watcher for cfg: SageMaker from awsCfg (which honours
// AWS_ENDPOINT_URL_SAGEMAKER), the given store and notifier, and the
// routes of cfg (a job no route takes goes to the notifier's own channel or
// webhook, its failures mentioning cfg.Slack.MentionOnFailure). Cards are
// kept when cfg.Slack.Cards allows them and notifier can edit messages now:
// each run asks it (watch.Notifier.Capabilities), so a credential read from
// a secret and rotated from a webhook to a bot token, or back, takes cards
// up or leaves them at its next run.
// clock is the watcher's time: clock.System{} but in the demo, whose
// hours pass in an instant.
func NewWatcher(cfg config.Config, awsCfg aws.Config, store state.Store, notifier watch.Notifier, log *slog.Logger, clock clock.Clock) *watch.Watcher {
	warnCards(cfg, notifier, log)
	return newWatcher(cfg, awsCfg, store, notifier, log, clock, nil)
}

// warnCards says once, at cold start, that SLACK_CARDS=on cannot be
// followed with the credential notifier has now.
func warnCards(cfg config.Config, notifier watch.Notifier, log *slog.Logger) {
	if notifier != nil && cfg.Slack.Cards == config.CardsOn && !notifier.Capabilities().Edit {
		log.Warn("SLACK_CARDS=on, but the Slack credential is an incoming webhook, which cannot edit messages: one message per alert instead, until the credential is a bot token")
	}
}

// newWatcher is NewWatcher whose messages go through lanes, shared with
// the watchers of the function's other sources (nil: lanes of each run's
// own).
func newWatcher(cfg config.Config, awsCfg aws.Config, store state.Store, notifier watch.Notifier, log *slog.Logger, clock clock.Clock, lanes *watch.Lanes) *watch.Watcher {
	source := labeling.NewSource(sagemaker.NewFromConfig(awsCfg), labeling.Filter{NameContains: cfg.NameContains, CreatedAfter: cfg.IgnoreCreatedBefore}).
		WithAccountNames(cfg.AccountNames)
	return watch.New(source, store, notifier, log, clock, watch.Options{
		Rules: watch.Rules{
			AlertOn: cfg.AlertOn, Lookback: cfg.Lookback,
			Cards: cfg.Slack.Cards != config.CardsOff, Milestones: cfg.Milestones, StuckAfter: cfg.StuckAfter, FailedShare: cfg.FailedObjectsWarn,
		},
		Overlap:         cfg.Overlap,
		DeadlineMargin:  cfg.DeadlineMargin,
		DigestThreshold: cfg.DigestThreshold,
		Pace:            cfg.Slack.Pace,
		ClockSkew:       cfg.ClockSkew,
		ThreadOutcomes:  cfg.Slack.Broadcast == config.BroadcastFailures,
		Router:          newRouter(cfg),
		Lanes:           lanes,
	})
}

// AWSHTTPClient is the HTTP client for labelwatch's AWS SDK clients: the
// SDK's default, with every attempt of a call bounded by AWSAttemptTimeout
// (so the SDK's retryer retries one that stalls) and as many idle
// connections to each endpoint as a cycle has state reads and writes in
// flight. See aws.go.
func AWSHTTPClient() *awshttp.BuildableClient {
	return AWSHTTPClientWithTimeout(AWSAttemptTimeout)
}

// NewNotifier returns the Slack sender cfg asks for, or nil in print mode.
// A credential held in a secret (config.ModeSecret) must be read first: use
// OpenNotifier for it.
func NewNotifier(cfg config.Slack) watch.Notifier {
	if cfg.Mode == config.ModePrint {
		return nil
	}
	return newSender(cfg)
}

// newSender is the Slack sender of a webhook or bot cfg.
func newSender(cfg config.Slack) *slack.Sender {
	hc := &http.Client{Timeout: cfg.Timeout}
	switch cfg.Mode {
	case config.ModeWebhook:
		return slack.NewWebhookSender(cfg.WebhookURL, hc, clock.System{})
	case config.ModeBot:
		return slack.NewBotSender(cfg.BotToken, cfg.Channel, cfg.APIURL, hc, clock.System{})
	}
	panic("app.NewNotifier: a Slack credential held in a secret needs app.OpenNotifier")
}

// OpenNotifier returns the Slack sender cfg asks for, as NewNotifier does,
// but for a credential held in the secret cfg.Slack.SecretARN: it reads
// the secret now, through Secrets Manager from awsCfg (which honours
// AWS_ENDPOINT_URL_SECRETS_MANAGER), and again when Slack refuses the
// credential (secret.Notifier). The secret's named webhooks serve the
// routes that name them. A failed read, or a secret that lacks what
// cfg.Routes need, is a failed cold start; the error names the secret's
// ARN, never its value.
func OpenNotifier(ctx context.Context, cfg config.Config, awsCfg aws.Config, log *slog.Logger) (watch.Notifier, error) {
	if cfg.Slack.Mode != config.ModeSecret {
		return NewNotifier(cfg.Slack), nil
	}
	reader := secret.NewReader(secretsmanager.NewFromConfig(awsCfg), cfg.Slack.SecretARN, 0)
	var first *secret.Slack // the credential read at cold start
	build := func(c secret.Slack) secret.Sender {
		if first == nil {
			first = &c
		}
		plain := cfg.Slack
		plain.Mode, plain.WebhookURL, plain.BotToken, plain.Channel = config.ModeWebhook, c.WebhookURL, "", ""
		if c.WebhookURL == "" {
			plain.Mode, plain.BotToken, plain.Channel = config.ModeBot, c.BotToken, c.Channel
		}
		sw := slack.Switch{Default: newSender(plain), Webhooks: map[string]*slack.Sender{}}
		for name, url := range c.Webhooks {
			sw.Webhooks[name] = newSender(config.Slack{Mode: config.ModeWebhook, WebhookURL: url, Timeout: cfg.Slack.Timeout})
		}
		return sw
	}
	n, err := secret.NewNotifier(ctx, reader, build, log, clock.System{})
	if err != nil {
		return nil, err
	}
	if err := routesFit(cfg.Routes, *first); err != nil {
		return nil, fmt.Errorf("invalid configuration: the Slack secret %s does not serve ROUTES:\n%w", reader.ARN(), err)
	}
	return n, nil
}

// Tee sends every message to each notifier in turn and fails as the first
// failing one does. The local CLI posts and prints: the first notifier is
// the one that counts, whose places Send answers and whose Capabilities
// are Tee's.
type Tee []watch.Notifier

// Send delivers m to every notifier of t and answers where the first one
// put it.
func (t Tee) Send(ctx context.Context, m slack.Message) (slack.Posted, bool, error) {
	var where slack.Posted
	for i, n := range t {
		if i == 1 {
			// The places are the first one's: to the others an edit or a
			// reply is a message of its own.
			m.Edit, m.Thread, m.Broadcast = slack.Posted{}, slack.Posted{}, false
		}
		at, retry, err := n.Send(ctx, m)
		if err != nil {
			return where, retry, fmt.Errorf("tee: %w", err)
		}
		if i == 0 {
			where = at
		}
	}
	return where, false, nil
}

// Capabilities are those of t's first notifier: the others follow it.
func (t Tee) Capabilities() slack.Capabilities {
	if len(t) == 0 {
		return slack.Capabilities{}
	}
	return t[0].Capabilities()
}
