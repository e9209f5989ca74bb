package slack

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// errNoWebhooks is a message to a named webhook sent where no webhook of
// that name is known. It reads as ErrInvalidCredential: the secret that
// should hold the webhook is read again, in case it was added since.
var errNoWebhooks = invalidCredential{errors.New("the Slack secret holds no incoming webhook of that name (key \"webhooks\")")}

// Switch sends each message through the sender its destination names: a
// named incoming webhook's, or the default sender's (which posts to a
// route's channel with its bot token, see Sender.Send). Its Capabilities
// are the default sender's.
type Switch struct {
	Default  *Sender
	Webhooks map[string]*Sender // by name
}

// Send delivers m through the sender m.To names.
func (s Switch) Send(ctx context.Context, m Message) (Posted, bool, error) {
	if m.To.Webhook == "" {
		return s.Default.Send(ctx, m)
	}
	hook, ok := s.Webhooks[m.To.Webhook]
	if !ok {
		return Posted{}, false, fmt.Errorf("post to slack webhook %q: %w", m.To.Webhook, errNoWebhooks)
	}
	// A webhook posts every message anew, in its own channel: it can
	// neither edit nor reply.
	m.To, m.Edit, m.Thread, m.Broadcast = Destination{}, Posted{}, Posted{}, false
	return hook.Send(ctx, m)
}

// Capabilities are the default sender's.
func (s Switch) Capabilities() Capabilities { return s.Default.Capabilities() }

// String describes where s delivers, without secrets.
func (s Switch) String() string {
	if len(s.Webhooks) == 0 {
		return s.Default.String()
	}
	return s.Default.String() + ", and the webhooks " + strings.Join(slices.Sorted(maps.Keys(s.Webhooks)), ", ")
}
