package lambdarun

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/session-audit/session-audit/internal/coverage"
	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/localmap"
	"github.com/session-audit/session-audit/internal/orgplan"
)

// buildOrg compiles the org function's bootstrap like `make
// build-OrgFunction`, for the host platform (see build).
var buildOrg = sync.OnceValues(func() (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return "", err
	}
	out := filepath.Join(binDir, "org", "bootstrap")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goCmd, "build", "-tags", "lambda.norpc", "-o", out, "./functions/session-audit-org")
	cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./functions/session-audit-org: %v\n%s", err, b)
	}
	return out, nil
})

// TestOrgFunctionThroughRIE drives the built org function through the
// Runtime API as the state machine's Plan and Coverage states invoke it:
// Plan writes the items file, Coverage reads a ResultWriter output and
// writes the coverage file and its EMF metrics line.
func TestOrgFunctionThroughRIE(t *testing.T) {
	b := binaries(t)
	orgBin, err := buildOrg()
	if err != nil {
		t.Fatal(err)
	}
	emu, err := emulators.Start(emulators.Options{Bucket: "audit-bucket"})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	env := isolatedEnv(t.TempDir())
	maps.Copy(env, emu.Env())
	maps.Copy(env, map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME": "session-audit-org", "AWS_LAMBDA_FUNCTION_TIMEOUT": "60", "AWS_LAMBDA_LOG_FORMAT": "JSON",
		"AUDIT_REGIONS": "eu-west-1,us-east-1", "AUDIT_ACCOUNTS": "111111111111,222222222222",
	})
	r := startRIE(t, bins{bootstrap: orgBin, rie: b.rie}, env)

	now := time.Now().UTC()
	status, body := r.invoke(t, []byte(fmt.Sprintf(`{"phase":"plan","runId":"exec-rie","startedAt":%q,"input":{"time":%q}}`,
		now.Format(time.RFC3339Nano), now.Format(time.RFC3339))))
	var plan orgplan.Output
	if status != 200 || json.Unmarshal(body, &plan) != nil || plan.Key != "ssm-sessions/runs/exec-rie/items.json" || plan.Count != 4 {
		t.Fatalf("plan: %d %s", status, body)
	}
	c := emu.Clients().S3
	ctx := context.Background()
	obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("audit-bucket"), Key: aws.String(plan.Key)})
	if err != nil {
		t.Fatal(err)
	}
	var items []orgplan.Item
	err = json.NewDecoder(obj.Body).Decode(&items)
	obj.Body.Close()
	if err != nil {
		t.Fatalf("items file: %v", err)
	}
	if len(items) != 4 {
		t.Fatalf("items %v", items)
	}
	// What the Map would have written: three targets exported, one denied.
	var execs []coverage.Execution
	for i, it := range items {
		in, _ := json.Marshal(map[string]any{"event": it})
		st := "exported"
		if it.Account == "222222222222" && it.Region == "us-east-1" {
			st = "denied"
		}
		out, _ := json.Marshal(map[string]any{"mode": "scheduled", "account": it.Account, "region": it.Region, "status": st, "slots": []any{}, "rows": 0})
		execs = append(execs, coverage.Execution{Name: fmt.Sprint(i), Input: coverage.Document(in), Output: coverage.Document(out), Status: "SUCCEEDED", StopDate: now.Format(time.RFC3339)})
	}
	m := &localmap.Runner{S3: c, Bucket: "audit-bucket", Prefix: "ssm-sessions", MapRunID: "maprun", Account: "123456789012", Region: "us-east-1", Now: func() time.Time { return now }}
	details, err := m.Write(ctx, execs)
	if err != nil {
		t.Fatal(err)
	}
	ev, _ := json.Marshal(map[string]any{"phase": "coverage", "runId": plan.RunID, "runTime": plan.RunTime, "itemsKey": plan.Key, "resultWriterDetails": details})
	status, body = r.invoke(t, ev)
	var cov coverage.Output
	if status != 200 || json.Unmarshal(body, &cov) != nil || cov.Targets != 4 || cov.Exported != 3 || cov.Denied != 1 {
		t.Fatalf("coverage: %d %s", status, body)
	}
	obj, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("audit-bucket"), Key: aws.String(cov.Key)})
	if err != nil {
		t.Fatal(err)
	}
	lines, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if n := strings.Count(string(lines), "\n"); n != 4 {
		t.Errorf("coverage file has %d lines:\n%s", n, lines)
	}
	// The EMF line reaches the function's stdout, as CloudWatch reads it.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(r.stdout.String(), `"TargetsDenied":1`) {
		if time.Now().After(deadline) {
			t.Fatalf("no EMF line with TargetsDenied in the function's output:\n%s", r.stdout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A malformed event is a function error naming the problem.
	status, body = r.invoke(t, []byte(`{"phase":"plan","runId":"x","startedAt":"now","input":{}}`))
	if !strings.Contains(string(body), "startedAt") {
		t.Errorf("bad event: %d %s", status, body)
	}
}
