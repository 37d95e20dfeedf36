// Package coverage is the Coverage step of an organization run: it reads
// what the state machine's Distributed Map wrote (the ResultWriter's
// manifest.json and its SUCCEEDED_/FAILED_/PENDING_ result files), writes
// one coverage record per target (account and region) to
// <prefix>/coverage/dt=YYYY-MM-DD/<run id>.json, emits EMF metrics, and
// fails when any target failed, so the execution fails and its alarm
// fires. See docs/ARCHITECTURE.md.
package coverage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/session-audit/session-audit/internal/metrics"
	"github.com/session-audit/session-audit/internal/orgplan"
	"github.com/session-audit/session-audit/internal/outcome"
)

// Target statuses in coverage records. The first three are the exporter's
// own (its response's "status"); failed is an invocation that ended in an
// error after the Map's retries, or never ran.
const (
	StatusExported       = string(outcome.Exported)
	StatusDenied         = string(outcome.Denied)
	StatusRegionDisabled = string(outcome.RegionDisabled)
	StatusFailed         = "failed"
)

// Record is one line of a coverage file: the outcome of one target in one
// run.
type Record struct {
	RunID      string `json:"run_id"`
	RunTime    string `json:"run_time"`
	AccountID  string `json:"account_id"`
	Region     string `json:"region"`
	Status     string `json:"status"`
	Slots      int    `json:"slots"`
	Rows       int64  `json:"rows"`
	Error      string `json:"error"`
	FinishedAt string `json:"finished_at"`
	// Nodes is the target's node snapshot in this run: written, missing
	// or off (the exporter's "nodes"), "" when the run took none (a
	// backfill, or a target that was not exported).
	Nodes string `json:"nodes"`
	// NodesError says why the snapshot is missing.
	NodesError string `json:"nodes_error"`
}

// Input is what the state machine passes to Coverage.
type Input struct {
	RunID               string              `json:"runId"`
	RunTime             string              `json:"runTime"`
	ItemsKey            string              `json:"itemsKey"`
	ResultWriterDetails ResultWriterDetails `json:"resultWriterDetails"`
}

// Output is what Coverage returns when no target failed.
type Output struct {
	Key            string `json:"key"`
	Targets        int    `json:"targets"`
	Exported       int    `json:"exported"`
	Denied         int    `json:"denied"`
	RegionDisabled int    `json:"regionDisabled"`
	Failed         int    `json:"failed"`
	// NodesMissing counts the exported targets whose node snapshot is
	// missing (they are not failed: their sessions were exported).
	NodesMissing int `json:"nodesMissing"`
	// Unattributed counts the results that carry no input (the service
	// left it out), so that name no target; each target they belonged to
	// is failed for a missing result.
	Unattributed int `json:"unattributed"`
	// Digest is the key of the run's digest; "" when no manifest was
	// written or no digest writer is configured.
	Digest string `json:"digest,omitempty"`
}

// DigestRecorder writes one run's digest (digest.Writer).
type DigestRecorder interface {
	RecordRun(ctx context.Context, account, region, runID string, keys []string) (string, error)
}

// API is what Coverage needs of S3: read the results, write the records.
type API interface {
	GetAPI
	orgplan.PutAPI
}

// Reporter writes coverage.
type Reporter struct {
	Bucket   string
	Prefix   string
	S3       API
	Metrics  io.Writer // EMF lines; nil writes none
	Function string    // the FunctionName metric dimension
	Now      func() time.Time
	// Digests, when set, records the manifests of every target in one
	// digest per run, named by the run id, on the chain of Account and
	// Region (the org function's own).
	Digests DigestRecorder
	// Account is the chain's account; "" means the account of the invoked
	// function's ARN (the Lambda context).
	Account string
	Region  string
}

// Key is the coverage file of a run.
func Key(prefix string, runTime time.Time, runID string) string {
	return prefix + "/coverage/dt=" + runTime.UTC().Format("2006-01-02") + "/" + runID + ".json"
}

// exporterResponse is the part of the exporter's response Coverage reads.
type exporterResponse struct {
	Account string `json:"account"`
	Region  string `json:"region"`
	Status  string `json:"status"`
	Error   string `json:"error"` // the AWS message of a refusal
	Slots   []struct {
		Manifest string `json:"manifest"`
	} `json:"slots"`
	Rows  int64 `json:"rows"`
	Nodes *struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	} `json:"nodes"`
}

// childInput is a child execution's input: the ItemSelector's
// {"event": <item>}.
type childInput struct {
	Event orgplan.Item `json:"event"`
}

// Report reads the Map's results and writes the coverage file. It returns
// an error naming the failed targets when any failed, after writing the
// file and the metrics; malformed input or results write nothing.
func (r *Reporter) Report(ctx context.Context, in Input) (Output, error) {
	if err := orgplan.CheckRunID(in.RunID); err != nil {
		return Output{}, fmt.Errorf("coverage input: %w", err)
	}
	runTime, err := time.Parse(time.RFC3339, in.RunTime)
	if err != nil {
		return Output{}, fmt.Errorf("coverage input: runTime %q is not an RFC 3339 time", in.RunTime)
	}
	if in.ItemsKey != orgplan.ItemsKey(r.Prefix, in.RunID) {
		return Output{}, fmt.Errorf("coverage input: itemsKey %q is not this run's items file %q", in.ItemsKey, orgplan.ItemsKey(r.Prefix, in.RunID))
	}
	rw := in.ResultWriterDetails
	runs := orgplan.RunsPrefix(r.Prefix) + "/"
	if rw.Bucket != r.Bucket || !strings.HasPrefix(rw.Key, runs) || !strings.HasSuffix(rw.Key, "/manifest.json") {
		return Output{}, fmt.Errorf("coverage input: resultWriterDetails s3://%s/%s is not a ResultWriter manifest under s3://%s/%s", rw.Bucket, rw.Key, r.Bucket, runs)
	}
	var planned []orgplan.Item
	if err := getJSON(ctx, r.S3, r.Bucket, in.ItemsKey, &planned); err != nil {
		return Output{}, fmt.Errorf("coverage: items: %w", err)
	}
	var m Manifest
	if err := getJSON(ctx, r.S3, r.Bucket, rw.Key, &m); err != nil {
		return Output{}, fmt.Errorf("coverage: manifest: %w", err)
	}
	recs := map[string]*Record{}
	var order []string
	for _, it := range planned {
		k := it.Account + "/" + it.Region
		if _, ok := recs[k]; !ok {
			recs[k] = &Record{RunID: in.RunID, RunTime: runTime.UTC().Format(time.RFC3339), AccountID: it.Account, Region: it.Region}
			order = append(order, k)
		}
	}
	seen := map[string]int{}           // results per target
	manifests := map[string][]string{} // manifest keys per target
	unattributed := 0
	add := func(files []ResultFile, kind string) error {
		for _, f := range files {
			var execs []Execution
			if err := getJSON(ctx, r.S3, r.Bucket, f.Key, &execs); err != nil {
				return fmt.Errorf("coverage: %s results: %w", kind, err)
			}
			for _, e := range execs {
				if !e.HasInput() {
					unattributed++
					continue
				}
				if err := apply(recs, seen, manifests, e, kind); err != nil {
					return fmt.Errorf("coverage: %s: %w", f.Key, err)
				}
			}
		}
		return nil
	}
	if err := errors.Join(add(m.ResultFiles.Succeeded, "SUCCEEDED"), add(m.ResultFiles.Failed, "FAILED"), add(m.ResultFiles.Pending, "PENDING")); err != nil {
		return Output{}, err
	}
	// Every item of a target must have ended; one that left no result
	// never ran.
	want := map[string]int{}
	for _, it := range planned {
		want[it.Account+"/"+it.Region]++
	}
	for k, n := range want {
		if seen[k] < n {
			msg := fmt.Sprintf("%d of %d items left no result in the map run", n-seen[k], n)
			if unattributed > 0 {
				msg += fmt.Sprintf(" (%d results of the run carry no input to tell their target)", unattributed)
			}
			fail(recs[k], msg)
		}
	}
	sort.Strings(order)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	out := Output{Key: Key(r.Prefix, runTime, in.RunID), Targets: len(order), Unattributed: unattributed}
	var failed []string
	for _, k := range order {
		rec := recs[k]
		if rec.Status == "" {
			rec.Status = StatusExported // only reached when every item succeeded as exported
		}
		if rec.Nodes == nodesMissing {
			out.NodesMissing++
		}
		switch rec.Status {
		case StatusExported:
			out.Exported++
		case StatusDenied:
			out.Denied++
		case StatusRegionDisabled:
			out.RegionDisabled++
		default:
			out.Failed++
			failed = append(failed, k)
		}
		if err := enc.Encode(rec); err != nil {
			return Output{}, fmt.Errorf("coverage: encode: %w", err)
		}
	}
	if _, err := r.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(r.Bucket), Key: aws.String(out.Key),
		Body: bytes.NewReader(buf.Bytes()), ContentType: aws.String("application/x-ndjson"),
	}); err != nil {
		return Output{}, fmt.Errorf("coverage: write s3://%s/%s: %w", r.Bucket, out.Key, err)
	}
	if r.Digests != nil {
		// Every manifest a target's exports left stands, a failed
		// target's too, so the digest lists them all.
		var keys []string
		for _, k := range order {
			keys = append(keys, manifests[k]...)
		}
		account := r.Account
		if account == "" {
			account = functionAccount(ctx)
		}
		if account == "" {
			return Output{}, errors.New("coverage: the run's digest names the org function's account, which neither the configuration nor the Lambda context gives")
		}
		key, err := r.Digests.RecordRun(ctx, account, r.Region, in.RunID, keys)
		if err != nil {
			return Output{}, fmt.Errorf("coverage: %w", err)
		}
		out.Digest = key
	}
	if r.Metrics != nil {
		if err := metrics.WriteCoverage(r.Metrics, metrics.Coverage{Function: r.Function, Exported: out.Exported, Denied: out.Denied, RegionDisabled: out.RegionDisabled, Failed: out.Failed}, r.Now()); err != nil {
			return Output{}, err
		}
	}
	if len(failed) > 0 {
		shown := failed
		if len(shown) > 10 {
			shown = append(shown[:10:10], fmt.Sprintf("and %d more", len(failed)-10))
		}
		return out, fmt.Errorf("%d of %d targets failed (%s); see s3://%s/%s", len(failed), len(order), strings.Join(shown, ", "), r.Bucket, out.Key)
	}
	return out, nil
}

// apply folds one child execution into its target's record. A target of
// several items (a backfill in chunks) sums slots and rows; its status is
// the worst of its items: failed, then denied, then region-disabled.
func apply(recs map[string]*Record, seen map[string]int, manifests map[string][]string, e Execution, kind string) error {
	var ci childInput
	if err := json.Unmarshal([]byte(e.Input), &ci); err != nil {
		return fmt.Errorf("execution %s: input is not {\"event\": ...}: %w", e.Name, err)
	}
	k := ci.Event.Account + "/" + ci.Event.Region
	rec, ok := recs[k]
	if !ok {
		return fmt.Errorf("execution %s: target %s was not planned", e.Name, k)
	}
	seen[k]++
	if e.StopDate > rec.FinishedAt {
		rec.FinishedAt = e.StopDate
	}
	if kind != "SUCCEEDED" || e.Status != "SUCCEEDED" {
		msg := e.Error
		if c := causeMessage(e.Cause); c != "" {
			msg += ": " + c
		}
		if kind == "PENDING" {
			msg = "never ran (pending when the map run ended)"
		}
		if msg == "" {
			msg = "execution " + strings.ToLower(e.Status)
		}
		fail(rec, msg)
		return nil
	}
	var resp exporterResponse
	if err := json.Unmarshal([]byte(e.Output), &resp); err != nil {
		fail(rec, "exporter output is not its response: "+err.Error())
		return nil
	}
	if resp.Account != "" && (resp.Account != rec.AccountID || resp.Region != rec.Region) {
		fail(rec, fmt.Sprintf("exporter answered for %s/%s", resp.Account, resp.Region))
		return nil
	}
	rec.Slots += len(resp.Slots)
	for _, s := range resp.Slots {
		if s.Manifest != "" {
			manifests[k] = append(manifests[k], s.Manifest)
		}
	}
	rec.Rows += resp.Rows
	if n := resp.Nodes; n != nil && (rec.Nodes == "" || n.Status == nodesMissing) {
		rec.Nodes, rec.NodesError = n.Status, n.Error
	}
	status := resp.Status
	if status == "" {
		status = StatusExported // an exporter answering without status wrote its slots
	}
	switch status {
	case StatusExported:
	case StatusDenied, StatusRegionDisabled:
		if rank(status) > rank(rec.Status) {
			rec.Status = status
		}
		if rec.Error == "" {
			rec.Error = resp.Error
		}
	default:
		fail(rec, fmt.Sprintf("exporter status %q is unknown", status))
	}
	return nil
}

// nodesMissing is the exporter's "nodes" status of a snapshot that
// failed (nodes.Missing).
const nodesMissing = "missing"

func rank(status string) int {
	switch status {
	case StatusFailed:
		return 3
	case StatusDenied:
		return 2
	case StatusRegionDisabled:
		return 1
	}
	return 0
}

func fail(rec *Record, msg string) {
	rec.Status = StatusFailed
	if rec.Error == "" {
		rec.Error = msg
	} else if !strings.Contains(rec.Error, msg) {
		rec.Error += "; " + msg
	}
}

// causeMessage shortens a Lambda failure's Cause, a JSON document
// {"errorMessage": ..., "errorType": ...}, to its message.
func causeMessage(cause string) string {
	var c struct {
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal([]byte(cause), &c) == nil && c.ErrorMessage != "" {
		return c.ErrorMessage
	}
	return cause
}

// functionAccount is the account of the invoked function's ARN in ctx's
// Lambda context (arn:aws:lambda:region:account:function:name), or "".
func functionAccount(ctx context.Context) string {
	lc, ok := lambdacontext.FromContext(ctx)
	if !ok {
		return ""
	}
	parts := strings.Split(lc.InvokedFunctionArn, ":")
	if len(parts) < 5 {
		return ""
	}
	return parts[4]
}
