package findings_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/session-audit/session-audit/internal/findings"
)

func TestFromEnvNamesTheBadVariable(t *testing.T) {
	for _, tc := range []struct{ name, value string }{
		{findings.EnvBusinessHours, "8 to 18"},
		{findings.EnvBusinessHours, "18-08"},
		{findings.EnvBusinessHours, "00-25"},
		{findings.EnvTimeZone, "Mars/Olympus"},
		{findings.EnvTimeZone, "Local"},
		{findings.EnvAllowedDocuments, "SSM-SessionManagerRunShell,bad'doc"},
		{findings.EnvAllowedDocuments, " , "},
		{findings.EnvLongSession, "four hours"},
		{findings.EnvLongSession, "30s"},
		{findings.EnvLongSession, "5400s"},   // whole hours and minutes, as the template's parameter
		{findings.EnvLongSession, "1h30m0s"}, // the same
		{findings.EnvLongSession, "0m"},
		{findings.EnvPrivilegedOwners, "%"},
		{findings.EnvPrivilegedOwners, "%x' OR 1=1 --"},
	} {
		env := map[string]string{tc.name: tc.value}
		_, err := findings.FromEnv(func(k string) string { return env[k] })
		if err == nil || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%s=%q: error %v, want one naming %s", tc.name, tc.value, err, tc.name)
		}
	}
}

func TestFromEnv(t *testing.T) {
	env := map[string]string{
		findings.EnvBusinessHours: "07-19", findings.EnvTimeZone: "Europe/Berlin",
		findings.EnvAllowedDocuments: "AWS-StartSSHSession, Corp-Shell", findings.EnvLongSession: "90m",
		findings.EnvPrivilegedOwners: "%:ROOT,%admin%",
	}
	p, err := findings.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if p.BusinessStart != 7 || p.BusinessEnd != 19 || p.TimeZone != "Europe/Berlin" || p.LongSession != 90*time.Minute ||
		strings.Join(p.AllowedDocuments, "|") != "AWS-StartSSHSession|Corp-Shell" || strings.Join(p.PrivilegedOwners, "|") != "%:root|%admin%" {
		t.Errorf("%+v", p)
	}
	sql, _ := findings.ByID("long")
	if q := sql.SQL(p, findings.Window{From: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)}); !strings.Contains(q, "duration_seconds > 90*60 + 0") ||
		!strings.Contains(q, "dt BETWEEN '2026-11-23' AND '2026-11-29'") || !strings.Contains(q, "start_date < TIMESTAMP '2026-11-30 00:00:00.000'") {
		t.Errorf("long sessions over a week:\n%s", q)
	}
	if d, _ := findings.FromEnv(func(string) string { return "" }); d.TimeZone != "UTC" || d.LongSession != 4*time.Hour {
		t.Errorf("defaults %+v", d)
	}
}

func TestWords(t *testing.T) {
	for d, w := range map[time.Duration]string{4 * time.Hour: "4h", 90 * time.Minute: "1h30m", 10 * time.Minute: "10m", 90 * time.Second: "1m30s"} {
		if g := findings.Words(d); g != w {
			t.Errorf("Words(%s) = %s, want %s", d, g, w)
		}
	}
}

func TestPrivileged(t *testing.T) {
	p := findings.Defaults()
	for owner, want := range map[string]bool{
		"arn:aws:iam::123456789012:root":                             true,
		"arn:aws:sts::123456789012:assumed-role/Break_Glass/zoe":     true,
		"arn:aws:sts::123456789012:assumed-role/break-glass-admin/x": true,
		"arn:aws:sts::123456789012:assumed-role/BreakGlass/x":        true,
		"arn:aws:iam::123456789012:user/rooted":                      false,
		"arn:aws:sts::123456789012:assumed-role/break--glass/x":      false,
		"arn:aws:iam::123456789012:user/alice":                       false,
	} {
		if got := p.Privileged(owner); got != want {
			t.Errorf("Privileged(%s) = %v, want %v", owner, got, want)
		}
	}
}

// TestTemplateIsGenerated: template.yaml's named queries are what
// `make queries` (internal/findings/gen) writes from this package; a hand
// edit of the SQL there, or a change here without `make queries`, fails.
func TestTemplateIsGenerated(t *testing.T) {
	path := filepath.Join("..", "..", "template.yaml")
	tpl, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := findings.Splice(tpl)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if !bytes.Equal(tpl, want) {
		a, b := strings.Split(string(tpl), "\n"), strings.Split(string(want), "\n")
		for i := range min(len(a), len(b)) {
			if a[i] != b[i] {
				t.Fatalf("template.yaml differs from the generator's output at line %d (run make queries):\n have %q\n want %q", i+1, a[i], b[i])
			}
		}
		t.Fatalf("template.yaml differs from the generator's output in length (run make queries): %d lines, want %d", len(a), len(b))
	}
	// Splice keeps what lies outside the markers and refuses a template
	// without them.
	if _, err := findings.Splice([]byte("Resources: {}\n")); err == nil || !strings.Contains(err.Error(), "BEGIN") {
		t.Errorf("a template without markers: %v", err)
	}
	for _, f := range findings.NamedQueries() {
		if !bytes.Contains(tpl, []byte("\n  "+f.Resource+":\n")) {
			t.Errorf("template.yaml has no resource %s", f.Resource)
		}
	}
}

// TestLongSessionSQL: the threshold's text becomes seconds as SQL
// arithmetic, whichever way it is written.
func TestLongSessionSQL(t *testing.T) {
	long, _ := findings.ByID("long")
	for text, want := range map[string]string{"4h": "4*3600 + 0", "90m": "90*60 + 0", "1h30m": "1*3600 + 30*60 + 0"} {
		p, err := findings.FromEnv(func(k string) string { return map[string]string{findings.EnvLongSession: text}[k] })
		if err != nil {
			t.Fatal(err)
		}
		if q := long.SQL(p, findings.Last30Days); !strings.Contains(q, "duration_seconds > "+want+"\n") || !strings.Contains(q, "longer than "+text+",") {
			t.Errorf("%s:\n%s", text, q)
		}
	}
	// Set in code without the text: written as Words says it.
	p := findings.Defaults()
	p.LongSession, p.LongSessionText = 150*time.Minute, ""
	if q := long.SQL(p, findings.Last30Days); !strings.Contains(q, "duration_seconds > 2*3600 + 30*60 + 0") {
		t.Errorf("2h30m:\n%s", q)
	}
}

func TestAllowedSourceCIDRs(t *testing.T) {
	for _, bad := range []string{"10.0.0.0/33", "10.0.0/8", "198.51.100.1/24", "2001:db8::/32", "office", "10.0.0.0/8,,x"} {
		env := map[string]string{findings.EnvAllowedSourceCIDRs: bad}
		if _, err := findings.FromEnv(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), findings.EnvAllowedSourceCIDRs) {
			t.Errorf("%q: error %v, want one naming %s", bad, err, findings.EnvAllowedSourceCIDRs)
		}
	}
	env := map[string]string{findings.EnvAllowedSourceCIDRs: " 198.51.100.0/24, 10.0.0.0/8 "}
	p, err := findings.FromEnv(func(k string) string { return env[k] })
	if err != nil || len(p.AllowedSourceCIDRs) != 2 {
		t.Fatalf("%v, %v", p.AllowedSourceCIDRs, err)
	}
	for src, want := range map[string]bool{
		"198.51.100.7": false, "10.20.3.4": false, "203.0.113.5": true, "198.51.101.1": true,
		"2001:db8::1": true, "ssm.amazonaws.com": false, "AWS Internal": false, "": false,
	} {
		if got := findings.Outside(p.AllowedSourceCIDRs, src); got != want {
			t.Errorf("Outside(%q) = %v, want %v", src, got, want)
		}
	}
	if d, _ := findings.FromEnv(func(string) string { return "" }); len(d.AllowedSourceCIDRs) != 0 {
		t.Errorf("default CIDRs %v", d.AllowedSourceCIDRs)
	}
}
