package app

import (
	"errors"
	"fmt"

	"github.com/labelwatch/labelwatch/internal/config"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/secret"
	"github.com/labelwatch/labelwatch/internal/slack"
	"github.com/labelwatch/labelwatch/internal/watch"
)

// router sends each job's messages where ROUTES say: the destinations of
// the routes it matches, in order, up to the first that does not say
// continue; a job no route matches goes to the Slack credential's own
// channel or webhook, mentioning MENTION_ON_FAILURE.
type router struct {
	routes   []config.Route
	dests    []watch.Destination // routes[i]'s
	fallback watch.Destination
	channels []string
}

// newRouter is the router of cfg.
func newRouter(cfg config.Config) router {
	r := router{routes: cfg.Routes, fallback: watch.DefaultDestination}
	r.fallback.Mentions = cfg.Slack.MentionOnFailure
	for _, route := range cfg.Routes {
		d := watch.Destination{To: slack.Destination{Channel: route.Channel, Webhook: route.Webhook}, Mentions: route.MentionOnFailure}
		if route.Channel != "" {
			d.Key = "channel-" + route.Channel
			r.channels = append(r.channels, route.Channel)
		} else {
			d.Key = "webhook-" + route.Webhook
		}
		r.dests = append(r.dests, d)
	}
	return r
}

// Route gives the destinations of job's messages, each once.
func (r router) Route(job labeling.Job) []watch.Destination {
	var out []watch.Destination
	seen := map[string]bool{}
	for i, route := range r.routes {
		if !route.Matches(job) {
			continue
		}
		if d := r.dests[i]; !seen[d.Key] {
			seen[d.Key] = true
			out = append(out, d)
		}
		if !route.Continue {
			break
		}
	}
	if len(out) == 0 {
		return []watch.Destination{r.fallback}
	}
	return out
}

// Channels are the channels routes post to.
func (r router) Channels() []string { return r.channels }

// String names the routes; "" for none.
func (r router) String() string {
	if len(r.routes) == 0 {
		return ""
	}
	return fmt.Sprintf("%+v", r.routes)
}

// routesFit lists what routes need that the Slack secret's credential c
// lacks: a bot token for a route to a channel, the named webhooks.
func routesFit(routes []config.Route, c secret.Slack) error {
	var errs []error
	for i, route := range routes {
		switch {
		case route.Channel != "" && c.BotToken == "":
			errs = append(errs, fmt.Errorf("  ROUTES route %d posts to channel %s, which needs a bot token, and the secret holds an incoming webhook (key %q)", i+1, route.Channel, secret.KeyWebhookURL))
		case route.Webhook != "" && c.Webhooks[route.Webhook] == "":
			errs = append(errs, fmt.Errorf("  ROUTES route %d names webhook %q, which the secret's key %q does not hold", i+1, route.Webhook, secret.KeyWebhooks))
		}
	}
	return errors.Join(errs...)
}
