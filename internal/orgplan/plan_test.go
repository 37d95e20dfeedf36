package orgplan_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/handler"
	"github.com/session-audit/session-audit/internal/orgfake"
	"github.com/session-audit/session-audit/internal/orgplan"
	"github.com/session-audit/session-audit/internal/ssmfake"
	"github.com/session-audit/session-audit/internal/window"
)

var now = time.Date(2026, 11, 25, 0, 20, 0, 0, time.UTC)

func orgClient(t testing.TB, s *orgfake.Server) *organizations.Client {
	t.Helper()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return organizations.New(organizations.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		Retryer:     aws.NopRetryer{},
		HTTPClient:  ssmfake.HTTPClient(), // see its doc: a race of the SDK with fast local servers
	})
}

func s3Client(t testing.TB) *s3.Client {
	t.Helper()
	emu, err := emulators.Start(emulators.Options{Bucket: "audit"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	return emu.Clients().S3
}

func planner(t testing.TB, src orgplan.Source, c *s3.Client) *orgplan.Planner {
	t.Helper()
	g, err := window.NewGrid(24 * time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &orgplan.Planner{
		Source: src, Regions: []string{"eu-west-1", "us-east-1"}, Grid: g, Lookback: 48 * time.Hour,
		Bucket: "audit", Prefix: "ssm-sessions", S3: c, Now: func() time.Time { return now },
	}
}

func items(t *testing.T, c *s3.Client, key string) []orgplan.Item {
	t.Helper()
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("audit"), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	b, _ := io.ReadAll(out.Body)
	var its []orgplan.Item
	if err := json.Unmarshal(b, &its); err != nil {
		t.Fatalf("items file is not a JSON array: %v", err)
	}
	return its
}

func keys(t *testing.T, c *s3.Client) []string {
	t.Helper()
	out, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("audit")})
	if err != nil {
		t.Fatal(err)
	}
	var ks []string
	for _, o := range out.Contents {
		ks = append(ks, *o.Key)
	}
	return ks
}

func TestPlanScheduledFromOrganizations(t *testing.T) {
	org := orgfake.New(orgfake.WithPageSize(3))
	for i := range 8 {
		org.Add(orgfake.Account{ID: fmt.Sprintf("11111111110%d", i)})
	}
	org.Add(orgfake.Account{ID: "222222222222", Status: orgfake.Suspended}, orgfake.Account{ID: "333333333333", Status: orgfake.PendingClosure})
	c := s3Client(t)
	p := planner(t, orgplan.Organization{API: orgClient(t, org)}, c)
	p.Exclude = []string{"111111111103", "999999999999"}
	out, err := p.Plan(context.Background(), "run-1", now, json.RawMessage(`{"time":"2026-11-25T00:15:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := orgplan.Output{Bucket: "audit", Key: "ssm-sessions/runs/run-1/items.json", Count: 14, Targets: 14, RunID: "run-1", RunTime: "2026-11-25T00:15:00Z", Mode: "scheduled", Accounts: "ssm-sessions/accounts/dt=2026-11-25/accounts.parquet"}
	if out != want {
		t.Fatalf("output = %+v\nwant     %+v", out, want)
	}
	its := items(t, c, out.Key)
	if len(its) != 14 {
		t.Fatalf("%d items, want 14", len(its))
	}
	seen := map[string]bool{}
	for _, it := range its {
		if it.Account == "111111111103" || it.Account == "222222222222" || it.Account == "333333333333" {
			t.Fatalf("excluded or inactive account planned: %+v", it)
		}
		seen[it.Account+"/"+it.Region] = true
		// Every item is an event the exporter accepts, as a scheduled run.
		raw, _ := json.Marshal(it)
		req, err := handler.Decode(raw)
		if err != nil || req.Kind != handler.KindScheduled || !req.Time.Equal(time.Date(2026, 11, 25, 0, 15, 0, 0, time.UTC)) ||
			req.Account != it.Account || req.Region != it.Region {
			t.Fatalf("item %s decodes to %+v, %v", raw, req, err)
		}
	}
	if len(seen) != 14 {
		t.Fatalf("targets not distinct: %v", seen)
	}
	if its[0] != (orgplan.Item{Account: "111111111100", Region: "eu-west-1", Time: "2026-11-25T00:15:00Z"}) {
		t.Fatalf("first item %+v", its[0])
	}
	// 10 accounts at 3 a page: 4 pages.
	if n := org.Calls()["ListAccounts"]; n != 4 {
		t.Fatalf("ListAccounts calls = %d, want 4", n)
	}
}

func TestPlanWalksOUs(t *testing.T) {
	org := orgfake.New(orgfake.WithPageSize(1))
	org.AddOU("ou-prod-11111111", "")
	org.AddOU("ou-prod-22222222", "ou-prod-11111111")
	org.AddOU("ou-dev0-33333333", "")
	org.Add(
		orgfake.Account{ID: "100000000001", Parent: "ou-prod-11111111"},
		orgfake.Account{ID: "100000000002", Parent: "ou-prod-22222222"},
		orgfake.Account{ID: "100000000003", Parent: "ou-prod-22222222", Status: orgfake.Suspended},
		orgfake.Account{ID: "100000000004", Parent: "ou-dev0-33333333"},
		orgfake.Account{ID: "100000000005"},
	)
	c := s3Client(t)
	// The nested OU named too: each account once.
	p := planner(t, orgplan.Organization{API: orgClient(t, org), OUs: []string{"ou-prod-11111111", "ou-prod-22222222"}}, c)
	p.Regions = []string{"eu-west-1"}
	out, err := p.Plan(context.Background(), "r", now, json.RawMessage(`{"time":"2026-11-25T00:15:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range items(t, c, out.Key) {
		got = append(got, it.Account)
	}
	if fmt.Sprint(got) != "[100000000001 100000000002]" {
		t.Fatalf("accounts = %v", got)
	}
	if org.Calls()["ListAccounts"] != 0 || org.Calls()["ListChildren"] == 0 {
		t.Fatalf("calls = %v: OUs are walked with ListChildren and ListAccountsForParent", org.Calls())
	}
}

func TestPlanBackfillChunks(t *testing.T) {
	c := s3Client(t)
	p := planner(t, orgplan.Fixed{"123456789012"}, c)
	p.Regions = []string{"eu-west-1"}
	// 5 daily slots, 2 a chunk (lookback 48h / 24h): 3 items.
	out, err := p.Plan(context.Background(), "bf", now, json.RawMessage(`{"start":"2026-11-20T00:00:00Z","end":"2026-11-25T00:00:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	if out.Count != 3 || out.Targets != 1 || out.Mode != "backfill" || out.RunTime != "2026-11-25T00:20:00Z" {
		t.Fatalf("output %+v", out)
	}
	its := items(t, c, out.Key)
	want := []orgplan.Item{
		{Account: "123456789012", Region: "eu-west-1", Start: "2026-11-20T00:00:00Z", End: "2026-11-22T00:00:00Z"},
		{Account: "123456789012", Region: "eu-west-1", Start: "2026-11-22T00:00:00Z", End: "2026-11-24T00:00:00Z"},
		{Account: "123456789012", Region: "eu-west-1", Start: "2026-11-24T00:00:00Z", End: "2026-11-25T00:00:00Z"},
	}
	if fmt.Sprint(its) != fmt.Sprint(want) {
		t.Fatalf("items = %+v\nwant %+v", its, want)
	}
	for _, it := range its {
		raw, _ := json.Marshal(it)
		if req, err := handler.Decode(raw); err != nil || req.Kind != handler.KindBackfill || req.Account != it.Account || req.Region != it.Region {
			t.Fatalf("item %s: %+v %v", raw, req, err)
		}
	}
}

func TestPlanRefusesBadInputAndWritesNothing(t *testing.T) {
	c := s3Client(t)
	for name, tc := range map[string]struct {
		input, runID string
		regions      []string
		want         string
	}{
		"malformed JSON":   {`{"time":`, "r", nil, "not valid JSON"},
		"array":            {`[]`, "r", nil, "want a JSON object"},
		"lookup":           {`{"sessionId":"s-1"}`, "r", nil, "cannot start an organization run"},
		"bad time":         {`{"time":"yesterday"}`, "r", nil, "time"},
		"start only":       {`{"start":"2026-11-20T00:00:00Z"}`, "r", nil, "both"},
		"off grid":         {`{"start":"2026-11-20T01:00:00Z","end":"2026-11-21T00:00:00Z"}`, "r", nil, "not on the 24h0m0s slot grid"},
		"future":           {`{"start":"2026-11-24T00:00:00Z","end":"2026-11-26T00:00:00Z"}`, "r", nil, "after now"},
		"target in input":  {`{"time":"2026-11-25T00:15:00Z","account":"123456789012","region":"eu-west-1"}`, "r", nil, `"account"`},
		"unknown key":      {`{"time":"2026-11-25T00:15:00Z","x":1}`, "r", nil, "x"},
		"bad run id":       {`{"time":"2026-11-25T00:15:00Z"}`, "a/b", nil, "run id"},
		"no regions":       {`{"time":"2026-11-25T00:15:00Z"}`, "r", []string{}, "AUDIT_REGIONS"},
		"everything empty": {``, "r", nil, "JSON"},
	} {
		t.Run(name, func(t *testing.T) {
			p := planner(t, orgplan.Fixed{"123456789012"}, c)
			if tc.regions != nil {
				p.Regions = tc.regions
			}
			_, err := p.Plan(context.Background(), tc.runID, now, json.RawMessage(tc.input))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	if ks := keys(t, c); len(ks) != 0 {
		t.Fatalf("bad input wrote %v", ks)
	}
}

func TestPlanAllExcluded(t *testing.T) {
	c := s3Client(t)
	p := planner(t, orgplan.Fixed{"123456789012"}, c)
	p.Exclude = []string{"123456789012"}
	if _, err := p.Plan(context.Background(), "r", now, json.RawMessage(`{"time":"2026-11-25T00:15:00Z"}`)); err == nil || !strings.Contains(err.Error(), "all excluded") {
		t.Fatalf("err = %v", err)
	}
	if ks := keys(t, c); len(ks) != 0 {
		t.Fatalf("wrote %v", ks)
	}
}

func TestPlanOrganizationsDenied(t *testing.T) {
	org := orgfake.New(orgfake.WithAccounts(orgfake.Account{ID: "123456789012"}))
	org.SetFault(orgfake.Fault{Code: orgfake.AccessDenied, Every: 1})
	c := s3Client(t)
	p := planner(t, orgplan.Organization{API: orgClient(t, org)}, c)
	_, err := p.Plan(context.Background(), "r", now, json.RawMessage(`{"time":"2026-11-25T00:15:00Z"}`))
	if !errors.Is(err, orgplan.ErrOrgAccessDenied) || !strings.Contains(err.Error(), "AccessDeniedException") || !strings.Contains(err.Error(), "AUDIT_ORG_ROLE_ARN") {
		t.Fatalf("err = %v", err)
	}
	org.SetFault(orgfake.Fault{Code: orgfake.NotInUse, Every: 1})
	if _, err := p.Plan(context.Background(), "r", now, json.RawMessage(`{"time":"2026-11-25T00:15:00Z"}`)); err == nil || !strings.Contains(err.Error(), "not in an organization") {
		t.Fatalf("err = %v", err)
	}
	if ks := keys(t, c); len(ks) != 0 {
		t.Fatalf("wrote %v", ks)
	}
}

func TestParseAccounts(t *testing.T) {
	ids, err := orgplan.ParseAccounts("AUDIT_ACCOUNTS", " 111111111111, 222222222222 ,,")
	if err != nil || fmt.Sprint(ids) != "[111111111111 222222222222]" {
		t.Fatalf("%v %v", ids, err)
	}
	_, err = orgplan.ParseAccounts("AUDIT_ACCOUNTS", "111111111111,12345,111111111111,abcdefghijkl")
	for _, want := range []string{"AUDIT_ACCOUNTS", `"12345"`, `"abcdefghijkl"`, "given twice: 111111111111"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("err = %v, want it to mention %s", err, want)
		}
	}
	if _, err := orgplan.ParseOUs("AUDIT_ORG_UNITS", "ou-ab12-abcdefgh,r-ab12,OU-x"); err == nil || !strings.Contains(err.Error(), `"OU-x"`) {
		t.Fatalf("err = %v", err)
	}
}
