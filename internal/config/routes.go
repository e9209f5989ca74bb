package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/labelwatch/labelwatch/internal/labeling"
)

// Route sends the messages about the jobs it matches to its destination
// (ROUTES, a JSON array of routes, tried in order). A job matches when each
// of the route's lists that is not empty holds the job's: account, region,
// a pattern its name matches, status. The first route that matches takes
// the job's messages, and those after it are tried too only while the
// routes that matched say Continue. A job no route matches goes to the
// default destination: the Slack secret's own channel or webhook, with
// MENTION_ON_FAILURE.
type Route struct {
	Accounts []string          // account IDs
	Regions  []string          // AWS regions
	Names    []string          // job-name patterns, as path.Match takes them: *, ?, [a-z]
	Statuses []labeling.Status // the job's status as the message tells it
	// The destination: a channel, by ID, posted to with the bot token, or
	// the name of an incoming webhook in the Slack secret's "webhooks".
	Channel, Webhook string
	// MentionOnFailure are whom a failure alert to this destination
	// mentions, as MENTION_ON_FAILURE takes them.
	MentionOnFailure []string
	// Continue tries the routes after this one too.
	Continue bool
}

// Matches reports whether job matches r.
func (r Route) Matches(job labeling.Job) bool {
	names := len(r.Names) == 0
	for _, pattern := range r.Names {
		if ok, _ := path.Match(pattern, job.Name); ok {
			names = true
			break
		}
	}
	return names && matches(r.Accounts, job.Account()) && matches(r.Regions, job.Region()) && matches(r.Statuses, job.Status)
}

func matches[T comparable](set []T, v T) bool {
	return len(set) == 0 || slices.Contains(set, v)
}

// routeKeys are the keys a route may have, in the order errors list them.
var routeKeys = []string{"account", "region", "name", "status", "channel", "webhook", "mention_on_failure", "continue"}

// webhookName is the name of an incoming webhook in the Slack secret.
var webhookName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// CheckWebhookName says what is wrong with the name of an incoming webhook
// (in ROUTES and in the Slack secret's "webhooks"), or "" if nothing is.
func CheckWebhookName(name string) string {
	if webhookName.MatchString(name) {
		return ""
	}
	return fmt.Sprintf("%q is not 1 to 64 of lower-case letters, digits, _ and -, starting with a letter or digit", labeling.Clip(name, 80))
}

// routes reads ROUTES: every problem of every route is listed. accounts
// are ACCOUNT_NAMES, by ID: a route may name an account by its display
// name.
func (p *parser) routes(name string, accounts map[string]string, slack Slack) []Route {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return nil
	}
	var raw []json.RawMessage
	dec := json.NewDecoder(strings.NewReader(v))
	if err := dec.Decode(&raw); err != nil || dec.More() {
		p.fail(name, `is not a JSON array of routes such as [{"status": "Failed", "channel": "C0123456789"}]`)
		return nil
	}
	byName := map[string]string{}
	for id, display := range accounts {
		byName[display] = id
	}
	routes := make([]Route, 0, len(raw))
	for i, item := range raw {
		at := fmt.Sprintf("%s route %d", name, i+1)
		var fields map[string]json.RawMessage
		if json.Unmarshal(item, &fields) != nil || fields == nil {
			p.fail(at, "is not a JSON object")
			continue
		}
		for _, key := range slices.Sorted(maps.Keys(fields)) {
			if !slices.Contains(routeKeys, key) {
				p.fail(at, fmt.Sprintf("has the unknown key %q (a route has %s)", labeling.Clip(key, 40), strings.Join(routeKeys, ", ")))
			}
		}
		r := Route{}
		for _, a := range p.strings(at, "account", fields["account"]) {
			switch {
			case accountIDPattern.MatchString(a):
				r.Accounts = append(r.Accounts, a)
			case byName[a] != "":
				r.Accounts = append(r.Accounts, byName[a])
			default:
				p.fail(at, fmt.Sprintf("account %q is neither a 12-digit account ID nor a name ACCOUNT_NAMES gives", labeling.Clip(a, 80)))
			}
		}
		for _, region := range p.strings(at, "region", fields["region"]) {
			if !regionPattern.MatchString(region) {
				p.fail(at, fmt.Sprintf("region %q is not an AWS region such as eu-west-1", labeling.Clip(region, 40)))
			}
			r.Regions = append(r.Regions, region)
		}
		for _, pattern := range p.strings(at, "name", fields["name"]) {
			if _, err := path.Match(pattern, ""); err != nil {
				p.fail(at, fmt.Sprintf("name %q is not a pattern: use * for any run of characters, ? for one, [a-z] for one of a set", labeling.Clip(pattern, 80)))
			}
			r.Names = append(r.Names, pattern)
		}
		for _, s := range p.strings(at, "status", fields["status"]) {
			if !labeling.Status(s).Known() {
				p.fail(at, fmt.Sprintf("status %q is unknown (want any of %s)", labeling.Clip(s, 40), joinStatuses()))
			}
			r.Statuses = append(r.Statuses, labeling.Status(s))
		}
		channel, webhook := p.strings(at, "channel", fields["channel"]), p.strings(at, "webhook", fields["webhook"])
		switch {
		case len(channel)+len(webhook) != 1:
			p.fail(at, `needs one destination: "channel" (a channel's ID, for the bot token) or "webhook" (the name of a webhook in the Slack secret)`)
		case len(channel) == 1:
			r.Channel = channel[0]
			if !channelID.MatchString(r.Channel) {
				p.fail(at, fmt.Sprintf("channel %q is not a channel's ID such as C0123456789 (a name can change; the ID cannot: Slack shows it in the channel's details)", labeling.Clip(r.Channel, 80)))
			}
			if slack.Mode == ModeWebhook {
				p.fail(at, "posts to a channel, which needs a bot token: SLACK_WEBHOOK_URL is an incoming webhook")
			}
		default:
			r.Webhook = webhook[0]
			if problem := CheckWebhookName(r.Webhook); problem != "" {
				p.fail(at, "webhook "+problem)
			}
			if slack.Mode == ModeWebhook || slack.Mode == ModeBot {
				p.fail(at, "names a webhook: the URLs of named webhooks are held in the Slack secret (SLACK_SECRET_ARN, key \"webhooks\"), never in a setting")
			}
		}
		r.MentionOnFailure = p.mentionIDs(at+" mention_on_failure", p.strings(at, "mention_on_failure", fields["mention_on_failure"]))
		if c, ok := fields["continue"]; ok {
			if json.Unmarshal(c, &r.Continue) != nil {
				p.fail(at, `"continue" is not true or false`)
			}
		}
		routes = append(routes, r)
	}
	return routes
}

// channelID is a channel's ID: public (C…), private (G…) or direct (D…).
var channelID = regexp.MustCompile(`^[CGD][A-Z0-9]{6,}$`)

// strings reads a route's key that holds a string or an array of them;
// nil when the key is absent.
func (p *parser) strings(at, key string, raw json.RawMessage) []string {
	if raw == nil {
		return nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		one = strings.TrimSpace(one)
		if one == "" {
			p.fail(at, fmt.Sprintf("%q is empty", key))
			return nil
		}
		return []string{one}
	}
	var many []string
	if !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("[")) || json.Unmarshal(raw, &many) != nil || len(many) == 0 {
		p.fail(at, fmt.Sprintf("%q is not a string or a non-empty array of strings", key))
		return nil
	}
	for i, s := range many {
		many[i] = strings.TrimSpace(s)
		if many[i] == "" {
			p.fail(at, fmt.Sprintf("%q holds an empty string", key))
		}
	}
	return slices.DeleteFunc(many, func(s string) bool { return s == "" })
}
