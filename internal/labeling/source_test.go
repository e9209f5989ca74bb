package labeling_test

import (
	"context"
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
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/smithy-go"

	"github.com/labelwatch/labelwatch/internal/emulator"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

const opList = "ListLabelingJobs"

// t0 has a millisecond fraction, so every test checks sub-second precision.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123_000_000, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// recorder is the SDK client with the ListLabelingJobs inputs it was called
// with kept.
type recorder struct {
	labeling.API
	mu     sync.Mutex
	inputs []sagemaker.ListLabelingJobsInput
}

func (r *recorder) ListLabelingJobs(ctx context.Context, in *sagemaker.ListLabelingJobsInput, opts ...func(*sagemaker.Options)) (*sagemaker.ListLabelingJobsOutput, error) {
	r.mu.Lock()
	r.inputs = append(r.inputs, *in)
	r.mu.Unlock()
	return r.API.ListLabelingJobs(ctx, in, opts...)
}

// serve starts an emulator with jobs behind an SDK client that does not
// retry, so every fault reaches the Source.
func serve(t *testing.T, jobs []labeling.Job, opts ...emulator.Option) (*emulator.Emulator, *recorder) {
	t.Helper()
	emu := emulator.New(opts...)
	for _, j := range jobs {
		emu.Put(j)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	client := sagemaker.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(srv.URL),
		HTTPClient:   testenv.HTTPClient(),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	})
	return emu, &recorder{API: client}
}

// numbered is n jobs job-000, job-001, ..., created a second apart and
// modified a minute after their creation.
func numbered(n int) []labeling.Job {
	jobs := make([]labeling.Job, n)
	for i := range jobs {
		created := at(time.Duration(i) * time.Second)
		jobs[i] = labeling.Job{Name: fmt.Sprintf("job-%03d", i), Status: labeling.StatusInProgress, CreatedAt: created, ModifiedAt: created.Add(time.Minute)}
	}
	return jobs
}

// collect drains src's listing since since: the names in order, the size of
// each page, and the error that ended it. between runs after each page.
func collect(ctx context.Context, src *labeling.Source, since time.Time, between func(page int)) (names []string, sizes []int, err error) {
	for page, err := range src.Modified(ctx, since) {
		if err != nil {
			if page != nil {
				return names, sizes, fmt.Errorf("error yielded with a page of %d jobs: %w", len(page), err)
			}
			return names, sizes, err
		}
		sizes = append(sizes, len(page))
		for _, j := range page {
			names = append(names, j.Name)
		}
		if between != nil {
			between(len(sizes))
		}
	}
	return names, sizes, nil
}

func jobNames(jobs []labeling.Job) []string {
	names := make([]string, len(jobs))
	for i, j := range jobs {
		names[i] = j.Name
	}
	return names
}

func TestModifiedListing(t *testing.T) {
	mixed := []labeling.Job{
		{Name: "alpha-cats", Status: labeling.StatusCompleted, CreatedAt: at(0), ModifiedAt: at(10 * time.Minute)},
		{Name: "beta-dogs", Status: labeling.StatusInProgress, CreatedAt: at(time.Second), ModifiedAt: at(20 * time.Minute)},
		{Name: "gamma-CATS", Status: labeling.StatusFailed, CreatedAt: at(2 * time.Second), ModifiedAt: at(30 * time.Minute)},
		{Name: "delta", Status: labeling.StatusStopped, CreatedAt: at(3 * time.Second), ModifiedAt: at(30*time.Minute + time.Millisecond)},
	}
	tests := []struct {
		name         string
		jobs         []labeling.Job
		nameContains string
		createdAfter time.Time
		since        time.Time
		want         []string
		wantSizes    []int
	}{
		{
			name:      "several pages",
			jobs:      numbered(250),
			want:      jobNames(numbered(250)),
			wantSizes: []int{100, 100, 50},
		},
		{
			name:      "exactly one full page",
			jobs:      numbered(100),
			want:      jobNames(numbered(100)),
			wantSizes: []int{100},
		},
		{
			name:      "no jobs",
			want:      nil,
			wantSizes: nil,
		},
		{
			name:      "zero since lists everything",
			jobs:      mixed,
			want:      []string{"alpha-cats", "beta-dogs", "gamma-CATS", "delta"},
			wantSizes: []int{4},
		},
		{
			name:      "since is strict, to the millisecond",
			jobs:      mixed,
			since:     at(30 * time.Minute),
			want:      []string{"delta"},
			wantSizes: []int{1},
		},
		{
			name:      "since between jobs",
			jobs:      mixed,
			since:     at(15 * time.Minute),
			want:      []string{"beta-dogs", "gamma-CATS", "delta"},
			wantSizes: []int{3},
		},
		{
			name:         "name contains, any case",
			jobs:         mixed,
			nameContains: "cats",
			want:         []string{"alpha-cats", "gamma-CATS"},
			wantSizes:    []int{2},
		},
		{
			name:         "creation floor keeps a job created at the floor",
			jobs:         mixed,
			createdAfter: at(time.Second),
			want:         []string{"beta-dogs", "gamma-CATS", "delta"},
			wantSizes:    []int{3},
		},
		{
			name:         "creation floor a millisecond later drops it",
			jobs:         mixed,
			createdAfter: at(time.Second + time.Millisecond),
			want:         []string{"gamma-CATS", "delta"},
			wantSizes:    []int{2},
		},
		{
			name:         "creation floor between milliseconds",
			jobs:         mixed,
			createdAfter: at(time.Second - 500*time.Microsecond),
			want:         []string{"beta-dogs", "gamma-CATS", "delta"},
			wantSizes:    []int{3},
		},
		{
			name:         "creation floor just past a job's millisecond",
			jobs:         mixed,
			createdAfter: at(time.Second + 500*time.Microsecond),
			want:         []string{"gamma-CATS", "delta"},
			wantSizes:    []int{2},
		},
		{
			name:         "every filter together",
			jobs:         mixed,
			nameContains: "a",
			createdAfter: at(time.Second),
			since:        at(20 * time.Minute),
			want:         []string{"gamma-CATS", "delta"},
			wantSizes:    []int{2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emu, client := serve(t, tt.jobs)
			src := labeling.NewSource(client, labeling.Filter{NameContains: tt.nameContains, CreatedAfter: tt.createdAfter})
			names, sizes, err := collect(t.Context(), src, tt.since, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(names, tt.want) {
				t.Errorf("listed %v, want %v", names, tt.want)
			}
			if !slices.Equal(sizes, tt.wantSizes) {
				t.Errorf("page sizes %v, want %v", sizes, tt.wantSizes)
			}
			calls := max(len(tt.wantSizes), 1)
			if got := emu.Calls(opList); got != calls {
				t.Errorf("%d list calls, want %d", got, calls)
			}
			for i, in := range client.inputs {
				if aws.ToInt32(in.MaxResults) != labeling.PageSize {
					t.Errorf("call %d: MaxResults %v, want %d", i+1, aws.ToInt32(in.MaxResults), labeling.PageSize)
				}
				if got := aws.ToString(in.NameContains); got != tt.nameContains {
					t.Errorf("call %d: NameContains %q, want %q", i+1, got, tt.nameContains)
				}
				if tt.since.IsZero() != (in.LastModifiedTimeAfter == nil) || !tt.since.IsZero() && !in.LastModifiedTimeAfter.Equal(tt.since) {
					t.Errorf("call %d: LastModifiedTimeAfter %v, want %v", i+1, in.LastModifiedTimeAfter, tt.since)
				}
				if tt.createdAfter.IsZero() != (in.CreationTimeAfter == nil) {
					t.Errorf("call %d: CreationTimeAfter %v, want a floor only when one is set", i+1, in.CreationTimeAfter)
				}
				if in.LastModifiedTimeBefore != nil || in.CreationTimeBefore != nil || in.StatusEquals != "" {
					t.Errorf("call %d: filters nobody asked for: %+v", i+1, in)
				}
			}
		})
	}
}

func TestModifiedFieldMapping(t *testing.T) {
	want := labeling.Job{
		Name:           "Bird-Boxes-7",
		ARN:            "arn:aws:sagemaker:eu-west-1:210987654321:labeling-job/bird-boxes-7",
		Status:         labeling.StatusFailed,
		CreatedAt:      at(-3 * time.Hour),
		ModifiedAt:     at(-time.Minute),
		Counters:       labeling.Counters{Total: 1200, Human: 700, Machine: 500, Failed: 13, Unlabeled: 87},
		FailureReason:  "ClientError: <!channel> manifest & friends",
		OutputManifest: "s3://bucket/out/bird-boxes-7/manifests/output/output.manifest",
		InputManifest:  "s3://bucket/in/birds.manifest",
		Workteam:       "arn:aws:sagemaker:eu-west-1:210987654321:workteam/private-crowd/birders",
	}
	bare := labeling.Job{Name: "bare", Status: labeling.StatusInitializing, CreatedAt: at(0), ModifiedAt: at(0)}
	_, client := serve(t, []labeling.Job{want, bare}, emulator.WithRegion("eu-west-1"), emulator.WithAccount("210987654321"))
	var got []labeling.Job
	for page, err := range labeling.NewSource(client, labeling.Filter{}).Modified(t.Context(), time.Time{}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
	}
	if len(got) != 2 {
		t.Fatalf("listed %d jobs, want 2", len(got))
	}
	// Sorted by creation time: want first.
	checkJob(t, got[0], want)
	if r := got[0].Region(); r != "eu-west-1" {
		t.Errorf("Region() = %q, want eu-west-1", r)
	}

	// A job with no counters, reason, output or input yet maps to zero values.
	wantBare := bare
	wantBare.ARN = "arn:aws:sagemaker:eu-west-1:210987654321:labeling-job/bare"
	checkJob(t, got[1], wantBare)
}

func checkJob(t *testing.T, got, want labeling.Job) {
	t.Helper()
	if !got.CreatedAt.Equal(want.CreatedAt) || !got.ModifiedAt.Equal(want.ModifiedAt) {
		t.Errorf("%s: created %v, modified %v; want %v, %v", want.Name, got.CreatedAt, got.ModifiedAt, want.CreatedAt, want.ModifiedAt)
	}
	got.CreatedAt, got.ModifiedAt = want.CreatedAt, want.ModifiedAt
	if got != want {
		t.Errorf("job\n got %+v\nwant %+v", got, want)
	}
}

func TestModifiedMisbehavingService(t *testing.T) {
	tests := []struct {
		name      string
		jobs      int
		fault     emulator.Fault
		afterPage int // inject the fault once this many pages arrived (0: before the first)
		wantNames int // jobs listed before the listing ended
		wantCalls int
		wantErr   string // "" for none
		// allowRepeats accepts jobs listed twice (the emulator restarts
		// the listing), which the cycle handles.
		allowRepeats bool
		check        func(t *testing.T, err error)
	}{
		{
			name: "empty first page with a token continues", jobs: 250, fault: emulator.EmptyPageWithToken,
			wantNames: 250, wantCalls: 4,
		},
		{
			name: "empty middle page with a token continues", jobs: 250, fault: emulator.EmptyPageWithToken, afterPage: 1,
			wantNames: 250, wantCalls: 4,
		},
		{
			name: "repeated token stops with an error", jobs: 250, fault: emulator.RepeatToken, afterPage: 1,
			wantNames: 100, wantCalls: 2, wantErr: "list labeling jobs page 2",
			check: func(t *testing.T, err error) {
				if !errors.Is(err, labeling.ErrRepeatedToken) {
					t.Errorf("error %v is not ErrRepeatedToken", err)
				}
			},
		},
		{
			name: "repeated first-page token restarts the listing once", jobs: 250, fault: emulator.RepeatToken,
			wantNames: 350, wantCalls: 4, allowRepeats: true,
		},
		{
			name: "throttled page 2", jobs: 250, fault: emulator.Throttle, afterPage: 1,
			wantNames: 100, wantCalls: 2, wantErr: "list labeling jobs page 2",
			check: func(t *testing.T, err error) {
				var apiErr smithy.APIError
				if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ThrottlingException" {
					t.Errorf("error %v does not wrap the ThrottlingException", err)
				}
			},
		},
		{
			name: "unavailable page 3", jobs: 250, fault: emulator.ServiceUnavailable, afterPage: 2,
			wantNames: 200, wantCalls: 3, wantErr: "list labeling jobs page 3",
			check: func(t *testing.T, err error) {
				var resp *awshttp.ResponseError
				if !errors.As(err, &resp) || resp.HTTPStatusCode() != http.StatusServiceUnavailable {
					t.Errorf("error %v does not wrap the 503 response", err)
				}
			},
		},
		{
			name: "internal failure on page 1", jobs: 5, fault: emulator.InternalFailure,
			wantNames: 0, wantCalls: 1, wantErr: "list labeling jobs page 1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emu, client := serve(t, numbered(tt.jobs))
			if tt.afterPage == 0 {
				emu.FailNext(1, tt.fault)
			}
			src := labeling.NewSource(client, labeling.Filter{})
			names, _, err := collect(t.Context(), src, time.Time{}, func(page int) {
				if page == tt.afterPage {
					emu.FailNext(1, tt.fault)
				}
			})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("listing failed: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one saying %q", err, tt.wantErr)
			}
			if tt.check != nil {
				tt.check(t, err)
			}
			if len(names) != tt.wantNames {
				t.Errorf("listed %d jobs, want %d", len(names), tt.wantNames)
			}
			slices.Sort(names)
			if len(slices.Compact(names)) != len(names) && !tt.allowRepeats {
				t.Errorf("a job was listed twice")
			}
			if got := emu.Calls(opList); got != tt.wantCalls {
				t.Errorf("%d list calls, want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestModifiedStops(t *testing.T) {
	t.Run("when the consumer stops", func(t *testing.T) {
		emu, client := serve(t, numbered(250))
		for page, err := range labeling.NewSource(client, labeling.Filter{}).Modified(t.Context(), time.Time{}) {
			if err != nil || len(page) != 100 {
				t.Fatalf("first page: %d jobs, %v", len(page), err)
			}
			break
		}
		if got := emu.Calls(opList); got != 1 {
			t.Errorf("%d list calls after the consumer stopped at page 1, want 1", got)
		}
	})

	t.Run("when the context is done", func(t *testing.T) {
		emu, client := serve(t, numbered(250))
		ctx, cancel := context.WithCancel(t.Context())
		_, _, err := collect(ctx, labeling.NewSource(client, labeling.Filter{}), time.Time{}, func(int) { cancel() })
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "page 2") {
			t.Errorf("error %v, want context.Canceled on page 2", err)
		}
		if got := emu.Calls(opList); got > 2 {
			t.Errorf("%d list calls, want at most 2", got)
		}
	})

	t.Run("and can be listed again", func(t *testing.T) {
		emu, client := serve(t, numbered(150))
		src := labeling.NewSource(client, labeling.Filter{})
		for range 2 {
			names, _, err := collect(t.Context(), src, time.Time{}, nil)
			if err != nil || len(names) != 150 {
				t.Fatalf("listed %d jobs, %v; want 150", len(names), err)
			}
		}
		if got := emu.Calls(opList); got != 4 {
			t.Errorf("%d list calls for two listings, want 4", got)
		}
	})
}
