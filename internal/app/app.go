// Package app assembles the handler from the environment: configuration,
// SDK clients and the exporter. The Lambda entry point and the local CLI
// both start from here, so they run the very same code.
package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/session-audit/session-audit/internal/awsclients"
	"github.com/session-audit/session-audit/internal/config"
	"github.com/session-audit/session-audit/internal/export"
	"github.com/session-audit/session-audit/internal/handler"
	"github.com/session-audit/session-audit/internal/sessions"
)

// New reads the configuration through getenv, builds the clients and
// returns the handler. A bad variable is an error naming it.
func New(ctx context.Context, getenv func(string) string, logger *slog.Logger) (*handler.Handler, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	clients, err := awsclients.New(ctx, cfg.PathStyle)
	if err != nil {
		return nil, err
	}
	return Wire(cfg, clients, logger), nil
}

// Wire builds the handler from a configuration and clients.
func Wire(cfg config.Config, c awsclients.Clients, logger *slog.Logger) *handler.Handler {
	exp := &export.Exporter{
		SSM: c.SSM, S3: c.S3, Bucket: cfg.Bucket, Prefix: cfg.Prefix, Region: c.Region,
		Grid: cfg.Grid, Lookback: cfg.Lookback, Filters: cfg.Filters, Streams: cfg.Concurrency, Log: logger,
	}
	return &handler.Handler{
		Export: exp,
		Find: func(ctx context.Context, id string) (*types.Session, error) {
			return sessions.Lookup(ctx, c.SSM, id)
		},
		Region: c.Region,
	}
}
