// Package e2e drives the whole export through the real SDK clients against
// the SSM emulator and an in-process S3 server over HTTP, and reads what
// lands in S3 back with DuckDB, as Athena would.
package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
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
	"github.com/session-audit/session-audit/internal/handler"
	"github.com/session-audit/session-audit/internal/parquetcheck"
	"github.com/session-audit/session-audit/internal/ssmfake"
	"github.com/session-audit/session-audit/internal/store"
)

const (
	bucket      = "audit-bucket"
	account     = "123456789012"
	functionARN = "arn:aws:lambda:us-east-1:123456789012:function:session-audit"
)

// testEnv is one function wired to fresh emulators, with a settable clock.
type testEnv struct {
	t   *testing.T
	emu *emulators.Emulators
	h   *handler.Handler
	now time.Time
	cfg config.Config
}

func newEnv(t *testing.T, now time.Time, env map[string]string, sessions []types.Session) *testEnv {
	t.Helper()
	return newEnvWith(t, now, envOptions{env: env, sessions: sessions})
}

// envOptions are the knobs of the fault-injection tests.
type envOptions struct {
	env      map[string]string
	sessions []types.Session
	ssmWrap  func(http.Handler) http.Handler
	s3Wrap   func(http.Handler) http.Handler
	partSize int
	logs     io.Writer
	// s3 is the S3 server; the zero value is the in-process gofakes3.
	s3 s3Backend
}

// s3Backend is the S3 server a test runs against: the in-process gofakes3
// (the zero value), or a real S3 implementation reached over HTTP.
type s3Backend struct {
	// upstream starts the server for one test and returns its endpoint and
	// credentials; nil means gofakes3.
	upstream func(t *testing.T) *emulators.Upstream
	// minPartSize is the smallest part, but the last, that the server
	// completes a multipart upload with: S3's 5 MiB for a real one; 0 for
	// gofakes3, which checks none.
	minPartSize int
}

// s3BackendEnv names the environment variable that runs every e2e test on
// MinIO ("minio") instead of gofakes3; the TestMinIO* tests always do. The
// fault tables then fail where they complete uploads of 16 KiB parts: a
// real S3 refuses parts under 5 MiB (EntityTooSmall), gofakes3 does not.
const s3BackendEnv = "SESSION_AUDIT_TEST_S3"

// resolve is b, or MinIO in place of gofakes3 when s3BackendEnv asks.
func (b s3Backend) resolve() s3Backend {
	if b.upstream == nil && os.Getenv(s3BackendEnv) == "minio" {
		return onMinIO
	}
	return b
}

func newEnvWith(t *testing.T, now time.Time, o envOptions) *testEnv {
	t.Helper()
	fake := ssmfake.New(ssmfake.WithSessions(o.sessions))
	o.s3 = o.s3.resolve()
	var upstream *emulators.Upstream
	if o.s3.upstream != nil {
		upstream = o.s3.upstream(t)
	}
	emu, err := emulators.Start(emulators.Options{Bucket: bucket, SSM: fake, SSMWrap: o.ssmWrap, S3Wrap: o.s3Wrap, MaxBackoff: 20 * time.Millisecond, S3Upstream: upstream})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	vars := map[string]string{"AUDIT_BUCKET": bucket}
	for k, v := range o.env {
		vars[k] = v
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	te := &testEnv{t: t, emu: emu, now: now, cfg: cfg}
	logs := o.logs
	if logs == nil {
		logs = io.Discard
	}
	te.h = app.Wire(cfg, emu.Clients(), slog.New(slog.NewJSONHandler(logs, nil)), func() time.Time { return te.now })
	te.exp().PartSize = o.partSize
	return te
}

func (te *testEnv) exp() *export.Exporter { return te.h.Export.(*export.Exporter) }

// rewire gives the function a new configuration over the same emulators,
// as a stack update that changes its variables does; logs go to logs.
func (te *testEnv) rewire(env map[string]string, logs io.Writer) {
	te.t.Helper()
	vars := map[string]string{"AUDIT_BUCKET": bucket}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		te.t.Fatal(err)
	}
	te.cfg = cfg
	te.h = app.Wire(cfg, te.emu.Clients(), slog.New(slog.NewJSONHandler(logs, nil)), func() time.Time { return te.now })
}

func lambdaCtx() context.Context {
	return lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{InvokedFunctionArn: functionARN})
}

// invoke sends event through the handler and decodes the answer as the
// Lambda runtime would marshal it.
func (te *testEnv) invoke(event string) (export.Result, error) {
	te.t.Helper()
	out, err := te.h.Handle(lambdaCtx(), json.RawMessage(event))
	if err != nil {
		return export.Result{}, err
	}
	body, err := json.Marshal(out)
	if err != nil {
		te.t.Fatal(err)
	}
	var res export.Result
	if err := json.Unmarshal(body, &res); err != nil {
		te.t.Fatal(err)
	}
	return res, nil
}

// invokeAll sends the events at once, as concurrent invocations, and
// returns each one's error.
func (te *testEnv) invokeAll(events ...string) []error {
	var wg sync.WaitGroup
	errs := make([]error, len(events))
	for i, ev := range events {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = te.invoke(ev)
		}()
	}
	wg.Wait()
	return errs
}

func (te *testEnv) mustInvoke(event string) export.Result {
	te.t.Helper()
	res, err := te.invoke(event)
	if err != nil {
		te.t.Fatalf("invoke %s: %v", event, err)
	}
	return res
}

// objects lists every key of the archive in the bucket: every key but the
// targets' state objects (store.State), which record what runs owe, and the
// context tables a scheduled run also writes (nodes, accounts: packages
// nodes and accounts) and the runs' digests (package digest, checked by
// the verify tests), each checked where a test is about them.
func (te *testEnv) objects() []string {
	te.t.Helper()
	var keys []string
	for _, k := range te.allObjects() {
		if !strings.Contains(k, "/state/") && !strings.Contains(k, "/nodes/") && !strings.Contains(k, "/accounts/") && !strings.Contains(k, "/digests/") {
			keys = append(keys, k)
		}
	}
	return keys
}

// allObjects lists every key in the bucket.
func (te *testEnv) allObjects() []string {
	te.t.Helper()
	out, err := te.emu.Clients().S3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		te.t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	sort.Strings(keys)
	return keys
}

func (te *testEnv) get(key string) []byte {
	te.t.Helper()
	out, err := te.emu.Clients().S3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		te.t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		te.t.Fatal(err)
	}
	return b
}

// download copies the bucket into a fresh folder, key for key, and checks
// on the way that every manifest describes its object exactly and that
// every Parquet object keeps the page-index invariants.
func (te *testEnv) download() string {
	te.t.Helper()
	dir := te.t.TempDir()
	objects := map[string][]byte{}
	for _, key := range te.objects() {
		body := te.get(key)
		objects[key] = body
		path := filepath.Join(dir, filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			te.t.Fatal(err)
		}
		if err := os.WriteFile(path, body, 0o644); err != nil {
			te.t.Fatal(err)
		}
		if strings.HasSuffix(key, ".parquet") {
			if err := parquetcheck.VerifyPageIndex(bytes.NewReader(body), int64(len(body))); err != nil {
				te.t.Errorf("page index of %s: %v", key, err)
			}
		}
	}
	for key, body := range objects {
		if !strings.Contains(key, "/manifests/") {
			continue
		}
		var m store.Manifest
		if err := json.Unmarshal(body, &m); err != nil {
			te.t.Fatalf("manifest %s: %v", key, err)
		}
		if m.Object == nil {
			if m.Rows != 0 {
				te.t.Errorf("manifest %s has %d rows and no object", key, m.Rows)
			}
			continue
		}
		obj, ok := objects[m.Object.Key]
		if !ok {
			te.t.Errorf("manifest %s names %s, which is not in the bucket", key, m.Object.Key)
			continue
		}
		sum := sha256.Sum256(obj)
		if int64(len(obj)) != m.Object.Size || hex.EncodeToString(sum[:]) != m.Object.SHA256 {
			te.t.Errorf("manifest %s says %d bytes sha256 %s; the object has %d bytes sha256 %x",
				key, m.Object.Size, m.Object.SHA256, len(obj), sum)
		}
	}
	return dir
}

// duck opens DuckDB over a downloaded bucket with a view "sessions" over
// every Parquet object, partitioned by dt as Athena sees it.
func duck(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	glob := filepath.ToSlash(filepath.Join(dir, "ssm-sessions", "sessions", "*", "*.parquet"))
	matches, err := filepath.Glob(glob)
	if err != nil {
		t.Fatal(err)
	}
	if len(matches) == 0 {
		_, err = db.Exec(`CREATE VIEW sessions AS SELECT NULL::VARCHAR AS session_id WHERE false`)
	} else {
		_, err = db.Exec(`CREATE VIEW sessions AS SELECT * FROM read_parquet('` + glob + `', hive_partitioning = true)`)
	}
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// dbRow is one row as DuckDB reads it back.
type dbRow struct {
	archive.Row
	DT string
}

func readRows(t *testing.T, db *sql.DB) []dbRow {
	t.Helper()
	rows, err := db.Query(`SELECT session_id, target, status, start_date, end_date, document_name, owner, reason, details,
		s3_output_url, cloudwatch_output_url, max_session_duration, access_type, duration_seconds, account_id, region,
		exported_at, CAST(dt AS VARCHAR) FROM sessions ORDER BY start_date, session_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []dbRow
	for rows.Next() {
		var r dbRow
		var target, status, doc, owner, reason, details, s3u, cwu, maxd, access, acct, region sql.NullString
		var start, exported time.Time
		var end sql.NullTime
		var dur sql.NullInt64
		if err := rows.Scan(&r.SessionID, &target, &status, &start, &end, &doc, &owner, &reason, &details,
			&s3u, &cwu, &maxd, &access, &dur, &acct, &region, &exported, &r.DT); err != nil {
			t.Fatal(err)
		}
		r.Target, r.Status, r.DocumentName, r.Owner = target.String, status.String, doc.String, owner.String
		r.Reason, r.Details, r.S3OutputURL, r.CloudWatchOutputURL = reason.String, details.String, s3u.String, cwu.String
		r.MaxSessionDuration, r.AccessType, r.AccountID, r.Region = maxd.String, access.String, acct.String, region.String
		r.StartDate, r.ExportedAt = start.UTC(), exported.UTC()
		if end.Valid {
			e := end.Time.UTC()
			r.EndDate = &e
		}
		if dur.Valid {
			d := dur.Int64
			r.DurationSeconds = &d
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// expected returns the History sessions whose StartDate lies in [from, to),
// as rows (exported_at left zero), ordered like readRows.
func expected(fake *ssmfake.Server, from, to time.Time) []archive.Row {
	var out []archive.Row
	for _, s := range fake.Sessions("History") {
		if s.StartDate.Before(from) || !s.StartDate.Before(to) {
			continue
		}
		out = append(out, archive.FromSession(s, archive.Origin{AccountID: account, Region: emulators.Region}))
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].StartDate.Equal(out[j].StartDate) {
			return out[i].StartDate.Before(out[j].StartDate)
		}
		return out[i].SessionID < out[j].SessionID
	})
	return out
}

// compareRows checks every field of every row read back against want.
func compareRows(t *testing.T, got []dbRow, want []archive.Row) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("read back %d rows, want %d", len(got), len(want))
	}
	for i := range want {
		g := got[i].Row
		g.ExportedAt = time.Time{}
		w := want[i]
		if gj, wj := mustJSON(t, g), mustJSON(t, w); gj != wj {
			t.Fatalf("row %d differs:\n got %s\nwant %s", i, gj, wj)
		}
		if got[i].DT != w.StartDate.Format(time.DateOnly) {
			t.Fatalf("row %d (%s) is in partition dt=%s; it started %s", i, w.SessionID, got[i].DT, w.StartDate)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}
