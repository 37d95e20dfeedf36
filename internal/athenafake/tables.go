package athenafake

import (
	"strings"

	"github.com/parquet-go/parquet-go"
	pqformat "github.com/parquet-go/parquet-go/format"

	"github.com/session-audit/session-audit/internal/accounts"
	"github.com/session-audit/session-audit/internal/archive"
	"github.com/session-audit/session-audit/internal/nodes"
)

// Tables are the stack's Glue tables under prefix that the emulator
// serves: sessions, coverage, nodes and accounts (internal/stack checks
// each against template.yaml).
func Tables(prefix string) []Table {
	return []Table{SessionsTable(prefix), CoverageTable(prefix), NodesTable(prefix), AccountsTable(prefix)}
}

// SessionsTable is the stack's Glue table "sessions" under prefix: the
// columns of archive.Row's Parquet schema, in order, with their Glue types
// (internal/stack checks template.yaml declares the same).
func SessionsTable(prefix string) Table {
	return ParquetTable("sessions", prefix, parquet.SchemaOf(archive.Row{}))
}

// NodesTable is the stack's Glue table "nodes" under prefix: the columns
// of nodes.Row (the daily node snapshots), with their Glue types.
func NodesTable(prefix string) Table {
	return ParquetTable("nodes", prefix, parquet.SchemaOf(nodes.Row{}))
}

// AccountsTable is the stack's Glue table "accounts" under prefix: the
// columns of accounts.Row, with their Glue types.
func AccountsTable(prefix string) Table {
	return ParquetTable("accounts", prefix, parquet.SchemaOf(accounts.Row{}))
}

// ParquetTable is the table name over the Parquet files under
// prefix/name/, partitioned by dt, with the columns of schema in order and
// the Glue type of each (GlueType).
func ParquetTable(name, prefix string, schema *parquet.Schema) Table {
	t := Table{Name: name, Prefix: prefix + "/" + name + "/", Format: "parquet"}
	for _, f := range schema.Fields() {
		t.Columns = append(t.Columns, Column{Name: f.Name(), Type: GlueType(f)})
	}
	return t
}

// GlueType is the Glue (Hive) type Athena reads a Parquet column as:
// timestamp, bigint, map<string,string> for a map, else string.
func GlueType(f parquet.Field) string {
	switch lt := f.Type().LogicalType(); {
	case isMap(lt):
		return "map<string,string>"
	case strings.Contains(strings.ToUpper(f.Type().String()), "TIMESTAMP"):
		return "timestamp"
	case f.Leaf() && f.Type().Kind() == parquet.Int64:
		return "bigint"
	}
	return "string"
}

// CoverageTable is the organization's coverage records under prefix, JSON
// lines (run_id, run_time, account_id, region, status, slots, rows, error,
// finished_at, nodes, nodes_error), with the template's Glue types: the
// two times are RFC 3339 strings there (the JSON SerDe reads no RFC 3339
// timestamp), so they are strings here too, and SQL that would treat them
// as timestamps fails on the emulator as it would in Athena.
func CoverageTable(prefix string) Table {
	return Table{Name: "coverage", Prefix: prefix + "/coverage/", Format: "json", Columns: []Column{
		{"run_id", "string"}, {"run_time", "string"}, {"account_id", "string"}, {"region", "string"},
		{"status", "string"}, {"slots", "int"}, {"rows", "bigint"}, {"error", "string"}, {"finished_at", "string"},
		{"nodes", "string"}, {"nodes_error", "string"},
	}}
}

func isMap(lt *pqformat.LogicalType) bool {
	if lt == nil {
		return false
	}
	_, ok := lt.Value.(*pqformat.MapType)
	return ok
}
