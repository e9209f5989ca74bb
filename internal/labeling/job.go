// Package labeling is labelwatch's view of SageMaker Ground Truth: the Job
// value the rest of the code works with, and the Source that produces it by
// paging ListLabelingJobs or reading one job with DescribeLabelingJob.
package labeling

import (
	"strings"
	"time"
)

// Status is a labeling job's LabelingJobStatus as the API reports it. Values
// outside the six known ones are kept as they are, so a future API value is
// stored and logged rather than rejected.
type Status string

// The six statuses of the ListLabelingJobs API.
const (
	StatusInitializing Status = "Initializing"
	StatusInProgress   Status = "InProgress"
	StatusCompleted    Status = "Completed"
	StatusFailed       Status = "Failed"
	StatusStopping     Status = "Stopping"
	StatusStopped      Status = "Stopped"
)

// Statuses lists the known statuses in the order a job moves through them.
var Statuses = []Status{StatusInitializing, StatusInProgress, StatusStopping, StatusCompleted, StatusFailed, StatusStopped}

// Known reports whether s is one of the six API statuses.
func (s Status) Known() bool {
	for _, k := range Statuses {
		if s == k {
			return true
		}
	}
	return false
}

// Terminal reports whether a job in status s can change no more.
func (s Status) Terminal() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusStopped
}

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
}

// Region is the AWS region in the job's ARN, or "" when the ARN has none.
func (j Job) Region() string {
	parts := strings.SplitN(j.ARN, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[3]
}
