package stack_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/session-audit/session-audit/internal/coverage"
)

// TestCoverageTableMatchesTheRecords: the Glue table declares exactly the
// fields of a coverage record, in order, with types Athena reads them as.
func TestCoverageTableMatchesTheRecords(t *testing.T) {
	p := resolve(t, loadTemplate(t), orgFixed).props(t, "CoverageTable")
	in := asMap(p["TableInput"])
	sd := asMap(in["StorageDescriptor"])
	var got []string
	for _, c := range asList(sd["Columns"]) {
		got = append(got, scalarString(asMap(c)["Name"])+" "+scalarString(asMap(c)["Type"]))
	}
	var want []string
	typ := reflect.TypeFor[coverage.Record]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		athena := map[reflect.Kind]string{reflect.String: "string", reflect.Int: "int", reflect.Int64: "bigint"}[f.Type.Kind()]
		want = append(want, strings.Split(f.Tag.Get("json"), ",")[0]+" "+athena)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("coverage table columns\n got %v\nwant %v (coverage.Record)", got, want)
	}
	params := asMap(in["Parameters"])
	if params["projection.dt.type"] != "date" || params["storage.location.template"] != "s3://audit-bucket/ssm-sessions/coverage/dt=${dt}/" ||
		scalarString(asMap(sd["SerdeInfo"])["SerializationLibrary"]) != "org.openx.data.jsonserde.JsonSerDe" {
		t.Errorf("coverage table %v", in)
	}
	if k := coverage.Key("ssm-sessions", time.Date(2026, 11, 25, 0, 15, 0, 0, time.UTC), "r"); !strings.HasPrefix(k, "ssm-sessions/coverage/dt=2026-11-25/") {
		t.Errorf("coverage key %s is not under the table's location template", k)
	}
}

// TestCoverageQueriesOnDuckDB runs the two coverage queries the template
// saves in Athena on DuckDB over coverage files as Coverage writes them.
// The queries filter on current_date, so the runs are dated relative to
// today (UTC), as the sessions fixture is.
func TestCoverageQueriesOnDuckDB(t *testing.T) {
	s := resolve(t, loadTemplate(t), orgFixed)
	queries := map[string]string{}
	for _, name := range []string{"QueryTargetsNotExported", "QueryCoveragePerAccount"} {
		queries[name] = scalarString(s.props(t, name)["QueryString"])
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	day := func(n int) string { return today.AddDate(0, 0, -n).Format("2006-01-02") }
	dir := t.TempDir()
	write := func(ago int, run string, recs ...coverage.Record) {
		t.Helper()
		p := filepath.Join(dir, "dt="+day(ago))
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, r := range recs {
			r.RunID, r.RunTime = run, day(ago)+"T00:15:00Z"
			if r.FinishedAt == "" {
				r.FinishedAt = day(ago) + "T00:20:00.000Z"
			}
			line, _ := json.Marshal(r)
			b.Write(append(line, '\n'))
		}
		if err := os.WriteFile(filepath.Join(p, run+".json"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rec := func(acct, region, status string, rows int64) coverage.Record {
		r := coverage.Record{AccountID: acct, Region: region, Status: status, Rows: rows}
		if status == "exported" {
			r.Slots = 2
		}
		if status == "failed" {
			r.Error = "boom"
		}
		return r
	}
	// 111 is always exported; 222 was denied in both recent runs (no role
	// yet); 333/eu-west-1 was exported 10 days ago but failed since; 444
	// was denied once and exported the next day.
	write(10, "run-old", rec("111111111111", "eu-west-1", "exported", 5), rec("333333333333", "eu-west-1", "exported", 1))
	write(3, "run-b", rec("111111111111", "eu-west-1", "exported", 4), rec("222222222222", "eu-west-1", "denied", 0),
		rec("333333333333", "eu-west-1", "failed", 0), rec("444444444444", "eu-west-1", "denied", 0))
	write(1, "run-a", rec("111111111111", "eu-west-1", "exported", 6), rec("222222222222", "eu-west-1", "denied", 0),
		rec("333333333333", "eu-west-1", "failed", 0), rec("444444444444", "eu-west-1", "exported", 9))

	db, err := newDuckDB()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cols := "{run_id: 'VARCHAR', run_time: 'VARCHAR', account_id: 'VARCHAR', region: 'VARCHAR', status: 'VARCHAR', slots: 'INTEGER', rows: 'BIGINT', error: 'VARCHAR', finished_at: 'VARCHAR'}"
	if _, err := db.Exec(fmt.Sprintf(`CREATE VIEW coverage AS SELECT * FROM read_json('%s/*/*.json', format = 'newline_delimited', hive_partitioning = true, hive_types = {'dt': 'VARCHAR'}, columns = %s)`, dir, cols)); err != nil {
		t.Fatal(err)
	}
	got := runQuery(t, db, queries["QueryTargetsNotExported"])
	var lines []string
	for _, r := range got.rows {
		lines = append(lines, fmt.Sprint(r[0], "/", r[1], " ", r[2], " ", r[3]))
	}
	want := []string{"222222222222/eu-west-1 denied ", "333333333333/eu-west-1 failed boom"}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("targets-not-exported-in-last-7-days\n got %v\nwant %v", lines, want)
	}
	got = runQuery(t, db, queries["QueryCoveragePerAccount"])
	lines = nil
	for _, r := range got.rows {
		lines = append(lines, fmt.Sprintf("%v %v exported=%v denied=%v disabled=%v failed=%v sessions=%v", r...))
	}
	want = []string{
		day(10) + " 111111111111 exported=1 denied=0 disabled=0 failed=0 sessions=5",
		day(10) + " 333333333333 exported=1 denied=0 disabled=0 failed=0 sessions=1",
		day(3) + " 111111111111 exported=1 denied=0 disabled=0 failed=0 sessions=4",
		day(3) + " 222222222222 exported=0 denied=1 disabled=0 failed=0 sessions=0",
		day(3) + " 333333333333 exported=0 denied=0 disabled=0 failed=1 sessions=0",
		day(3) + " 444444444444 exported=0 denied=1 disabled=0 failed=0 sessions=0",
		day(1) + " 111111111111 exported=1 denied=0 disabled=0 failed=0 sessions=6",
		day(1) + " 222222222222 exported=0 denied=1 disabled=0 failed=0 sessions=0",
		day(1) + " 333333333333 exported=0 denied=0 disabled=0 failed=1 sessions=0",
		day(1) + " 444444444444 exported=1 denied=0 disabled=0 failed=0 sessions=9",
	}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("coverage-per-account-over-time\n got %v\nwant %v", lines, want)
	}
}
