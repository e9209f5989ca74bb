package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/labelwatch/labelwatch/internal/emulator"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

// slackHook is a local incoming webhook that records what it is sent.
type slackHook struct {
	mu       sync.Mutex
	messages []string
	status   int // answer with this status instead of 200 "ok" when set
}

func (h *slackHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.status != 0 {
		http.Error(w, "service_unavailable", h.status)
		return
	}
	h.messages = append(h.messages, string(body))
	io.WriteString(w, "ok")
}

func (h *slackHook) Messages() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.messages...)
}

func TestLambdaEndToEnd(t *testing.T) {
	ddbURL := testenv.Dynalite(t)
	testenv.CreateTable(t, dynamodb.NewFromConfig(testenv.AWSConfig(ddbURL)), "labelwatch-state")
	emu := emulator.New()
	sm := httptest.NewServer(emu)
	t.Cleanup(sm.Close)
	hook := &slackHook{}
	slackSrv := httptest.NewServer(hook)
	t.Cleanup(slackSrv.Close)

	start := time.Now()
	bootstrap := testenv.BuildHandler(t)
	t.Logf("build took %v", time.Since(start))
	lambda := testenv.StartLambda(t, bootstrap,
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"AWS_ENDPOINT_URL_SAGEMAKER="+sm.URL, "AWS_ENDPOINT_URL_DYNAMODB="+ddbURL,
		"AWS_LAMBDA_FUNCTION_TIMEOUT=30",
		"STATE_TABLE=labelwatch-state", "SLACK_WEBHOOK_URL="+slackSrv.URL+"/services/TESTSECRET/hook", "SLACK_PACE=0s")
	event, err := os.ReadFile(filepath.Join("..", "..", "events", "scheduled.json"))
	if err != nil {
		t.Fatal(err)
	}
	invoke := func() map[string]any {
		t.Helper()
		defer func(start time.Time) { t.Logf("invoke took %v", time.Since(start)) }(time.Now())
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		body, err := lambda.Invoke(ctx, event)
		if err != nil {
			t.Fatalf("%v\n%s", err, lambda.Output())
		}
		var out map[string]any
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatalf("decode %s: %v", body, err)
		}
		return out
	}

	now := time.Now()
	emu.Put(labeling.Job{Name: "old-done", Status: labeling.StatusCompleted, CreatedAt: now.Add(-48 * time.Hour), ModifiedAt: now.Add(-47 * time.Hour)})
	emu.Put(labeling.Job{Name: "cats", Status: labeling.StatusInProgress, CreatedAt: now.Add(-time.Hour)})
	out := invoke()
	if out["firstRun"] != true || out["alerted"].(float64) != 0 {
		t.Fatalf("first run: %v\n%s", out, lambda.Output())
	}
	emu.Update("cats", func(j *labeling.Job) {
		j.Status = labeling.StatusFailed
		j.FailureReason = "ClientError: <!channel> manifest not found"
	})
	out = invoke()
	if out["alerted"].(float64) != 1 {
		t.Fatalf("second run: %v\n%s", out, lambda.Output())
	}
	out = invoke()
	msgs := hook.Messages()
	if len(msgs) != 1 || !strings.Contains(msgs[0], `\u0026lt;!channel\u0026gt;`) {
		t.Fatalf("messages: %q\n%v", msgs, out)
	}
}
