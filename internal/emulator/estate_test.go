package emulator_test

import (
	"errors"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/smithy-go"

	"github.com/labelwatch/labelwatch/internal/emulator"
	"github.com/labelwatch/labelwatch/internal/labeling"
	"github.com/labelwatch/labelwatch/internal/testenv"
)

// TestEstate checks that one endpoint serves several accounts and regions
// apart, as AWS does: by the signature's region and the signer's account.
// The same job name in two places is two jobs, each with its place's ARN.
func TestEstate(t *testing.T) {
	const home, member = "111111111111", "222222222222"
	estate := emulator.NewEstate(home)
	places := []emulator.Place{{home, "us-east-1"}, {home, "eu-west-1"}, {member, "us-east-1"}}
	for _, p := range places {
		estate.Add(p).Put(labeling.Job{Name: "shared-name", Status: labeling.StatusCompleted})
	}
	estate.Add(emulator.Place{Account: member, Region: "eu-west-1"}).Put(labeling.Job{Name: "member-only", Status: labeling.StatusFailed})
	estate.Credentials("ASIAMEMBER", member)
	srv := httptest.NewServer(estate)
	t.Cleanup(srv.Close)
	at := func(region, key string) *sagemaker.Client {
		return sagemaker.NewFromConfig(aws.Config{
			Region:       region,
			Credentials:  credentials.NewStaticCredentialsProvider(key, "secret", "token"),
			BaseEndpoint: aws.String(srv.URL),
			HTTPClient:   testenv.HTTPClient(),
			Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
		})
	}

	for _, tc := range []struct {
		region, key string
		want        []string // the ARNs listed
	}{
		{"us-east-1", "AKIAHOME", []string{"arn:aws:sagemaker:us-east-1:111111111111:labeling-job/shared-name"}},
		{"eu-west-1", "AKIAHOME", []string{"arn:aws:sagemaker:eu-west-1:111111111111:labeling-job/shared-name"}},
		{"us-east-1", "ASIAMEMBER", []string{"arn:aws:sagemaker:us-east-1:222222222222:labeling-job/shared-name"}},
		{"eu-west-1", "ASIAMEMBER", []string{"arn:aws:sagemaker:eu-west-1:222222222222:labeling-job/member-only"}},
	} {
		out, err := at(tc.region, tc.key).ListLabelingJobs(t.Context(), &sagemaker.ListLabelingJobsInput{})
		if err != nil {
			t.Fatalf("list in %s as %s: %v", tc.region, tc.key, err)
		}
		var got []string
		for _, s := range out.LabelingJobSummaryList {
			got = append(got, aws.ToString(s.LabelingJobArn))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("list in %s as %s: %v, want %v", tc.region, tc.key, got, tc.want)
		}
	}

	d, err := at("eu-west-1", "ASIAMEMBER").DescribeLabelingJob(t.Context(), &sagemaker.DescribeLabelingJobInput{LabelingJobName: aws.String("member-only")})
	if err != nil || aws.ToString(d.LabelingJobArn) != "arn:aws:sagemaker:eu-west-1:222222222222:labeling-job/member-only" {
		t.Errorf("describe in the member's eu-west-1: %v, %v", err, d)
	}
	if _, err := at("eu-west-1", "AKIAHOME").DescribeLabelingJob(t.Context(), &sagemaker.DescribeLabelingJobInput{LabelingJobName: aws.String("member-only")}); err == nil {
		t.Error("the home account's eu-west-1 described the member's job")
	}

	// A region the estate does not serve is one not enabled for the
	// account.
	_, err = at("ap-south-1", "AKIAHOME").ListLabelingJobs(t.Context(), &sagemaker.ListLabelingJobsInput{})
	if apiErr, ok := errors.AsType[smithy.APIError](err); !ok || apiErr.ErrorCode() != "UnrecognizedClientException" {
		t.Errorf("list in a region not served: %v, want UnrecognizedClientException", err)
	}
}
