package athenafake

import (
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/session-audit/session-audit/internal/archive"
)

// Tables are the stack's Glue tables under prefix that the emulator
// serves: sessions and coverage (internal/stack checks each against
// template.yaml).
func Tables(prefix string) []Table {
	return []Table{SessionsTable(prefix), CoverageTable(prefix)}
}

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
// finished_at), with the template's Glue types: the two times are RFC 3339
// strings there (the JSON SerDe reads no RFC 3339 timestamp), so they are
// strings here too, and SQL that would treat them as timestamps fails on
// the emulator as it would in Athena.
func CoverageTable(prefix string) Table {
	return Table{Name: "coverage", Prefix: prefix + "/coverage/", Format: "json", Columns: []Column{
		{"run_id", "string"}, {"run_time", "string"}, {"account_id", "string"}, {"region", "string"},
		{"status", "string"}, {"slots", "int"}, {"rows", "bigint"}, {"error", "string"}, {"finished_at", "string"},
	}}
}
