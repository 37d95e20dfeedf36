package athenafake_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/session-audit/session-audit/internal/athenafake"
	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/ssmfake"
)

func setup(t *testing.T, lines int) *athena.Client {
	t.Helper()
	emu, err := emulators.Start(emulators.Options{Bucket: "b"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	var b strings.Builder
	for i := range lines {
		fmt.Fprintf(&b, `{"run_id":"r","run_time":"2026-11-24T00:15:00Z","account_id":"%012d","region":"eu-west-1","status":"exported","slots":1,"rows":%d,"error":"","finished_at":"2026-11-24T00:16:00Z"}`+"\n", i, i)
	}
	for _, day := range []string{"2026-11-24", "2026-11-25"} {
		if _, err := emu.Clients().S3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("b"),
			Key: aws.String("p/coverage/dt=" + day + "/run.json"), Body: strings.NewReader(b.String())}); err != nil {
			t.Fatal(err)
		}
	}
	fake, err := athenafake.New(athenafake.Options{S3: emu.Clients().S3, Bucket: "b", Database: "db", WorkGroup: "wg",
		OutputLocation: "s3://b/athena-results/", Dir: t.TempDir(), Tables: []athenafake.Table{athenafake.CoverageTable("p")},
		Now: func() time.Time { return time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(fake)
	t.Cleanup(func() { srv.Close(); fake.Close() })
	return athena.New(athena.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("a", "b", ""), HTTPClient: ssmfake.HTTPClient()})
}

func start(t *testing.T, c *athena.Client, q, wg string) (string, error) {
	out, err := c.StartQueryExecution(context.Background(), &athena.StartQueryExecutionInput{
		QueryString: aws.String(q), WorkGroup: aws.String(wg), QueryExecutionContext: &types.QueryExecutionContext{Database: aws.String("db")}})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.QueryExecutionId), nil
}

// states polls until the end state and returns every state seen.
func states(t *testing.T, c *athena.Client, id string) ([]types.QueryExecutionState, *types.QueryExecution) {
	t.Helper()
	var seen []types.QueryExecutionState
	for range 10000 {
		out, err := c.GetQueryExecution(context.Background(), &athena.GetQueryExecutionInput{QueryExecutionId: aws.String(id)})
		if err != nil {
			t.Fatal(err)
		}
		st := out.QueryExecution.Status.State
		if len(seen) == 0 || seen[len(seen)-1] != st {
			seen = append(seen, st)
		}
		if st == types.QueryExecutionStateSucceeded || st == types.QueryExecutionStateFailed {
			return seen, out.QueryExecution
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("the query never ended")
	return nil, nil
}

func TestProtocol(t *testing.T) {
	c := setup(t, 1250)
	if _, err := start(t, c, "SELECT 1", "other"); !isCode(err, "InvalidRequestException") {
		t.Errorf("unknown workgroup: %v", err)
	}
	// run_time is a string in the Glue table (RFC 3339); cast, it shows
	// how timestamps come back.
	id, err := start(t, c, "SELECT account_id, rows, CAST(replace(replace(run_time, 'T', ' '), 'Z', '') AS timestamp) AS run_time, dt FROM coverage WHERE dt BETWEEN '2026-11-24' AND '2026-11-25' ORDER BY dt, account_id", "wg")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetQueryResults(context.Background(), &athena.GetQueryResultsInput{QueryExecutionId: aws.String(id)}); !isCode(err, "InvalidRequestException") {
		t.Errorf("results before the end: %v", err)
	}
	seen, qe := states(t, c, id)
	if fmt.Sprint(seen) != "[QUEUED RUNNING SUCCEEDED]" {
		t.Errorf("states %v", seen)
	}
	if qe.Statistics == nil || aws.ToInt64(qe.Statistics.DataScannedInBytes) <= 0 || aws.ToString(qe.WorkGroup) != "wg" {
		t.Errorf("statistics %+v", qe.Statistics)
	}
	if _, err := c.GetQueryResults(context.Background(), &athena.GetQueryResultsInput{QueryExecutionId: aws.String(id), MaxResults: aws.Int32(1001)}); !isCode(err, "InvalidRequestException") {
		t.Errorf("MaxResults 1001: %v", err)
	}
	in := &athena.GetQueryResultsInput{QueryExecutionId: aws.String(id), MaxResults: aws.Int32(1000)}
	var pages []int
	var rows [][]string
	for {
		out, err := c.GetQueryResults(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		if len(pages) == 0 {
			var types []string
			for _, ci := range out.ResultSet.ResultSetMetadata.ColumnInfo {
				types = append(types, aws.ToString(ci.Name)+":"+aws.ToString(ci.Type))
			}
			if fmt.Sprint(types) != "[account_id:varchar rows:bigint run_time:timestamp dt:varchar]" {
				t.Errorf("column info %v", types)
			}
		}
		pages = append(pages, len(out.ResultSet.Rows))
		for _, r := range out.ResultSet.Rows {
			var cells []string
			for _, d := range r.Data {
				cells = append(cells, aws.ToString(d.VarCharValue))
			}
			rows = append(rows, cells)
		}
		if out.NextToken == nil {
			break
		}
		in.NextToken = out.NextToken
	}
	if fmt.Sprint(pages) != "[1000 1000 501]" || fmt.Sprint(rows[0]) != "[account_id rows run_time dt]" ||
		fmt.Sprint(rows[1]) != "[000000000000 0 2026-11-24 00:15:00.000 2026-11-24]" || fmt.Sprint(rows[2500]) != "[000000001249 1249 2026-11-24 00:15:00.000 2026-11-25]" {
		t.Errorf("pages %v; first rows %v %v; last %v", pages, rows[0], rows[1], rows[len(rows)-1])
	}
	// A bad query fails with its reason.
	id, err = start(t, c, "SELECT no_such_column FROM coverage", "wg")
	if err != nil {
		t.Fatal(err)
	}
	seen, qe = states(t, c, id)
	if fmt.Sprint(seen) != "[QUEUED RUNNING FAILED]" || !strings.Contains(aws.ToString(qe.Status.StateChangeReason), "no_such_column") {
		t.Errorf("states %v, reason %q", seen, aws.ToString(qe.Status.StateChangeReason))
	}
}

func isCode(err error, code string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == code
}

// query runs q to its end and returns its rows, the header first.
func query(t *testing.T, c *athena.Client, q string) [][]string {
	t.Helper()
	id, err := start(t, c, q, "wg")
	if err != nil {
		t.Fatal(err)
	}
	if _, qe := states(t, c, id); qe.Status.State != types.QueryExecutionStateSucceeded {
		t.Fatalf("%s: %s", q, aws.ToString(qe.Status.StateChangeReason))
	}
	out, err := c.GetQueryResults(context.Background(), &athena.GetQueryResultsInput{QueryExecutionId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	for _, r := range out.ResultSet.Rows {
		var cells []string
		for _, d := range r.Data {
			cells = append(cells, aws.ToString(d.VarCharValue))
		}
		rows = append(rows, cells)
	}
	return rows
}

// TestPathColumn: "$path" is each row's object as an S3 URI, as Athena's
// hidden column is, and SELECT * leaves it out.
func TestPathColumn(t *testing.T) {
	c := setup(t, 3)
	got := query(t, c, `SELECT "$path" AS object, count(*) AS n, array_join(array_agg(account_id ORDER BY account_id), ' ') AS accounts FROM coverage GROUP BY 1 ORDER BY 1`)
	want := [][]string{{"object", "n", "accounts"},
		{"s3://b/p/coverage/dt=2026-11-24/run.json", "3", "000000000000 000000000001 000000000002"},
		{"s3://b/p/coverage/dt=2026-11-25/run.json", "3", "000000000000 000000000001 000000000002"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("\n got %v\nwant %v", got, want)
	}
	// The Glue columns and dt, no more.
	if head := query(t, c, `SELECT * FROM coverage LIMIT 1`)[0]; strings.Contains(fmt.Sprint(head), "path") || len(head) != len(athenafake.CoverageTable("p").Columns)+1 {
		t.Errorf("SELECT * gives %v", head)
	}
}
