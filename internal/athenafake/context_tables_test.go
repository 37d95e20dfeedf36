package athenafake_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"

	"github.com/session-audit/session-audit/internal/accounts"
	"github.com/session-audit/session-audit/internal/athenafake"
	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/nodes"
	"github.com/session-audit/session-audit/internal/ssmfake"
	"github.com/session-audit/session-audit/internal/tablefile"
)

// TestContextTables: the emulator serves nodes (its tags a map, read with
// Trino's subscript) and accounts with their Glue types, and a join of the
// two as the reports make it.
func TestContextTables(t *testing.T) {
	emu, err := emulators.Start(emulators.Options{Bucket: "b"})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	at := time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)
	s3c := emu.Clients().S3
	rows := []nodes.Row{
		{NodeID: "i-0aaa", Name: aws.String("prod-web-01"), ResourceType: "EC2Instance", Tags: map[string]string{"Name": "prod-web-01", "Team": "payments"}, AccountID: "111122223333", Region: "eu-west-1", CapturedAt: at},
		{NodeID: "mi-0bbb", Name: aws.String("onprem-db-01"), ResourceType: "ManagedInstance", Tags: map[string]string{}, AccountID: "111122223333", Region: "eu-west-1", CapturedAt: at},
	}
	if _, err := tablefile.Put(context.Background(), s3c, "b", nodes.Key("p", "111122223333", "eu-west-1", at), rows); err != nil {
		t.Fatal(err)
	}
	if _, err := accounts.Write(context.Background(), s3c, "b", "p", at, []accounts.Row{{AccountID: "111122223333", Name: aws.String("prod-payments"), OUPath: aws.String("Root/Workloads/Prod")}}); err != nil {
		t.Fatal(err)
	}
	fake, err := athenafake.New(athenafake.Options{S3: s3c, Bucket: "b", Database: "db", WorkGroup: "wg",
		OutputLocation: "s3://b/athena-results/", Dir: t.TempDir(), Tables: []athenafake.Table{athenafake.NodesTable("p"), athenafake.AccountsTable("p")},
		Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(fake)
	defer func() { srv.Close(); fake.Close() }()
	c := athena.New(athena.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("a", "b", ""), HTTPClient: ssmfake.HTTPClient()})
	id, err := start(t, c, `SELECT n.node_id, n.name, n.tags['Team'] AS team, n.resource_type, a.name AS account_name, a.ou_path, n.captured_at, n.dt
		FROM nodes n JOIN accounts a ON a.account_id = n.account_id AND a.dt = n.dt WHERE n.dt = '2026-11-25' ORDER BY n.node_id`, "wg")
	if err != nil {
		t.Fatal(err)
	}
	if _, qe := states(t, c, id); qe.Status.State != types.QueryExecutionStateSucceeded {
		t.Fatalf("query %v: %s", qe.Status.State, aws.ToString(qe.Status.StateChangeReason))
	}
	out, err := c.GetQueryResults(context.Background(), &athena.GetQueryResultsInput{QueryExecutionId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range out.ResultSet.Rows[1:] {
		var cells []string
		for _, d := range r.Data {
			cells = append(cells, aws.ToString(d.VarCharValue))
		}
		got = append(got, fmt.Sprint(cells))
	}
	want := "[[i-0aaa prod-web-01 payments EC2Instance prod-payments Root/Workloads/Prod 2026-11-25 06:00:00.000 2026-11-25] [mi-0bbb onprem-db-01  ManagedInstance prod-payments Root/Workloads/Prod 2026-11-25 06:00:00.000 2026-11-25]]"
	if fmt.Sprint(got) != want {
		t.Errorf("rows %v\nwant %s", got, want)
	}
	var colTypes []string
	for _, ci := range out.ResultSet.ResultSetMetadata.ColumnInfo {
		colTypes = append(colTypes, aws.ToString(ci.Type))
	}
	if fmt.Sprint(colTypes) != "[varchar varchar varchar varchar varchar varchar timestamp varchar]" {
		t.Errorf("column types %v", colTypes)
	}
}
