package app_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"

	"github.com/labelwatch/labelwatch/internal/app"
)

func TestAWSHTTPClientTimeouts(t *testing.T) {
	c := app.AWSHTTPClient()
	if got := c.GetTimeout(); got != app.AWSAttemptTimeout {
		t.Errorf("attempt timeout %v, want %v", got, app.AWSAttemptTimeout)
	}
	if got := c.GetDialer().Timeout; got <= 0 || got > app.AWSAttemptTimeout {
		t.Errorf("dial timeout %v, want one within the attempt's %v", got, app.AWSAttemptTimeout)
	}
	if got := c.GetTransport().TLSHandshakeTimeout; got <= 0 || got > app.AWSAttemptTimeout {
		t.Errorf("TLS handshake timeout %v, want one within the attempt's %v", got, app.AWSAttemptTimeout)
	}
}

// TestAWSCallStalls sends DynamoDB and SageMaker calls, through SDK clients
// built as the program builds them (AWSHTTPClient's client with a short
// attempt timeout, the SDK's standard retryer), to a server that accepts each request and then, per
// attempt, answers or stalls. A stalled attempt must end at the attempt
// timeout and be retried; a call that stalls on every attempt must fail as a
// timeout after the retryer's attempts, long before the caller's deadline.
func TestAWSCallStalls(t *testing.T) {
	const attempt = 500 * time.Millisecond // stands in for AWSAttemptTimeout

	services := []struct {
		name string
		json string // protocol version, for the answer's Content-Type
		ok   string // the answer to the call
		call func(ctx context.Context, cfg aws.Config) error
	}{
		{"DynamoDB", "1.0", `{"TableNames":[]}`, func(ctx context.Context, cfg aws.Config) error {
			_, err := dynamodb.NewFromConfig(cfg).ListTables(ctx, &dynamodb.ListTablesInput{})
			return err
		}},
		{"SageMaker", "1.1", `{"LabelingJobSummaryList":[]}`, func(ctx context.Context, cfg aws.Config) error {
			_, err := sagemaker.NewFromConfig(cfg).ListLabelingJobs(ctx, &sagemaker.ListLabelingJobsInput{})
			return err
		}},
	}
	// What the server does with an attempt: answer, stall before the
	// headers, or send the headers and part of the body, then stall.
	const (
		answer      = "answer"
		stall       = "stall"
		stallInBody = "stall in body"
	)
	tests := []struct {
		name         string
		attempts     []string // what the server does with each attempt; the last repeats
		wantAttempts int
		wantTimeout  bool
	}{
		{"answers at once", []string{answer}, 1, false},
		{"stalls once, then answers", []string{stall, answer}, 2, false},
		{"stalls in the body once, then answers", []string{stallInBody, answer}, 2, false},
		{"stalls every attempt", []string{stall}, retry.DefaultMaxAttempts, true},
		{"stalls in the body every attempt", []string{stallInBody}, retry.DefaultMaxAttempts, true},
	}
	for _, svc := range services {
		for _, tt := range tests {
			t.Run(svc.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				var seen atomic.Int32
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					// Take the whole request, as a server does before it
					// answers; it also lets the server see the client hang up,
					// which ends r's context.
					if _, err := io.Copy(io.Discard, r.Body); err != nil {
						t.Errorf("read request: %v", err)
					}
					n := int(seen.Add(1))
					what := tt.attempts[min(n, len(tt.attempts))-1]
					w.Header().Set("Content-Type", "application/x-amz-json-"+svc.json)
					switch what {
					case answer:
						fmt.Fprint(w, svc.ok)
					case stallInBody:
						w.Header().Set("Content-Length", fmt.Sprint(len(svc.ok)))
						fmt.Fprint(w, svc.ok[:len(svc.ok)/2])
						w.(http.Flusher).Flush()
						<-r.Context().Done()
					case stall:
						// Until the client gives up on the connection.
						<-r.Context().Done()
					}
				}))
				t.Cleanup(srv.Close)

				cfg := aws.Config{
					Region:       "us-east-1",
					Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
					BaseEndpoint: aws.String(srv.URL),
					HTTPClient:   readOnlyBodies{app.AWSHTTPClientWithTimeout(attempt)},
					// The standard retryer, as LoadDefaultConfig gives it,
					// without its backoff of up to seconds between attempts.
					Retryer: func() aws.Retryer {
						return retry.NewStandard(func(o *retry.StandardOptions) {
							o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
						})
					},
				}
				// The caller's deadline is far off: only the attempt timeout
				// can end a stalled call in time.
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				began := time.Now()
				err := svc.call(ctx, cfg)
				took := time.Since(began)

				if ctx.Err() != nil {
					t.Fatalf("the call ran into the caller's deadline (%v): %v", took, err)
				}
				if got := int(seen.Load()); got != tt.wantAttempts {
					t.Errorf("server saw %d attempts, want %d", got, tt.wantAttempts)
				}
				var timeout interface{ Timeout() bool }
				switch {
				case !tt.wantTimeout && err != nil:
					t.Errorf("call failed after %v: %v", took, err)
				case tt.wantTimeout && (!errors.As(err, &timeout) || !timeout.Timeout()):
					t.Errorf("call ended after %v with %v, want a timeout", took, err)
				}
				// Each stalled attempt waited out the attempt timeout: it was
				// the timeout that ended it, not an early failure. (No upper
				// bound: a loaded machine is slow, not wrong; the attempt
				// count and the caller's deadline bound the call.)
				stalled := 0
				for i := range tt.wantAttempts {
					if tt.attempts[min(i, len(tt.attempts)-1)] != answer {
						stalled++
					}
				}
				if least := time.Duration(stalled) * attempt; took < least {
					t.Errorf("call took %v, want at least %v for %d stalled attempts", took, least, stalled)
				}
			})
		}
	}
}

// readOnlyBodies hides the WriteTo method of the SDK's request bodies, for
// the reason testenv.HTTPClient gives: against a server that answers at once,
// net/http may otherwise close the connection under the response being read,
// which ends an attempt that was meant to stall, and adds one to the attempts
// of a call that was meant to succeed at once.
type readOnlyBodies struct{ client aws.HTTPClient }

func (c readOnlyBodies) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r = r.Clone(r.Context())
		r.Body = struct{ io.ReadCloser }{r.Body}
	}
	return c.client.Do(r)
}
