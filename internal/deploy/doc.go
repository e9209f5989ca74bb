// Package deploy holds no code. Its tests check the deployment files at the
// repository root (template.yaml, samconfig.toml, events/) against the SAM
// schema, the project's deploy conventions and the AWS calls the code makes.
package deploy
