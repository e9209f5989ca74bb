package labeling

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
)

// PageSize is ListLabelingJobs' largest page.
const PageSize = 100

// ErrRepeatedToken means ListLabelingJobs answered a page with a NextToken it
// had already sent, so the listing cannot be completed.
var ErrRepeatedToken = errors.New("the service repeated an earlier NextToken; listing is incomplete")

// Source lists labeling jobs with ListLabelingJobs, applying the user's
// filters.
type Source struct {
	client       sagemaker.ListLabelingJobsAPIClient
	nameContains string
	createdAfter time.Time
}

// NewSource returns a Source listing jobs whose name contains nameContains
// (all jobs when empty) and that were created after createdAfter (no floor
// when zero).
func NewSource(client sagemaker.ListLabelingJobsAPIClient, nameContains string, createdAfter time.Time) *Source {
	return &Source{client: client, nameContains: nameContains, createdAfter: createdAfter}
}

// Modified yields the jobs last modified after since (every job when since
// is zero), one API page at a time. It stops at the first error, which it
// yields with a nil page.
func (s *Source) Modified(ctx context.Context, since time.Time) iter.Seq2[[]Job, error] {
	in := &sagemaker.ListLabelingJobsInput{MaxResults: aws.Int32(PageSize)}
	if !since.IsZero() {
		in.LastModifiedTimeAfter = aws.Time(since)
	}
	if s.nameContains != "" {
		in.NameContains = aws.String(s.nameContains)
	}
	if !s.createdAfter.IsZero() {
		// CreationTimeAfter is strict and the API keeps milliseconds: this
		// keeps a job created at the floor itself, which is not "before" it.
		in.CreationTimeAfter = aws.Time(s.createdAfter.Add(-time.Nanosecond).Truncate(time.Millisecond))
	}
	return func(yield func([]Job, error) bool) {
		pages := sagemaker.NewListLabelingJobsPaginator(s.client, in, func(o *sagemaker.ListLabelingJobsPaginatorOptions) {
			// A token the service repeats would otherwise page forever.
			o.StopOnDuplicateToken = true
		})
		// The paginator stops on a repeated token without an error, which
		// would pass a cut-short listing off as complete and let the cycle
		// move its cursor past jobs it never saw.
		tokens := map[string]bool{}
		for n := 1; pages.HasMorePages(); n++ {
			out, err := pages.NextPage(ctx)
			if err != nil {
				yield(nil, fmt.Errorf("list labeling jobs page %d: %w", n, err))
				return
			}
			if token := aws.ToString(out.NextToken); token != "" {
				if tokens[token] {
					yield(nil, fmt.Errorf("list labeling jobs page %d: %w", n, ErrRepeatedToken))
					return
				}
				tokens[token] = true
			}
			jobs := make([]Job, 0, len(out.LabelingJobSummaryList))
			for _, summary := range out.LabelingJobSummaryList {
				jobs = append(jobs, fromSummary(summary))
			}
			if len(jobs) > 0 && !yield(jobs, nil) {
				return
			}
		}
	}
}

func fromSummary(s types.LabelingJobSummary) Job {
	j := Job{
		Name:          aws.ToString(s.LabelingJobName),
		ARN:           aws.ToString(s.LabelingJobArn),
		Status:        Status(s.LabelingJobStatus),
		CreatedAt:     aws.ToTime(s.CreationTime),
		ModifiedAt:    aws.ToTime(s.LastModifiedTime),
		FailureReason: aws.ToString(s.FailureReason),
		Workteam:      aws.ToString(s.WorkteamArn),
	}
	if c := s.LabelCounters; c != nil {
		j.Counters = Counters{
			Total:     int(aws.ToInt32(c.TotalLabeled)),
			Human:     int(aws.ToInt32(c.HumanLabeled)),
			Machine:   int(aws.ToInt32(c.MachineLabeled)),
			Failed:    int(aws.ToInt32(c.FailedNonRetryableError)),
			Unlabeled: int(aws.ToInt32(c.Unlabeled)),
		}
	}
	if o := s.LabelingJobOutput; o != nil {
		j.OutputManifest = aws.ToString(o.OutputDatasetS3Uri)
	}
	if in := s.InputConfig; in != nil && in.DataSource != nil && in.DataSource.S3DataSource != nil {
		j.InputManifest = aws.ToString(in.DataSource.S3DataSource.ManifestS3Uri)
	}
	return j
}
