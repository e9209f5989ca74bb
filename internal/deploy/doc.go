// Package deploy holds no code. Its tests check the deployment files at the
// repository root (template.yaml, samconfig.toml, events/): the template with
// cfn-lint and with what the SAM translator makes of it, and all of them
// against the project's deploy conventions and the AWS calls the code makes.
package deploy
