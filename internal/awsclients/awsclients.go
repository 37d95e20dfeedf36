// Package awsclients builds the SSM and S3 clients from the SDK's default
// configuration chain (AWS_REGION, credentials, AWS_ENDPOINT_URL_SSM,
// AWS_ENDPOINT_URL_S3, ...) with the retry policy of the export.
package awsclients

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// MaxAttempts is how often one call is tried. Sustained throttling is
// expected on large exports, so it is well above the SDK's default of 3;
// the invocation deadline bounds the whole run anyway.
const MaxAttempts = 12

// MaxBackoff caps the wait between two attempts.
const MaxBackoff = 10 * time.Second

// Clients are the SDK clients the function uses.
type Clients struct {
	SSM    *ssm.Client
	S3     *s3.Client
	Region string
}

// Retryer is the retry policy of every client: adaptive mode, whose
// client-side rate limiter is shared by all calls of a client, so that all
// concurrent page streams back off together when SSM throttles.
func Retryer() aws.Retryer {
	return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
		o.StandardOptions = append(o.StandardOptions, func(so *retry.StandardOptions) {
			so.MaxAttempts = MaxAttempts
			so.MaxBackoff = MaxBackoff
		})
	})
}

// New loads the default configuration and builds the clients. pathStyle
// selects path-style S3 addressing, for local S3 servers.
func New(ctx context.Context, pathStyle bool, optFns ...func(*config.LoadOptions) error) (Clients, error) {
	opts := append([]func(*config.LoadOptions) error{config.WithRetryer(Retryer)}, optFns...)
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return Clients{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return Clients{}, fmt.Errorf("AWS_REGION is not set and no profile names a region")
	}
	return Clients{
		SSM:    ssm.NewFromConfig(cfg),
		S3:     s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = pathStyle }),
		Region: cfg.Region,
	}, nil
}
