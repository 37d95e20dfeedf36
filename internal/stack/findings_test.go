package stack_test

import (
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

func indent(s string) string { return "    " + strings.ReplaceAll(s, "\n", "\n    ") }
