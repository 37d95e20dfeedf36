package stack_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// withStack resolves the template as deployed under another stack name and
// id (pseudo parameters), restoring the test account's afterwards.
func withStack(t *testing.T, name, uuid string, params map[string]string) *stack {
	t.Helper()
	oldName, oldID := pseudo["AWS::StackName"], pseudo["AWS::StackId"]
	t.Cleanup(func() { pseudo["AWS::StackName"], pseudo["AWS::StackId"] = oldName, oldID })
	pseudo["AWS::StackName"] = name
	pseudo["AWS::StackId"] = "arn:aws:cloudformation:eu-west-1:123456789012:stack/" + name + "/" + uuid
	return resolve(t, loadTemplate(t), params)
}

var (
	// workGroupName is Athena's rule for workgroup names.
	workGroupName = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,128}$`)
	// glueDatabaseName is the rule Athena puts on database names: lowercase
	// letters, digits and underscores (Glue allows 255 characters).
	glueDatabaseName = regexp.MustCompile(`^[a-z0-9_]{1,255}$`)
)

// TestNamesFitAnyStack: the workgroup's and the database's names are valid
// for every stack name CloudFormation accepts (up to 128 characters,
// capitals and hyphens), and two stacks in one account and region get
// different ones unless GlueDatabaseName names one.
func TestNamesFitAnyStack(t *testing.T) {
	long := "Audit-" + strings.Repeat("x", 122) // 128, the longest stack name
	names := map[string]bool{}
	for _, st := range []struct{ name, uuid string }{
		{"audit", "1b2c3d4e-5f60-11ef-8a9b-0a1b2c3d4e5f"},
		{long, "9f8e7d6c-5b4a-11ef-9a8b-7c6d5e4f3a2b"},
	} {
		s := withStack(t, st.name, st.uuid, defaults)
		wg := scalarString(s.props(t, "AthenaWorkGroup")["Name"])
		if !workGroupName.MatchString(wg) {
			t.Errorf("stack %.20s...: workgroup name %q (%d characters) breaks Athena's rule", st.name, wg, len(wg))
		}
		db := scalarString(asMap(s.props(t, "GlueDatabase")["DatabaseInput"])["Name"])
		if !glueDatabaseName.MatchString(db) {
			t.Errorf("stack %.20s...: database name %q breaks the naming rule", st.name, db)
		}
		for _, n := range []string{"wg:" + wg, "db:" + db} {
			if names[n] {
				t.Errorf("two stacks share the name %s", n)
			}
			names[n] = true
		}
	}
	s := withStack(t, "audit", "1b2c3d4e-5f60-11ef-8a9b-0a1b2c3d4e5f", map[string]string{"GlueDatabaseName": "corp_sessions"})
	if db := scalarString(asMap(s.props(t, "GlueDatabase")["DatabaseInput"])["Name"]); db != "corp_sessions" {
		t.Errorf("GlueDatabaseName=corp_sessions gave database %q", db)
	}
	p := asMap(asMap(loadTemplate(t)["Parameters"])["GlueDatabaseName"])
	for _, bad := range []string{"Session-Audit", "audit-db", "audit db"} {
		if checkParameter(p, bad) == nil {
			t.Errorf("GlueDatabaseName accepts %q", bad)
		}
	}
}

// TestReadmeMatchesTheTemplate: what the README says of the role's listing
// grant and of retries is what the template deploys.
func TestReadmeMatchesTheTemplate(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := strings.Join(strings.Fields(string(raw)), " ") // lines joined, as a reader reads them
	s := resolve(t, loadTemplate(t), defaults)
	policy := fmt.Sprint(s.props(t, "SessionAuditRole")["Policies"])
	for _, folder := range []string{"manifests", "sessions"} {
		if strings.Contains(policy, "ssm-sessions/"+folder+"/*") && !strings.Contains(readme, "`<prefix>/"+folder+"/*`") {
			t.Errorf("the role lets the function list %s/*, and the README does not say so", folder)
		}
	}
	retries := scalarString(asMap(s.props(t, "SessionAuditFunction")["EventInvokeConfig"])["MaximumRetryAttempts"])
	if retries == "0" && (strings.Contains(readme, "schedule's retry") && strings.Contains(readme, "catches up") && !strings.Contains(readme, "`MaximumRetryAttempts: 0`")) {
		t.Error("Lambda does not retry a failed export (MaximumRetryAttempts 0), and the README does not say so")
	}
	if retries == "0" && strings.Contains(readme, "the schedule's retry or the next run catches up") {
		t.Error("the README says the schedule's retry catches up; MaximumRetryAttempts is 0")
	}
}
