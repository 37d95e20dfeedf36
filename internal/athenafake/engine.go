package athenafake

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/parquet-go/parquet-go"
)

// setup makes DuckDB answer Trino SQL as Athena engine v3 does for what the
// project's queries use:
//   - timestamps in UTC (Athena reads the UTC-adjusted Parquet timestamps as
//     UTC; DuckDB would use the machine's zone otherwise);
//   - day_of_week, Trino's ISO day of the week, which DuckDB spells isodow;
//   - the CloudTrail queries' json_extract_scalar (json_extract_string),
//     from_iso8601_timestamp (a cast: eventTime is RFC 3339 in UTC),
//     regexp_like (regexp_matches) and date_format (strftime: the same
//     %Y/%m/%d specifiers);
//   - array_join, which DuckDB spells array_to_string.
//
// Athena's hidden column "$path" (the S3 URI of the row's object) is a
// column of a table's view when the query names it: DuckDB's filename,
// turned back into s3://bucket/key. Hidden columns are not in SELECT *
// on Athena; here only a query that names "$path" has it.
//
// count_if, max_by, AT TIME ZONE, hour, CAST, TIMESTAMP and DATE literals,
// INTERVAL '30' DAY and current_date are the same text in both engines, so
// the SQL runs as sent: a query using another Trino function fails here as
// a SYNTAX_ERROR, which the tests then show.
var setup = []string{
	`SET TimeZone = 'UTC'`,
	`CREATE MACRO day_of_week(ts) AS isodow(ts)`,
	`CREATE MACRO json_extract_scalar(j, p) AS json_extract_string(j, p)`,
	`CREATE MACRO from_iso8601_timestamp(s) AS CAST(s AS TIMESTAMPTZ)`,
	`CREATE MACRO regexp_like(s, p) AS regexp_matches(s, p)`,
	`CREATE MACRO date_format(ts, f) AS strftime(ts, f)`,
	`CREATE MACRO array_join(a, sep) AS array_to_string(a, sep)`,
}

// pathColumn is Athena's hidden column of the object's S3 URI.
const pathColumn = `"$path"`

// run executes a query: it brings the tables' objects up to date, points
// DuckDB's views at them, and runs the SQL.
func (s *Server) run(e *execution) {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	s.set(e, func(e *execution) { e.state = StateRunning })
	began := time.Now()
	cols, rows, scanned, err := s.execute(e.query)
	s.set(e, func(e *execution) {
		e.completed = s.opts.Now()
		e.engineMillis = time.Since(began).Milliseconds()
		e.scanned = scanned
		if err != nil {
			e.state, e.reason = StateFailed, err.Error()
		} else {
			e.state, e.cols, e.rows = StateSucceeded, cols, rows
		}
	})
	close(e.done)
}

func (s *Server) set(e *execution, f func(*execution)) {
	s.mu.Lock()
	f(e)
	s.mu.Unlock()
}

func (s *Server) execute(query string) ([]colInfo, [][]*string, int64, error) {
	if s.opts.Fail != nil {
		if reason := s.opts.Fail(query); reason != "" {
			return nil, nil, 0, fmt.Errorf("%s", reason)
		}
	}
	ctx := context.Background()
	var scanned int64
	for _, t := range s.opts.Tables {
		if !mentions(query, t.Name) {
			continue
		}
		files, err := s.sync(ctx, t)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("INTERNAL_ERROR: reading table %s: %w", t.Name, err)
		}
		if err := s.view(t, files, strings.Contains(query, pathColumn)); err != nil {
			return nil, nil, 0, fmt.Errorf("INTERNAL_ERROR: table %s: %w", t.Name, err)
		}
		n, err := estimateScan(query, t, files, s.opts.Now())
		if err != nil {
			return nil, nil, 0, fmt.Errorf("INTERNAL_ERROR: table %s: %w", t.Name, err)
		}
		scanned += n
	}
	rs, err := s.db.QueryContext(ctx, query)
	if err != nil {
		return nil, nil, scanned, fmt.Errorf("SYNTAX_ERROR: %v", err)
	}
	defer rs.Close()
	types, err := rs.ColumnTypes()
	if err != nil {
		return nil, nil, scanned, err
	}
	cols := make([]colInfo, len(types))
	for i, ct := range types {
		cols[i] = colInfo{ct.Name(), athenaType(ct.DatabaseTypeName())}
	}
	var rows [][]*string
	for rs.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			return nil, nil, scanned, fmt.Errorf("GENERIC_INTERNAL_ERROR: %v", err)
		}
		row := make([]*string, len(cols))
		for i, v := range vals {
			row[i] = format(v)
		}
		rows = append(rows, row)
	}
	if err := rs.Err(); err != nil {
		return nil, nil, scanned, fmt.Errorf("GENERIC_INTERNAL_ERROR: %v", err)
	}
	return cols, rows, scanned, nil
}

// mentions says whether the query names the table.
func mentions(query, table string) bool {
	return regexp.MustCompile(`(?i)\b(FROM|JOIN)\s+` + regexp.QuoteMeta(table) + `\b`).MatchString(query)
}

// athenaType maps a DuckDB type to the name Athena's ColumnInfo gives.
func athenaType(t string) string {
	switch {
	case t == "VARCHAR":
		return "varchar"
	case t == "BIGINT" || t == "HUGEINT" || t == "UBIGINT":
		return "bigint"
	case t == "INTEGER" || t == "SMALLINT" || t == "TINYINT" || t == "UINTEGER":
		return "integer"
	case t == "DOUBLE" || t == "FLOAT" || strings.HasPrefix(t, "DECIMAL"):
		return "double"
	case t == "BOOLEAN":
		return "boolean"
	case t == "DATE":
		return "date"
	case strings.HasPrefix(t, "TIMESTAMP"):
		return "timestamp"
	}
	return strings.ToLower(t)
}

// format renders a value as Athena's results do: timestamps as
// "YYYY-MM-DD HH:MM:SS.mmm", NULL as no value.
func format(v any) *string {
	var s string
	switch v := v.(type) {
	case nil:
		return nil
	case time.Time:
		s = v.UTC().Format("2006-01-02 15:04:05.000")
	case []byte:
		s = string(v)
	case float64:
		s = fmt.Sprintf("%g", v)
	default:
		s = fmt.Sprint(v)
	}
	return &s
}

// file is one cached object of a table.
type file struct {
	// rel is the key under the table's prefix.
	key, rel, path, dt string
	size               int64
}

// sync downloads the table's objects that changed since the last query
// into the cache folder, deletes cached files whose object is gone, and
// returns the files.
func (s *Server) sync(ctx context.Context, t Table) ([]file, error) {
	root := filepath.Join(s.opts.Dir, filepath.FromSlash(strings.TrimSuffix(t.Prefix, "/")))
	bucket := s.opts.Bucket
	if t.Bucket != "" {
		bucket = t.Bucket
	}
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(t.Prefix)}
	var files []file
	keep := map[string]bool{}
	for {
		page, err := s.opts.S3.ListObjectsV2(ctx, in)
		if err != nil {
			return nil, err
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			rel := strings.TrimPrefix(key, t.Prefix)
			dt, ok := partition(t, rel)
			if !ok || strings.HasSuffix(key, "/") {
				continue
			}
			path := filepath.Join(root, filepath.FromSlash(rel))
			f := file{key: key, rel: rel, path: path, dt: dt, size: aws.ToInt64(o.Size)}
			keep[path] = true
			if st, err := os.Stat(path); err != nil || st.Size() != f.size || st.ModTime().Before(aws.ToTime(o.LastModified)) {
				if err := s.download(ctx, bucket, key, path); err != nil {
					return nil, err
				}
			}
			files = append(files, f)
		}
		if !aws.ToBool(page.IsTruncated) {
			break
		}
		in.ContinuationToken = page.NextContinuationToken
	}
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error { //nolint:errcheck // best effort
		if err == nil && !d.IsDir() && !keep[p] {
			os.Remove(p)
		}
		return nil
	})
	return files, nil
}

// trailKey is a trail's object key under its location:
// <account>/CloudTrail/<region>/YYYY/MM/DD/<name>.json.gz.
var trailKey = regexp.MustCompile(`^[0-9]{12}/CloudTrail/[a-z0-9-]+/([0-9]{4})/([0-9]{2})/([0-9]{2})/[^/]+\.json\.gz$`)

// partition reads an object's day from its key under the table's prefix:
// dt=YYYY-MM-DD/…, or a trail's YYYY/MM/DD folder (as YYYY-MM-DD). ok is
// false for an object outside the table's layout.
func partition(t Table, rel string) (day string, ok bool) {
	if t.Format == "cloudtrail" {
		m := trailKey.FindStringSubmatch(rel)
		if m == nil {
			return "", false
		}
		return m[1] + "-" + m[2] + "-" + m[3], true
	}
	part, _, ok := strings.Cut(rel, "/")
	dt, isDT := strings.CutPrefix(part, "dt=")
	return dt, ok && isDT
}

func (s *Server) download(ctx context.Context, bucket, key, path string) error {
	obj, err := s.opts.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("get %s: %w", key, err)
	}
	defer obj.Body.Close()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".part"
	out, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, obj.Body); err != nil {
		out.Close()
		os.Remove(tmp)
		return fmt.Errorf("get %s: %w", key, err)
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// duckType maps a Glue column type to DuckDB's.
func duckType(glue string) string {
	switch glue {
	case "string":
		return "VARCHAR"
	case "bigint":
		return "BIGINT"
	case "int":
		return "INTEGER"
	case "double":
		return "DOUBLE"
	case "boolean":
		return "BOOLEAN"
	case "date":
		return "DATE"
	case "timestamp":
		return "TIMESTAMPTZ"
	case "map<string,string>":
		return "MAP(VARCHAR, VARCHAR)"
	}
	return "VARCHAR"
}

// view points the table's view at its files: the Glue columns, in order,
// then dt, and "$path" when withPath says so. With no file, an empty table
// of the same columns.
func (s *Server) view(t Table, files []file, withPath bool) error {
	var defs, sel []string
	for _, c := range t.Columns {
		typ := duckType(c.Type)
		defs = append(defs, fmt.Sprintf("%q %s", c.Name, typ))
		sel = append(sel, fmt.Sprintf("CAST(%q AS %s) AS %q", c.Name, typ, c.Name))
	}
	var sig strings.Builder
	if t.Format == "cloudtrail" {
		for _, f := range files {
			fmt.Fprintf(&sig, "%s %d\n", f.path, f.size)
		}
		if last, ok := s.loaded[t.Name]; ok && last == sig.String() {
			return nil
		}
	}
	var kind string
	err := s.db.QueryRow(`SELECT table_type FROM information_schema.tables WHERE table_name = ?`, t.Name).Scan(&kind)
	switch {
	case err == nil && kind == "VIEW":
		_, err = s.db.Exec(fmt.Sprintf(`DROP VIEW %q`, t.Name))
	case err == nil:
		_, err = s.db.Exec(fmt.Sprintf(`DROP TABLE %q`, t.Name))
	case errors.Is(err, sql.ErrNoRows):
		err = nil
	}
	if err != nil {
		return err
	}
	var paths []string
	for _, f := range files {
		if (t.Format == "parquet" && strings.HasSuffix(f.path, ".parquet")) || (t.Format == "json" && strings.HasSuffix(f.path, ".json")) {
			paths = append(paths, "'"+strings.ReplaceAll(filepath.ToSlash(f.path), "'", "''")+"'")
		}
	}
	// The files are the objects' keys under Dir: the key is the file name
	// after Dir and a slash.
	dir := filepath.ToSlash(filepath.Clean(s.opts.Dir))
	filename := ""
	if withPath {
		defs = append(defs, pathColumn+" VARCHAR")
		sel = append(sel, fmt.Sprintf("'s3://%s/' || substr(filename, %d) AS %s", strings.ReplaceAll(s.opts.Bucket, "'", "''"), len(dir)+2, pathColumn))
		filename = ", filename = true"
	}
	var q string
	switch {
	case t.Format == "cloudtrail":
		merged := ""
		if len(files) > 0 {
			merged = filepath.Join(s.opts.Dir, ".trail-"+t.Name+".ndjson.gz")
			if err := mergeTrail(files, merged); err != nil {
				return err
			}
		}
		q = trailView(t, merged)
	case len(paths) == 0:
		q = fmt.Sprintf(`CREATE TABLE %q (%s, dt VARCHAR)`, t.Name, strings.Join(defs, ", "))
	case t.Format == "json":
		q = fmt.Sprintf(`CREATE VIEW %q AS SELECT %s, dt FROM read_json([%s], format = 'newline_delimited', hive_partitioning = true, hive_types = {'dt': VARCHAR}, columns = {%s}%s)`,
			t.Name, strings.Join(sel, ", "), strings.Join(paths, ", "), jsonColumns(t), filename)
	default:
		q = fmt.Sprintf(`CREATE VIEW %q AS SELECT %s, dt FROM read_parquet([%s], hive_partitioning = true, hive_types = {'dt': VARCHAR}, union_by_name = true%s)`,
			t.Name, strings.Join(sel, ", "), strings.Join(paths, ", "), filename)
	}
	if _, err = s.db.Exec(q); err != nil {
		return err
	}
	if t.Format == "cloudtrail" {
		if s.loaded == nil {
			s.loaded = map[string]string{}
		}
		s.loaded[t.Name] = sig.String()
	}
	return nil
}

func jsonColumns(t Table) string {
	var cs []string
	for _, c := range t.Columns {
		typ := duckType(c.Type)
		if typ == "TIMESTAMPTZ" {
			typ = "VARCHAR" // read as text, cast in the view: JSON timestamps are RFC 3339
		}
		cs = append(cs, fmt.Sprintf("'%s': '%s'", c.Name, typ))
	}
	return strings.Join(cs, ", ")
}

var (
	dtBetween = regexp.MustCompile(`(?i)\bdt\s+BETWEEN\s+'([0-9-]{10})'\s+AND\s+'([0-9-]{10})'`)
	// dayBetween is a trail's pruning: "timestamp" BETWEEN 'YYYY/MM/DD' AND 'YYYY/MM/DD'.
	dayBetween = regexp.MustCompile(`(?i)"?\btimestamp"?\s+BETWEEN\s+'([0-9]{4})/([0-9]{2})/([0-9]{2})'\s+AND\s+'([0-9]{4})/([0-9]{2})/([0-9]{2})'`)
	dtLast     = regexp.MustCompile(`(?i)\bdt\s*>=\s*CAST\(CAST\(current_date\s*-\s*INTERVAL\s*'([0-9]+)'\s*DAY`)
	word       = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)
)

// estimateScan approximates Athena's DataScannedInBytes: the compressed
// sizes of the Parquet column chunks of the columns the query names, in
// the partitions its dt condition keeps (all of them without one). JSON
// objects count whole, as Athena reads them. Athena also reads footers and
// bills at least 10 MB per query; neither is counted here.
func estimateScan(query string, t Table, files []file, now time.Time) (int64, error) {
	first, last := "", "9999-12-31"
	if t.Format == "cloudtrail" {
		if m := dayBetween.FindStringSubmatch(query); m != nil {
			first, last = m[1]+"-"+m[2]+"-"+m[3], m[4]+"-"+m[5]+"-"+m[6]
		}
	} else if m := dtBetween.FindStringSubmatch(query); m != nil {
		first, last = m[1], m[2]
	} else if m := dtLast.FindStringSubmatch(query); m != nil {
		var days int
		fmt.Sscan(m[1], &days)
		first = now.UTC().AddDate(0, 0, -days).Format(time.DateOnly)
	}
	used := map[string]bool{}
	// SELECT * reads every column; "SELECT *, row_number() ..." in a
	// WITH clause does not: Trino prunes the columns no outer query uses.
	star := regexp.MustCompile(`(?i)SELECT\s+\*\s+FROM`).MatchString(query)
	for _, w := range word.FindAllString(query, -1) {
		used[strings.ToLower(w)] = true
	}
	var total int64
	for _, f := range files {
		if f.dt < first || f.dt > last {
			continue
		}
		if t.Format != "parquet" {
			total += f.size
			continue
		}
		if !strings.HasSuffix(f.path, ".parquet") {
			continue
		}
		n, err := columnBytes(f.path, func(col string) bool { return star || used[col] })
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// columnBytes sums the compressed sizes of the column chunks whose column
// keep accepts.
func columnBytes(path string, keep func(string) bool) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	pf, err := parquet.OpenFile(f, st.Size(), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	var n int64
	for _, rg := range pf.Metadata().RowGroups {
		for _, c := range rg.Columns {
			if name := strings.Join(c.MetaData.PathInSchema, "."); keep(strings.ToLower(name)) {
				n += c.MetaData.TotalCompressedSize
			}
		}
	}
	return n, nil
}

// ColumnBytes is estimateScan's measure for one Parquet file and a set of
// columns: the benchmarks use it to say what Athena would scan.
func ColumnBytes(path string, columns []string) (int64, error) {
	return columnBytes(path, func(c string) bool { return slices.Contains(columns, c) })
}
