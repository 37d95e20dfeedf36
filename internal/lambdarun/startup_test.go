package lambdarun

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// startupEnv is a complete environment for the bootstrap except its
// AUDIT_BUCKET; the endpoints are never reached.
func startupEnv(t *testing.T) map[string]string {
	env := isolatedEnv(t.TempDir())
	maps.Copy(env, map[string]string{
		"AWS_REGION":                  "us-east-1",
		"AWS_ACCESS_KEY_ID":           "AKIASTARTUPTEST",
		"AWS_SECRET_ACCESS_KEY":       "startup-test-secret",
		"AWS_ENDPOINT_URL_SSM":        "http://127.0.0.1:9",
		"AWS_ENDPOINT_URL_S3":         "http://127.0.0.1:9",
		"AWS_LAMBDA_FUNCTION_NAME":    functionName,
		"AWS_LAMBDA_FUNCTION_TIMEOUT": "30",
		"AWS_LAMBDA_LOG_FORMAT":       "JSON",
	})
	return env
}

// TestMissingBucketExitsBeforeInvocation runs the bootstrap directly, with
// AWS_LAMBDA_RUNTIME_API pointing at a server that records every request:
// without AUDIT_BUCKET it must exit non-zero, name the variable, and never
// ask the Runtime API for an invocation. This is the reliable form of the
// check: under RIE the runtime only starts at the first invocation (see the
// test below).
func TestMissingBucketExitsBeforeInvocation(t *testing.T) {
	b := binaries(t)
	var calls atomic.Int64
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "this test serves no invocation", http.StatusInternalServerError)
	}))
	defer api.Close()

	env := startupEnv(t)
	env["AWS_LAMBDA_RUNTIME_API"] = strings.TrimPrefix(api.URL, "http://")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.bootstrap)
	cmd.Env = envList(env)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() <= 0 {
		t.Fatalf("bootstrap without AUDIT_BUCKET: %v (want a non-zero exit)\n%s", err, out)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("bootstrap made %d Runtime API requests before exiting; want none", n)
	}
	if !strings.Contains(string(out), "AUDIT_BUCKET") {
		t.Errorf("bootstrap output does not name AUDIT_BUCKET:\n%s", out)
	}
	t.Logf("exit %d:\n%s", exit.ExitCode(), out)
}

// TestMissingBucketUnderRIE is the same failure as `sam local invoke` shows
// it: RIE starts the runtime at the first invocation, the runtime exits
// during its init, and RIE answers 502 with the runtime's output naming
// AUDIT_BUCKET in its log.
func TestMissingBucketUnderRIE(t *testing.T) {
	b := binaries(t)
	r := startRIE(t, b, startupEnv(t))
	status, body := r.invoke(t, []byte(`{"sessionId":"alice-0a1b2c3d4e5f67890"}`))
	if status != http.StatusBadGateway {
		t.Errorf("RIE answered %d %s; want 502 Bad Gateway for a runtime that failed its init", status, body)
	}
	// RIE may answer before it has written its log.
	eventually(t, "the function's output names AUDIT_BUCKET", func() bool {
		return strings.Contains(r.stdout.String(), "AUDIT_BUCKET is required")
	})
	eventually(t, "RIE's log reports the runtime's exit", func() bool {
		return strings.Contains(r.stderr.String(), "Runtime exited with error: exit status 1")
	})
}

// eventually waits up to 5 s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("after 5s, still not: %s", what)
			return
		}
	}
}
