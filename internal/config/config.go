// Package config reads labelwatch's settings from environment variables and
// checks them all at once, so a bad deploy fails its cold start with one
// message that lists every problem.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labelwatch/labelwatch/internal/labeling"
)

// Mode says how alerts reach Slack.
type Mode int

// The ways labelwatch can deliver alerts.
const (
	ModePrint   Mode = iota // print to the terminal (local runs only)
	ModeWebhook             // incoming webhook
	ModeBot                 // bot token and chat.postMessage
	ModeSecret              // webhook or bot, as the Secrets Manager secret SecretARN holds
)

// Slack holds the Slack delivery settings. Its fields are secrets or lead to
// them: never log or print them.
type Slack struct {
	Mode       Mode
	WebhookURL string
	BotToken   string
	Channel    string
	SecretARN  string // the secret that holds the webhook or the bot token, in ModeSecret
	APIURL     string // Web API base URL, with a trailing slash
	Timeout    time.Duration
	Pace       time.Duration // least time between two posts to the channel
	// MentionOnFailure are the Slack user IDs (U…, W…), user-group IDs (S…),
	// "here" and "channel" that a failure alert mentions, in the order given.
	MentionOnFailure []string
	Cards            Cards
	Broadcast        Broadcast
}

// Broadcast says which outcomes of a job with a card are shown in the
// channel as well as in the card's thread: the card was posted when the job
// started, far up a busy channel, and its edit notifies nobody.
type Broadcast int

// The values of SLACK_BROADCAST.
const (
	BroadcastAll      Broadcast = iota // "all", the default: every outcome ALERT_ON names
	BroadcastFailures                  // "failures": completions and stops stay in the thread
)

// Cards says whether each running job gets a living card: one Slack message
// that is edited in place as the job moves on. Editing a message takes a bot
// token (chat.update); an incoming webhook can only post.
type Cards int

// The values of SLACK_CARDS.
const (
	CardsAuto Cards = iota // unset: cards when the credential allows them
	CardsOn                // "on"
	CardsOff               // "off"
)

// Whether a credential can edit is the notifier's to say (a secret may hold
// either, and be rotated): unless SLACK_CARDS is off, a run keeps cards when
// its notifier can edit. With CardsOn, Load refuses SLACK_WEBHOOK_URL; a
// secret that turns out to hold a webhook can only be found out at run time.

// Config is every labelwatch setting.
type Config struct {
	StateTable          string
	Slack               Slack
	AlertOn             map[labeling.Status]bool
	NameContains        string
	IgnoreCreatedBefore time.Time // zero when unset
	Lookback            time.Duration
	Overlap             time.Duration
	Retention           time.Duration
	DeadlineMargin      time.Duration
	ClockSkew           time.Duration // how far two hosts' clocks may differ; alert claims outlive the deadline by this
	DigestThreshold     int
	LogLevel            slog.Level
	// Milestones are the percents of progress, ascending and each once, at
	// which a running job's progress is reported; none when empty.
	Milestones []int
	// StuckAfter is how long a running job may go without progress before
	// it is reported stuck; 0 turns the check off.
	StuckAfter time.Duration
	// FailedObjectsWarn is the fraction of processed objects (0.01 for 1%)
	// that, once failed, raises a warning on a running job; 0 turns it off.
	FailedObjectsWarn float64
	// Regions are the other AWS regions of the function's account whose
	// labeling jobs it watches too, beside its own (REGIONS: a
	// comma-separated list; the function's own region in it is no other).
	Regions []string
	// AccountRoles are the IAM roles, one per other account, that the
	// function assumes to watch that account's labeling jobs, in its own
	// region and in Regions (ACCOUNT_ROLES: a comma-separated list).
	AccountRoles []string
	// ExternalID is the external ID the roles' trust policies ask for, if
	// any (EXTERNAL_ID).
	ExternalID string
	// AccountNames are display names of accounts, by ID, that messages
	// show beside the ID (ACCOUNT_NAMES: "ID=name" pairs, comma-separated).
	AccountNames map[string]string
	// Routes send each job's messages to its team's channel or webhook
	// (ROUTES, a JSON array); none sends all to the Slack credential's own.
	Routes []Route
}

// Defaults, as the README documents them. ALERT_ON's is
// labeling.DefaultAlerting, the statuses labeling knows to be terminal.
const (
	DefaultLookback          = time.Hour
	DefaultOverlap           = 10 * time.Minute
	DefaultRetention         = 90 * 24 * time.Hour
	DefaultDeadlineMargin    = 5 * time.Second
	DefaultClockSkew         = 30 * time.Second
	DefaultSlackTimeout      = 10 * time.Second
	DefaultSlackPace         = time.Second
	DefaultSlackAPIURL       = "https://slack.com/api/"
	DefaultDigestThreshold   = 10
	DefaultStuckAfter        = 6 * time.Hour
	DefaultFailedObjectsWarn = 0.01 // 1%
)

// MinStuckAfter is the least STUCK_AFTER other than off: a job's counters do
// not move that often, so a shorter one would report healthy jobs stuck.
const MinStuckAfter = time.Minute

// Variables lists every environment variable labelwatch reads, beyond the
// AWS SDK's own.
func Variables() []string {
	return []string{
		"STATE_TABLE", "SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN", "SLACK_CHANNEL", "SLACK_API_URL",
		"ALERT_ON", "NAME_CONTAINS", "IGNORE_CREATED_BEFORE", "LOOKBACK", "OVERLAP", "RETENTION",
		"DIGEST_THRESHOLD", "DEADLINE_MARGIN", "CLOCK_SKEW", "SLACK_TIMEOUT", "SLACK_PACE",
		"SLACK_SECRET_ARN", "LOG_LEVEL", "MENTION_ON_FAILURE", "SLACK_CARDS", "SLACK_BROADCAST", "PROGRESS_MILESTONES",
		"STUCK_AFTER", "FAILED_OBJECTS_WARN", "REGIONS", "ACCOUNT_ROLES", "EXTERNAL_ID", "ACCOUNT_NAMES",
		"ROUTES",
	}
}

// Load reads the settings of the deployed Lambda: STATE_TABLE and one source
// of the Slack credential (SLACK_SECRET_ARN, or SLACK_WEBHOOK_URL, or
// SLACK_BOT_TOKEN with SLACK_CHANNEL) are required.
func Load(getenv func(string) string) (Config, error) {
	return load(getenv, false)
}

// LoadLocal reads the settings of a local run: the state table is optional
// (an embedded store is used without it) and so is Slack (alerts are
// printed). A local run takes the Slack credential from the environment
// only, not from Secrets Manager.
func LoadLocal(getenv func(string) string) (Config, error) {
	return load(getenv, true)
}

func load(getenv func(string) string, local bool) (Config, error) {
	p := parser{getenv: getenv}
	c := Config{
		StateTable:        strings.TrimSpace(getenv("STATE_TABLE")),
		NameContains:      strings.TrimSpace(getenv("NAME_CONTAINS")),
		AlertOn:           p.statuses("ALERT_ON", labeling.DefaultAlerting),
		Lookback:          p.duration("LOOKBACK", DefaultLookback),
		Overlap:           p.duration("OVERLAP", DefaultOverlap),
		Retention:         p.duration("RETENTION", DefaultRetention),
		DeadlineMargin:    p.duration("DEADLINE_MARGIN", DefaultDeadlineMargin),
		ClockSkew:         p.duration("CLOCK_SKEW", DefaultClockSkew),
		DigestThreshold:   p.positiveInt("DIGEST_THRESHOLD", DefaultDigestThreshold),
		LogLevel:          p.logLevel("LOG_LEVEL"),
		Milestones:        p.milestones("PROGRESS_MILESTONES"),
		StuckAfter:        p.stuckAfter("STUCK_AFTER"),
		FailedObjectsWarn: p.failedObjectsWarn("FAILED_OBJECTS_WARN"),
		Regions:           p.regions("REGIONS"),
		AccountRoles:      p.accountRoles("ACCOUNT_ROLES"),
		ExternalID:        strings.TrimSpace(getenv("EXTERNAL_ID")),
		AccountNames:      p.accountNames("ACCOUNT_NAMES"),
	}
	if c.ExternalID != "" && (len(c.ExternalID) < 2 || len(c.ExternalID) > 1224 || !externalIDPattern.MatchString(c.ExternalID)) {
		p.fail("EXTERNAL_ID", "is not an external ID STS takes: 2 to 1224 of letters, digits and +=,.@:/-")
	}
	if c.StateTable == "" && !local {
		p.fail("STATE_TABLE", "is required (the DynamoDB table that holds job state)")
	}
	if v := strings.TrimSpace(getenv("IGNORE_CREATED_BEFORE")); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			p.fail("IGNORE_CREATED_BEFORE", fmt.Sprintf("%q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", v))
		}
		c.IgnoreCreatedBefore = t
	}
	if !validNameContains(c.NameContains) {
		// SageMaker refuses any other NameContains on every call, so every
		// run would fail.
		p.fail("NAME_CONTAINS", fmt.Sprintf("%q is not part of a job name as SageMaker takes it: letters, digits and hyphens, at most 63", labeling.Clip(c.NameContains, 80)))
	}
	if c.Retention > 0 && c.Retention < 24*time.Hour {
		p.fail("RETENTION", "must be at least 24h, or finished jobs could be forgotten and alerted again")
	}
	c.Slack = p.slack(local)
	c.Routes = p.routes("ROUTES", c.AccountNames, c.Slack)
	if err := errors.Join(p.errs...); err != nil {
		return Config{}, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return c, nil
}

// validNameContains reports whether s is a NameContains that
// ListLabelingJobs accepts (botocore's model: [a-zA-Z0-9\-]+, at most 63);
// empty means no filter.
func validNameContains(s string) bool {
	if len(s) > 63 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// parser collects every problem instead of stopping at the first.
type parser struct {
	getenv func(string) string
	errs   []error
}

func (p *parser) fail(name, problem string) {
	p.errs = append(p.errs, fmt.Errorf("  %s %s", name, problem))
}

func (p *parser) duration(name string, def time.Duration) time.Duration {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	d, err := ParseDuration(v)
	if err != nil || d <= 0 {
		p.fail(name, fmt.Sprintf("%q is not a positive duration such as 90s, 10m, 1h or 90d", v))
		return def
	}
	return d
}

func (p *parser) positiveInt(name string, def int) int {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		p.fail(name, fmt.Sprintf("%q is not a whole number of at least 1", v))
		return def
	}
	return n
}

// logLevel reads a log level: debug, info, warn or error, info when unset.
func (p *parser) logLevel(name string) slog.Level {
	v := strings.TrimSpace(p.getenv(name))
	switch strings.ToLower(v) {
	case "", "info":
		return slog.LevelInfo
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	p.fail(name, fmt.Sprintf("%q is not a log level: want debug, info, warn or error", v))
	return slog.LevelInfo
}

// statuses reads the comma-separated statuses of name, or def when it is
// unset.
func (p *parser) statuses(name string, def []labeling.Status) map[labeling.Status]bool {
	set := map[labeling.Status]bool{}
	fields := p.items(name)
	if fields == nil {
		for _, s := range def {
			set[s] = true
		}
		return set
	}
	for _, field := range fields {
		s := labeling.Status(field)
		if s == "" {
			continue
		}
		if !s.Known() {
			p.fail(name, fmt.Sprintf("names unknown status %q (want any of %s)", s, joinStatuses()))
			continue
		}
		set[s] = true
	}
	if len(set) == 0 && len(p.errs) == 0 {
		p.fail(name, "names no status")
	}
	return set
}

func (p *parser) slack(local bool) Slack {
	s := Slack{
		WebhookURL: strings.TrimSpace(p.getenv("SLACK_WEBHOOK_URL")),
		BotToken:   strings.TrimSpace(p.getenv("SLACK_BOT_TOKEN")),
		Channel:    strings.TrimSpace(p.getenv("SLACK_CHANNEL")),
		APIURL:     strings.TrimSpace(p.getenv("SLACK_API_URL")),
		Timeout:    p.duration("SLACK_TIMEOUT", DefaultSlackTimeout),
		Pace:       DefaultSlackPace,
	}
	s.MentionOnFailure = p.mentions("MENTION_ON_FAILURE")
	s.Cards = p.cards("SLACK_CARDS")
	s.Broadcast = p.broadcast("SLACK_BROADCAST")
	// SLACK_PACE may be 0 (no pacing, for a private test endpoint).
	if v := strings.TrimSpace(p.getenv("SLACK_PACE")); v != "" {
		d, err := ParseDuration(v)
		if err != nil || d < 0 {
			p.fail("SLACK_PACE", fmt.Sprintf("%q is not a duration such as 1s or 0s", v))
		} else {
			s.Pace = d
		}
	}
	bot := s.BotToken != "" || s.Channel != ""
	arn := strings.TrimSpace(p.getenv("SLACK_SECRET_ARN"))
	switch {
	case arn != "" && local:
		p.fail("SLACK_SECRET_ARN", "is for the deployed function; a local run takes SLACK_WEBHOOK_URL, or SLACK_BOT_TOKEN with SLACK_CHANNEL")
	case arn != "" && (s.WebhookURL != "" || bot):
		p.fail("SLACK_SECRET_ARN", "and SLACK_WEBHOOK_URL/SLACK_BOT_TOKEN/SLACK_CHANNEL are both set: take the Slack credential from one")
	case arn != "":
		s.Mode, s.SecretARN = ModeSecret, arn
		if !secretARN.MatchString(arn) {
			// An ARN is no secret: show it, so a typo is easy to find.
			p.fail("SLACK_SECRET_ARN", fmt.Sprintf("%q is not a Secrets Manager secret ARN such as %s", arn, ExampleSecretARN))
		}
	case s.WebhookURL != "" && bot:
		p.fail("SLACK_WEBHOOK_URL", "and SLACK_BOT_TOKEN/SLACK_CHANNEL are both set: choose one Slack mode")
	case s.WebhookURL != "":
		s.Mode = ModeWebhook
		if problem := CheckSlackURL(s.WebhookURL); problem != "" {
			// The URL is a secret: say what is wrong, never what it is.
			p.fail("SLACK_WEBHOOK_URL", problem)
		}
		// With SLACK_SECRET_ARN the same holds, but whether the secret
		// holds a webhook is known only once it is read.
		if s.Cards == CardsOn {
			p.fail("SLACK_CARDS=on", "needs a bot token: an incoming webhook cannot edit messages")
		}
	case bot:
		s.Mode = ModeBot
		if s.BotToken == "" {
			p.fail("SLACK_BOT_TOKEN", "is required when SLACK_CHANNEL is set")
		}
		if s.Channel == "" {
			p.fail("SLACK_CHANNEL", "is required when SLACK_BOT_TOKEN is set")
		}
	case !local:
		p.fail("SLACK_SECRET_ARN", "or SLACK_WEBHOOK_URL, or SLACK_BOT_TOKEN with SLACK_CHANNEL, is required")
	}
	if s.APIURL == "" {
		s.APIURL = DefaultSlackAPIURL
	} else {
		if problem := CheckSlackURL(s.APIURL); problem != "" {
			p.fail("SLACK_API_URL", problem)
		}
		if !strings.HasSuffix(s.APIURL, "/") {
			s.APIURL += "/"
		}
	}
	return s
}

// items is the comma-separated items of the variable name, each trimmed
// of spaces (an empty one too, which the caller judges); nil when the
// variable is unset or blank.
func (p *parser) items(name string) []string {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return nil
	}
	items := strings.Split(v, ",")
	for i, item := range items {
		items[i] = strings.TrimSpace(item)
	}
	return items
}

// regions reads a comma-separated list of AWS regions; one named twice is
// taken once.
func (p *parser) regions(name string) []string {
	var out []string
	for _, r := range p.items(name) {
		switch {
		case !regionPattern.MatchString(r):
			p.fail(name, fmt.Sprintf("%q is not an AWS region such as eu-west-1", labeling.Clip(r, 40)))
		case slices.Contains(out, r):
			// Named twice is named: the template cannot refuse it.
		default:
			out = append(out, r)
		}
	}
	return out
}

// accountRoles reads a comma-separated list of IAM role ARNs, one per
// account.
func (p *parser) accountRoles(name string) []string {
	var out []string
	accounts := map[string]bool{}
	for _, r := range p.items(name) {
		m := roleARNPattern.FindStringSubmatch(r)
		switch {
		case m == nil:
			p.fail(name, fmt.Sprintf("%q is not the ARN of an IAM role, such as arn:aws:iam::222222222222:role/labelwatch-read", labeling.Clip(r, 120)))
		case slices.Contains(out, r):
			// The same role twice is the role once.
		case accounts[m[1]]:
			p.fail(name, fmt.Sprintf("names two roles of account %s: one role per account", m[1]))
		default:
			accounts[m[1]] = true
			out = append(out, r)
		}
	}
	return out
}

// accountNames reads comma-separated "ID=name" pairs: a 12-digit account
// ID, once each, and a name of 1 to 64 characters other than "," and "=".
func (p *parser) accountNames(name string) map[string]string {
	pairs := p.items(name)
	if pairs == nil {
		return nil
	}
	out := map[string]string{}
	for _, pair := range pairs {
		id, display, ok := strings.Cut(pair, "=")
		id, display = strings.TrimSpace(id), strings.TrimSpace(display)
		switch {
		case !ok || !accountIDPattern.MatchString(id):
			p.fail(name, fmt.Sprintf("%q is not ACCOUNT_ID=name with a 12-digit account ID", labeling.Clip(pair, 80)))
		case display == "" || utf8.RuneCountInString(display) > 64:
			p.fail(name, fmt.Sprintf("the name of account %s must be 1 to 64 characters", id))
		case out[id] == display:
			// The same pair twice is the pair once.
		case out[id] != "":
			p.fail(name, fmt.Sprintf("names account %s twice, %q and %q", id, out[id], display))
		default:
			out[id] = display
		}
	}
	return out
}

var (
	// accountIDPattern is an AWS account ID.
	accountIDPattern = regexp.MustCompile(`^[0-9]{12}$`)
	// roleARNPattern is an IAM role's ARN; its group is the account.
	roleARNPattern = regexp.MustCompile(`^arn:aws(?:-[a-z]+)*:iam::([0-9]{12}):role/[\w+=,.@/-]{1,512}$`)
	// externalIDPattern is the characters of an external ID as
	// sts:AssumeRole takes it (2 to 1224 of them).
	externalIDPattern = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
)

// regionPattern is the shape of an AWS region's name (us-east-1,
// ap-southeast-2, us-gov-west-1, eu-central-2).
var regionPattern = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

// cards reads SLACK_CARDS: on, off, or unset for CardsAuto.
func (p *parser) cards(name string) Cards {
	v := strings.TrimSpace(p.getenv(name))
	switch strings.ToLower(v) {
	case "":
		return CardsAuto
	case "on":
		return CardsOn
	case "off":
		return CardsOff
	}
	p.fail(name, fmt.Sprintf("%q is not on or off (unset: on with a bot token, off with a webhook)", labeling.Clip(v, 80)))
	return CardsAuto
}

// broadcast reads SLACK_BROADCAST: all (or unset) or failures.
func (p *parser) broadcast(name string) Broadcast {
	v := strings.TrimSpace(p.getenv(name))
	switch strings.ToLower(v) {
	case "", "all":
		return BroadcastAll
	case "failures":
		return BroadcastFailures
	}
	p.fail(name, fmt.Sprintf("%q is not all or failures (unset: all)", labeling.Clip(v, 80)))
	return BroadcastAll
}

// milestones reads a comma-separated list of whole percents from 1 to 99,
// and returns them ascending, each once; nil when there are none.
func (p *parser) milestones(name string) []int {
	var percents []int
	for _, item := range p.items(name) {
		if item == "" {
			continue
		}
		n, err := strconv.Atoi(item)
		if !digits.MatchString(item) || err != nil || n < 1 || n > 99 {
			p.fail(name, fmt.Sprintf("names %q, which is not a whole percent from 1 to 99 such as 50", labeling.Clip(item, 80)))
			continue
		}
		percents = append(percents, n)
	}
	slices.Sort(percents)
	return slices.Compact(percents)
}

// stuckAfter reads a duration of at least MinStuckAfter, or 0 or off for
// none; DefaultStuckAfter when unset.
func (p *parser) stuckAfter(name string) time.Duration {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return DefaultStuckAfter
	}
	if v == "0" || strings.EqualFold(v, "off") {
		return 0
	}
	d, err := ParseDuration(v)
	switch {
	case err != nil || d < 0:
		p.fail(name, fmt.Sprintf("%q is not a duration such as 90m, 6h or 1d, nor 0 or off", labeling.Clip(v, 80)))
		return DefaultStuckAfter
	case d > 0 && d < MinStuckAfter:
		p.fail(name, fmt.Sprintf("%q is under 1m, the least it takes besides 0 or off: a labeling job's counters do not move that often", v))
		return DefaultStuckAfter
	}
	return d
}

// failedObjectsWarn reads a percent, "1%", "0.5%" or a bare "2", over 0 and at
// most 100, or 0 or off for none, and returns it as a fraction;
// DefaultFailedObjectsWarn when unset.
func (p *parser) failedObjectsWarn(name string) float64 {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return DefaultFailedObjectsWarn
	}
	if strings.EqualFold(v, "off") {
		return 0
	}
	number, _ := strings.CutSuffix(v, "%")
	number = strings.TrimSpace(number)
	// A plain decimal only: ParseFloat would also take 1e-2, 0x1p-7, Inf
	// and NaN.
	pct, err := strconv.ParseFloat(number, 64)
	if !decimal.MatchString(number) || err != nil || pct > 100 {
		p.fail(name, fmt.Sprintf("%q is not a percent of processed objects from 0 to 100 such as 1%%, 0.5%% or 2, nor off", labeling.Clip(v, 80)))
		return DefaultFailedObjectsWarn
	}
	return pct / 100
}

// digits and decimal match the numbers milestones and failedObjectsWarn
// take: no sign, exponent or other base.
var (
	digits  = regexp.MustCompile(`^[0-9]+$`)
	decimal = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)
)

// mentionID matches a Slack user ID (U…, or W… in Enterprise Grid) or a
// user-group ID (S…): Slack's IDs are upper-case letters and digits.
var mentionID = regexp.MustCompile(`^[UWS][A-Z0-9]{2,20}$`)

// mentions reads a comma-separated list of whom a failure alert mentions:
// Slack user and user-group IDs, "here" and "channel". A name such as
// "@alice" is refused, not guessed at: Slack notifies only by ID.
func (p *parser) mentions(name string) []string {
	return p.mentionIDs(name, p.items(name))
}

// mentionIDs checks the mentions items, named name in errors, and takes
// each once.
func (p *parser) mentionIDs(name string, items []string) []string {
	var ids []string
	seen := map[string]bool{}
	for _, id := range items {
		switch {
		case id == "":
			continue
		case id == "here" || id == "channel" || mentionID.MatchString(id):
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		default:
			p.fail(name, fmt.Sprintf("names %q, which is not a Slack user ID (U…, W…), user-group ID (S…), here or channel", labeling.Clip(id, 80)))
		}
	}
	return ids
}

// ExampleSecretARN shows the shape of SLACK_SECRET_ARN.
const ExampleSecretARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:labelwatch/slack-AbCdEf"

// secretARN matches a Secrets Manager secret's ARN, full (the name with the
// six characters Secrets Manager appends) or partial:
// arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME, with a name of at
// most 512 characters out of letters, digits and /_+=.@-.
var secretARN = regexp.MustCompile(`^arn:aws(-[a-z]+)*:secretsmanager:[a-z]{2}(-[a-z]+)+-\d+:\d{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}$`)

// checkURL says what is wrong with a Slack URL, or "" if nothing is. Plain
// http is allowed only to this machine, for tests and local Slack stand-ins.
func CheckSlackURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "is not an absolute URL"
	}
	switch u.Scheme {
	case "https":
		return ""
	case "http":
		if ip := net.ParseIP(u.Hostname()); u.Hostname() == "localhost" || (ip != nil && ip.IsLoopback()) {
			return ""
		}
		return "must use https (plain http is allowed only to localhost)"
	default:
		return "must be an https URL"
	}
}

// ParseDuration is time.ParseDuration plus a whole-day unit, "d", as in 90d.
func ParseDuration(v string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(v, "d"); ok {
		const day = 24 * time.Hour
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse duration %q: %w", v, err)
		}
		// Beyond this the product wraps around, possibly to a plausible value.
		if n > math.MaxInt64/int64(day) || n < math.MinInt64/int64(day) {
			return 0, fmt.Errorf("parse duration %q: out of range", v)
		}
		return time.Duration(n) * day, nil
	}
	return time.ParseDuration(v)
}

func joinStatuses() string {
	names := make([]string, len(labeling.Statuses))
	for i, s := range labeling.Statuses {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}
