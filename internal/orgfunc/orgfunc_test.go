package orgfunc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/localmap"
	"github.com/session-audit/session-audit/internal/orgconfig"
	"github.com/session-audit/session-audit/internal/orgfunc"
	"github.com/session-audit/session-audit/internal/orgplan"
)

var now = time.Date(2026, 11, 25, 0, 20, 0, 0, time.UTC)

func setup(t *testing.T) (*orgfunc.Handler, *s3.Client, *bytes.Buffer) {
	t.Helper()
	emu, err := emulators.Start(emulators.Options{Bucket: "audit"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	env := map[string]string{"AUDIT_BUCKET": "audit", "AUDIT_REGIONS": "eu-west-1,us-east-1", "AUDIT_ACCOUNTS": "111111111111,222222222222,333333333333"}
	cfg, err := orgconfig.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	c := emu.Clients().S3
	var emf bytes.Buffer
	h := orgfunc.Wire(cfg, c, nil, slog.New(slog.NewJSONHandler(io.Discard, nil)), &emf, "org-fn", func() time.Time { return now })
	return h, c, &emf
}

// exporter stands in for the exporter function: denied for 222222222222,
// an error for 333333333333 in us-east-1, exported otherwise.
func exporter(_ context.Context, input []byte) ([]byte, error) {
	var in struct {
		Event orgplan.Item `json:"event"`
	}
	if err := json.Unmarshal(input, &in); err != nil {
		return nil, err
	}
	e := in.Event
	switch {
	case e.Account == "222222222222":
		return json.Marshal(map[string]any{"mode": "scheduled", "account": e.Account, "region": e.Region, "status": "denied", "slots": []any{}, "rows": 0})
	case e.Account == "333333333333" && e.Region == "us-east-1":
		return nil, errors.New("target 333333333333/us-east-1: ssm: ThrottlingException")
	}
	return json.Marshal(map[string]any{"mode": "scheduled", "account": e.Account, "region": e.Region, "status": "exported", "slots": []any{map[string]int{"rows": 2}}, "rows": 2})
}

func TestPlanMapCoverage(t *testing.T) {
	h, c, emf := setup(t)
	ctx := context.Background()
	raw, err := h.Invoke(ctx, []byte(`{"phase":"plan","runId":"exec-1","startedAt":"2026-11-25T00:15:01.5Z","input":{"time":"2026-11-25T00:15:00Z"}}`))
	if err != nil {
		t.Fatal(err)
	}
	var plan orgplan.Output
	if err := json.Unmarshal(raw, &plan); err != nil {
		t.Fatal(err)
	}
	if plan.Key != "ssm-sessions/runs/exec-1/items.json" || plan.Count != 6 {
		t.Fatalf("plan %s", raw)
	}
	r := &localmap.Runner{S3: c, Bucket: "audit", Prefix: "ssm-sessions", Concurrency: 2, MapRunID: "maprun-1", Account: "123456789012", Region: "eu-west-1", Now: func() time.Time { return now }}
	rw, err := r.Run(ctx, plan.Key, exporter)
	if err != nil {
		t.Fatal(err)
	}
	ev, _ := json.Marshal(map[string]any{"phase": "coverage", "runId": plan.RunID, "runTime": plan.RunTime, "itemsKey": plan.Key, "resultWriterDetails": rw})
	_, err = h.Invoke(ctx, ev)
	if err == nil || !strings.Contains(err.Error(), "1 of 6 targets failed (333333333333/us-east-1)") {
		t.Fatalf("coverage err = %v", err)
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("audit"), Key: aws.String("ssm-sessions/coverage/dt=2026-11-25/exec-1.json")})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(out.Body)
	var statuses []string
	for _, line := range strings.Split(strings.TrimSpace(string(body)), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		statuses = append(statuses, rec["account_id"].(string)+"/"+rec["region"].(string)+"="+rec["status"].(string))
	}
	want := "111111111111/eu-west-1=exported 111111111111/us-east-1=exported 222222222222/eu-west-1=denied 222222222222/us-east-1=denied 333333333333/eu-west-1=exported 333333333333/us-east-1=failed"
	if strings.Join(statuses, " ") != want {
		t.Fatalf("coverage:\n%s\nwant %s", body, want)
	}
	if !strings.Contains(emf.String(), `"TargetsDenied":2`) || !strings.Contains(emf.String(), `"TargetsFailed":1`) {
		t.Fatalf("EMF: %s", emf.String())
	}
}

func TestBadEvents(t *testing.T) {
	h, c, _ := setup(t)
	for name, tc := range map[string]struct{ ev, want string }{
		"not JSON":      {`{`, "not a JSON object"},
		"no phase":      {`{"runId":"x"}`, `no "phase"`},
		"bad phase":     {`{"phase":"export"}`, `phase "export"`},
		"unknown field": {`{"phase":"plan","runId":"x","startedAt":"2026-11-25T00:15:00Z","input":{"time":"2026-11-25T00:15:00Z"},"extra":1}`, `unknown field "extra"`},
		"no input":      {`{"phase":"plan","runId":"x","startedAt":"2026-11-25T00:15:00Z"}`, `"input"`},
		"bad start":     {`{"phase":"plan","runId":"x","startedAt":"now","input":{"time":"2026-11-25T00:15:00Z"}}`, "startedAt"},
		"bad input":     {`{"phase":"plan","runId":"x","startedAt":"2026-11-25T00:15:00Z","input":{"time":"2026-11-25T00:15:00Z","sessionId":"a"}}`, "state machine input"},
		"coverage":      {`{"phase":"coverage","runId":"x","runTime":"2026-11-25T00:15:00Z","itemsKey":"ssm-sessions/runs/x/items.json","resultWriterDetails":{"Bucket":"audit","Key":"elsewhere/manifest.json"}}`, "not a ResultWriter manifest"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := h.Invoke(context.Background(), []byte(tc.ev)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	out, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("audit")})
	if err != nil || len(out.Contents) != 0 {
		t.Fatalf("bad events wrote %d objects (%v)", len(out.Contents), err)
	}
}

func TestNewNamesTheBadVariable(t *testing.T) {
	t.Setenv("AWS_CA_BUNDLE", "")
	t.Setenv("AWS_REGION", "us-east-1")
	base := map[string]string{"AUDIT_BUCKET": "audit-bucket", "AUDIT_REGIONS": "eu-west-1", "AUDIT_ACCOUNTS": "111111111111"}
	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"no regions":             {map[string]string{"AUDIT_REGIONS": ""}, "AUDIT_REGIONS"},
		"no accounts":            {map[string]string{"AUDIT_ACCOUNTS": ""}, "AUDIT_ORG_ROLE_ARN"},
		"clear endpoint":         {map[string]string{"AWS_ENDPOINT_URL_ORGANIZATIONS": "http://organizations.example.com"}, "AWS_ENDPOINT_URL_ORGANIZATIONS"},
		"clear general endpoint": {map[string]string{"AWS_ENDPOINT_URL": "http://aws.example.com"}, "AWS_ENDPOINT_URL"},
		"bad bucket":             {map[string]string{"AUDIT_BUCKET": "Bad_Bucket"}, "AUDIT_BUCKET"},
	} {
		t.Run(name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tc.env {
				env[k] = v
			}
			_, err := orgfunc.New(context.Background(), func(k string) string { return env[k] }, slog.New(slog.NewJSONHandler(io.Discard, nil)), io.Discard, func() time.Time { return now })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to name %s", err, tc.want)
			}
		})
	}
	if _, err := orgfunc.New(context.Background(), func(k string) string { return base[k] }, slog.New(slog.NewJSONHandler(io.Discard, nil)), io.Discard, func() time.Time { return now }); err != nil {
		t.Fatalf("a good environment: %v", err)
	}
}
