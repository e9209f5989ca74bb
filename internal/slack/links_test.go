package slack

import (
	"maps"
	"testing"

	slackapi "github.com/slack-go/slack"

	"github.com/labelwatch/labelwatch/internal/labeling"
)

func TestConsoleURL(t *testing.T) {
	tests := []struct {
		name, arn, job, want string
	}{
		{"region from ARN", "arn:aws:sagemaker:eu-west-1:123456789012:labeling-job/my-job", "my-job",
			"https://eu-west-1.console.aws.amazon.com/sagemaker/groundtruth?region=eu-west-1#/labeling-jobs/details/my-job"},
		{"China", "arn:aws-cn:sagemaker:cn-north-1:123456789012:labeling-job/my-job", "my-job",
			"https://console.amazonaws.cn/sagemaker/groundtruth?region=cn-north-1#/labeling-jobs/details/my-job"},
		{"GovCloud", "arn:aws-us-gov:sagemaker:us-gov-west-1:123456789012:labeling-job/my-job", "my-job",
			"https://console.amazonaws-us-gov.com/sagemaker/groundtruth?region=us-gov-west-1#/labeling-jobs/details/my-job"},
		{"unknown partition", "arn:aws-iso:sagemaker:us-iso-east-1:123456789012:labeling-job/my-job", "my-job", ""},
		{"no ARN", "", "my-job", ""},
		{"ARN without region", "arn:aws:sagemaker::123:labeling-job/my-job", "my-job", ""},
		{"region that is not one", "arn:aws:sagemaker:evil.com/x?:123:labeling-job/x", "x", ""},
		{"name escaped", "arn:aws:sagemaker:us-east-1:1:labeling-job/a", "a b/c#d",
			"https://us-east-1.console.aws.amazon.com/sagemaker/groundtruth?region=us-east-1#/labeling-jobs/details/a%20b%2Fc%23d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ConsoleURL(labeling.Job{Name: tt.job, ARN: tt.arn}); got != tt.want {
				t.Errorf("ConsoleURL = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAlertLinksPerPartition(t *testing.T) {
	const name = "street-scenes-seg"
	logs := "#logsV2:log-groups/log-group/$252Faws$252Fsagemaker$252FLabelingJobs/log-events/" + name
	tests := []struct {
		name, arn string
		status    labeling.Status
		want      map[string]string // link text: URL
	}{
		{
			name: "aws, completed", arn: "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/" + name, status: labeling.StatusCompleted,
			want: map[string]string{
				"Job in SageMaker": "https://us-east-1.console.aws.amazon.com/sagemaker/groundtruth?region=us-east-1#/labeling-jobs/details/" + name,
				"Logs":             "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1" + logs,
				"Output manifest":  "https://us-east-1.console.aws.amazon.com/s3/object/bucket?region=us-east-1&prefix=out%2Fcats-vs-dogs-2025%2Fmanifests%2Foutput%2Foutput.manifest",
			},
		},
		{
			name: "aws-cn, completed", arn: "arn:aws-cn:sagemaker:cn-northwest-1:123456789012:labeling-job/" + name, status: labeling.StatusCompleted,
			want: map[string]string{
				"Job in SageMaker": "https://console.amazonaws.cn/sagemaker/groundtruth?region=cn-northwest-1#/labeling-jobs/details/" + name,
				"Logs":             "https://console.amazonaws.cn/cloudwatch/home?region=cn-northwest-1" + logs,
				"Output manifest":  "https://console.amazonaws.cn/s3/object/bucket?region=cn-northwest-1&prefix=out%2Fcats-vs-dogs-2025%2Fmanifests%2Foutput%2Foutput.manifest",
			},
		},
		{
			name: "aws-us-gov, failed: no output manifest", arn: "arn:aws-us-gov:sagemaker:us-gov-east-1:123456789012:labeling-job/" + name, status: labeling.StatusFailed,
			want: map[string]string{
				"Job in SageMaker": "https://console.amazonaws-us-gov.com/sagemaker/groundtruth?region=us-gov-east-1#/labeling-jobs/details/" + name,
				"Logs":             "https://console.amazonaws-us-gov.com/cloudwatch/home?region=us-gov-east-1" + logs,
			},
		},
		{name: "unknown partition: no links", arn: "arn:aws-iso-b:sagemaker:us-isob-east-1:123456789012:labeling-job/" + name, status: labeling.StatusCompleted, want: map[string]string{}},
		{name: "no ARN: no links", arn: "", status: labeling.StatusCompleted, want: map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := job()
			j.Name, j.ARN, j.Status = name, tt.arn, tt.status
			m := RenderAlert(Alert{Job: j})
			checkLimits(t, m)
			if got := links(t, m); !maps.Equal(got, tt.want) {
				t.Errorf("links:\n got %q\nwant %q", got, tt.want)
			}
			for _, b := range m.Blocks {
				if _, ok := b.(*slackapi.ActionBlock); ok {
					t.Error("an alert has a button; links go in mrkdwn")
				}
			}
		})
	}
}

func TestOutputManifestURL(t *testing.T) {
	arn := "arn:aws:sagemaker:eu-west-1:123456789012:labeling-job/x"
	tests := []struct{ manifest, want string }{
		{"s3://b/k/output.manifest", "https://eu-west-1.console.aws.amazon.com/s3/object/b?region=eu-west-1&prefix=k%2Foutput.manifest"},
		{"s3://b/a b&c|d>e", "https://eu-west-1.console.aws.amazon.com/s3/object/b?region=eu-west-1&prefix=a+b%26c%7Cd%3Ee"},
		{"s3://b", ""},
		{"s3:///k", ""},
		{"https://b.s3.amazonaws.com/k", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.manifest, func(t *testing.T) {
			if got := OutputManifestURL(labeling.Job{ARN: arn, OutputManifest: tt.manifest}); got != tt.want {
				t.Errorf("OutputManifestURL = %q, want %q", got, tt.want)
			}
		})
	}
}
