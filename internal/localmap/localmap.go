// Package localmap runs an organization run's items the way the state
// machine's Distributed Map does, for laptops and tests: it reads the items
// file, hands each item to the exporter as the ItemSelector would
// ({"event": <item>}), with bounded concurrency, and writes the results
// where and as the Map's ResultWriter writes them (<prefix>/runs/<map run
// id>/manifest.json, SUCCEEDED_0.json, FAILED_0.json), so that the
// Coverage step reads the same files either way.
package localmap

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/session-audit/session-audit/internal/coverage"
	"github.com/session-audit/session-audit/internal/orgplan"
)

// Invoke runs one child: it gets the child's input and answers the
// exporter's response, or an error (a failed child).
type Invoke func(ctx context.Context, input []byte) ([]byte, error)

// API is what the runner needs of S3.
type API interface {
	coverage.GetAPI
	orgplan.PutAPI
}

// Runner runs the items of one map run.
type Runner struct {
	S3          API
	Bucket      string
	Prefix      string
	Concurrency int    // children at once; at least 1
	MapRunID    string // the folder under <prefix>/runs/
	Account     string // for the ARNs in the result files
	Region      string
	Now         func() time.Time
}

// Run executes every item of itemsKey through invoke and writes the
// ResultWriter output; it returns what the Map state would output as
// ResultWriterDetails.
func (r *Runner) Run(ctx context.Context, itemsKey string, invoke Invoke) (coverage.ResultWriterDetails, error) {
	out, err := r.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(r.Bucket), Key: aws.String(itemsKey)})
	if err != nil {
		return coverage.ResultWriterDetails{}, fmt.Errorf("read items s3://%s/%s: %w", r.Bucket, itemsKey, err)
	}
	var items []json.RawMessage
	err = json.NewDecoder(out.Body).Decode(&items)
	out.Body.Close()
	if err != nil {
		return coverage.ResultWriterDetails{}, fmt.Errorf("decode items s3://%s/%s: %w", r.Bucket, itemsKey, err)
	}
	results := make([]coverage.Execution, len(items))
	n := max(r.Concurrency, 1)
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, it := range items {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			input, _ := json.Marshal(map[string]json.RawMessage{"event": it})
			name := fmt.Sprintf("%s-%06d", r.MapRunID, i)
			e := coverage.Execution{
				ExecutionArn: fmt.Sprintf("arn:aws:states:%s:%s:execution:local/Export:%s", r.Region, r.Account, name),
				Name:         name, Input: coverage.Document(input),
				StartDate: r.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
			}
			resp, err := invoke(ctx, input)
			e.StopDate = r.Now().UTC().Format("2006-01-02T15:04:05.000Z")
			if err != nil {
				cause, _ := json.Marshal(map[string]string{"errorMessage": err.Error(), "errorType": "Error"})
				e.Status, e.Error, e.Cause = "FAILED", "Error", string(cause)
			} else {
				e.Status, e.Output = "SUCCEEDED", coverage.Document(resp)
			}
			results[i] = e
		}()
	}
	wg.Wait()
	return r.Write(ctx, results)
}

// Write stores finished child executions as the ResultWriter does:
// SUCCEEDED_0.json and FAILED_0.json (JSON arrays, Transformation NONE)
// and manifest.json under <prefix>/runs/<MapRunID>/. It returns the Map
// state's ResultWriterDetails.
func (r *Runner) Write(ctx context.Context, results []coverage.Execution) (coverage.ResultWriterDetails, error) {
	smArn := fmt.Sprintf("arn:aws:states:%s:%s:stateMachine:local/Export", r.Region, r.Account)
	var ok, failed []map[string]any
	for _, e := range results {
		doc := map[string]any{
			"ExecutionArn": e.ExecutionArn, "Input": e.Input, "InputDetails": map[string]bool{"Included": true},
			"Name": e.Name, "RedriveCount": 0, "RedriveStatus": "NOT_REDRIVABLE", "StartDate": e.StartDate,
			"StateMachineArn": smArn, "Status": e.Status, "StopDate": e.StopDate,
		}
		if e.Status == "SUCCEEDED" {
			doc["Output"], doc["OutputDetails"] = e.Output, map[string]bool{"Included": true}
			ok = append(ok, doc)
		} else {
			doc["Error"], doc["Cause"] = e.Error, e.Cause
			failed = append(failed, doc)
		}
	}
	dir := orgplan.RunsPrefix(r.Prefix) + "/" + r.MapRunID
	files := map[string][]map[string]any{}
	for kind, docs := range map[string][]map[string]any{"SUCCEEDED": ok, "FAILED": failed} {
		if len(docs) == 0 {
			files[kind] = nil
			continue
		}
		key := dir + "/" + kind + "_0.json"
		size, err := r.put(ctx, key, docs)
		if err != nil {
			return coverage.ResultWriterDetails{}, err
		}
		files[kind] = []map[string]any{{"Key": key, "Size": size}}
	}
	manifest := map[string]any{
		"DestinationBucket": r.Bucket,
		"MapRunArn":         fmt.Sprintf("arn:aws:states:%s:%s:mapRun:local/Export:%s", r.Region, r.Account, r.MapRunID),
		"ResultFiles": map[string]any{
			"FAILED": orEmpty(files["FAILED"]), "PENDING": []any{}, "SUCCEEDED": orEmpty(files["SUCCEEDED"]),
		},
	}
	key := dir + "/manifest.json"
	if _, err := r.put(ctx, key, manifest); err != nil {
		return coverage.ResultWriterDetails{}, err
	}
	return coverage.ResultWriterDetails{Bucket: r.Bucket, Key: key}, nil
}

func orEmpty(v []map[string]any) any {
	if v == nil {
		return []any{}
	}
	return v
}

func (r *Runner) put(ctx context.Context, key string, v any) (int64, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("encode %s: %w", key, err)
	}
	if _, err := r.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(r.Bucket), Key: aws.String(key), Body: bytes.NewReader(body), ContentType: aws.String("application/json")}); err != nil {
		return 0, fmt.Errorf("write s3://%s/%s: %w", r.Bucket, key, err)
	}
	return int64(len(body)), nil
}

// Event returns the exporter's event from a child's input
// ({"event": <item>}, what the ItemSelector builds), as the child's Task
// passes it on ("Payload.$": "$.event").
func Event(input []byte) ([]byte, error) {
	var in struct {
		Event json.RawMessage `json:"event"`
	}
	if err := json.Unmarshal(input, &in); err != nil || len(in.Event) == 0 {
		return nil, fmt.Errorf("child input is not {\"event\": ...}: %s", input)
	}
	return in.Event, nil
}
