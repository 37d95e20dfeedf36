package stack_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/session-audit/session-audit/internal/findings"
)

// TestNamedQueriesAreTheFindings keeps the template's named queries equal
// to internal/findings rendered with the defaults of the threshold
// parameters: the report and the saved queries are one definition.
func TestNamedQueriesAreTheFindings(t *testing.T) {
	s := resolve(t, loadTemplate(t), defaults)
	qs := namedQueries(t, s)
	p := findings.Defaults()
	for _, f := range findings.Sessions() {
		q, ok := qs[f.Resource]
		if !ok {
			t.Errorf("finding %s: no named query %s in template.yaml", f.ID, f.Resource)
			continue
		}
		want := f.SQL(p, findings.Last30Days)
		if got := scalarString(q["QueryString"]); got != want {
			t.Errorf("%s's QueryString is not internal/findings' %s; want:\n%s\n\ngot:\n%s", f.Resource, f.ID, indent(want), indent(got))
		}
		if got := scalarString(q["Name"]); got != f.Name {
			t.Errorf("%s's Name %q, want %q", f.Resource, got, f.Name)
		}
	}
}

// TestThresholdParameters: the template's threshold parameters default to
// findings.Defaults, and the report function reads each of them.
func TestThresholdParameters(t *testing.T) {
	tpl := loadTemplate(t)
	params := asMap(tpl["Parameters"])
	d := findings.Defaults()
	want := map[string]string{
		"ReportBusinessHours":    "08-18",
		"ReportTimeZone":         d.TimeZone,
		"ReportAllowedDocuments": strings.Join(d.AllowedDocuments, ","),
		"ReportLongSession":      findings.Words(d.LongSession),
		"ReportPrivilegedOwners": strings.Join(d.PrivilegedOwners, ","),
	}
	env := map[string]string{}
	vars := asMap(asMap(resolve(t, tpl, defaults).props(t, "SessionAuditReportFunction")["Environment"])["Variables"])
	for k, v := range vars {
		env[k] = scalarString(v)
	}
	got, err := findings.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("the report function's environment: %v", err)
	}
	if got.TimeZone != d.TimeZone || got.BusinessStart != d.BusinessStart || got.BusinessEnd != d.BusinessEnd ||
		got.LongSession != d.LongSession || !slices.Equal(got.AllowedDocuments, d.AllowedDocuments) ||
		!slices.Equal(got.PrivilegedOwners, d.PrivilegedOwners) {
		t.Errorf("the template's defaults give %+v, want %+v", got, d)
	}
	for name, def := range want {
		p := asMap(params[name])
		if p == nil {
			t.Errorf("no parameter %s", name)
			continue
		}
		if g := scalarString(p["Default"]); g != def {
			t.Errorf("%s defaults to %q, want %q", name, g, def)
		}
	}
}

func indent(s string) string { return "    " + strings.ReplaceAll(s, "\n", "\n    ") }
