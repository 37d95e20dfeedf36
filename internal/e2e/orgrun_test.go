package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/session-audit/session-audit/internal/app"
	"github.com/session-audit/session-audit/internal/config"
	"github.com/session-audit/session-audit/internal/coverage"
	"github.com/session-audit/session-audit/internal/digest"
	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/orgfake"
	"github.com/session-audit/session-audit/internal/orgfunc"
	"github.com/session-audit/session-audit/internal/orgrun"
	"github.com/session-audit/session-audit/internal/ssmfake"
	"github.com/session-audit/session-audit/internal/stsfake"
)

// TestOrganizationRun runs a whole organization run as the state machine
// does, with the real SDK clients over HTTP against the emulators: the org
// function built from its environment (orgfunc.New: Organizations through
// the management account's role, assumed at the STS emulator), Plan, every
// item through the exporter (4 at a time), then Coverage. 5 accounts × 3
// regions: one account has no member role (denied), one region of one
// account is not enabled (region-disabled); a suspended and an excluded
// account are left out. The coverage records must be exact.
func TestOrganizationRun(t *testing.T) {
	const (
		mgmt     = "999999999999"
		listRole = "org-list"
		role     = "session-reader"
		lacking  = "555555555555" // no member role
		disAcc   = "333333333333"
		disReg   = "ap-southeast-2"
	)
	now := ts("2026-11-26T06:30:00Z")
	at := ts("2026-11-26T00:15:00Z")
	from, to := ts("2026-11-22T00:00:00Z"), ts("2026-11-26T06:00:00Z")
	accounts := []string{account, "111111111111", "222222222222", disAcc, lacking}
	regions := []string{"us-east-1", "eu-west-1", disReg}

	fake := ssmfake.New()
	seed := int64(100)
	for _, a := range append(slices.Clone(accounts), "777777777777", "888888888888") {
		for _, r := range regions {
			fake.Target(a, r).Put(ssmfake.Generate(seed, from, to, 30)...)
			seed++
		}
	}
	fake.DisableRegion(disAcc, disReg)
	sts := stsfake.New()
	sts.AllowRole(mgmt, stsfake.Role{Name: listRole})
	for _, a := range accounts[1:4] {
		sts.AllowRole(a, stsfake.Role{Name: role})
	}
	sts.AllowRole("777777777777", stsfake.Role{Name: role})
	sts.AllowRole("888888888888", stsfake.Role{Name: role})
	org := orgfake.New(orgfake.WithPageSize(2), orgfake.WithManagementAccount(mgmt))
	for _, a := range accounts {
		org.Add(orgfake.Account{ID: a})
	}
	org.Add(orgfake.Account{ID: "777777777777", Status: orgfake.Suspended}, orgfake.Account{ID: "888888888888"})
	orgSrv := httptest.NewServer(org)
	defer orgSrv.Close()
	emu, err := emulators.Start(emulators.Options{Bucket: bucket, SSM: fake, STS: sts, MaxBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	clock := func() time.Time { return now }
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))

	// The org function, from its environment, as in Lambda.
	t.Setenv("AWS_CA_BUNDLE", "")
	for k, v := range emu.Env() {
		t.Setenv(k, v)
	}
	t.Setenv("AWS_ENDPOINT_URL_ORGANIZATIONS", orgSrv.URL)
	t.Setenv("AUDIT_REGIONS", strings.Join(regions, ","))
	t.Setenv("AUDIT_ORG_ROLE_ARN", "arn:aws:iam::"+mgmt+":role/"+listRole)
	t.Setenv("AUDIT_EXCLUDE_ACCOUNTS", "888888888888")
	h, err := orgfunc.New(context.Background(), os.Getenv, quiet, io.Discard, clock, awsconfig.WithHTTPClient(ssmfake.HTTPClient()))
	if err != nil {
		t.Fatal(err)
	}
	// The exporter, as the stack configures it in org mode: Coverage, not
	// each export, writes the run's digest.
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"AUDIT_BUCKET": bucket, "AUDIT_MEMBER_ROLE": role, "AUDIT_S3_PATH_STYLE": "true", "AUDIT_DIGESTS": "off"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	exporter := app.Wire(cfg, emu.Clients(), quiet, clock)
	invoke := func(ctx context.Context, input []byte) ([]byte, error) {
		var in struct {
			Event json.RawMessage `json:"event"`
		}
		if err := json.Unmarshal(input, &in); err != nil {
			return nil, err
		}
		lctx := lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{InvokedFunctionArn: functionARN})
		return exporter.Invoke(lctx, in.Event)
	}
	r := &orgrun.Runner{Org: h, Export: invoke, S3: emu.Clients().S3, Bucket: bucket, Prefix: "ssm-sessions",
		Concurrency: 4, Account: account, Region: "us-east-1", Now: clock}
	res, err := r.Run(context.Background(), "exec-org-1", []byte(fmt.Sprintf(`{"time":%q}`, at.Format(time.RFC3339))))
	if err != nil {
		t.Fatal(err)
	}
	if res.Plan.Targets != 15 || res.Plan.Count != 15 {
		t.Errorf("plan %+v; want 15 targets", res.Plan)
	}
	if n := org.Calls()["ListAccounts"]; n != 4 { // 7 accounts, 2 a page
		t.Errorf("ListAccounts calls %d, want 4", n)
	}
	var want []coverage.Record // sorted by account and region, like the file
	for _, a := range slices.Sorted(slices.Values(accounts)) {
		for _, reg := range []string{"ap-southeast-2", "eu-west-1", "us-east-1"} {
			rec := coverage.Record{RunID: "exec-org-1", RunTime: "2026-11-26T00:15:00Z", AccountID: a, Region: reg,
				Status: "exported", FinishedAt: "2026-11-26T06:30:00.000Z"}
			switch {
			case a == lacking:
				rec.Status = "denied"
			case a == disAcc && reg == disReg:
				rec.Status = "region-disabled"
			default:
				// The scheduled run at 00:15 re-exports the two whole days of
				// its 48 h lookback: every History session of those days.
				rec.Slots = 2
				// Its node snapshot, taken through the member role.
				rec.Nodes = "written"
				for _, s := range fake.Target(a, reg).Sessions("History") {
					if !s.StartDate.Before(ts("2026-11-24T00:00:00Z")) && s.StartDate.Before(ts("2026-11-26T00:00:00Z")) {
						rec.Rows++
					}
				}
				if rec.Rows == 0 {
					t.Fatalf("target %s/%s has no sessions in the run's slots: the check would be empty", a, reg)
				}
			}
			want = append(want, rec)
		}
	}
	// A refused target's record carries the AWS message of its refusal: the
	// error code, and for a denied account its role's ARN.
	for i := range want {
		if i >= len(res.Records) || want[i].Status == "exported" {
			continue
		}
		got := res.Records[i].Error
		code := "UnrecognizedClientException: "
		if want[i].Status == "denied" {
			code = "AccessDenied: "
			if !strings.Contains(got, "arn:aws:iam::"+want[i].AccountID+":role/") {
				t.Errorf("denied %s/%s: error %q does not name the account's role", want[i].AccountID, want[i].Region, got)
			}
		}
		if !strings.HasPrefix(got, code) {
			t.Errorf("%s %s/%s: error %q; want the AWS message after %q", want[i].Status, want[i].AccountID, want[i].Region, got, code)
		}
		want[i].Error = got
	}
	if !slices.Equal(res.Records, want) {
		t.Errorf("coverage records\n got %+v\nwant %+v", res.Records, want)
	}
	if res.Coverage.Exported != 11 || res.Coverage.Denied != 3 || res.Coverage.RegionDisabled != 1 || res.Coverage.Failed != 0 {
		t.Errorf("coverage %+v", res.Coverage)
	}
	// One digest for the run, named by its id, on the org function's
	// account's chain, listing every manifest the exports wrote: 11
	// exported targets, 2 slots each.
	digests := digestsOf(t, emu)
	if len(digests) != 1 || res.Coverage.Digest != "ssm-sessions/digests/dt=2026-11-26/exec-org-1.json" || digests[0].Key != res.Coverage.Digest {
		t.Fatalf("digests %v, coverage digest %q; want the run's one", digests, res.Coverage.Digest)
	}
	if d := digests[0].D; d.Account != account || d.Region != "us-east-1" || len(d.Manifests) != 22 || d.Previous != nil {
		t.Errorf("digest %+v; want the org function's chain, 22 manifests, no previous", d)
	}
	// The management role was assumed once, and the org listed only with it.
	if n := sts.AssumeRoleCalls(mgmt); n != 1 {
		t.Errorf("AssumeRole of the management role: %d calls, want 1", n)
	}

	// Without the management role, Plan fails with Organizations' refusal
	// and nothing is planned.
	sts.RemoveRole(mgmt)
	h2, err := orgfunc.New(context.Background(), os.Getenv, quiet, io.Discard, clock, awsconfig.WithHTTPClient(ssmfake.HTTPClient()))
	if err != nil {
		t.Fatal(err)
	}
	r.Org = h2
	_, err = r.Run(context.Background(), "exec-org-2", []byte(`{"time":"2026-11-26T00:15:00Z"}`))
	if err == nil || !strings.Contains(err.Error(), "AssumeRole") {
		t.Errorf("without the management role: %v", err)
	}
}

// storedDigest is a digest in the bucket and its key.
type storedDigest struct {
	Key string
	D   digest.Digest
}

// digestsOf reads every digest (not the chains' heads) in the bucket.
func digestsOf(t *testing.T, emu *emulators.Emulators) []storedDigest {
	t.Helper()
	out, err := emu.Clients().S3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("ssm-sessions/digests/dt=")})
	if err != nil {
		t.Fatal(err)
	}
	var ds []storedDigest
	for _, o := range out.Contents {
		obj, err := emu.Clients().S3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		var d digest.Digest
		err = json.NewDecoder(obj.Body).Decode(&d)
		obj.Body.Close()
		if err != nil {
			t.Fatalf("digest %s: %v", aws.ToString(o.Key), err)
		}
		ds = append(ds, storedDigest{Key: aws.ToString(o.Key), D: d})
	}
	return ds
}
