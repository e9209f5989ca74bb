package slack

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
)

// maxAnswer is how much of a webhook's answer body is kept: Slack's answers
// are a word ("ok", "no_service"), and anything longer is not from Slack.
const maxAnswer = 512

// answer is what the recording transport saw of the response to one Send:
// slack-go keeps the status and headers of a failure to itself (a 429
// without Retry-After becomes a bare StatusCodeError) and never reads a
// webhook's body.
type answer struct {
	keepBody bool
	status   int
	header   http.Header
	body     []byte
}

// answerKey is the context key under which a Send hands its *answer to the
// transport. Each Send has its own, so concurrent Sends do not mix.
type answerKey struct{}

// recordingClient is a shallow copy of hc whose transport records answers.
func recordingClient(hc *http.Client) *http.Client {
	c := &http.Client{}
	if hc != nil {
		*c = *hc
	}
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = recordingTransport{base: base}
	return c
}

// recordingTransport fills in the *answer in a request's context. It runs
// inside http.Client.Do, so the answer is complete when Do returns.
type recordingTransport struct {
	base http.RoundTripper
}

func (t recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	ans, ok := req.Context().Value(answerKey{}).(*answer)
	if !ok {
		return resp, nil
	}
	ans.status, ans.header, ans.body = resp.StatusCode, resp.Header.Clone(), nil
	if ans.keepBody {
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
		if err != nil {
			_ = resp.Body.Close()
			return nil, fmt.Errorf("read answer: %w", err)
		}
		ans.body = body
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
	}
	return resp, nil
}
