package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/session-audit/session-audit/internal/app"
	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/export"
	"github.com/session-audit/session-audit/internal/handler"
	"github.com/session-audit/session-audit/internal/outcome"
	"github.com/session-audit/session-audit/internal/ssmfake"
	"github.com/session-audit/session-audit/internal/stsfake"
)

const (
	member     = "111122223333"
	memberRole = "session-reader"
	fnARN      = "arn:aws:lambda:us-east-1:123456789012:function:audit-exporter"
)

var fixedNow = time.Date(2026, 11, 26, 6, 30, 0, 0, time.UTC)

// setEmulatorEnv points the process environment (which the SDK's default
// chain reads) at emu, and nowhere else.
func setEmulatorEnv(tb testing.TB, emu *emulators.Emulators) map[string]string {
	tb.Helper()
	dir := tb.TempDir()
	for k, v := range map[string]string{
		"AWS_CA_BUNDLE": "", "AWS_PROFILE": "", "AWS_SESSION_TOKEN": "", "AWS_ENDPOINT_URL": "",
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
	} {
		tb.Setenv(k, v)
	}
	env := emu.Env()
	env["AUDIT_MEMBER_ROLE"] = memberRole
	for k, v := range env {
		tb.Setenv(k, v)
	}
	return env
}

func invoke(ctx context.Context, h *handler.Handler, event string) (export.Result, error) {
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{InvokedFunctionArn: fnARN})
	out, err := h.Handle(ctx, json.RawMessage(event))
	if err != nil {
		return export.Result{}, err
	}
	return out.(export.Result), nil
}

// newFunction starts the emulators over fake and sts and builds the
// function as the Lambda does (app.New, the SDK's default chain), with
// AUDIT_MEMBER_ROLE memberRole.
func newFunction(t *testing.T, fake *ssmfake.Server, sts *stsfake.Server) (*handler.Handler, *emulators.Emulators) {
	t.Helper()
	emu, err := emulators.Start(emulators.Options{Bucket: "audit-bucket", SSM: fake, STS: sts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	env := setEmulatorEnv(t, emu)
	h, err := app.New(context.Background(), func(k string) string { return env[k] }, slog.New(slog.NewJSONHandler(io.Discard, nil)), io.Discard, func() time.Time { return fixedNow })
	if err != nil {
		t.Fatal(err)
	}
	return h, emu
}

// TestMemberTargetThroughTheDefaultChain builds the function as the Lambda
// does (app.New, the SDK's default chain) against the emulators: the
// member role is assumed at AWS_ENDPOINT_URL_STS with a session name that
// names the function, and SSM is called in the event's region.
func TestMemberTargetThroughTheDefaultChain(t *testing.T) {
	fake := ssmfake.New()
	start := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	end := start.Add(time.Minute)
	fake.Target(member, "eu-west-1").Put(types.Session{SessionId: aws.String("m-0"), StartDate: &start, EndDate: &end, Status: types.SessionStatusTerminated})
	sts := stsfake.New()
	sts.AllowRole(member, stsfake.Role{Name: memberRole})
	h, _ := newFunction(t, fake, sts)
	res, err := invoke(context.Background(), h, `{"time":"2026-11-26T00:05:00Z","account":"`+member+`","region":"eu-west-1"}`)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != outcome.Exported || res.Rows != 1 || res.Account != member || res.Region != "eu-west-1" {
		t.Errorf("response %+v", res)
	}
	calls := sts.Calls()
	if len(calls) != 1 || calls[0].Action != "AssumeRole" || calls[0].Session != "audit-exporter" ||
		calls[0].RoleARN != "arn:aws:iam::"+member+":role/"+memberRole || calls[0].External != "" {
		t.Errorf("STS calls %+v", calls)
	}
	for _, c := range fake.Calls() {
		if c.Account != member || c.Region != "eu-west-1" {
			t.Errorf("SSM call for %s/%s", c.Account, c.Region)
		}
	}
}

// BenchmarkEmptyTarget measures the exporter's per-target overhead on a
// warm function for a target without sessions, every emulator (STS, SSM,
// S3) answering after 5 ms: a scheduled run (two 24-hour slots of the
// default 48-hour lookback, and the 31 daily listings of the target's
// manifests) and a backfill of one slot, each with the AssumeRole of an
// account met for the first time, or with its credentials cached.
func BenchmarkEmptyTarget(b *testing.B) {
	latency := benchLatency(b)
	var s3Requests atomic.Int64
	delay := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(latency)
			next.ServeHTTP(w, r)
		})
	}
	countS3 := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s3Requests.Add(1)
			delay(next).ServeHTTP(w, r)
		})
	}
	fake := ssmfake.New(ssmfake.WithFaults(ssmfake.Faults{Latency: latency}))
	sts := stsfake.New()
	emu, err := emulators.Start(emulators.Options{Bucket: "audit-bucket", SSM: fake, STS: sts, STSWrap: delay, S3Wrap: countS3})
	if err != nil {
		b.Fatal(err)
	}
	defer emu.Close()
	env := setEmulatorEnv(b, emu)
	h, err := app.New(context.Background(), func(k string) string { return env[k] }, slog.New(slog.NewJSONHandler(io.Discard, nil)), io.Discard, func() time.Time { return fixedNow })
	if err != nil {
		b.Fatal(err)
	}
	events := map[string]string{
		"scheduled": `{"time":"2026-11-26T00:05:00Z","account":%q,"region":"eu-west-1"}`,
		"backfill":  `{"start":"2026-11-25T00:00:00Z","end":"2026-11-26T00:00:00Z","account":%q,"region":"eu-west-1"}`,
	}
	next := 200000000000
	for _, kind := range []string{"scheduled", "backfill"} {
		for _, fresh := range []bool{true, false} {
			name := kind + "/cached-credentials"
			if fresh {
				name = kind + "/assume-role"
			}
			b.Run(name, func(b *testing.B) {
				cached := fmt.Sprintf("%012d", next)
				next++
				sts.AllowRole(cached, stsfake.Role{Name: memberRole})
				ssmBefore, stsBefore, s3Before := len(fake.Calls()), len(sts.Calls()), s3Requests.Load()
				for b.Loop() {
					acct := cached
					if fresh {
						acct = fmt.Sprintf("%012d", next)
						next++
						sts.AllowRole(acct, stsfake.Role{Name: memberRole})
					}
					res, err := invoke(context.Background(), h, fmt.Sprintf(events[kind], acct))
					if err != nil || res.Status != outcome.Exported {
						b.Fatalf("%+v, %v", res, err)
					}
				}
				b.ReportMetric(float64(len(fake.Calls())-ssmBefore)/float64(b.N), "ssm-calls/op")
				b.ReportMetric(float64(len(sts.Calls())-stsBefore)/float64(b.N), "sts-calls/op")
				b.ReportMetric(float64(s3Requests.Load()-s3Before)/float64(b.N), "s3-requests/op")
			})
		}
	}
}

// benchLatency is the emulators' latency of BenchmarkEmptyTarget:
// BENCH_LATENCY (a duration), 5 ms by default.
func benchLatency(b *testing.B) time.Duration {
	v := os.Getenv("BENCH_LATENCY")
	if v == "" {
		return 5 * time.Millisecond
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		b.Fatalf("BENCH_LATENCY %q: %v", v, err)
	}
	return d
}

// TestMemberRegionRefusals: a member account that deactivated STS in the
// function's region answers AssumeRole with RegionDisabledException, and
// the target reads region-disabled, with nothing written; STS refusing the
// function's own token there (InvalidClientTokenId) is a failure of the run.
func TestMemberRegionRefusals(t *testing.T) {
	const inactive = "222233334444"
	sts := stsfake.New()
	sts.AllowRole(member, stsfake.Role{Name: memberRole})
	sts.AllowRole(inactive, stsfake.Role{Name: memberRole})
	sts.DeactivateRegion(inactive, "us-east-1")
	h, emu := newFunction(t, ssmfake.New(), sts)
	res, err := invoke(context.Background(), h, `{"time":"2026-11-26T00:05:00Z","account":"`+inactive+`","region":"eu-west-1"}`)
	if err != nil {
		t.Fatalf("a member that deactivated STS failed the run: %v", err)
	}
	if res.Status != outcome.RegionDisabled || len(res.Slots) != 0 || !strings.HasPrefix(res.Error, "RegionDisabledException: STS is not activated in this region for account:"+inactive) {
		t.Errorf("response %+v", res)
	}
	objs, err := emu.Clients().S3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("audit-bucket")})
	if err != nil || len(objs.Contents) != 0 {
		t.Errorf("written for a refused target: %v, %v", objs, err)
	}

	sts.DisableRegion(stsfake.LocalAccount, "us-east-1")
	_, err = invoke(context.Background(), h, `{"time":"2026-11-26T00:05:00Z","account":"`+member+`","region":"eu-west-1"}`)
	if err == nil || !strings.Contains(err.Error(), "InvalidClientTokenId") || !strings.Contains(err.Error(), "account "+member+" region eu-west-1") {
		t.Errorf("STS refusing the function's own token: %v; want a failure naming the target", err)
	}
	// A lookup too: the function's own credentials refused is a failure,
	// not a region-disabled target.
	out, err := h.Handle(lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{InvokedFunctionArn: fnARN}), json.RawMessage(`{"sessionId":"x-0123456789abcdef0","account":"`+member+`","region":"eu-west-1"}`))
	if err == nil || !strings.Contains(err.Error(), "InvalidClientTokenId") {
		t.Errorf("lookup with the function's own token refused: %+v, %v; want a failure", out, err)
	}
}
