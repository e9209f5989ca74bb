package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/arn"

	"github.com/labelwatch/labelwatch/internal/emulator"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/state"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

// TestRegions runs the function over three regions of its account
// (REGIONS): its own, one with jobs, and one SageMaker does not serve (a
// region not enabled for the account). The same job name in two regions is
// two jobs, alerted once each; the region that fails holds back none of
// the others, keeps no cursor, and fails the invocation; a pushed event is
// read in its job's region.
func TestRegions(t *testing.T) {
	s := newStack(t, "REGIONS=us-east-1,eu-west-1,ap-south-1")
	west := s.estate.Add(emulator.Place{Account: testenv.LambdaAccount, Region: "eu-west-1"})
	now := time.Now()
	for _, emu := range []*emulator.Emulator{s.emu, west} {
		emu.Put(labeling.Job{Name: "shared-name", Status: labeling.StatusInProgress, CreatedAt: now.Add(-time.Hour), ModifiedAt: now.Add(-time.Hour)})
	}
	west.Put(labeling.Job{Name: "west-only", Status: labeling.StatusInProgress, CreatedAt: now.Add(-time.Hour), ModifiedAt: now.Add(-time.Hour)})

	// First runs, each region its own; the unserved region fails the
	// invocation, and names itself.
	r := s.invoke()
	if !strings.Contains(r.ErrorMessage, "source ap-south-1") || !strings.Contains(r.ErrorMessage, "UnrecognizedClientException") {
		t.Fatalf("first poll: error %q, want source ap-south-1's UnrecognizedClientException", r.ErrorMessage)
	}
	// The Lambda answer of a failed invocation is its error only; each
	// region's summary line says what it did.
	if out := s.lambda.Output(); !strings.Contains(out, `"msg":"poll incomplete","region":"ap-south-1"`) || !strings.Contains(out, `"msg":"poll complete","region":"eu-west-1"`) {
		t.Errorf("first poll's log has no failed ap-south-1 and completed eu-west-1 summary lines:\n%s", out)
	}
	cursors := func() map[string]bool {
		out := map[string]bool{}
		for _, scope := range []string{"", "eu-west-1", "ap-south-1"} {
			store, err := s.store.Scope(scope)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			_, ok, err := store.Cursor(ctx)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			out[scope] = ok
		}
		return out
	}
	if c := cursors(); !c[""] || !c["eu-west-1"] || c["ap-south-1"] {
		t.Errorf("cursors set after the first poll: %v; want us-east-1's and eu-west-1's, not ap-south-1's", c)
	}

	// The same name fails in both regions: two alerts, each naming its
	// region, each recorded in its region's state.
	for _, emu := range []*emulator.Emulator{s.emu, west} {
		emu.Update("shared-name", func(j *labeling.Job) {
			j.Status, j.FailureReason = labeling.StatusFailed, "ClientError: bad manifest"
			j.ModifiedAt = time.Time{}
		})
	}
	before := len(s.slack.Messages())
	if r = s.invoke(); !strings.Contains(r.ErrorMessage, "source ap-south-1") {
		t.Errorf("second poll: error %q, want source ap-south-1's", r.ErrorMessage)
	}
	var regions []string
	for _, m := range s.slack.Messages()[before:] {
		for _, region := range []string{"us-east-1", "eu-west-1"} {
			if strings.Contains(m.Text, "shared-name") && strings.Contains(string(m.Raw), region) {
				regions = append(regions, region)
			}
		}
	}
	if len(regions) != 2 || regions[0] == regions[1] || len(s.slack.Messages()) != before+2 {
		t.Errorf("alerts of shared-name name regions %v, want one each of us-east-1 and eu-west-1", regions)
	}
	s.wantAlerted("shared-name", labeling.StatusFailed)
	westStore, err := s.store.Scope("eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	recs, err := westStore.Load(ctx, []string{"shared-name"})
	if rec := recs["shared-name"]; err != nil || rec.Status != labeling.StatusFailed || rec.AlertedAt.IsZero() {
		t.Errorf("eu-west-1's record of shared-name: %+v, %v; want Failed, alerted", rec, err)
	}

	// A pushed event of eu-west-1 is read there.
	west.Update("west-only", func(j *labeling.Job) { j.Status, j.ModifiedAt = labeling.StatusCompleted, time.Time{} })
	job, _ := west.Job("west-only")
	described := west.Calls("DescribeLabelingJob")
	r = s.send(s.stateChangeFor(labeling.StatusCompleted, job.ARN))
	if r.Alerted != 1 || west.Calls("DescribeLabelingJob") != described+1 {
		t.Errorf("push of eu-west-1's job: alerted %d, described there %d times; want 1 and 1", r.Alerted, west.Calls("DescribeLabelingJob")-described)
	}
	recs, err = westStore.Load(ctx, []string{"west-only"})
	if rec := recs["west-only"]; err != nil || rec.Status != labeling.StatusCompleted {
		t.Errorf("eu-west-1's record of west-only: %+v, %v", rec, err)
	}
	var _ state.Store = westStore
}

// TestAccounts runs the function over two other accounts (ACCOUNT_ROLES,
// with an EXTERNAL_ID) beside its own: one whose role SageMaker serves, one
// whose account it does not. The function assumes each role through STS
// (moto_server, behind a proxy that tells the SageMaker emulator whose
// account each issued access key is): the same job name in two accounts is
// two jobs, the failing account holds back neither of the others, and a
// pushed event of the member account is read through its role.
func TestAccounts(t *testing.T) {
	const member, unserved = "222222222222", "333333333333"
	moto := testenv.Moto(t)
	var estate *emulator.Estate
	sts := stsProxy(t, moto, func(key, account string) { estate.Credentials(key, account) })
	s := newStack(t, "ACCOUNT_ROLES=arn:aws:iam::"+member+":role/labelwatch-read,arn:aws:iam::"+unserved+":role/labelwatch-read",
		"EXTERNAL_ID=lw-test", "AWS_ENDPOINT_URL_STS="+sts)
	estate = s.estate
	theirs := estate.Add(emulator.Place{Account: member, Region: "us-east-1"})
	now := time.Now()
	for _, emu := range []*emulator.Emulator{s.emu, theirs} {
		emu.Put(labeling.Job{Name: "shared-name", Status: labeling.StatusInProgress, CreatedAt: now.Add(-time.Hour), ModifiedAt: now.Add(-time.Hour)})
	}
	theirs.Put(labeling.Job{Name: "theirs-only", Status: labeling.StatusInProgress, CreatedAt: now.Add(-time.Hour), ModifiedAt: now.Add(-time.Hour)})

	if r := s.invoke(); !strings.Contains(r.ErrorMessage, "source "+unserved+"/us-east-1") {
		t.Fatalf("first poll: error %q, want source %s/us-east-1's", r.ErrorMessage, unserved)
	}
	for _, emu := range []*emulator.Emulator{s.emu, theirs} {
		emu.Update("shared-name", func(j *labeling.Job) { j.Status, j.ModifiedAt = labeling.StatusFailed, time.Time{} })
	}
	before := len(s.slack.Messages())
	if r := s.invoke(); !strings.Contains(r.ErrorMessage, "source "+unserved+"/us-east-1") {
		t.Errorf("second poll: error %q, want source %s/us-east-1's", r.ErrorMessage, unserved)
	}
	var accounts []string
	for _, m := range s.slack.Messages()[before:] {
		for _, account := range []string{testenv.LambdaAccount, member} {
			if strings.Contains(m.Text, "shared-name") && strings.Contains(string(m.Raw), account) {
				accounts = append(accounts, account)
			}
		}
	}
	if len(accounts) != 2 || accounts[0] == accounts[1] || len(s.slack.Messages()) != before+2 {
		t.Errorf("alerts of shared-name name accounts %v in %d messages, want one each of %s and %s", accounts, len(s.slack.Messages())-before, testenv.LambdaAccount, member)
	}
	s.wantAlerted("shared-name", labeling.StatusFailed)

	// A pushed event of the member account is read through its role.
	theirs.Update("theirs-only", func(j *labeling.Job) { j.Status, j.ModifiedAt = labeling.StatusCompleted, time.Time{} })
	job, _ := theirs.Job("theirs-only")
	described := theirs.Calls("DescribeLabelingJob")
	if r := s.send(s.stateChangeFor(labeling.StatusCompleted, job.ARN)); r.Alerted != 1 || theirs.Calls("DescribeLabelingJob") != described+1 {
		t.Errorf("push of the member's job: alerted %d, described there %d times; want 1 and 1", r.Alerted, theirs.Calls("DescribeLabelingJob")-described)
	}
	store, err := s.store.Scope(member + "/us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	recs, err := store.Load(ctx, []string{"shared-name", "theirs-only"})
	if err != nil || recs["shared-name"].Status != labeling.StatusFailed || recs["theirs-only"].Status != labeling.StatusCompleted {
		t.Errorf("the member's records: %+v, %v", recs, err)
	}
}

// stsProxy serves STS from moto through a proxy that tells issued the
// access key of every AssumeRole it answers, and the account of the role.
func stsProxy(t *testing.T, moto string, issued func(key, account string)) string {
	t.Helper()
	target, err := url.Parse(moto)
	if err != nil {
		t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			// The role's account, for the answer.
			body, _ := io.ReadAll(r.In.Body)
			r.Out.Body = io.NopCloser(bytes.NewReader(body))
			r.In.Body = io.NopCloser(bytes.NewReader(body))
			form, _ := url.ParseQuery(string(body))
			if form.Get("Action") == "AssumeRole" {
				if role, err := arn.Parse(form.Get("RoleArn")); err == nil {
					r.Out.Header.Set("X-Test-Account", role.AccountID)
				}
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			account := resp.Request.Header.Get("X-Test-Account")
			if account == "" {
				return nil
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			resp.Body = io.NopCloser(bytes.NewReader(body))
			var out struct {
				Result struct {
					Credentials struct{ AccessKeyId string }
				} `xml:"AssumeRoleResult"`
			}
			if err := xml.Unmarshal(body, &out); err == nil && out.Result.Credentials.AccessKeyId != "" {
				issued(out.Result.Credentials.AccessKeyId, account)
			}
			return nil
		},
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv.URL
}
