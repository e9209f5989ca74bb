package watch

import (
	"context"
	"slices"
	"sync"

	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/slack"
	"github.com/labelwatch/labelwatch/internal/state"
)

// A Destination is where a route sends a job's messages.
type Destination struct {
	// Key names the destination, uniquely: its lane, and the record of a
	// copy of an alert sent to it ("job#key").
	Key string
	// To is the destination as the notifier takes it; zero for the
	// notifier's own channel or webhook.
	To slack.Destination
	// Mentions are whom a failure alert to it mentions.
	Mentions []string
}

// DefaultDestination is the notifier's own channel or webhook.
var DefaultDestination = Destination{Key: "default"}

// A Router picks where each job's messages go.
type Router interface {
	// Route gives the destinations of job's messages, one at least and
	// each once: the first holds its card and news, and its alerts; each
	// further one gets a copy of its alerts.
	Route(job labeling.Job) []Destination
	// Channels are the IDs of the channels routes post to: a card in one
	// of them is closed when its job ends, wherever the outcome goes.
	Channels() []string
	// String names the routes: jobs judged idle under other routes are
	// read again.
	String() string
}

// route is where job's messages go this run.
func (r run) route(job labeling.Job) []Destination {
	if r.router == nil {
		return []Destination{r.fallback}
	}
	return r.router.Route(job)
}

// home is where the card of a job whose messages go first to d belongs:
// cards says whether d can hold one (a channel, with a bot token), channel
// is its ID ("" while the notifier's own is not known).
type home struct {
	cards   bool
	channel string
}

// homeOf is the home of a job's card at d, under r's rules.
func (r run) homeOf(d Destination) home {
	switch {
	case !r.rules.Cards || d.To.Webhook != "":
		return home{}
	case d.To.Channel != "":
		return home{cards: true, channel: d.To.Channel}
	}
	return home{cards: true, channel: r.rules.Channel}
}

// routed reports whether a card in channel is in one of the run's
// destinations' channels: the notifier's own, or a route's.
func (r run) routed(channel string) bool {
	return channel == r.rules.Channel || r.router != nil && slices.Contains(r.router.Channels(), channel)
}

// copyKey is the record of the copies of a job's alerts sent to dest.
func copyKey(job string, dest Destination) string { return job + "#" + dest.Key }

// A copying is a job's alert that goes to more than one destination: the
// first is the job's own decision (main); each further one is a copy.
type copying struct {
	main  decision
	dests []Destination // the further ones
}

// copies loads the records of the copies of each job's alert and decides
// them: a copy alerts when its record has not the job's status yet, and
// either the job's own record alerts now, or the copy was claimed before
// and not sent (a run that sent the job's own alert, but not this copy).
// A destination added to the routes later gets no copies of what was
// alerted before it.
func (w *Watcher) copies(ctx context.Context, r run, jobs []copying) ([]decision, error) {
	var keys []string
	for _, c := range jobs {
		for _, dest := range c.dests {
			keys = append(keys, copyKey(c.main.job.Name, dest))
		}
	}
	records := map[string]state.Record{}
	for chunk := range slices.Chunk(keys, state.MaxBatch) {
		got, err := w.store.Load(ctx, chunk)
		if err != nil {
			return nil, err
		}
		for k, rec := range got {
			records[k] = rec
		}
	}
	var out []decision
	for _, c := range jobs {
		job := c.main.job
		for _, dest := range c.dests {
			key := copyKey(job.Name, dest)
			rec := records[key]
			rec.Job = key
			d := decision{job: job, rec: rec, verdict: Alert, to: dest, copy: true, previous: rec.Status}
			if c.main.verdict == Alert {
				d.previous = c.main.rec.Status
			}
			switch {
			case rec.Live(r.now):
				d.verdict = Contended
			case rec.Status == job.Status:
				continue
			case c.main.verdict != Alert && rec.Version == 0:
				continue
			}
			d.next = state.Record{Job: key, Status: job.Status, ModifiedAt: later(rec.ModifiedAt, job.ModifiedAt), AlertedAt: rec.AlertedAt, Version: rec.Version}
			out = append(out, d)
		}
	}
	return out, nil
}

// Lanes pace the messages to each destination: a Lane each, by the
// destination's Key. The zero Lanes is ready; the sources of one function
// share one, and it paces the messages of one invocation (Begin).
type Lanes struct {
	mu    sync.Mutex
	lanes map[string]*Lane
}

// lane is the Lane of the destination keyed key.
func (l *Lanes) lane(key string) *Lane {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lanes == nil {
		l.lanes = map[string]*Lane{}
	}
	if l.lanes[key] == nil {
		l.lanes[key] = &Lane{}
	}
	return l.lanes[key]
}

// Begin starts an invocation: the pace of the last one's messages is
// forgotten, as it was when each run paced its own (one message an
// invocation, as a push sends, never waits for the one before), while a
// Retry-After that Slack gave still holds.
func (l *Lanes) Begin() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, lane := range l.lanes {
		lane.forget()
	}
}
