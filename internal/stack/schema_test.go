package stack_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/session-audit/session-audit/internal/archive"
)

// column is a column name with its Hive type.
type column struct{ name, typ string }

// hiveColumns maps a Parquet schema to the Hive types Athena reads it as:
// BYTE_ARRAY STRING → string, INT64 TIMESTAMP → timestamp, INT64 (plain or
// INT(64, signed)) → bigint.
// Anything else is an error: the Glue table would need a decision.
func hiveColumns(s *parquet.Schema) ([]column, error) {
	var out []column
	for _, f := range s.Fields() {
		if !f.Leaf() {
			return nil, fmt.Errorf("column %s is a group", f.Name())
		}
		typ := f.Type()
		lt := typ.LogicalType()
		var h string
		switch kind := typ.Kind(); {
		case kind == parquet.ByteArray && lt != nil && isString(lt):
			h = "string"
		case kind == parquet.Int64 && lt != nil && isTimestamp(lt):
			h = "timestamp"
		case kind == parquet.Int64 && (lt == nil || isInt64(lt)):
			h = "bigint"
		default:
			return nil, fmt.Errorf("column %s has Parquet type %s (%v), which has no Hive mapping here", f.Name(), kind, lt)
		}
		out = append(out, column{f.Name(), h})
	}
	return out, nil
}

func isString(lt *format.LogicalType) bool { _, ok := lt.Value.(*format.StringType); return ok }

func isInt64(lt *format.LogicalType) bool {
	i, ok := lt.Value.(*format.IntType)
	return ok && i.BitWidth == 64 && i.IsSigned
}

func isTimestamp(lt *format.LogicalType) bool {
	ts, ok := lt.Value.(*format.TimestampType)
	// Athena reads UTC-adjusted millisecond timestamps as timestamp.
	return ok && ts.IsAdjustedToUTC
}

// glueColumns returns the sessions table's columns.
func glueColumns(t *testing.T) []column {
	t.Helper()
	ti := asMap(resolve(t, loadTemplate(t), defaults).props(t, "SessionsTable")["TableInput"])
	var out []column
	for _, c := range asList(asMap(ti["StorageDescriptor"])["Columns"]) {
		out = append(out, column{scalarString(asMap(c)["Name"]), scalarString(asMap(c)["Type"])})
	}
	return out
}

// TestGlueColumnsAreTheParquetSchema: the table declares exactly the
// columns archive.Row writes, in order, with their Hive types.
func TestGlueColumnsAreTheParquetSchema(t *testing.T) {
	want, err := hiveColumns(parquet.SchemaOf(archive.Row{}))
	if err != nil {
		t.Fatal(err)
	}
	got := glueColumns(t)
	if !slices.Equal(got, want) {
		t.Errorf("Glue columns\n%v\nParquet schema of archive.Row\n%v", got, want)
	}
	if len(want) != 17 {
		t.Errorf("archive.Row has %d columns; docs/ARCHITECTURE.md lists 17", len(want))
	}
	for _, c := range got {
		if c.name == "dt" {
			t.Error("dt is a partition key, not a column in the files")
		}
	}
}

func TestHiveColumnMapping(t *testing.T) {
	if _, err := hiveColumns(parquet.SchemaOf(struct {
		S string `parquet:"s"`
		B bool   `parquet:"b"`
	}{})); err == nil {
		t.Error("a boolean column mapped without a decision")
	}
	got, err := hiveColumns(parquet.SchemaOf(struct {
		S string `parquet:"s,optional"`
		N int64  `parquet:"n"`
	}{}))
	if err != nil || fmt.Sprint(got) != "[{s string} {n bigint}]" {
		t.Errorf("mapped %v, %v", got, err)
	}
}
