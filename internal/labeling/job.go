// Package labeling is labelwatch's view of SageMaker Ground Truth: the Job
// value the rest of the code works with, and the Source that produces it by
// paging ListLabelingJobs or reading one job with DescribeLabelingJob.
package labeling

import (
	"strings"
	"time"
)

// Counters are a job's LabelCounters.
type Counters struct {
	Total     int // TotalLabeled
	Human     int // HumanLabeled
	Machine   int // MachineLabeled
	Failed    int // FailedNonRetryableError
	Unlabeled int // Unlabeled
}

// PercentDone is the share of data objects that need no more work (labeled
// or failed for good), from 0 to 100. A job with no objects yet is 0% done.
func (c Counters) PercentDone() float64 {
	settled := c.Total + c.Failed
	all := settled + c.Unlabeled
	if all == 0 {
		return 0
	}
	return 100 * float64(settled) / float64(all)
}

// Job is one labeling job as a ListLabelingJobs summary describes it. A
// DescribeLabelingJob answer is read as the summary of the same job.
type Job struct {
	Name           string
	ARN            string
	Status         Status
	CreatedAt      time.Time
	ModifiedAt     time.Time
	Counters       Counters
	FailureReason  string
	OutputManifest string // LabelingJobOutput.OutputDatasetS3Uri
	InputManifest  string // InputConfig.DataSource.S3DataSource.ManifestS3Uri
	Workteam       string // WorkteamArn
	// AccountName is the display name of the job's account, as the
	// Source was told it (ACCOUNT_NAMES); "" for none.
	AccountName string
}

// Region is the AWS region in the job's ARN, or "" when the ARN has none.
func (j Job) Region() string { return j.arnPart(3) }

// Account is the AWS account ID in the job's ARN, or "" when the ARN has
// none.
func (j Job) Account() string { return j.arnPart(4) }

// arnPart is the i-th of the colon-separated parts of the job's ARN
// (arn:partition:service:region:account:resource), or "".
func (j Job) arnPart(i int) string {
	parts := strings.SplitN(j.ARN, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[i]
}
