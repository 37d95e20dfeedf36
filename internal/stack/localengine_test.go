package stack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/session-audit/session-audit/internal/app"
	"github.com/session-audit/session-audit/internal/config"
	"github.com/session-audit/session-audit/internal/coverage"
	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/handler"
	"github.com/session-audit/session-audit/internal/localmap"
	"github.com/session-audit/session-audit/internal/orgconfig"
	"github.com/session-audit/session-audit/internal/orgfunc"
	"github.com/session-audit/session-audit/internal/orgplan"
	"github.com/session-audit/session-audit/internal/ssmfake"
	"github.com/session-audit/session-audit/internal/stsfake"
)

// localRole is the member role of the local state machine runs.
const localRole = "session-audit-reader"

// localLambda answers the Tasks of a state machine run on
// aws-local-stepfunctions as Lambda would: the org function (Plan,
// Coverage) and the exporter, both the real code against the emulators,
// with the function's account 123456789012 in us-east-1.
type localLambda struct {
	t        *testing.T
	emu      *emulators.Emulators
	exporter *handler.Handler
	ctx      context.Context // the exporter's Lambda context
	org      *orgfunc.Handler
	runs     *localmap.Runner
	manifest coverage.ResultWriterDetails
	now      time.Time
	// throttle, when set, says whether Lambda throttles the exporter's
	// attempt-th invocation (from 1) for target ("account/region"):
	// it then answers Lambda.TooManyRequestsException.
	throttle func(target string, attempt int) bool

	mu       sync.Mutex
	children []coverage.Execution
	calls    map[string]int // by state
	attempts map[string]int // exporter invocations by target
	items    []orgplan.Item // the last Plan's items, in order
}

// newLocalLambda starts the emulators over fake and sts and wires the
// exporter (AUDIT_MEMBER_ROLE localRole) and the org function over the
// fixed accounts and regions.
func newLocalLambda(t *testing.T, now time.Time, fake *ssmfake.Server, sts *stsfake.Server, accounts, regions string) *localLambda {
	t.Helper()
	t.Setenv("AWS_CA_BUNDLE", "")
	emu, err := emulators.Start(emulators.Options{Bucket: bucket, SSM: fake, STS: sts, MaxBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	clock := func() time.Time { return now }
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
	env := map[string]string{"AUDIT_BUCKET": bucket, "AUDIT_MEMBER_ROLE": localRole}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	orgEnv := map[string]string{"AUDIT_BUCKET": bucket, "AUDIT_REGIONS": regions, "AUDIT_ACCOUNTS": accounts}
	ocfg, err := orgconfig.Load(func(k string) string { return orgEnv[k] })
	if err != nil {
		t.Fatal(err)
	}
	const self = "123456789012"
	return &localLambda{
		t: t, emu: emu, now: now,
		exporter: app.Wire(cfg, emu.Clients(), quiet, clock),
		ctx:      lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{InvokedFunctionArn: "arn:aws:lambda:us-east-1:" + self + ":function:session-audit"}),
		org:      orgfunc.Wire(ocfg, emu.Clients().S3, nil, quiet, io.Discard, "org-fn", clock),
		runs:     &localmap.Runner{S3: emu.Clients().S3, Bucket: bucket, Prefix: "ssm-sessions", MapRunID: "local-map-run", Account: self, Region: "us-east-1", Now: clock},
		manifest: coverage.ResultWriterDetails{Bucket: bucket, Key: orgplan.RunsPrefix("ssm-sessions") + "/local-map-run/manifest.json"},
		calls:    map[string]int{},
		attempts: map[string]int{},
	}
}

// taskCalls returns the Task invocations so far, by state.
func (l *localLambda) taskCalls() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.calls)
}

// ServeHTTP answers one Task, POSTed by run.mjs.
func (l *localLambda) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := l.t
	stateName := strings.TrimPrefix(r.URL.Path, "/")
	var in struct {
		FunctionName string          `json:"FunctionName"`
		Payload      json.RawMessage `json:"Payload"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		t.Errorf("%s: %v", stateName, err)
	}
	answer := func(result any, err error) {
		if err != nil {
			json.NewEncoder(w).Encode(map[string]string{"error": "Error", "cause": err.Error()})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"result": map[string]any{"StatusCode": 200, "Payload": result}})
	}
	l.mu.Lock()
	l.calls[stateName]++
	l.mu.Unlock()
	switch in.FunctionName {
	case "{{OrgFunction.Arn}}":
		answer(l.orgFunction(r.Context(), in.Payload))
	case "{{SessionAuditFunction.Arn}}":
		var ev orgplan.Item
		if err := json.Unmarshal(in.Payload, &ev); err != nil {
			t.Errorf("exporter payload %s: %v", in.Payload, err)
		}
		target := ev.Account + "/" + ev.Region
		l.mu.Lock()
		l.attempts[target]++
		attempt := l.attempts[target]
		l.mu.Unlock()
		if l.throttle != nil && l.throttle(target, attempt) {
			json.NewEncoder(w).Encode(map[string]string{"error": "Lambda.TooManyRequestsException", "cause": "Rate Exceeded."})
			return
		}
		out, err := l.exporter.Invoke(l.ctx, in.Payload)
		input, _ := json.Marshal(map[string]json.RawMessage{"event": in.Payload})
		e := coverage.Execution{Name: target, Input: coverage.Document(input), Status: "SUCCEEDED", Output: coverage.Document(out), StopDate: l.now.Format(time.RFC3339)}
		if err != nil {
			e.Status, e.Error, e.Cause = "FAILED", "Error", err.Error()
		}
		l.mu.Lock()
		l.children = append(l.children, e)
		l.mu.Unlock()
		answer(json.RawMessage(out), err)
	default:
		t.Errorf("%s invokes unknown function %q", stateName, in.FunctionName)
		answer(nil, fmt.Errorf("unknown function"))
	}
}

// orgFunction runs the org function. Before Coverage it writes the Map's
// results in the ResultWriter's format, from the children answered; Plan's
// answer gains its items, for the local engine's ItemsPath.
func (l *localLambda) orgFunction(ctx context.Context, payload json.RawMessage) (any, error) {
	t := l.t
	var head struct {
		Phase string `json:"phase"`
	}
	if err := json.Unmarshal(payload, &head); err != nil {
		t.Errorf("org function payload: %v", err)
		return nil, err
	}
	if head.Phase == "coverage" {
		l.mu.Lock()
		done := slices.Clone(l.children)
		l.mu.Unlock()
		if _, err := l.runs.Write(ctx, done); err != nil {
			t.Errorf("write results: %v", err)
		}
	}
	out, err := l.org.Handle(ctx, payload)
	if err != nil || head.Phase != "plan" {
		return out, err
	}
	p := out.(orgplan.Output)
	obj, err := l.emu.Clients().S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(p.Bucket), Key: aws.String(p.Key)})
	if err != nil {
		t.Errorf("items file: %v", err)
		return nil, err
	}
	raw, err := io.ReadAll(obj.Body)
	obj.Body.Close()
	var items []orgplan.Item
	if err == nil {
		err = json.Unmarshal(raw, &items)
	}
	if err != nil {
		t.Errorf("items file: %v", err)
		return nil, err
	}
	l.mu.Lock()
	l.items = items
	l.mu.Unlock()
	return map[string]any{"bucket": p.Bucket, "key": p.Key, "count": p.Count, "runId": p.RunID, "runTime": p.RunTime, "items": json.RawMessage(raw)}, nil
}

// run executes the state machine of a stack resolved with params on
// aws-local-stepfunctions, every Task answered by l.
func (l *localLambda) run(node, dir string, params map[string]string, input string) localRun {
	t := l.t
	t.Helper()
	srv := httptest.NewServer(l)
	defer srv.Close()
	def, _ := orgDefinition(t, params)
	def = forLocalEngine(t, def, l.manifest)
	l.mu.Lock()
	l.children = nil
	l.mu.Unlock()
	req, _ := json.Marshal(map[string]any{"definition": def, "input": json.RawMessage(input), "url": srv.URL, "name": "exec-1"})
	cmd := exec.Command(node, filepath.Join(dir, "run.mjs"))
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(req)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("run.mjs: %v\n%s", err, stderr.String())
	}
	var res localRun
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("run.mjs answered %s: %v\n%s", out, err, stderr.String())
	}
	return res
}

// coverage reads a coverage file as "account/region status slots=N"
// lines, sorted.
func (l *localLambda) coverage(key string) []string {
	t := l.t
	t.Helper()
	obj, err := l.emu.Clients().S3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(string(body)), "\n") {
		var rec coverage.Record
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s/%s %s slots=%d", rec.AccountID, rec.Region, rec.Status, rec.Slots))
	}
	sort.Strings(got)
	return got
}
