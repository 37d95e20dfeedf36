package stack_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/session-audit/session-audit/internal/archive"
	"github.com/session-audit/session-audit/internal/store"
)

// result is what a query returned.
type result struct {
	cols []string
	rows [][]any
}

func runQuery(t *testing.T, db *sql.DB, query string, args ...any) result {
	t.Helper()
	rows, err := db.Query(query, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, query)
	}
	defer rows.Close()
	var res result
	if res.cols, err = rows.Columns(); err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		vals := make([]any, len(res.cols))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		res.rows = append(res.rows, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return res
}

// column returns the named column of every row.
func (r result) column(t *testing.T, name string) []any {
	t.Helper()
	i := slices.Index(r.cols, name)
	if i < 0 {
		t.Fatalf("no column %s in %v", name, r.cols)
	}
	out := make([]any, len(r.rows))
	for j, row := range r.rows {
		out[j] = row[i]
	}
	return out
}

func (r result) ids(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, v := range r.column(t, "session_id") {
		out = append(out, v.(string))
	}
	return out
}

func show(v any) string {
	switch v := v.(type) {
	case nil:
		return "NULL"
	case time.Time:
		return v.UTC().Format("2006-01-02 15:04:05.000")
	case string:
		v = strings.NewReplacer("\n", `\n`, "\t", `\t`).Replace(v)
		if r := []rune(v); len(r) > 110 {
			v = string(r[:107]) + "..."
		}
		return v
	default:
		return fmt.Sprint(v)
	}
}

// format renders up to max rows as a table for the log.
func (r result) format(max int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d row(s)\n  %s\n", len(r.rows), strings.Join(r.cols, " | "))
	for i, row := range r.rows {
		if i == max {
			fmt.Fprintf(&b, "  ... %d more\n", len(r.rows)-max)
			break
		}
		cells := make([]string, len(row))
		for j, v := range row {
			cells[j] = show(v)
		}
		fmt.Fprintf(&b, "  %s\n", strings.Join(cells, " | "))
	}
	return b.String()
}

// Go versions of the queries' predicates, applied to the sessions the
// emulator holds.
var (
	allowedDocs  = []string{"SSM-SessionManagerRunShell", "AWS-StartPortForwardingSession", "AWS-StartSSHSession"}
	breakGlassRE = regexp.MustCompile(`break.glass`)
	goPredicates = map[string]func(archive.Row) bool{
		"QueryLongSessions": func(r archive.Row) bool { return r.DurationSeconds != nil && *r.DurationSeconds > 4*3600 },
		"QueryRootOrBreakGlassSessions": func(r archive.Row) bool {
			o := strings.ToLower(r.Owner)
			return strings.HasSuffix(r.Owner, ":root") || strings.Contains(o, "breakglass") || breakGlassRE.MatchString(o)
		},
		"QueryFailedSessions": func(r archive.Row) bool { return r.Status == "Failed" },
		"QueryDocumentsOutsideAllowList": func(r archive.Row) bool {
			doc := r.DocumentName
			if doc == "" {
				doc = shellDoc
			}
			return !slices.Contains(allowedDocs, doc)
		},
		"QueryOutsideBusinessHours": func(r archive.Row) bool {
			h, wd := r.StartDate.UTC().Hour(), r.StartDate.UTC().Weekday()
			return h < 8 || h >= 18 || wd == time.Saturday || wd == time.Sunday
		},
		"QueryNoTranscript": func(r archive.Row) bool {
			return r.Status != "Failed" && r.S3OutputURL == "" && r.CloudWatchOutputURL == ""
		},
		// Pinned: the test runs the query with current_timestamp replaced by
		// the fixture's clock (see pinClock).
		"QueryActiveAtPeriodEnd": func(r archive.Row) bool {
			return r.Status != "Failed" && (r.EndDate == nil || r.EndDate.After(fix.now))
		},
	}
	// handmadeIn says which hand-made sessions each filtering query
	// returns; the others must not appear.
	handmadeIn = map[string][]string{
		"QueryLongSessions":              {idLong},
		"QueryRootOrBreakGlassSessions":  {idBreakGlass, idBreakUnder, idRoot},
		"QueryFailedSessions":            {idFailed},
		"QueryDocumentsOutsideAllowList": {idCustomDoc},
		"QueryOutsideBusinessHours":      {idSaturday},
		"QueryNoTranscript":              {idRoot, idBreakGlass, idBreakUnder, idLong, idFourHours, idCustomDoc, idNoDoc, idSaturday},
		"QueryActiveAtPeriodEnd":         nil,
	}
	handmade = []string{idRoot, idBreakGlass, idBreakUnder, idFailed, idLong, idFourHours, idCustomDoc, idNoDoc, idSaturday}
)

// TestNamedQueriesOnTheExport runs every named query of the template, as
// written, on DuckDB over the exported objects, and checks its answer
// against the emulator's sessions.
func TestNamedQueriesOnTheExport(t *testing.T) {
	f := getFixture(t)
	qs := namedQueries(t, resolve(t, loadTemplate(t), defaults))
	ids := slices.Sorted(maps.Keys(qs))
	for _, id := range ids {
		q := qs[id]
		t.Run(id, func(t *testing.T) {
			sql := pinClock(scalarString(q["QueryString"]), f.now)
			switch id {
			case "QuerySessionsPerOwnerPerDay":
				checkPerOwnerPerDay(t, f, sql, q)
			case "QuerySessionById":
				checkByID(t, f, sql, q)
			case "QueryDuplicateSessions":
				// The export holds each session once; TestNamedQueriesWithOtherThresholds
				// adds a copy.
				if res := runQuery(t, f.db, sql); len(res.rows) != 0 {
					t.Errorf("duplicates in a clean export:\n%s", res.format(5))
				}
			default:
				pred, ok := goPredicates[id]
				if !ok {
					t.Fatalf("no check for named query %s: add one", id)
				}
				res := runQuery(t, f.db, sql)
				t.Logf("%s:\n%s", q["Name"], res.format(25))
				got := res.ids(t)
				var want []string
				for _, r := range f.want {
					if pred(r) {
						want = append(want, r.SessionID)
					}
				}
				if g := slices.Sorted(slices.Values(got)); !slices.Equal(g, want) {
					t.Errorf("returned %d sessions %v;\nthe emulator's sessions give %d: %v", len(g), g, len(want), want)
				}
				var hand []string
				for _, h := range handmade {
					if slices.Contains(got, h) {
						hand = append(hand, h)
					}
				}
				if w := handmadeIn[id]; !slices.Equal(slices.Sorted(slices.Values(hand)), slices.Sorted(slices.Values(w))) {
					t.Errorf("hand-made sessions returned %v, want %v", hand, w)
				}
				checkOrder(t, id, res)
				if id == "QueryDocumentsOutsideAllowList" {
					checkNullDocuments(t, f, sql)
				}
			}
		})
	}
}

// checkNullDocuments takes the default shell off the allow-list: sessions
// without a document then appear, being shell sessions, which a plain
// "document_name NOT IN (...)" would miss.
func checkNullDocuments(t *testing.T, f *fixture, query string) {
	shellLine := regexp.MustCompile(`(?m)^\s*'SSM-SessionManagerRunShell',\n`)
	if len(shellLine.FindAllString(query, -1)) != 1 {
		t.Fatalf("the allow-list does not list SSM-SessionManagerRunShell on its own line:\n%s", query)
	}
	res := runQuery(t, f.db, shellLine.ReplaceAllString(query, ""))
	var want []string
	for _, r := range f.want {
		if r.DocumentName == "" || !slices.Contains(allowedDocs[1:], r.DocumentName) {
			want = append(want, r.SessionID)
		}
	}
	got := slices.Sorted(slices.Values(res.ids(t)))
	if !slices.Equal(got, want) || !slices.Contains(got, idNoDoc) {
		t.Errorf("without the shell on the allow-list: %d sessions, want %d (with %s)", len(got), len(want), idNoDoc)
	}
	t.Logf("with the shell off the allow-list the query returns %d sessions, %s among them", len(got), idNoDoc)
}

// pinClock replaces the named queries' current_date and current_timestamp
// by the fixture's clock, so that the test does not depend on the wall
// clock.
func pinClock(query string, now time.Time) string {
	query = strings.ReplaceAll(query, "current_date", "DATE '"+now.UTC().Format(time.DateOnly)+"'")
	return strings.ReplaceAll(query, "current_timestamp", "TIMESTAMP '"+now.UTC().Format("2006-01-02 15:04:05.000")+"'")
}

// checkOrder checks the ORDER BY of the filtering queries: the longest
// first for long sessions, the most recent first for the others.
func checkOrder(t *testing.T, id string, res result) {
	t.Helper()
	if id == "QueryLongSessions" {
		d := res.column(t, "duration_seconds")
		if !slices.IsSortedFunc(d, func(a, b any) int { return int(b.(int64) - a.(int64)) }) {
			t.Errorf("not ordered by duration, longest first: %v", d)
		}
		return
	}
	s := res.column(t, "start_date")
	if !slices.IsSortedFunc(s, func(a, b any) int { return b.(time.Time).Compare(a.(time.Time)) }) {
		t.Errorf("not ordered by start_date, most recent first")
	}
}

func checkPerOwnerPerDay(t *testing.T, f *fixture, query string, q map[string]any) {
	res := runQuery(t, f.db, query)
	t.Logf("%s:\n%s", q["Name"], res.format(25))
	type count struct{ sessions, targets int64 }
	want := map[string]count{}
	targets := map[string]map[string]bool{}
	perDay := map[string]int64{}
	for _, r := range f.want {
		k := r.StartDate.Format(time.DateOnly) + " " + r.Owner
		c := want[k]
		c.sessions++
		if targets[k] == nil {
			targets[k] = map[string]bool{}
		}
		targets[k][r.Target] = true
		c.targets = int64(len(targets[k]))
		want[k] = c
		perDay[r.StartDate.Format(time.DateOnly)]++
	}
	got := map[string]count{}
	for _, row := range res.rows {
		owner, _ := row[1].(string)
		got[row[0].(string)+" "+owner] = count{row[2].(int64), row[3].(int64)}
	}
	if !maps.Equal(got, want) {
		t.Errorf("per owner per day\n got %v\nwant %v", got, want)
	}
	ordered := slices.IsSortedFunc(res.rows, func(a, b []any) int {
		if c := strings.Compare(a[0].(string), b[0].(string)); c != 0 {
			return c
		}
		if a[2] != b[2] {
			return int(b[2].(int64) - a[2].(int64))
		}
		ao, _ := a[1].(string)
		bo, _ := b[1].(string)
		return strings.Compare(ao, bo)
	})
	if !ordered {
		t.Error("not ordered by dt, sessions (most first), owner")
	}
	// The days add up to the manifests' row counts: what an auditor
	// reconciles the table with.
	manifests := readManifests(t, f.dir)
	fromManifests := map[string]int64{}
	for _, m := range manifests {
		fromManifests[m.SlotStart.UTC().Format(time.DateOnly)] += m.Rows
	}
	if !maps.Equal(fromManifests, perDay) {
		t.Errorf("rows per day in the manifests %v; sessions per day %v", fromManifests, perDay)
	}
	t.Logf("manifests: %d, rows per dt %v", len(manifests), fromManifests)
}

func readManifests(t *testing.T, dir string) []store.Manifest {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "ssm-sessions", "manifests", "*", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no manifests (%v)", err)
	}
	var out []store.Manifest
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var m store.Manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out = append(out, m)
	}
	return out
}

// checkByID runs the parameterized lookup: DuckDB's prepared statements
// take the ? parameters in order, as Athena's execution parameters do.
func checkByID(t *testing.T, f *fixture, query string, q map[string]any) {
	if n := strings.Count(query, "?"); n != 3 { // none in the comments: Athena's console counts every one
		t.Fatalf("%d parameters, want 3 (id, first dt, last dt)", n)
	}
	first, last := f.from.Format(time.DateOnly), f.to.AddDate(0, 0, -1).Format(time.DateOnly)
	// The long hand-made session, and a generated one with the odd text
	// (quotes, newlines, non-ASCII reasons) and output URLs.
	picks := []string{idLong}
	for _, r := range f.want {
		if r.Reason != "" && r.S3OutputURL != "" && r.EndDate != nil {
			picks = append(picks, r.SessionID)
			break
		}
	}
	for _, id := range picks {
		res := runQuery(t, f.db, query, id, first, last)
		t.Logf("%s with ('%s', '%s', '%s'):\n%s", q["Name"], id, first, last, res.format(5))
		if len(res.rows) != 1 {
			t.Fatalf("%d rows for %s", len(res.rows), id)
		}
		i := slices.IndexFunc(f.want, func(r archive.Row) bool { return r.SessionID == id })
		got, err := rowOf(res.cols, res.rows[0])
		if err != nil {
			t.Fatal(err)
		}
		if g, w := mustJSON(t, got), mustJSON(t, f.want[i]); g != w {
			t.Errorf("row read back\n got %s\nwant %s", g, w)
		}
		if dt := res.column(t, "dt")[0]; dt != f.want[i].StartDate.Format(time.DateOnly) {
			t.Errorf("dt %v for a session that started %s", dt, f.want[i].StartDate)
		}
	}
	// Outside the given days the session is not found: dt prunes.
	day := f.to.Format(time.DateOnly)
	if res := runQuery(t, f.db, query, idLong, day, day); len(res.rows) != 0 {
		t.Errorf("found %s outside its dt", idLong)
	}
}

// rowOf rebuilds a archive.Row from a SELECT * row (NULL strings read as "").
func rowOf(cols []string, vals []any) (archive.Row, error) {
	m := map[string]any{}
	for i, c := range cols {
		v := vals[i]
		if ts, ok := v.(time.Time); ok {
			v = ts.UTC()
		}
		m[c] = v
	}
	delete(m, "dt")
	delete(m, "$path")
	for k, v := range m {
		if v == nil && k != "end_date" && k != "duration_seconds" {
			if k == "start_date" || k == "exported_at" {
				return archive.Row{}, fmt.Errorf("%s is NULL", k)
			}
			m[k] = ""
		}
	}
	body, err := json.Marshal(m)
	if err != nil {
		return archive.Row{}, err
	}
	var r archive.Row
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	return r, dec.Decode(&r)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDuckDBDialect checks the DuckDB setup the queries run with against
// Trino's definitions.
func TestDuckDBDialect(t *testing.T) {
	db, err := newDuckDB()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// day_of_week: ISO, Monday 1 ... Sunday 7 (Trino's definition).
	start := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC) // a Monday
	for i := range 14 {
		ts := start.AddDate(0, 0, i).Add(23*time.Hour + 30*time.Minute)
		var got int64
		if err := db.QueryRow(`SELECT day_of_week(?::TIMESTAMPTZ)`, ts).Scan(&got); err != nil {
			t.Fatal(err)
		}
		want := int64(ts.Weekday())
		if want == 0 {
			want = 7
		}
		if got != want {
			t.Errorf("day_of_week(%s) = %d, want %d", ts, got, want)
		}
	}
	// hour() is the UTC hour whatever the machine's zone.
	var h int64
	if err := db.QueryRow(`SELECT hour(TIMESTAMPTZ '2026-11-28 03:00:00+00')`).Scan(&h); err != nil || h != 3 {
		t.Errorf("hour = %d, %v; want 3", h, err)
	}
	// The dt window is a 'YYYY-MM-DD' string, as dt is.
	var from string
	before := time.Now().UTC().AddDate(0, 0, -30).Format(time.DateOnly)
	if err := db.QueryRow(`SELECT CAST(CAST(current_date - INTERVAL '30' DAY AS DATE) AS VARCHAR)`).Scan(&from); err != nil {
		t.Fatal(err)
	}
	if after := time.Now().UTC().AddDate(0, 0, -30).Format(time.DateOnly); from != before && from != after {
		t.Errorf("the dt window starts at %q, want %q", from, before)
	}
}

// TestExportedObjects checks what the function wrote against the table:
// the Parquet schema of a real object, dt a string, and one partition per
// day of the backfill.
func TestExportedObjects(t *testing.T) {
	f := getFixture(t)
	paths, err := filepath.Glob(filepath.Join(f.dir, "ssm-sessions", "sessions", "dt=*", "*.parquet"))
	if err != nil || len(paths) != 7 {
		t.Fatalf("%d Parquet objects (%v), want 7 days", len(paths), err)
	}
	file, err := os.Open(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(file, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	got, err := hiveColumns(pf.Schema())
	if err != nil {
		t.Fatal(err)
	}
	if want := glueColumns(t); !slices.Equal(got, want) {
		t.Errorf("%s has columns\n%v\nthe Glue table\n%v", paths[0], got, want)
	}
	var typ string
	var n int64
	if err := f.db.QueryRow(`SELECT typeof(dt), count(*) FROM sessions GROUP BY 1`).Scan(&typ, &n); err != nil {
		t.Fatal(err)
	}
	if typ != "VARCHAR" || n != int64(len(f.want)) {
		t.Errorf("dt is %s, %d rows; want VARCHAR (Glue: string), %d rows", typ, n, len(f.want))
	}
	var docNulls, docEmpty int64
	if err := f.db.QueryRow(`SELECT count(*) FILTER (WHERE document_name IS NULL), count(*) FILTER (WHERE document_name = '') FROM sessions`).Scan(&docNulls, &docEmpty); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d sessions in %d objects; %d without a document (NULL), %d with an empty one", n, len(paths), docNulls, docEmpty)
	if docNulls == 0 || docEmpty != 0 {
		t.Errorf("sessions without a document read as %d NULL and %d empty: the allow-list query expects NULL", docNulls, docEmpty)
	}
}

// TestMetricsMatchTheAlarm: the function's EMF line of a scheduled run has
// the namespace, dimensions and metric the NoSessions alarm watches.
func TestMetricsMatchTheAlarm(t *testing.T) {
	f := getFixture(t)
	alarm := resolve(t, loadTemplate(t), customised).props(t, "NoSessionsAlarm")
	var dims []string
	for _, d := range asList(alarm["Dimensions"]) {
		dims = append(dims, scalarString(asMap(d)["Name"]))
	}
	var modes []string
	for _, line := range f.emf {
		modes = append(modes, fmt.Sprint(line["Mode"]))
		if line["Mode"] != "scheduled" {
			continue
		}
		t.Logf("EMF line of the scheduled run: %s", mustJSON(t, line))
		cwm := asList(asMap(line["_aws"])["CloudWatchMetrics"])
		if len(cwm) != 1 {
			t.Fatalf("CloudWatchMetrics %v", cwm)
		}
		m := asMap(cwm[0])
		var metrics []string
		for _, x := range asList(m["Metrics"]) {
			metrics = append(metrics, scalarString(asMap(x)["Name"])+":"+scalarString(asMap(x)["Unit"]))
		}
		if m["Namespace"] != alarm["Namespace"] || fmt.Sprint(m["Dimensions"]) != fmt.Sprint([]any{toAny(dims)}) ||
			!slices.Contains(metrics, scalarString(alarm["MetricName"])+":Count") {
			t.Errorf("EMF %v %v %v; the alarm watches %v %v %v", m["Namespace"], m["Dimensions"], metrics, alarm["Namespace"], dims, alarm["MetricName"])
		}
		if line["FunctionName"] != "session-audit" || line["SessionsExported"].(float64) < 1 {
			t.Errorf("EMF values %v", line)
		}
		return
	}
	t.Fatalf("no EMF line of a scheduled run; modes %v", modes)
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// TestExportRequestsAreAllowed evaluates the function role's policy on
// every S3 request the export made, including the ListBucket check S3 does
// when a GET or HEAD finds no object (which decides 404 against 403).
func TestExportRequestsAreAllowed(t *testing.T) {
	f := getFixture(t)
	stmts := roleStatements(t, resolve(t, loadTemplate(t), map[string]string{"ExistingBucketName": bucket}))
	counts := map[string]int{}
	var missing int
	for _, c := range f.calls {
		reqs, op, err := authorize(c)
		if err != nil {
			t.Errorf("%s %s: %v", c.method, c.path, err)
			continue
		}
		counts[op]++
		if c.status == 404 {
			missing++
		}
		for _, r := range reqs {
			if _, ok := allows(stmts, r); !ok {
				t.Errorf("%s %s?%v (%s, status %d) needs %s on %s %v, which the role does not allow",
					c.method, c.path, c.query, op, c.status, r.action, r.resource, r.context)
			}
		}
	}
	t.Logf("S3 requests of the export: %v; %d answered 404", counts, missing)
	if counts["ListObjectsV2"] == 0 || counts["PutObject"] == 0 || missing == 0 {
		t.Errorf("the export made none of ListObjectsV2, PutObject, or a GET of a missing manifest: %v", counts)
	}
}

// authorize maps a path-style S3 request to the authorization requests S3
// makes for it.
func authorize(c s3Call) ([]request, string, error) {
	b, key, _ := strings.Cut(strings.TrimPrefix(c.path, "/"), "/")
	bucketARN := "arn:aws:s3:::" + b
	has := func(k string) bool { _, ok := c.query[k]; return ok }
	if key == "" {
		if c.method == "GET" && c.query["list-type"] != nil && c.query["list-type"][0] == "2" {
			ctx := map[string]string{}
			if p := c.query["prefix"]; len(p) > 0 {
				ctx["s3:prefix"] = p[0]
			}
			return []request{{"s3:ListBucket", bucketARN, ctx}}, "ListObjectsV2", nil
		}
		return nil, "", fmt.Errorf("a bucket request this test does not map")
	}
	obj := bucketARN + "/" + key
	if c.header.Get("X-Amz-Copy-Source") != "" {
		return nil, "", fmt.Errorf("a copy, which this test does not map")
	}
	switch {
	case c.method == "PUT" && has("partNumber"):
		return []request{{"s3:PutObject", obj, nil}}, "UploadPart", nil
	case c.method == "PUT":
		return []request{{"s3:PutObject", obj, nil}}, "PutObject", nil
	case c.method == "POST" && has("uploads"):
		return []request{{"s3:PutObject", obj, nil}}, "CreateMultipartUpload", nil
	case c.method == "POST" && has("uploadId"):
		return []request{{"s3:PutObject", obj, nil}}, "CompleteMultipartUpload", nil
	case c.method == "DELETE" && has("uploadId"):
		return []request{{"s3:AbortMultipartUpload", obj, nil}}, "AbortMultipartUpload", nil
	case (c.method == "GET" || c.method == "HEAD") && !has("uploadId"):
		op := map[string]string{"GET": "GetObject", "HEAD": "HeadObject"}[c.method]
		reqs := []request{{"s3:GetObject", obj, nil}}
		if c.status == 404 {
			// S3 answers 404 only to a caller allowed to list the key.
			reqs = append(reqs, request{"s3:ListBucket", bucketARN, map[string]string{"s3:prefix": key}})
		}
		return reqs, op, nil
	}
	return nil, "", fmt.Errorf("an object request this test does not map")
}

func TestBackfillAndScheduledRuns(t *testing.T) {
	f := getFixture(t)
	if f.backfill.Mode != "backfill" || len(f.backfill.Slots) != 7 || f.backfill.Rows != int64(len(f.want)) {
		t.Errorf("backfill: mode %s, %d slots, %d rows; want 7 slots, %d rows", f.backfill.Mode, len(f.backfill.Slots), f.backfill.Rows, len(f.want))
	}
	if f.scheduled.Mode != "scheduled" || len(f.scheduled.Slots) < 2 {
		t.Errorf("scheduled: %+v", f.scheduled)
	}
	var days []string
	for _, s := range f.scheduled.Slots {
		days = append(days, s.Start.Format(time.DateOnly))
	}
	sort.Strings(days)
	t.Logf("backfill of %s..%s: %d sessions; the scheduled run at %s re-exported %v", f.from.Format(time.DateOnly),
		f.to.AddDate(0, 0, -1).Format(time.DateOnly), f.backfill.Rows, f.to.Add(15*time.Minute).Format(time.RFC3339), days)
}
