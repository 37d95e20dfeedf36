package archive_test

import (
	"crypto/md5"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
	"github.com/parquet-go/parquet-go/deprecated"

	"github.com/session-audit/session-audit/internal/archive"
)

// duckdbType is the type DuckDB gives a column of the design schema.
func duckdbType(c column) string {
	switch c.logical {
	case "STRING":
		return "VARCHAR"
	case timestampMillisUTC:
		return "TIMESTAMP WITH TIME ZONE"
	case "INT(64,true)":
		return "BIGINT"
	}
	return "unknown logical type " + c.logical
}

// convertedNames spells the converted types of the design schema the way
// parquet_schema() does.
var convertedNames = map[deprecated.ConvertedType]string{
	deprecated.UTF8:            "UTF8",
	deprecated.TimestampMillis: "TIMESTAMP_MILLIS",
	deprecated.Int64:           "INT_64",
}

// TestDuckDB reads a written file with DuckDB, an engine independent of
// parquet-go: its types, every value of every row, `=` filters on
// session_id and owner (what Athena engine v3 gets wrong on files with a
// broken page index), and odd text byte for byte.
func TestDuckDB(t *testing.T) {
	want := append(oddRows(), sampleRows(100_000)...)
	path := filepath.Join(t.TempDir(), "sessions.parquet")
	if err := os.WriteFile(path, writeFile(t, want, 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })

	t.Run("parquet_schema", func(t *testing.T) {
		rows, err := db.Query(`SELECT name, type, repetition_type, converted_type, logical_type, duckdb_type
			FROM parquet_schema(?) WHERE num_children IS NULL ORDER BY column_id`, path)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		i := 0
		for ; rows.Next(); i++ {
			var name, typ, repetition, converted, logical, duck string
			if err := rows.Scan(&name, &typ, &repetition, &converted, &logical, &duck); err != nil {
				t.Fatal(err)
			}
			if i >= len(designSchema) {
				t.Errorf("extra column %s", name)
				continue
			}
			c := designSchema[i]
			got := fmt.Sprint(name, " ", typ, " ", repetition, " ", converted, " ", duck)
			want := fmt.Sprint(c.name, " ", c.physical, " ", c.repetition, " ", convertedNames[c.converted], " ", duckdbType(c))
			if got != want {
				t.Errorf("column %d: DuckDB sees %q, want %q", i, got, want)
			}
			if c.logical == timestampMillisUTC && !(strings.Contains(logical, "isAdjustedToUTC=1") && strings.Contains(logical, "MILLIS=MilliSeconds()")) {
				t.Errorf("%s: logical type %s, want UTC-adjusted milliseconds", name, logical)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if i != len(designSchema) {
			t.Errorf("DuckDB sees %d columns, want %d", i, len(designSchema))
		}
	})

	t.Run("describe", func(t *testing.T) {
		rows, err := db.Query(`DESCRIBE SELECT * FROM read_parquet(?)`, path)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got, want []string
		for rows.Next() {
			var name, typ string
			var null, key, def, extra sql.NullString
			if err := rows.Scan(&name, &typ, &null, &key, &def, &extra); err != nil {
				t.Fatal(err)
			}
			got = append(got, name+" "+typ)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		for _, c := range designSchema {
			want = append(want, c.name+" "+duckdbType(c))
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("DESCRIBE:\n got %q\nwant %q", got, want)
		}
	})

	t.Run("every row", func(t *testing.T) {
		names := make([]string, len(designSchema))
		for i, c := range designSchema {
			names[i] = c.name
		}
		rows, err := db.Query(`SELECT `+strings.Join(names, ", ")+`
			FROM read_parquet(?, file_row_number = true) ORDER BY file_row_number`, path)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		i, bad := 0, 0
		for ; rows.Next(); i++ {
			got, err := scanRow(rows)
			if err != nil {
				t.Fatal(err)
			}
			if i >= len(want) {
				continue
			}
			if d := diffRow(got, want[i]); d != "" {
				t.Errorf("row %d: %s", i, d)
				if bad++; bad == 10 {
					t.Fatal("too many differences")
				}
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if i != len(want) {
			t.Errorf("DuckDB read %d rows, want %d", i, len(want))
		}
	})

	t.Run("session_id =", func(t *testing.T) {
		for _, i := range []int{0, 1, len(oddTexts), len(want) / 3, len(want) / 2, len(want) - 2, len(want) - 1} {
			var n, row int64
			err := db.QueryRow(`SELECT count(*), coalesce(min(file_row_number), -1)
				FROM read_parquet(?, file_row_number = true) WHERE session_id = ?`, path, want[i].SessionID).Scan(&n, &row)
			if err != nil {
				t.Fatal(err)
			}
			if n != 1 || row != int64(i) {
				t.Errorf("session_id = %q: %d rows, first at %d; want 1 row at %d", want[i].SessionID, n, row, i)
			}
		}
		var n int64
		if err := db.QueryRow(`SELECT count(*) FROM read_parquet(?) WHERE session_id = 'no-such-session'`, path).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("session_id = 'no-such-session': %d rows, want 0", n)
		}
	})

	t.Run("owner =", func(t *testing.T) {
		counts := map[string]int64{}
		for _, r := range want {
			counts[r.Owner]++
		}
		for owner, wantN := range counts {
			q := `SELECT count(*) FROM read_parquet(?) WHERE owner = ?`
			args := []any{path, owner}
			if owner == "" {
				q, args = `SELECT count(*) FROM read_parquet(?) WHERE owner IS NULL`, args[:1]
			}
			var n int64
			if err := db.QueryRow(q, args...).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != wantN {
				t.Errorf("owner = %q: %d rows, want %d", owner, n, wantN)
			}
		}
	})

	t.Run("owner = and start_date range", func(t *testing.T) {
		from, to := baseStart.Add(6*time.Hour), baseStart.Add(7*time.Hour)
		var wantN int64
		for _, r := range want {
			if r.Owner == owners[2] && !r.StartDate.Before(from) && r.StartDate.Before(to) {
				wantN++
			}
		}
		var n int64
		err := db.QueryRow(`SELECT count(*) FROM read_parquet(?)
			WHERE owner = ? AND epoch_ms(start_date) >= ? AND epoch_ms(start_date) < ?`,
			path, owners[2], from.UnixMilli(), to.UnixMilli()).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n != wantN || n == 0 {
			t.Errorf("%d rows, want %d (and some)", n, wantN)
		}
	})

	t.Run("odd text byte for byte", func(t *testing.T) {
		for i, s := range oddTexts {
			sum := md5.Sum([]byte(s))
			var reason, hash string
			var length, n int64
			err := db.QueryRow(`SELECT coalesce(any_value(reason), ''), coalesce(any_value(md5(details)), ''),
				coalesce(any_value(octet_length(encode(owner))), 0), count(*)
				FROM read_parquet(?) WHERE session_id = ?`, path, fmt.Sprintf("odd-%02d", i)).Scan(&reason, &hash, &length, &n)
			if err != nil {
				t.Fatal(err)
			}
			if s == "" {
				hash = hex.EncodeToString(sum[:]) // null, not an empty string: checked in "every row"
			}
			if n != 1 || reason != s || hash != hex.EncodeToString(sum[:]) || length != int64(len(s)) {
				t.Errorf("odd text %d: DuckDB has %q (md5 %s, %d bytes, %d rows), want %q (md5 %x, %d bytes)", i, reason, hash, length, n, s, sum, len(s))
			}
			if s == "" {
				continue
			}
			if err := db.QueryRow(`SELECT count(*) FROM read_parquet(?) WHERE reason = ?`, path, s).Scan(&n); err != nil {
				t.Fatal(err)
			}
			var wantN int64
			for _, r := range want {
				if r.Reason == s {
					wantN++
				}
			}
			if n != wantN {
				t.Errorf("reason = %q: %d rows, want %d", s, n, wantN)
			}
		}
	})
}

// TestDuckDBEmptyFile reads a file without rows: the schema is all there
// is, and DuckDB must see it.
func TestDuckDBEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.parquet")
	if err := os.WriteFile(path, writeFile(t, nil, 1), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n, columns int64
	if err := db.QueryRow(`SELECT count(*) FROM read_parquet(?)`, path).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM (DESCRIBE SELECT * FROM read_parquet(?))`, path).Scan(&columns); err != nil {
		t.Fatal(err)
	}
	if n != 0 || columns != int64(len(designSchema)) {
		t.Errorf("DuckDB reads %d rows and %d columns, want 0 and %d", n, columns, len(designSchema))
	}
}

// scanRow scans the design schema's columns into a Row: NULL strings
// become "", NULL times and durations nil (or the zero time).
func scanRow(rows *sql.Rows) (archive.Row, error) {
	dest := make([]any, len(designSchema))
	for i, c := range designSchema {
		switch {
		case c.logical == timestampMillisUTC:
			dest[i] = new(sql.NullTime)
		case c.logical == "STRING":
			dest[i] = new(sql.NullString)
		default:
			dest[i] = new(sql.NullInt64)
		}
	}
	if err := rows.Scan(dest...); err != nil {
		return archive.Row{}, err
	}
	var r archive.Row
	rv := reflect.ValueOf(&r).Elem()
	for i, d := range dest {
		f := rv.Field(i)
		switch d := d.(type) {
		case *sql.NullString:
			f.SetString(d.String)
		case *sql.NullTime:
			if !d.Valid {
				continue
			}
			if f.Kind() == reflect.Pointer {
				f.Set(reflect.ValueOf(&d.Time))
			} else {
				f.Set(reflect.ValueOf(d.Time))
			}
		case *sql.NullInt64:
			if d.Valid {
				f.Set(reflect.ValueOf(&d.Int64))
			}
		}
	}
	return r, nil
}
