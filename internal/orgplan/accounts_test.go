package orgplan_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/session-audit/session-audit/internal/orgfake"
	"github.com/session-audit/session-audit/internal/orgplan"
)

// namedOrg is an organization of named accounts in nested, named OUs:
// Root, Root/Workloads, Root/Workloads/Prod, Root/Workloads/Dev,
// Root/Security.
func namedOrg() *orgfake.Server {
	org := orgfake.New(orgfake.WithPageSize(2))
	org.AddNamedOU("ou-root-workload", "Workloads", "")
	org.AddNamedOU("ou-work-prod0001", "Prod", "ou-root-workload")
	org.AddNamedOU("ou-work-dev00001", "Dev", "ou-root-workload")
	org.AddNamedOU("ou-root-security", "Security", "")
	org.Add(
		orgfake.Account{ID: "100000000001", Name: "management", Email: "aws-root@example.com"},
		orgfake.Account{ID: "100000000002", Name: "prod-payments", Parent: "ou-work-prod0001"},
		orgfake.Account{ID: "100000000003", Name: "prod-web", Parent: "ou-work-prod0001"},
		orgfake.Account{ID: "100000000004", Name: "prod-old", Parent: "ou-work-prod0001", Status: orgfake.Suspended},
		orgfake.Account{ID: "100000000005", Name: "dev-sandbox", Parent: "ou-work-dev00001"},
		orgfake.Account{ID: "100000000006", Name: "log-archive", Parent: "ou-root-security"},
		orgfake.Account{ID: "100000000007", Name: "audit", Parent: "ou-root-security", Status: orgfake.PendingClosure},
	)
	return org
}

// accountRow is one row of an accounts file as DuckDB reads it.
type accountRow struct {
	ID, CapturedAt, DT          string
	Name, Email, Status, OUPath *string
}

// readAccounts downloads the accounts files and reads them with DuckDB
// (hive partitioning), ordered by account.
func readAccounts(t *testing.T, c *s3.Client) []accountRow {
	t.Helper()
	dir := t.TempDir()
	out, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("audit"), Prefix: aws.String("ssm-sessions/accounts/")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) == 0 {
		t.Fatal("no accounts file")
	}
	for _, o := range out.Contents {
		obj, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("audit"), Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		p := filepath.Join(dir, filepath.FromSlash(*o.Key))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT account_id, name, email, status, ou_path, strftime(captured_at AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S'), dt
		FROM read_parquet('` + filepath.ToSlash(dir) + `/ssm-sessions/accounts/*/*.parquet', hive_partitioning = true, hive_types = {'dt': VARCHAR}) ORDER BY account_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []accountRow
	for rows.Next() {
		var r accountRow
		var name, email, status, ou sql.NullString
		if err := rows.Scan(&r.ID, &name, &email, &status, &ou, &r.CapturedAt, &r.DT); err != nil {
			t.Fatal(err)
		}
		for _, p := range []struct {
			dst **string
			v   sql.NullString
		}{{&r.Name, name}, {&r.Email, email}, {&r.Status, status}, {&r.OUPath, ou}} {
			if p.v.Valid {
				s := p.v.String
				*p.dst = &s
			}
		}
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

func str(p *string) string {
	if p == nil {
		return "<null>"
	}
	return *p
}

// TestPlanWritesAccounts: the Plan of an organization run writes the day's
// accounts file with every account (suspended ones too, which get no
// item), its name, email, status and OU path as the emulator holds them,
// read back with DuckDB; its calls grow with the OUs, not the accounts.
func TestPlanWritesAccounts(t *testing.T) {
	org := namedOrg()
	c := s3Client(t)
	p := planner(t, orgplan.Organization{API: orgClient(t, org)}, c)
	out, err := p.Plan(context.Background(), "run-1", now, json.RawMessage(`{"time":"2026-11-25T00:15:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	if out.Accounts != "ssm-sessions/accounts/dt=2026-11-25/accounts.parquet" || out.AccountsError != "" || out.Targets != 10 {
		t.Fatalf("output %+v", out)
	}
	want := map[string][4]string{ // name, email, status, OU path
		"100000000001": {"management", "aws-root@example.com", "ACTIVE", "Root"},
		"100000000002": {"prod-payments", "100000000002@example.com", "ACTIVE", "Root/Workloads/Prod"},
		"100000000003": {"prod-web", "100000000003@example.com", "ACTIVE", "Root/Workloads/Prod"},
		"100000000004": {"prod-old", "100000000004@example.com", "SUSPENDED", "Root/Workloads/Prod"},
		"100000000005": {"dev-sandbox", "100000000005@example.com", "ACTIVE", "Root/Workloads/Dev"},
		"100000000006": {"log-archive", "100000000006@example.com", "ACTIVE", "Root/Security"},
		"100000000007": {"audit", "100000000007@example.com", "PENDING_CLOSURE", "Root/Security"},
	}
	got := readAccounts(t, c)
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(got), len(want), got)
	}
	for _, r := range got {
		w := want[r.ID]
		if g := [4]string{str(r.Name), str(r.Email), str(r.Status), str(r.OUPath)}; g != w {
			t.Errorf("account %s: %v, want %v", r.ID, g, w)
		}
		if w[3] != org.OUPath(parentOf(r.ID)) {
			t.Errorf("account %s: the emulator's path %s", r.ID, org.OUPath(parentOf(r.ID)))
		}
		if r.CapturedAt != "2026-11-25T00:20:00" || r.DT != "2026-11-25" {
			t.Errorf("account %s captured %s dt %s", r.ID, r.CapturedAt, r.DT)
		}
	}
	calls := org.Calls()
	// 5 OUs with the root: one ListAccountsForParent and one
	// ListOrganizationalUnitsForParent each, plus their second pages
	// (page size 2: Prod's 3 accounts, the root's and Workloads' 2 OUs
	// ask for none), and one ListRoots. No call per account.
	if calls["ListRoots"] != 1 || calls["ListAccountsForParent"] != 6 || calls["ListOrganizationalUnitsForParent"] != 5 || calls["ListParents"] != 0 || calls["DescribeOrganizationalUnit"] != 0 {
		t.Errorf("calls %v", calls)
	}
}

func parentOf(id string) string {
	return map[string]string{
		"100000000002": "ou-work-prod0001", "100000000003": "ou-work-prod0001", "100000000004": "ou-work-prod0001",
		"100000000005": "ou-work-dev00001", "100000000006": "ou-root-security", "100000000007": "ou-root-security",
	}[id]
}

// TestPlanAccountsOfGivenOUs: with AUDIT_ORG_UNITS the accounts file holds
// the accounts of those OUs, named from the root (ListParents and
// DescribeOrganizationalUnit up from each given OU, bounded by its depth).
func TestPlanAccountsOfGivenOUs(t *testing.T) {
	org := namedOrg()
	c := s3Client(t)
	p := planner(t, orgplan.Organization{API: orgClient(t, org), OUs: []string{"ou-work-prod0001"}}, c)
	if _, err := p.Plan(context.Background(), "run-2", now, json.RawMessage(`{"time":"2026-11-25T00:15:00Z"}`)); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range readAccounts(t, c) {
		got = append(got, r.ID+" "+str(r.Name)+" "+str(r.OUPath)+" "+str(r.Status))
	}
	want := "[100000000002 prod-payments Root/Workloads/Prod ACTIVE 100000000003 prod-web Root/Workloads/Prod ACTIVE 100000000004 prod-old Root/Workloads/Prod SUSPENDED]"
	if fmt.Sprint(got) != want {
		t.Errorf("rows %v\nwant %s", got, want)
	}
	if calls := org.Calls(); calls["ListParents"] != 2 || calls["DescribeOrganizationalUnit"] != 2 || calls["ListRoots"] != 0 {
		t.Errorf("calls %v", calls)
	}
}

// TestPlanAccountsOfAFixedList: a fixed list knows ids only; the rest is
// null, not made up.
func TestPlanAccountsOfAFixedList(t *testing.T) {
	c := s3Client(t)
	p := planner(t, orgplan.Fixed{"222222222222", "111111111111"}, c)
	out, err := p.Plan(context.Background(), "run-3", now, json.RawMessage(`{"time":"2026-11-25T00:15:00Z"}`))
	if err != nil || out.AccountsError != "" {
		t.Fatalf("%+v %v", out, err)
	}
	got := readAccounts(t, c)
	if len(got) != 2 || got[0].ID != "111111111111" || got[1].ID != "222222222222" {
		t.Fatalf("rows %+v", got)
	}
	for _, r := range got {
		if r.Name != nil || r.Email != nil || r.Status != nil || r.OUPath != nil {
			t.Errorf("row %+v: a fixed list knows no name, email, status or OU", r)
		}
	}
}

// TestPlanAccountsWhenOUsCannotBeListed: a listing role without the OU
// calls still plans the run; the accounts file holds the ids, and the
// output says why.
func TestPlanAccountsWhenOUsCannotBeListed(t *testing.T) {
	org := namedOrg()
	org.SetFault(orgfake.Fault{Code: orgfake.AccessDenied, Every: 1, Operation: "ListRoots"})
	c := s3Client(t)
	p := planner(t, orgplan.Organization{API: orgClient(t, org)}, c)
	out, err := p.Plan(context.Background(), "run-4", now, json.RawMessage(`{"time":"2026-11-25T00:15:00Z"}`))
	if err != nil || out.Targets != 10 {
		t.Fatalf("%+v %v", out, err)
	}
	if out.AccountsError == "" {
		t.Error("no accountsError")
	}
	got := readAccounts(t, c)
	if len(got) != 5 || got[0].Name != nil {
		t.Errorf("rows %+v; want the 5 active ids, unnamed", got)
	}
}
