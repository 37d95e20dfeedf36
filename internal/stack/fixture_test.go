package stack_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/session-audit/session-audit/internal/app"
	"github.com/session-audit/session-audit/internal/archive"
	"github.com/session-audit/session-audit/internal/config"
	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/export"
	"github.com/session-audit/session-audit/internal/ssmfake"
)

// The fixture is one real export, run once for every test that needs it:
// the function wired as in Lambda with the template's own environment,
// against the SSM emulator and an in-process S3 server, a backfill of the
// last seven whole UTC days and then the scheduler's event. What lands in
// S3 is downloaded and opened in DuckDB as Athena's "sessions" table.
//
// The days are relative to today (UTC), not fixed: the named queries filter
// on current_date, which DuckDB takes from the real clock.

const (
	bucket      = "audit-bucket"
	account     = "123456789012"
	functionARN = "arn:aws:lambda:us-east-1:123456789012:function:session-audit"
	shellDoc    = "SSM-SessionManagerRunShell"
)

// Hand-made sessions, each with a known answer in the queries: every one
// is otherwise an ordinary weekday, business-hours, short shell session of
// an ordinary user.
const (
	idRoot       = "fixture-root-session"
	idBreakGlass = "fixture-break-glass-session"
	idBreakUnder = "fixture-break_glass-session" // spelled with an underscore
	idFailed     = "fixture-failed-session"
	idLong       = "fixture-five-hour-session"
	idFourHours  = "fixture-exactly-four-hours" // at the threshold, not over it
	idCustomDoc  = "fixture-custom-document"
	idNoDoc      = "fixture-default-shell" // no DocumentName: the default shell, allowed
	idSaturday   = "fixture-saturday-0300"
)

type fixture struct {
	from, to, now time.Time
	// want are the History sessions of [from, to) as rows, exported_at now.
	want []archive.Row
	// dir holds the downloaded bucket, key for key.
	dir string
	db  *sql.DB
	// calls are the S3 requests the function made.
	calls []s3Call
	// emf are the function's CloudWatch EMF lines, decoded.
	emf []map[string]any
	// backfill and scheduled are the two invocations' responses.
	backfill, scheduled export.Result

	emu *emulators.Emulators
}

// s3Call is one request the S3 server answered.
type s3Call struct {
	method, path string
	query        map[string][]string
	header       http.Header
	status       int
}

var (
	fixOnce sync.Once
	fix     *fixture
	fixErr  error
)

// getFixture builds the fixture on first use.
func getFixture(t *testing.T) *fixture {
	t.Helper()
	fixOnce.Do(func() {
		fix, fixErr = buildFixture(t)
		if fix == nil && fixErr == nil {
			fixErr = errors.New("building the fixture stopped early")
		}
	})
	if fixErr != nil {
		t.Fatalf("fixture: %v", fixErr)
	}
	return fix
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fix != nil {
		fix.db.Close()
		fix.emu.Close()
		os.RemoveAll(fix.dir)
	}
	os.Exit(code)
}

// recorder keeps the S3 requests made while it is on.
type recorder struct {
	mu    sync.Mutex
	on    bool
	calls []s3Call
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (rec *recorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if rec.on {
			if sw.status == 0 {
				sw.status = http.StatusOK
			}
			rec.calls = append(rec.calls, s3Call{r.Method, r.URL.Path, r.URL.Query(), r.Header.Clone(), sw.status})
		}
	})
}

func (rec *recorder) set(on bool) {
	rec.mu.Lock()
	rec.on = on
	rec.mu.Unlock()
}

func session(id, owner, doc string, start time.Time, d time.Duration, status types.SessionStatus) types.Session {
	s := types.Session{
		SessionId: aws.String(id), Target: aws.String("i-0fixture00000001"), Status: status,
		StartDate: aws.Time(start), Owner: aws.String(owner), AccessType: types.AccessTypeStandard,
	}
	if doc != "" {
		s.DocumentName = aws.String(doc)
	}
	if d >= 0 {
		s.EndDate = aws.Time(start.Add(d))
	}
	return s
}

func buildFixture(t *testing.T) (*fixture, error) {
	today := time.Now().UTC().Truncate(24 * time.Hour)
	f := &fixture{from: today.AddDate(0, 0, -7), to: today, now: today.Add(20 * time.Minute)}

	// The last weekday and the last Saturday of the seven days.
	weekday := f.to.AddDate(0, 0, -1)
	for weekday.Weekday() == time.Saturday || weekday.Weekday() == time.Sunday {
		weekday = weekday.AddDate(0, 0, -1)
	}
	saturday := f.to.AddDate(0, 0, -1)
	for saturday.Weekday() != time.Saturday {
		saturday = saturday.AddDate(0, 0, -1)
	}
	user := "arn:aws:iam::123456789012:user/fixture-auditor"
	at := func(day time.Time, h int) time.Time { return day.Add(time.Duration(h) * time.Hour) }
	sessions := append(ssmfake.Generate(20261126, f.from.Add(-6*time.Hour), f.to.Add(2*time.Hour), 300),
		session(idRoot, "arn:aws:iam::123456789012:root", shellDoc, at(weekday, 10), 7*time.Minute, types.SessionStatusTerminated),
		session(idBreakGlass, "arn:aws:sts::123456789012:assumed-role/break-glass-admin/oncall-zoe", shellDoc, at(weekday, 11), 12*time.Minute, types.SessionStatusTerminated),
		session(idBreakUnder, "arn:aws:sts::123456789012:assumed-role/Break_Glass_Ops/oncall-yan", shellDoc, at(weekday, 15), 2*time.Minute, types.SessionStatusTerminated),
		session(idFailed, user, shellDoc, at(weekday, 12), -1, types.SessionStatusFailed),
		session(idLong, user, shellDoc, at(weekday, 9), 5*time.Hour, types.SessionStatusTerminated),
		session(idFourHours, user, shellDoc, at(weekday, 8), 4*time.Hour, types.SessionStatusTerminated),
		session(idCustomDoc, user, "Custom-DumpDatabase", at(weekday, 13), 3*time.Minute, types.SessionStatusTerminated),
		session(idNoDoc, user, "", at(weekday, 14), 4*time.Minute, types.SessionStatusTerminated),
		session(idSaturday, user, shellDoc, at(saturday, 3), 10*time.Minute, types.SessionStatusTerminated),
	)

	rec := &recorder{}
	fake := ssmfake.New(ssmfake.WithSessions(sessions))
	emu, err := emulators.Start(emulators.Options{Bucket: bucket, SSM: fake, S3Wrap: rec.wrap})
	if err != nil {
		return nil, err
	}
	f.emu = emu
	for _, s := range fake.Sessions("History") {
		if !s.StartDate.Before(f.from) && s.StartDate.Before(f.to) {
			f.want = append(f.want, archive.FromSession(s, archive.Origin{AccountID: account, Region: emulators.Region, ExportedAt: f.now}))
		}
	}
	sort.Slice(f.want, func(i, j int) bool { return f.want[i].SessionID < f.want[j].SessionID })

	// The function, configured by the template's own environment.
	s := resolve(t, loadTemplate(t), defaults)
	env := templateEnv(t, s)
	env["AUDIT_BUCKET"] = bucket
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		return nil, fmt.Errorf("the template's environment: %w", err)
	}
	h := app.Wire(cfg, emu.Clients(), slog.New(slog.NewJSONHandler(io.Discard, nil)), func() time.Time { return f.now })
	exp := h.Export.(*export.Exporter)
	var emf bytes.Buffer
	exp.Metrics, exp.Function = &emf, "session-audit"

	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{InvokedFunctionArn: functionARN})
	invoke := func(event string) (export.Result, error) {
		out, err := h.Handle(ctx, json.RawMessage(event))
		if err != nil {
			return export.Result{}, fmt.Errorf("invoke %s: %w", event, err)
		}
		var res export.Result
		body, err := json.Marshal(out)
		if err == nil {
			err = json.Unmarshal(body, &res)
		}
		return res, err
	}
	rec.set(true)
	f.backfill, err = invoke(fmt.Sprintf(`{"start":%q,"end":%q}`, f.from.Format(time.RFC3339), f.to.Format(time.RFC3339)))
	if err != nil {
		return nil, err
	}
	// The scheduler's event, as the template's schedule builds it.
	input := asMap(asMap(asMap(s.props(t, "SessionAuditFunction")["Events"])["Daily"])["Properties"])["Input"]
	scheduledAt := f.to.Add(15 * time.Minute).Format(time.RFC3339)
	f.scheduled, err = invoke(strings.Replace(scalarString(input), "<aws.scheduler.scheduled-time>", scheduledAt, 1))
	if err != nil {
		return nil, err
	}
	rec.set(false)
	f.calls = rec.calls

	sc := bufio.NewScanner(&emf)
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return nil, fmt.Errorf("EMF line %s: %w", sc.Text(), err)
		}
		f.emf = append(f.emf, line)
	}

	if f.dir, err = os.MkdirTemp("", "stack-export-"); err != nil {
		return nil, err
	}
	if err := download(emu, f.dir); err != nil {
		return nil, err
	}
	if f.db, err = openDuckDB(f.dir); err != nil {
		return nil, err
	}
	return f, nil
}

// download copies every object of the bucket to dir/<key>.
func download(emu *emulators.Emulators, dir string) error {
	ctx := context.Background()
	api := emu.Clients().S3
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket)}
	for {
		page, err := api.ListObjectsV2(ctx, in)
		if err != nil {
			return err
		}
		for _, o := range page.Contents {
			obj, err := api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
			if err != nil {
				return err
			}
			body, err := io.ReadAll(obj.Body)
			obj.Body.Close()
			if err != nil {
				return err
			}
			path := filepath.Join(dir, filepath.FromSlash(aws.ToString(o.Key)))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(path, body, 0o644); err != nil {
				return err
			}
		}
		if !aws.ToBool(page.IsTruncated) {
			return nil
		}
		in.ContinuationToken = page.NextContinuationToken
	}
}

// duckdbSetup makes a DuckDB session answer the template's Trino SQL as
// Athena engine v3 would:
//   - timestamps in UTC (Athena reads UTC-adjusted Parquet timestamps as
//     UTC; DuckDB would use the machine's zone for hour() otherwise);
//   - day_of_week, Trino's ISO day of the week (Monday 1 ... Sunday 7),
//     which DuckDB spells isodow;
//   - array_join, which DuckDB spells array_to_string.
//
// Everything else in the queries is the same text in both engines. The
// view "sessions" has Athena's hidden column "$path" (openDuckDB).
var duckdbSetup = []string{
	`SET TimeZone = 'UTC'`,
	`CREATE MACRO day_of_week(ts) AS isodow(ts)`,
	`CREATE MACRO array_join(a, sep) AS array_to_string(a, sep)`,
}

// newDuckDB opens an in-memory DuckDB set up by duckdbSetup.
func newDuckDB() (*sql.DB, error) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1) // the settings and the macro belong to the one connection
	for _, q := range duckdbSetup {
		if _, err := db.Exec(q); err != nil {
			db.Close()
			return nil, fmt.Errorf("%s: %w", q, err)
		}
	}
	return db, nil
}

// openDuckDB opens DuckDB on a downloaded bucket with the view "sessions"
// over every Parquet object, dt a string partition column as in Glue, and
// "$path" the object's S3 URI, as Athena's hidden column is (here SELECT *
// has it too).
func openDuckDB(dir string) (*sql.DB, error) {
	db, err := newDuckDB()
	if err != nil {
		return nil, err
	}
	root := filepath.ToSlash(filepath.Clean(dir))
	glob := root + "/ssm-sessions/sessions/*/*.parquet"
	q := fmt.Sprintf(`CREATE VIEW sessions AS SELECT * EXCLUDE (filename), 's3://%s/' || substr(filename, %d) AS "$path"
FROM read_parquet('%s', hive_partitioning = true, hive_types = {'dt': VARCHAR}, filename = true)`, bucket, len(root)+2, glob)
	if _, err := db.Exec(q); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", q, err)
	}
	return db, nil
}
