package app

import (
	"fmt"
	"log/slog"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/labelwatch/labelwatch/internal/clock"
	"github.com/labelwatch/labelwatch/internal/config"
	"github.com/labelwatch/labelwatch/internal/state"
	"github.com/labelwatch/labelwatch/internal/watch"
)

// openSources builds the watchers of every source beside the function's
// own account and region: the account's other regions (REGIONS), keyed by
// region, and each account of ACCOUNT_ROLES in the function's region and in
// REGIONS, keyed by "account/region". Each source is its own: a SageMaker
// client that signs for its region, with the credentials of its account's
// role, and a store scoped to it, so its cursor and first run are its own
// and a job name in two sources is two jobs; their messages share lanes.
// The function's own region of its own account keeps the table's keys as
// they were (scope ""): an upgrade reads the table as it is. A source's key
// is its store's scope: a poll reads every source's cursor at once by
// these keys (Handler.poll).
func openSources(cfg config.Config, awsCfg aws.Config, store *state.DynamoStore, notifier watch.Notifier, log *slog.Logger, lanes *watch.Lanes) (map[string]*watch.Watcher, error) {
	regions := append([]string{awsCfg.Region}, slices.DeleteFunc(slices.Clone(cfg.Regions), func(r string) bool { return r == awsCfg.Region })...)
	sources := map[string]*watch.Watcher{}
	add := func(key string, creds aws.CredentialsProvider, region string, attrs ...any) error {
		scoped, err := store.Scope(key)
		if err != nil {
			return fmt.Errorf("source %s: %w", key, err)
		}
		sourceCfg := awsCfg.Copy()
		sourceCfg.Region = region
		if creds != nil {
			sourceCfg.Credentials = creds
		}
		sources[key] = newWatcher(cfg, sourceCfg, scoped, notifier, log.With(attrs...), clock.System{}, lanes)
		return nil
	}
	for _, region := range regions[1:] {
		if err := add(region, nil, region, "region", region); err != nil {
			return nil, err
		}
	}
	stsClient := sts.NewFromConfig(awsCfg)
	for _, role := range cfg.AccountRoles {
		parsed, err := arn.Parse(role)
		if err != nil {
			return nil, fmt.Errorf("account role %s: %w", role, err)
		}
		// One provider per account, shared by its regions: the SDK caches
		// the role's credentials and refreshes them before they expire.
		creds := aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsClient, role, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = "labelwatch"
			if cfg.ExternalID != "" {
				o.ExternalID = aws.String(cfg.ExternalID)
			}
		}))
		for _, region := range regions {
			if err := add(parsed.AccountID+"/"+region, creds, region, "account", parsed.AccountID, "region", region); err != nil {
				return nil, err
			}
		}
	}
	return sources, nil
}
