package stack_test

import (
	"testing"

	"github.com/session-audit/session-audit/internal/athenafake"
)

// TestAthenaEmulatorTablesAreTheTemplates: every table the Athena
// emulator serves is the stack's Glue table of that name, column for
// column (names, Glue types, order), in the same format and under the same
// prefix, so that the report's SQL meets on the emulator the types it
// meets in Athena.
func TestAthenaEmulatorTablesAreTheTemplates(t *testing.T) {
	const prefix = "audit/ssm"
	s := resolve(t, loadTemplate(t), withParam(orgFixed, "Prefix", prefix))
	glue := map[string]map[string]any{} // TableInput by table name
	for _, res := range s.resources {
		if res["Type"] == "AWS::Glue::Table" {
			in := asMap(asMap(res["Properties"])["TableInput"])
			glue[scalarString(in["Name"])] = in
		}
	}
	served := athenafake.Tables(prefix)
	if len(served) == 0 {
		t.Fatal("the emulator serves no table")
	}
	for _, tb := range served {
		in, ok := glue[tb.Name]
		if !ok {
			t.Errorf("the emulator serves %q, which template.yaml does not declare", tb.Name)
			continue
		}
		sd := asMap(in["StorageDescriptor"])
		var cols []athenafake.Column
		for _, c := range asList(sd["Columns"]) {
			cols = append(cols, athenafake.Column{Name: scalarString(asMap(c)["Name"]), Type: scalarString(asMap(c)["Type"])})
		}
		if len(cols) != len(tb.Columns) {
			t.Errorf("%s: the emulator has %d columns, the template %d", tb.Name, len(tb.Columns), len(cols))
		}
		for i := range min(len(cols), len(tb.Columns)) {
			if cols[i] != tb.Columns[i] {
				t.Errorf("%s column %d: the emulator has %s %s, the template %s %s", tb.Name, i+1, tb.Columns[i].Name, tb.Columns[i].Type, cols[i].Name, cols[i].Type)
			}
		}
		if format := scalarString(asMap(in["Parameters"])["classification"]); format != tb.Format {
			t.Errorf("%s: the emulator reads %s, the template classifies %s", tb.Name, tb.Format, format)
		}
		if loc, want := scalarString(sd["Location"]), "s3://audit-bucket/"+tb.Prefix; loc != want {
			t.Errorf("%s: the template's location %s, the emulator's prefix %s", tb.Name, loc, tb.Prefix)
		}
		parts := asList(in["PartitionKeys"])
		if len(parts) != 1 || asMap(parts[0])["Name"] != "dt" || asMap(parts[0])["Type"] != "string" {
			t.Errorf("%s: partition keys %v; the emulator serves dt as a string partition", tb.Name, parts)
		}
	}
}
