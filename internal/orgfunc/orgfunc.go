// Package orgfunc is the org function: the Plan and Coverage steps of an
// organization run, behind one Lambda handler. The state machine calls it
// with {"phase": "plan", ...} before its Distributed Map and
// {"phase": "coverage", ...} after it. See docs/ARCHITECTURE.md.
package orgfunc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/session-audit/session-audit/internal/awsclients"
	"github.com/session-audit/session-audit/internal/coverage"
	"github.com/session-audit/session-audit/internal/digest"
	"github.com/session-audit/session-audit/internal/orgconfig"
	"github.com/session-audit/session-audit/internal/orgplan"
)

// PlanEvent is the Plan step's payload: the state machine's input, the
// execution's name (the run id) and start time.
type PlanEvent struct {
	Phase     string          `json:"phase"`
	RunID     string          `json:"runId"`
	StartedAt string          `json:"startedAt"`
	Input     json.RawMessage `json:"input"`
}

// CoverageEvent is the Coverage step's payload.
type CoverageEvent struct {
	Phase string `json:"phase"`
	coverage.Input
}

// Planner is the Plan step.
type Planner interface {
	Plan(ctx context.Context, runID string, startedAt time.Time, input json.RawMessage) (orgplan.Output, error)
}

// Reporter is the Coverage step.
type Reporter interface {
	Report(ctx context.Context, in coverage.Input) (coverage.Output, error)
}

// Handler dispatches the org function's two phases.
type Handler struct {
	Plan     Planner
	Coverage Reporter
	Log      *slog.Logger
}

// Handle decodes the payload strictly and runs its phase.
func (h *Handler) Handle(ctx context.Context, payload []byte) (any, error) {
	var head struct {
		Phase string `json:"phase"`
	}
	if err := json.Unmarshal(payload, &head); err != nil {
		return nil, fmt.Errorf("org function event is not a JSON object: %w", err)
	}
	switch head.Phase {
	case "plan":
		var ev PlanEvent
		if err := strict(payload, &ev); err != nil {
			return nil, fmt.Errorf("plan event: %w", err)
		}
		started, err := time.Parse(time.RFC3339Nano, ev.StartedAt)
		if err != nil {
			return nil, fmt.Errorf("plan event: startedAt %q is not an RFC 3339 time", ev.StartedAt)
		}
		if len(ev.Input) == 0 {
			return nil, errors.New("plan event: \"input\" (the state machine input) is missing")
		}
		out, err := h.Plan.Plan(ctx, ev.RunID, started, ev.Input)
		if err != nil {
			return nil, fmt.Errorf("plan %s: %w", ev.RunID, err)
		}
		h.Log.Info("planned", "runId", out.RunID, "mode", out.Mode, "targets", out.Targets, "items", out.Count, "key", out.Key)
		return out, nil
	case "coverage":
		var ev CoverageEvent
		if err := strict(payload, &ev); err != nil {
			return nil, fmt.Errorf("coverage event: %w", err)
		}
		out, err := h.Coverage.Report(ctx, ev.Input)
		h.Log.Info("coverage", "runId", ev.RunID, "key", out.Key, "targets", out.Targets, "exported", out.Exported,
			"denied", out.Denied, "regionDisabled", out.RegionDisabled, "failed", out.Failed)
		if err != nil {
			return nil, fmt.Errorf("coverage %s: %w", ev.RunID, err)
		}
		return out, nil
	case "":
		return nil, errors.New("org function event has no \"phase\"; want \"plan\" or \"coverage\"")
	default:
		return nil, fmt.Errorf("org function event phase %q is neither \"plan\" nor \"coverage\"", head.Phase)
	}
}

// Invoke implements lambda.Handler: it answers the JSON of Handle's result.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	out, err := h.Handle(ctx, payload)
	if err != nil {
		return nil, err
	}
	return json.Marshal(out)
}

func strict(payload []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON object")
	}
	return nil
}

// New reads the configuration through getenv, builds the clients and the
// handler. EMF metrics go to metricsOut; now is the clock. Organizations is
// reached through AUDIT_ORG_ROLE_ARN, assumed with the function's own
// credentials. optFns adjust the SDK's default configuration (tests).
func New(ctx context.Context, getenv func(string) string, logger *slog.Logger, metricsOut io.Writer, now func() time.Time, optFns ...func(*config.LoadOptions) error) (*Handler, error) {
	cfg, err := orgconfig.Load(getenv)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	awsCfg, err := awsclients.LoadConfig(ctx, getenv, []string{"S3", "STS", "ORGANIZATIONS", "KMS"}, optFns...)
	if err != nil {
		return nil, err
	}
	s3c := s3.NewFromConfig(awsCfg, awsclients.S3BodyWorkaround, func(o *s3.Options) { o.UsePathStyle = cfg.Export.PathStyle })
	var org orgplan.OrgAPI
	if cfg.OrgRoleARN != "" {
		org = OrganizationsClient(awsCfg, sts.NewFromConfig(awsCfg), cfg.OrgRoleARN)
	}
	h := Wire(cfg, s3c, org, logger, metricsOut, getenv("AWS_LAMBDA_FUNCTION_NAME"), now)
	// The run's digest is on the chain of the function's own account (from
	// its ARN at each invocation) and region.
	h.UseDigests(cfg, s3c, kms.NewFromConfig(awsCfg), "", awsCfg.Region, now)
	return h, nil
}

// UseDigests makes Coverage write each run's one digest, named by the run
// id, on the chain of account ("" = the invoked function's) and region,
// when cfg has digests on (AUDIT_DIGESTS); signAPI signs it when cfg names
// a key (AUDIT_DIGEST_KEY). In an organization run the exporter writes
// none (the stack sets its AUDIT_DIGESTS off).
func (h *Handler) UseDigests(cfg orgconfig.Config, s3c digest.S3API, signAPI digest.SignAPI, account, region string, now func() time.Time) {
	rep, ok := h.Coverage.(*coverage.Reporter)
	if !ok || !cfg.Export.Digests {
		return
	}
	w := &digest.Writer{S3: s3c, Bucket: cfg.Export.Bucket, Prefix: cfg.Export.Prefix, Now: now}
	if cfg.Export.DigestKey != "" {
		w.Signer = &digest.Signer{API: signAPI, KeyID: cfg.Export.DigestKey}
	}
	rep.Digests, rep.Account, rep.Region = w, account, region
}

// OrganizationsClient is an Organizations client whose credentials are
// those of roleARN (the management account's listing role), assumed through
// stsAPI and cached until shortly before they expire.
func OrganizationsClient(awsCfg aws.Config, stsAPI stscreds.AssumeRoleAPIClient, roleARN string, optFns ...func(*organizations.Options)) *organizations.Client {
	creds := stscreds.NewAssumeRoleProvider(stsAPI, roleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = "session-audit-org"
	})
	opts := append([]func(*organizations.Options){func(o *organizations.Options) { o.Credentials = aws.NewCredentialsCache(creds) }}, optFns...)
	return organizations.NewFromConfig(awsCfg, opts...)
}

// Wire builds the handler from a configuration and clients (org is used
// only when cfg lists the organization).
func Wire(cfg orgconfig.Config, s3c coverage.API, org orgplan.OrgAPI, logger *slog.Logger, metricsOut io.Writer, function string, now func() time.Time) *Handler {
	var src orgplan.Source = orgplan.Fixed(cfg.Accounts)
	if cfg.OrgRoleARN != "" {
		src = orgplan.Organization{API: org, OUs: cfg.OUs}
	}
	e := cfg.Export
	return &Handler{
		Plan: &orgplan.Planner{
			Source: src, Exclude: cfg.Exclude, Regions: cfg.Regions, Grid: e.Grid, Lookback: e.Lookback,
			Bucket: e.Bucket, Prefix: e.Prefix, S3: s3c, Now: now,
		},
		Coverage: &coverage.Reporter{Bucket: e.Bucket, Prefix: e.Prefix, S3: s3c, Metrics: metricsOut, Function: function, Now: now},
		Log:      logger,
	}
}
