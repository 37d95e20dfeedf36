//go:build cgo

package cli_test

import (
	"os"
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
