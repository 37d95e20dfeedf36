package stack_test

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

// member-role.yaml: the StackSet of the member accounts, and the
// management account's listing role.

func loadMemberTemplate(t *testing.T) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "member-role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := parseCFN(raw)
	if err != nil {
		t.Fatalf("member-role.yaml: %v", err)
	}
	return tpl
}

const exporterRole = "arn:aws:iam::123456789012:role/audit-SessionAuditRole-ABCDEF"

// trust returns a role's trust statements, normalised, with
// their principals.
func trust(t *testing.T, s *stack, role string) ([]statement, []any) {
	t.Helper()
	var sts []statement
	var principals []any
	for _, raw := range asList(asMap(s.props(t, role)["AssumeRolePolicyDocument"])["Statement"]) {
		sts = append(sts, normalise(raw))
		principals = append(principals, asMap(raw)["Principal"])
	}
	return sts, principals
}

func TestMemberRoleTrustsTheExporterAlone(t *testing.T) {
	tpl := loadMemberTemplate(t)
	for _, tc := range []struct {
		name   string
		params map[string]string
		cond   map[string]map[string][]string
	}{
		{"without external id", map[string]string{"ExporterRoleArn": exporterRole}, nil},
		{"with external id", map[string]string{"ExporterRoleArn": exporterRole, "ExternalId": "org-external-1"},
			map[string]map[string][]string{"StringEquals": {"sts:ExternalId": {"org-external-1"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := resolve(t, tpl, tc.params)
			if _, ok := s.resources["OrgListRole"]; ok || len(s.resources) != 1 {
				t.Fatalf("resources %v; want the reader role alone", slices.Sorted(maps.Keys(s.resources)))
			}
			p := s.props(t, "ReaderRole")
			if p["RoleName"] != "session-audit-reader" {
				t.Errorf("RoleName %v; the stack's MemberRoleName default is session-audit-reader", p["RoleName"])
			}
			sts, principals := trust(t, s, "ReaderRole")
			want := statement{Effect: "Allow", Actions: []string{"sts:AssumeRole"}, Condition: tc.cond}
			if len(sts) != 1 || !reflect.DeepEqual(sts[0], want) {
				t.Fatalf("trust %+v, want %+v", sts, want)
			}
			if !reflect.DeepEqual(principals[0], map[string]any{"AWS": exporterRole}) {
				t.Errorf("trusted principal %v; want the exporter's role %s alone", principals[0], exporterRole)
			}
			policies := asList(p["Policies"])
			if len(policies) != 1 || p["ManagedPolicyArns"] != nil || p["PermissionsBoundary"] != nil {
				t.Fatalf("policies %v managed %v", policies, p["ManagedPolicyArns"])
			}
			var got []statement
			for _, raw := range asList(asMap(asMap(policies[0])["PolicyDocument"])["Statement"]) {
				got = append(got, normalise(raw))
			}
			only := []statement{
				{Sid: "DescribeSessions", Effect: "Allow", Actions: []string{"ssm:DescribeSessions"}, Resources: []string{"*"}},
				{Sid: "DescribeNodes", Effect: "Allow", Actions: []string{"ec2:DescribeInstances", "ssm:DescribeInstanceInformation"}, Resources: []string{"*"}},
			}
			if !reflect.DeepEqual(got, only) {
				t.Errorf("permissions %+v; want ssm:DescribeSessions, and the node snapshot's two read-only calls, alone", got)
			}
		})
	}
	// The role name the stack's exporter assumes by default is this one.
	if d := asMap(asMap(loadTemplate(t)["Parameters"])["MemberRoleName"])["Default"]; d != asMap(asMap(tpl["Parameters"])["MemberRoleName"])["Default"] {
		t.Errorf("template.yaml MemberRoleName default %v differs from member-role.yaml's", d)
	}
}

func TestOrgListRole(t *testing.T) {
	orgFn := "arn:aws:iam::123456789012:role/audit-OrgFunctionRole-ABCDEF"
	s := resolve(t, loadMemberTemplate(t), map[string]string{"ExporterRoleArn": orgFn, "CreateOrgListRole": "true"})
	if _, ok := s.resources["ReaderRole"]; ok || len(s.resources) != 1 {
		t.Fatalf("resources %v; want the listing role alone", s.resources)
	}
	sts, principals := trust(t, s, "OrgListRole")
	if len(sts) != 1 || !reflect.DeepEqual(principals[0], map[string]any{"AWS": orgFn}) || !slices.Equal(sts[0].Actions, []string{"sts:AssumeRole"}) {
		t.Errorf("trust %+v %v", sts, principals)
	}
	got := normalise(asList(asMap(asMap(asList(s.props(t, "OrgListRole")["Policies"])[0])["PolicyDocument"])["Statement"])[0])
	// Exactly the calls of orgplan.OrgAPI (TestOrgFunctionRoleIsTheCodesCalls
	// derives them from the code).
	want := statement{Sid: "ListOrganization", Effect: "Allow", Actions: []string{"organizations:DescribeOrganizationalUnit", "organizations:ListAccounts", "organizations:ListAccountsForParent",
		"organizations:ListChildren", "organizations:ListOrganizationalUnitsForParent", "organizations:ListParents", "organizations:ListRoots"}, Resources: []string{"*"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("listing permissions %+v, want %+v", got, want)
	}
}

func TestMemberRoleCfnLint(t *testing.T) {
	lint, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Skip("cfn-lint is not installed")
	}
	cmd := exec.Command(lint, "--format", "parseable", "--", "member-role.yaml")
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("cfn-lint member-role.yaml: %v\n%s", err, out)
	}
}
