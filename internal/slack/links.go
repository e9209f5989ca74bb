package slack

// This file is where a job runs, as its ARN says, and the links to it in the
// AWS console.

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/labelwatch/labelwatch/internal/labeling"
)

// logGroup is where Ground Truth writes its jobs' logs, one stream per job
// named after it.
const logGroup = "/aws/sagemaker/LabelingJobs"

// maxLinkURL bounds a link's URL; Slack documents no limit for mrkdwn links,
// so this is the button limit, far above any real console URL.
const maxLinkURL = maxButtonURL

// arnPlace is where a job's ARN puts it: partition, region and account, each
// "" when the ARN has none or one that is not usable in a host name or a
// message.
type arnPlace struct {
	partition, region, account string
}

// placeOf is where job j's ARN puts it.
func placeOf(j labeling.Job) arnPlace {
	parts := strings.SplitN(j.ARN, ":", 6)
	if len(parts) < 6 || parts[0] != "arn" {
		return arnPlace{}
	}
	p := arnPlace{partition: parts[1]}
	if validRegion(parts[3]) {
		p.region = parts[3]
	}
	if validAccount(parts[4]) {
		p.account = parts[4]
	}
	return p
}

// validRegion reports whether r looks like an AWS region ("eu-west-1"), so
// that it is safe to put in a console host name.
func validRegion(r string) bool {
	if r == "" || len(r) > 30 {
		return false
	}
	for _, c := range r {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// ConsoleURL is the link to job j in the SageMaker console of its partition
// and region, or "" when the job's ARN names none that is usable (a link to
// the wrong region's console would show "not found", which is worse than no
// link).
func ConsoleURL(j labeling.Job) string {
	base, region := consoleBase(j)
	if base == "" || j.Name == "" {
		return ""
	}
	return linkable(base + "/sagemaker/groundtruth?region=" + url.QueryEscape(region) +
		"#/labeling-jobs/details/" + url.PathEscape(j.Name))
}

// consoleListURL is the labeling job list in the SageMaker console of region.
func consoleListURL(region string) string {
	if !validRegion(region) {
		return ""
	}
	return "https://" + region + ".console.aws.amazon.com/sagemaker/groundtruth?region=" +
		url.QueryEscape(region) + "#/labeling-jobs"
}

// validAccount reports whether a is an AWS account ID: twelve digits.
func validAccount(a string) bool {
	if len(a) != 12 {
		return false
	}
	for _, c := range a {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// consoleHost is the AWS console's host for region in partition, or "" for a
// partition whose console labelwatch does not know (a guessed host would be
// a link that leads nowhere).
func consoleHost(partition, region string) string {
	if !validRegion(region) {
		return ""
	}
	switch partition {
	case "aws":
		return region + ".console.aws.amazon.com"
	case "aws-cn":
		return "console.amazonaws.cn"
	case "aws-us-gov":
		return "console.amazonaws-us-gov.com"
	}
	return ""
}

// consoleBase is "https://HOST" for job j's console, and the job's region;
// both "" when the job's ARN does not say where it runs.
func consoleBase(j labeling.Job) (base, region string) {
	p := placeOf(j)
	host := consoleHost(p.partition, p.region)
	if host == "" {
		return "", ""
	}
	return "https://" + host, p.region
}

// linkable is u, or "" when u is too long to be a link.
func linkable(u string) string {
	if len(u) > maxLinkURL {
		return ""
	}
	return u
}

// LogStreamURL is the link to job j's log stream in the CloudWatch console,
// or "" when its ARN names no usable partition and region.
func LogStreamURL(j labeling.Job) string {
	base, region := consoleBase(j)
	if base == "" || j.Name == "" {
		return ""
	}
	return linkable(base + "/cloudwatch/home?region=" + url.QueryEscape(region) +
		"#logsV2:log-groups/log-group/" + cloudWatchEscape(logGroup) + "/log-events/" + cloudWatchEscape(j.Name))
}

// cloudWatchEscape writes s as the CloudWatch console's fragment wants it:
// percent-encoded twice, the outer "%" written "$" ("/" -> "$252F").
func cloudWatchEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "$25%02X", c)
	}
	return b.String()
}

// OutputManifestURL is the link to job j's output manifest in the S3 console
// of the job's partition and region, or "" when the job has none or it is not
// an s3://BUCKET/KEY URI.
func OutputManifestURL(j labeling.Job) string {
	base, region := consoleBase(j)
	rest, ok := strings.CutPrefix(j.OutputManifest, "s3://")
	if base == "" || !ok {
		return ""
	}
	bucket, key, ok := strings.Cut(rest, "/")
	if !ok || bucket == "" || key == "" {
		return ""
	}
	return linkable(base + "/s3/object/" + url.PathEscape(bucket) + "?region=" + url.QueryEscape(region) +
		"&prefix=" + url.QueryEscape(key))
}
