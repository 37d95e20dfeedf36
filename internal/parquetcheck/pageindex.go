// Package parquetcheck is test support: it verifies that a Parquet file's
// page index is one that engines can trust. The tests of the writer and the
// end-to-end tests run it on every file they produce; the function itself
// never does.
package parquetcheck

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// VerifyPageIndex checks that the Parquet file of size bytes in r carries a
// page index that engines can trust, and returns an error naming the row
// group, column and page of the first violation.
//
// Engines that read page indexes (Athena engine v3/Trino, Spark, ClickHouse)
// use the offset index to fetch single pages and the column index to skip
// them, so a wrong index makes them fail or return wrong rows on `=`
// filters; github.com/xitongsys/parquet-go writes offset indexes that are
// short by each page header and column indexes that count the dictionary
// page. For every column chunk of every row group, VerifyPageIndex walks the
// page headers actually in the file and checks that:
//
//   - the chunk has both an offset index and a column index, inside the file;
//   - the offset index lists exactly the chunk's data pages (no dictionary
//     page), in order: each location starts where the page's header starts
//     and its size is the header's length plus the header's
//     compressed_page_size, so the locations are contiguous and inside the
//     chunk;
//   - first_row_index starts at 0, increases, and (for columns that are not
//     repeated) equals the rows of the pages before it, which add up to the
//     row group's row count;
//   - the column index has one entry per data page in null_pages,
//     min_values, max_values and null_counts; a page is a null page exactly
//     when its null count is its value count (columns that are not
//     repeated); and, where the column's order is known (integers and
//     strings), each min of a page with values is at most its max, and
//     boundary_order holds.
func VerifyPageIndex(r io.ReaderAt, size int64) error {
	md, footerStart, err := readFooter(r, size)
	if err != nil {
		return fmt.Errorf("verify page index: %w", err)
	}
	leaves, err := schemaLeaves(md.Schema)
	if err != nil {
		return fmt.Errorf("verify page index: %w", err)
	}
	var total int64
	for i := range md.RowGroups {
		rg := &md.RowGroups[i]
		if len(rg.Columns) != len(leaves) {
			return fmt.Errorf("verify page index: row group %d has %d column chunks, the schema %d columns", i, len(rg.Columns), len(leaves))
		}
		for j := range rg.Columns {
			c := chunkCheck{r: r, footerStart: footerStart, rowGroup: i, rows: rg.NumRows, leaf: leaves[j], chunk: &rg.Columns[j]}
			if err := c.verify(); err != nil {
				return fmt.Errorf("verify page index: %w", err)
			}
		}
		total += rg.NumRows
	}
	if total != md.NumRows {
		return fmt.Errorf("verify page index: row groups hold %d rows, the footer says %d", total, md.NumRows)
	}
	return nil
}

// readFooter decodes the file metadata and returns it with the offset where
// the footer starts, the end of the area column chunks and indexes live in.
func readFooter(r io.ReaderAt, size int64) (*format.FileMetaData, int64, error) {
	const magic = "PAR1"
	if size < 12 {
		return nil, 0, fmt.Errorf("%d bytes are too few for a parquet file", size)
	}
	head := make([]byte, 4)
	if _, err := r.ReadAt(head, 0); err != nil {
		return nil, 0, fmt.Errorf("read file header: %w", err)
	}
	tail := make([]byte, 8)
	if _, err := r.ReadAt(tail, size-8); err != nil {
		return nil, 0, fmt.Errorf("read file trailer: %w", err)
	}
	if string(head) != magic || string(tail[4:]) != magic {
		return nil, 0, errors.New("not a parquet file: missing PAR1 magic")
	}
	n := int64(binary.LittleEndian.Uint32(tail))
	footerStart := size - 8 - n
	if footerStart < 4 {
		return nil, 0, fmt.Errorf("footer length %d does not fit in %d bytes", n, size)
	}
	footer := make([]byte, n)
	if _, err := r.ReadAt(footer, footerStart); err != nil {
		return nil, 0, fmt.Errorf("read footer: %w", err)
	}
	md := new(format.FileMetaData)
	if err := thrift.Unmarshal(new(thrift.CompactProtocol), footer, md); err != nil {
		return nil, 0, fmt.Errorf("decode footer: %w", err)
	}
	return md, footerStart, nil
}

// leaf is what the checks need to know of a leaf column of the schema.
type leaf struct {
	element       *format.SchemaElement
	maxRepetition int
}

// schemaLeaves returns the leaf columns of a depth-first flattened schema,
// in the order of the column chunks of a row group.
func schemaLeaves(schema []format.SchemaElement) ([]leaf, error) {
	var leaves []leaf
	var walk func(i, repetition int, root bool) (int, error)
	walk = func(i, repetition int, root bool) (int, error) {
		if i >= len(schema) {
			return 0, errors.New("schema ends inside a group")
		}
		e := &schema[i]
		if rt, ok := e.RepetitionType.Get(); ok && rt == format.Repeated && !root {
			repetition++
		}
		children, _ := e.NumChildren.Get()
		if children <= 0 && !root {
			leaves = append(leaves, leaf{element: e, maxRepetition: repetition})
			return i + 1, nil
		}
		next := i + 1
		for range children {
			var err error
			if next, err = walk(next, repetition, false); err != nil {
				return 0, err
			}
		}
		return next, nil
	}
	if len(schema) == 0 {
		return nil, errors.New("schema is empty")
	}
	end, err := walk(0, 0, true)
	if err != nil {
		return nil, err
	}
	if end != len(schema) {
		return nil, fmt.Errorf("schema has %d elements outside its root", len(schema)-end)
	}
	return leaves, nil
}

// chunkCheck verifies one column chunk.
type chunkCheck struct {
	r           io.ReaderAt
	footerStart int64
	rowGroup    int
	rows        int64
	leaf        leaf
	chunk       *format.ColumnChunk
}

// page is a page header as found by walking the chunk.
type page struct {
	offset int64 // of the header
	size   int64 // header and compressed body
	header format.PageHeader
}

func (c *chunkCheck) errorf(format string, args ...any) error {
	return fmt.Errorf("row group %d, column %q: "+format, append([]any{c.rowGroup, c.name()}, args...)...)
}

func (c *chunkCheck) pageErrorf(page int, format string, args ...any) error {
	return fmt.Errorf("row group %d, column %q, page %d: "+format, append([]any{c.rowGroup, c.name(), page}, args...)...)
}

func (c *chunkCheck) name() string {
	return strings.Join(c.chunk.MetaData.PathInSchema, ".")
}

func (c *chunkCheck) verify() error {
	if c.chunk.FilePath != "" {
		return c.errorf("column chunk is in another file (%s)", c.chunk.FilePath)
	}
	var oi format.OffsetIndex
	if err := c.readIndex("offset index", c.chunk.OffsetIndexOffset, c.chunk.OffsetIndexLength, &oi); err != nil {
		return err
	}
	var ci format.ColumnIndex
	if err := c.readIndex("column index", c.chunk.ColumnIndexOffset, c.chunk.ColumnIndexLength, &ci); err != nil {
		return err
	}
	pages, err := c.walkPages()
	if err != nil {
		return err
	}
	data, err := c.dataPages(pages)
	if err != nil {
		return err
	}
	if err := c.verifyOffsetIndex(&oi, data); err != nil {
		return err
	}
	return c.verifyColumnIndex(&ci, data)
}

// readIndex reads and decodes the offset or column index at off.
func (c *chunkCheck) readIndex(what string, off int64, n int32, v any) error {
	if off <= 0 || n <= 0 {
		return c.errorf("no %s", what)
	}
	if off < 4 || off+int64(n) > c.footerStart {
		return c.errorf("%s at [%d, %d) is outside the file's data", what, off, off+int64(n))
	}
	b := make([]byte, n)
	if _, err := c.r.ReadAt(b, off); err != nil {
		return c.errorf("read %s: %w", what, err)
	}
	if err := thrift.Unmarshal(new(thrift.CompactProtocol), b, v); err != nil {
		return c.errorf("decode %s of %d bytes at %d: %w", what, n, off, err)
	}
	return nil
}

// walkPages decodes the page headers of the chunk from its first byte to
// its last, following each header's compressed_page_size.
func (c *chunkCheck) walkPages() ([]page, error) {
	md := &c.chunk.MetaData
	start := md.DataPageOffset
	if md.DictionaryPageOffset > 0 && md.DictionaryPageOffset < start {
		start = md.DictionaryPageOffset
	}
	end := start + md.TotalCompressedSize
	if start < 4 || md.TotalCompressedSize <= 0 || end > c.footerStart {
		return nil, c.errorf("chunk at [%d, %d) is outside the file's data", start, end)
	}
	// The headers are decoded from a stream that counts what it hands out:
	// a header's length is what its decoding consumed.
	cr := &countingReader{r: bufio.NewReader(io.NewSectionReader(c.r, start, end-start))}
	proto := new(thrift.CompactProtocol)
	var pages []page
	for off := start; off < end; off = start + cr.n {
		var p page
		if err := thrift.NewDecoder(proto.NewReader(cr)).Decode(&p.header); err != nil {
			return nil, c.errorf("decode page header at offset %d: %w", off, err)
		}
		body := int64(p.header.CompressedPageSize)
		p.offset, p.size = off, start+cr.n-off+body
		if body < 0 || off+p.size > end {
			return nil, c.errorf("page at offset %d (%d bytes with its header) overruns the chunk, which ends at %d", off, p.size, end)
		}
		if _, err := cr.Discard(int(body)); err != nil {
			return nil, c.errorf("skip page at offset %d: %w", off, err)
		}
		pages = append(pages, p)
	}
	return pages, nil
}

// countingReader counts the bytes read through it, whichever way.
type countingReader struct {
	r *bufio.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

func (c *countingReader) Discard(n int) (int, error) {
	d, err := c.r.Discard(n)
	c.n += int64(d)
	return d, err
}

// dataPages checks where the dictionary page is and returns the data pages.
func (c *chunkCheck) dataPages(pages []page) ([]page, error) {
	md := &c.chunk.MetaData
	var data []page
	for i, p := range pages {
		switch p.header.Type {
		case format.DictionaryPage:
			if i != 0 {
				return nil, c.errorf("dictionary page at offset %d is not the chunk's first page", p.offset)
			}
			if md.DictionaryPageOffset != p.offset {
				return nil, c.errorf("dictionary page at offset %d, but dictionary_page_offset is %d", p.offset, md.DictionaryPageOffset)
			}
		case format.DataPage, format.DataPageV2:
			data = append(data, p)
		}
	}
	if len(data) == 0 {
		return nil, c.errorf("no data pages")
	}
	if md.DataPageOffset != data[0].offset {
		return nil, c.errorf("first data page at offset %d, but data_page_offset is %d", data[0].offset, md.DataPageOffset)
	}
	if md.DictionaryPageOffset > 0 && pages[0].header.Type != format.DictionaryPage {
		return nil, c.errorf("dictionary_page_offset is %d, but the chunk has no dictionary page", md.DictionaryPageOffset)
	}
	return data, nil
}

func (c *chunkCheck) verifyOffsetIndex(oi *format.OffsetIndex, data []page) error {
	locs := oi.PageLocations
	if len(locs) != len(data) {
		return c.errorf("offset index lists %d pages, the chunk holds %d data pages", len(locs), len(data))
	}
	if n := len(oi.UnencodedByteArrayDataBytes); n != 0 && n != len(locs) {
		return c.errorf("offset index has %d unencoded_byte_array_data_bytes for %d pages", n, len(locs))
	}
	var row int64
	for k, loc := range locs {
		p := data[k]
		if loc.Offset != p.offset {
			return c.pageErrorf(k, "offset index says offset %d, the page starts at %d", loc.Offset, p.offset)
		}
		if int64(loc.CompressedPageSize) != p.size {
			hl := p.size - int64(p.header.CompressedPageSize)
			return c.pageErrorf(k, "offset index says %d bytes, the page has a %d-byte header and compressed_page_size %d (%d bytes)",
				loc.CompressedPageSize, hl, p.header.CompressedPageSize, p.size)
		}
		switch {
		case k == 0 && loc.FirstRowIndex != 0:
			return c.pageErrorf(k, "first_row_index is %d, not 0", loc.FirstRowIndex)
		case k > 0 && loc.FirstRowIndex <= locs[k-1].FirstRowIndex:
			return c.pageErrorf(k, "first_row_index %d does not increase from %d", loc.FirstRowIndex, locs[k-1].FirstRowIndex)
		case loc.FirstRowIndex >= c.rows:
			return c.pageErrorf(k, "first_row_index %d is past the row group's %d rows", loc.FirstRowIndex, c.rows)
		}
		rows, known := c.pageRows(&p.header)
		if !known {
			continue
		}
		if loc.FirstRowIndex != row {
			return c.pageErrorf(k, "first_row_index is %d, the pages before it hold %d rows", loc.FirstRowIndex, row)
		}
		row += rows
	}
	if _, known := c.pageRows(&data[0].header); known && row != c.rows {
		return c.errorf("data pages hold %d rows, the row group %d", row, c.rows)
	}
	return nil
}

// pageRows returns how many rows a data page holds, when its header says.
func (c *chunkCheck) pageRows(h *format.PageHeader) (int64, bool) {
	if v2, ok := h.DataPageHeaderV2.Get(); ok {
		return int64(v2.NumRows), true
	}
	if v1, ok := h.DataPageHeader.Get(); ok && c.leaf.maxRepetition == 0 {
		return int64(v1.NumValues), true
	}
	return 0, false
}

func (c *chunkCheck) verifyColumnIndex(ci *format.ColumnIndex, data []page) error {
	pages := len(data)
	if n := len(ci.NullPages); n != pages {
		return c.errorf("column index has %d entries, the chunk %d data pages", n, pages)
	}
	if n := len(ci.MinValues); n != pages {
		return c.errorf("column index has %d min_values for %d data pages", n, pages)
	}
	if n := len(ci.MaxValues); n != pages {
		return c.errorf("column index has %d max_values for %d data pages", n, pages)
	}
	if n := len(ci.NullCounts); n != 0 && n != pages {
		return c.errorf("column index has %d null_counts for %d data pages", n, pages)
	}
	compare, width, show := c.order()
	prev := -1
	for k := range pages {
		if err := c.verifyNullPage(ci, k, &data[k].header); err != nil {
			return err
		}
		if ci.NullPages[k] {
			// Readers skip the bounds of null pages. The format asks for
			// empty ones; parquet-go writes zeros for fixed-width types.
			continue
		}
		minV, maxV := ci.MinValues[k], ci.MaxValues[k]
		if compare == nil {
			continue
		}
		if width > 0 && (len(minV) != width || len(maxV) != width) {
			return c.pageErrorf(k, "column index bounds of %d and %d bytes for a %d-byte type", len(minV), len(maxV), width)
		}
		if compare(minV, maxV) > 0 {
			return c.pageErrorf(k, "column index min %s is above max %s", show(minV), show(maxV))
		}
		if prev >= 0 {
			minStep := compare(ci.MinValues[prev], minV)
			maxStep := compare(ci.MaxValues[prev], maxV)
			if (ci.BoundaryOrder == format.Ascending && (minStep > 0 || maxStep > 0)) ||
				(ci.BoundaryOrder == format.Descending && (minStep < 0 || maxStep < 0)) {
				return c.pageErrorf(k, "column index bounds break boundary_order %v", ci.BoundaryOrder)
			}
		}
		prev = k
	}
	return nil
}

// verifyNullPage checks null_pages and null_counts against the values the
// page header counts: a page is a null page exactly when all its values
// are null, or engines skip pages with rows that match.
func (c *chunkCheck) verifyNullPage(ci *format.ColumnIndex, k int, h *format.PageHeader) error {
	if len(ci.NullCounts) == 0 || c.leaf.maxRepetition > 0 {
		return nil
	}
	var values int64
	if v2, ok := h.DataPageHeaderV2.Get(); ok {
		values = int64(v2.NumValues)
		if int64(v2.NumNulls) != ci.NullCounts[k] {
			return c.pageErrorf(k, "column index counts %d nulls, the page header %d", ci.NullCounts[k], v2.NumNulls)
		}
	} else if v1, ok := h.DataPageHeader.Get(); ok {
		values = int64(v1.NumValues)
	}
	nulls := ci.NullCounts[k]
	switch {
	case nulls < 0 || nulls > values:
		return c.pageErrorf(k, "column index counts %d nulls in a page of %d values", nulls, values)
	case ci.NullPages[k] && nulls != values:
		return c.pageErrorf(k, "null page with %d non-null values of %d", values-nulls, values)
	case !ci.NullPages[k] && nulls == values:
		return c.pageErrorf(k, "page of %d null values not marked as a null page", values)
	}
	return nil
}

// order returns how the column's values compare in the column index, the
// width of a value when the type has one, and how to show a value; or nil
// where order is not checked here (floats, unsigned and decimal columns,
// fixed-length byte arrays).
func (c *chunkCheck) order() (compare func(a, b []byte) int, width int, show func([]byte) string) {
	e := c.leaf.element
	typ, _ := e.Type.Get()
	converted, hasConverted := e.ConvertedType.Get()
	switch typ {
	case format.Int32, format.Int64:
		if it, ok := e.LogicalType.Value.(*format.IntType); ok && !it.IsSigned {
			return nil, 0, nil
		}
		if hasConverted && converted >= deprecated.Uint8 && converted <= deprecated.Uint64 {
			return nil, 0, nil
		}
		if typ == format.Int32 {
			value := func(b []byte) int32 { return int32(binary.LittleEndian.Uint32(b)) }
			return func(a, b []byte) int { return cmp.Compare(value(a), value(b)) }, 4,
				func(b []byte) string { return fmt.Sprint(value(b)) }
		}
		value := func(b []byte) int64 { return int64(binary.LittleEndian.Uint64(b)) }
		return func(a, b []byte) int { return cmp.Compare(value(a), value(b)) }, 8,
			func(b []byte) string { return fmt.Sprint(value(b)) }
	case format.ByteArray:
		if _, ok := e.LogicalType.Value.(*format.DecimalType); ok || (hasConverted && converted == deprecated.Decimal) {
			return nil, 0, nil
		}
		return bytes.Compare, 0, func(b []byte) string { return fmt.Sprintf("%q", b) }
	}
	return nil, 0, nil
}
