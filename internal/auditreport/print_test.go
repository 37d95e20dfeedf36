package auditreport_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestPrintsToA4: headless Chromium prints report.html to an A4 PDF whose
// first page has the summary with every finding and its numbers, and no
// word of any page lies past the paper's right edge (tables wrap instead
// of running off). Skips where chromium or poppler's pdftotext is not
// installed, except in CI (CI=true), where .ci/run installs them and a
// missing one fails.
func TestPrintsToA4(t *testing.T) {
	missing := t.Skip
	if os.Getenv("CI") == "true" {
		missing = t.Fatal
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		missing("chromium is not installed (apt-get install chromium)")
	}
	if _, err := exec.LookPath("pdftotext"); err != nil {
		missing("pdftotext is not installed (apt-get install poppler-utils)")
	}
	e := newEnv(t, 3000, handmade(), nil)
	e.put(t, prefix+"/exceptions.yaml", exceptionsYAML)
	folder, objs, s := e.weekly(t)
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, objs[folder+"report.html"], 0o644); err != nil {
		t.Fatal(err)
	}
	pdf := filepath.Join(dir, "report.pdf")
	cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--no-first-run", "--user-data-dir="+filepath.Join(dir, "profile"), "--no-pdf-header-footer",
		"--print-to-pdf="+pdf, "file://"+page)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	info, err := exec.Command("pdfinfo", pdf).Output()
	if err != nil {
		t.Fatalf("pdfinfo: %v", err)
	}
	size := regexp.MustCompile(`Page size:\s+([\d.]+) x ([\d.]+) pts`).FindSubmatch(info)
	if size == nil {
		t.Fatalf("pdfinfo:\n%s", info)
	}
	w, _ := strconv.ParseFloat(string(size[1]), 64)
	h, _ := strconv.ParseFloat(string(size[2]), 64)
	if w < 594 || w > 597 || h < 841 || h > 843 {
		t.Errorf("page %.1f x %.1f pt; want A4 (595 x 842)", w, h)
	}
	first, err := exec.Command("pdftotext", "-f", "1", "-l", "1", "-layout", pdf, "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	p1 := string(first)
	if !strings.Contains(p1, "Needs attention") {
		t.Fatalf("the first page has no summary:\n%s", p1)
	}
	for _, f := range s.Findings {
		line := regexp.MustCompile(`(?m)^.*` + regexp.QuoteMeta(f.Title) + `.*$`).FindString(p1)
		want := regexp.MustCompile(fmt.Sprintf(`\s%d\s.*\(from %d\)\s+%d\s+%d\s+%s`, f.Count, f.Previous, f.Excepted, f.ToReview, regexp.QuoteMeta(f.CSV)))
		if !want.MatchString(line) {
			t.Errorf("the first page's line of %s is %q; want %d rows (from %d), %d covered, %d to review, %s", f.ID, line, f.Count, f.Previous, f.Excepted, f.ToReview, f.CSV)
		}
	}
	// Every word of every page inside the paper.
	bbox, err := exec.Command("pdftotext", "-bbox", pdf, "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	words := regexp.MustCompile(`<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)</word>`).FindAllSubmatch(bbox, -1)
	if len(words) < 1000 {
		t.Fatalf("only %d words in the PDF", len(words))
	}
	for _, m := range words {
		if x, _ := strconv.ParseFloat(string(m[2]), 64); x > w {
			t.Errorf("%q ends at %.0f pt, past the page's %.0f", m[3], x, w)
		}
	}
	// Every table printed: the findings' sections and the charts' numbers.
	all, err := exec.Command("pdftotext", pdf, "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Per account and region", "Exceptions", "CHG-100", "Completeness", "Rows in manifests", "Audit trail: Athena queries"} {
		if !strings.Contains(string(all), want) {
			t.Errorf("the PDF does not say %q", want)
		}
	}
	// The last column of a finding's table, cut off where a table runs
	// past the page: rows marked expected, with their ticket.
	if n := len(regexp.MustCompile(`expected:\s+CHG-100`).FindAll(all, -1)); n == 0 {
		t.Error("the PDF shows no row as expected: CHG-100")
	}
	for _, f := range s.Findings {
		if !strings.Contains(string(all), f.Title) {
			t.Errorf("the PDF has no section %q", f.Title)
		}
	}
	pages := regexp.MustCompile(`Pages:\s+(\d+)`).FindSubmatch(info)
	t.Logf("%s pages, %d words", pages[1], len(words))
}
