package cli_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestOrgLocal is `make run-org`: an organization run on the emulators
// prints the coverage table and writes the coverage file it shows.
func TestOrgLocal(t *testing.T) {
	t.Setenv("AWS_CA_BUNDLE", "")
	dir := t.TempDir()
	out, stderr, code := run(t, nil, "org", "--local", "--out", dir, "--sessions", "1200", "--concurrency", "3")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, out, stderr)
	}
	if !strings.Contains(out, "Organization run cli-20261126T063000Z at 2026-11-26T06:30:00Z: 12 targets: 8 exported, 3 denied, 1 region-disabled, 0 failed") {
		t.Errorf("summary line missing:\n%s", out)
	}
	row := regexp.MustCompile(`(?m)^(\d{12})\s+([a-z0-9-]+)\s+(exported|denied|region-disabled|failed)\s+(\d+)\s+(\d+)`)
	status := map[string]string{}
	shown := map[string]int64{}
	for _, m := range row.FindAllStringSubmatch(out, -1) {
		status[m[1]+"/"+m[2]] = m[3]
		n, _ := strconv.ParseInt(m[5], 10, 64)
		shown[m[1]+"/"+m[2]] = n
	}
	if len(status) != 12 || status["333333333333/eu-west-1"] != "denied" || status["222222222222/ap-southeast-2"] != "region-disabled" || status["123456789012/us-east-1"] != "exported" {
		t.Errorf("table statuses %v", status)
	}
	// The table is the coverage file.
	m := regexp.MustCompile(`Coverage: (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no coverage path:\n%s", out)
	}
	if want := filepath.Join(dir, "buckets", "session-audit-local", "ssm-sessions", "coverage", "dt=2026-11-26", "cli-20261126T063000Z.json"); m[1] != want {
		t.Errorf("coverage at %s, want %s", m[1], want)
	}
	f, err := os.Open(m[1])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	lines := 0
	for sc.Scan() {
		var rec struct {
			Account string `json:"account_id"`
			Region  string `json:"region"`
			Status  string `json:"status"`
			Rows    int64  `json:"rows"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		k := rec.Account + "/" + rec.Region
		if status[k] != rec.Status || shown[k] != rec.Rows {
			t.Errorf("%s: file %s/%d, table %s/%d", k, rec.Status, rec.Rows, status[k], shown[k])
		}
		if rec.Status == "exported" && rec.Rows == 0 {
			t.Errorf("%s exported no rows", k)
		}
		lines++
	}
	if lines != 12 {
		t.Errorf("coverage file has %d records, want 12", lines)
	}
}

func TestOrgFlags(t *testing.T) {
	if _, stderr, code := run(t, nil, "org", "--local", "--concurrency", "0"); code != 2 || !strings.Contains(stderr, "--concurrency") {
		t.Errorf("--concurrency 0: exit %d: %s", code, stderr)
	}
	// Against AWS, a missing AUDIT_REGIONS is named before anything runs.
	if _, stderr, code := run(t, map[string]string{"AUDIT_BUCKET": "audit-bucket", "AUDIT_ACCOUNTS": "111111111111"}, "org"); code != 1 || !strings.Contains(stderr, "AUDIT_REGIONS") {
		t.Errorf("no regions: exit %d: %s", code, stderr)
	}
}
