package labeling

import (
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
)

// TestSummaryOfFillsEverySummaryMember checks that a description read as a
// summary sets every member LabelingJobSummary has, so that a member the
// SDK adds to the summary, and fromSummary may come to read, cannot be
// missing from the pushed job alone.
func TestSummaryOfFillsEverySummaryMember(t *testing.T) {
	now := time.Unix(1700000000, 0)
	d := &sagemaker.DescribeLabelingJobOutput{
		LabelingJobName:   aws.String("Birds"),
		LabelingJobArn:    aws.String("arn:aws:sagemaker:us-east-1:123456789012:labeling-job/birds"),
		LabelingJobStatus: types.LabelingJobStatusCompleted,
		CreationTime:      aws.Time(now),
		LastModifiedTime:  aws.Time(now),
		LabelCounters:     &types.LabelCounters{TotalLabeled: aws.Int32(1)},
		FailureReason:     aws.String("reason"),
		LabelingJobOutput: &types.LabelingJobOutput{OutputDatasetS3Uri: aws.String("s3://out/o.manifest")},
		InputConfig: &types.LabelingJobInputConfig{DataSource: &types.LabelingJobDataSource{
			S3DataSource: &types.LabelingJobS3DataSource{ManifestS3Uri: aws.String("s3://in/i.manifest")},
		}},
		HumanTaskConfig: &types.HumanTaskConfig{
			WorkteamArn:           aws.String("arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/t"),
			PreHumanTaskLambdaArn: aws.String("arn:aws:lambda:us-east-1:432418664414:function:PRE-BoundingBox"),
			AnnotationConsolidationConfig: &types.AnnotationConsolidationConfig{
				AnnotationConsolidationLambdaArn: aws.String("arn:aws:lambda:us-east-1:432418664414:function:ACS-BoundingBox"),
			},
		},
	}
	s := reflect.ValueOf(summaryOf(d))
	for i := range s.NumField() {
		f := s.Type().Field(i)
		if f.IsExported() && s.Field(i).IsZero() {
			t.Errorf("summaryOf leaves LabelingJobSummary.%s unset", f.Name)
		}
	}

	// A description without a HumanTaskConfig, which the model requires,
	// still reads.
	d.HumanTaskConfig = nil
	if j := fromSummary(summaryOf(d)); j.Name != "Birds" || j.Workteam != "" {
		t.Errorf("without HumanTaskConfig: %+v", j)
	}
}
