// Package app assembles the handler from the environment: configuration,
// SDK clients and the exporter. The Lambda entry point and the local CLI
// both start from here, so they run the very same code.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/session-audit/session-audit/internal/accounts"
	"github.com/session-audit/session-audit/internal/awsclients"
	"github.com/session-audit/session-audit/internal/config"
	"github.com/session-audit/session-audit/internal/digest"
	"github.com/session-audit/session-audit/internal/export"
	"github.com/session-audit/session-audit/internal/handler"
	"github.com/session-audit/session-audit/internal/nodes"
	"github.com/session-audit/session-audit/internal/sessions"
	"github.com/session-audit/session-audit/internal/store"
)

// ConfigError is a bad configuration: a variable with a bad value, or an
// AWS setting the SDK cannot load. Its message names the variable. The CLI
// exits 2 on it, the Lambda refuses to start.
type ConfigError struct{ Err error }

// Error says which setting is wrong.
func (e *ConfigError) Error() string { return "configuration: " + e.Err.Error() }

// Unwrap returns the cause.
func (e *ConfigError) Unwrap() error { return e.Err }

// ClientsFunc builds the SDK clients once the configuration is valid. Its
// errors are returned as they are: a ClientsFunc wraps the ones that are
// configuration errors in *ConfigError itself.
type ClientsFunc func(ctx context.Context, pathStyle bool) (awsclients.Clients, error)

// DefaultClients builds the clients from the SDK's default chain, with the
// SDK's own log lines sent through logger as JSON.
func DefaultClients(getenv func(string) string, logger *slog.Logger) ClientsFunc {
	return func(ctx context.Context, pathStyle bool) (awsclients.Clients, error) {
		c, err := awsclients.New(ctx, getenv, pathStyle, awsconfig.WithLogger(awsclients.SDKLogger(logger)))
		if err != nil {
			return awsclients.Clients{}, &ConfigError{err}
		}
		return c, nil
	}
}

// Load is the one path from an environment to what a handler is wired
// from, for the Lambda and for the CLI alike: the AUDIT_* variables read
// through getenv and validated first (nothing else is touched when one is
// bad), then the clients built by clients, then the region they use checked.
// A bad variable is a *ConfigError naming it.
func Load(ctx context.Context, getenv func(string) string, clients ClientsFunc) (config.Config, awsclients.Clients, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return config.Config{}, awsclients.Clients{}, &ConfigError{err}
	}
	c, err := clients(ctx, cfg.PathStyle)
	if err != nil {
		return config.Config{}, awsclients.Clients{}, err
	}
	if err := store.CheckRegion(c.Region); err != nil {
		return config.Config{}, awsclients.Clients{}, &ConfigError{fmt.Errorf("AWS_REGION: %w", err)}
	}
	return cfg, c, nil
}

// New is the Lambda's start-up: Load with the SDK's default chain, then
// Wire. The handler's runs write their CloudWatch EMF metrics to metricsOut
// and read the time from now. A bad variable is an error naming it.
func New(ctx context.Context, getenv func(string) string, logger *slog.Logger, metricsOut io.Writer, now func() time.Time) (*handler.Handler, error) {
	cfg, clients, err := Load(ctx, getenv, DefaultClients(getenv, logger))
	if err != nil {
		return nil, err
	}
	h := Wire(cfg, clients, logger, now)
	exp := h.Export.(*export.Exporter)
	exp.Metrics, exp.Function = metricsOut, getenv("AWS_LAMBDA_FUNCTION_NAME")
	return h, nil
}

// Wire builds the handler from a configuration and clients. now is the one
// clock of every time-dependent decision (which slots a run owes, the
// History horizon, exported_at); the Lambda passes time.Now, tests a fixed
// time.
func Wire(cfg config.Config, c awsclients.Clients, logger *slog.Logger, now func() time.Time) *handler.Handler {
	exp := &export.Exporter{
		SSM: c.SSM, S3: c.S3, Bucket: cfg.Bucket, Prefix: cfg.Prefix, Region: c.Region,
		Grid: cfg.Grid, Lookback: cfg.Lookback, Filters: cfg.Filters, Streams: cfg.Concurrency, Log: logger,
		Now: now,
	}
	if c.Throttles != nil {
		exp.Throttles = c.Throttles.Load
	}
	if cfg.Digests {
		w := &digest.Writer{S3: c.S3, Bucket: cfg.Bucket, Prefix: cfg.Prefix, Now: now}
		if cfg.DigestKey != "" {
			w.Signer = &digest.Signer{API: kms.NewFromConfig(c.Base.Config), KeyID: cfg.DigestKey}
		}
		exp.Digests = w
	}
	targets := awsclients.NewTargets(c.Base, c.SSM, c.Region, cfg.MemberRole, cfg.MemberExternalID)
	return &handler.Handler{
		Export: exp,
		Find:   sessions.Lookup,
		SSM: func(ctx context.Context, self handler.Self, account, region string) (sessions.API, error) {
			cl, err := targets.SSM(ctx, awsclients.Self(self), account, region)
			if err != nil {
				return nil, err
			}
			return cl, nil
		},
		Region:   c.Region,
		Now:      now,
		Log:      logger,
		Nodes:    nodeSnapshots(cfg, c, targets, logger, now),
		Accounts: ownAccount(cfg, c, now),
	}
}

// ownAccount writes the accounts table of single-account mode: the one
// account, its id alone (its name would need iam:ListAccountAliases, a
// permission the function does not have for a cosmetic). In org mode
// (AUDIT_MEMBER_ROLE set) it is nil: the org run's Plan writes the
// organization's accounts.
func ownAccount(cfg config.Config, c awsclients.Clients, now func() time.Time) func(context.Context, string) (string, error) {
	if cfg.MemberRole != "" {
		return nil
	}
	return func(ctx context.Context, account string) (string, error) {
		return accounts.Write(ctx, c.S3, cfg.Bucket, cfg.Prefix, now(), []accounts.Row{{AccountID: account}})
	}
}

// nodeSnapshots takes a target's node snapshot with the target's clients
// (the member role's credentials in another account), or answers "off"
// when AUDIT_NODES=false.
func nodeSnapshots(cfg config.Config, c awsclients.Clients, targets *awsclients.Targets, logger *slog.Logger, now func() time.Time) func(context.Context, handler.Self, string, string) nodes.Result {
	if !cfg.Nodes {
		return func(context.Context, handler.Self, string, string) nodes.Result {
			return nodes.Result{Status: nodes.Off}
		}
	}
	snap := &nodes.Snapshotter{S3: c.S3, Bucket: cfg.Bucket, Prefix: cfg.Prefix, Now: now, Log: logger}
	return func(ctx context.Context, self handler.Self, account, region string) nodes.Result {
		ssmc, err := targets.SSM(ctx, awsclients.Self(self), account, region)
		if err != nil {
			return nodes.Failed(err)
		}
		ec2c, err := targets.EC2(ctx, awsclients.Self(self), account, region)
		if err != nil {
			return nodes.Failed(err)
		}
		return snap.Take(ctx, nodes.Target{Account: account, Region: region, SSM: ssmc, EC2: ec2c})
	}
}
