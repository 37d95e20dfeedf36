package athenafake

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/session-audit/session-audit/internal/cloudtrail"
)

// glueOf turns a DuckDB type as DESCRIBE shows it into its Glue spelling.
func glueOf(duck string) string {
	s := strings.ReplaceAll(duck, "MAP(VARCHAR, VARCHAR)", "map<string,string>")
	s = strings.ReplaceAll(s, "VARCHAR", "string")
	s = regexp.MustCompile(`"?([a-z0-9_]+)"? `).ReplaceAllString(s, "$1:")
	s = strings.ReplaceAll(s, ", ", ",")
	// STRUCT(...)[] is array<struct<...>>.
	for strings.Contains(s, "STRUCT(") {
		i := strings.LastIndex(s, "STRUCT(")
		depth, j := 0, i+len("STRUCT(")
		for ; j < len(s); j++ {
			if s[j] == '(' {
				depth++
			} else if s[j] == ')' {
				if depth == 0 {
					break
				}
				depth--
			}
		}
		inner := "struct<" + s[i+len("STRUCT("):j] + ">"
		rest := s[j+1:]
		if strings.HasPrefix(rest, "[]") {
			inner, rest = "array<"+inner+">", rest[2:]
		}
		s = s[:i] + inner + rest
	}
	return s
}

// TestTrailTableTypes is the drift test: the emulator's view of a trail,
// over a real log file and with no file at all, has exactly the Glue
// table's columns and types (cloudtrail.Columns, which template.yaml's
// table is checked against), then the partitions.
func TestTrailTableTypes(t *testing.T) {
	s, err := New(Options{S3: noS3{}, Bucket: "b", Database: "db", WorkGroup: "wg", Dir: t.TempDir(), Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tbl := CloudTrailTable(cloudtrail.Location{Bucket: "b", Prefix: "AWSLogs/"})
	dir := t.TempDir()
	path := filepath.Join(dir, "123456789012", "CloudTrail", "eu-west-1", "2026", "11", "23", "123456789012_CloudTrail_eu-west-1_20261123T1005Z_abc.json.gz")
	os.MkdirAll(filepath.Dir(path), 0o755)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(`{"Records":[{"eventVersion":"1.09","eventTime":"2026-11-23T10:00:00Z","eventName":"StartSession","responseElements":null,"requestParameters":{"target":"i-1"}}]}`))
	zw.Close()
	os.WriteFile(path, buf.Bytes(), 0o644)
	rel := "123456789012/CloudTrail/eu-west-1/2026/11/23/123456789012_CloudTrail_eu-west-1_20261123T1005Z_abc.json.gz"
	for _, files := range [][]file{{{path: path, rel: rel, dt: "2026-11-23"}}, nil} {
		if err := s.view(tbl, files, false); err != nil {
			t.Fatal(err)
		}
		rows, err := s.db.Query(`SELECT column_name, column_type FROM (DESCRIBE cloudtrail)`)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var n, typ string
			rows.Scan(&n, &typ)
			got = append(got, n+" "+glueOf(typ))
		}
		rows.Close()
		var want []string
		for _, f := range cloudtrail.Columns {
			want = append(want, f.Name()+" "+f.GlueType())
		}
		want = append(want, "account string", "region string", "timestamp string")
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%d files: the view's columns\n%s\nwant\n%s", len(files), strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	// Null responseElements is NULL; an object is its JSON text.
	delete(s.loaded, tbl.Name)
	if err := s.view(tbl, []file{{path: path, rel: rel}}, false); err != nil {
		t.Fatal(err)
	}
	var resp, target, ts, acct *string
	if err := s.db.QueryRow(`SELECT responseelements, json_extract_scalar(requestparameters, '$.target'), "timestamp", account FROM cloudtrail`).Scan(&resp, &target, &ts, &acct); err != nil {
		t.Fatal(err)
	}
	if resp != nil || target == nil || *target != "i-1" || *ts != "2026/11/23" || *acct != "123456789012" {
		t.Errorf("responseelements %v, target %v, timestamp %v, account %v", resp, target, ts, acct)
	}
}

// noS3 is never called: the test points the view at local files.
type noS3 struct{ ObjectAPI }
