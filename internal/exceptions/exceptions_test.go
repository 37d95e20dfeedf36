package exceptions_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/session-audit/session-audit/internal/exceptions"
)

var known = []string{"privileged", "after-hours", "documents"}

const good = `version: 1
exceptions:
  - finding: after-hours
    owner: "*:assumed-role/OnCall/*"
    days: [Sat, Sunday]
    ticket: CHG-1234
    reason: weekend on-call rota
    approvedBy: alice@example.com
    expires: 2026-11-28
  - finding: after-hours
    target: "i-0ABC*"
    hours: "22-06"
    reason: nightly batch host
    approvedBy: bob@example.com
    expires: 2027-01-31
  - finding: documents
    document: SSM-SessionManagerRunShell
    reason: the default shell, named
    approvedBy: bob@example.com
    expires: 2027-01-31
  - finding: privileged
    reason: blanket waiver
    approvedBy: carol@example.com
    expires: 2027-01-31
  - finding: no-such-finding
    owner: "*"
    target: i-1
    expires: 31/01/2027
`

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParseAndMatch(t *testing.T) {
	f, err := exceptions.Parse(strings.NewReader(good), known)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Entries) != 5 {
		t.Fatalf("%d entries; want 5", len(f.Entries))
	}
	invalid := f.Invalid()
	if len(invalid) != 2 || invalid[0].Line != 21 || invalid[1].Line != 25 {
		t.Fatalf("invalid entries %+v; want the blanket waiver (line 21) and the last (line 25)", invalid)
	}
	if p := strings.Join(invalid[0].Problems, "; "); !strings.Contains(p, "matches every session") {
		t.Errorf("blanket waiver problems: %s", p)
	}
	p := strings.Join(invalid[1].Problems, "; ")
	for _, want := range []string{`unknown finding "no-such-finding"`, "no ticket or reason", "no approvedBy", `expires "31/01/2027" is not a date`} {
		if !strings.Contains(p, want) {
			t.Errorf("last entry's problems %q lack %q", p, want)
		}
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	oncall := "arn:aws:sts::123456789012:assumed-role/OnCall/dave"
	for _, tt := range []struct {
		name string
		row  exceptions.Row
		want string // the label of the matching entry, "" for none
	}{
		{"on-call on a Saturday", exceptions.Row{Finding: "after-hours", Owner: oncall, Start: ts("2026-11-21T10:00:00Z")}, "CHG-1234"},
		{"on-call on Sunday in Berlin, Saturday in UTC", exceptions.Row{Finding: "after-hours", Owner: oncall, Start: ts("2026-11-21T23:30:00Z")}, "CHG-1234"},
		{"on-call on a Monday", exceptions.Row{Finding: "after-hours", Owner: oncall, Start: ts("2026-11-23T10:00:00Z")}, ""},
		{"on-call on the expiry day", exceptions.Row{Finding: "after-hours", Owner: oncall, Start: ts("2026-11-28T22:59:59Z")}, "CHG-1234"},
		{"on-call the day after expiry", exceptions.Row{Finding: "after-hours", Owner: oncall, Start: ts("2026-11-29T00:00:00Z")}, ""},
		{"another finding", exceptions.Row{Finding: "privileged", Owner: oncall, Start: ts("2026-11-21T10:00:00Z")}, ""},
		{"batch host at 23:00 Berlin, target case-insensitive", exceptions.Row{Finding: "after-hours", Target: "i-0abcdef", Start: ts("2026-11-24T22:00:00Z")}, "nightly batch host"},
		{"batch host at 05:59 Berlin", exceptions.Row{Finding: "after-hours", Target: "i-0abcdef", Start: ts("2026-11-24T04:59:00Z")}, "nightly batch host"},
		{"batch host at 06:00 Berlin", exceptions.Row{Finding: "after-hours", Target: "i-0abcdef", Start: ts("2026-11-24T05:00:00Z")}, ""},
		{"a blank document is the default shell", exceptions.Row{Finding: "documents", Target: "i-1", Start: ts("2026-11-24T05:00:00Z")}, "the default shell, named"},
		{"the blanket waiver is never applied", exceptions.Row{Finding: "privileged", Owner: "arn:aws:iam::123456789012:root", Start: ts("2026-11-24T05:00:00Z")}, ""},
	} {
		got := ""
		if e := f.Match(tt.row, berlin); e != nil {
			got = e.Label()
		}
		if got != tt.want {
			t.Errorf("%s: matched %q; want %q", tt.name, got, tt.want)
		}
	}
	if exp := f.ExpiredBy(ts("2026-12-01T00:00:00Z")); len(exp) != 1 || exp[0].Ticket != "CHG-1234" {
		t.Errorf("expired by 12-01: %+v; want the on-call entry", exp)
	}
}

func TestParseNamesTheLine(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		line       int
		msg        string
	}{
		{"not YAML", "version: 1\nexceptions:\n  - finding: [\n", 3, ""},
		{"another version", "version: 2\nexceptions: []\n", 1, "version is 2"},
		{"no version", "exceptions: []\n", 1, "version is 0"},
		{"unknown top-level field", "version: 1\nexception: []\n", 2, "exception"},
		{"misspelt field", "version: 1\nexceptions:\n  - finding: documents\n    expiry: 2027-01-01\n", 4, `unknown field "expiry"`},
		{"entry is a string", "version: 1\nexceptions:\n  - documents\n", 3, "mapping"},
		{"days not a list", "version: 1\nexceptions:\n  - finding: documents\n    days: Sat\n", 4, ""},
	} {
		_, err := exceptions.Parse(strings.NewReader(tt.body), known)
		var se *exceptions.SyntaxError
		if !errors.As(err, &se) || se.Line != tt.line || !strings.Contains(se.Error(), tt.msg) || !strings.Contains(se.Error(), "line") {
			t.Errorf("%s: error %v; want a syntax error at line %d saying %q", tt.name, err, tt.line, tt.msg)
		}
	}
	f, err := exceptions.Parse(strings.NewReader(""), known)
	if err != nil || len(f.Entries) != 0 {
		t.Errorf("empty file: %+v, %v; want no entries", f, err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(good)
	f.Add("version: 1\nexceptions:\n  - finding: documents\n    hours: 24-00\n")
	f.Fuzz(func(t *testing.T, body string) {
		file, err := exceptions.Parse(strings.NewReader(body), known)
		if err != nil {
			var se *exceptions.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a SyntaxError", err)
			}
			return
		}
		for _, e := range file.Entries {
			e.Matches(exceptions.Row{Finding: e.Finding, Start: time.Unix(0, 0)}, time.UTC)
		}
	})
}
