package slack

// This file is what a failed Send means: whether to try again, and, for a
// failure that is final, why; and errors that never show a secret.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	slackapi "github.com/slack-go/slack"

	"github.com/labelwatch/labelwatch/internal/clock"
)

// defaultRetryAfter is the wait a 429 without a usable Retry-After header
// asks for: Slack's documented pace is about one message per second per
// channel.
const defaultRetryAfter = time.Second

// redacted stands in for a webhook URL in errors.
const redacted = "<redacted>"

// ErrInvalidCredential marks a Send that Slack refused because the webhook
// URL or the bot token no longer grants posting: the Web API's invalid_auth,
// not_authed, token_revoked, token_expired and account_inactive, and a
// webhook's 403, 404 and 410 (a revoked, removed or disabled hook). Such a
// Send is final: the same credential will not start working. A caller that
// can fetch the credential anew (it may have been rotated) tests for this
// with errors.Is.
var ErrInvalidCredential = errors.New("slack refused the credential")

// ErrRejected marks a Send that Slack refused for the message itself: its
// blocks are too long or not valid Block Kit. The Web API says
// msg_blocks_too_long, invalid_blocks, invalid_blocks_format or
// msg_too_long (HTTP 200, ok false); a webhook answers 400 with
// invalid_payload, invalid_blocks or invalid_blocks_format. Such a Send is
// final: the same message is refused every time. A caller tests for it with
// errors.Is and posts the message's Fallback instead.
var ErrRejected = errors.New("slack refused the message")

// ErrNotEditable marks a Send of a Message with Edit or Thread set that Slack
// refused because the message to edit or reply under is gone or can no
// longer be changed: chat.update's message_not_found, cant_update_message
// and edit_window_closed, and a reply's thread_not_found,
// message_not_found and invalid_thread_ts (someone deleted the message, or
// the workspace's edit window closed), and, for either, is_archived,
// channel_not_found and not_in_channel (the message's channel is gone, or
// the bot left it). Such a Send is final; the caller tests for it with
// errors.Is and posts the message anew, without Edit or Thread.
var ErrNotEditable = errors.New("the message to edit or reply under is gone")

// cannotEdit reports whether a chat.update error code says the message
// cannot be edited any more: deleted, not the app's to edit, or past the
// workspace's edit window (chat.update's documented errors).
func cannotEdit(code string) bool {
	switch code {
	case "message_not_found", "cant_update_message", "edit_window_closed":
		return true
	}
	return channelGone(code)
}

// threadGone reports whether a chat.postMessage error code for a reply says
// the message to reply under is gone: thread_not_found is what Slack
// answers for a deleted parent (slackapi/bolt-js#2307); message_not_found
// and invalid_thread_ts are seen for a ts that names no message.
func threadGone(code string) bool {
	switch code {
	case "thread_not_found", "message_not_found", "invalid_thread_ts":
		return true
	}
	return channelGone(code)
}

// channelGone reports whether an error code of an edit or a reply says the
// channel the message is in can no longer be written to: archived, deleted,
// or left by the bot. The message is then as gone as a deleted one: the
// caller posts anew, in the channel it posts to now. Should that be the same
// channel, the new post fails for good, as a misconfigured channel does.
func channelGone(code string) bool {
	switch code {
	case "is_archived", "channel_not_found", "not_in_channel":
		return true
	}
	return false
}

// classify turns a failed attempt into (retry, error), the error stripped of
// the URL that net/http and slack-go put in theirs.
func (s *Sender) classify(ctx context.Context, op string, err error, ans *answer) (bool, error) {
	var (
		rate   *slackapi.RateLimitedError
		status slackapi.StatusCodeError
		api    slackapi.SlackErrorResponse
		urlErr *url.Error
	)
	switch {
	case ans.status == http.StatusTooManyRequests:
		// slack-go makes a RateLimitedError only when Retry-After is a
		// number of seconds; without one, or with a date, it does not.
		if !errors.As(err, &rate) {
			rate = &slackapi.RateLimitedError{RetryAfter: retryAfter(ans.header, s.clock)}
		}
		return true, s.fail(op, rateLimited{err: rate, after: rate.RetryAfter})
	case errors.As(err, &status):
		var e error = status
		if text := s.answerText(ans.body); text != "" {
			e = fmt.Errorf("%w: %s", status, text) // a webhook says why: no_service, invalid_token, ...
		}
		if s.mode == ModeWebhook && webhookGone(status.Code) {
			e = invalidCredential{e}
		}
		if s.mode == ModeWebhook && status.Code == http.StatusBadRequest && messageRefused(strings.TrimSpace(string(ans.body))) {
			e = rejected{e}
		}
		return status.Code >= 500, s.fail(op, e)
	case errors.As(err, &api):
		// Slack documents "ratelimited"; "rate_limited" is seen too (HTTP 200,
		// ok: false). Either is a 429: wait as asked, then try again.
		if api.Err == "ratelimited" || api.Err == "rate_limited" {
			after := retryAfter(ans.header, s.clock)
			return true, s.fail(op, rateLimited{err: fmt.Errorf("%w: %w", api, &slackapi.RateLimitedError{RetryAfter: after}), after: after})
		}
		if tokenRefused(api.Err) {
			return false, s.fail(op, invalidCredential{api})
		}
		if messageRefused(api.Err) {
			return false, s.fail(op, rejected{api})
		}
		return retryableAPIError(api.Err), s.fail(op, api)
	case ctx.Err() != nil:
		// The caller gave up; that, not the transport's view of it, is the news.
		return false, s.fail(op, ctx.Err())
	case errors.As(err, &urlErr):
		safe := &url.Error{Op: urlErr.Op, URL: redacted, Err: urlErr.Err}
		return !permanentTransportError(urlErr), s.fail(op, safe)
	}
	// The answer was cut short or was not Slack's JSON: the message may not
	// have been posted.
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	if errors.As(err, &syntax) || errors.As(err, &typ) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("decode answer: %w", err)
	}
	return true, s.fail(op, err)
}

// rateLimited is Slack asking for quiet. It wraps slack-go's
// RateLimitedError and tells the retrier, through RetryAfter, how long to
// wait, so the retrier need not know slack-go's types.
type rateLimited struct {
	err   error
	after time.Duration
}

func (e rateLimited) Error() string { return e.err.Error() }
func (e rateLimited) Unwrap() error { return e.err }

// RetryAfter is how long Slack asked to wait before the next post.
func (e rateLimited) RetryAfter() time.Duration { return e.after }

// invalidCredential is an error that shows Slack no longer takes the
// credential; it reads as the error it wraps and is ErrInvalidCredential.
type invalidCredential struct{ err error }

func (e invalidCredential) Error() string        { return e.err.Error() }
func (e invalidCredential) Unwrap() error        { return e.err }
func (e invalidCredential) Is(target error) bool { return target == ErrInvalidCredential }

// rejected is an error that shows Slack refused the message itself; it
// reads as the error it wraps and is ErrRejected.
type rejected struct{ err error }

func (e rejected) Error() string        { return e.err.Error() }
func (e rejected) Unwrap() error        { return e.err }
func (e rejected) Is(target error) bool { return target == ErrRejected }

// notEditable is an error that shows the message to edit or reply under is
// gone; it reads as the error it wraps and is ErrNotEditable.
type notEditable struct{ err error }

func (e notEditable) Error() string        { return e.err.Error() }
func (e notEditable) Unwrap() error        { return e.err }
func (e notEditable) Is(target error) bool { return target == ErrNotEditable }

// messageRefused reports whether an error code (a Web API error or a
// webhook's 400 body) says the message, not the credential or Slack, is the
// problem: too long or not valid Block Kit.
func messageRefused(code string) bool {
	switch code {
	case "msg_blocks_too_long", "invalid_blocks", "invalid_blocks_format", "msg_too_long", "invalid_payload":
		return true
	}
	return false
}

// tokenRefused reports whether a Web API error code says the token no
// longer works, rather than that this call was wrong (chat.postMessage's and
// every method's documented errors).
func tokenRefused(code string) bool {
	switch code {
	case "invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive":
		return true
	}
	return false
}

// webhookGone reports whether a webhook's status code says the hook
// itself is gone or disabled: 403 (invalid_token, action_prohibited), 404
// (no_service, no_team) and 410 (channel_is_archived and other hooks that
// will not come back). A rotated secret is then worth reading again.
func webhookGone(code int) bool {
	return code == http.StatusForbidden || code == http.StatusNotFound || code == http.StatusGone
}

// retryableAPIError reports whether a Web API error code means Slack had a
// passing problem rather than a problem with the request, the token or the
// channel (chat.postMessage's documented errors).
func retryableAPIError(code string) bool {
	switch code {
	case "internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited", "rate_limited", "team_added_to_org":
		return true
	}
	return false
}

// permanentTransportError reports whether a request failed for a reason that
// a later attempt cannot fix: an unparseable URL or a certificate that does
// not verify.
func permanentTransportError(e *url.Error) bool {
	if e.Op == "parse" {
		return true
	}
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
	)
	return errors.As(e.Err, &verify) || errors.As(e.Err, &unknown) || errors.As(e.Err, &hostname) || errors.As(e.Err, &invalid)
}

// fail wraps err with what was being done. Classification has happened by
// now; if a secret still shows in the text (a server echoing the URL, say),
// the error is replaced by its text with the secrets cut out, so no caller
// can print them even by unwrapping. The replacement keeps only
// ErrInvalidCredential, ErrRejected and ErrNotEditable of what err was.
func (s *Sender) fail(op string, err error) error {
	e := fmt.Errorf("%s: %w", op, err)
	msg := e.Error()
	clean := msg
	for _, secret := range s.secrets {
		clean = strings.ReplaceAll(clean, secret, redacted)
	}
	if clean == msg {
		return e
	}
	switch {
	case errors.Is(e, ErrInvalidCredential):
		return invalidCredential{errors.New(clean)}
	case errors.Is(e, ErrRejected):
		return rejected{errors.New(clean)}
	case errors.Is(e, ErrNotEditable):
		return notEditable{errors.New(clean)}
	}
	return errors.New(clean)
}

// retryAfter is the wait a 429's Retry-After header asks for, in seconds or
// as an HTTP date (counted from the time on c), or defaultRetryAfter when it
// says neither.
func retryAfter(h http.Header, c clock.Clock) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(clock.Until(c, t).Round(time.Second), 0)
	}
	return defaultRetryAfter
}

// answerText is a webhook's answer body fit for an error: quoted, short,
// without secrets, and empty when there was none.
func (s *Sender) answerText(body []byte) string {
	text := strings.TrimSpace(strings.ToValidUTF8(string(body), "\uFFFD"))
	for _, secret := range s.secrets {
		text = strings.ReplaceAll(text, secret, redacted)
	}
	if text == "" {
		return ""
	}
	text = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, text)
	if r := []rune(text); len(r) > 100 {
		text = string(r[:100]) + ellipsis
	}
	return strconv.Quote(text)
}
