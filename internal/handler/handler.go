package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/session-audit/session-audit/internal/archive"
	"github.com/session-audit/session-audit/internal/export"
	"github.com/session-audit/session-audit/internal/nodes"
	"github.com/session-audit/session-audit/internal/outcome"
	"github.com/session-audit/session-audit/internal/sessions"
)

// Exporter runs the two kinds of export of a target.
type Exporter interface {
	Scheduled(ctx context.Context, tg export.Target, t time.Time) (export.Result, error)
	Backfill(ctx context.Context, tg export.Target, start, end time.Time) (export.Result, error)
}

// Finder looks one session up by id through api; nil means no such session.
type Finder func(ctx context.Context, api sessions.API, id string) (*types.Session, error)

// Clients returns the SSM client of the target (account, region) for the
// invoked function self. An error that holds AccessDenied from STS means
// the member role refused this function.
type Clients func(ctx context.Context, self Self, account, region string) (sessions.API, error)

// Handler is the Lambda handler.
type Handler struct {
	Export Exporter
	Find   Finder
	SSM    Clients
	// Region is the function's own region: the target's without "region".
	Region string
	Now    func() time.Time
	// Log receives a line per refused target; nil means slog.Default().
	Log *slog.Logger
	// Nodes, when set, takes the node snapshot of the target of a
	// scheduled run once its sessions are exported; its result is the
	// response's "nodes". A snapshot never fails the run.
	Nodes func(ctx context.Context, self Self, account, region string) nodes.Result
	// Accounts, when set (single-account mode), writes the accounts table
	// of the target's account after a scheduled run; a failure is logged
	// and does not fail the run.
	Accounts func(ctx context.Context, account string) (key string, err error)
}

// LookupResponse answers a lookup: the session, if found, with the Parquet
// column names, and the target it was looked up in.
type LookupResponse struct {
	Mode     string        `json:"mode"`
	Sessions []archive.Row `json:"sessions"`
	Account  string        `json:"account"`
	Region   string        `json:"region"`
	// Status is set only when the target refused the lookup.
	Status outcome.Status `json:"status,omitempty"`
	Error  string         `json:"error,omitempty"`
}

// Self is the invoked function, from its ARN in the Lambda context.
type Self struct {
	Partition string // aws, aws-cn, aws-us-gov, ...
	Account   string
	Function  string
}

// functionARN matches a Lambda function ARN and captures its partition,
// account and function name.
var functionARN = regexp.MustCompile(`^arn:(aws[a-z-]*):lambda:[a-z0-9-]+:([0-9]{12}):function:([A-Za-z0-9_-]+)`)

// SelfOf reads the invoked function from the Lambda context's function
// ARN: no STS call is made.
func SelfOf(ctx context.Context) (Self, error) {
	lc, ok := lambdacontext.FromContext(ctx)
	if !ok {
		return Self{}, errors.New("no Lambda context: the account id comes from the invoked function's ARN")
	}
	m := functionARN.FindStringSubmatch(lc.InvokedFunctionArn)
	if m == nil {
		return Self{}, fmt.Errorf("invoked function ARN %q does not name an account", lc.InvokedFunctionArn)
	}
	return Self{Partition: m[1], Account: m[2], Function: m[3]}, nil
}

// Account is the account id of the invoked function, from the Lambda
// context's function ARN: no STS call is made.
func Account(ctx context.Context) (string, error) {
	self, err := SelfOf(ctx)
	return self.Account, err
}

// Handle decodes the event, runs it against its target and returns the
// response. A bad event is an error and writes nothing; so is a target
// that fails, and the error names it. A target that AWS refuses (see
// package outcome) is a response with its status, and writes nothing.
func (h *Handler) Handle(ctx context.Context, event json.RawMessage) (any, error) {
	req, err := Decode(event)
	if err != nil {
		return nil, fmt.Errorf("bad event: %w", err)
	}
	self, selfErr := SelfOf(ctx)
	if req.Kind == KindLookup {
		return h.lookup(ctx, self, req)
	}
	if selfErr != nil {
		return nil, selfErr
	}
	account, region := h.target(self, req)
	resp := export.Result{Mode: string(req.Kind), Slots: []export.SlotResult{}, Account: account, Region: region}
	api, err := h.SSM(ctx, self, account, region)
	if err != nil {
		if st, ok := outcome.RefusedRole(err); ok {
			return h.refused(resp, st, err), nil
		}
		return nil, fmt.Errorf("%s run of account %s region %s: %w", req.Kind, account, region, err)
	}
	tg := export.Target{Account: account, Region: region, SSM: api}
	var res export.Result
	if req.Kind == KindScheduled {
		res, err = h.Export.Scheduled(ctx, tg, req.Time)
	} else {
		res, err = h.Export.Backfill(ctx, tg, req.Start, req.End)
	}
	if err != nil {
		// A refusal at the first call wrote nothing; one after written
		// slots (a role removed mid-run) is a failure like any other.
		if st, ok := outcome.Refused(err); ok && len(res.Slots) == 0 {
			return h.refused(resp, st, err), nil
		}
		return nil, fmt.Errorf("%s run of account %s region %s: %w", req.Kind, account, region, err)
	}
	if req.Kind == KindScheduled && h.Nodes != nil {
		snap := h.Nodes(ctx, self, account, region)
		res.Nodes = &snap
	}
	if req.Kind == KindScheduled && h.Accounts != nil {
		key, err := h.Accounts(ctx, account)
		res.Accounts = key
		if err != nil {
			h.log().Warn("accounts file not written; the sessions are exported all the same", "account", account, "error", err.Error())
		}
	}
	return res, nil
}

// target is the account and region the request names, else the
// function's own.
func (h *Handler) target(self Self, req Request) (account, region string) {
	if req.Account != "" {
		return req.Account, req.Region
	}
	return self.Account, h.Region
}

func (h *Handler) refused(resp export.Result, st outcome.Status, err error) export.Result {
	resp.Status, resp.Error = st, outcome.Message(err)
	h.log().Warn("target refused; nothing written", "account", resp.Account, "region", resp.Region,
		"status", string(st), "error", err.Error())
	return resp
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}

func (h *Handler) lookup(ctx context.Context, self Self, req Request) (LookupResponse, error) {
	// Without a Lambda context self is empty: a lookup of the function's own
	// target needs no account.
	account, region := h.target(self, req)
	res := LookupResponse{Mode: string(KindLookup), Sessions: []archive.Row{}, Account: account, Region: region}
	// The member role's refusals (AccessDenied, RegionDisabledException) as
	// for an export: InvalidClientTokenId from STS, in the function's own
	// region, means the function's own credentials were refused, a failure.
	refused := outcome.RefusedRole
	api, err := h.SSM(ctx, self, account, region)
	if err == nil {
		refused = outcome.Refused
		var s *types.Session
		s, err = h.Find(ctx, api, req.SessionID)
		if err == nil && s != nil {
			now := time.Now
			if h.Now != nil {
				now = h.Now
			}
			res.Sessions = append(res.Sessions, archive.FromSession(*s, archive.Origin{AccountID: account, Region: region, ExportedAt: now()}))
		}
	}
	if err != nil {
		if st, ok := refused(err); ok {
			res.Status, res.Error = st, outcome.Message(err)
			h.log().Warn("target refused the lookup", "account", account, "region", region, "status", string(st), "error", err.Error())
			return res, nil
		}
		return LookupResponse{}, fmt.Errorf("lookup %s in account %s region %s: %w", req.SessionID, account, region, err)
	}
	return res, nil
}

// Invoke makes Handler a lambda.Handler, so the runtime hands over the
// payload as it came: malformed JSON then reaches Decode and is answered
// "bad event: event is not valid JSON: ...", rather than with the bare
// decoder error aws-lambda-go returns before calling a typed handler.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	res, err := h.Handle(ctx, payload)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // as aws-lambda-go encodes responses
	if err := enc.Encode(res); err != nil {
		return nil, fmt.Errorf("encode response: %w", err)
	}
	return buf.Bytes(), nil
}
