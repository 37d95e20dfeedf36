package athenafake

import (
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/session-audit/session-audit/internal/archive"
)

// SessionsTable is the stack's Glue table "sessions" under prefix: the
// columns of archive.Row's Parquet schema, in order, with their Glue types
// (internal/stack checks template.yaml declares the same).
func SessionsTable(prefix string) Table {
	t := Table{Name: "sessions", Prefix: prefix + "/sessions/", Format: "parquet"}
	for _, f := range parquet.SchemaOf(archive.Row{}).Fields() {
		typ := "string"
		switch {
		case strings.Contains(strings.ToUpper(f.Type().String()), "TIMESTAMP"):
			typ = "timestamp"
		case f.Type().Kind() == parquet.Int64:
			typ = "bigint"
		}
		t.Columns = append(t.Columns, Column{Name: f.Name(), Type: typ})
	}
	return t
}

// CoverageTable is the organization's coverage records under prefix, JSON
// lines (run_id, run_time, account_id, region, status, slots, rows, error,
// finished_at).
func CoverageTable(prefix string) Table {
	return Table{Name: "coverage", Prefix: prefix + "/coverage/", Format: "json", Columns: []Column{
		{"run_id", "string"}, {"run_time", "timestamp"}, {"account_id", "string"}, {"region", "string"},
		{"status", "string"}, {"slots", "bigint"}, {"rows", "bigint"}, {"error", "string"}, {"finished_at", "timestamp"},
	}}
}
