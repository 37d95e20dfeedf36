package auditreport

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"
)

// StartAPI starts a query.
type StartAPI interface {
	StartQueryExecution(ctx context.Context, in *athena.StartQueryExecutionInput, optFns ...func(*athena.Options)) (*athena.StartQueryExecutionOutput, error)
}

// StatusAPI reads a query's state.
type StatusAPI interface {
	GetQueryExecution(ctx context.Context, in *athena.GetQueryExecutionInput, optFns ...func(*athena.Options)) (*athena.GetQueryExecutionOutput, error)
}

// ResultsAPI pages through a query's results.
type ResultsAPI interface {
	GetQueryResults(ctx context.Context, in *athena.GetQueryResultsInput, optFns ...func(*athena.Options)) (*athena.GetQueryResultsOutput, error)
}

// AthenaAPI is the three calls the report makes.
type AthenaAPI interface {
	StartAPI
	StatusAPI
	ResultsAPI
}

// Result is one query's answer: the header, the row count and the rows
// kept in memory (NULL as nil): all of them for the aggregates, the first
// sampleRows for a finding, whose every row goes to its CSV file instead.
type Result struct {
	Name    string      `json:"name"`
	ID      string      `json:"queryExecutionId"`
	Scanned int64       `json:"dataScannedInBytes"`
	Count   int         `json:"rows"`
	Columns []string    `json:"-"`
	Types   []string    `json:"-"`
	Rows    [][]*string `json:"-"`
	// csv is the file every row was written to, for a finding.
	csv *os.File
}

// QueryError is a query that did not succeed.
type QueryError struct {
	Name, ID, State, Reason string
}

func (e *QueryError) Error() string {
	return fmt.Sprintf("athena query %s (%s) %s: %s", e.ID, e.Name, e.State, e.Reason)
}

// runner runs named queries in the workgroup.
type runner struct {
	api                 AthenaAPI
	workGroup, database string
	poll                time.Duration
	sleep               func(context.Context, time.Duration) error
	// tempDir holds the findings' CSV files until they are uploaded.
	tempDir string
}

// named is a query; keep says how many rows to hold in memory (-1: all),
// toCSV whether every row goes to a CSV file.
type named struct {
	name, sql string
	keep      int
	toCSV     bool
	// shape, when set, turns each row into its CSV's (and the page's).
	shape shaper
}

// runAll starts every query, then waits for each and reads its rows. The
// first failure is returned with its query id.
func (r *runner) runAll(ctx context.Context, qs []named) ([]Result, error) {
	ids := make([]string, len(qs))
	for i, q := range qs {
		out, err := r.api.StartQueryExecution(ctx, &athena.StartQueryExecutionInput{
			QueryString:           aws.String(q.sql),
			WorkGroup:             aws.String(r.workGroup),
			QueryExecutionContext: &types.QueryExecutionContext{Database: aws.String(r.database)},
		})
		if err != nil {
			return nil, fmt.Errorf("start athena query %s: %w", q.name, err)
		}
		ids[i] = aws.ToString(out.QueryExecutionId)
	}
	results := make([]Result, len(qs))
	for i, q := range qs {
		res, err := r.wait(ctx, q, ids[i])
		if err != nil {
			closeAll(results)
			return nil, err
		}
		results[i] = res
	}
	return results, nil
}

// closeAll removes the results' CSV files.
func closeAll(rs []Result) {
	for _, res := range rs {
		if res.csv != nil {
			res.csv.Close()
			os.Remove(res.csv.Name())
		}
	}
}

func (r *runner) wait(ctx context.Context, q named, id string) (Result, error) {
	name := q.name
	delay := r.poll
	for {
		out, err := r.api.GetQueryExecution(ctx, &athena.GetQueryExecutionInput{QueryExecutionId: aws.String(id)})
		if err != nil {
			return Result{}, fmt.Errorf("athena query %s (%s): %w", id, name, err)
		}
		st := out.QueryExecution.Status
		switch st.State {
		case types.QueryExecutionStateSucceeded:
			res, err := r.results(ctx, q, id)
			if out.QueryExecution.Statistics != nil {
				res.Scanned = aws.ToInt64(out.QueryExecution.Statistics.DataScannedInBytes)
			}
			return res, err
		case types.QueryExecutionStateFailed, types.QueryExecutionStateCancelled:
			return Result{}, &QueryError{Name: name, ID: id, State: string(st.State), Reason: aws.ToString(st.StateChangeReason)}
		}
		if err := r.sleep(ctx, delay); err != nil {
			return Result{}, fmt.Errorf("athena query %s (%s): %w", id, name, err)
		}
		delay = min(delay*2, 5*time.Second)
	}
}

func (r *runner) results(ctx context.Context, q named, id string) (res Result, err error) {
	name := q.name
	res = Result{Name: name, ID: id}
	var w *csv.Writer
	var buf *bufio.Writer
	if q.toCSV {
		if res.csv, err = os.CreateTemp(r.tempDir, "finding-*.csv"); err != nil {
			return Result{}, fmt.Errorf("athena query %s (%s): %w", id, name, err)
		}
		defer func() {
			if err != nil {
				closeAll([]Result{res})
			}
		}()
		buf = bufio.NewWriterSize(res.csv, 1<<16)
		w = csv.NewWriter(buf)
	}
	in := &athena.GetQueryResultsInput{QueryExecutionId: aws.String(id), MaxResults: aws.Int32(1000)}
	first := true
	width := 0 // Athena's columns, before the shape adds any
	for {
		out, err := r.api.GetQueryResults(ctx, in)
		if err != nil {
			return Result{}, fmt.Errorf("athena query %s (%s) results: %w", id, name, err)
		}
		if first {
			for _, c := range out.ResultSet.ResultSetMetadata.ColumnInfo {
				res.Columns = append(res.Columns, aws.ToString(c.Name))
				res.Types = append(res.Types, aws.ToString(c.Type))
			}
			width = len(res.Columns)
			if q.shape != nil {
				res.Columns = q.shape.columns(res.Columns, res.Types)
				for len(res.Types) < len(res.Columns) {
					res.Types = append(res.Types, "varchar")
				}
			}
			if w != nil {
				if err := w.Write(res.Columns); err != nil {
					return Result{}, fmt.Errorf("athena query %s (%s): csv: %w", id, name, err)
				}
			}
		}
		rec := make([]string, len(res.Columns))
		for i, row := range out.ResultSet.Rows {
			if first && i == 0 {
				continue // the header row
			}
			res.Count++
			if q.shape != nil {
				// Shaped: the page keeps the shaped values, NULL as empty.
				out := q.shape.row(record(row.Data, width))
				if q.keep < 0 || len(res.Rows) < q.keep {
					vals := make([]*string, len(out))
					for j := range out {
						vals[j] = &out[j]
					}
					res.Rows = append(res.Rows, vals)
				}
				if w != nil {
					if err := w.Write(out); err != nil {
						return Result{}, fmt.Errorf("athena query %s (%s): csv: %w", id, name, err)
					}
				}
				continue
			}
			if q.keep < 0 || len(res.Rows) < q.keep {
				vals := make([]*string, len(row.Data))
				for j, d := range row.Data {
					vals[j] = d.VarCharValue
				}
				res.Rows = append(res.Rows, vals)
			}
			if w != nil {
				for j := range rec {
					rec[j] = ""
					if j < len(row.Data) {
						rec[j] = aws.ToString(row.Data[j].VarCharValue)
					}
				}
				if err := w.Write(rec); err != nil {
					return Result{}, fmt.Errorf("athena query %s (%s): csv: %w", id, name, err)
				}
			}
		}
		first = false
		if out.NextToken == nil {
			if w != nil {
				w.Flush()
				if err := errors.Join(w.Error(), buf.Flush()); err != nil {
					return Result{}, fmt.Errorf("athena query %s (%s): csv: %w", id, name, err)
				}
			}
			return res, nil
		}
		in.NextToken = out.NextToken
	}
}

// record is a row's values, NULL as empty, n of them.
func record(data []types.Datum, n int) []string {
	out := make([]string, n)
	for j := range out {
		if j < len(data) {
			out[j] = aws.ToString(data[j].VarCharValue)
		}
	}
	return out
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
