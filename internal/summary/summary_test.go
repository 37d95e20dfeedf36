package summary_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/session-audit/session-audit/internal/archive"
	"github.com/session-audit/session-audit/internal/summary"
)

func write(t *testing.T, path string, rows []archive.Row) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := archive.NewWriter(f)
	if err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestTiesAndCountsFirst(t *testing.T) {
	dir := t.TempDir()
	day := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	d := int64(600)
	var rows []archive.Row
	// Ten sessions of the same length and owner count: ties everywhere.
	for i := range 10 {
		rows = append(rows, archive.Row{SessionID: "s" + string(rune('a'+i)), Owner: "arn:aws:iam::1:user/u" + string(rune('a'+i%2)),
			Status: "Terminated", StartDate: day.Add(time.Duration(i%3) * time.Hour), DurationSeconds: &d})
	}
	rows = append(rows, archive.Row{SessionID: "root", Owner: "arn:aws:iam::1:root", Status: "Failed", StartDate: day})
	write(t, filepath.Join(dir, "p", "sessions", "dt=2026-11-23", "a.parquet"), rows)
	s, err := summary.Read(filepath.Join(dir, "p", "sessions"), 3)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range s.Longest {
		got = append(got, r.SessionID)
	}
	// Same duration: most recent start (hour 2: c, f, i) first, then by id.
	if strings.Join(got, ",") != "sc,sf,si" {
		t.Errorf("longest %v", got)
	}
	if len(s.ByStatus) != 2 || s.ByStatus[0] != (summary.Count{Key: "Terminated", N: 10}) || s.ByStatus[1] != (summary.Count{Key: "Failed", N: 1}) {
		t.Errorf("by status %v", s.ByStatus)
	}
	var b bytes.Buffer
	s.Print(&b)
	out := b.String()
	if i, j := strings.Index(out, "Sessions by root or break-glass roles: 1"), strings.Index(out, "root on "); i < 0 || j < i {
		t.Errorf("the count does not come before the sample:\n%s", out)
	}
}

// TestOwnersAsPeople: the CLI summary names people, not ARNs.
func TestOwnersAsPeople(t *testing.T) {
	dir := t.TempDir()
	day := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	sso := "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_AdministratorAccess_abcdef0123456789/erin@example.com"
	write(t, filepath.Join(dir, "p", "sessions", "dt=2026-11-23", "a.parquet"), []archive.Row{
		{SessionID: "erin-1", Owner: sso, Status: "Terminated", StartDate: day},
		{SessionID: "root-1", Owner: "arn:aws:iam::123456789012:root", Status: "Terminated", StartDate: day},
	})
	s, err := summary.Read(filepath.Join(dir, "p", "sessions"), 3)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	s.Print(&b)
	out := b.String()
	for _, want := range []string{"  1  erin@example.com (AdministratorAccess)\n", "root-1 on  by root (account 123456789012)"} {
		if !strings.Contains(out, want) {
			t.Errorf("the summary does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, sso) {
		t.Errorf("the summary shows the ARN:\n%s", out)
	}
}

// TestStrayCopyCountedOnce: a copy of a file beside the original holds
// every session twice; the summary counts each once, from its latest
// export, and says how many rows it left out.
func TestStrayCopyCountedOnce(t *testing.T) {
	dir := t.TempDir()
	day := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	row := func(id, status string, exported time.Time) archive.Row {
		return archive.Row{SessionID: id, AccountID: "111122223333", Region: "eu-west-1", Owner: "arn:aws:iam::111122223333:user/u",
			Status: status, StartDate: day, ExportedAt: exported}
	}
	write(t, filepath.Join(dir, "sessions", "dt=2026-11-23", "a.parquet"), []archive.Row{row("s1", "Terminated", day), row("s2", "Connected", day)})
	write(t, filepath.Join(dir, "sessions", "dt=2026-11-23", "a-copy.parquet"), []archive.Row{row("s1", "Terminated", day), row("s2", "Terminated", day.Add(time.Hour))})
	s, err := summary.Read(filepath.Join(dir, "sessions"), 3)
	if err != nil {
		t.Fatal(err)
	}
	if s.Sessions != 2 || s.Duplicates != 2 || len(s.ByStatus) != 1 || s.ByStatus[0] != (summary.Count{Key: "Terminated", N: 2}) {
		t.Errorf("sessions %d, duplicates %d, by status %v; want 2 sessions (s2 from its later export), 2 duplicate rows", s.Sessions, s.Duplicates, s.ByStatus)
	}
	var b bytes.Buffer
	s.Print(&b)
	if !strings.Contains(b.String(), "2 rows hold a session a second time") {
		t.Errorf("the summary does not say so:\n%s", b.String())
	}
}
