package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/session-audit/session-audit/internal/archive"
	"github.com/session-audit/session-audit/internal/export"
)

// Exporter runs the two kinds of export.
type Exporter interface {
	Scheduled(ctx context.Context, account string, t time.Time) (export.Result, error)
	Backfill(ctx context.Context, account string, start, end time.Time) (export.Result, error)
}

// Finder looks one session up by id; nil means no such session.
type Finder func(ctx context.Context, id string) (*types.Session, error)

// Handler is the Lambda handler.
type Handler struct {
	Export Exporter
	Find   Finder
	Region string
	Now    func() time.Time
}

// LookupResponse answers a lookup: the session, if found, with the Parquet
// column names.
type LookupResponse struct {
	Mode     string        `json:"mode"`
	Sessions []archive.Row `json:"sessions"`
}

// functionARN matches a Lambda function ARN and captures its account.
var functionARN = regexp.MustCompile(`^arn:aws[a-z-]*:lambda:[a-z0-9-]+:([0-9]{12}):function:`)

// Account is the account id of the invoked function, from the Lambda
// context's function ARN: no STS call is made.
func Account(ctx context.Context) (string, error) {
	lc, ok := lambdacontext.FromContext(ctx)
	if !ok {
		return "", errors.New("no Lambda context: the account id comes from the invoked function's ARN")
	}
	m := functionARN.FindStringSubmatch(lc.InvokedFunctionArn)
	if m == nil {
		return "", fmt.Errorf("invoked function ARN %q does not name an account", lc.InvokedFunctionArn)
	}
	return m[1], nil
}

// Handle decodes the event, runs it and returns the response. A bad event
// is an error and writes nothing.
func (h *Handler) Handle(ctx context.Context, event json.RawMessage) (any, error) {
	req, err := Decode(event)
	if err != nil {
		return nil, fmt.Errorf("bad event: %w", err)
	}
	if req.Kind == KindLookup {
		return h.lookup(ctx, req.SessionID)
	}
	account, err := Account(ctx)
	if err != nil {
		return nil, err
	}
	var res export.Result
	if req.Kind == KindScheduled {
		res, err = h.Export.Scheduled(ctx, account, req.Time)
	} else {
		res, err = h.Export.Backfill(ctx, account, req.Start, req.End)
	}
	if err != nil {
		return nil, fmt.Errorf("%s run: %w", req.Kind, err)
	}
	return res, nil
}

func (h *Handler) lookup(ctx context.Context, id string) (LookupResponse, error) {
	s, err := h.Find(ctx, id)
	if err != nil {
		return LookupResponse{}, fmt.Errorf("lookup %s: %w", id, err)
	}
	res := LookupResponse{Mode: string(KindLookup), Sessions: []archive.Row{}}
	if s != nil {
		account, _ := Account(ctx) // best effort: a lookup needs no account
		now := time.Now
		if h.Now != nil {
			now = h.Now
		}
		res.Sessions = append(res.Sessions, archive.FromSession(*s, archive.Origin{AccountID: account, Region: h.Region, ExportedAt: now()}))
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
