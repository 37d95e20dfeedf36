// Package orgrun runs one organization run end to end without Step
// Functions: Plan (the org function), every item through the exporter with
// bounded concurrency (internal/localmap, as the Distributed Map would), then
// Coverage (the org function again), and reads the coverage records back.
// The local CLI's org command and the org end-to-end test use it; in AWS the
// state machine does the same (docs/ARCHITECTURE.md).
package orgrun

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/session-audit/session-audit/internal/coverage"
	"github.com/session-audit/session-audit/internal/localmap"
	"github.com/session-audit/session-audit/internal/orgplan"
)

// OrgFunction is the org function's handler (orgfunc.Handler).
type OrgFunction interface {
	Handle(ctx context.Context, payload []byte) (any, error)
}

// Runner runs organization runs.
type Runner struct {
	Org         OrgFunction
	Export      localmap.Invoke // the exporter, one item's {"event": ...} at a time
	S3          localmap.API
	Bucket      string
	Prefix      string
	Concurrency int
	Account     string // the central account, for the result files' ARNs
	Region      string
	Now         func() time.Time
}

// Result is what a run did.
type Result struct {
	Plan     orgplan.Output
	Coverage coverage.Output
	Records  []coverage.Record
}

// Run plans the run named runID for the state machine input, exports every
// item, and writes and reads back its coverage. A failed target makes the
// returned error non-nil, with the Result still filled in.
func (r *Runner) Run(ctx context.Context, runID string, input json.RawMessage) (Result, error) {
	var res Result
	// The org function runs in a Lambda context naming its own ARN, as in
	// AWS (Coverage's digest is on its account's chain).
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{
		InvokedFunctionArn: "arn:aws:lambda:" + r.Region + ":" + r.Account + ":function:session-audit-org"})
	payload, _ := json.Marshal(map[string]any{"phase": "plan", "runId": runID, "startedAt": r.Now().UTC().Format(time.RFC3339Nano), "input": input})
	out, err := r.Org.Handle(ctx, payload)
	if err != nil {
		return res, err
	}
	if err := remarshal(out, &res.Plan); err != nil {
		return res, fmt.Errorf("plan output: %w", err)
	}
	m := &localmap.Runner{S3: r.S3, Bucket: r.Bucket, Prefix: r.Prefix, Concurrency: r.Concurrency, MapRunID: runID + "-map", Account: r.Account, Region: r.Region, Now: r.Now}
	details, err := m.Run(ctx, res.Plan.Key, r.Export)
	if err != nil {
		return res, fmt.Errorf("exports: %w", err)
	}
	payload, _ = json.Marshal(map[string]any{"phase": "coverage", "runId": runID, "runTime": res.Plan.RunTime, "itemsKey": res.Plan.Key, "resultWriterDetails": details})
	out, covErr := r.Org.Handle(ctx, payload)
	if covErr == nil {
		if err := remarshal(out, &res.Coverage); err != nil {
			return res, fmt.Errorf("coverage output: %w", err)
		}
	}
	runTime, err := time.Parse(time.RFC3339, res.Plan.RunTime)
	if err != nil {
		return res, fmt.Errorf("plan run time: %w", err)
	}
	key := coverage.Key(r.Prefix, runTime, runID)
	obj, err := r.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(r.Bucket), Key: aws.String(key)})
	if err != nil {
		if covErr != nil {
			return res, covErr
		}
		return res, fmt.Errorf("read coverage s3://%s/%s: %w", r.Bucket, key, err)
	}
	defer obj.Body.Close()
	sc := bufio.NewScanner(obj.Body)
	for sc.Scan() {
		var rec coverage.Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return res, fmt.Errorf("coverage record: %w", err)
		}
		res.Records = append(res.Records, rec)
	}
	if err := sc.Err(); err != nil {
		return res, fmt.Errorf("read coverage: %w", err)
	}
	res.Coverage.Key = key
	return res, covErr
}

func remarshal(in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.NewDecoder(bytes.NewReader(b)).Decode(out)
}
