package coverage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/session-audit/session-audit/internal/coverage"
	"github.com/session-audit/session-audit/internal/emulators"
)

var now = time.Date(2026, 11, 25, 0, 31, 0, 0, time.UTC)

func s3Client(t *testing.T) *s3.Client {
	t.Helper()
	emu, err := emulators.Start(emulators.Options{Bucket: "audit"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	return emu.Clients().S3
}

func put(t *testing.T, c *s3.Client, key, body string) {
	t.Helper()
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("audit"), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, c *s3.Client, key string) string {
	t.Helper()
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("audit"), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	b, _ := io.ReadAll(out.Body)
	return string(b)
}

// child is one entry of a result file as Step Functions writes it
// (ResultWriter, Transformation NONE, OutputType JSON): Input and Output are
// JSON documents in strings.
func child(name, input, output, status, errName, cause, stop string) map[string]any {
	e := map[string]any{
		"ExecutionArn":    "arn:aws:states:eu-west-1:123456789012:execution:org-audit/Map:" + name,
		"Input":           input,
		"InputDetails":    map[string]bool{"Included": true},
		"Name":            name,
		"RedriveCount":    0,
		"RedriveStatus":   "NOT_REDRIVABLE",
		"StartDate":       "2026-11-25T00:15:02.113Z",
		"StateMachineArn": "arn:aws:states:eu-west-1:123456789012:stateMachine:org-audit/Map",
		"Status":          status,
		"StopDate":        stop,
	}
	if status == "SUCCEEDED" {
		e["Output"] = output
		e["OutputDetails"] = map[string]bool{"Included": true}
	} else {
		e["Error"] = errName
		e["Cause"] = cause
	}
	return e
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const prefix = "ssm-sessions"

func setup(t *testing.T, c *s3.Client) coverage.Input {
	t.Helper()
	put(t, c, prefix+"/runs/run-7/items.json", `[
 {"account":"111111111111","region":"eu-west-1","time":"2026-11-25T00:15:00Z"},
 {"account":"111111111111","region":"us-east-1","time":"2026-11-25T00:15:00Z"},
 {"account":"222222222222","region":"eu-west-1","time":"2026-11-25T00:15:00Z"},
 {"account":"222222222222","region":"us-east-1","time":"2026-11-25T00:15:00Z"},
 {"account":"333333333333","region":"eu-west-1","time":"2026-11-25T00:15:00Z"}]`)
	in := func(acct, region string) string {
		return `{"event":{"account":"` + acct + `","region":"` + region + `","time":"2026-11-25T00:15:00Z"}}`
	}
	succeeded := []map[string]any{
		child("a1", in("111111111111", "eu-west-1"), `{"mode":"scheduled","account":"111111111111","region":"eu-west-1","status":"exported","slots":[{"rows":3},{"rows":4}],"rows":7,"nodes":{"status":"missing","count":0,"error":"SSM DescribeInstanceInformation: ThrottlingException: Rate exceeded"}}`, "SUCCEEDED", "", "", "2026-11-25T00:16:00.500Z"),
		child("a2", in("111111111111", "us-east-1"), `{"mode":"scheduled","account":"111111111111","region":"us-east-1","status":"region-disabled","slots":[],"rows":0}`, "SUCCEEDED", "", "", "2026-11-25T00:16:01.000Z"),
		child("b1", in("222222222222", "eu-west-1"), `{"mode":"scheduled","account":"222222222222","region":"eu-west-1","status":"denied","slots":[],"rows":0}`, "SUCCEEDED", "", "", "2026-11-25T00:16:02.000Z"),
		child("b2", in("222222222222", "us-east-1"), `{"mode":"scheduled","account":"222222222222","region":"us-east-1","status":"denied","slots":[],"rows":0}`, "SUCCEEDED", "", "", "2026-11-25T00:16:03.000Z"),
	}
	// The ResultWriter writes Input and Output as JSON strings; one written
	// inline as an object reads the same.
	succeeded[0]["Output"] = json.RawMessage(succeeded[0]["Output"].(string))
	failed := []map[string]any{
		child("c1", in("333333333333", "eu-west-1"), "", "FAILED", "Lambda.Unknown", `{"errorMessage":"target 333333333333/eu-west-1: ssm: ThrottlingException","errorType":"wrapError"}`, "2026-11-25T00:20:00.000Z"),
	}
	runs := prefix + "/runs/3c7b2f1e-0f1a-3b8e-9a59-0ab0c1d2e3f4"
	put(t, c, runs+"/SUCCEEDED_0.json", mustJSON(t, succeeded))
	put(t, c, runs+"/FAILED_0.json", mustJSON(t, failed))
	put(t, c, runs+"/manifest.json", `{
  "DestinationBucket": "audit",
  "MapRunArn": "arn:aws:states:eu-west-1:123456789012:mapRun:org-audit/Export:3c7b2f1e-0f1a-3b8e-9a59-0ab0c1d2e3f4",
  "ResultFiles": {
    "FAILED": [{"Key": "`+runs+`/FAILED_0.json", "Size": 700}],
    "PENDING": [],
    "SUCCEEDED": [{"Key": "`+runs+`/SUCCEEDED_0.json", "Size": 2800}]
  }
}`)
	return coverage.Input{
		RunID: "run-7", RunTime: "2026-11-25T00:15:00Z", ItemsKey: prefix + "/runs/run-7/items.json",
		ResultWriterDetails: coverage.ResultWriterDetails{Bucket: "audit", Key: runs + "/manifest.json"},
	}
}

func TestReport(t *testing.T) {
	c := s3Client(t)
	in := setup(t, c)
	var emf bytes.Buffer
	r := &coverage.Reporter{Bucket: "audit", Prefix: prefix, S3: c, Metrics: &emf, Function: "org-fn", Now: func() time.Time { return now }}
	out, err := r.Report(context.Background(), in)
	if err == nil || !strings.Contains(err.Error(), "1 of 5 targets failed (333333333333/eu-west-1)") {
		t.Fatalf("err = %v", err)
	}
	want := coverage.Output{Key: "ssm-sessions/coverage/dt=2026-11-25/run-7.json", Targets: 5, Exported: 1, Denied: 2, RegionDisabled: 1, Failed: 1, NodesMissing: 1}
	if out != want {
		t.Fatalf("output %+v\nwant   %+v", out, want)
	}
	got := get(t, c, out.Key)
	wantFile := `{"run_id":"run-7","run_time":"2026-11-25T00:15:00Z","account_id":"111111111111","region":"eu-west-1","status":"exported","slots":2,"rows":7,"error":"","finished_at":"2026-11-25T00:16:00.500Z","nodes":"missing","nodes_error":"SSM DescribeInstanceInformation: ThrottlingException: Rate exceeded"}
{"run_id":"run-7","run_time":"2026-11-25T00:15:00Z","account_id":"111111111111","region":"us-east-1","status":"region-disabled","slots":0,"rows":0,"error":"","finished_at":"2026-11-25T00:16:01.000Z","nodes":"","nodes_error":""}
{"run_id":"run-7","run_time":"2026-11-25T00:15:00Z","account_id":"222222222222","region":"eu-west-1","status":"denied","slots":0,"rows":0,"error":"","finished_at":"2026-11-25T00:16:02.000Z","nodes":"","nodes_error":""}
{"run_id":"run-7","run_time":"2026-11-25T00:15:00Z","account_id":"222222222222","region":"us-east-1","status":"denied","slots":0,"rows":0,"error":"","finished_at":"2026-11-25T00:16:03.000Z","nodes":"","nodes_error":""}
{"run_id":"run-7","run_time":"2026-11-25T00:15:00Z","account_id":"333333333333","region":"eu-west-1","status":"failed","slots":0,"rows":0,"error":"Lambda.Unknown: target 333333333333/eu-west-1: ssm: ThrottlingException","finished_at":"2026-11-25T00:20:00.000Z","nodes":"","nodes_error":""}
`
	if got != wantFile {
		t.Fatalf("coverage file:\n%s\nwant:\n%s", got, wantFile)
	}
	var doc map[string]any
	if err := json.Unmarshal(emf.Bytes(), &doc); err != nil {
		t.Fatalf("EMF line: %v: %s", err, emf.String())
	}
	for k, v := range map[string]float64{"TargetsExported": 1, "TargetsDenied": 2, "TargetsRegionDisabled": 1, "TargetsFailed": 1} {
		if doc[k] != v {
			t.Fatalf("EMF %s = %v, want %v (%s)", k, doc[k], v, emf.String())
		}
	}
	if doc["FunctionName"] != "org-fn" || doc["_aws"].(map[string]any)["Timestamp"] != float64(now.UnixMilli()) {
		t.Fatalf("EMF: %s", emf.String())
	}
}

func TestReportMissingResultsFail(t *testing.T) {
	c := s3Client(t)
	in := setup(t, c)
	// A manifest listing only the successes: the failed target left no result.
	runs := prefix + "/runs/other"
	put(t, c, runs+"/manifest.json", `{"DestinationBucket":"audit","MapRunArn":"x","ResultFiles":{"FAILED":[],"PENDING":[],"SUCCEEDED":[{"Key":"`+prefix+`/runs/3c7b2f1e-0f1a-3b8e-9a59-0ab0c1d2e3f4/SUCCEEDED_0.json","Size":1}]}}`)
	in.ResultWriterDetails.Key = runs + "/manifest.json"
	r := &coverage.Reporter{Bucket: "audit", Prefix: prefix, S3: c, Now: func() time.Time { return now }}
	_, err := r.Report(context.Background(), in)
	if err == nil || !strings.Contains(err.Error(), "333333333333/eu-west-1") {
		t.Fatalf("err = %v", err)
	}
	if got := get(t, c, "ssm-sessions/coverage/dt=2026-11-25/run-7.json"); !strings.Contains(got, `"status":"failed","slots":0,"rows":0,"error":"1 of 1 items left no result in the map run"`) {
		t.Fatalf("coverage file:\n%s", got)
	}
}

func TestReportRefusesBadInput(t *testing.T) {
	c := s3Client(t)
	good := setup(t, c)
	r := &coverage.Reporter{Bucket: "audit", Prefix: prefix, S3: c, Now: func() time.Time { return now }}
	for name, mutate := range map[string]func(*coverage.Input){
		"run id":          func(in *coverage.Input) { in.RunID = "../x" },
		"run time":        func(in *coverage.Input) { in.RunTime = "today" },
		"items key":       func(in *coverage.Input) { in.ItemsKey = "elsewhere/items.json" },
		"foreign bucket":  func(in *coverage.Input) { in.ResultWriterDetails.Bucket = "other" },
		"outside runs":    func(in *coverage.Input) { in.ResultWriterDetails.Key = "ssm-sessions/sessions/manifest.json" },
		"missing results": func(in *coverage.Input) { in.ResultWriterDetails.Key = prefix + "/runs/none/manifest.json" },
	} {
		t.Run(name, func(t *testing.T) {
			in := good
			mutate(&in)
			if _, err := r.Report(context.Background(), in); err == nil {
				t.Fatal("no error")
			}
			out, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("audit"), Prefix: aws.String(prefix + "/coverage/")})
			if err != nil || len(out.Contents) != 0 {
				t.Fatalf("coverage written on bad input: %v %v", out, err)
			}
		})
	}
}

// TestReportBackfillChunks: a target of several items (a backfill in
// chunks) sums its slots and rows; one failed chunk fails the target.
func TestReportBackfillChunks(t *testing.T) {
	c := s3Client(t)
	item := func(acct, start, end string) string {
		return `{"account":"` + acct + `","region":"eu-west-1","start":"` + start + `","end":"` + end + `"}`
	}
	chunks := [][2]string{{"2026-11-20T00:00:00Z", "2026-11-22T00:00:00Z"}, {"2026-11-22T00:00:00Z", "2026-11-23T00:00:00Z"}}
	var items []string
	for _, a := range []string{"111111111111", "222222222222"} {
		for _, ch := range chunks {
			items = append(items, item(a, ch[0], ch[1]))
		}
	}
	put(t, c, prefix+"/runs/bf/items.json", "["+strings.Join(items, ",")+"]")
	resp := func(acct string, slots int, rows int) string {
		s := make([]map[string]int, slots)
		for i := range s {
			s[i] = map[string]int{"rows": rows / slots}
		}
		return mustJSON(t, map[string]any{"mode": "backfill", "account": acct, "region": "eu-west-1", "status": "exported", "slots": s, "rows": rows})
	}
	in := func(i int) string { return `{"event":` + items[i] + `}` }
	succeeded := []map[string]any{
		child("1", in(0), resp("111111111111", 2, 10), "SUCCEEDED", "", "", "2026-11-25T00:16:00.000Z"),
		child("2", in(1), resp("111111111111", 1, 3), "SUCCEEDED", "", "", "2026-11-25T00:17:00.000Z"),
		child("3", in(2), resp("222222222222", 2, 4), "SUCCEEDED", "", "", "2026-11-25T00:16:30.000Z"),
	}
	failed := []map[string]any{child("4", in(3), "", "FAILED", "States.Timeout", "", "2026-11-25T00:31:00.000Z")}
	out, err := writeRun(t, c, prefix+"/runs/m", "bf", succeeded, failed)
	if err == nil || out.Exported != 1 || out.Failed != 1 {
		t.Fatalf("out %+v err %v", out, err)
	}
	got := get(t, c, out.Key)
	want := `{"run_id":"bf","run_time":"2026-11-25T00:15:00Z","account_id":"111111111111","region":"eu-west-1","status":"exported","slots":3,"rows":13,"error":"","finished_at":"2026-11-25T00:17:00.000Z","nodes":"","nodes_error":""}
{"run_id":"bf","run_time":"2026-11-25T00:15:00Z","account_id":"222222222222","region":"eu-west-1","status":"failed","slots":2,"rows":4,"error":"States.Timeout","finished_at":"2026-11-25T00:31:00.000Z","nodes":"","nodes_error":""}
`
	if got != want {
		t.Fatalf("coverage:\n%s\nwant:\n%s", got, want)
	}
}

// withoutInput is a result entry as the ResultWriter writes it when it
// leaves the child's input out: "Input": "" and InputDetails.Included
// false, every other field as usual (a FAILED entry also lacks Output and
// OutputDetails; RedriveStatusReason appears once a child cannot be
// redriven).
func withoutInput(e map[string]any) map[string]any {
	e["Input"] = ""
	e["InputDetails"] = map[string]bool{"Included": false}
	if e["Status"] != "SUCCEEDED" {
		e["RedriveStatusReason"] = "Execution is FAILED and cannot be redriven"
	}
	return e
}

// TestReportEntriesWithoutInput: an entry without input names no target.
// Coverage records it as unattributed and goes on; the target it belonged
// to has no result, so the missing-result check fails it, and every other
// target is recorded as usual.
func TestReportEntriesWithoutInput(t *testing.T) {
	c := s3Client(t)
	put(t, c, prefix+"/runs/run-8/items.json", `[
 {"account":"111111111111","region":"eu-west-1","time":"2026-11-25T00:15:00Z"},
 {"account":"222222222222","region":"eu-west-1","time":"2026-11-25T00:15:00Z"},
 {"account":"333333333333","region":"eu-west-1","time":"2026-11-25T00:15:00Z"}]`)
	in := func(acct string) string {
		return `{"event":{"account":"` + acct + `","region":"eu-west-1","time":"2026-11-25T00:15:00Z"}}`
	}
	exported := func(acct string) string {
		return `{"mode":"scheduled","account":"` + acct + `","region":"eu-west-1","status":"exported","slots":[{"rows":1}],"rows":1}`
	}
	succeeded := []map[string]any{
		child("a", in("111111111111"), exported("111111111111"), "SUCCEEDED", "", "", "2026-11-25T00:16:00.000Z"),
		withoutInput(child("b", in("222222222222"), exported("222222222222"), "SUCCEEDED", "", "", "2026-11-25T00:16:01.000Z")),
	}
	failed := []map[string]any{
		withoutInput(child("c", in("333333333333"), "", "FAILED", "States.Timeout", "", "2026-11-25T00:30:00.000Z")),
	}
	out, err := writeRun(t, c, prefix+"/runs/0d5e", "run-8", succeeded, failed)
	if err == nil || !strings.Contains(err.Error(), "2 of 3 targets failed (222222222222/eu-west-1, 333333333333/eu-west-1)") {
		t.Fatalf("err = %v", err)
	}
	want := coverage.Output{Key: "ssm-sessions/coverage/dt=2026-11-25/run-8.json", Targets: 3, Exported: 1, Failed: 2, Unattributed: 2}
	if out != want {
		t.Fatalf("output %+v\nwant   %+v", out, want)
	}
	missing := "1 of 1 items left no result in the map run (2 results of the run carry no input to tell their target)"
	wantFile := `{"run_id":"run-8","run_time":"2026-11-25T00:15:00Z","account_id":"111111111111","region":"eu-west-1","status":"exported","slots":1,"rows":1,"error":"","finished_at":"2026-11-25T00:16:00.000Z","nodes":"","nodes_error":""}
{"run_id":"run-8","run_time":"2026-11-25T00:15:00Z","account_id":"222222222222","region":"eu-west-1","status":"failed","slots":0,"rows":0,"error":"` + missing + `","finished_at":"","nodes":"","nodes_error":""}
{"run_id":"run-8","run_time":"2026-11-25T00:15:00Z","account_id":"333333333333","region":"eu-west-1","status":"failed","slots":0,"rows":0,"error":"` + missing + `","finished_at":"","nodes":"","nodes_error":""}
`
	if got := get(t, c, out.Key); got != wantFile {
		t.Fatalf("coverage file:\n%s\nwant:\n%s", got, wantFile)
	}
}

// writeRun writes a map run's SUCCEEDED_0.json and FAILED_0.json under
// runs and their manifest, and runs Coverage over it for the run runID,
// whose items file must exist.
func writeRun(t *testing.T, c *s3.Client, runs, runID string, succeeded, failed []map[string]any) (coverage.Output, error) {
	t.Helper()
	put(t, c, runs+"/SUCCEEDED_0.json", mustJSON(t, succeeded))
	put(t, c, runs+"/FAILED_0.json", mustJSON(t, failed))
	put(t, c, runs+"/manifest.json", `{"DestinationBucket":"audit","MapRunArn":"x","ResultFiles":{"FAILED":[{"Key":"`+runs+`/FAILED_0.json","Size":1}],"PENDING":[],"SUCCEEDED":[{"Key":"`+runs+`/SUCCEEDED_0.json","Size":1}]}}`)
	r := &coverage.Reporter{Bucket: "audit", Prefix: prefix, S3: c, Now: func() time.Time { return now }}
	return r.Report(context.Background(), coverage.Input{RunID: runID, RunTime: "2026-11-25T00:15:00Z", ItemsKey: prefix + "/runs/" + runID + "/items.json",
		ResultWriterDetails: coverage.ResultWriterDetails{Bucket: "audit", Key: runs + "/manifest.json"}})
}
