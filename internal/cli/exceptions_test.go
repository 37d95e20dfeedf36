package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExceptionsCheck(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", `version: 1
exceptions:
  - finding: after-hours
    owner: "*:assumed-role/OnCall/*"
    ticket: CHG-1
    approvedBy: alice@example.com
    expires: 2026-11-01
`)
	bad := write("bad.yaml", `version: 1
exceptions:
  - finding: after-hours
    owner: "*/oncall-*"
    ticket: CHG-1
    approvedBy: alice@example.com
    expires: 2027-01-01
  - finding: aftrehours
    owner: x
    ticket: CHG-2
    expires: 2027-01-01
`)
	broken := write("broken.yaml", "version: 1\nexceptions:\n  - finding: after-hours\n    expiry: 2027-01-01\n")
	for _, tt := range []struct {
		args   []string
		code   int
		stdout []string
	}{
		{[]string{"exceptions", "check", good}, 0, []string{good + ":3: expired on 2026-11-01"}},
		{[]string{"exceptions", "check", bad}, 1, []string{bad + `:8: unknown finding "aftrehours"`, bad + ":8: no approvedBy (never applied)"}},
		{[]string{"exceptions", "check", broken}, 1, []string{broken + `:4: unknown field "expiry"`}},
		{[]string{"exceptions", "check", filepath.Join(dir, "missing.yaml")}, 2, nil},
		{[]string{"exceptions", "lint", good}, 2, nil},
	} {
		out, stderr, code := run(t, nil, tt.args...)
		if code != tt.code {
			t.Errorf("%v: exit %d; want %d\n%s%s", tt.args, code, tt.code, out, stderr)
		}
		for _, want := range tt.stdout {
			if !strings.Contains(out, want) {
				t.Errorf("%v: stdout lacks %q:\n%s", tt.args, want, out)
			}
		}
	}
}
