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

	"github.com/session-audit/session-audit/internal/awsclients"
	"github.com/session-audit/session-audit/internal/config"
	"github.com/session-audit/session-audit/internal/export"
	"github.com/session-audit/session-audit/internal/handler"
	"github.com/session-audit/session-audit/internal/sessions"
	"github.com/session-audit/session-audit/internal/store"
)

// New reads the configuration through getenv, builds the clients and
// returns the handler, whose runs write their CloudWatch EMF metrics to
// metricsOut and read the time from now. A bad variable is an error naming
// it.
func New(ctx context.Context, getenv func(string) string, logger *slog.Logger, metricsOut io.Writer, now func() time.Time) (*handler.Handler, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	clients, err := awsclients.New(ctx, getenv, cfg.PathStyle)
	if err != nil {
		return nil, err
	}
	if err := store.CheckRegion(clients.Region); err != nil {
		return nil, fmt.Errorf("AWS_REGION: %w", err)
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
		Region: c.Region,
		Now:    now,
		Log:    logger,
	}
}
