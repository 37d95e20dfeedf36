package auditreport

import (
	"context"
	"fmt"
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

// Result is one query's answer: the header and the rows, NULL as nil.
type Result struct {
	Name    string      `json:"name"`
	ID      string      `json:"queryExecutionId"`
	Scanned int64       `json:"dataScannedInBytes"`
	Columns []string    `json:"-"`
	Types   []string    `json:"-"`
	Rows    [][]*string `json:"-"`
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
}

type named struct{ name, sql string }

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
		res, err := r.wait(ctx, q.name, ids[i])
		if err != nil {
			return nil, err
		}
		results[i] = res
	}
	return results, nil
}

func (r *runner) wait(ctx context.Context, name, id string) (Result, error) {
	delay := r.poll
	for {
		out, err := r.api.GetQueryExecution(ctx, &athena.GetQueryExecutionInput{QueryExecutionId: aws.String(id)})
		if err != nil {
			return Result{}, fmt.Errorf("athena query %s (%s): %w", id, name, err)
		}
		st := out.QueryExecution.Status
		switch st.State {
		case types.QueryExecutionStateSucceeded:
			res, err := r.results(ctx, name, id)
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

func (r *runner) results(ctx context.Context, name, id string) (Result, error) {
	res := Result{Name: name, ID: id}
	in := &athena.GetQueryResultsInput{QueryExecutionId: aws.String(id), MaxResults: aws.Int32(1000)}
	first := true
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
		}
		for i, row := range out.ResultSet.Rows {
			if first && i == 0 {
				continue // the header row
			}
			vals := make([]*string, len(row.Data))
			for j, d := range row.Data {
				vals[j] = d.VarCharValue
			}
			res.Rows = append(res.Rows, vals)
		}
		first = false
		if out.NextToken == nil {
			return res, nil
		}
		in.NextToken = out.NextToken
	}
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
