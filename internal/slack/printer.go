package slack

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
)

// Printer stands in for Slack in the local demo and CLI: its Send writes
// each message, formatted by Format, to a writer, under a heading that
// numbers it, so that an edit or a reply can say which message it changes.
// It is safe for concurrent use; messages do not interleave.
type Printer struct {
	mu sync.Mutex
	w  io.Writer
	n  int // messages printed, edits aside
	// routed are the channels of routes' destinations p answered posts
	// in, beside PrintChannel.
	routed map[string]bool
}

// PrintChannel is the Channel of every Posted a Printer answers.
const PrintChannel = "print"

// NewPrinter returns a Printer that writes to w.
func NewPrinter(w io.Writer) *Printer { return &Printer{w: w} }

// Capabilities says a Printer edits and replies as a bot token does, in
// its one channel, PrintChannel.
func (p *Printer) Capabilities() Capabilities {
	return Capabilities{Edit: true, Channel: PrintChannel}
}

// String describes p for logs.
func (p *Printer) String() string { return "printer (messages are printed, not posted)" }

// Send writes m to p's writer under a heading: "── message 4 ──" for a new
// message, "── message 3, edited ──" for an edit of message 3, and "──
// reply to message 3 ──" (with "(also in the channel)" when m.Broadcast)
// for a reply; a message to a route's destination says which. It answers
// Posted{Channel: PrintChannel, TS: "4"}, the number of the message printed
// or edited, in the channel of a route's destination when m.To names one. An edit of, or a reply under, a
// message p did not print fails with ErrNotEditable, as Slack would; a
// write error is final: a broken terminal or pipe does not heal.
func (p *Printer) Send(ctx context.Context, m Message) (Posted, bool, error) {
	if err := ctx.Err(); err != nil {
		return Posted{}, false, fmt.Errorf("print message: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var heading string
	n := p.n + 1
	switch {
	case m.Edit != (Posted{}):
		edited, ok := p.printed(m.Edit)
		if !ok {
			return Posted{}, false, fmt.Errorf("print edit of message %q: %w", m.Edit.TS, ErrNotEditable)
		}
		n, heading = edited, fmt.Sprintf("message %d, edited", edited)
	case m.Thread != (Posted{}):
		parent, ok := p.printed(m.Thread)
		if !ok {
			return Posted{}, false, fmt.Errorf("print reply to message %q: %w", m.Thread.TS, ErrNotEditable)
		}
		heading = fmt.Sprintf("reply to message %d", parent)
		if m.Broadcast {
			heading += " (also in the channel)"
		}
	default:
		heading = fmt.Sprintf("message %d", n)
		if m.To != (Destination{}) {
			// A route's destination: the channel's ID, or the webhook's
			// name, never its URL.
			heading += ", to " + m.To.String()
		}
	}
	if _, err := io.WriteString(p.w, "── "+heading+" ──\n"+Format(m)); err != nil {
		return Posted{}, false, fmt.Errorf("print message: %w", err)
	}
	if n > p.n {
		p.n = n
	}
	channel := PrintChannel
	switch {
	case m.Edit != (Posted{}):
		channel = m.Edit.Channel
	case m.Thread != (Posted{}):
		channel = m.Thread.Channel
	case m.To.Channel != "":
		channel = m.To.Channel // where a card routed there is
		if p.routed == nil {
			p.routed = map[string]bool{}
		}
		p.routed[channel] = true
	}
	return Posted{Channel: channel, TS: strconv.Itoa(n)}, false, nil
}

// printed is the number of the message at where, if p printed it.
func (p *Printer) printed(where Posted) (int, bool) {
	n, err := strconv.Atoi(where.TS)
	return n, err == nil && (where.Channel == PrintChannel || p.routed[where.Channel]) && n >= 1 && n <= p.n
}
