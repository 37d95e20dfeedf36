package athenafake

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/parquet-go/parquet-go"
	pqformat "github.com/parquet-go/parquet-go/format"

	"github.com/session-audit/session-audit/internal/accounts"
	"github.com/session-audit/session-audit/internal/archive"
	"github.com/session-audit/session-audit/internal/cloudtrail"
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

// CloudTrailTable is the stack's Glue table over a trail (cloudtrail.Columns
// with their Glue types, the template's table) at location.
func CloudTrailTable(loc cloudtrail.Location) Table {
	t := Table{Name: cloudtrail.TableName, Prefix: loc.Prefix, Bucket: loc.Bucket, Format: "cloudtrail", fields: cloudtrail.Columns}
	for _, f := range cloudtrail.Columns {
		t.Columns = append(t.Columns, Column{Name: f.Name(), Type: f.GlueType()})
	}
	return t
}

// trailView is the DuckDB table loaded from a trail's log files as Athena's
// CloudTrail table: each record (from merged, mergeTrail's file) with
// every field under its lowercase Glue name (JSON objects such as
// responseElements as their text, null when CloudTrail wrote null), then
// the partitions account, region and timestamp (yyyy/MM/dd) from its
// file's key. With no file, an empty table of the same columns.
func trailView(t Table, merged string) string {
	var sel, defs []string
	for _, f := range t.fields {
		sel = append(sel, trailSelect(f, "r."+quoteID(f.JSON))+" AS "+quoteID(f.Name()))
		defs = append(defs, quoteID(f.Name())+" "+duckGlue(f))
	}
	parts := `, account VARCHAR, region VARCHAR, "timestamp" VARCHAR`
	if merged == "" {
		return fmt.Sprintf(`CREATE TABLE %q (%s%s)`, t.Name, strings.Join(defs, ", "), parts)
	}
	const re = `'^([0-9]{12})/CloudTrail/([a-z0-9-]+)/([0-9]{4}/[0-9]{2}/[0-9]{2})/[^/]+$'`
	return fmt.Sprintf(`CREATE TABLE %q AS SELECT %s,
  regexp_extract(f, %s, 1) AS account, regexp_extract(f, %s, 2) AS region, regexp_extract(f, %s, 3) AS "timestamp"
FROM read_json('%s', format = 'newline_delimited', columns = {'r': '%s', 'f': 'VARCHAR'})`,
		t.Name, strings.Join(sel, ",\n  "), re, re, re, strings.ReplaceAll(filepath.ToSlash(merged), "'", "''"),
		strings.ReplaceAll(duckRead(cloudtrail.Field{Kind: cloudtrail.Struct, Fields: t.fields}), "'", "''"))
}

// mergeTrail writes the records of a trail's gzip log files as one gzip
// JSON-lines file, {"r": record, "f": the file's key under the table's
// prefix} per line: DuckDB reads one file in a fraction of the time it
// takes over thousands of small ones (a week of a busy trail).
func mergeTrail(files []file, path string) error {
	out, err := os.Create(path + ".part")
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(out)
	bw := bufio.NewWriter(zw)
	write := func() error {
		for _, f := range files {
			if err := appendRecords(bw, f); err != nil {
				return fmt.Errorf("%s: %w", f.key, err)
			}
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		return zw.Close()
	}
	if err := errors.Join(write(), out.Close()); err != nil {
		os.Remove(path + ".part")
		return err
	}
	return os.Rename(path+".part", path)
}

// appendRecords writes one log file's records as lines.
func appendRecords(w *bufio.Writer, f file) error {
	in, err := os.Open(f.path)
	if err != nil {
		return err
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		return err
	}
	var doc struct {
		Records []json.RawMessage
	}
	if err := json.NewDecoder(zr).Decode(&doc); err != nil {
		return err
	}
	key, _ := json.Marshal(f.rel)
	for _, r := range doc.Records {
		var compact bytes.Buffer
		if err := json.Compact(&compact, r); err != nil {
			return err
		}
		fmt.Fprintf(w, `{"f":%s,"r":%s}`+"\n", key, compact.Bytes())
	}
	return nil
}

func quoteID(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// duckRead is the DuckDB type read_json reads a field as: objects are
// structs keyed as CloudTrail writes them, JSON text stays JSON.
func duckRead(f cloudtrail.Field) string {
	return duckStruct(f, func(c cloudtrail.Field) string { return c.JSON }, "JSON")
}

// duckGlue is the DuckDB type of the field as the table shows it: the
// Glue type, with lowercase names.
func duckGlue(f cloudtrail.Field) string {
	return duckStruct(f, cloudtrail.Field.Name, "VARCHAR")
}

// duckStruct spells a field's DuckDB type with its fields named by name and
// JSON text as text.
func duckStruct(f cloudtrail.Field, name func(cloudtrail.Field) string, text string) string {
	switch f.Kind {
	case cloudtrail.JSONText:
		return text
	case cloudtrail.Struct, cloudtrail.Array:
		var fs []string
		for _, c := range f.Fields {
			fs = append(fs, quoteID(name(c))+" "+duckStruct(c, name, text))
		}
		st := "STRUCT(" + strings.Join(fs, ", ") + ")"
		if f.Kind == cloudtrail.Array {
			return st + "[]"
		}
		return st
	case cloudtrail.Map:
		return "MAP(VARCHAR, VARCHAR)"
	}
	return "VARCHAR"
}

// trailSelect renames a read field to the Glue shape.
func trailSelect(f cloudtrail.Field, expr string) string {
	switch f.Kind {
	case cloudtrail.JSONText:
		// A JSON null is SQL NULL, as Athena's JSON SerDe gives it.
		return fmt.Sprintf("CASE WHEN %s IS NULL OR json_type(%s) = 'NULL' THEN NULL ELSE CAST(%s AS VARCHAR) END", expr, expr, expr)
	case cloudtrail.Struct:
		var fs []string
		for _, c := range f.Fields {
			fs = append(fs, quoteID(c.Name())+" := "+trailSelect(c, expr+"."+quoteID(c.JSON)))
		}
		return fmt.Sprintf("CASE WHEN %s IS NULL THEN NULL ELSE struct_pack(%s) END", expr, strings.Join(fs, ", "))
	case cloudtrail.Array:
		var fs []string
		for _, c := range f.Fields {
			fs = append(fs, quoteID(c.Name())+" := "+trailSelect(c, "x."+quoteID(c.JSON)))
		}
		return fmt.Sprintf("list_transform(%s, x -> struct_pack(%s))", expr, strings.Join(fs, ", "))
	}
	return expr
}
