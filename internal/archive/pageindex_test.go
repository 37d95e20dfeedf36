package archive_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"

	"github.com/session-audit/session-audit/internal/archive"
	"github.com/session-audit/session-audit/internal/parquetcheck"
)

// dictRow exercises what our own files lack: dictionary pages, a repeated
// column, a required int column.
type dictRow struct {
	Status string   `parquet:"status,dict"`
	Owner  string   `parquet:"owner,optional,dict"`
	Tags   []string `parquet:"tags,list"`
	N      int64    `parquet:"n"`
}

// dictFile writes rows of dictRow in small pages with the given data page
// version.
func dictFile(t testing.TB, version int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[dictRow](&buf,
		parquet.DataPageVersion(version),
		parquet.PageBufferSize(2048),
		parquet.MaxRowsPerRowGroup(3000),
		parquet.Compression(&parquet.Snappy),
	)
	rows := make([]dictRow, 10_000)
	for i := range rows {
		rows[i] = dictRow{
			Status: statuses[i%len(statuses)],
			Owner:  []string{"", owners[i%len(owners)]}[min(i%7, 1)],
			Tags:   []string{"a", "b", "c"}[:i%4],
			N:      int64(i),
		}
	}
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func verify(b []byte) error {
	return parquetcheck.VerifyPageIndex(bytes.NewReader(b), int64(len(b)))
}

func TestVerifyPageIndexAccepts(t *testing.T) {
	files := map[string][]byte{
		"report 0 rows":          writeFile(t, nil, 1),
		"report 1 row":           writeFile(t, sampleRows(1), 1),
		"report 100k rows":       writeFile(t, sampleRows(100_000), 4096),
		"dictionary, v1 pages":   dictFile(t, 1),
		"dictionary, v2 pages":   dictFile(t, 2),
		"report odd texts first": writeFile(t, oddRows(), 3),
		"report null columns":    writeFile(t, nullRows(50_000), 1000),
	}
	for name, b := range files {
		t.Run(name, func(t *testing.T) {
			if err := verify(b); err != nil {
				t.Errorf("VerifyPageIndex: %v", err)
			}
		})
	}
	// The files hold what the cases are for: a dictionary page, null pages.
	md := footer(t, dictFile(t, 1))
	if c := md.RowGroups[0].Columns[0]; c.MetaData.DictionaryPageOffset == 0 {
		t.Error("dictionary file has no dictionary page")
	}
	nulls := 0
	rewriteIndexes(t, files["report null columns"], func(rg, col int, c *format.ColumnChunk, ix *pageIndex) {
		for _, null := range ix.columns.NullPages {
			if null {
				nulls++
			}
		}
	})
	if nulls == 0 {
		t.Error("null columns file has no null pages")
	}
}

// nullRows returns n sample rows without reason, details, end or duration.
func nullRows(n int) []archive.Row {
	rows := sampleRows(n)
	for i := range rows {
		r := &rows[i]
		r.Reason, r.Details, r.CloudWatchOutputURL, r.EndDate, r.DurationSeconds = "", "", "", nil, nil
	}
	return rows
}

func footer(t testing.TB, b []byte) *format.FileMetaData {
	t.Helper()
	n := binary.LittleEndian.Uint32(b[len(b)-8:])
	md := new(format.FileMetaData)
	if err := thrift.Unmarshal(new(thrift.CompactProtocol), b[len(b)-8-int(n):len(b)-8], md); err != nil {
		t.Fatalf("decode footer: %v", err)
	}
	return md
}

// pageIndex is the page index of one column chunk; a nil member is left
// out of the rewritten file.
type pageIndex struct {
	offsets *format.OffsetIndex
	columns *format.ColumnIndex
}

// rewriteIndexes decodes the page indexes of file, lets edit change them
// and the footer's column chunks, and writes the file again with the
// edited indexes and footer after the untouched row groups.
func rewriteIndexes(t *testing.T, file []byte, edit func(rg, col int, chunk *format.ColumnChunk, ix *pageIndex)) []byte {
	t.Helper()
	md := footer(t, file)
	proto := new(thrift.CompactProtocol)
	indexStart := int64(len(file))
	var ixs [][]pageIndex
	for i := range md.RowGroups {
		ixs = append(ixs, make([]pageIndex, len(md.RowGroups[i].Columns)))
		for j := range md.RowGroups[i].Columns {
			c := &md.RowGroups[i].Columns[j]
			ix := &ixs[i][j]
			ix.offsets, ix.columns = new(format.OffsetIndex), new(format.ColumnIndex)
			if err := thrift.Unmarshal(proto, file[c.OffsetIndexOffset:c.OffsetIndexOffset+int64(c.OffsetIndexLength)], ix.offsets); err != nil {
				t.Fatal(err)
			}
			if err := thrift.Unmarshal(proto, file[c.ColumnIndexOffset:c.ColumnIndexOffset+int64(c.ColumnIndexLength)], ix.columns); err != nil {
				t.Fatal(err)
			}
			indexStart = min(indexStart, c.OffsetIndexOffset, c.ColumnIndexOffset)
			edit(i, j, c, ix)
		}
	}
	out := slices.Clone(file[:indexStart])
	appendIndex := func(v any, off *int64, n *int32) {
		b, err := thrift.Marshal(proto, v)
		if err != nil {
			t.Fatal(err)
		}
		*off, *n = int64(len(out)), int32(len(b))
		out = append(out, b...)
	}
	for i := range md.RowGroups {
		for j := range md.RowGroups[i].Columns {
			c := &md.RowGroups[i].Columns[j]
			if ix := ixs[i][j]; ix.columns != nil {
				appendIndex(ix.columns, &c.ColumnIndexOffset, &c.ColumnIndexLength)
			} else {
				c.ColumnIndexOffset, c.ColumnIndexLength = 0, 0
			}
		}
	}
	for i := range md.RowGroups {
		for j := range md.RowGroups[i].Columns {
			c := &md.RowGroups[i].Columns[j]
			if ix := ixs[i][j]; ix.offsets != nil {
				appendIndex(ix.offsets, &c.OffsetIndexOffset, &c.OffsetIndexLength)
			} else {
				c.OffsetIndexOffset, c.OffsetIndexLength = 0, 0
			}
		}
	}
	b, err := thrift.Marshal(proto, md)
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, b...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(b)))
	return append(out, "PAR1"...)
}

// headerLength decodes the page header at off and returns its length.
func headerLength(t *testing.T, file []byte, off int64) int32 {
	t.Helper()
	r := new(thrift.CompactProtocol).NewReaderFromBytes(file[off:])
	var h format.PageHeader
	if err := thrift.NewDecoder(r).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return int32(r.BytesRead())
}

func TestVerifyPageIndexRejects(t *testing.T) {
	ours := writeFile(t, sampleRows(100_000), 4096)
	dict := dictFile(t, 1)
	const (
		ownerCol     = 6
		startDateCol = 3
		sessionCol   = 0
	)
	// Our files must have what the cases below corrupt.
	md := footer(t, ours)
	if len(md.RowGroups) < 2 {
		t.Fatalf("sample file has %d row groups, want several", len(md.RowGroups))
	}

	tests := []struct {
		name string
		file func(t *testing.T) []byte
		want string // in the error
	}{
		{
			name: "offset index short by each page header (xitongsys #547)",
			file: func(t *testing.T) []byte {
				return rewriteIndexes(t, ours, func(rg, col int, c *format.ColumnChunk, ix *pageIndex) {
					if col == ownerCol {
						for k := range ix.offsets.PageLocations {
							loc := &ix.offsets.PageLocations[k]
							loc.CompressedPageSize -= headerLength(t, ours, loc.Offset)
						}
					}
				})
			},
			want: `row group 0, column "owner", page 0: offset index says`,
		},
		{
			name: "one page location size patched",
			file: func(t *testing.T) []byte {
				return rewriteIndexes(t, ours, func(rg, col int, c *format.ColumnChunk, ix *pageIndex) {
					if rg == 1 && col == startDateCol {
						ix.offsets.PageLocations[1].CompressedPageSize++
					}
				})
			},
			want: `row group 1, column "start_date", page 1: offset index says`,
		},
		{
			name: "column index counts the dictionary page (xitongsys #620)",
			file: func(t *testing.T) []byte {
				return rewriteIndexes(t, dict, func(rg, col int, c *format.ColumnChunk, ix *pageIndex) {
					if col == 0 {
						ci := ix.columns
						ci.NullPages = slices.Insert(ci.NullPages, 0, false)
						ci.MinValues = slices.Insert(ci.MinValues, 0, ci.MinValues[0])
						ci.MaxValues = slices.Insert(ci.MaxValues, 0, ci.MaxValues[0])
						ci.NullCounts = slices.Insert(ci.NullCounts, 0, 0)
					}
				})
			},
			want: `row group 0, column "status": column index has`,
		},
		{
			name: "offset index lists the dictionary page",
			file: func(t *testing.T) []byte {
				return rewriteIndexes(t, dict, func(rg, col int, c *format.ColumnChunk, ix *pageIndex) {
					if col == 0 {
						locs := ix.offsets.PageLocations
						dictLoc := format.PageLocation{Offset: c.MetaData.DictionaryPageOffset, CompressedPageSize: int32(locs[0].Offset - c.MetaData.DictionaryPageOffset)}
						ix.offsets.PageLocations = slices.Insert(locs, 0, dictLoc)
					}
				})
			},
			want: `row group 0, column "status": offset index lists`,
		},
		{
			name: "no offset index",
			file: func(t *testing.T) []byte {
				return rewriteIndexes(t, ours, func(rg, col int, c *format.ColumnChunk, ix *pageIndex) {
					if rg == 2 && col == ownerCol {
						ix.offsets = nil
					}
				})
			},
			want: `row group 2, column "owner": no offset index`,
		},
		{
			name: "no column index",
			file: func(t *testing.T) []byte {
				return rewriteIndexes(t, ours, func(rg, col int, c *format.ColumnChunk, ix *pageIndex) {
					if col == sessionCol {
						ix.columns = nil
					}
				})
			},
			want: `row group 0, column "session_id": no column index`,
		},
		{
			name: "page location points past the page header",
			file: func(t *testing.T) []byte {
				return rewriteIndexes(t, ours, func(rg, col int, c *format.ColumnChunk, ix *pageIndex) {
					if rg == 0 && col == ownerCol {
						ix.offsets.PageLocations[2].Offset += 3
					}
				})
			},
			want: `row group 0, column "owner", page 2: offset index says offset`,
		},
		{
			name: "first_row_index wrong",
			file: func(t *testing.T) []byte {
				return rewriteIndexes(t, ours, func(rg, col int, c *format.ColumnChunk, ix *pageIndex) {
					if rg == 0 && col == ownerCol {
						ix.offsets.PageLocations[3].FirstRowIndex--
					}
				})
			},
			want: `row group 0, column "owner", page 3: first_row_index`,
		},
		{
			name: "first_row_index not from 0",
			file: func(t *testing.T) []byte {
				return rewriteIndexes(t, ours, func(rg, col int, c *format.ColumnChunk, ix *pageIndex) {
					if rg == 0 && col == startDateCol {
						ix.offsets.PageLocations[0].FirstRowIndex = 1
					}
				})
			},
			want: `row group 0, column "start_date", page 0: first_row_index is 1, not 0`,
		},
		{
			name: "null_pages shorter than the pages",
			file: func(t *testing.T) []byte {
				return rewriteIndexes(t, ours, func(rg, col int, c *format.ColumnChunk, ix *pageIndex) {
					if rg == 0 && col == ownerCol {
						ix.columns.NullPages = ix.columns.NullPages[1:]
					}
				})
			},
			want: `row group 0, column "owner": column index has`,
		},
		{
			name: "max_values shorter than the pages",
			file: func(t *testing.T) []byte {
				return rewriteIndexes(t, ours, func(rg, col int, c *format.ColumnChunk, ix *pageIndex) {
					if rg == 0 && col == ownerCol {
						ix.columns.MaxValues = ix.columns.MaxValues[1:]
					}
				})
			},
			want: `max_values for`,
		},
		{
			name: "min above max",
			file: func(t *testing.T) []byte {
				return rewriteIndexes(t, ours, func(rg, col int, c *format.ColumnChunk, ix *pageIndex) {
					if rg == 0 && col == startDateCol {
						ci := ix.columns
						ci.MinValues[1], ci.MaxValues[1] = ci.MaxValues[1], ci.MinValues[1]
					}
				})
			},
			want: `row group 0, column "start_date", page 1: column index min`,
		},
		{
			name: "page with values marked as a null page",
			file: func(t *testing.T) []byte {
				return rewriteIndexes(t, ours, func(rg, col int, c *format.ColumnChunk, ix *pageIndex) {
					if rg == 0 && col == ownerCol {
						ix.columns.NullPages[4] = true
					}
				})
			},
			want: `row group 0, column "owner", page 4: null page with`,
		},
		{
			name: "null count above the values",
			file: func(t *testing.T) []byte {
				return rewriteIndexes(t, ours, func(rg, col int, c *format.ColumnChunk, ix *pageIndex) {
					if rg == 0 && col == startDateCol {
						ix.columns.NullCounts[0] = 1 << 40
					}
				})
			},
			want: `row group 0, column "start_date", page 0: column index counts 1099511627776 nulls`,
		},
		{
			name: "boundary order claimed but broken",
			file: func(t *testing.T) []byte {
				return rewriteIndexes(t, ours, func(rg, col int, c *format.ColumnChunk, ix *pageIndex) {
					if rg == 0 && col == sessionCol {
						ix.columns.BoundaryOrder = format.Descending
					}
				})
			},
			want: `row group 0, column "session_id", page 1: column index bounds break boundary_order`,
		},
		{
			name: "dictionary page without dictionary_page_offset",
			file: func(t *testing.T) []byte {
				return rewriteIndexes(t, dict, func(rg, col int, c *format.ColumnChunk, ix *pageIndex) {
					if rg == 0 && col == 0 {
						c.MetaData.DataPageOffset = c.MetaData.DictionaryPageOffset
						c.MetaData.DictionaryPageOffset = 0
					}
				})
			},
			want: `row group 0, column "status": dictionary page at offset`,
		},
		{
			name: "chunk size wrong",
			file: func(t *testing.T) []byte {
				return rewriteIndexes(t, ours, func(rg, col int, c *format.ColumnChunk, ix *pageIndex) {
					if rg == 1 && col == ownerCol {
						c.MetaData.TotalCompressedSize -= 10
					}
				})
			},
			want: `row group 1, column "owner": page at offset`,
		},
		{
			name: "not parquet",
			file: func(t *testing.T) []byte { return []byte("PAR1 this is not a parquet file PAR2") },
			want: "missing PAR1 magic",
		},
		{
			name: "truncated",
			file: func(t *testing.T) []byte { return ours[:len(ours)/2] },
			want: "verify page index:",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.file(t)
			err := verify(b)
			if err == nil {
				t.Fatalf("VerifyPageIndex accepted the file, want an error with %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v\nwant it to contain %q", err, tt.want)
			}
			t.Log(err)
		})
	}

	// The rewrite itself keeps a file valid when it changes nothing, so
	// the failures above come from the corruption alone.
	for name, b := range map[string][]byte{"ours": ours, "dict": dict} {
		same := rewriteIndexes(t, b, func(int, int, *format.ColumnChunk, *pageIndex) {})
		if err := verify(same); err != nil {
			t.Errorf("%s rewritten unchanged: %v", name, err)
		}
	}
}

func Example_verifyPageIndex() {
	var buf bytes.Buffer
	w := archive.NewWriter(&buf)
	if err := w.Write(sampleRows(1000)); err != nil {
		panic(err)
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
	err := parquetcheck.VerifyPageIndex(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	fmt.Println(w.Rows(), err)
	// Output: 1000 <nil>
}
