package watch

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/slack"
)

// MaxNews is the most card posts and edits and progress messages one run
// sends. Slack takes about 50 chat.update calls a minute (Web API tier 3);
// a run on a one-minute schedule keeps well inside that, with room left for
// the alerts. Jobs left over are told by a later run: the listing of jobs
// in progress finds them again.
const MaxNews = 20

// ration keeps the news one run can send. When more jobs than
// DigestThreshold start in one run, none of them gets a card (their outcome
// is alerted as any other's): a storm of cards would bury the channel. The
// news of jobs in progress, which the next poll lists again, is limited to
// MaxNews: progress news first, then the cards whose record is oldest, so
// that every job's card is edited in turn; the others wait for a later run,
// their record as it is. Every other piece of news is kept, so that the
// cursor never moves past it untold.
func (w *Watcher) ration(d decisions) decisions {
	fresh := 0
	for _, n := range d.news {
		if n.card != nil && n.rec.Card == nil {
			fresh++
		}
	}
	if fresh > w.opts.DigestThreshold {
		w.log.Info("too many jobs started at once for cards; their outcomes are alerted as usual", "jobs", fresh, "digest_threshold", w.opts.DigestThreshold)
	}
	var kept, running []decision
	for _, n := range d.news {
		if fresh > w.opts.DigestThreshold && n.card != nil && n.rec.Card == nil {
			n.card = nil
		}
		switch {
		case n.speaks() && n.job.Status == labeling.StatusInProgress:
			running = append(running, n)
		case n.speaks():
			kept = append(kept, n)
		case n.changes():
			d.silent = append(d.silent, n)
		}
	}
	slices.SortStableFunc(running, func(a, b decision) int {
		progress := func(n decision) int {
			if n.notice != (slack.Notice{}) {
				return 0
			}
			return 1
		}
		return cmp.Or(cmp.Compare(progress(a), progress(b)), a.rec.ModifiedAt.Compare(b.rec.ModifiedAt))
	})
	if len(running) > MaxNews {
		w.log.Info("cards and progress news left for a later run", "jobs", len(running)-MaxNews, "most_per_run", MaxNews)
		running = running[:MaxNews]
	}
	d.news = append(kept, running...)
	return d
}

// budgetPushes leaves a pushed job's alert and news to the poll when more
// jobs than DigestThreshold were pushed to Slack within the current minute,
// counting this one: the shared budget of all the function's instances,
// kept in the store. The poll digests them: a storm of events (400 jobs
// ending at once is 400 invocations) must not become 400 messages. What
// needs no message is still recorded.
func (w *Watcher) budgetPushes(ctx context.Context, r run, d decisions, sum *Summary) (decisions, error) {
	if len(d.alerts)+len(d.news) == 0 {
		return d, nil
	}
	minute := r.now.UTC().Truncate(time.Minute)
	n, err := w.store.Tally(ctx, "push-"+minute.Format("200601021504"), minute.Add(time.Hour))
	if err != nil {
		return d, fmt.Errorf("count pushes: %w", err)
	}
	if n > w.opts.DigestThreshold {
		w.log.Info("storm of pushes: job left to the poll, which digests it", "pushed_this_minute", n, "digest_threshold", w.opts.DigestThreshold)
		sum.Deferred = len(d.alerts) + len(d.news)
		d.alerts, d.news = nil, nil
	}
	return d, nil
}
