// Package secret reads labelwatch's Slack credential from an AWS Secrets
// Manager secret, and reads it again when Slack stops taking it or it is
// DefaultMaxAge old, so a rotated webhook or bot token takes effect without
// a deploy.
package secret

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/labelwatch/labelwatch/internal/config"
)

// Slack is the credential a secret holds, its SecretString being JSON:
//
//	{"webhook_url": "https://hooks.slack.com/services/..."}
//
// or
//
//	{"bot_token": "xoxb-...", "channel": "C0123456789"}
//
// either of them with the incoming webhooks that routes (ROUTES) name:
//
//	"webhooks": {"team-a": "https://hooks.slack.com/services/..."}
//
// Its fields are secrets: String, GoString, LogValue and MarshalJSON hide
// them, so a stray %v, log attribute or encoded result shows no credential.
type Slack struct {
	WebhookURL string
	BotToken   string
	Channel    string
	Webhooks   map[string]string // named incoming webhooks' URLs, for routes
}

// Same reports whether s and o hold the same credential.
func (s Slack) Same(o Slack) bool {
	return s.WebhookURL == o.WebhookURL && s.BotToken == o.BotToken && s.Channel == o.Channel && maps.Equal(s.Webhooks, o.Webhooks)
}

// String hides the credential.
func (Slack) String() string { return "slack credential (redacted)" }

// GoString hides the credential.
func (s Slack) GoString() string { return s.String() }

// LogValue hides the credential from slog.
func (s Slack) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON hides the credential from encoding/json.
func (s Slack) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// The keys of a secret's JSON.
const (
	KeyWebhookURL = "webhook_url"
	KeyBotToken   = "bot_token"
	KeyChannel    = "channel"
	KeyWebhooks   = "webhooks"
)

// Parse reads the JSON of a secret's SecretString. Its errors name the keys
// that are missing or invalid and never show a value: not even a syntax
// error's character.
func Parse(secretString string) (Slack, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(secretString), &fields); err != nil {
		if syntax, ok := errors.AsType[*json.SyntaxError](err); ok {
			return Slack{}, fmt.Errorf("the secret is not JSON (syntax error at byte %d); want %s", syntax.Offset, want)
		}
		return Slack{}, fmt.Errorf("the secret is not a JSON object; want %s", want)
	}
	if fields == nil { // the JSON null
		return Slack{}, fmt.Errorf("the secret is not a JSON object; want %s", want)
	}
	var (
		s    Slack
		errs []error
	)
	str := func(key string) string {
		raw, ok := fields[key]
		if !ok {
			return ""
		}
		var v string
		if json.Unmarshal(raw, &v) != nil {
			errs = append(errs, fmt.Errorf("key %q is not a JSON string", key))
			return ""
		}
		v = strings.TrimSpace(v)
		if v == "" {
			errs = append(errs, fmt.Errorf("key %q is empty", key))
		}
		return v
	}
	s.WebhookURL, s.BotToken, s.Channel = str(KeyWebhookURL), str(KeyBotToken), str(KeyChannel)
	if raw, ok := fields[KeyWebhooks]; ok {
		var hooks map[string]json.RawMessage
		if json.Unmarshal(raw, &hooks) != nil || hooks == nil {
			errs = append(errs, fmt.Errorf("key %q is not a JSON object of names and webhook URLs", KeyWebhooks))
		}
		for _, name := range slices.Sorted(maps.Keys(hooks)) {
			var u string
			switch {
			case config.CheckWebhookName(name) != "":
				errs = append(errs, fmt.Errorf("key %q: a webhook's name %s", KeyWebhooks, config.CheckWebhookName(name)))
			case json.Unmarshal(hooks[name], &u) != nil:
				errs = append(errs, fmt.Errorf("key %q: webhook %q is not a JSON string", KeyWebhooks, name))
			case config.CheckSlackURL(strings.TrimSpace(u)) != "":
				errs = append(errs, fmt.Errorf("key %q: webhook %q %s", KeyWebhooks, name, config.CheckSlackURL(strings.TrimSpace(u))))
			default:
				if s.Webhooks == nil {
					s.Webhooks = map[string]string{}
				}
				s.Webhooks[name] = strings.TrimSpace(u)
			}
		}
	}
	_, hasHook := fields[KeyWebhookURL]
	_, hasToken := fields[KeyBotToken]
	_, hasChannel := fields[KeyChannel]
	switch {
	case hasHook && (hasToken || hasChannel):
		errs = append(errs, fmt.Errorf("keys %q and %q/%q are both present: hold a webhook or a bot token, not both", KeyWebhookURL, KeyBotToken, KeyChannel))
	case hasHook:
		if problem := config.CheckSlackURL(s.WebhookURL); problem != "" && s.WebhookURL != "" {
			errs = append(errs, fmt.Errorf("key %q %s", KeyWebhookURL, problem))
		}
	case hasToken && !hasChannel:
		errs = append(errs, fmt.Errorf("key %q is missing (%q needs it)", KeyChannel, KeyBotToken))
	case hasChannel && !hasToken:
		errs = append(errs, fmt.Errorf("key %q is missing (%q needs it)", KeyBotToken, KeyChannel))
	case !hasToken:
		errs = append(errs, fmt.Errorf("neither key %q nor %q is present; want %s", KeyWebhookURL, KeyBotToken, want))
	}
	if err := errors.Join(errs...); err != nil {
		return Slack{}, fmt.Errorf("invalid secret: %w", err)
	}
	return s, nil
}

// want is the shape Parse takes, for its errors.
const want = `{"webhook_url": "https://..."} or {"bot_token": "...", "channel": "..."}`

// Client is the one Secrets Manager call a Reader makes; the SDK's
// *secretsmanager.Client has it.
type Client interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ Client = (*secretsmanager.Client)(nil)

// DefaultTimeout bounds one Read, the SDK's own retries included: the SDK
// sets no response timeout of its own, and a cold start has about ten
// seconds in all.
const DefaultTimeout = 5 * time.Second

// Reader reads the Slack credential from one secret.
type Reader struct {
	client  Client
	arn     string
	timeout time.Duration
}

// NewReader returns a Reader of the secret arn through client, each Read
// bounded by timeout (0 means DefaultTimeout).
func NewReader(client Client, arn string, timeout time.Duration) *Reader {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Reader{client: client, arn: arn, timeout: timeout}
}

// ARN is the secret's ARN; it is no secret, and logs may show it.
func (r *Reader) ARN() string { return r.arn }

// Read fetches the secret's current value and parses it. Its errors name
// the secret by ARN and never show its value.
func (r *Reader) Read(ctx context.Context) (Slack, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	out, err := r.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &r.arn})
	if err != nil {
		return Slack{}, fmt.Errorf("read Slack secret %s: %w%s", r.arn, err, hint(err))
	}
	if out.SecretString == nil {
		return Slack{}, fmt.Errorf("read Slack secret %s: it holds binary data, not a JSON string; want %s", r.arn, want)
	}
	s, err := Parse(*out.SecretString)
	if err != nil {
		return Slack{}, fmt.Errorf("read Slack secret %s: %w", r.arn, err)
	}
	return s, nil
}

// hint says what to check for the Secrets Manager errors a deploy can
// cause.
func hint(err error) string {
	api, ok := errors.AsType[smithy.APIError](err)
	if !ok {
		return ""
	}
	switch api.ErrorCode() {
	case "ResourceNotFoundException":
		return " (no such secret, or it has no current version: check SLACK_SECRET_ARN)"
	case "AccessDeniedException":
		return " (the function's role needs secretsmanager:GetSecretValue on this secret, and kms:Decrypt on its key if it has one)"
	case "DecryptionFailure":
		return " (the function's role needs kms:Decrypt on the secret's KMS key)"
	case "InvalidRequestException":
		return " (the secret may be scheduled for deletion)"
	}
	return ""
}
