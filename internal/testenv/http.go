package testenv

import (
	"io"
	"net/http"
)

// HTTPClient is the HTTP client for tests' AWS SDK clients that talk to a
// local server. It hides the WriteTo method of the SDK's request bodies:
// smithy-go wraps a body so that, once it has closed it (as soon as the
// response headers arrive), WriteTo answers io.EOF. net/http's check for
// bytes past Content-Length (io.Copy to io.Discard, which prefers WriteTo)
// can run after that against a fast local server; it then fails the request
// write and closes the connection under the response being read: "use of
// closed network connection", which the SDK's default retryer retries
// (aws/aws-sdk-go-v2#2737). With Read's plain EOF, tests that count calls or
// inject one-shot faults see exactly the calls the code makes. Production
// keeps the SDK's own client, and its retryer, unchanged.
func HTTPClient() *http.Client {
	return &http.Client{Transport: readOnlyBodies{http.DefaultTransport.(*http.Transport).Clone()}}
}

type bodyReader struct{ io.ReadCloser }

type readOnlyBodies struct{ base http.RoundTripper }

func (t readOnlyBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r = r.Clone(r.Context())
		r.Body = bodyReader{r.Body}
	}
	return t.base.RoundTrip(r)
}
