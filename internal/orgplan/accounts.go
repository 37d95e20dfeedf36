// Package orgplan is the Plan step of an organization run: it lists the
// accounts to audit (from AWS Organizations or a fixed list), removes the
// excluded ones, crosses them with the regions, and writes the exporter
// events of the run as one JSON array to S3, where the state machine's
// Distributed Map reads them (ItemReader). See docs/ARCHITECTURE.md.
package orgplan

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/smithy-go"

	"github.com/session-audit/session-audit/internal/accounts"
)

// accountRE is an AWS account id: 12 digits.
var accountRE = regexp.MustCompile(`^[0-9]{12}$`)

// ouRE is an organizational unit id, or a root id.
var ouRE = regexp.MustCompile(`^(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|r-[0-9a-z]{4,32})$`)

// ParseAccounts reads a comma-separated list of account ids (blanks
// around the commas ignored). Ids that are not 12 digits, and ids given
// twice, are an error naming them; name says which setting the list came
// from.
func ParseAccounts(name, list string) ([]string, error) {
	var ids, bad, dup []string
	seen := map[string]bool{}
	for _, f := range splitList(list) {
		switch {
		case !accountRE.MatchString(f):
			bad = append(bad, fmt.Sprintf("%q", f))
		case seen[f]:
			dup = append(dup, f)
		default:
			seen[f] = true
			ids = append(ids, f)
		}
	}
	var errs []string
	if len(bad) > 0 {
		errs = append(errs, "not 12-digit account ids: "+strings.Join(bad, ", "))
	}
	if len(dup) > 0 {
		errs = append(errs, "given twice: "+strings.Join(dup, ", "))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: %s", name, strings.Join(errs, "; "))
	}
	return ids, nil
}

// ParseOUs reads a comma-separated list of organizational unit (or root)
// ids; malformed ids are an error naming them.
func ParseOUs(name, list string) ([]string, error) {
	var ids, bad []string
	for _, f := range splitList(list) {
		if !ouRE.MatchString(f) {
			bad = append(bad, fmt.Sprintf("%q", f))
			continue
		}
		ids = append(ids, f)
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%s: not organizational unit or root ids (ou-xxxx-yyyyyyyy, r-xxxx): %s", name, strings.Join(bad, ", "))
	}
	return ids, nil
}

func splitList(list string) []string {
	var out []string
	for _, f := range strings.Split(list, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// Source lists the accounts of a run.
type Source interface {
	Accounts(ctx context.Context) ([]string, error)
}

// Fixed is a fixed list of accounts, already validated (ParseAccounts).
type Fixed []string

// Accounts returns the list.
func (f Fixed) Accounts(context.Context) ([]string, error) { return append([]string(nil), f...), nil }

// AccountsAPI is the Organizations call that lists every account.
type AccountsAPI interface {
	ListAccounts(ctx context.Context, in *organizations.ListAccountsInput, optFns ...func(*organizations.Options)) (*organizations.ListAccountsOutput, error)
}

// ChildrenAPI is the Organizations call that lists an OU's child OUs.
type ChildrenAPI interface {
	ListChildren(ctx context.Context, in *organizations.ListChildrenInput, optFns ...func(*organizations.Options)) (*organizations.ListChildrenOutput, error)
}

// ParentAccountsAPI is the Organizations call that lists the accounts
// directly under an OU.
type ParentAccountsAPI interface {
	ListAccountsForParent(ctx context.Context, in *organizations.ListAccountsForParentInput, optFns ...func(*organizations.Options)) (*organizations.ListAccountsForParentOutput, error)
}

// OUAPI is what Organization.Describe needs besides ListAccountsForParent
// to name each account's organizational units: the root, the OUs under a
// parent (with their names), and, from an OU given by id, its parents up
// to the root.
type OUAPI interface {
	ListRoots(ctx context.Context, in *organizations.ListRootsInput, optFns ...func(*organizations.Options)) (*organizations.ListRootsOutput, error)
	ListOrganizationalUnitsForParent(ctx context.Context, in *organizations.ListOrganizationalUnitsForParentInput, optFns ...func(*organizations.Options)) (*organizations.ListOrganizationalUnitsForParentOutput, error)
	ListParents(ctx context.Context, in *organizations.ListParentsInput, optFns ...func(*organizations.Options)) (*organizations.ListParentsOutput, error)
	DescribeOrganizationalUnit(ctx context.Context, in *organizations.DescribeOrganizationalUnitInput, optFns ...func(*organizations.Options)) (*organizations.DescribeOrganizationalUnitOutput, error)
}

// OrgAPI is what Organization needs: the three listing calls, and the
// OU calls of Describe.
type OrgAPI interface {
	AccountsAPI
	ChildrenAPI
	ParentAccountsAPI
	OUAPI
}

// MaxOUDepth bounds the walk up from an OU to the root: Organizations
// nests OUs at most five deep under the root.
const MaxOUDepth = 5

// Describe lists the accounts of the organization (every state), or of
// the given OUs and every OU below them, each with its name, email, status
// and OU path ("Root/Workloads/Prod"), for the accounts table. It walks
// the OU tree from the top: ListRoots, then per OU one
// ListOrganizationalUnitsForParent and one ListAccountsForParent (and their
// further pages), so its calls grow with the OUs and the accounts / 20,
// never with one call per account; an OU given by id is first named with
// ListParents and DescribeOrganizationalUnit up to the root (at most
// MaxOUDepth levels).
func (o Organization) Describe(ctx context.Context) ([]accounts.Row, error) {
	paths := map[string]string{}
	var starts []string
	if len(o.OUs) == 0 {
		p := organizations.NewListRootsPaginator(o.API, &organizations.ListRootsInput{})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				return nil, orgError("ListRoots", err)
			}
			for _, r := range out.Roots {
				paths[aws.ToString(r.Id)] = "Root"
				starts = append(starts, aws.ToString(r.Id))
			}
		}
	}
	for _, ou := range o.OUs {
		path, err := o.pathOf(ctx, ou)
		if err != nil {
			return nil, err
		}
		paths[ou] = path
		starts = append(starts, ou)
	}
	var rows []accounts.Row
	err := o.walk(ctx, starts, func(ctx context.Context, ou string) ([]string, error) {
		var ids []string
		up := organizations.NewListOrganizationalUnitsForParentPaginator(o.API, &organizations.ListOrganizationalUnitsForParentInput{ParentId: aws.String(ou)})
		for up.HasMorePages() {
			out, err := up.NextPage(ctx)
			if err != nil {
				return nil, orgError("ListOrganizationalUnitsForParent "+ou, err)
			}
			for _, c := range out.OrganizationalUnits {
				id := aws.ToString(c.Id)
				if _, ok := paths[id]; !ok {
					paths[id] = paths[ou] + "/" + aws.ToString(c.Name)
				}
				ids = append(ids, id)
			}
		}
		return ids, nil
	}, func(ou string, a types.Account) {
		state := string(a.State)
		if state == "" {
			state = string(a.Status)
		}
		rows = append(rows, accounts.Row{AccountID: aws.ToString(a.Id), Name: accounts.Text(aws.ToString(a.Name)),
			Email: accounts.Text(aws.ToString(a.Email)), Status: accounts.Text(state), OUPath: accounts.Text(paths[ou])})
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].AccountID < rows[j].AccountID })
	return rows, nil
}

// pathOf names an OU given by id from the root: its name, and its parents'
// up to the root (a root id is "Root").
func (o Organization) pathOf(ctx context.Context, ou string) (string, error) {
	path := ""
	for id, depth := ou, 0; ; depth++ {
		if strings.HasPrefix(id, "r-") {
			return "Root" + path, nil
		}
		if depth == MaxOUDepth+1 {
			return "", fmt.Errorf("organizations: %s is more than %d OUs below the root", ou, MaxOUDepth)
		}
		d, err := o.API.DescribeOrganizationalUnit(ctx, &organizations.DescribeOrganizationalUnitInput{OrganizationalUnitId: aws.String(id)})
		if err != nil {
			return "", orgError("DescribeOrganizationalUnit "+id, err)
		}
		if d.OrganizationalUnit != nil {
			path = "/" + aws.ToString(d.OrganizationalUnit.Name) + path
		}
		p, err := o.API.ListParents(ctx, &organizations.ListParentsInput{ChildId: aws.String(id)})
		if err != nil {
			return "", orgError("ListParents "+id, err)
		}
		if len(p.Parents) == 0 {
			return "", fmt.Errorf("organizations: ListParents %s answered no parent", id)
		}
		id = aws.ToString(p.Parents[0].Id)
	}
}

// Organization lists the ACTIVE accounts of an AWS Organization: all of
// them (ListAccounts), or, with OUs, those under the given organizational
// units and every OU below them (ListChildren and ListAccountsForParent,
// recursively). Suspended accounts and accounts pending closure are left
// out: their sessions can no longer be read.
type Organization struct {
	API OrgAPI
	OUs []string
}

// Accounts lists the accounts, sorted, each once.
func (o Organization) Accounts(ctx context.Context) ([]string, error) {
	seen := map[string]bool{}
	if len(o.OUs) == 0 {
		p := organizations.NewListAccountsPaginator(o.API, &organizations.ListAccountsInput{})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				return nil, orgError("ListAccounts", err)
			}
			addActive(seen, out.Accounts)
		}
		return sortedKeys(seen), nil
	}
	err := o.walk(ctx, o.OUs, func(ctx context.Context, ou string) ([]string, error) {
		var ids []string
		cp := organizations.NewListChildrenPaginator(o.API, &organizations.ListChildrenInput{ParentId: aws.String(ou), ChildType: types.ChildTypeOrganizationalUnit})
		for cp.HasMorePages() {
			out, err := cp.NextPage(ctx)
			if err != nil {
				return nil, orgError("ListChildren "+ou, err)
			}
			for _, c := range out.Children {
				ids = append(ids, aws.ToString(c.Id))
			}
		}
		return ids, nil
	}, func(_ string, a types.Account) { addActive(seen, []types.Account{a}) })
	if err != nil {
		return nil, err
	}
	return sortedKeys(seen), nil
}

// walk visits the OUs from starts and every OU below them (children lists
// an OU's child OUs), each once, breadth first, and hands each account
// directly under them to visit once, with the OU that holds it
// (ListAccountsForParent).
func (o Organization) walk(ctx context.Context, starts []string, children func(context.Context, string) ([]string, error), visit func(ou string, a types.Account)) error {
	seen := map[string]bool{}
	visited := map[string]bool{}
	queue := append([]string(nil), starts...)
	for len(queue) > 0 {
		ou := queue[0]
		queue = queue[1:]
		if visited[ou] {
			continue
		}
		visited[ou] = true
		ap := organizations.NewListAccountsForParentPaginator(o.API, &organizations.ListAccountsForParentInput{ParentId: aws.String(ou)})
		for ap.HasMorePages() {
			out, err := ap.NextPage(ctx)
			if err != nil {
				return orgError("ListAccountsForParent "+ou, err)
			}
			for _, a := range out.Accounts {
				if id := aws.ToString(a.Id); !seen[id] {
					seen[id] = true
					visit(ou, a)
				}
			}
		}
		kids, err := children(ctx, ou)
		if err != nil {
			return err
		}
		queue = append(queue, kids...)
	}
	return nil
}

// addActive keeps the ACTIVE accounts. The service reports State (new)
// and Status (deprecated); State wins when present.
func addActive(seen map[string]bool, accounts []types.Account) {
	for _, a := range accounts {
		state := string(a.State)
		if state == "" {
			state = string(a.Status)
		}
		if state == "ACTIVE" {
			seen[aws.ToString(a.Id)] = true
		}
	}
}

// ErrOrgAccessDenied marks an Organizations AccessDenied: the management
// account's listing role is missing, or does not trust this function.
var ErrOrgAccessDenied = errors.New("organizations access denied")

func orgError(call string, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "AccessDeniedException", "AccessDenied":
			return fmt.Errorf("%w: %s: %v (is the management-account role of AUDIT_ORG_ROLE_ARN deployed, and does it trust this function's role?)", ErrOrgAccessDenied, call, err)
		case "AWSOrganizationsNotInUseException":
			return fmt.Errorf("organizations %s: the account is not in an organization (use AUDIT_ACCOUNTS for a fixed list): %w", call, err)
		}
	}
	return fmt.Errorf("organizations %s: %w", call, err)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
