package labeling

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsarn "github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/aws/smithy-go"
)

// PageSize is ListLabelingJobs' largest page.
const PageSize = 100

// ErrRepeatedToken means ListLabelingJobs answered a page with a NextToken it
// had already sent, so the listing cannot be completed.
var ErrRepeatedToken = errors.New("the service repeated an earlier NextToken; listing is incomplete")

// ErrNotFound means DescribeLabelingJob knows no job of the name asked for.
var ErrNotFound = errors.New("no such labeling job")

// ErrNotWatched means a described job is outside the Source's Filter, so a
// listing would not have returned it.
var ErrNotWatched = errors.New("labeling job is outside the watched filters")

// API is the part of the SageMaker API a Source calls.
type API interface {
	sagemaker.ListLabelingJobsAPIClient
	DescribeLabelingJob(ctx context.Context, in *sagemaker.DescribeLabelingJobInput, optFns ...func(*sagemaker.Options)) (*sagemaker.DescribeLabelingJobOutput, error)
}

var _ API = (*sagemaker.Client)(nil)

// Filter is the user's choice of jobs to watch. A Source applies it through
// ListLabelingJobs' own filters when listing, and with Match to a job it
// describes, so that both ways of reading a job agree on which jobs count.
type Filter struct {
	// NameContains keeps jobs whose name contains it, in any case; "" keeps
	// every job.
	NameContains string
	// CreatedAfter ignores jobs created before it; a job created at
	// CreatedAfter itself is kept. The zero time ignores none.
	CreatedAfter time.Time
}

// Match reports whether ListLabelingJobs, asked with f's filters, would
// list j.
func (f Filter) Match(j Job) bool { return f.reject(j) == "" }

// reject says why f leaves j out, or "" when it keeps j.
func (f Filter) reject(j Job) string {
	// ListLabelingJobs's NameContains ignores case; names are ASCII.
	if f.NameContains != "" && !strings.Contains(strings.ToLower(j.Name), strings.ToLower(f.NameContains)) {
		return fmt.Sprintf("its name does not contain %q", f.NameContains)
	}
	if after, ok := f.creationTimeAfter(); ok && !j.CreatedAt.After(after) {
		return fmt.Sprintf("it was created at %s, before %s",
			j.CreatedAt.UTC().Format(time.RFC3339Nano), f.CreatedAfter.UTC().Format(time.RFC3339Nano))
	}
	return ""
}

// creationTimeAfter is the CreationTimeAfter that asks ListLabelingJobs for
// the jobs f keeps, and whether f has a floor at all.
func (f Filter) creationTimeAfter() (time.Time, bool) {
	if f.CreatedAfter.IsZero() {
		return time.Time{}, false
	}
	// CreationTimeAfter is strict and the API keeps milliseconds: this keeps
	// a job created at the floor itself, which is not "before" it.
	return f.CreatedAfter.Add(-time.Nanosecond).Truncate(time.Millisecond), true
}

// Source reads labeling jobs within a Filter: it pages ListLabelingJobs and
// reads one job with DescribeLabelingJob.
type Source struct {
	api    API
	filter Filter
	names  map[string]string // account ID -> display name
}

// NewSource returns a Source reading the jobs filter keeps through api.
func NewSource(api API, filter Filter) *Source {
	return &Source{api: api, filter: filter}
}

// WithAccountNames names accounts by ID: each job the Source reads carries
// its account's name in AccountName. It returns s.
func (s *Source) WithAccountNames(names map[string]string) *Source {
	s.names = names
	return s
}

// job is the Job of a summary, with its account's name.
func (s *Source) job(summary types.LabelingJobSummary) Job {
	j := fromSummary(summary)
	if len(s.names) > 0 {
		if a, err := ParseARN(j.ARN); err == nil {
			j.AccountName = s.names[a.Account]
		}
	}
	return j
}

// Modified yields the jobs last modified after since (every job when since
// is zero), one API page at a time. It stops at the first error, which it
// yields with a nil page.
func (s *Source) Modified(ctx context.Context, since time.Time) iter.Seq2[[]Job, error] {
	in := s.query()
	if !since.IsZero() {
		in.LastModifiedTimeAfter = aws.Time(since)
	}
	return s.list(ctx, in)
}

// Running yields the jobs in progress, however long ago they were last
// modified, one API page at a time: a job whose labeling stalled is not
// modified, and only this listing finds it. It stops at the first error,
// which it yields with a nil page.
func (s *Source) Running(ctx context.Context) iter.Seq2[[]Job, error] {
	in := s.query()
	in.StatusEquals = types.LabelingJobStatusInProgress
	return s.list(ctx, in)
}

// Created yields every job created after after (every job when after is
// zero, and never one the filter's CreatedAfter leaves out), oldest first,
// one API page at a time: a first run that stops part-way resumes after the
// last job it recorded. It stops at the first error, which it yields with a
// nil page.
func (s *Source) Created(ctx context.Context, after time.Time) iter.Seq2[[]Job, error] {
	in := s.query()
	in.SortBy, in.SortOrder = types.SortByCreationTime, types.SortOrderAscending
	if !after.IsZero() && (in.CreationTimeAfter == nil || after.After(*in.CreationTimeAfter)) {
		in.CreationTimeAfter = aws.Time(after)
	}
	return s.list(ctx, in)
}

// query is a ListLabelingJobs request for the jobs the filter keeps.
func (s *Source) query() *sagemaker.ListLabelingJobsInput {
	in := &sagemaker.ListLabelingJobsInput{MaxResults: aws.Int32(PageSize)}
	if s.filter.NameContains != "" {
		in.NameContains = aws.String(s.filter.NameContains)
	}
	if after, ok := s.filter.creationTimeAfter(); ok {
		in.CreationTimeAfter = aws.Time(after)
	}
	return in
}

// list pages in.
func (s *Source) list(ctx context.Context, in *sagemaker.ListLabelingJobsInput) iter.Seq2[[]Job, error] {
	return func(yield func([]Job, error) bool) {
		pages := sagemaker.NewListLabelingJobsPaginator(s.api, in, func(o *sagemaker.ListLabelingJobsPaginatorOptions) {
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
				jobs = append(jobs, s.job(summary))
			}
			if len(jobs) > 0 && !yield(jobs, nil) {
				return
			}
		}
	}
}

// Describe reads the named job with DescribeLabelingJob and returns it as
// Modified would list it. Names are not case-sensitive, so the lower-cased
// name in a job's ARN finds the job; the Job has the name as created. It
// fails with an error wrapping ErrNotFound when there is no such job, and
// with one wrapping ErrNotWatched, together with the job, when the Filter
// leaves the job out.
func (s *Source) Describe(ctx context.Context, name string) (Job, error) {
	out, err := s.api.DescribeLabelingJob(ctx, &sagemaker.DescribeLabelingJobInput{LabelingJobName: aws.String(name)})
	if missing(err) {
		return Job{}, fmt.Errorf("describe labeling job %q: %w: %w", name, ErrNotFound, err)
	}
	if err != nil {
		return Job{}, fmt.Errorf("describe labeling job %q: %w", name, err)
	}
	j := s.job(summaryOf(out))
	if why := s.filter.reject(j); why != "" {
		return j, fmt.Errorf("describe labeling job %q: %w: %s", name, ErrNotWatched, why)
	}
	return j, nil
}

// missing reports whether err is DescribeLabelingJob's answer for a job that
// does not exist. botocore's model declares ResourceNotFound for it, but
// SageMaker answers a ValidationException, "Could not find requested job with
// name NAME", as its Describe calls for other jobs do; both are taken. Any
// other ValidationException, such as a name the API refuses, is not a
// missing job but a request that cannot succeed, and stays an error.
func missing(err error) bool {
	var notFound *types.ResourceNotFound
	if errors.As(err, &notFound) {
		return true
	}
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == "ValidationException" &&
		strings.HasPrefix(strings.ToLower(apiErr.ErrorMessage()), "could not find requested job")
}

// summaryOf is the LabelingJobSummary ListLabelingJobs gives for the job d
// describes. Reading a description through it leaves one mapping to Job, so
// a pushed job and a listed one cannot come out different.
func summaryOf(d *sagemaker.DescribeLabelingJobOutput) types.LabelingJobSummary {
	s := types.LabelingJobSummary{
		LabelingJobName:   d.LabelingJobName,
		LabelingJobArn:    d.LabelingJobArn,
		LabelingJobStatus: d.LabelingJobStatus,
		CreationTime:      d.CreationTime,
		LastModifiedTime:  d.LastModifiedTime,
		LabelCounters:     d.LabelCounters,
		FailureReason:     d.FailureReason,
		LabelingJobOutput: d.LabelingJobOutput,
		InputConfig:       d.InputConfig,
	}
	// The summary's WorkteamArn and Lambda ARNs sit in the description's
	// HumanTaskConfig.
	if h := d.HumanTaskConfig; h != nil {
		s.WorkteamArn = h.WorkteamArn
		s.PreHumanTaskLambdaArn = h.PreHumanTaskLambdaArn
		if c := h.AnnotationConsolidationConfig; c != nil {
			s.AnnotationConsolidationLambdaArn = c.AnnotationConsolidationLambdaArn
		}
	}
	return s
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

// arnResourceType is the resource part of a labeling job's ARN before the
// name.
const arnResourceType = "labeling-job/"

// ARN is a labeling job's ARN read into its parts:
// arn:PARTITION:sagemaker:REGION:ACCOUNT:labeling-job/NAME.
type ARN struct {
	Partition string // aws, aws-cn, aws-us-gov, ...
	Region    string
	Account   string // 12 digits
	// Name is the job's name as the ARN has it, lower-cased. That is enough
	// for Describe, since SageMaker does not tell names apart by case.
	Name string
}

// ParseARN reads a labeling job's ARN, as an EventBridge event's resources
// carry it. It fails for anything else: another service's or resource's
// ARN, a name SageMaker cannot have, or a part missing. Its errors quote the
// ARN cut short, since an event can hold anything.
func ParseARN(arn string) (ARN, error) {
	bad := func(why string) (ARN, error) {
		return ARN{}, fmt.Errorf("%q is not a labeling job ARN: %s", Clip(arn, 100), why)
	}
	parsed, err := awsarn.Parse(arn)
	if err != nil {
		return bad("want arn:PARTITION:sagemaker:REGION:ACCOUNT:labeling-job/NAME")
	}
	a := ARN{Partition: parsed.Partition, Region: parsed.Region, Account: parsed.AccountID}
	service, resource := parsed.Service, parsed.Resource
	switch {
	case !strings.HasPrefix(a.Partition, "aws"):
		return bad(fmt.Sprintf("partition %q is not an AWS partition", Clip(a.Partition, 100)))
	case service != "sagemaker":
		return bad(fmt.Sprintf("service %q is not sagemaker", Clip(service, 100)))
	case !validRegion(a.Region):
		return bad(fmt.Sprintf("region %q is not 1 to 32 lower-case letters, digits and hyphens", Clip(a.Region, 100)))
	case len(a.Account) != 12 || strings.Trim(a.Account, "0123456789") != "":
		return bad(fmt.Sprintf("account %q is not 12 digits", Clip(a.Account, 100)))
	case !strings.HasPrefix(resource, arnResourceType):
		return bad(fmt.Sprintf("resource %q is not a labeling-job", Clip(resource, 100)))
	}
	a.Name = strings.TrimPrefix(resource, arnResourceType)
	if !ValidName(a.Name) {
		return bad(fmt.Sprintf("name %q is not 1 to 63 letters, digits and inner hyphens", Clip(a.Name, 100)))
	}
	return a, nil
}

// validRegion reports whether region can be an AWS region's code, such as
// us-east-1 or us-gov-west-1: a SageMaker job always has one, and a caller
// compares it with its own and quotes it.
func validRegion(region string) bool {
	if len(region) < 1 || len(region) > 32 || region[0] == '-' {
		return false
	}
	for _, r := range region {
		if !(r == '-' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z') {
			return false
		}
	}
	return true
}

// ValidName reports whether name is a possible LabelingJobName: 1 to 63
// characters matching [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}, that is ASCII
// letters, digits and hyphens, starting and ending with a letter or digit.
func ValidName(name string) bool {
	if len(name) < 1 || len(name) > 63 || name[0] == '-' || name[len(name)-1] == '-' {
		return false
	}
	for _, r := range name {
		if !(r == '-' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
			return false
		}
	}
	return true
}

// Clip cuts s to at most about most bytes, at a character boundary, marking
// the cut with "...": for text from outside (an event, an environment
// variable) quoted in an error or a log line, which can hold anything.
func Clip(s string, most int) string {
	if len(s) <= most {
		return s
	}
	cut := most
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
