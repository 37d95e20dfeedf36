// Package awsclients builds the SSM, S3, STS and EC2 clients from the SDK's
// default configuration chain (AWS_REGION, credentials, AWS_ENDPOINT_URL_SSM,
// AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL_EC2, ...) with
// the retry policy of the export.
package awsclients

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/logging"
)

// SDKLogger sends the SDK's own log lines (such as its WARN about response
// checksums) through logger, so that they are JSON like every other line of
// the function or the CLI, instead of the plain "SDK ..." lines the SDK
// writes to stderr by default. A nil logger means slog.Default() at the time
// of each line.
func SDKLogger(logger *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		level := slog.LevelDebug
		if c == logging.Warn {
			level = slog.LevelWarn
		}
		l := logger
		if l == nil {
			l = slog.Default()
		}
		l.Log(context.Background(), level, fmt.Sprintf(format, v...), "source", "aws-sdk")
	})
}

// Clients are the SDK clients the function uses.
type Clients struct {
	SSM *ssm.Client
	S3  *s3.Client
	// STS answers GetCallerIdentity for the CLI (the Lambda reads its
	// account from its ARN); nil for clients that do not need it.
	STS    *sts.Client
	Region string
	// Throttles counts the throttling answers the clients have retried.
	Throttles *atomic.Int64
	// Base derives the clients of other targets (NewTargets).
	Base Base
}

// CheckEndpoints applies CheckEndpoint to AWS_ENDPOINT_URL and to the
// endpoint variable of each service named (as in AWS_ENDPOINT_URL_<ID>,
// e.g. "SSM", "S3", "STS", "ATHENA"), read through getenv: every variable
// that can point a function's clients somewhere other than AWS.
func CheckEndpoints(getenv func(string) string, services ...string) error {
	names := []string{"AWS_ENDPOINT_URL"}
	for _, s := range services {
		names = append(names, "AWS_ENDPOINT_URL_"+s)
	}
	for _, name := range names {
		if v := getenv(name); v != "" {
			if err := CheckEndpoint(name, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// LoadConfig is how every function loads its AWS configuration: the
// endpoint variables of the services it calls checked (CheckEndpoints), the
// SDK's default chain loaded with the SDK's log lines as JSON through
// slog.Default() unless optFns set another logger, and a region required.
func LoadConfig(ctx context.Context, getenv func(string) string, services []string, optFns ...func(*config.LoadOptions) error) (aws.Config, error) {
	if err := CheckEndpoints(getenv, services...); err != nil {
		return aws.Config{}, err
	}
	opts := append([]func(*config.LoadOptions) error{config.WithLogger(SDKLogger(nil))}, optFns...)
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, fmt.Errorf("AWS_REGION is not set and no profile names a region")
	}
	return cfg, nil
}

// S3BodyWorkaround puts the closed-body workaround (ReadOnlyBodies) on the
// HTTP client an S3 client resolved; S3 uploads are where the race bites.
func S3BodyWorkaround(o *s3.Options) { o.HTTPClient = ReadOnlyBodies(o.HTTPClient) }

// CheckEndpoint refuses an endpoint that would send requests, signed with
// real credentials, in clear text over a network: plain HTTP is accepted
// only to loopback addresses and to host.docker.internal (how the container
// of `sam local invoke` reaches emulators on the developer's machine).
func CheckEndpoint(name, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%s %q is not an absolute URL", name, raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); (ip != nil && ip.IsLoopback()) || host == "localhost" || host == "host.docker.internal" {
			return nil
		}
		return fmt.Errorf("%s %q is plain HTTP to a host that is not loopback; use https", name, raw)
	default:
		return fmt.Errorf("%s %q is neither https nor http", name, raw)
	}
}

// New loads the default configuration and builds the clients, all three
// from the same configuration (so AWS_ENDPOINT_URL_STS is honoured like the
// others). pathStyle selects path-style S3 addressing, for local S3 servers.
// Endpoints set in the environment (read through getenv) are checked with
// CheckEndpoint. The SDK's log lines go to slog.Default() unless optFns set
// another logger (config.WithLogger(SDKLogger(l))).
func New(ctx context.Context, getenv func(string) string, pathStyle bool, optFns ...func(*config.LoadOptions) error) (Clients, error) {
	throttles := new(atomic.Int64)
	opts := append([]func(*config.LoadOptions) error{config.WithRetryer(Retryer(throttles))}, optFns...)
	cfg, err := LoadConfig(ctx, getenv, []string{"SSM", "S3", "STS", "EC2"}, opts...)
	if err != nil {
		return Clients{}, err
	}
	return Clients{
		// Options run after each client resolved its HTTP client (with the
		// defaults mode's timeouts): wrap that one.
		SSM:       ssm.NewFromConfig(cfg, wrapSSM),
		S3:        s3.NewFromConfig(cfg, S3BodyWorkaround, func(o *s3.Options) { o.UsePathStyle = pathStyle }),
		STS:       sts.NewFromConfig(cfg, wrapSTS),
		Region:    cfg.Region,
		Throttles: throttles,
		Base:      Base{Config: cfg, SSM: []func(*ssm.Options){wrapSSM}, STS: []func(*sts.Options){wrapSTS}, EC2: []func(*ec2.Options){wrapEC2}},
	}, nil
}

// wrapSSM and wrapSTS put the closed-body workaround (ReadOnlyBodies) on
// the HTTP client each client resolved, for the clients of every target.
func wrapSSM(o *ssm.Options) { o.HTTPClient = ReadOnlyBodies(o.HTTPClient) }

func wrapSTS(o *sts.Options) { o.HTTPClient = ReadOnlyBodies(o.HTTPClient) }

func wrapEC2(o *ec2.Options) { o.HTTPClient = ReadOnlyBodies(o.HTTPClient) }
