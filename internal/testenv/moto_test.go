package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// TestMoto checks that the server Moto starts answers both services the
// tests use it for: DynamoDB through the SDK, and Secrets Manager over its
// JSON protocol (its SDK module is not a dependency of this one).
func TestMoto(t *testing.T) {
	url := Moto(t)
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("Moto() = %q, want http://127.0.0.1:PORT", url)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("DynamoDB", func(t *testing.T) {
		client := dynamodb.NewFromConfig(AWSConfig(url))
		CreateTable(t, client, "moto-test")
		out, err := client.ListTables(ctx, &dynamodb.ListTablesInput{})
		if err != nil {
			t.Fatalf("ListTables: %v", err)
		}
		if len(out.TableNames) != 1 || out.TableNames[0] != "moto-test" {
			t.Errorf("ListTables = %v, want [moto-test]", out.TableNames)
		}
	})

	t.Run("SecretsManager", func(t *testing.T) {
		call := func(op, body string) (int, map[string]any) {
			t.Helper()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			req.Header.Set("X-Amz-Target", "secretsmanager."+op)
			// moto picks the service from the credential scope; it does
			// not check the signature.
			req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=0")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", op, err)
			}
			defer resp.Body.Close()
			raw, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("%s: read answer: %v", op, err)
			}
			var answer map[string]any
			if err := json.Unmarshal(raw, &answer); err != nil {
				t.Fatalf("%s: answer %d %q is not JSON: %v", op, resp.StatusCode, raw, err)
			}
			return resp.StatusCode, answer
		}
		if code, answer := call("CreateSecret", `{"Name": "labelwatch/slack", "SecretString": "xoxb-test"}`); code != http.StatusOK {
			t.Fatalf("CreateSecret answered %d %v", code, answer)
		}
		code, answer := call("GetSecretValue", `{"SecretId": "labelwatch/slack"}`)
		if code != http.StatusOK || answer["SecretString"] != "xoxb-test" {
			t.Errorf("GetSecretValue answered %d %v, want 200 with SecretString xoxb-test", code, answer)
		}
		// AWS answers 400 here; moto 5.2.1 answers 404. Code that reads
		// the error's __type, as the SDK does, sees the same error.
		code, answer = call("GetSecretValue", `{"SecretId": "labelwatch/missing"}`)
		if code/100 != 4 || answer["__type"] != "ResourceNotFoundException" {
			t.Errorf("GetSecretValue of a missing secret answered %d %v, want 4xx ResourceNotFoundException", code, answer)
		}
	})
}

// TestMotoMissing checks what a test that needs moto_server does on a
// machine without it: fail in CI, skip elsewhere, saying how to install it.
func TestMotoMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	if _, err := StartMoto(context.Background()); !errors.Is(err, ErrMotoMissing) {
		t.Fatalf("StartMoto without moto_server on PATH: %v, want ErrMotoMissing", err)
	}
	for _, tc := range []struct {
		ci, want string // want: "fatal" or "skip"
	}{
		{"true", "fatal"},
		{"", "skip"},
		{"false", "skip"},
	} {
		t.Run("CI="+tc.ci, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			rec := &stopRecorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				Moto(rec)
			}()
			<-done
			if rec.how != tc.want {
				t.Fatalf("Moto ended the test with %q (%q), want %s", rec.how, rec.msg, tc.want)
			}
			if !strings.Contains(rec.msg, "pip install 'moto[server]'") {
				t.Errorf("message %q does not say how to install moto_server", rec.msg)
			}
			if tc.want == "fatal" && !strings.Contains(rec.msg, "required in CI") {
				t.Errorf("message %q does not say moto_server is required in CI", rec.msg)
			}
		})
	}
}

// stopRecorder is a testing.TB whose Fatal and Skip record how the test
// would have ended and stop only the calling goroutine.
type stopRecorder struct {
	testing.TB
	how, msg string
}

func (r *stopRecorder) Helper() {}

func (r *stopRecorder) Fatal(args ...any) { r.stop("fatal", fmt.Sprint(args...)) }

func (r *stopRecorder) Fatalf(format string, args ...any) {
	r.stop("fatal", fmt.Sprintf(format, args...))
}

func (r *stopRecorder) Skip(args ...any) { r.stop("skip", fmt.Sprint(args...)) }

func (r *stopRecorder) Skipf(format string, args ...any) {
	r.stop("skip", fmt.Sprintf(format, args...))
}

func (r *stopRecorder) stop(how, msg string) {
	r.how, r.msg = how, msg
	runtime.Goexit()
}
