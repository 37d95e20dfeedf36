// Package owner reads the principal ARNs that own Session Manager sessions
// (and that CloudTrail records as callers) as people: an IAM Identity
// Center session as the user and permission set, an assumed-role session
// as the session name and role, IAM users, federated users and root as
// such. It is pure: no AWS call, no I/O.
package owner

import "strings"

// Kind is what sort of principal an ARN names.
type Kind string

// The kinds of principal.
const (
	KindSSO       Kind = "sso"            // assumed-role/AWSReservedSSO_<set>_<hash>/<user>
	KindRole      Kind = "assumed-role"   // assumed-role/<role>/<session>
	KindUser      Kind = "iam-user"       // iam::<account>:user/<path/><name>
	KindRoot      Kind = "root"           // iam::<account>:root
	KindFederated Kind = "federated-user" // sts::<account>:federated-user/<name>
	KindOther     Kind = "other"          // anything else: shown as given
)

// Person is an owner ARN read as a person.
type Person struct {
	// Kind is the sort of principal.
	Kind Kind
	// Name is the person or session: the Identity Center user name (often
	// an email address), the role session name, the IAM user or federated
	// user name, "root", or the whole value for KindOther.
	Name string
	// Role is the permission set (KindSSO) or the role (KindRole); empty
	// otherwise.
	Role string
	// Account is the 12-digit account of the ARN; empty for KindOther.
	Account string
	// ARN is the value parsed, unchanged.
	ARN string
}

// ssoPrefix starts the roles IAM Identity Center creates for a permission
// set: AWSReservedSSO_<permission set>_<16 hex digits>.
const ssoPrefix = "AWSReservedSSO_"

// Parse reads an owner ARN. It never fails: a value it does not recognise
// is KindOther with the value as its Name.
func Parse(arn string) Person {
	other := Person{Kind: KindOther, Name: arn, ARN: arn}
	// arn:<partition>:<service>:<region>:<account>:<resource>
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || !partition(parts[1]) || parts[3] != "" || !account(parts[4]) {
		return other
	}
	service, acct, res := parts[2], parts[4], parts[5]
	p := Person{Account: acct, ARN: arn}
	switch {
	case service == "iam" && res == "root":
		p.Kind, p.Name = KindRoot, "root"
	case service == "iam" && strings.HasPrefix(res, "user/"):
		// user/<path/>name: the name is the last element.
		name := res[strings.LastIndexByte(res, '/')+1:]
		if name == "" {
			return other
		}
		p.Kind, p.Name = KindUser, name
	case service == "sts" && strings.HasPrefix(res, "federated-user/"):
		name := strings.TrimPrefix(res, "federated-user/")
		if name == "" || strings.Contains(name, "/") {
			return other
		}
		p.Kind, p.Name = KindFederated, name
	case service == "sts" && strings.HasPrefix(res, "assumed-role/"):
		// assumed-role/<role>/<session>: role names have no "/" (the role's
		// path is not part of the session ARN); the session name has none.
		rest := strings.TrimPrefix(res, "assumed-role/")
		role, session, ok := strings.Cut(rest, "/")
		if !ok || role == "" || session == "" || strings.Contains(session, "/") {
			return other
		}
		p.Kind, p.Name, p.Role = KindRole, session, role
		if set, ok := permissionSet(role); ok {
			p.Kind, p.Role = KindSSO, set
		}
	default:
		return other
	}
	return p
}

// permissionSet reads AWSReservedSSO_<set>_<hash>: the set may itself hold
// underscores; the hash is the last element, 16 hex digits.
func permissionSet(role string) (string, bool) {
	rest, ok := strings.CutPrefix(role, ssoPrefix)
	if !ok {
		return "", false
	}
	i := strings.LastIndexByte(rest, '_')
	if i <= 0 || !hex(rest[i+1:]) {
		return "", false
	}
	return rest[:i], true
}

func hex(s string) bool {
	if len(s) != 16 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func partition(p string) bool {
	return p == "aws" || p == "aws-cn" || p == "aws-us-gov" || strings.HasPrefix(p, "aws-iso")
}

func account(a string) bool {
	if len(a) != 12 {
		return false
	}
	for _, c := range a {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Label is how the report and the CLI show the owner:
// "erin@example.com (AdministratorAccess)", "zoe (BreakGlass)",
// "alice (IAM user)", "root (account 123456789012)",
// "bob (federated user)", or the value as given.
func (p Person) Label() string {
	switch p.Kind {
	case KindSSO, KindRole:
		return p.Name + " (" + p.Role + ")"
	case KindUser:
		return p.Name + " (IAM user)"
	case KindRoot:
		return "root (account " + p.Account + ")"
	case KindFederated:
		return p.Name + " (federated user)"
	}
	return p.Name
}

// Label parses an owner ARN and returns its label.
func Label(arn string) string { return Parse(arn).Label() }
