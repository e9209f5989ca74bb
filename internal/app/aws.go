package app

import (
	"net"
	"net/http"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"

	"github.com/labelwatch/labelwatch/internal/watch"
)

// How long one attempt of an AWS call may take. The SDK sets no read timeout
// by default, so without these a response that stalls holds the run until
// its deadline; with them the attempt fails as a timeout, which the SDK's
// standard retryer retries (3 attempts, backoff under 2 s then 4 s).
//
// The function runs for at most 60 s and stops starting work 5 s before
// (DEADLINE_MARGIN). A DynamoDB call answers in milliseconds and a page of
// ListLabelingJobs well within a second, so 10 s is far above a healthy
// call, yet one call that stalls on every attempt fails after about 36 s
// (3 × 10 s + backoff), inside the 55 s a run has, rather than taking the run
// with it; an attempt that stalls once is retried with time to spare.
// Connecting and the TLS handshake get 3 s each, the SDK's own "standard"
// defaults mode values (3.1 s): an endpoint in the same region connects in
// milliseconds, so a blackholed address fails fast and the retry dials anew.
const (
	AWSAttemptTimeout = 10 * time.Second
	awsDialTimeout    = 3 * time.Second
	awsTLSTimeout     = 3 * time.Second
)

// AWSHTTPClientWithTimeout is AWSHTTPClient with attempt as the bound on one
// attempt of a call: connecting, sending, waiting for the answer and reading
// it all count. Tests pass a short one; the program uses AWSHTTPClient.
func AWSHTTPClientWithTimeout(attempt time.Duration) *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().
		WithTimeout(attempt).
		WithDialerOptions(func(d *net.Dialer) {
			d.Timeout = min(awsDialTimeout, attempt)
		}).
		WithTransportOptions(func(t *http.Transport) {
			t.TLSHandshakeTimeout = min(awsTLSTimeout, attempt)
			// As many idle connections to each endpoint as a cycle has
			// state reads and writes in flight. With the SDK's own 10, a
			// burst of writes closes and reopens (and TLS-handshakes)
			// connections all along.
			t.MaxIdleConnsPerHost = watch.DefaultConcurrency
		})
}
