package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/smithy-go"

	"github.com/labelwatch/labelwatch/internal/app"
)

// loadAWS returns the AWS configuration of the user's environment, with
// credentials retrieved and a region set, so that a missing piece is one
// clear error before anything touches AWS or the state file.
//
// The SDK's last resort for credentials is the EC2 instance metadata service
// (IMDS). Off EC2 that costs seconds of retries and ends in an error about
// IMDS, which tells a newcomer nothing, so IMDS is consulted only where root
// looks like an EC2 instance (see onEC2), or where the user set
// AWS_EC2_METADATA_DISABLED themselves. ECS and EKS hand out credentials
// through their own environment variables, which keep working.
func loadAWS(ctx context.Context, getenv func(string) string, root fs.FS) (aws.Config, error) {
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithHTTPClient(app.AWSHTTPClient())}
	// Why the instance role was not asked for, if it was not.
	var skipped string
	switch v := getenv("AWS_EC2_METADATA_DISABLED"); {
	case v != "": // the SDK reads it too
		if strings.EqualFold(v, "true") {
			skipped = "AWS_EC2_METADATA_DISABLED is true, so no EC2 instance role was asked for."
		}
	case !onEC2(root):
		opts = append(opts, awsconfig.WithEC2IMDSClientEnableState(imds.ClientDisabled))
		skipped = "This machine does not look like an EC2 instance, so no instance role was asked for;\n" +
			"if it is one, set AWS_EC2_METADATA_DISABLED=false."
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Credentials == nil {
		return aws.Config{}, noCredentials(skipped)
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		// The SDK's chain ends at IMDS when nothing else is configured.
		var op *smithy.OperationError
		if !errors.As(err, &op) || op.ServiceID != imds.ServiceID {
			return aws.Config{}, fmt.Errorf("get AWS credentials: %w (with AWS IAM Identity Center, run `aws sso login` first)", err)
		}
		if skipped == "" {
			skipped = fmt.Sprintf("The EC2 instance metadata service gave no role: %v.", op.Err)
		}
		return aws.Config{}, noCredentials(skipped)
	}
	if cfg.Region == "" {
		return aws.Config{}, errors.New("no AWS region set: set AWS_REGION (for example AWS_REGION=us-east-1) or a region in your AWS profile (`aws configure`)")
	}
	return cfg, nil
}

// noCredentials says how to give labelwatch credentials; note says what
// became of the EC2 instance role.
func noCredentials(note string) error {
	msg := `no AWS credentials found. Provide them in one of these ways:
  - a profile: run ` + "`aws configure`" + ` (access keys) or ` + "`aws configure sso` and `aws sso login`" + `,
    and select it with AWS_PROFILE=NAME unless it is the default one;
  - environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
    (and AWS_SESSION_TOKEN with temporary credentials);
  - on AWS, the role of the EC2 instance or of the ECS or EKS task.
`
	if note != "" {
		msg += note + "\n"
	}
	return errors.New(msg + "To try labelwatch without an AWS account, run `labelwatch demo`.")
}

// onEC2 reports whether the file system root looks like that of an EC2
// instance, by the signs AWS documents ("Detect whether a host is an EC2
// instance"): a Nitro instance's board asset tag is its instance ID, a Xen
// instance's hypervisor or DMI system UUID starts with "ec2" (the DMI one is
// readable by root only). Nitro instances also name "Amazon EC2" as the
// system vendor, and Xen ones carry "amazon" in their BIOS version. Inside a
// container on EC2, /sys is usually the host's, so the same signs show.
func onEC2(root fs.FS) bool {
	read := func(name string) string {
		data, err := fs.ReadFile(root, name)
		if err != nil {
			return ""
		}
		return strings.ToLower(strings.TrimSpace(string(data)))
	}
	const dmi = "sys/devices/virtual/dmi/id/"
	return strings.HasPrefix(read(dmi+"board_asset_tag"), "i-") ||
		read(dmi+"sys_vendor") == "amazon ec2" ||
		strings.HasPrefix(read("sys/hypervisor/uuid"), "ec2") ||
		strings.HasPrefix(read(dmi+"product_uuid"), "ec2") ||
		strings.Contains(read(dmi+"bios_version"), "amazon")
}
