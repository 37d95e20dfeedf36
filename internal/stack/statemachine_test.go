package stack_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/session-audit/session-audit/internal/coverage"
	"github.com/session-audit/session-audit/internal/handler"
	"github.com/session-audit/session-audit/internal/orgplan"
	"github.com/session-audit/session-audit/internal/ssmfake"
	"github.com/session-audit/session-audit/internal/stsfake"
)

// The organization state machine (OrgStateMachine) is tested three ways:
// its definition, after CloudFormation's substitution, by asl-validator;
// its structure against the code (the keys Plan writes and Coverage reads,
// the events the exporter decodes, the role against the states' calls);
// and its control flow by aws-local-stepfunctions, with every Task answered
// by the real org function and the real exporter against the emulators.

// nodeTools is where .ci/run installs the pinned node packages (npm ci).
func nodeTools(t *testing.T) (node, dir string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the state machine's asl-validator and aws-local-stepfunctions checks need it (CI installs it)")
	}
	dir = filepath.Join(repoRoot(t), "internal", "stack", "testdata", "statemachine")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "aws-local-stepfunctions")); err != nil {
		t.Fatalf("the pinned node packages are not installed: run `make node-tools` (npm ci --prefix %s; make test and .ci/run do)", dir)
	}
	return node, dir
}

// orgDefinition is the state machine's definition in a stack resolved
// with params, as CloudFormation would substitute it.
func orgDefinition(t *testing.T, params map[string]string) (map[string]any, string) {
	t.Helper()
	raw := scalarString(resolve(t, loadTemplate(t), params).props(t, "OrgStateMachine")["DefinitionString"])
	var def map[string]any
	if err := json.Unmarshal([]byte(raw), &def); err != nil {
		t.Fatalf("DefinitionString is not JSON after substitution: %v\n%s", err, raw)
	}
	return def, raw
}

func state(def map[string]any, path ...string) map[string]any {
	m := def
	for _, p := range path {
		m = asMap(m[p])
	}
	return m
}

func TestStateMachineIsValidASL(t *testing.T) {
	node, dir := nodeTools(t)
	for name, params := range map[string]map[string]string{"fixed": orgFixed, "organization": orgListed} {
		_, raw := orgDefinition(t, params)
		f := filepath.Join(t.TempDir(), "definition.json")
		if err := os.WriteFile(f, []byte(raw), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(node, filepath.Join(dir, "node_modules", "asl-validator", "dist", "bin", "asl-validator.js"), "--json-path", f)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%s: asl-validator refuses the definition: %v\n%s", name, err, out)
			continue
		}
		t.Logf("%s: asl-validator: %s", name, bytes.TrimSpace(out))
	}
}

var transientLambdaErrors = []string{"Lambda.TooManyRequestsException", "Lambda.ServiceException", "Lambda.SdkClientException", "Lambda.AWSLambdaException"}

func TestStateMachineStructure(t *testing.T) {
	def, _ := orgDefinition(t, orgListed)
	const prefix = "audit/ssm"
	plan, exp, cov := state(def, "States", "Plan"), state(def, "States", "Export"), state(def, "States", "Coverage")
	if def["StartAt"] != "Plan" || plan["Next"] != "Export" || exp["Next"] != "Coverage" || cov["End"] != true {
		t.Fatalf("flow %v -> %v -> %v", def["StartAt"], plan["Next"], exp["Next"])
	}
	// Plan's payload: the execution input, name and start.
	payload := asMap(asMap(plan["Parameters"])["Payload"])
	if !reflect.DeepEqual(payload, map[string]any{"phase": "plan", "runId.$": "$$.Execution.Name", "startedAt.$": "$$.Execution.StartTime", "input.$": "$"}) {
		t.Errorf("Plan payload %v", payload)
	}
	// The ItemReader reads the key Plan returns, which is orgplan.ItemsKey.
	ir := asMap(exp["ItemReader"])
	if ir["Resource"] != "arn:aws:states:::s3:getObject" || !reflect.DeepEqual(ir["ReaderConfig"], map[string]any{"InputType": "JSON"}) ||
		!reflect.DeepEqual(ir["Parameters"], map[string]any{"Bucket.$": "$.plan.bucket", "Key.$": "$.plan.key"}) {
		t.Errorf("ItemReader %v", ir)
	}
	if rs := asMap(plan["ResultSelector"]); rs["bucket.$"] != "$.Payload.bucket" || rs["key.$"] != "$.Payload.key" || plan["ResultPath"] != "$.plan" {
		t.Errorf("Plan ResultSelector %v ResultPath %v", rs, plan["ResultPath"])
	}
	var out orgplan.Output
	b, _ := json.Marshal(orgplan.Output{Bucket: "b", Key: orgplan.ItemsKey(prefix, "r")})
	if err := json.Unmarshal(b, &out); err != nil || !strings.Contains(string(b), `"bucket":"b"`) || !strings.Contains(string(b), `"key":"audit/ssm/runs/r/items.json"`) {
		t.Errorf("Plan's output %s does not carry the fields the ResultSelector reads", b)
	}
	// The Map: distributed, standard children, every failure tolerated,
	// concurrency from the parameter.
	proc := asMap(exp["ItemProcessor"])
	if !reflect.DeepEqual(proc["ProcessorConfig"], map[string]any{"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}) ||
		exp["ToleratedFailurePercentage"] != float64(100) || exp["MaxConcurrency"] != float64(25) {
		t.Errorf("Map %v tolerated %v concurrency %v", proc["ProcessorConfig"], exp["ToleratedFailurePercentage"], exp["MaxConcurrency"])
	}
	// The ItemSelector and the child's payload make of each planned item
	// exactly the event the exporter decodes, for the item's target.
	child := state(proc, "States", "ExportTarget")
	if !reflect.DeepEqual(exp["ItemSelector"], map[string]any{"event.$": "$$.Map.Item.Value"}) ||
		!reflect.DeepEqual(child["Parameters"], map[string]any{"FunctionName": "{{SessionAuditFunction.Arn}}", "Payload.$": "$.event"}) || child["OutputPath"] != "$.Payload" {
		t.Errorf("ItemSelector %v, child %v", exp["ItemSelector"], child)
	}
	for _, it := range []orgplan.Item{
		{Account: "111111111111", Region: "eu-west-1", Time: "2026-11-25T00:15:00Z"},
		{Account: "111111111111", Region: "eu-west-1", Start: "2026-11-20T00:00:00Z", End: "2026-11-22T00:00:00Z"},
	} {
		raw, _ := json.Marshal(it)
		var value any
		_ = json.Unmarshal(raw, &value)
		selected := map[string]any{"event": value}  // $$.Map.Item.Value
		event, _ := json.Marshal(selected["event"]) // Payload.$: $.event
		req, err := handler.Decode(event)
		if err != nil || req.Account != it.Account || req.Region != it.Region {
			t.Errorf("the exporter decodes the child payload %s as %+v, %v", event, req, err)
		}
	}
	// The ResultWriter writes where Coverage reads.
	rw := asMap(exp["ResultWriter"])
	if rw["Resource"] != "arn:aws:states:::s3:putObject" || !reflect.DeepEqual(rw["Parameters"], map[string]any{"Bucket": "{{AuditBucket}}", "Prefix": orgplan.RunsPrefix(prefix)}) || exp["ResultPath"] != "$.map" {
		t.Errorf("ResultWriter %v ResultPath %v", rw, exp["ResultPath"])
	}
	covPayload := asMap(asMap(cov["Parameters"])["Payload"])
	if !reflect.DeepEqual(covPayload, map[string]any{"phase": "coverage", "runId.$": "$.plan.runId", "runTime.$": "$.plan.runTime", "itemsKey.$": "$.plan.key", "resultWriterDetails.$": "$.map.ResultWriterDetails"}) {
		t.Errorf("Coverage payload %v", covPayload)
	}
	// Every Task retries Lambda's transient errors with jitter: throttling
	// first, on its own long retrier (Step Functions uses the first
	// retrier whose ErrorEquals matches), the others on a short one.
	for name, st := range map[string]map[string]any{"Plan": plan, "ExportTarget": child, "Coverage": cov} {
		if st["Resource"] != "arn:aws:states:::lambda:invoke" {
			t.Errorf("%s resource %v", name, st["Resource"])
		}
		retry := asList(st["Retry"])
		if len(retry) != 2 {
			t.Errorf("%s: %d retriers, want 2 (throttling, then the other transient errors)", name, len(retry))
			continue
		}
		throttle, other := asMap(retry[0]), asMap(retry[1])
		if !slices.Equal(strs(throttle["ErrorEquals"]), transientLambdaErrors[:1]) || throttle["JitterStrategy"] != "FULL" ||
			throttle["MaxAttempts"] == nil || throttle["MaxDelaySeconds"] == nil {
			t.Errorf("%s throttling retry %v", name, throttle)
		}
		if !slices.Equal(strs(other["ErrorEquals"]), transientLambdaErrors[1:]) || other["JitterStrategy"] != "FULL" ||
			other["MaxAttempts"] == nil || other["MaxDelaySeconds"] == nil {
			t.Errorf("%s retry %v", name, other)
		}
		if !reflect.DeepEqual(throttle, asMap(asList(child["Retry"])[0])) {
			t.Errorf("%s throttling retry %v differs from ExportTarget's", name, throttle)
		}
	}
}

// TestStateMachineRoleIsItsStatesCalls: the role grants exactly what the
// states call, and each call is allowed.
func TestStateMachineRoleIsItsStatesCalls(t *testing.T) {
	s := resolve(t, loadTemplate(t), orgFixed)
	def, _ := orgDefinition(t, orgFixed)
	if trustedService(t, s, "OrgStateMachineRole") != "states.amazonaws.com" {
		t.Error("OrgStateMachineRole is not Step Functions'")
	}
	smName := scalarString(s.props(t, "OrgStateMachine")["StateMachineName"])
	if smName != "session-audit-org-1b2c3d4e-5f60-11ef-8a9b-0a1b2c3d4e5f" || s.props(t, "OrgStateMachine")["StateMachineType"] != "STANDARD" {
		t.Errorf("state machine %s %v", smName, s.props(t, "OrgStateMachine")["StateMachineType"])
	}
	got := policyStatements(t, s, "OrgStateMachineRole")
	obj := "arn:aws:s3:::audit-bucket/ssm-sessions/runs/*"
	equalStatements(t, "OrgStateMachineRole", got, map[string]statement{
		"InvokeFunctions":   {Sid: "InvokeFunctions", Effect: "Allow", Actions: []string{"lambda:InvokeFunction"}, Resources: []string{"{{OrgFunction.Arn}}", "{{SessionAuditFunction.Arn}}"}},
		"ReadItems":         {Sid: "ReadItems", Effect: "Allow", Actions: []string{"s3:GetObject"}, Resources: []string{obj}},
		"WriteResults":      {Sid: "WriteResults", Effect: "Allow", Actions: []string{"s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "s3:PutObject"}, Resources: []string{obj}},
		"StartMapChildren":  {Sid: "StartMapChildren", Effect: "Allow", Actions: []string{"states:StartExecution"}, Resources: []string{"arn:aws:states:us-east-1:123456789012:stateMachine:" + smName}},
		"ManageMapChildren": {Sid: "ManageMapChildren", Effect: "Allow", Actions: []string{"states:DescribeExecution", "states:StopExecution"}, Resources: []string{"arn:aws:states:us-east-1:123456789012:execution:" + smName + "/*"}},
	})
	// The functions the Tasks invoke are exactly those the role may invoke.
	var invoked []string
	for _, st := range []map[string]any{state(def, "States", "Plan"), state(def, "States", "Export", "ItemProcessor", "States", "ExportTarget"), state(def, "States", "Coverage")} {
		invoked = append(invoked, scalarString(asMap(st["Parameters"])["FunctionName"]))
	}
	slices.Sort(invoked)
	if invoked = slices.Compact(invoked); !slices.Equal(invoked, got["InvokeFunctions"].Resources) {
		t.Errorf("the states invoke %v; the role may invoke %v", invoked, got["InvokeFunctions"].Resources)
	}
	for _, r := range []request{
		{"s3:GetObject", "arn:aws:s3:::audit-bucket/" + orgplan.ItemsKey("ssm-sessions", "exec-1"), nil},
		{"s3:PutObject", "arn:aws:s3:::audit-bucket/" + orgplan.RunsPrefix("ssm-sessions") + "/0a1b/manifest.json", nil},
		{"s3:PutObject", "arn:aws:s3:::audit-bucket/" + orgplan.RunsPrefix("ssm-sessions") + "/0a1b/SUCCEEDED_0.json", nil},
		{"states:StartExecution", "arn:aws:states:us-east-1:123456789012:stateMachine:session-audit-org-1b2c3d4e-5f60-11ef-8a9b-0a1b2c3d4e5f", nil},
		{"states:StopExecution", "arn:aws:states:us-east-1:123456789012:execution:session-audit-org-1b2c3d4e-5f60-11ef-8a9b-0a1b2c3d4e5f/Export:0a1b", nil},
	} {
		if _, ok := allows(got, r); !ok {
			t.Errorf("the state machine may not %s %s", r.action, r.resource)
		}
	}
	for _, r := range []request{
		{"s3:PutObject", "arn:aws:s3:::audit-bucket/ssm-sessions/sessions/dt=2026-11-25/x.parquet", nil},
		{"states:StartExecution", "arn:aws:states:us-east-1:123456789012:stateMachine:other", nil},
	} {
		if sid, ok := allows(got, r); ok {
			t.Errorf("the state machine may %s %s (by %s)", r.action, r.resource, sid)
		}
	}
}

// localRun is one run of the state machine on aws-local-stepfunctions.
type localRun struct {
	Status string          `json:"status"`
	Output json.RawMessage `json:"output"`
	Error  string          `json:"error"`
	Cause  string          `json:"cause"`
}

// forLocalEngine swaps what aws-local-stepfunctions cannot run for what it
// can, keeping the rest: the ItemReader becomes an ItemsPath over Plan's
// items (the Go side adds them to Plan's answer), and the ResultWriter a
// ResultSelector naming the manifest the Go side writes, in the
// ResultWriter's format, from the children it answered.
func forLocalEngine(t *testing.T, def map[string]any, manifest coverage.ResultWriterDetails) map[string]any {
	t.Helper()
	plan, exp := state(def, "States", "Plan"), state(def, "States", "Export")
	asMap(plan["ResultSelector"])["items.$"] = "$.Payload.items"
	delete(exp, "ItemReader")
	delete(exp, "ResultWriter")
	exp["ItemsPath"] = "$.plan.items"
	exp["ResultSelector"] = map[string]any{"ResultWriterDetails": map[string]any{"Bucket": manifest.Bucket, "Key": manifest.Key}}
	return def
}

func TestStateMachineRunsLocally(t *testing.T) {
	node, dir := nodeTools(t)
	now := time.Date(2026, 11, 25, 0, 20, 0, 0, time.UTC)
	const (
		self     = "123456789012"
		member   = "111111111111"
		noRole   = "555555555555"
		disabled = "eu-west-1"
	)
	fake := ssmfake.New()
	seed := int64(7)
	for _, a := range []string{self, member, noRole} {
		for _, r := range []string{"us-east-1", "eu-west-1"} {
			fake.Target(a, r).Put(ssmfake.Generate(seed, now.Add(-72*time.Hour), now.Add(-time.Hour), 10)...)
			seed++
		}
	}
	fake.DisableRegion(member, disabled)
	sts := stsfake.New()
	sts.AllowRole(member, stsfake.Role{Name: localRole})
	lambda := newLocalLambda(t, now, fake, sts, self+","+member+","+noRole, "us-east-1,eu-west-1")
	// Lambda throttles one child's first invocation: the Retry absorbs it.
	lambda.throttle = func(target string, attempt int) bool { return target == self+"/us-east-1" && attempt == 1 }

	res := lambda.run(node, dir, orgFixed, `{"time":"2026-11-25T00:15:00Z"}`)
	if res.Status != "SUCCEEDED" {
		t.Fatalf("execution %s: %s: %s", res.Status, res.Error, res.Cause)
	}
	var out coverage.Output
	if err := json.Unmarshal(res.Output, &out); err != nil {
		t.Fatalf("output %s: %v", res.Output, err)
	}
	want := coverage.Output{Key: "ssm-sessions/coverage/dt=2026-11-25/exec-1.json", Targets: 6, Exported: 3, Denied: 2, RegionDisabled: 1}
	if out != want {
		t.Errorf("execution output %+v, want %+v", out, want)
	}
	// 6 children, one of them retried once; Plan and Coverage once each.
	calls := lambda.taskCalls()
	if calls["ExportTarget"] != 7 || calls["Plan"] != 1 || calls["Coverage"] != 1 {
		t.Errorf("task calls %v; want Plan 1, ExportTarget 7 (6 targets, one retried), Coverage 1", calls)
	}
	got := lambda.coverage(out.Key)
	wantRecs := []string{
		"111111111111/eu-west-1 region-disabled slots=0", "111111111111/us-east-1 exported slots=2",
		"123456789012/eu-west-1 exported slots=2", "123456789012/us-east-1 exported slots=2",
		"555555555555/eu-west-1 denied slots=0", "555555555555/us-east-1 denied slots=0",
	}
	if !slices.Equal(got, wantRecs) {
		t.Errorf("coverage\n got %v\nwant %v", got, wantRecs)
	}

	// A malformed input fails the execution in Plan with the reason, and
	// nothing runs after it.
	before := lambda.taskCalls()
	res = lambda.run(node, dir, orgFixed, `{"time":"2026-11-25T00:15:00Z","sessionId":"x"}`)
	if res.Status != "FAILED" || !strings.Contains(res.Cause, "state machine input") {
		t.Errorf("malformed input: %s %s %s", res.Status, res.Error, res.Cause)
	}
	if calls := lambda.taskCalls(); calls["ExportTarget"] != before["ExportTarget"] || calls["Coverage"] != before["Coverage"] {
		t.Errorf("a failed Plan went on: calls %v", calls)
	}
}
