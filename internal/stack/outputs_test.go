package stack_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
)

// TestOrgOutputs: in organization mode the stack also gives what the
// organization's setup and backfills need: the state machine to start, and
// the org function's role, which the listing role trusts.
func TestOrgOutputs(t *testing.T) {
	for name, params := range map[string]map[string]string{"fixed accounts": orgFixed, "listed": orgListed} {
		s := resolve(t, loadTemplate(t), params)
		for out, want := range map[string]string{
			"OrgStateMachineArn": "{{OrgStateMachine}}", "OrgFunctionName": "{{OrgFunction}}",
			"OrgFunctionRoleArn": "{{OrgFunctionRole.Arn}}", "ExporterRoleArn": "{{SessionAuditRole.Arn}}",
		} {
			if got := scalarString(asMap(s.outputs[out])["Value"]); got != want {
				t.Errorf("%s: output %s = %q, want %q", name, out, got, want)
			}
		}
	}
}

// readmeOutput is how the README names an output of the stack: as the
// placeholder "<the stack's NAME output>" (or "<NAME output>") or in a
// describe-stacks query (OutputKey=='NAME').
var readmeOutput = regexp.MustCompile(`<(?:the stack's )?([A-Za-z0-9]+) output>|OutputKey=='([A-Za-z0-9]+)'`)

// TestReadmeNamesOnlyOutputsTheStackHas: every output the README tells a
// user to look up is one of the template's Outputs, and the README names
// the ones a deployment needs (the roles' ARNs for the member and listing
// roles' trust, the report function, the state machine).
func TestReadmeNamesOnlyOutputsTheStackHas(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	outputs := asMap(loadTemplate(t)["Outputs"])
	var named []string
	for _, m := range readmeOutput.FindAllStringSubmatch(string(readme), -1) {
		name := m[1] + m[2]
		named = append(named, name)
		if _, ok := outputs[name]; !ok {
			t.Errorf("README names the output %s, which template.yaml's Outputs lack", name)
		}
	}
	for _, want := range []string{"ExporterRoleArn", "OrgFunctionRoleArn", "ReportFunctionName", "OrgStateMachineArn"} {
		if !slices.Contains(named, want) {
			t.Errorf("README does not say where to find %s (as <the stack's %s output>)", want, want)
		}
	}
}
