package lambdarun

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/ssmfake"
)

// TestSlotLengthPerDayThroughRIE: the built bootstrap, restarted with
// another AUDIT_SLOT as a stack update would, keeps each day on the slot
// length of its first export: 24h then 12h on one day, 12h then 24h on
// the next, then 6h over both. DuckDB then counts each session once.
func TestSlotLengthPerDayThroughRIE(t *testing.T) {
	b := binaries(t)
	// Days that ended well before now, inside the History horizon, so the
	// real clock (the bootstrap has no other) cannot move them.
	d1 := time.Now().UTC().Truncate(day).Add(-4 * day)
	d2 := d1.Add(day)
	ss := ssmfake.Generate(20261204, d1.Add(-6*time.Hour), d2.Add(day+6*time.Hour), 2000)
	emu, err := emulators.Start(emulators.Options{Bucket: "session-audit-local", SSM: ssmfake.New(ssmfake.WithSessions(ss))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })

	function := func(slot string) *rie {
		env := isolatedEnv(t.TempDir())
		maps.Copy(env, emu.Env())
		maps.Copy(env, map[string]string{
			"AWS_LAMBDA_FUNCTION_NAME": functionName, "AWS_LAMBDA_FUNCTION_TIMEOUT": "60",
			"AWS_LAMBDA_LOG_FORMAT": "JSON", "AUDIT_SLOT": slot, "AUDIT_LOOKBACK": "24h",
		})
		return startRIE(t, b, env)
	}
	backfill := func(r *rie, from, to time.Time) []string {
		t.Helper()
		status, body := r.invoke(t, fmt.Appendf(nil, `{"start":%q,"end":%q}`, from.Format(time.RFC3339), to.Format(time.RFC3339)))
		var a answer
		if err := json.Unmarshal(body, &a); err != nil || status != 200 || a.ErrorMessage != "" {
			t.Fatalf("backfill %s..%s: status %d %s", from, to, status, body)
		}
		var got []string
		for _, s := range a.Slots {
			got = append(got, s.Start.Format("02T15")+"+"+s.End.Sub(s.Start).String())
		}
		return got
	}
	day1, day2 := d1.Format("02"), d2.Format("02")
	check := func(what string, got []string, want ...string) {
		t.Helper()
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("%s exported %v; want %v", what, got, want)
		}
	}

	r24 := function("24h")
	check("24h on day one", backfill(r24, d1, d2), day1+"T00+24h0m0s")
	r12 := function("12h")
	check("12h on day one", backfill(r12, d1, d1.Add(12*time.Hour)), day1+"T00+24h0m0s")
	check("12h on day two", backfill(r12, d2, d2.Add(day)), day2+"T00+12h0m0s", day2+"T12+12h0m0s")
	check("24h on day two", backfill(r24, d2, d2.Add(day)), day2+"T00+12h0m0s", day2+"T12+12h0m0s")
	r6 := function("6h")
	check("6h over both", backfill(r6, d1, d2.Add(day)), day1+"T00+24h0m0s", day2+"T00+12h0m0s", day2+"T12+12h0m0s")

	// DuckDB over the downloaded objects counts every session once.
	dir := t.TempDir()
	var objects int
	for key := range listing(t, emu) {
		if !strings.HasSuffix(key, ".parquet") {
			continue
		}
		objects++
		out, err := emu.Clients().S3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(emu.Bucket), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if objects != 3 {
		t.Fatalf("%d Parquet objects; want 3 (day one's 24h, day two's two 12h)", objects)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows, distinct int
	q := fmt.Sprintf(`SELECT count(*), count(DISTINCT session_id) FROM read_parquet('%s/**/*.parquet', hive_partitioning=true)`, dir)
	if err := db.QueryRow(q).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, s := range emu.SSM.Sessions("History") {
		if !s.StartDate.Before(d1) && s.StartDate.Before(d2.Add(day)) {
			want++
		}
	}
	if rows != distinct || rows != want {
		t.Fatalf("the table has %d rows and %d distinct ids; want %d sessions, each once", rows, distinct, want)
	}
	for _, r := range []*rie{r12, r6} {
		if !strings.Contains(r.stdout.String(), `"message":"day exported on the slot length its first export fixed, not AUDIT_SLOT"`) {
			t.Errorf("the function did not log the day it moved:\n%s", r.stdout)
		}
	}
}
