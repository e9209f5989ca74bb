package labeling_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/aws/smithy-go"

	"github.com/labelwatch/labelwatch/internal/emulator"
	"github.com/labelwatch/labelwatch/internal/labeling"
)

const opDescribe = "DescribeLabelingJob"

// everyStatus is one job in each status, each with what a job in that
// status carries: counters, a failure reason, output and input manifests, a
// workteam.
func everyStatus() []labeling.Job {
	const team = "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/birders"
	return []labeling.Job{
		{Name: "Fresh-Birds", Status: labeling.StatusInitializing, CreatedAt: at(0), ModifiedAt: at(0),
			InputManifest: "s3://in/fresh.manifest", Workteam: team},
		{Name: "Busy-Birds", Status: labeling.StatusInProgress, CreatedAt: at(time.Second), ModifiedAt: at(time.Minute),
			Counters: labeling.Counters{Total: 40, Human: 30, Machine: 10, Failed: 1, Unlabeled: 59}, InputManifest: "s3://in/busy.manifest", Workteam: team},
		{Name: "Done-Birds", Status: labeling.StatusCompleted, CreatedAt: at(2 * time.Second), ModifiedAt: at(time.Hour),
			Counters:       labeling.Counters{Total: 100, Human: 70, Machine: 30},
			OutputManifest: "s3://out/Done-Birds/manifests/output/output.manifest", InputManifest: "s3://in/done.manifest", Workteam: team},
		{Name: "Broken-Birds", Status: labeling.StatusFailed, CreatedAt: at(3 * time.Second), ModifiedAt: at(2 * time.Hour),
			Counters: labeling.Counters{Total: 3, Human: 3, Failed: 2, Unlabeled: 95}, FailureReason: "ClientError: <!channel> manifest & friends",
			InputManifest: "s3://in/broken.manifest", Workteam: team},
		{Name: "Halting-Birds", Status: labeling.StatusStopping, CreatedAt: at(4 * time.Second), ModifiedAt: at(3 * time.Hour),
			Counters: labeling.Counters{Total: 5, Human: 5, Unlabeled: 5}, InputManifest: "s3://in/halting.manifest", Workteam: team},
		{Name: "Halted-Birds", Status: labeling.StatusStopped, CreatedAt: at(5 * time.Second), ModifiedAt: at(4 * time.Hour),
			Counters:       labeling.Counters{Total: 5, Human: 5, Unlabeled: 5},
			OutputManifest: "s3://out/Halted-Birds/manifests/output/output.manifest", InputManifest: "s3://in/halted.manifest", Workteam: team},
		{Name: "bare", CreatedAt: at(6 * time.Second), ModifiedAt: at(6 * time.Second)},
	}
}

func TestDescribe(t *testing.T) {
	type check func(t *testing.T, got labeling.Job, err error)
	is := func(target error) check {
		return func(t *testing.T, _ labeling.Job, err error) {
			if !errors.Is(err, target) {
				t.Errorf("error %v, want %v", err, target)
			}
		}
	}
	apiCode := func(code string) check {
		return func(t *testing.T, _ labeling.Job, err error) {
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != code {
				t.Errorf("error %v does not wrap a %s", err, code)
			}
			if errors.Is(err, labeling.ErrNotFound) || errors.Is(err, labeling.ErrNotWatched) {
				t.Errorf("error %v is taken for a job that is gone or not watched", err)
			}
		}
	}
	// wraps checks that the error holds the API's error, code and message,
	// for the caller to log.
	wraps := func(code, message string) check {
		return func(t *testing.T, _ labeling.Job, err error) {
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != code || apiErr.ErrorMessage() != message {
				t.Errorf("error %v does not wrap a %s saying %q", err, code, message)
			}
		}
	}
	tests := []struct {
		name   string
		filter labeling.Filter
		job    string         // the name asked for
		fault  emulator.Fault // injected before the call, 0 for none
		want   string         // the job it reads, "" for none
		err    string         // what the error says, "" for none
		checks []check
	}{
		{name: "initializing", job: "Fresh-Birds", want: "Fresh-Birds"},
		{name: "in progress, with counters", job: "Busy-Birds", want: "Busy-Birds"},
		{name: "completed, with output manifest", job: "Done-Birds", want: "Done-Birds"},
		{name: "failed, with reason", job: "Broken-Birds", want: "Broken-Birds"},
		{name: "stopping", job: "Halting-Birds", want: "Halting-Birds"},
		{name: "stopped", job: "Halted-Birds", want: "Halted-Birds"},
		{name: "nothing but the required members", job: "bare", want: "bare"},
		{name: "the lower-cased name of its ARN", job: "broken-birds", want: "Broken-Birds"},
		{
			// As SageMaker answers a missing job.
			name: "no such job, a ValidationException", job: "Lost-Birds",
			err: `describe labeling job "Lost-Birds"`, checks: []check{is(labeling.ErrNotFound), wraps("ValidationException", "Could not find requested job with name Lost-Birds")},
		},
		{
			// As botocore's model declares it.
			name: "no such job, a ResourceNotFound", job: "Lost-Birds", fault: emulator.ResourceNotFound,
			err: `describe labeling job "Lost-Birds"`, checks: []check{is(labeling.ErrNotFound), func(t *testing.T, _ labeling.Job, err error) {
				var notFound *types.ResourceNotFound
				if !errors.As(err, &notFound) {
					t.Errorf("error %v does not wrap the ResourceNotFound", err)
				}
			}},
		},
		{name: "name filter ignores case", filter: labeling.Filter{NameContains: "DONE-b"}, job: "Done-Birds", want: "Done-Birds"},
		{
			name: "name filter leaves the job out", filter: labeling.Filter{NameContains: "cats"}, job: "done-birds", want: "Done-Birds",
			err: `its name does not contain "cats"`, checks: []check{is(labeling.ErrNotWatched)},
		},
		{name: "created at the floor", filter: labeling.Filter{CreatedAfter: at(2 * time.Second)}, job: "Done-Birds", want: "Done-Birds"},
		{
			name: "created a millisecond before the floor", filter: labeling.Filter{CreatedAfter: at(2*time.Second + time.Millisecond)}, job: "Done-Birds", want: "Done-Birds",
			err: "it was created at", checks: []check{is(labeling.ErrNotWatched)},
		},
		{
			name: "created within the floor's millisecond", filter: labeling.Filter{CreatedAfter: at(2*time.Second + 500*time.Microsecond)}, job: "Done-Birds", want: "Done-Birds",
			err: "it was created at", checks: []check{is(labeling.ErrNotWatched)},
		},
		{
			name: "both filters, name fails", filter: labeling.Filter{NameContains: "halt", CreatedAfter: at(0)}, job: "Done-Birds", want: "Done-Birds",
			checks: []check{is(labeling.ErrNotWatched)}, err: `does not contain "halt"`,
		},
		{
			name: "throttled", job: "Done-Birds", fault: emulator.Throttle,
			err: `describe labeling job "Done-Birds"`, checks: []check{apiCode("ThrottlingException")},
		},
		{
			name: "internal failure", job: "Done-Birds", fault: emulator.InternalFailure,
			err: `describe labeling job "Done-Birds"`, checks: []check{apiCode("InternalFailure")},
		},
		{
			name: "a name the API refuses", job: "done_birds",
			err: `describe labeling job "done_birds"`, checks: []check{apiCode("ValidationException")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emu, client := serve(t, everyStatus())
			if tt.fault != 0 {
				emu.FailNext(1, tt.fault)
			}
			got, err := labeling.NewSource(client, tt.filter).Describe(t.Context(), tt.job)
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("Describe: %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("error %v, want one saying %q", err, tt.err)
			}
			for _, c := range tt.checks {
				c(t, got, err)
			}
			if tt.want != "" {
				want, _ := emu.Job(tt.want)
				checkJob(t, got, want)
			} else if got != (labeling.Job{}) {
				t.Errorf("got %+v with the error, want no job", got)
			}
			if n := emu.Calls(opDescribe); n != 1 {
				t.Errorf("%d DescribeLabelingJob calls, want 1", n)
			}
			if n := emu.Calls(opList); n != 0 {
				t.Errorf("%d ListLabelingJobs calls, want none", n)
			}
		})
	}
}

// randomJobs are n jobs with random fields, names in mixed case, times at
// millisecond precision as the API keeps them.
func randomJobs(r *rand.Rand, n int) []labeling.Job {
	letters := "abcdefghijKLMNOPQRST"
	jobs := make([]labeling.Job, n)
	for i := range jobs {
		var name strings.Builder
		fmt.Fprintf(&name, "Job-%03d-", i)
		for range 1 + r.IntN(8) {
			name.WriteByte(letters[r.IntN(len(letters))])
		}
		created := at(time.Duration(r.IntN(10_000)) * time.Millisecond)
		j := labeling.Job{
			Name:       name.String(),
			Status:     labeling.Statuses[r.IntN(len(labeling.Statuses))],
			CreatedAt:  created,
			ModifiedAt: created.Add(time.Duration(r.IntN(100_000)) * time.Millisecond),
			Counters:   labeling.Counters{Total: r.IntN(100), Human: r.IntN(60), Machine: r.IntN(40), Failed: r.IntN(5), Unlabeled: r.IntN(100)},
		}
		if r.IntN(2) == 0 {
			j.FailureReason = fmt.Sprintf("ClientError: reason %d <&>", i)
		}
		if r.IntN(2) == 0 {
			j.OutputManifest = fmt.Sprintf("s3://out/%s/manifests/output/output.manifest", j.Name)
		}
		if r.IntN(3) > 0 {
			j.InputManifest = fmt.Sprintf("s3://in/%d.manifest", i)
		}
		if r.IntN(4) > 0 {
			j.Workteam = fmt.Sprintf("arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/team-%d", r.IntN(3))
		}
		jobs[i] = j
	}
	return jobs
}

// TestDescribeMatchesListing is what makes a pushed job and a polled one
// alike: for every emulated job and filter, reading the job by the name in
// its ARN gives the Job the listing gives, and it is refused as not watched
// exactly when the listing, filtered by the API, leaves it out. It also
// holds Filter.Match to the API's answer.
func TestDescribeMatchesListing(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	jobs := randomJobs(r, 60)
	emu, client := serve(t, jobs)
	all := listAll(t, labeling.NewSource(client, labeling.Filter{}))
	if len(all) != len(jobs) {
		t.Fatalf("listed %d jobs, want %d", len(all), len(jobs))
	}
	filters := []labeling.Filter{
		{},
		{NameContains: "job"},
		{NameContains: "K"},
		{NameContains: "-00"},
		{NameContains: "kLm"},
		{NameContains: "nothing"},
	}
	for _, j := range jobs[:8] {
		filters = append(filters,
			labeling.Filter{CreatedAfter: j.CreatedAt},
			labeling.Filter{CreatedAfter: j.CreatedAt.Add(time.Millisecond)},
			labeling.Filter{CreatedAfter: j.CreatedAt.Add(-500 * time.Microsecond)},
			labeling.Filter{CreatedAfter: j.CreatedAt.Add(500 * time.Microsecond), NameContains: "a"},
		)
	}
	for _, f := range filters {
		t.Run(fmt.Sprintf("%q after %s", f.NameContains, f.CreatedAfter.Format(time.StampMicro)), func(t *testing.T) {
			src := labeling.NewSource(client, f)
			listed := listAll(t, src)
			for _, j := range all {
				arn, err := labeling.ParseARN(j.ARN)
				if err != nil {
					t.Fatalf("ARN of %s: %v", j.Name, err)
				}
				got, err := src.Describe(t.Context(), arn.Name)
				want, inListing := listed[j.Name]
				switch {
				case inListing && err != nil:
					t.Errorf("%s: listed, but Describe says %v", j.Name, err)
				case !inListing && !errors.Is(err, labeling.ErrNotWatched):
					t.Errorf("%s: not listed, but Describe says %v", j.Name, err)
				case !inListing:
					want = j // returned with ErrNotWatched, as listed unfiltered
				}
				if got != want {
					t.Errorf("%s: described\n got %+v\nlisted %+v", j.Name, got, want)
				}
				if f.Match(j) != inListing {
					t.Errorf("%s: Match = %v, but ListLabelingJobs lists it: %v", j.Name, f.Match(j), inListing)
				}
			}
		})
	}
	if n := emu.Calls(opDescribe); n != len(filters)*len(jobs) {
		t.Errorf("%d DescribeLabelingJob calls, want %d", n, len(filters)*len(jobs))
	}
}

// listAll lists every job src lists, by name.
func listAll(t *testing.T, src *labeling.Source) map[string]labeling.Job {
	t.Helper()
	jobs := map[string]labeling.Job{}
	for page, err := range src.Modified(t.Context(), time.Time{}) {
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range page {
			jobs[j.Name] = j
		}
	}
	return jobs
}

func TestFilterMatch(t *testing.T) {
	floor := at(time.Hour) // at a whole millisecond, as t0 is
	job := func(name string, created time.Time) labeling.Job {
		return labeling.Job{Name: name, CreatedAt: created, ModifiedAt: created}
	}
	tests := []struct {
		name   string
		filter labeling.Filter
		job    labeling.Job
		want   bool
	}{
		{"no filter keeps all", labeling.Filter{}, job("a", time.Time{}), true},
		{"name contains, same case", labeling.Filter{NameContains: "cats"}, job("alpha-cats", floor), true},
		{"name contains, upper in filter", labeling.Filter{NameContains: "CATS"}, job("alpha-cats", floor), true},
		{"name contains, upper in name", labeling.Filter{NameContains: "a-c"}, job("Alpha-Cats", floor), true},
		{"name contains the whole name", labeling.Filter{NameContains: "Alpha-Cats"}, job("alpha-cats", floor), true},
		{"name contains more than the name", labeling.Filter{NameContains: "alpha-cats-2"}, job("alpha-cats", floor), false},
		{"name lacks it", labeling.Filter{NameContains: "dogs"}, job("alpha-cats", floor), false},
		{"created at the floor", labeling.Filter{CreatedAfter: floor}, job("a", floor), true},
		{"created a millisecond after the floor", labeling.Filter{CreatedAfter: floor}, job("a", floor.Add(time.Millisecond)), true},
		{"created a millisecond before the floor", labeling.Filter{CreatedAfter: floor}, job("a", floor.Add(-time.Millisecond)), false},
		{"floor within a millisecond, job at its start", labeling.Filter{CreatedAfter: floor.Add(500 * time.Microsecond)}, job("a", floor), false},
		{"floor within a millisecond, job at the next", labeling.Filter{CreatedAfter: floor.Add(500 * time.Microsecond)}, job("a", floor.Add(time.Millisecond)), true},
		{"floor just before a job's millisecond", labeling.Filter{CreatedAfter: floor.Add(-500 * time.Microsecond)}, job("a", floor), true},
		{"floor just before, job a millisecond earlier", labeling.Filter{CreatedAfter: floor.Add(-500 * time.Microsecond)}, job("a", floor.Add(-time.Millisecond)), false},
		{"floor in another zone", labeling.Filter{CreatedAfter: floor.In(time.FixedZone("X", 5*3600))}, job("a", floor), true},
		{"both kept", labeling.Filter{NameContains: "CAT", CreatedAfter: floor}, job("cats", floor), true},
		{"name kept, too early", labeling.Filter{NameContains: "CAT", CreatedAfter: floor}, job("cats", floor.Add(-time.Millisecond)), false},
		{"early enough, name not kept", labeling.Filter{NameContains: "dog", CreatedAfter: floor}, job("cats", floor), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.filter.Match(tt.job); got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseARN(t *testing.T) {
	long := strings.Repeat("a", 63)
	arn := func(partition, region, account, name string) labeling.ARN {
		return labeling.ARN{Partition: partition, Region: region, Account: account, Name: name}
	}
	tests := []struct {
		arn  string
		want labeling.ARN
		err  string // what the error says, "" for none
	}{
		{arn: "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/bird-boxes-7", want: arn("aws", "us-east-1", "123456789012", "bird-boxes-7")},
		{arn: "arn:aws-cn:sagemaker:cn-north-1:123456789012:labeling-job/birds", want: arn("aws-cn", "cn-north-1", "123456789012", "birds")},
		{arn: "arn:aws-us-gov:sagemaker:us-gov-west-1:210987654321:labeling-job/birds", want: arn("aws-us-gov", "us-gov-west-1", "210987654321", "birds")},
		{arn: "arn:aws:sagemaker:eu-west-1:012345678912:labeling-job/" + long, want: arn("aws", "eu-west-1", "012345678912", long)},
		{arn: "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/Mixed-Case", want: arn("aws", "us-east-1", "123456789012", "Mixed-Case")},
		{arn: "", err: "want arn:PARTITION:sagemaker"},
		{arn: "bird-boxes-7", err: "want arn:PARTITION:sagemaker"},
		{arn: "arn:aws:sagemaker:us-east-1:123456789012", err: "want arn:PARTITION:sagemaker"},
		{arn: "urn:aws:sagemaker:us-east-1:123456789012:labeling-job/birds", err: "want arn:PARTITION:sagemaker"},
		{arn: "arn:gcp:sagemaker:us-east-1:123456789012:labeling-job/birds", err: `partition "gcp"`},
		{arn: "arn:aws:lambda:us-east-1:123456789012:function:birds", err: `service "lambda"`},
		{arn: "arn:aws:sagemaker::123456789012:labeling-job/birds", err: `region ""`},
		{arn: "arn:aws:sagemaker:US-EAST-1:123456789012:labeling-job/birds", err: `region "US-EAST-1"`},
		{arn: "arn:aws:sagemaker:us east 1:123456789012:labeling-job/birds", err: `region "us east 1"`},
		{arn: "arn:aws:sagemaker:-us-east-1:123456789012:labeling-job/birds", err: `region "-us-east-1"`},
		{arn: "arn:aws:sagemaker:" + strings.Repeat("a", 33) + ":123456789012:labeling-job/birds", err: "1 to 32 lower-case"},
		{arn: "arn:aws:sagemaker:us-east-1:1234:labeling-job/birds", err: `account "1234"`},
		{arn: "arn:aws:sagemaker:us-east-1::labeling-job/birds", err: `account ""`},
		{arn: "arn:aws:sagemaker:us-east-1:12345678901x:labeling-job/birds", err: "is not 12 digits"},
		{arn: "arn:aws:sagemaker:us-east-1:123456789012:training-job/birds", err: `resource "training-job/birds"`},
		{arn: "arn:aws:sagemaker:us-east-1:123456789012:labeling-job-algorithm-specification/image-classification", err: "is not a labeling-job"},
		{arn: "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/", err: `name ""`},
		{arn: "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/" + long + "a", err: "1 to 63"},
		{arn: "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/bird_boxes", err: `name "bird_boxes"`},
		{arn: "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/birds/boxes", err: `name "birds/boxes"`},
		{arn: "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/-birds", err: `name "-birds"`},
		{arn: "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/birds-", err: `name "birds-"`},
		{arn: "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/bírds", err: "is not 1 to 63"},
		{arn: "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/" + strings.Repeat("x", 5000), err: "..."},
		{arn: "arn:aws:sagemaker:" + strings.Repeat("x", 5000) + ":123456789012:labeling-job/birds", err: "..."},
	}
	for _, tt := range tests {
		t.Run(tt.arn[:min(len(tt.arn), 80)], func(t *testing.T) {
			got, err := labeling.ParseARN(tt.arn)
			if tt.err == "" {
				if err != nil || got != tt.want {
					t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) || got != (labeling.ARN{}) {
				t.Errorf("got %+v, %v; want an error saying %q", got, err, tt.err)
			}
			if err != nil && len(err.Error()) > 500 {
				t.Errorf("error of %d bytes; an ARN from an event can be any length", len(err.Error()))
			}
		})
	}
}
