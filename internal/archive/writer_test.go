package archive_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"

	"github.com/session-audit/session-audit/internal/archive"
	"github.com/session-audit/session-audit/internal/parquetcheck"
)

func openFile(t testing.TB, b []byte) *parquet.File {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("open written file: %v", err)
	}
	return f
}

func TestWriterRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		rows, batch int
	}{
		{0, 1},
		{1, 1},
		{200_000, 999}, // batches straddle row group boundaries
	} {
		t.Run(fmt.Sprint(tt.rows), func(t *testing.T) {
			want := sampleRows(tt.rows)
			var buf bytes.Buffer
			w := archive.NewWriter(&buf)
			for rest := want; len(rest) > 0; {
				n := min(tt.batch, len(rest))
				if err := w.Write(rest[:n]); err != nil {
					t.Fatalf("Write: %v", err)
				}
				rest = rest[n:]
			}
			if got := w.Rows(); got != int64(tt.rows) {
				t.Errorf("Rows() before Close = %d, want %d", got, tt.rows)
			}
			if err := w.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if got := w.Rows(); got != int64(tt.rows) {
				t.Errorf("Rows() after Close = %d, want %d", got, tt.rows)
			}
			b := buf.Bytes()
			if err := parquetcheck.VerifyPageIndex(bytes.NewReader(b), int64(len(b))); err != nil {
				t.Errorf("VerifyPageIndex: %v", err)
			}

			f := openFile(t, b)
			if f.NumRows() != int64(tt.rows) {
				t.Errorf("file has %d rows, want %d", f.NumRows(), tt.rows)
			}
			groups := f.Metadata().RowGroups
			if wantGroups := (tt.rows + archive.RowsPerRowGroup - 1) / archive.RowsPerRowGroup; len(groups) != wantGroups {
				t.Errorf("file has %d row groups, want %d", len(groups), wantGroups)
			}
			for i, rg := range groups {
				if rg.NumRows > archive.RowsPerRowGroup {
					t.Errorf("row group %d has %d rows, more than %d", i, rg.NumRows, archive.RowsPerRowGroup)
				}
			}

			got, err := parquet.Read[archive.Row](bytes.NewReader(b), int64(len(b)))
			if err != nil {
				t.Fatalf("read back: %v", err)
			}
			if len(got) != len(want) {
				t.Fatalf("read back %d rows, want %d", len(got), len(want))
			}
			bad := 0
			for i := range want {
				if d := diffRow(got[i], want[i]); d != "" {
					t.Errorf("row %d: %s", i, d)
					if bad++; bad == 10 {
						t.Fatal("too many differences")
					}
				}
			}
		})
	}
}

// diffRow names the fields where got and want differ; times compare as
// instants, pointers by what they point to.
func diffRow(got, want archive.Row) string {
	var diffs []string
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range gv.NumField() {
		g, w := gv.Field(i).Interface(), wv.Field(i).Interface()
		same := false
		switch w := w.(type) {
		case time.Time:
			same = g.(time.Time).Equal(w)
		case *time.Time:
			g := g.(*time.Time)
			same = (g == nil) == (w == nil) && (w == nil || g.Equal(*w))
		case *int64:
			g := g.(*int64)
			same = (g == nil) == (w == nil) && (w == nil || *g == *w)
		default:
			same = reflect.DeepEqual(g, w)
		}
		if !same {
			diffs = append(diffs, fmt.Sprintf("%s = %s, want %s", gv.Type().Field(i).Name, deref(g), deref(w)))
		}
	}
	return strings.Join(diffs, "; ")
}

func deref(v any) string {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return "<nil>"
		}
		return fmt.Sprintf("%q", fmt.Sprint(rv.Elem().Interface()))
	}
	return fmt.Sprintf("%q", fmt.Sprint(v))
}

// column is one line of the Parquet schema in docs/ARCHITECTURE.md, spelled the way
// the file's footer spells it.
type column struct {
	name       string
	physical   format.Type
	logical    string
	converted  deprecated.ConvertedType
	repetition format.FieldRepetitionType
}

const timestampMillisUTC = "TIMESTAMP(isAdjustedToUTC=true,unit=MILLIS)"

// designSchema mirrors the "Parquet schema" table of docs/ARCHITECTURE.md: strings are
// UTF-8 (STRING, converted UTF8 for old readers), timestamps INT64
// TIMESTAMP(MILLIS, isAdjustedToUTC=true), bigint a signed INT64, and only
// session_id is required.
var designSchema = []column{
	{"session_id", format.ByteArray, "STRING", deprecated.UTF8, format.Required},
	{"target", format.ByteArray, "STRING", deprecated.UTF8, format.Optional},
	{"status", format.ByteArray, "STRING", deprecated.UTF8, format.Optional},
	{"start_date", format.Int64, timestampMillisUTC, deprecated.TimestampMillis, format.Optional},
	{"end_date", format.Int64, timestampMillisUTC, deprecated.TimestampMillis, format.Optional},
	{"document_name", format.ByteArray, "STRING", deprecated.UTF8, format.Optional},
	{"owner", format.ByteArray, "STRING", deprecated.UTF8, format.Optional},
	{"reason", format.ByteArray, "STRING", deprecated.UTF8, format.Optional},
	{"details", format.ByteArray, "STRING", deprecated.UTF8, format.Optional},
	{"s3_output_url", format.ByteArray, "STRING", deprecated.UTF8, format.Optional},
	{"cloudwatch_output_url", format.ByteArray, "STRING", deprecated.UTF8, format.Optional},
	{"max_session_duration", format.ByteArray, "STRING", deprecated.UTF8, format.Optional},
	{"access_type", format.ByteArray, "STRING", deprecated.UTF8, format.Optional},
	{"duration_seconds", format.Int64, "INT(64,true)", deprecated.Int64, format.Optional},
	{"account_id", format.ByteArray, "STRING", deprecated.UTF8, format.Optional},
	{"region", format.ByteArray, "STRING", deprecated.UTF8, format.Optional},
	{"exported_at", format.Int64, timestampMillisUTC, deprecated.TimestampMillis, format.Optional},
}

func TestWriterSchema(t *testing.T) {
	b := writeFile(t, sampleRows(10), 10)
	md := openFile(t, b).Metadata()

	root := md.Schema[0]
	if n, _ := root.NumChildren.Get(); int(n) != len(designSchema) || len(md.Schema) != len(designSchema)+1 {
		t.Fatalf("schema has %d columns (%d elements), want %d", n, len(md.Schema), len(designSchema))
	}
	for i, want := range designSchema {
		e := md.Schema[i+1]
		typ, _ := e.Type.Get()
		rep, _ := e.RepetitionType.Get()
		conv, hasConv := e.ConvertedType.Get()
		got := column{e.Name, typ, e.LogicalType.String(), conv, rep}
		if !hasConv {
			got.converted = -1
		}
		if got != want {
			t.Errorf("column %d = %+v, want %+v", i, got, want)
		}
		if children, ok := e.NumChildren.Get(); ok && children != 0 {
			t.Errorf("column %s has %d children, want a leaf", e.Name, children)
		}
	}

	// Every column is compressed with Snappy, has its page index, and uses
	// only encodings that every engine reads: PLAIN values, RLE levels.
	for i, rg := range md.RowGroups {
		for _, c := range rg.Columns {
			name := strings.Join(c.MetaData.PathInSchema, ".")
			if c.MetaData.Codec != format.Snappy {
				t.Errorf("row group %d, column %s: codec %v, want SNAPPY", i, name, c.MetaData.Codec)
			}
			for _, enc := range c.MetaData.Encoding {
				if enc != format.Plain && enc != format.RLE {
					t.Errorf("row group %d, column %s: encoding %v, want only PLAIN and RLE", i, name, enc)
				}
			}
			for _, s := range c.MetaData.EncodingStats {
				if s.PageType != format.DataPage {
					t.Errorf("row group %d, column %s: %d pages of type %v, want DATA_PAGE (v1)", i, name, s.Count, s.PageType)
				}
			}
			if c.OffsetIndexLength == 0 || c.ColumnIndexLength == 0 {
				t.Errorf("row group %d, column %s: no page index", i, name)
			}
		}
	}
}

// TestWriterNulls checks that what has no value is written as null: empty
// strings in optional columns, nil end_date and duration_seconds, zero
// times; and that session_id, required, has no nulls.
func TestWriterNulls(t *testing.T) {
	rows := sampleRows(5000)
	rows[1].StartDate = time.Time{}
	rows[2].ExportedAt = time.Time{}
	rows[3].Status = ""
	b := writeFile(t, rows, 1000)
	md := openFile(t, b).Metadata()

	rv := reflect.ValueOf(rows)
	wantNulls := make([]int64, len(designSchema))
	for i := range rows {
		for j := range designSchema {
			if rv.Index(i).Field(j).IsZero() {
				wantNulls[j]++
			}
		}
	}
	gotNulls := make([]int64, len(designSchema))
	for _, rg := range md.RowGroups {
		for j, c := range rg.Columns {
			gotNulls[j] += c.MetaData.Statistics.NullCount
		}
	}
	for j, col := range designSchema {
		if gotNulls[j] != wantNulls[j] {
			t.Errorf("%s: %d nulls, want %d", col.name, gotNulls[j], wantNulls[j])
		}
	}
	if gotNulls[0] != 0 {
		t.Errorf("session_id has %d nulls", gotNulls[0])
	}
	for _, j := range []int{3, 4, 13} { // start_date, end_date, duration_seconds
		if wantNulls[j] == 0 {
			t.Errorf("sample rows have no null %s: the test checks nothing", designSchema[j].name)
		}
	}
}

func TestWriterClosed(t *testing.T) {
	w := archive.NewWriter(io.Discard)
	if err := w.Write(sampleRows(3)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(sampleRows(1)); err == nil {
		t.Error("Write after Close succeeded")
	}
	if err := w.Close(); err == nil {
		t.Error("second Close succeeded")
	}
	if w.Rows() != 3 {
		t.Errorf("Rows() = %d, want 3", w.Rows())
	}
}

// failingWriter accepts n bytes, then fails.
type failingWriter struct{ n int }

var errDiskFull = errors.New("disk full")

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		n := f.n
		f.n = 0
		return n, errDiskFull
	}
	f.n -= len(p)
	return len(p), nil
}

func TestWriterOutputError(t *testing.T) {
	for _, limit := range []int{0, 1000, 500_000} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			w := archive.NewWriter(&failingWriter{n: limit})
			rows := sampleRows(3 * archive.RowsPerRowGroup)
			var err error
			for len(rows) > 0 && err == nil {
				err = w.Write(rows[:1000])
				rows = rows[1000:]
			}
			if err == nil {
				err = w.Close()
			}
			if !errors.Is(err, errDiskFull) {
				t.Fatalf("error = %v, want one wrapping %v", err, errDiskFull)
			}
			if again := w.Close(); !errors.Is(again, errDiskFull) {
				t.Errorf("Close after the error = %v, want the same error", again)
			}
		})
	}
}

// TestWriterMemoryBounded writes ten row groups of rows made on the fly
// and checks that the live heap just before each row group is flushed, its
// highest point, does not grow with the rows already written.
func TestWriterMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 10 row groups")
	}
	const groups = 10
	peaks := liveHeapPeaks(archive.NewWriter(io.Discard), groups*archive.RowsPerRowGroup, archive.RowsPerRowGroup)
	t.Logf("live heap before each row group flush (MiB): %.1f", peaks)
	first, last := peaks[0], slices.Max(peaks[1:])
	if growth := last - first; growth > 4 {
		t.Errorf("live heap grew by %.1f MiB over %d row groups (from %.1f to %.1f MiB)", growth, groups, first, last)
	}
}

const batchRows = 1024

// liveHeapPeaks writes n sample rows, made batch by batch, to w and returns
// the live heap in MiB, above what it was before, just before each row
// group of rowsPerGroup rows is flushed. rowsPerGroup must be a multiple of
// batchRows.
func liveHeapPeaks(w *archive.Writer, n, rowsPerGroup int) []float64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC() // and what sync.Pools kept through the first
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peaks []float64
	batch := make([]archive.Row, batchRows)
	for done := 0; done < n; done += len(batch) {
		batch = batch[:min(batchRows, n-done)]
		for i := range batch {
			batch[i] = sampleRow(done+i, n)
		}
		if err := w.Write(batch); err != nil {
			panic(err)
		}
		if (done+len(batch))%rowsPerGroup == 0 {
			// The row group is full and is flushed by the next Write or Close.
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peaks = append(peaks, float64(int64(ms.HeapAlloc)-int64(base))/(1<<20))
		}
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
	return peaks
}

// countingWriter counts the bytes written to it.
type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// BenchmarkWriter writes files of 4 row groups to io.Discard and reports
// rows/s, allocations and bytes allocated per row, and the file size per
// row.
func BenchmarkWriter(b *testing.B) {
	rows := sampleRows(4 * archive.RowsPerRowGroup)
	benchmarkWriter(b, rows, func(w io.Writer) *archive.Writer { return archive.NewWriter(w) })
}

// BenchmarkWriterSizing is how RowsPerRowGroup and PageBufferSize were
// chosen: speed, file size, and the live heap a row group holds, for row
// group and page sizes around them.
func BenchmarkWriterSizing(b *testing.B) {
	const n = 8 * 16 * 1024
	rows := sampleRows(n)
	for _, s := range []struct{ rowsPerGroup, pageSize int }{
		{8 << 10, 64 << 10},
		{16 << 10, 64 << 10},
		{32 << 10, 64 << 10},
		{64 << 10, 64 << 10},
		{128 << 10, 64 << 10},
		{32 << 10, 16 << 10},
		{32 << 10, 256 << 10},
		{32 << 10, 1 << 20},
	} {
		b.Run(fmt.Sprintf("rows=%dk/page=%dk", s.rowsPerGroup>>10, s.pageSize>>10), func(b *testing.B) {
			newWriter := func(w io.Writer) *archive.Writer {
				return archive.NewSizedWriter(w, int64(s.rowsPerGroup), s.pageSize)
			}
			benchmarkWriter(b, rows, newWriter)
			b.StopTimer()
			peaks := liveHeapPeaks(newWriter(io.Discard), n, s.rowsPerGroup)
			b.ReportMetric(slices.Max(peaks), "live-MiB")
		})
	}
}

func benchmarkWriter(b *testing.B, rows []archive.Row, newWriter func(io.Writer) *archive.Writer) {
	b.ReportAllocs()
	var out countingWriter
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	iterations := 0
	for b.Loop() {
		iterations++
		out.n = 0
		w := newWriter(&out)
		for rest := rows; len(rest) > 0; {
			k := min(batchRows, len(rest))
			if err := w.Write(rest[:k]); err != nil {
				b.Fatal(err)
			}
			rest = rest[k:]
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	total := float64(iterations) * float64(len(rows))
	b.ReportMetric(total/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/total, "allocs/row")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/total, "B/row")
	b.ReportMetric(float64(out.n)/float64(len(rows)), "file-B/row")
}
