package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/labelwatch/labelwatch/internal/app"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

// TestSlackSecret runs the function with its Slack credential in a Secrets
// Manager secret (moto_server), which it finds through
// AWS_ENDPOINT_URL_SECRETS_MANAGER as it would in production.
func TestSlackSecret(t *testing.T) {
	moto := testenv.Moto(t)
	sm := secretsmanager.NewFromConfig(testenv.AWSConfig(moto))
	// The function reaches moto through a proxy that counts its reads.
	var reads atomic.Int32
	motoProxy := proxy(t, moto)
	counted := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if awsOperation(r) == "GetSecretValue" {
			reads.Add(1)
		}
		motoProxy.ServeHTTP(w, r)
	}))
	t.Cleanup(counted.Close)
	const oldToken = "old-revoked-bot-token-SECRET-0001"
	bot := func(token string) string {
		b, _ := json.Marshal(map[string]string{"bot_token": token, "channel": testenv.SlackChannel})
		return string(b)
	}
	create := func(t *testing.T, name, value string) string {
		out, err := sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
		if err != nil {
			t.Fatal(err)
		}
		return *out.ARN
	}
	env := func(arn string) []string {
		// SLACK_WEBHOOK_URL= keeps newStack's default webhook out.
		return []string{"SLACK_WEBHOOK_URL=", "SLACK_SECRET_ARN=" + arn, "SLACK_API_URL={slack}/api/",
			"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + counted.URL, "LOG_LEVEL=debug"}
	}

	t.Run("token rotated while the function runs", func(t *testing.T) {
		reads.Store(0)
		arn := create(t, "labelwatch/e2e-rotation", bot(oldToken))
		s := newStack(t, env(arn)...)
		s.emu.Put(labeling.Job{Name: "cats", Status: labeling.StatusInProgress, CreatedAt: time.Now().Add(-time.Hour)})
		s.emu.Put(labeling.Job{Name: "dogs", Status: labeling.StatusInProgress, CreatedAt: time.Now().Add(-time.Hour)})
		results := []app.Result{s.ok()}
		if n := reads.Load(); n != 1 {
			t.Fatalf("the cold start read the secret %d times, want once", n)
		}

		// The old token is revoked and the secret holds a new one: Slack
		// refuses the old one (invalid_auth), the function reads the
		// secret again and posts with the new token.
		if _, err := sm.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{
			SecretId: aws.String(arn), SecretString: aws.String(bot(testenv.SlackToken)),
		}); err != nil {
			t.Fatal(err)
		}
		s.emu.Update("cats", func(j *labeling.Job) { j.Status = labeling.StatusFailed; j.FailureReason = "ClientError: boom" })
		r := s.ok()
		if r.Alerted != 1 {
			t.Fatalf("run after the rotation = %+v, want one alert", r)
		}
		s.wantTexts("cats")
		if n := reads.Load(); n != 2 {
			t.Errorf("the secret was read %d times, want 2: the cold start's and one after invalid_auth", n)
		}

		// The new token stays in use: no read per run.
		s.emu.Update("dogs", func(j *labeling.Job) { j.Status = labeling.StatusCompleted })
		results = append(results, r, s.ok())
		s.wantTexts("cats", "dogs")
		if n := reads.Load(); n != 2 {
			t.Errorf("the secret was read %d times, want still 2", n)
		}

		out := s.output(s.lambda)
		all, _ := json.Marshal(results)
		for _, secret := range append(testenv.SlackSecrets(), oldToken) {
			if strings.Contains(out+string(all), secret) {
				t.Errorf("the function's output or results show the credential %q:\n%s\n%s", secret, out, all)
			}
		}
		if !strings.Contains(out, arn) {
			t.Errorf("no log line names the secret read again:\n%s", out)
		}
	})

	t.Run("secret missing at cold start", func(t *testing.T) {
		reads.Store(0)
		arn := "arn:aws:secretsmanager:us-east-1:123456789012:secret:labelwatch/e2e-missing-AbCdEf"
		s := newStack(t, env(arn)...)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		body, err := s.lambda.Invoke(ctx, s.event)
		if err != nil {
			t.Fatal(err)
		}
		if len(body) > 0 {
			var r app.Result
			if err := json.Unmarshal(body, &r); err != nil || r.ErrorType == "" {
				t.Fatalf("the function started without its secret: %s", body)
			}
		}
		s.lambda.Kill() // so Output holds every line written
		out := s.lambda.Output()
		line := coldStartLine(out)
		for _, want := range []string{arn, "ResourceNotFoundException", "SLACK_SECRET_ARN"} {
			if !strings.Contains(line, want) {
				t.Errorf("the cold start error line does not say %q:\n%s", want, out)
			}
		}
		if n := s.pages.distinct(); n != 0 {
			t.Errorf("a function without its Slack credential listed %d pages", n)
		}
		if s.slack.Requests() != 0 {
			t.Errorf("a function without its Slack credential posted")
		}
	})
}

// coldStartLine is the last "cold start failed" line of the function's
// output, or "".
func coldStartLine(out string) string {
	var line string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, `"cold start failed"`) {
			line = l
		}
	}
	return line
}
