// Package athenafake is an Amazon Athena emulator for tests and the local
// CLI: it speaks the service's JSON 1.1 protocol (StartQueryExecution,
// GetQueryExecution, GetQueryResults) over HTTP and runs the SQL on DuckDB
// over the objects of an S3 bucket (gofakes3 in practice), with the tables
// the stack's Glue catalog declares: their columns, and dt as a Hive
// partition.
//
// It needs cgo (DuckDB): only tests and the local CLI (behind the cgo build
// tag) import it, never a function under functions/. Unlike Athena it does
// not write result files to the workgroup's output location: results are
// served from memory.
package athenafake

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	_ "github.com/duckdb/duckdb-go/v2" // the engine
	"github.com/session-audit/session-audit/internal/cloudtrail"
)

// Query states, as the API names them.
const (
	StateQueued    = "QUEUED"
	StateRunning   = "RUNNING"
	StateSucceeded = "SUCCEEDED"
	StateFailed    = "FAILED"
)

// maxResults is the API's limit (and default) of rows per GetQueryResults.
const maxResults = 1000

// Column is one column of a Glue table.
type Column struct {
	Name string
	// Type is the Glue (Hive) type: string, bigint, int, double, boolean,
	// timestamp, date.
	Type string
}

// Table is a Glue table over objects in the bucket.
type Table struct {
	Name string
	// Prefix is the key prefix of its objects, e.g. ssm-sessions/sessions/;
	// objects sit under <Prefix>dt=YYYY-MM-DD/.
	Prefix string
	// Format is "parquet", "json" (JSON lines), or "cloudtrail": a
	// trail's gzip JSON log files under <Prefix><account>/CloudTrail/
	// <region>/YYYY/MM/DD/, read as Athena's CloudTrail table with the
	// partitions account, region and timestamp (yyyy/MM/dd).
	Format  string
	Columns []Column
	// Bucket holds the table's objects; empty is Options.Bucket.
	Bucket string
	// fields are the record fields of a cloudtrail table.
	fields []cloudtrail.Field
}

// ObjectAPI is what reading the bucket needs of S3.
type ObjectAPI interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Options configure the emulator.
type Options struct {
	S3       ObjectAPI
	Bucket   string
	Database string
	// WorkGroup is the only workgroup; OutputLocation its results location.
	WorkGroup, OutputLocation string
	Tables                    []Table
	// Dir caches the bucket's objects; required.
	Dir string
	// Now is the clock of submission times and of current_date.
	Now func() time.Time
	// Fail, when set, makes a query fail with the returned reason when it
	// is not empty (fault injection).
	Fail func(query string) string
}

// Server is the emulator; it is an http.Handler.
type Server struct {
	opts Options
	db   *sql.DB

	mu      sync.Mutex
	seq     int
	queries map[string]*execution
	order   []string
	runMu   sync.Mutex // one query at a time on the one DuckDB connection
	// loaded is, per trail table, the files its DuckDB table was loaded
	// from: a trail's many small gzip files are read once, not per query.
	loaded map[string]string
}

// execution is one query execution.
type execution struct {
	id, query, database, workgroup string
	submitted, completed           time.Time
	// state is what the engine reached; shown is what clients were told.
	// Each GetQueryExecution moves shown one step towards state, so every
	// client sees QUEUED, then RUNNING, then the end state.
	state, shown string
	reason       string
	scanned      int64
	engineMillis int64
	cols         []colInfo
	rows         [][]*string
	done         chan struct{}
}

type colInfo struct{ name, typ string }

// New builds the emulator and opens DuckDB.
func New(opts Options) (*Server, error) {
	if opts.S3 == nil || opts.Bucket == "" || opts.Dir == "" || opts.Database == "" || opts.WorkGroup == "" {
		return nil, fmt.Errorf("athenafake: S3, Bucket, Dir, Database and WorkGroup are required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, fmt.Errorf("athenafake: open duckdb: %w", err)
	}
	db.SetMaxOpenConns(1)
	for _, q := range setup {
		if _, err := db.Exec(q); err != nil {
			db.Close()
			return nil, fmt.Errorf("athenafake: %s: %w", q, err)
		}
	}
	return &Server{opts: opts, db: db, queries: map[string]*execution{}}, nil
}

// Close waits for running queries and closes DuckDB.
func (s *Server) Close() error {
	s.mu.Lock()
	var pending []*execution
	for _, e := range s.queries {
		pending = append(pending, e)
	}
	s.mu.Unlock()
	for _, e := range pending {
		<-e.done
	}
	return s.db.Close()
}

// Executions returns the ids of the queries started, in order.
func (s *Server) Executions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.order...)
}

// Query returns the SQL text of an execution.
func (s *Server) Query(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.queries[id]; e != nil {
		return e.query
	}
	return ""
}

// apiError is an error answer.
type apiError struct {
	code, message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func invalid(format string, args ...any) *apiError {
	return &apiError{"InvalidRequestException", fmt.Sprintf(format, args...)}
}

// ServeHTTP answers one JSON 1.1 call.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "AmazonAthena.")
	var out any
	var err *apiError
	body, rerr := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	switch {
	case r.Method != http.MethodPost || !ok:
		err = &apiError{"UnknownOperationException", "unknown target " + target}
	case rerr != nil:
		err = invalid("reading the request: %v", rerr)
	default:
		switch op {
		case "StartQueryExecution":
			out, err = s.start(body)
		case "GetQueryExecution":
			out, err = s.getExecution(body)
		case "GetQueryResults":
			out, err = s.getResults(body)
		default:
			err = &apiError{"UnknownOperationException", "operation " + op + " is not emulated"}
		}
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", fmt.Sprintf("athenafake-%d", time.Now().UnixNano()))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"__type": err.code, "Message": err.message}) //nolint:errcheck // the client went away
		return
	}
	json.NewEncoder(w).Encode(out) //nolint:errcheck // the client went away
}

func decode(body []byte, v any) *apiError {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	if err := dec.Decode(v); err != nil {
		return invalid("malformed request: %v", err)
	}
	return nil
}

func (s *Server) start(body []byte) (any, *apiError) {
	var in struct {
		QueryString           string
		ClientRequestToken    string
		WorkGroup             string
		QueryExecutionContext struct{ Database, Catalog string }
		ResultConfiguration   map[string]any
		ExecutionParameters   []string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.QueryString == "" || len(in.QueryString) > 262144 {
		return nil, invalid("QueryString must be 1 to 262144 characters")
	}
	wg := in.WorkGroup
	if wg == "" {
		wg = "primary"
	}
	if wg != s.opts.WorkGroup {
		return nil, invalid("WorkGroup %s is not found.", wg)
	}
	db := in.QueryExecutionContext.Database
	if db != "" && db != s.opts.Database {
		return nil, invalid("Database %s is not found.", db)
	}
	if len(in.ExecutionParameters) > 0 {
		return nil, invalid("ExecutionParameters are not emulated")
	}
	s.mu.Lock()
	s.seq++
	e := &execution{
		id:    fmt.Sprintf("%08x-fake-4000-8000-%012x", s.seq, s.opts.Now().UnixNano()&0xffffffffffff),
		query: in.QueryString, database: s.opts.Database, workgroup: wg,
		submitted: s.opts.Now(), state: StateQueued, shown: "", done: make(chan struct{}),
	}
	s.queries[e.id] = e
	s.order = append(s.order, e.id)
	s.mu.Unlock()
	go s.run(e)
	return map[string]string{"QueryExecutionId": e.id}, nil
}

func (s *Server) lookup(body []byte) (*execution, *apiError) {
	var in struct {
		QueryExecutionId string
		NextToken        string
		MaxResults       *int
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	e := s.queries[in.QueryExecutionId]
	s.mu.Unlock()
	if e == nil {
		return nil, invalid("QueryExecution %s was not found", in.QueryExecutionId)
	}
	return e, nil
}

// next is the state after shown on the way to the end state.
func next(shown, state string) string {
	switch shown {
	case "":
		return StateQueued
	case StateQueued:
		if state == StateQueued {
			return StateQueued
		}
		return StateRunning
	case StateRunning:
		if state == StateSucceeded || state == StateFailed {
			return state
		}
		return StateRunning
	}
	return shown
}

func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

func (s *Server) getExecution(body []byte) (any, *apiError) {
	e, err := s.lookup(body)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	e.shown = next(e.shown, e.state)
	shown, reason := e.shown, e.reason
	s.mu.Unlock()
	status := map[string]any{"State": shown, "SubmissionDateTime": epoch(e.submitted)}
	stats := map[string]any{}
	if shown == StateSucceeded || shown == StateFailed {
		status["CompletionDateTime"] = epoch(e.completed)
		stats["EngineExecutionTimeInMillis"] = e.engineMillis
		stats["TotalExecutionTimeInMillis"] = e.engineMillis
		stats["DataScannedInBytes"] = e.scanned
	}
	if shown == StateFailed {
		status["StateChangeReason"] = reason
		status["AthenaError"] = map[string]any{"ErrorCategory": 2, "ErrorType": 1006, "Retryable": false, "ErrorMessage": reason}
	}
	out := strings.TrimSuffix(s.opts.OutputLocation, "/")
	return map[string]any{"QueryExecution": map[string]any{
		"QueryExecutionId":      e.id,
		"Query":                 e.query,
		"StatementType":         "DML",
		"WorkGroup":             e.workgroup,
		"QueryExecutionContext": map[string]string{"Database": e.database, "Catalog": "AwsDataCatalog"},
		"ResultConfiguration":   map[string]string{"OutputLocation": out + "/" + e.id + ".csv"},
		"EngineVersion":         map[string]string{"SelectedEngineVersion": "Athena engine version 3", "EffectiveEngineVersion": "Athena engine version 3"},
		"Status":                status,
		"Statistics":            stats,
	}}, nil
}

func (s *Server) getResults(body []byte) (any, *apiError) {
	var in struct {
		QueryExecutionId string
		NextToken        string
		MaxResults       *int
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	e, err := s.lookup(body)
	if err != nil {
		return nil, err
	}
	limit := maxResults
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > maxResults {
			return nil, invalid("MaxResults must be between 1 and %d", maxResults)
		}
		limit = *in.MaxResults
	}
	s.mu.Lock()
	state, shown, reason := e.state, e.shown, e.reason
	s.mu.Unlock()
	switch {
	case state == StateFailed:
		return nil, invalid("Query has failed: %s", reason)
	case state != StateSucceeded || shown != StateSucceeded:
		return nil, invalid("Query has not yet finished. Current state: %s", orQueued(shown))
	}
	// Row 0 is the header row; data row i is row i+1.
	start := 0
	if in.NextToken != "" {
		raw, derr := base64.RawURLEncoding.DecodeString(in.NextToken)
		id, off, ok := strings.Cut(string(raw), ":")
		n, aerr := strconv.Atoi(off)
		if derr != nil || !ok || id != e.id || aerr != nil || n < 1 || n > len(e.rows) {
			return nil, invalid("NextToken is invalid")
		}
		start = n
	}
	total := len(e.rows) + 1
	end := min(start+limit, total)
	rows := make([]map[string]any, 0, end-start)
	for i := start; i < end; i++ {
		var data []map[string]string
		if i == 0 {
			for _, c := range e.cols {
				data = append(data, map[string]string{"VarCharValue": c.name})
			}
		} else {
			for _, v := range e.rows[i-1] {
				if v == nil {
					data = append(data, map[string]string{})
				} else {
					data = append(data, map[string]string{"VarCharValue": *v})
				}
			}
		}
		rows = append(rows, map[string]any{"Data": data})
	}
	var info []map[string]any
	for _, c := range e.cols {
		info = append(info, map[string]any{
			"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": c.name, "Label": c.name,
			"Type": c.typ, "Precision": precision(c.typ), "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": c.typ == "varchar",
		})
	}
	out := map[string]any{
		"UpdateCount": 0,
		"ResultSet":   map[string]any{"Rows": rows, "ResultSetMetadata": map[string]any{"ColumnInfo": info}},
	}
	if end < total {
		out["NextToken"] = base64.RawURLEncoding.EncodeToString([]byte(e.id + ":" + strconv.Itoa(end)))
	}
	return out, nil
}

func orQueued(s string) string {
	if s == "" {
		return StateQueued
	}
	return s
}

func precision(typ string) int {
	switch typ {
	case "varchar":
		return 2147483647
	case "bigint":
		return 19
	case "integer":
		return 10
	case "double":
		return 17
	case "timestamp":
		return 3
	case "boolean":
		return 0
	}
	return 0
}
