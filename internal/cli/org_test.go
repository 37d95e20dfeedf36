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
	"time"
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

// TestDemoAndOrgKeepApart: `make run` and `make run-org` write different
// folders, org --local defaults to its own, and an organization run is
// refused over a single-account export instead of mixing the two.
func TestDemoAndOrgKeepApart(t *testing.T) {
	makefile, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	outOf := func(target string) string {
		m := regexp.MustCompile(`(?m)^` + target + `:\n\t[^\n]*--out (\S+)`).FindSubmatch(makefile)
		if m == nil {
			t.Fatalf("the Makefile's %s target has no --out", target)
		}
		return string(m[1])
	}
	if run, org := outOf("run"), outOf("run-org"); run == org || strings.HasPrefix(run, org+"/") {
		t.Errorf("make run writes %s and make run-org %s: one archive would hold both", run, org)
	}
	if _, usage, code := run(t, nil, "org", "-h"); code != 0 || !regexp.MustCompile(`-out string\n[^\n]*\(default "out/org"\)`).MatchString(usage) {
		t.Errorf("org -h: exit %d; want --out to default to out/org:\n%s", code, usage)
	}

	dir := t.TempDir()
	if _, stderr, code := run(t, nil, "demo", "--out", dir, "--sessions", "300", "--days", "3"); code != 0 {
		t.Fatalf("demo: exit %d, %s", code, stderr)
	}
	before := countFiles(t, dir)
	_, stderr, code := run(t, nil, "org", "--local", "--out", dir, "--sessions", "300")
	if code != 2 || !strings.Contains(stderr, "single-account export") || !strings.Contains(stderr, "out/org") {
		t.Errorf("org --local over the demo's export: exit %d, %s; want 2 naming the mix and out/org", code, stderr)
	}
	if after := countFiles(t, dir); after != before {
		t.Errorf("the refused org run changed the demo's export: %d files, then %d", before, after)
	}
	// A second organization run later the same day sees the same history:
	// the same rows per target, and no slot kept from the first.
	org := filepath.Join(dir, "org")
	rows := regexp.MustCompile(`(?m)^\d{12}\s+\S+\s+\S+\s+\d+\s+\d+`)
	var tables []string
	for _, now := range []time.Time{testNow, testNow.Add(3 * time.Hour)} {
		out, stderr, code := runAt(t, now, nil, "org", "--local", "--out", org, "--sessions", "300")
		if code != 0 {
			t.Fatalf("org run at %s: exit %d, %s", now, code, stderr)
		}
		tables = append(tables, strings.Join(rows.FindAllString(out, -1), "\n"))
	}
	if tables[0] != tables[1] || tables[0] == "" {
		t.Errorf("two organization runs of one day exported different histories:\n%s\n\n%s", tables[0], tables[1])
	}
	if strings.Contains(manifests(t, org), `"kept"`) {
		t.Error("the second organization run found a different history and kept slots")
	}
}

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	if err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// manifests is every manifest under dir, concatenated.
func manifests(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	if err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(p, string(filepath.Separator)+"manifests"+string(filepath.Separator)) {
			body, err := os.ReadFile(p)
			b.Write(body)
			return err
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
