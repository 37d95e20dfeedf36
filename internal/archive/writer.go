package archive

import (
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
)

// Sizing of the files the Writer produces, chosen with BenchmarkWriterSizing
// and TestWriterMemoryBounded on sample sessions (about 54 bytes a row once
// compressed).
const (
	// RowsPerRowGroup bounds a row group, and with it the writer's memory:
	// a row group is buffered, encoded and compressed, until it is complete.
	// At 32k rows the live heap peaks at about 5 MiB (8k: 4, 64k: 7,
	// 128k: 11), at the same speed, and a 100k-session day still makes
	// only 4 row groups of about 1.7 MB.
	RowsPerRowGroup = 32 * 1024

	// PageBufferSize bounds the uncompressed size of a data page of one
	// column; each column buffers one page, so it is part of the memory.
	// At 64 KiB a timestamp page holds about 5k rows, so the column index
	// can still skip pages within a row group of time-ordered sessions;
	// 256 KiB pages make files 10% smaller but double the live heap and
	// leave one timestamp page per row group, 16 KiB ones make files 11%
	// larger.
	PageBufferSize = 64 * 1024

	// ColumnIndexSizeLimit is how many bytes of a string's min and max the
	// column index keeps per page (the max is rounded up when truncated).
	// The library's default of 16 cuts every owner ARN down to
	// "arn:aws:iam::123", which makes the index useless for `owner = ...`.
	ColumnIndexSizeLimit = 128
)

var errClosed = errors.New("parquet writer is closed")

// Writer encodes rows to Parquet on w as they come, with bounded memory.
//
// Files are Snappy-compressed, carry an offset index and a column index
// for every column chunk (see VerifyPageIndex), and hold at most
// RowsPerRowGroup rows per row group. They use only what every engine
// reads: version 1 data pages and PLAIN values (the library's default
// for strings, DELTA_LENGTH_BYTE_ARRAY, fails Spark's vectorized reader
// before 3.4 and Velox-based engines). Memory grows with a row group, not
// with the file: of finished row groups, only their footer entries and
// page indexes are kept until Close writes them. A Writer is not safe for
// concurrent use.
type Writer struct {
	pw     *parquet.GenericWriter[Row]
	rows   int64
	err    error
	closed bool
}

// NewWriter returns a Writer that writes a Parquet file of Row to w.
// Nothing is written to w before the first row group is complete or Close
// is called.
func NewWriter(w io.Writer) *Writer {
	return newWriter(w, RowsPerRowGroup, PageBufferSize)
}

// newWriter is NewWriter with the sizing as parameters, for measuring.
func newWriter(w io.Writer, rowsPerRowGroup int64, pageBufferSize int) *Writer {
	return &Writer{pw: parquet.NewGenericWriter[Row](w, Options(rowsPerRowGroup, pageBufferSize)...)}
}

// Options are the writer options of every Parquet file of the archive
// (sessions and the context tables): Snappy, version 1 data pages, PLAIN
// strings, page statistics and the column index limit (see Writer), with
// the given sizing.
func Options(rowsPerRowGroup int64, pageBufferSize int) []parquet.WriterOption {
	return []parquet.WriterOption{
		parquet.Compression(&parquet.Snappy),
		parquet.MaxRowsPerRowGroup(rowsPerRowGroup),
		parquet.PageBufferSize(pageBufferSize),
		parquet.DataPageVersion(1),
		parquet.DefaultEncodingFor(parquet.ByteArray, &parquet.Plain),
		parquet.DataPageStatistics(true),
		parquet.ColumnIndexSizeLimit(func([]string) int { return ColumnIndexSizeLimit }),
	}
}

// Write appends rows to the file. After an error the Writer is unusable and
// every later call returns the same error.
func (w *Writer) Write(rows []Row) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errClosed
	}
	n, err := w.pw.Write(rows)
	w.rows += int64(n)
	if err != nil {
		w.err = fmt.Errorf("write parquet rows: %w", err)
		return w.err
	}
	return nil
}

// Rows returns the number of rows written so far.
func (w *Writer) Rows() int64 {
	return w.rows
}

// Close flushes the last row group and writes the page indexes and the
// footer. It does not close the underlying io.Writer. A file with no rows
// is still a valid Parquet file, with the schema and no row groups.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errClosed
	}
	w.closed = true
	if err := w.pw.Close(); err != nil {
		w.err = fmt.Errorf("close parquet writer: %w", err)
		return w.err
	}
	return nil
}
