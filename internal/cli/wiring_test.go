package cli_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/session-audit/session-audit/internal/cli"
	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/ssmfake"
)

// TestDemoDeletesNothingUnasked: a bad flag or variable, or a folder that
// holds an earlier export, stops the demo before it touches that export;
// only --clean replaces it.
func TestDemoDeletesNothingUnasked(t *testing.T) {
	dir := t.TempDir()
	if _, stderr, code := run(t, nil, "demo", "--out", dir, "--sessions", "300", "--days", "3"); code != 0 {
		t.Fatalf("first demo: exit %d, %s", code, stderr)
	}
	files := func() []string {
		t.Helper()
		var fs []string
		err := filepath.WalkDir(emulators.BucketDir(dir, cli.LocalBucket), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				fs = append(fs, p)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return fs
	}
	before := files()
	if len(before) < 4 {
		t.Fatalf("the first demo left %d files", len(before))
	}
	for _, tt := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, []string{"--days", "0", "--clean"}, "--days"},
		{nil, []string{"--sessions", "-1", "--clean"}, "--sessions"},
		{map[string]string{"AUDIT_FILTER_STATUS": "Bogus"}, []string{"--clean"}, "AUDIT_FILTER_STATUS"},
		{nil, nil, "--clean"},
	} {
		_, stderr, code := run(t, tt.env, append([]string{"demo", "--out", dir, "--sessions", "300"}, tt.args...)...)
		if code != 2 || !strings.Contains(stderr, tt.want) {
			t.Errorf("demo %v: exit %d, %s; want 2 and a message naming %s", tt.args, code, stderr, tt.want)
		}
		if after := files(); len(after) != len(before) {
			t.Fatalf("demo %v changed the earlier export: %d files, then %d", tt.args, len(before), len(after))
		}
	}
	if _, stderr, code := run(t, nil, "demo", "--out", dir, "--sessions", "300", "--days", "2", "--clean"); code != 0 {
		t.Fatalf("demo --clean: exit %d, %s", code, stderr)
	}
	if after := files(); len(after) >= len(before) {
		t.Errorf("demo --clean over 2 days left %d files; the 3-day export had %d", len(after), len(before))
	}
}

// TestExitCodes: usage and configuration errors exit 2, failed work 1.
func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	malformed := write("malformed.json", `{"time":`)
	unknown := write("unknown.json", `{"when":"2026-11-26T00:00:00Z"}`)
	offGrid := write("offgrid.json", `{"start":"2026-11-24T01:00:00Z","end":"2026-11-25T00:00:00Z"}`)
	for _, tt := range []struct {
		env  map[string]string
		args []string
		code int
		want string
	}{
		{nil, []string{"run", "--local", "--out", dir, "--event", malformed}, 2, "not valid JSON"},
		{nil, []string{"run", "--local", "--out", dir, "--event", unknown}, 2, `"when"`},
		{nil, []string{"run", "--local", "--out", dir, "--event", offGrid}, 2, "slot grid"},
		{nil, []string{"run", "--local", "--out", dir, "--event", filepath.Join(dir, "missing.json")}, 2, "read event"},
		{map[string]string{"AUDIT_SLOT": "5h"}, []string{"run", "--local", "--out", dir}, 2, "AUDIT_SLOT"},
		{map[string]string{"AUDIT_BUCKET": "Not_A_Bucket"}, []string{"lookup", "--local", "--out", dir, "x-0123456789abcdef0"}, 2, "AUDIT_BUCKET"},
		{nil, []string{"lookup", "--local", "--out", dir, "bad id!"}, 2, "sessionId"},
		{nil, []string{"backfill", "--local", "--out", dir, "--last", "31"}, 2, "--last"},
		{nil, []string{"run", "--local", "--out", dir, "--account", "12345"}, 2, "--account"},
		{nil, []string{"backfill", "--local", "--out", dir, "--last", "2", "--start", "2026-11-24T00:00:00Z"}, 2, "not both"},
	} {
		_, stderr, code := run(t, tt.env, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, %s; want %d and a message with %s", tt.args, code, stderr, tt.code, tt.want)
		}
	}
	// Failed work: the bucket does not exist on the S3 server.
	startAWS(t, "no-such-bucket")
	twoDays := write("twodays.json", `{"start":"2026-11-24T00:00:00Z","end":"2026-11-26T00:00:00Z"}`)
	_, stderr, code := run(t, proc, "run", "--account", "111122223333", "--event", twoDays)
	if code != 1 || !strings.Contains(stderr, "NoSuchBucket") {
		t.Errorf("run against a missing bucket: exit %d, %s; want 1", code, stderr)
	}
	// The error names each slot it did not write once.
	for _, slot := range []string{"2026-11-24T00:00:00Z/2026-11-25T00:00:00Z", "2026-11-25T00:00:00Z/2026-11-26T00:00:00Z"} {
		if n := strings.Count(stderr[strings.LastIndex(stderr, "session-audit run:"):], slot); n != 1 {
			t.Errorf("the error names slot %s %d times, want once:\n%s", slot, n, stderr)
		}
	}
}

// TestRegionCheckedOnTheCLI: the CLI goes through the Lambda's start-up
// checks, so a malformed AWS_REGION is named before anything is called.
func TestRegionCheckedOnTheCLI(t *testing.T) {
	aws := startAWS(t, "audit-bucket")
	t.Setenv("AWS_REGION", "US_EAST")
	for _, args := range [][]string{{"run"}, {"lookup", "x-0123456789abcdef0"}, {"backfill", "--last", "1"}} {
		_, stderr, code := run(t, proc, args...)
		if code != 2 || !strings.Contains(stderr, "AWS_REGION") || strings.Contains(stderr, "ARN") {
			t.Errorf("%v with AWS_REGION=US_EAST: exit %d, %s; want 2 naming AWS_REGION", args, code, stderr)
		}
	}
	if n := aws.stsCalls.Load(); n != 0 {
		t.Errorf("%d STS calls with a bad region; want none", n)
	}
}

// TestEmulateEnvironment runs the CLI without --local against the
// environment `emulate` prints, plus AWS_ENDPOINT_URL_STS: the account
// comes from that STS endpoint (never real AWS), lookup makes no STS call,
// --account makes none, and the SDK's own warnings (here about the STS
// answer's bad Date header) are JSON lines on the CLI's stderr.
func TestEmulateEnvironment(t *testing.T) {
	aws := startAWS(t, "audit-bucket")
	id := awssdk.ToString(aws.sessions[3].SessionId)
	out, stderr, code := run(t, proc, "lookup", id)
	if code != 0 || !strings.Contains(out, `"session_id": "`+id+`"`) {
		t.Fatalf("lookup: exit %d, %s %s", code, out, stderr)
	}
	if n := aws.stsCalls.Load(); n != 0 {
		t.Errorf("lookup made %d STS calls; it writes nothing and needs no account", n)
	}
	// Not found: one STS call, to name the account it searched.
	out, stderr, code = run(t, proc, "lookup", "nobody-0123456789abcdef0")
	if code != 1 || out != "" || !strings.Contains(stderr, "not found in account "+stsAccount+", region us-east-1") {
		t.Fatalf("lookup of an id that does not exist: exit %d, %q %s; want 1 naming account %s", code, out, stderr, stsAccount)
	}
	if n := aws.stsCalls.Swap(0); n != 1 {
		t.Errorf("a lookup that found nothing made %d STS calls, want 1", n)
	}
	out, stderr, code = run(t, proc, "run")
	if code != 0 || !strings.Contains(out, stsAccount+"_us-east-1_") {
		t.Fatalf("run: exit %d, %s %s; want keys named after the STS answer's account", code, out, stderr)
	}
	if n := aws.stsCalls.Load(); n != 1 {
		t.Errorf("run made %d STS calls through AWS_ENDPOINT_URL_STS, want 1", n)
	}
	if !strings.Contains(stderr, `"source":"aws-sdk"`) || !strings.Contains(stderr, "Date header") {
		t.Errorf("the SDK's warning about the bad Date header is not a JSON line on the CLI's stderr:\n%s", stderr)
	}
	checkJSONLogs(t, stderr)
	_, stderr, code = run(t, proc, "backfill", "--last", "2", "--account", "111122223333")
	if code != 0 || !strings.Contains(stderr, `"n":"2/2"`) {
		t.Fatalf("backfill --account: exit %d, %s", code, stderr)
	}
	if n := aws.stsCalls.Load(); n != 1 {
		t.Errorf("backfill --account made %d STS calls, want none", n-1)
	}
	checkJSONLogs(t, stderr)
}

// TestMissingCredentials: without credentials the CLI stops before any
// call, exits 2 and names the ways to supply them, not only the SDK's
// last error.
func TestMissingCredentials(t *testing.T) {
	aws := startAWS(t, "audit-bucket")
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI": "", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
		"AWS_WEB_IDENTITY_TOKEN_FILE": "", "AWS_ROLE_ARN": "",
	} {
		t.Setenv(k, v)
	}
	t.Setenv("AUDIT_REGIONS", "us-east-1")
	t.Setenv("AUDIT_ACCOUNTS", "111111111111")
	for _, args := range [][]string{{"run"}, {"lookup", "x-0123456789abcdef0"}, {"backfill", "--last", "1", "--account", "111122223333"}, {"org", "--account", "111122223333"}} {
		_, stderr, code := run(t, proc, args...)
		if code != 2 {
			t.Errorf("%v without credentials: exit %d, want 2: %s", args, code, stderr)
		}
		for _, want := range []string{"no AWS credentials", "AWS_ACCESS_KEY_ID", "AWS_PROFILE", "aws sso login", "container role", "EC2 instance role", "--local", "EC2 IMDS"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("%v without credentials does not say %q:\n%s", args, want, stderr)
			}
		}
	}
	if n := aws.stsCalls.Load(); n != 0 {
		t.Errorf("%d STS calls without credentials; want none", n)
	}
	if calls := aws.ssm.Calls(); len(calls) != 0 {
		t.Errorf("%d SSM calls without credentials; want none", len(calls))
	}
}

// TestLocalChecksRegion: a malformed AWS_REGION is refused with --local as
// it is without.
func TestLocalChecksRegion(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"AWS_REGION": "nowhere"}
	for _, args := range [][]string{
		{"run", "--local", "--out", dir},
		{"lookup", "--local", "--out", dir, "x-0123456789abcdef0"},
		{"backfill", "--local", "--out", dir, "--last", "1"},
		{"org", "--local", "--out", dir},
	} {
		_, stderr, code := run(t, env, args...)
		if code != 2 || !strings.Contains(stderr, `AWS_REGION: region "nowhere"`) {
			t.Errorf("%v with AWS_REGION=nowhere: exit %d, %s; want 2 naming AWS_REGION", args, code, stderr)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refused region left %d entries in --out", len(entries))
	}
	if _, stderr, code := run(t, map[string]string{"AWS_REGION": "eu-west-1"}, "run", "--local", "--out", dir, "--sessions", "50"); code != 0 {
		t.Errorf("AWS_REGION=eu-west-1 with --local: exit %d, %s", code, stderr)
	}
}

// TestLocalHonoursAuditBucket: --local does not drop AUDIT_BUCKET; the
// emulated bucket carries its name, under --out.
func TestLocalHonoursAuditBucket(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"AUDIT_BUCKET": "my-audit-bucket"}
	out, stderr, code := run(t, env, "run", "--local", "--out", dir, "--sessions", "200")
	if code != 0 || !strings.Contains(stderr, "my-audit-bucket") {
		t.Fatalf("run --local: exit %d, %s %s", code, out, stderr)
	}
	got, err := filepath.Glob(filepath.Join(emulators.BucketDir(dir, "my-audit-bucket"), "ssm-sessions", "manifests", "dt=*", "*.json"))
	if err != nil || len(got) != 2 {
		t.Errorf("manifests in the emulated my-audit-bucket: %v %v; want the run's 2", got, err)
	}
	if _, err := os.Stat(emulators.BucketDir(dir, cli.LocalBucket)); !os.IsNotExist(err) {
		t.Errorf("the default bucket %s was used too: %v", cli.LocalBucket, err)
	}
}

// stsAccount is the account the test's STS endpoint answers with.
const stsAccount = "210987654321"

type fakeAWS struct {
	emu      *emulators.Emulators
	ssm      *ssmfake.Server
	sessions []types.Session
	stsCalls atomic.Int64
}

// startAWS starts the emulators, as `emulate` does, and an STS endpoint
// that answers GetCallerIdentity in the STS query protocol (with a Date
// header the SDK cannot parse, so that it logs a warning), and points the
// process environment, which the SDK's default chain reads, at them. The
// CLI then runs with os.Getenv, as it does for users.
func startAWS(t *testing.T, bucket string) *fakeAWS {
	t.Helper()
	f := &fakeAWS{}
	sts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Form.Get("Action") != "GetCallerIdentity" {
			http.Error(w, "unexpected STS request", http.StatusBadRequest)
			return
		}
		f.stsCalls.Add(1)
		w.Header().Set("Content-Type", "text/xml")
		w.Header().Set("Date", "not a date")
		fmt.Fprintf(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult><Arn>arn:aws:iam::%[1]s:user/auditor</Arn><UserId>AIDAEXAMPLE</UserId><Account>%[1]s</Account></GetCallerIdentityResult>
  <ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>
</GetCallerIdentityResponse>`, stsAccount)
	}))
	t.Cleanup(sts.Close)
	f.sessions = ssmfake.Generate(1, testNow.AddDate(0, 0, -5), testNow, 500)
	fake := ssmfake.New(ssmfake.WithSessions(f.sessions))
	f.ssm = fake
	emu, err := emulators.Start(emulators.Options{Bucket: "audit-bucket", SSM: fake})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	f.emu = emu
	for k, v := range emu.Env() {
		t.Setenv(k, v)
	}
	for k, v := range map[string]string{
		"AUDIT_BUCKET": bucket, "AWS_ENDPOINT_URL_STS": sts.URL, "AWS_CA_BUNDLE": "", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": filepath.Join(t.TempDir(), "none"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(t.TempDir(), "none"),
		"AWS_ENDPOINT_URL": "", "AWS_SESSION_TOKEN": "",
	} {
		t.Setenv(k, v)
	}
	return f
}

// processEnv, set to "yes" in run's env map, runs the CLI with the process
// environment (os.Getenv), as users run it.
const processEnv = "use the process environment"

// proc is the env map of runs against startAWS.
var proc = map[string]string{processEnv: "yes"}
