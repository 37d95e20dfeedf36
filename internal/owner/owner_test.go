package owner_test

import (
	"strings"
	"testing"

	"github.com/session-audit/session-audit/internal/owner"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		arn, label string
		kind       owner.Kind
		name, role string
	}{
		// IAM Identity Center: the user name is often the email address.
		{"arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_AdministratorAccess_abcdef0123456789/erin@example.com",
			"erin@example.com (AdministratorAccess)", owner.KindSSO, "erin@example.com", "AdministratorAccess"},
		// A permission set whose name holds underscores.
		{"arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Read_Only_Ops_0f1e2d3c4b5a6978/jdoe",
			"jdoe (Read_Only_Ops)", owner.KindSSO, "jdoe", "Read_Only_Ops"},
		{"arn:aws-us-gov:sts::123456789012:assumed-role/AWSReservedSSO_PowerUserAccess_0F1E2D3C4B5A6978/olivia@example.com",
			"olivia@example.com (PowerUserAccess)", owner.KindSSO, "olivia@example.com", "PowerUserAccess"},
		// Not a permission set: no 16-hex suffix.
		{"arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin/zoe",
			"zoe (AWSReservedSSO_Admin)", owner.KindRole, "zoe", "AWSReservedSSO_Admin"},
		{"arn:aws:sts::123456789012:assumed-role/BreakGlass/oncall-alice",
			"oncall-alice (BreakGlass)", owner.KindRole, "oncall-alice", "BreakGlass"},
		{"arn:aws-cn:sts::123456789012:assumed-role/ops-role/i-0abcd1234ef567890",
			"i-0abcd1234ef567890 (ops-role)", owner.KindRole, "i-0abcd1234ef567890", "ops-role"},
		{"arn:aws:iam::123456789012:user/alice", "alice (IAM user)", owner.KindUser, "alice", ""},
		{"arn:aws:iam::123456789012:user/division_abc/subdivision_xyz/bob", "bob (IAM user)", owner.KindUser, "bob", ""},
		{"arn:aws:iam::123456789012:root", "root (account 123456789012)", owner.KindRoot, "root", ""},
		{"arn:aws-us-gov:iam::123456789012:root", "root (account 123456789012)", owner.KindRoot, "root", ""},
		{"arn:aws:sts::123456789012:federated-user/Bob", "Bob (federated user)", owner.KindFederated, "Bob", ""},
		// Shown as given.
		{"", "", owner.KindOther, "", ""},
		{"alice", "alice", owner.KindOther, "alice", ""},
		{"arn:aws:iam::12345:user/alice", "arn:aws:iam::12345:user/alice", owner.KindOther, "arn:aws:iam::12345:user/alice", ""},
		{"arn:aws:sts::123456789012:assumed-role/OnlyRole", "arn:aws:sts::123456789012:assumed-role/OnlyRole", owner.KindOther, "arn:aws:sts::123456789012:assumed-role/OnlyRole", ""},
		{"arn:aws:iam::123456789012:role/Admin", "arn:aws:iam::123456789012:role/Admin", owner.KindOther, "arn:aws:iam::123456789012:role/Admin", ""},
		{"arn:aws:iam::123456789012:user/", "arn:aws:iam::123456789012:user/", owner.KindOther, "arn:aws:iam::123456789012:user/", ""},
		{"arn:aws:sts:us-east-1:123456789012:assumed-role/R/s", "arn:aws:sts:us-east-1:123456789012:assumed-role/R/s", owner.KindOther, "arn:aws:sts:us-east-1:123456789012:assumed-role/R/s", ""},
	} {
		p := owner.Parse(tc.arn)
		if p.Kind != tc.kind || p.Name != tc.name || p.Role != tc.role || p.Label() != tc.label || p.ARN != tc.arn {
			t.Errorf("Parse(%q) = %+v label %q, want %s %q %q label %q", tc.arn, p, p.Label(), tc.kind, tc.name, tc.role, tc.label)
		}
		if owner.Label(tc.arn) != tc.label {
			t.Errorf("Label(%q) = %q", tc.arn, owner.Label(tc.arn))
		}
	}
}

// FuzzParse: any input parses without panic; the label is never empty for
// a non-empty input and keeps the name whole; a parsed ARN's label starts
// with its name (people first); Shorten keeps a prefix.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_AdministratorAccess_abcdef0123456789/erin@example.com",
		"arn:aws:iam::123456789012:root", "arn:aws:iam::123456789012:user/a/b/c", "arn:aws:sts::123456789012:federated-user/x",
		"arn:aws:sts::123456789012:assumed-role/R/s/t", "arn:::::", "",
	} {
		f.Add(s, 20)
	}
	f.Fuzz(func(t *testing.T, arn string, max int) {
		p := owner.Parse(arn)
		l := p.Label()
		if arn != "" && l == "" {
			t.Fatalf("empty label for %q", arn)
		}
		if !strings.HasPrefix(l, p.Name) {
			t.Fatalf("label %q does not start with the name %q", l, p.Name)
		}
		if p.Kind != owner.KindOther && (p.Account == "" || !strings.Contains(arn, p.Name)) {
			t.Fatalf("%q: %+v", arn, p)
		}
		if (p.Kind == owner.KindSSO || p.Kind == owner.KindRole) && !strings.Contains(arn, p.Role) {
			t.Fatalf("%q: role %q not in the ARN", arn, p.Role)
		}
	})
}
