package watch

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"time"

	"github.com/labelwatch/labelwatch/internal/clock"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/slack"
	"github.com/labelwatch/labelwatch/internal/state"
)

// cardEditPace is the least time between two card edits: chat.update is a
// tier-3 method, about 50 calls a minute.
const cardEditPace = 1200 * time.Millisecond

// A post is one Slack message, or a job's card and what goes under it, and
// the jobs it carries, to one destination: each claimed job is in exactly
// one post (a copy of its alert to another destination is a claim of its
// own).
type post struct {
	steps     []step
	decisions []decision
	to        Destination
	what      string // for errors: "alert for job …", "digest part k/n"
	// thread: a reply goes in the thread of the job's card, which is in
	// to's channel; else it is a message of its own, at to.
	thread bool
	// closing are the jobs of a digest part whose cards are edited to their
	// end once the part is committed: the digest told their outcome.
	closing []decision
}

// A step is one message of a post.
type step struct {
	msg  slack.Message
	role role
}

type role int

const (
	alone     role = iota // a message of its own
	cardStep              // the job's card: edited when it has one, else posted
	replyStep             // a reply under the job's card, or a message of its own without one
)

// posts turns the claimed jobs into posts: the alerts to each destination
// one each or, when more than DigestThreshold go there, as a digest of one
// or more messages; then the news. A job with a card gets its card edited
// and its alert or news as a reply in the card's thread when the card is
// in the channel the message goes to, broadcast to the channel too (a
// failure always, the other outcomes unless ThreadOutcomes). digest says
// whether any alerts were digested.
func (w *Watcher) posts(r run, claimed decisions) (posts []post, digest bool) {
	var (
		order  []string
		byDest = map[string][]decision{}
	)
	for _, d := range claimed.alerts {
		if _, ok := byDest[d.to.Key]; !ok {
			order = append(order, d.to.Key)
		}
		byDest[d.to.Key] = append(byDest[d.to.Key], d)
	}
	for _, key := range order {
		alerts := byDest[key]
		if len(alerts) > w.opts.DigestThreshold {
			digest = true
			posts = append(posts, digestPosts(alerts)...)
			continue
		}
		for _, d := range alerts {
			posts = append(posts, w.alertPost(r, d))
		}
	}
	for _, d := range claimed.news {
		p := post{decisions: []decision{d}, to: d.to, thread: true, what: fmt.Sprintf("news of job %q", d.job.Name)}
		if d.card != nil {
			p.steps = append(p.steps, step{msg: *d.card, role: cardStep})
		}
		if d.notice != (slack.Notice{}) {
			msg := slack.RenderNotice(d.job, d.notice)
			// A warning is for the channel; a milestone stays in the thread.
			msg.Broadcast = d.notice.StuckFor > 0 || d.notice.FailedShare > 0
			p.steps = append(p.steps, step{msg: msg, role: replyStep})
		}
		posts = append(posts, p)
	}
	return posts, digest
}

// digestPosts are the messages of a digest of alerts, all to one
// destination.
func digestPosts(alerts []decision) []post {
	var posts []post
	byName := make(map[string]decision, len(alerts))
	all := make([]slack.Alert, len(alerts))
	for i, d := range alerts {
		byName[d.job.Name] = d
		all[i] = d.alert()
	}
	parts := slack.RenderDigest(all)
	for k, part := range parts {
		p := post{steps: []step{{msg: part.Message}}, to: alerts[0].to, what: fmt.Sprintf("digest part %d/%d", k+1, len(parts))}
		if alerts[0].to.Key != DefaultDestination.Key {
			p.what += " to " + alerts[0].to.To.String()
		}
		for _, a := range part.Alerts {
			d := byName[a.Job.Name]
			p.decisions = append(p.decisions, d)
			if d.card != nil {
				p.closing = append(p.closing, d)
			}
		}
		posts = append(posts, p)
	}
	return posts
}

// alertPost is the post of one alert: the job's card closed, if it has
// one, and the alert, in the card's thread when the card is in the channel
// the alert goes to.
func (w *Watcher) alertPost(r run, d decision) post {
	msg := slack.RenderAlert(d.alert())
	if msg.Fallback == nil {
		minimal := slack.AlertFallback(d.alert())
		msg.Fallback = &minimal
	}
	p := post{decisions: []decision{d}, to: d.to, what: fmt.Sprintf("alert for job %q", d.job.Name)}
	if d.copy {
		p.what += " to " + d.to.To.String()
	}
	if d.card == nil {
		p.steps = []step{{msg: msg}}
		return p
	}
	at := r.homeOf(d.to)
	p.thread = at.cards && (at.channel == "" || d.next.Card.Channel == at.channel)
	msg.Broadcast = d.job.Status == labeling.StatusFailed || !w.opts.ThreadOutcomes
	p.steps = []step{{msg: *d.card, role: cardStep}, {msg: msg, role: replyStep}}
	return p
}

// send sends the claimed jobs' posts in order, paced to Slack's rate, and
// yields each post as it went: with no error once Slack accepted every
// message of it, when its jobs are to be committed before the next post is
// sent; with the error when it was not sent. A digest that fails part way
// leaves only the alerts of its unsent messages pending. When Slack refuses
// a message itself (slack.ErrRejected: too long, invalid blocks), its
// minimal text form goes out instead, so that no alert is blocked for ever
// by a payload Slack will never take. When the deadline leaves no time to
// send, the rest of the posts are yielded together, unsent.
func (w *Watcher) send(ctx context.Context, r run, claimed decisions, sum *Summary) iter.Seq2[post, error] {
	posts, digest := w.posts(r, claimed)
	sum.Digest = sum.Digest || digest
	return func(yield func(post, error) bool) {
		paced := w.pacer(ctx)
		closed := 0 // cards of digested jobs edited
		for i, p := range posts {
			if err := paced.wait(p.to); err != nil {
				rest := post{what: "the rest"}
				for _, q := range posts[i:] {
					rest.decisions = append(rest.decisions, q.decisions...)
				}
				yield(rest, fmt.Errorf("stop sending: %w", err))
				return
			}
			card, minimal, err := w.deliver(paced.sender(p.to), p)
			for _, d := range p.decisions {
				w.logDecision(d, minimal, err)
			}
			if err != nil {
				if !yield(p, fmt.Errorf("send %s: %w", p.what, err)) {
					return
				}
				continue
			}
			if len(p.decisions) == 1 && card != nil {
				p.decisions = []decision{p.decisions[0]}
				p.decisions[0].next.Card = card
			}
			if !yield(p, nil) {
				return
			}
			closed = w.closeCards(paced.sender(p.to), p.closing, closed)
		}
	}
}

// A Lane paces every message to one Slack destination, whichever watcher
// sends it: the watchers of several sources, polled at once, share one, so
// that Pace, the card edits' pace and Slack's Retry-After hold across all
// of them. Each message takes the next free slot. The zero Lane is ready.
type Lane struct {
	mu    sync.Mutex
	next  time.Time // the first slot pacing leaves free
	quiet time.Time // until when Slack asked for quiet (Retry-After)
}

// reserve takes the first free slot at or after now for a message that
// keeps the lane busy for pace after it.
func (l *Lane) reserve(now time.Time, pace time.Duration) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	at := later(later(l.next, l.quiet), now)
	l.next = at.Add(pace)
	return at
}

// free is the first free slot.
func (l *Lane) free() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return later(l.next, l.quiet)
}

// hold keeps the lane quiet until t: Slack asked for it (Retry-After).
func (l *Lane) hold(t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.quiet = later(l.quiet, t)
}

// forget drops the pace of the messages sent so far, and keeps the quiet
// Slack asked for.
func (l *Lane) forget() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.next = time.Time{}
}

// A pacer sends a run's messages, each through its destination's lane, on
// the work context; retry policy is the Retrier's.
type pacer struct {
	w     *Watcher
	ctx   context.Context
	lanes *Lanes
}

// pacer returns the run's pacer: on Options.Lanes, or lanes of its own.
func (w *Watcher) pacer(ctx context.Context) *pacer {
	lanes := w.opts.Lanes
	if lanes == nil {
		lanes = &Lanes{}
	}
	return &pacer{w: w, ctx: ctx, lanes: lanes}
}

// wait blocks until the lane of to is free.
func (p *pacer) wait(to Destination) error {
	return waitUntil(p.ctx, p.w.clock, p.lanes.lane(to.Key).free())
}

// sender sends a message to to, each in the next free slot of its lane.
func (p *pacer) sender(to Destination) func(slack.Message) (slack.Posted, error) {
	lane := p.lanes.lane(to.Key)
	return func(m slack.Message) (slack.Posted, error) { return p.send(lane, m) }
}

// send sends m in the next free slot of lane.
func (p *pacer) send(lane *Lane, m slack.Message) (slack.Posted, error) {
	w := p.w
	pace := w.opts.Pace
	if m.Edit != (slack.Posted{}) {
		pace = max(pace, cardEditPace)
	}
	if err := waitUntil(p.ctx, w.clock, lane.reserve(w.clock.Now(), pace)); err != nil {
		return slack.Posted{}, fmt.Errorf("stop sending: %w", err)
	}
	var at slack.Posted
	err := w.opts.Retrier.Do(p.ctx, w.clock, func(ctx context.Context) (bool, error) {
		posted, retry, err := w.notifier.Send(ctx, m)
		at = posted
		return retry, err
	})
	// Slack asked for quiet: post nothing more to the destination before
	// Retry-After has passed (and nothing more this run if that is past
	// the deadline).
	if after, ok := retryAfter(err); ok {
		lane.hold(w.clock.Now().Add(after))
	}
	return at, err
}

// closeCards edits the cards of jobs a digest part told the end of, once
// the part is committed, MaxNews of them at most in a run (done counts those
// edited so far). An edit is not claimed: the job has ended and its alert is
// recorded, so no other run touches its card; one that fails or does not fit
// leaves the card as it was, and is logged.
func (w *Watcher) closeCards(send func(slack.Message) (slack.Posted, error), jobs []decision, done int) int {
	for i, d := range jobs {
		if done >= MaxNews {
			w.log.Info("cards of digested jobs left as they were", "jobs", len(jobs)-i, "most_per_run", MaxNews)
			return done
		}
		m := *d.card
		m.Edit = slack.Posted{Channel: d.next.Card.Channel, TS: d.next.Card.TS}
		if _, err := send(m); err != nil {
			w.log.Warn("card of a digested job not edited", "job", d.job.Name, "error", err)
			if errors.Is(err, slack.ErrNotEditable) {
				continue
			}
			return MaxNews // Slack failing, or the deadline near: no more this run
		}
		done++
	}
	return done
}

// deliver sends the steps of p in order and returns the job's card as it
// now is (nil when it has none), and whether a message went out in its
// minimal form. A card that can no longer be edited (deleted, too old) is
// posted anew, and a reply whose card is gone goes to the channel.
func (w *Watcher) deliver(send func(slack.Message) (slack.Posted, error), p post) (card *state.Card, minimal bool, err error) {
	if len(p.decisions) == 1 && p.decisions[0].next.Card != nil {
		card = ptr(*p.decisions[0].next.Card)
	}
	// once sends m, or its minimal form when Slack refuses m itself.
	once := func(m slack.Message) (slack.Posted, error) {
		at, err := send(m)
		if !errors.Is(err, slack.ErrRejected) || m.Fallback == nil {
			return at, err
		}
		refused := err
		f := *m.Fallback
		f.Edit, f.Thread, f.Broadcast = m.Edit, m.Thread, m.Broadcast
		if at, err = send(f); err != nil {
			return at, fmt.Errorf("%w; minimal form: %w", refused, err)
		}
		minimal = true
		w.log.Warn("slack refused the message; its minimal form went out instead", "message", p.what, "jobs", len(p.decisions), "error", refused)
		return at, nil
	}
	for _, s := range p.steps {
		m := s.msg.WithMentions(p.to.Mentions)
		m.To = p.to.To
		switch s.role {
		case alone:
			_, err = once(m)
		case cardStep:
			if card != nil {
				m.Edit = slack.Posted{Channel: card.Channel, TS: card.TS}
			}
			at, err := once(m)
			if errors.Is(err, slack.ErrNotEditable) {
				w.log.Warn("card can no longer be edited; posting it anew", "job", p.decisions[0].job.Name, "error", err)
				m.Edit = slack.Posted{}
				at, err = once(m)
			}
			if err != nil {
				return card, minimal, err
			}
			card = nil
			if at != (slack.Posted{}) {
				card = &state.Card{Channel: at.Channel, TS: at.TS, Shown: s.msg.Fingerprint()}
			}
		case replyStep:
			if card == nil || !p.thread {
				m.Broadcast = false
			} else {
				m.Thread = slack.Posted{Channel: card.Channel, TS: card.TS}
			}
			_, err = once(m)
			if errors.Is(err, slack.ErrNotEditable) {
				m.Thread, m.Broadcast = slack.Posted{}, false
				_, err = once(m)
			}
		}
		if err != nil {
			return card, minimal, err
		}
	}
	return card, minimal, nil
}

func (w *Watcher) logDecision(d decision, minimal bool, err error) {
	log := w.log.With("job", d.job.Name, "status", d.job.Status, "previous", d.alert().Previous)
	if d.to.Key != DefaultDestination.Key {
		log = log.With("to", d.to.To.String())
	}
	what := "alert"
	if d.verdict != Alert {
		what = "news"
		log = log.With("card", d.card != nil, "milestone", d.notice.Milestone, "stuck_for", d.notice.StuckFor.String(), "failed_share", d.notice.FailedShare)
	}
	switch {
	case err != nil:
		log.Error(what+" not delivered; pending for the next run", "error", err)
	case minimal:
		log.Info(what + " sent in minimal form")
	default:
		log.Info(what + " sent")
	}
}

// waitUntil blocks until c reaches t or until ctx is done. It returns at
// once when the wait would outlast ctx's deadline.
func waitUntil(ctx context.Context, c clock.Clock, t time.Time) error {
	d := t.Sub(c.Now())
	if d <= 0 {
		return ctx.Err()
	}
	if !fits(ctx, d) {
		return fmt.Errorf("wait %v: %w", d.Round(time.Millisecond), errGaveUp)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-c.After(d):
		return nil
	}
}
