package emulator_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/aws/smithy-go"

	"github.com/labelwatch/labelwatch/internal/emulator"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

// t0 has a millisecond fraction so that every test checks sub-second precision.
var t0 = time.Unix(1700000000, 123_000_000).UTC()

func at(d time.Duration) time.Time { return t0.Add(d) }

// fixture is five jobs with a creation-time tie (delta, gamma-cats) and
// boundaries on whole filter values.
func fixture() []labeling.Job {
	return []labeling.Job{
		{Name: "alpha-cats", Status: labeling.StatusCompleted, CreatedAt: t0, ModifiedAt: at(10 * time.Second)},
		{Name: "Beta-Dogs", Status: labeling.StatusInProgress, CreatedAt: at(1500 * time.Millisecond), ModifiedAt: at(20 * time.Second)},
		{Name: "gamma-cats", Status: labeling.StatusFailed, CreatedAt: at(2 * time.Second), ModifiedAt: at(5 * time.Second), FailureReason: "ClientError: <bad> manifest"},
		{Name: "delta", Status: labeling.StatusInProgress, CreatedAt: at(2 * time.Second), ModifiedAt: at(30 * time.Second)},
		{Name: "epsilon", Status: labeling.StatusInitializing, CreatedAt: at(3001 * time.Millisecond), ModifiedAt: at(3001 * time.Millisecond)},
	}
}

func numbered(n int) []labeling.Job {
	jobs := make([]labeling.Job, n)
	for i := range jobs {
		jobs[i] = labeling.Job{Name: fmt.Sprintf("job-%02d", i), Status: labeling.StatusInProgress, CreatedAt: at(time.Duration(i) * time.Second)}
	}
	return jobs
}

type zeroBackoff struct{}

func (zeroBackoff) BackoffDelay(int, error) (time.Duration, error) { return 0, nil }

// serve starts an emulator holding jobs and returns it, an SDK client that
// does not retry, and the server, for clients with another retryer.
func serve(t *testing.T, jobs []labeling.Job, opts ...emulator.Option) (*emulator.Emulator, *sagemaker.Client, *httptest.Server) {
	t.Helper()
	emu := emulator.New(opts...)
	for _, j := range jobs {
		emu.Put(j)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return emu, client(srv.URL, aws.NopRetryer{}), srv
}

func client(url string, retryer aws.Retryer) *sagemaker.Client {
	return sagemaker.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("a", "b", ""),
		BaseEndpoint: aws.String(url),
		HTTPClient:   testenv.HTTPClient(),
	}, func(o *sagemaker.Options) { o.Retryer = retryer })
}

// listAll drives the SDK paginator and returns the names in order and the number of pages.
func listAll(t *testing.T, c sagemaker.ListLabelingJobsAPIClient, in *sagemaker.ListLabelingJobsInput, opts ...func(*sagemaker.ListLabelingJobsPaginatorOptions)) ([]string, int) {
	t.Helper()
	names := []string{}
	pages := 0
	for p := sagemaker.NewListLabelingJobsPaginator(c, in, opts...); p.HasMorePages(); {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("page %d: %v", pages+1, err)
		}
		pages++
		for _, s := range out.LabelingJobSummaryList {
			names = append(names, aws.ToString(s.LabelingJobName))
		}
	}
	return names, pages
}

func apiCode(t *testing.T, err error) string {
	t.Helper()
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v is not a smithy.APIError", err)
	}
	return apiErr.ErrorCode()
}

func TestListFilters(t *testing.T) {
	_, c, _ := serve(t, fixture())
	tests := []struct {
		name string
		in   sagemaker.ListLabelingJobsInput
		want []string
	}{
		{"no filter", sagemaker.ListLabelingJobsInput{}, []string{"alpha-cats", "Beta-Dogs", "delta", "gamma-cats", "epsilon"}},
		{"creation after is strict", sagemaker.ListLabelingJobsInput{CreationTimeAfter: aws.Time(t0)}, []string{"Beta-Dogs", "delta", "gamma-cats", "epsilon"}},
		{"creation after a millisecond earlier", sagemaker.ListLabelingJobsInput{CreationTimeAfter: aws.Time(at(-time.Millisecond))}, []string{"alpha-cats", "Beta-Dogs", "delta", "gamma-cats", "epsilon"}},
		{"creation before is strict", sagemaker.ListLabelingJobsInput{CreationTimeBefore: aws.Time(at(2 * time.Second))}, []string{"alpha-cats", "Beta-Dogs"}},
		{"creation window", sagemaker.ListLabelingJobsInput{CreationTimeAfter: aws.Time(at(time.Second)), CreationTimeBefore: aws.Time(at(3001 * time.Millisecond))}, []string{"Beta-Dogs", "delta", "gamma-cats"}},
		{"modified after is strict", sagemaker.ListLabelingJobsInput{LastModifiedTimeAfter: aws.Time(at(10 * time.Second))}, []string{"Beta-Dogs", "delta"}},
		{"modified before is strict", sagemaker.ListLabelingJobsInput{LastModifiedTimeBefore: aws.Time(at(5 * time.Second))}, []string{"epsilon"}},
		{"name contains ignores case", sagemaker.ListLabelingJobsInput{NameContains: aws.String("CATS")}, []string{"alpha-cats", "gamma-cats"}},
		{"name contains lower matches upper", sagemaker.ListLabelingJobsInput{NameContains: aws.String("a-d")}, []string{"Beta-Dogs"}},
		{"status equals", sagemaker.ListLabelingJobsInput{StatusEquals: types.LabelingJobStatusInProgress}, []string{"Beta-Dogs", "delta"}},
		{"status with no jobs", sagemaker.ListLabelingJobsInput{StatusEquals: types.LabelingJobStatusStopped}, []string{}},
		{"filters combine", sagemaker.ListLabelingJobsInput{StatusEquals: types.LabelingJobStatusInProgress, LastModifiedTimeAfter: aws.Time(at(25 * time.Second))}, []string{"delta"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := listAll(t, c, &tt.in)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestListSort(t *testing.T) {
	_, c, _ := serve(t, fixture())
	tests := []struct {
		by    types.SortBy
		order types.SortOrder
		want  []string
	}{
		{"", "", []string{"alpha-cats", "Beta-Dogs", "delta", "gamma-cats", "epsilon"}},
		{types.SortByCreationTime, types.SortOrderDescending, []string{"epsilon", "gamma-cats", "delta", "Beta-Dogs", "alpha-cats"}},
		{types.SortByName, types.SortOrderAscending, []string{"Beta-Dogs", "alpha-cats", "delta", "epsilon", "gamma-cats"}},
		{types.SortByName, types.SortOrderDescending, []string{"gamma-cats", "epsilon", "delta", "alpha-cats", "Beta-Dogs"}},
		{types.SortByStatus, "", []string{"alpha-cats", "gamma-cats", "Beta-Dogs", "delta", "epsilon"}},
		{types.SortByStatus, types.SortOrderDescending, []string{"epsilon", "delta", "Beta-Dogs", "gamma-cats", "alpha-cats"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s", tt.by, tt.order), func(t *testing.T) {
			got, _ := listAll(t, c, &sagemaker.ListLabelingJobsInput{SortBy: tt.by, SortOrder: tt.order, MaxResults: aws.Int32(2)})
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestListPagination(t *testing.T) {
	tests := []struct {
		name      string
		jobs      int
		limit     int32
		wantPages int
	}{
		{"several pages", 23, 5, 5},
		{"exact pages", 20, 5, 4},
		{"one item per page", 3, 1, 3},
		{"largest page", 100, 100, 1},
		{"default page size", 23, 0, 3},
		{"no jobs", 0, 5, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emu, c, _ := serve(t, numbered(tt.jobs))
			in := &sagemaker.ListLabelingJobsInput{}
			if tt.limit > 0 {
				in.MaxResults = aws.Int32(tt.limit)
			}
			got, pages := listAll(t, c, in, func(o *sagemaker.ListLabelingJobsPaginatorOptions) { o.StopOnDuplicateToken = true })
			var want []string
			for _, j := range numbered(tt.jobs) {
				want = append(want, j.Name)
			}
			if !slices.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
			if pages != tt.wantPages || emu.Calls("ListLabelingJobs") != tt.wantPages {
				t.Errorf("pages %d, calls %d, want %d", pages, emu.Calls("ListLabelingJobs"), tt.wantPages)
			}
		})
	}

	t.Run("page size may change between pages", func(t *testing.T) {
		_, c, _ := serve(t, numbered(12))
		first, err := c.ListLabelingJobs(context.Background(), &sagemaker.ListLabelingJobsInput{MaxResults: aws.Int32(5)})
		if err != nil {
			t.Fatal(err)
		}
		second, err := c.ListLabelingJobs(context.Background(), &sagemaker.ListLabelingJobsInput{MaxResults: aws.Int32(7), NextToken: first.NextToken})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(second.LabelingJobSummaryList); n != 7 || aws.ToString(second.LabelingJobSummaryList[0].LabelingJobName) != "job-05" || second.NextToken != nil {
			t.Errorf("second page has %d jobs from %s, token %v", n, aws.ToString(second.LabelingJobSummaryList[0].LabelingJobName), second.NextToken)
		}
	})
}

func TestListValidation(t *testing.T) {
	_, c, _ := serve(t, fixture())
	other, err := c.ListLabelingJobs(context.Background(), &sagemaker.ListLabelingJobsInput{StatusEquals: types.LabelingJobStatusInProgress, MaxResults: aws.Int32(1)})
	if err != nil || other.NextToken == nil {
		t.Fatalf("token for another listing: %v, %v", other, err)
	}
	tests := []struct {
		name    string
		in      sagemaker.ListLabelingJobsInput
		message string
	}{
		{"max results zero", sagemaker.ListLabelingJobsInput{MaxResults: aws.Int32(0)}, "between 1 and 100"},
		{"max results negative", sagemaker.ListLabelingJobsInput{MaxResults: aws.Int32(-3)}, "between 1 and 100"},
		{"max results over 100", sagemaker.ListLabelingJobsInput{MaxResults: aws.Int32(101)}, "between 1 and 100"},
		{"unknown status", sagemaker.ListLabelingJobsInput{StatusEquals: "Done"}, "statusEquals"},
		{"unknown sort key", sagemaker.ListLabelingJobsInput{SortBy: "LastModifiedTime"}, "sortBy"},
		{"unknown sort order", sagemaker.ListLabelingJobsInput{SortOrder: "Up"}, "sortOrder"},
		{"name contains a space", sagemaker.ListLabelingJobsInput{NameContains: aws.String("a b")}, "nameContains"},
		{"two errors at once", sagemaker.ListLabelingJobsInput{MaxResults: aws.Int32(0), SortOrder: "Up"}, "2 validation errors"},
		{"garbage token", sagemaker.ListLabelingJobsInput{NextToken: aws.String("not a token")}, "invalid pagination token"},
		{"token from other filters", sagemaker.ListLabelingJobsInput{NextToken: other.NextToken}, "invalid pagination token"},
		{"token from other sort order", sagemaker.ListLabelingJobsInput{StatusEquals: types.LabelingJobStatusInProgress, SortOrder: types.SortOrderDescending, NextToken: other.NextToken}, "invalid pagination token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.ListLabelingJobs(context.Background(), &tt.in)
			if err == nil {
				t.Fatal("no error")
			}
			if code := apiCode(t, err); code != "ValidationException" {
				t.Errorf("code %q, want ValidationException", code)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q does not mention %q", err, tt.message)
			}
		})
	}
}

func TestErrorFaults(t *testing.T) {
	tests := []struct {
		fault  emulator.Fault
		code   string
		status int
		op     string
	}{
		{emulator.Throttle, "ThrottlingException", 400, "ListLabelingJobs"},
		{emulator.InternalFailure, "InternalFailure", 500, "ListLabelingJobs"},
		{emulator.ServiceUnavailable, "ServiceUnavailable", 503, "ListLabelingJobs"},
		{emulator.Throttle, "ThrottlingException", 400, "DescribeLabelingJob"},
		{emulator.InternalFailure, "InternalFailure", 500, "DescribeLabelingJob"},
		{emulator.ServiceUnavailable, "ServiceUnavailable", 503, "DescribeLabelingJob"},
	}
	call := func(c *sagemaker.Client, op string) error { return callOp(context.Background(), c, op) }
	for _, tt := range tests {
		t.Run(tt.op+"/"+tt.code+"/no retry", func(t *testing.T) {
			emu, c, _ := serve(t, fixture())
			emu.FailNext(1, tt.fault)
			err := call(c, tt.op)
			if err == nil {
				t.Fatal("no error")
			}
			if code := apiCode(t, err); code != tt.code {
				t.Errorf("code %q, want %q", code, tt.code)
			}
			var respErr *awshttp.ResponseError
			if !errors.As(err, &respErr) || respErr.HTTPStatusCode() != tt.status {
				t.Errorf("error %v: want HTTP %d", err, tt.status)
			}
			if err := call(c, tt.op); err != nil {
				t.Errorf("call after the fault: %v", err)
			}
			if n := emu.Calls(tt.op); n != 2 {
				t.Errorf("calls %d, want 2 (faulted and normal)", n)
			}
		})
		t.Run(tt.op+"/"+tt.code+"/standard retryer recovers", func(t *testing.T) {
			emu, _, srv := serve(t, fixture())
			emu.FailNext(1, tt.fault)
			c := client(srv.URL, retry.NewStandard(func(o *retry.StandardOptions) { o.Backoff = zeroBackoff{} }))
			if err := call(c, tt.op); err != nil {
				t.Fatalf("retried call: %v", err)
			}
			if n := emu.Calls(tt.op); n != 2 {
				t.Errorf("calls %d, want 2 (faulted and retried)", n)
			}
		})
	}
}

func TestPageFaults(t *testing.T) {
	names := func(from, to int) []string {
		var s []string
		for i := from; i < to; i++ {
			s = append(s, fmt.Sprintf("job-%02d", i))
		}
		return s
	}
	tests := []struct {
		name      string
		fault     emulator.Fault
		before    int // the fault answers this page (1-based)
		stop      bool
		want      []string
		wantPages int
	}{
		{"repeated token stops a guarded paginator", emulator.RepeatToken, 2, true, names(0, 4), 2},
		{"repeated token repeats a page for an unguarded one", emulator.RepeatToken, 2, false, append(names(0, 4), names(2, 6)...), 4},
		{"repeated token on a first page starts over", emulator.RepeatToken, 1, false, append(names(0, 2), names(0, 6)...), 4},
		{"empty first page continues", emulator.EmptyPageWithToken, 1, true, names(0, 6), 4},
		{"empty middle page continues", emulator.EmptyPageWithToken, 2, true, names(0, 6), 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emu, c, _ := serve(t, numbered(6))
			p := sagemaker.NewListLabelingJobsPaginator(c, &sagemaker.ListLabelingJobsInput{MaxResults: aws.Int32(2)},
				func(o *sagemaker.ListLabelingJobsPaginatorOptions) { o.StopOnDuplicateToken = tt.stop })
			var got []string
			pages := 0
			for p.HasMorePages() && pages < 10 {
				if pages+1 == tt.before {
					emu.FailNext(1, tt.fault)
				}
				out, err := p.NextPage(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				pages++
				for _, s := range out.LabelingJobSummaryList {
					got = append(got, aws.ToString(s.LabelingJobName))
				}
			}
			if !slices.Equal(got, tt.want) || pages != tt.wantPages {
				t.Errorf("got %v in %d pages, want %v in %d", got, pages, tt.want, tt.wantPages)
			}
		})
	}

	t.Run("describe fault waits for a describe request", func(t *testing.T) {
		emu, c, _ := serve(t, numbered(3))
		emu.FailNext(1, emulator.ResourceNotFound)
		if _, err := c.ListLabelingJobs(context.Background(), &sagemaker.ListLabelingJobsInput{}); err != nil {
			t.Fatal(err)
		}
		_, err := c.DescribeLabelingJob(context.Background(), &sagemaker.DescribeLabelingJobInput{LabelingJobName: aws.String("job-00")})
		var notFound *types.ResourceNotFound
		if !errors.As(err, &notFound) {
			t.Errorf("describe after a list: %v, want the ResourceNotFound fault", err)
		}
	})

	t.Run("list fault waits for a list request", func(t *testing.T) {
		emu, c, _ := serve(t, numbered(3))
		emu.FailNext(1, emulator.EmptyPageWithToken)
		if _, err := c.DescribeLabelingJob(context.Background(), &sagemaker.DescribeLabelingJobInput{LabelingJobName: aws.String("job-00")}); err != nil {
			t.Fatal(err)
		}
		out, err := c.ListLabelingJobs(context.Background(), &sagemaker.ListLabelingJobsInput{})
		if err != nil || len(out.LabelingJobSummaryList) != 0 || out.NextToken == nil {
			t.Errorf("got %v, %v; want an empty page with a token", out, err)
		}
	})
}

// callOp calls op, ListLabelingJobs or DescribeLabelingJob of a fixture job.
func callOp(ctx context.Context, c *sagemaker.Client, op string) error {
	if op == "DescribeLabelingJob" {
		_, err := c.DescribeLabelingJob(ctx, &sagemaker.DescribeLabelingJobInput{LabelingJobName: aws.String("delta")})
		return err
	}
	_, err := c.ListLabelingJobs(ctx, &sagemaker.ListLabelingJobsInput{})
	return err
}

func TestLatency(t *testing.T) {
	for _, op := range []string{"ListLabelingJobs", "DescribeLabelingJob"} {
		t.Run(op+"/delays answers", func(t *testing.T) {
			emu, c, _ := serve(t, fixture())
			emu.SetLatency(30 * time.Millisecond)
			start := time.Now()
			if err := callOp(context.Background(), c, op); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d < 30*time.Millisecond {
				t.Errorf("answered after %v", d)
			}
		})
		t.Run(op+"/honours cancellation", func(t *testing.T) {
			emu, c, srv := serve(t, fixture())
			emu.SetLatency(time.Minute)
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := callOp(ctx, c, op)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v, want deadline exceeded", err)
			}
			srv.Close() // waits for the handler, which must not sit out its minute
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("handler ran %v after the client gave up", d)
			}
			if n := emu.Calls(op); n != 1 {
				t.Errorf("calls %d, want 1", n)
			}
		})
	}
}

func TestSummaryFields(t *testing.T) {
	full := labeling.Job{
		Name:           "Full-Job",
		Status:         labeling.StatusFailed,
		CreatedAt:      time.Unix(1700000000, 123_456_789),
		ModifiedAt:     time.Unix(1700000100, 999_999_999),
		Counters:       labeling.Counters{Total: 7, Human: 4, Machine: 3, Failed: 2, Unlabeled: 1},
		FailureReason:  "ClientError: <!channel> & more",
		OutputManifest: "s3://out/Full-Job/manifests/output/output.manifest",
		InputManifest:  "s3://in/input.manifest",
		Workteam:       "arn:aws:sagemaker:eu-west-1:210987654321:workteam/private-crowd/team",
	}
	bare := labeling.Job{Name: "bare", CreatedAt: t0, ModifiedAt: t0}
	_, c, _ := serve(t, []labeling.Job{full, bare}, emulator.WithRegion("eu-west-1"), emulator.WithAccount("210987654321"))
	out, err := c.ListLabelingJobs(context.Background(), &sagemaker.ListLabelingJobsInput{SortBy: types.SortByName})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.LabelingJobSummaryList) != 2 {
		t.Fatalf("got %d summaries", len(out.LabelingJobSummaryList))
	}
	f, b := out.LabelingJobSummaryList[0], out.LabelingJobSummaryList[1]
	checks := []struct {
		name      string
		got, want any
	}{
		{"name", aws.ToString(f.LabelingJobName), "Full-Job"},
		{"arn", aws.ToString(f.LabelingJobArn), "arn:aws:sagemaker:eu-west-1:210987654321:labeling-job/full-job"},
		{"status", f.LabelingJobStatus, types.LabelingJobStatusFailed},
		{"creation time to the millisecond", aws.ToTime(f.CreationTime), time.Unix(1700000000, 123_000_000).UTC()},
		{"modified time to the millisecond", aws.ToTime(f.LastModifiedTime), time.Unix(1700000100, 999_000_000).UTC()},
		{"counters", aws.ToInt32Slice([]*int32{f.LabelCounters.TotalLabeled, f.LabelCounters.HumanLabeled, f.LabelCounters.MachineLabeled, f.LabelCounters.FailedNonRetryableError, f.LabelCounters.Unlabeled}), []int32{7, 4, 3, 2, 1}},
		{"failure reason", aws.ToString(f.FailureReason), full.FailureReason},
		{"output", aws.ToString(f.LabelingJobOutput.OutputDatasetS3Uri), full.OutputManifest},
		{"input", aws.ToString(f.InputConfig.DataSource.S3DataSource.ManifestS3Uri), full.InputManifest},
		{"workteam", aws.ToString(f.WorkteamArn), full.Workteam},
		{"pre-human lambda", strings.HasPrefix(aws.ToString(f.PreHumanTaskLambdaArn), "arn:aws:lambda:eu-west-1:"), true},
		{"bare status defaults", b.LabelingJobStatus, types.LabelingJobStatusInitializing},
		{"bare has no failure reason", b.FailureReason, (*string)(nil)},
		{"bare has no output", b.LabelingJobOutput, (*types.LabelingJobOutput)(nil)},
		{"bare has zero counters", aws.ToInt32(b.LabelCounters.TotalLabeled), int32(0)},
	}
	for _, tt := range checks {
		t.Run(tt.name, func(t *testing.T) {
			if g, w := fmt.Sprint(tt.got), fmt.Sprint(tt.want); g != w {
				t.Errorf("got %s, want %s", g, w)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	full := labeling.Job{
		Name:           "Bird-Boxes-7",
		Status:         labeling.StatusCompleted,
		CreatedAt:      at(-time.Hour),
		ModifiedAt:     at(time.Minute),
		Counters:       labeling.Counters{Total: 7, Human: 4, Machine: 3, Failed: 2, Unlabeled: 1},
		OutputManifest: "s3://out/Bird-Boxes-7/manifests/output/output.manifest",
		InputManifest:  "s3://in/input.manifest",
		Workteam:       "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/birders",
	}
	emu, c, _ := serve(t, append(fixture(), full))
	tests := []struct {
		name, job string
		fault     emulator.Fault // injected before the call, 0 for none
		want      string         // the job described, "" for none
		code      string         // the error, "" for none
		message   string         // what the error's message starts with, when it matters
	}{
		{name: "known job", job: "gamma-cats", want: "gamma-cats"},
		{name: "every field", job: "Bird-Boxes-7", want: "Bird-Boxes-7"},
		{name: "names ignore case, as SageMaker's do", job: "GAMMA-CATS", want: "gamma-cats"},
		{name: "the lower-cased name of an ARN", job: "bird-boxes-7", want: "Bird-Boxes-7"},
		{
			name: "unknown job, as SageMaker answers", job: "nope",
			code: "ValidationException", message: "Could not find requested job with name nope",
		},
		{
			name: "unknown job, as the model declares", job: "nope", fault: emulator.ResourceNotFound,
			code: "ResourceNotFound", message: "Could not find labeling job 'nope'",
		},
		{
			name: "ResourceNotFound fault for a known job", job: "gamma-cats", fault: emulator.ResourceNotFound,
			code: "ResourceNotFound", message: "Could not find labeling job 'gamma-cats'",
		},
		{name: "name with an underscore", job: "gamma_cats", code: "ValidationException", message: "1 validation error detected"},
		{name: "empty name", job: "", code: "ValidationException"},
		{name: "name of 64 characters", job: strings.Repeat("a", 64), code: "ValidationException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := emu.Calls("DescribeLabelingJob")
			if tt.fault != 0 {
				emu.FailNext(1, tt.fault)
			}
			out, err := c.DescribeLabelingJob(context.Background(), &sagemaker.DescribeLabelingJobInput{LabelingJobName: aws.String(tt.job)})
			if n := emu.Calls("DescribeLabelingJob") - calls; n != 1 {
				t.Errorf("%d DescribeLabelingJob calls counted, want 1", n)
			}
			if tt.code != "" {
				if err == nil || apiCode(t, err) != tt.code {
					t.Fatalf("error %v, want %s", err, tt.code)
				}
				var apiErr smithy.APIError
				if errors.As(err, &apiErr) && !strings.HasPrefix(apiErr.ErrorMessage(), tt.message) {
					t.Errorf("message %q, want one starting %q", apiErr.ErrorMessage(), tt.message)
				}
				// The SDK reads ResourceNotFound, which the model declares, into
				// its own type; a ValidationException, which it does not, stays
				// a generic API error.
				var notFound *types.ResourceNotFound
				if isNotFound := errors.As(err, &notFound); isNotFound != (tt.code == "ResourceNotFound") {
					t.Errorf("error %v is a *types.ResourceNotFound: %v", err, isNotFound)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want, _ := emu.Job(tt.want)
			got := []any{
				aws.ToString(out.LabelingJobName), aws.ToString(out.LabelingJobArn), out.LabelingJobStatus,
				aws.ToTime(out.CreationTime), aws.ToTime(out.LastModifiedTime), aws.ToString(out.FailureReason),
				aws.ToInt32Slice([]*int32{out.LabelCounters.TotalLabeled, out.LabelCounters.HumanLabeled, out.LabelCounters.MachineLabeled, out.LabelCounters.FailedNonRetryableError, out.LabelCounters.Unlabeled}),
				aws.ToString(out.HumanTaskConfig.WorkteamArn),
			}
			wantFields := []any{
				want.Name, want.ARN, types.LabelingJobStatus(want.Status),
				want.CreatedAt.UTC(), want.ModifiedAt.UTC(), want.FailureReason,
				[]int32{int32(want.Counters.Total), int32(want.Counters.Human), int32(want.Counters.Machine), int32(want.Counters.Failed), int32(want.Counters.Unlabeled)},
				want.Workteam,
			}
			if g, w := fmt.Sprint(got), fmt.Sprint(wantFields); g != w {
				t.Errorf("described\n got %s\nwant %s", g, w)
			}
			var output, input string
			if out.LabelingJobOutput != nil {
				output = aws.ToString(out.LabelingJobOutput.OutputDatasetS3Uri)
			}
			if ds := out.InputConfig.DataSource; ds != nil && ds.S3DataSource != nil {
				input = aws.ToString(ds.S3DataSource.ManifestS3Uri)
			}
			if output != want.OutputManifest || input != want.InputManifest {
				t.Errorf("output %q, input %q; want %q, %q", output, input, want.OutputManifest, want.InputManifest)
			}
			if aws.ToString(out.RoleArn) == "" || aws.ToString(out.JobReferenceCode) == "" || out.OutputConfig == nil ||
				out.HumanTaskConfig.PreHumanTaskLambdaArn == nil || out.HumanTaskConfig.AnnotationConsolidationConfig == nil {
				t.Errorf("description lacks members the model requires: %+v", out)
			}
		})
	}
}

func TestWire(t *testing.T) {
	emu, _, srv := serve(t, fixture())
	tests := []struct {
		name, method, target, contentType, body string
		status                                  int
		code                                    string
	}{
		{"unknown operation", http.MethodPost, "SageMaker.ListTrainingJobs", "application/x-amz-json-1.1", "{}", 400, "UnknownOperationException"},
		{"other service", http.MethodPost, "DynamoDB_20120810.ListTables", "application/x-amz-json-1.1", "{}", 400, "UnknownOperationException"},
		{"not json", http.MethodPost, "SageMaker.ListLabelingJobs", "application/x-amz-json-1.1", "{", 400, "SerializationException"},
		{"timestamp not a number", http.MethodPost, "SageMaker.ListLabelingJobs", "application/x-amz-json-1.1", `{"CreationTimeAfter":"yesterday"}`, 400, "SerializationException"},
		{"wrong content type", http.MethodPost, "SageMaker.ListLabelingJobs", "application/json", "{}", 400, "SerializationException"},
		{"fractional timestamp", http.MethodPost, "SageMaker.ListLabelingJobs", "application/x-amz-json-1.1", `{"CreationTimeAfter":1700000002.122}`, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", tt.contentType)
			req.Header.Set("X-Amz-Target", tt.target)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
				t.Errorf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			if tt.code != "" && (body["__type"] != tt.code || resp.Header.Get("X-Amzn-ErrorType") != tt.code || body["message"] == "") {
				t.Errorf("error body %v, header %q; want %s", body, resp.Header.Get("X-Amzn-ErrorType"), tt.code)
			}
			if tt.code == "" {
				list, _ := body["LabelingJobSummaryList"].([]any)
				if len(list) != 3 || fmt.Sprint(list[0].(map[string]any)["CreationTime"]) != "1.700000002123e+09" {
					t.Errorf("got %v", body)
				}
			}
		})
	}
	if n := emu.Calls("ListTrainingJobs"); n != 1 {
		t.Errorf("unknown operation calls %d, want 1", n)
	}
}

func TestPutAndUpdate(t *testing.T) {
	clk := testenv.NewClock(time.Unix(1700000500, 987_654_321))
	emu := emulator.New(emulator.WithClock(clk))
	emu.Put(labeling.Job{Name: "Zeta"})
	emu.Put(labeling.Job{Name: "eta", ARN: "arn:custom", CreatedAt: t0, ModifiedAt: t0})

	zeta, _ := emu.Job("Zeta")
	clk.Advance(time.Minute)
	if !emu.Update("Zeta", func(j *labeling.Job) { j.Status = labeling.StatusInProgress }) {
		t.Fatal("Update of a known job reported false")
	}
	updated, _ := emu.Job("Zeta")
	emu.Update("eta", func(j *labeling.Job) { j.ModifiedAt = at(time.Hour) })
	eta, _ := emu.Job("eta")
	emu.Update("eta", func(j *labeling.Job) { j.Name = "Theta" })
	theta, renamed := emu.Job("Theta")
	_, old := emu.Job("eta")

	checks := []struct {
		name      string
		got, want any
	}{
		{"put makes the ARN", zeta.ARN, "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/zeta"},
		{"put stamps with the clock", zeta.ModifiedAt, time.Unix(1700000500, 987_000_000)},
		{"put creates at modification", zeta.CreatedAt, zeta.ModifiedAt},
		{"put defaults the status", zeta.Status, labeling.StatusInitializing},
		{"put keeps a given ARN", eta.ARN, "arn:custom"},
		{"update changes", updated.Status, labeling.StatusInProgress},
		{"update stamps with the clock", updated.ModifiedAt, time.Unix(1700000560, 987_000_000)},
		{"update keeps creation", updated.CreatedAt, zeta.CreatedAt},
		{"update keeps a set modification time", eta.ModifiedAt, at(time.Hour)},
		{"rename moves the job", renamed && !old, true},
		{"rename remakes the ARN", theta.ARN, "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/theta"},
		{"update of an unknown job", emu.Update("nope", func(*labeling.Job) {}), false},
		{"jobs by name", len(emu.Jobs()) == 2 && emu.Jobs()[0].Name == "Theta", true},
	}
	for _, tt := range checks {
		t.Run(tt.name, func(t *testing.T) {
			if g, w := fmt.Sprint(tt.got), fmt.Sprint(tt.want); g != w {
				t.Errorf("got %s, want %s", g, w)
			}
		})
	}
}

// TestNamesIgnoreCase checks that, as in SageMaker, names differing only in
// case name one job.
func TestNamesIgnoreCase(t *testing.T) {
	emu := emulator.New()
	emu.Put(labeling.Job{Name: "Bird-Boxes", CreatedAt: t0, ModifiedAt: t0})
	found, inAnyCase := emu.Job("BIRD-boxes")
	updated := emu.Update("bird-boxes", func(j *labeling.Job) { j.Status = labeling.StatusInProgress })
	afterUpdate, _ := emu.Job("Bird-Boxes")
	emu.Put(labeling.Job{Name: "BIRD-BOXES", Status: labeling.StatusCompleted, CreatedAt: t0, ModifiedAt: at(time.Hour)})
	replaced, _ := emu.Job("bird-boxes")
	emu.Update("bird-boxes", func(j *labeling.Job) { j.Name = "Bird-boxes" })
	renamed, _ := emu.Job("BIRD-BOXES")

	checks := []struct {
		name      string
		got, want any
	}{
		{"job finds a name in any case", inAnyCase && found.Name == "Bird-Boxes", true},
		{"update finds a name in any case", updated && afterUpdate.Status == labeling.StatusInProgress, true},
		{"put replaces the job of a name in another case", len(emu.Jobs()) == 1 && replaced.Status == labeling.StatusCompleted, true},
		{"put keeps the name as given", replaced.Name, "BIRD-BOXES"},
		{"the ARN has the name lower-cased", replaced.ARN, "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/bird-boxes"},
		{"a rename in case only keeps one job", len(emu.Jobs()) == 1 && renamed.Name == "Bird-boxes", true},
	}
	for _, tt := range checks {
		t.Run(tt.name, func(t *testing.T) {
			if g, w := fmt.Sprint(tt.got), fmt.Sprint(tt.want); g != w {
				t.Errorf("got %s, want %s", g, w)
			}
		})
	}
}

// TestConcurrentChanges changes jobs while clients page; run with -race.
func TestConcurrentChanges(t *testing.T) {
	emu, c, _ := serve(t, numbered(30))
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 20 {
				name := fmt.Sprintf("job-%02d", (w*20+i)%30)
				emu.Update(name, func(j *labeling.Job) { j.Counters.Total++ })
				emu.Put(labeling.Job{Name: fmt.Sprintf("new-%d-%d", w, i)})
			}
		})
		wg.Go(func() {
			p := sagemaker.NewListLabelingJobsPaginator(c, &sagemaker.ListLabelingJobsInput{MaxResults: aws.Int32(7)})
			for p.HasMorePages() {
				if _, err := p.NextPage(context.Background()); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := len(emu.Jobs()); n != 30+4*20 {
		t.Errorf("%d jobs, want %d", n, 30+4*20)
	}
}

// TestChangesBetweenPages checks that a listing's later pages show what
// changed after its first: the emulator reuses a sorted listing across pages
// only while no job changes.
func TestChangesBetweenPages(t *testing.T) {
	emu, c, _ := serve(t, numbered(6))
	in := &sagemaker.ListLabelingJobsInput{MaxResults: aws.Int32(2), LastModifiedTimeAfter: aws.Time(at(-time.Hour))}
	first, err := c.ListLabelingJobs(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	emu.Update("job-04", func(j *labeling.Job) { j.Status = labeling.StatusFailed })
	emu.Put(labeling.Job{Name: "job-99", CreatedAt: at(time.Hour), ModifiedAt: at(time.Hour)})
	var statuses []string
	for p := sagemaker.NewListLabelingJobsPaginator(c, &sagemaker.ListLabelingJobsInput{
		MaxResults: in.MaxResults, LastModifiedTimeAfter: in.LastModifiedTimeAfter, NextToken: first.NextToken,
	}); p.HasMorePages(); {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range out.LabelingJobSummaryList {
			statuses = append(statuses, aws.ToString(s.LabelingJobName)+"="+string(s.LabelingJobStatus))
		}
	}
	want := []string{"job-02=InProgress", "job-03=InProgress", "job-04=Failed", "job-05=InProgress", "job-99=Initializing"}
	if !slices.Equal(statuses, want) {
		t.Errorf("later pages: got %v, want %v", statuses, want)
	}
}
