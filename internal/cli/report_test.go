//go:build cgo

package cli_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestReport is `make report` on a folder without an export: it runs the
// demo export, then the report, and prints the path of report.html.
func TestReport(t *testing.T) {
	dir := t.TempDir()
	out, stderr, code := run(t, nil, "report", "--out", dir, "--sessions", "3000")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	path := strings.TrimSpace(out)
	if !strings.HasSuffix(path, "/ssm-sessions/reports/weekly/20261116T000000Z_20261123T000000Z/report.html") {
		t.Fatalf("printed %q", out)
	}
	page, err := os.ReadFile(path)
	if err != nil || !strings.HasPrefix(string(page), "<!DOCTYPE html>") {
		t.Fatalf("report.html: %v", err)
	}
	if !strings.Contains(stderr, "running the demo export first") || !strings.Contains(stderr, "privileged") ||
		!strings.Contains(stderr, "denied") || !strings.Contains(stderr, "outside-sources") {
		t.Errorf("stderr: %s", stderr)
	}
	// The demo's emulated trail gives the CloudTrail context.
	if !strings.Contains(string(page), `data-trail="on"`) || !strings.Contains(string(page), `id="trail-denied"`) {
		t.Error("the local report has no CloudTrail context")
	}
	if _, _, code := run(t, nil, "report", "--out", dir, "--kind", "daily"); code != 2 {
		t.Errorf("--kind daily: exit %d, want 2", code)
	}
}

// TestReportOfTheLocalBucket: with AUDIT_BUCKET exported, as the README's
// real-account section says, a backfill --local writes that bucket under
// --out and report reads it; it does not run the demo export, nor ask for
// a --clean it does not take.
func TestReportOfTheLocalBucket(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"AUDIT_BUCKET": "my-audit-bucket", "AWS_REGION": "eu-west-1"}
	if _, stderr, code := run(t, env, "backfill", "--local", "--out", dir, "--last", "7", "--sessions", "700"); code != 0 {
		t.Fatalf("backfill: exit %d, %s", code, stderr)
	}
	out, stderr, code := run(t, env, "report", "--out", dir)
	if code != 0 || strings.Contains(stderr, "demo") || strings.Contains(stderr, "--clean") {
		t.Fatalf("report: exit %d, %s", code, stderr)
	}
	want := filepath.Join(dir, "buckets", "my-audit-bucket", "ssm-sessions", "reports", "weekly", "20261116T000000Z_20261123T000000Z", "report.html")
	if got := strings.TrimSpace(out); got != want {
		t.Errorf("report at %s, want %s", got, want)
	}
	if m := regexp.MustCompile(`, (\d+) sessions, `).FindStringSubmatch(stderr); m == nil || m[1] == "0" {
		t.Errorf("the report found no sessions of the backfill: %s", stderr)
	}
	// A longer period than the backfill: the days the archive lacks, in
	// one line of date ranges, on stderr and at the top of the page.
	out, stderr, code = run(t, env, "report", "--out", dir, "--from", "2026-11-01", "--to", "2026-11-23", "--exceptions", "../../docs/exceptions.example.yaml")
	const missing = "days missing from the archive: 2026-11-01 – 2026-11-18\n"
	if code != 0 || !strings.Contains(stderr, missing) {
		t.Errorf("report of 22 days: exit %d, %s; want %q", code, stderr, missing)
	}
	if page, err := os.ReadFile(strings.TrimSpace(out)); err != nil || !strings.Contains(string(page), "<strong>Days missing from the archive:</strong> 2026-11-01 – 2026-11-18 (UTC;") {
		t.Errorf("report.html does not name the days missing (%v)", err)
	}
	// --exceptions put the example file in the bucket: the report applied it.
	if page, _ := os.ReadFile(strings.TrimSpace(out)); !strings.Contains(string(page), `data-state="applied"`) || !strings.Contains(string(page), "OPS-112") {
		t.Error("report.html does not list the example exceptions file's entries")
	}
	if _, stderr, code := run(t, env, "report", "--out", dir, "--exceptions", filepath.Join(dir, "no-such.yaml")); code != 2 || !strings.Contains(stderr, "--exceptions") {
		t.Errorf("report --exceptions of a missing file: exit %d, %s; want 2 naming the flag", code, stderr)
	}
	// A bucket that holds something other than an export is named, not
	// replaced by the demo's.
	other := filepath.Join(dir, "buckets", "other-bucket", "notes")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = run(t, map[string]string{"AUDIT_BUCKET": "other-bucket"}, "report", "--out", dir)
	if code != 2 || !strings.Contains(stderr, "holds no export") {
		t.Errorf("report of a bucket without an export: exit %d, %s; want 2", code, stderr)
	}
}

// TestReportCustomPeriod: --from and --to take dates or RFC 3339 times;
// anything else is a usage error naming the format; the header gives the
// period's length in words.
func TestReportCustomPeriod(t *testing.T) {
	dir := t.TempDir()
	if _, stderr, code := run(t, nil, "demo", "--out", dir, "--sessions", "1000"); code != 0 {
		t.Fatalf("demo: exit %d, %s", code, stderr)
	}
	out, stderr, code := run(t, nil, "report", "--out", dir, "--from", "2026-11-20T00:00:00Z", "--to", "2026-11-22T10:00:00Z")
	if code != 0 {
		t.Fatalf("report --from TIME: exit %d, %s", code, stderr)
	}
	page, err := os.ReadFile(strings.TrimSpace(out))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), "(2 days 10 hours, custom)") {
		t.Errorf("the header does not say (2 days 10 hours, custom):\n%s", regexp.MustCompile(`<p id="period".*`).Find(page))
	}
	out, stderr, code = run(t, nil, "report", "--out", dir, "--from", "2026-11-20", "--to", "2026-11-22T12:00:00+02:00")
	if code != 0 || !strings.HasSuffix(strings.TrimSpace(out), "/custom/20261120T000000Z_20261122T100000Z/report.html") {
		t.Errorf("report --from DATE --to TIME+02:00: exit %d, %s %s", code, out, stderr)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--from", "2026-11-2", "--to", "2026-11-22"}, `--from "2026-11-2": want a date such as`},
		{[]string{"--from", "2026-11-20", "--to", "22 Nov"}, `--to "22 Nov"`},
		{[]string{"--from", "2026-11-20"}, "--from and --to go together"},
		{[]string{"--from", "2026-11-22", "--to", "2026-11-20"}, "is not before"},
		{[]string{"--from", "2026-11-20", "--to", "2026-11-27"}, "after now"},
	} {
		_, stderr, code := run(t, nil, append([]string{"report", "--out", dir}, tt.args...)...)
		if code != 2 || !strings.Contains(stderr, tt.want) {
			t.Errorf("report %v: exit %d, %s; want 2 and %q", tt.args, code, stderr, tt.want)
		}
	}
}

// TestReportOfAnOrganization: the report of an org --local archive has
// the coverage section and the targets not covered by itself, with no
// variable to set; org prints the command whose period covers its run.
func TestReportOfAnOrganization(t *testing.T) {
	t.Setenv("AWS_CA_BUNDLE", "")
	dir := filepath.Join(t.TempDir(), "org")
	out, stderr, code := run(t, nil, "org", "--local", "--out", dir, "--sessions", "1200")
	if code != 0 {
		t.Fatalf("org: exit %d, %s", code, stderr)
	}
	m := regexp.MustCompile(`session-audit (report .*)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("org printed no report command:\n%s", out)
	}
	args := strings.Fields(m[1])
	if want := []string{"report", "--out", dir, "--from", "2026-11-24", "--to", "2026-11-26T06:30:00Z"}; !slices.Equal(args, want) {
		t.Errorf("org printed %v, want %v", args, want)
	}
	out, stderr, code = run(t, nil, args...)
	if code != 0 {
		t.Fatalf("%v: exit %d, %s", args, code, stderr)
	}
	// 333333333333 has no reader role in three regions, 222222222222 has
	// not enabled ap-southeast-2.
	if !regexp.MustCompile(`(?m)^  not-covered\s+4$`).MatchString(stderr) {
		t.Errorf("the report does not count the 4 targets not covered:\n%s", stderr)
	}
	page, err := os.ReadFile(strings.TrimSpace(out))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), "coverage records: 8 of 12 covered in every run") {
		t.Errorf("report.html has no coverage line of 8 of 12 targets")
	}
}
