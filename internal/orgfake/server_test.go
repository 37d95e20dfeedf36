package orgfake_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/smithy-go"

	"github.com/session-audit/session-audit/internal/orgfake"
	"github.com/session-audit/session-audit/internal/ssmfake"
)

func client(t *testing.T, s *orgfake.Server) *organizations.Client {
	t.Helper()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return organizations.New(organizations.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		Retryer:      aws.NopRetryer{},
		HTTPClient:   ssmfake.HTTPClient(), // see its doc: a race of the SDK with fast local servers
	})
}

func accounts(n int, parent string) []orgfake.Account {
	out := make([]orgfake.Account, n)
	for i := range out {
		out[i] = orgfake.Account{ID: fmt.Sprintf("1000000%05d", i), Parent: parent}
	}
	return out
}

func TestListAccountsPages(t *testing.T) {
	s := orgfake.New(orgfake.WithPageSize(7), orgfake.WithAccounts(accounts(45, "")...))
	s.Add(orgfake.Account{ID: "100000000001", Status: orgfake.Suspended})
	c := client(t, s)
	var got []types.Account
	p := organizations.NewListAccountsPaginator(c, &organizations.ListAccountsInput{})
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Accounts) > 7 {
			t.Fatalf("page of %d accounts, page size 7", len(out.Accounts))
		}
		pages++
		got = append(got, out.Accounts...)
	}
	if len(got) != 45 || pages != 7 {
		t.Fatalf("got %d accounts in %d pages, want 45 in 7", len(got), pages)
	}
	if got[1].Status != types.AccountStatusSuspended || got[1].State != types.AccountStateSuspended {
		t.Fatalf("account 1: status %q state %q, want SUSPENDED", got[1].Status, got[1].State)
	}
	if got[0].JoinedTimestamp == nil || got[0].Arn == nil {
		t.Fatalf("account without JoinedTimestamp or Arn: %+v", got[0])
	}
	if n := s.Calls()["ListAccounts"]; n != 7 {
		t.Fatalf("ListAccounts calls = %d, want 7", n)
	}
	// MaxResults beyond 20 is refused, as by the service.
	_, err := c.ListAccounts(context.Background(), &organizations.ListAccountsInput{MaxResults: aws.Int32(21)})
	var invalid *types.InvalidInputException
	if !errors.As(err, &invalid) {
		t.Fatalf("MaxResults 21: err = %v, want InvalidInputException", err)
	}
}

func TestWalkOUs(t *testing.T) {
	s := orgfake.New(orgfake.WithPageSize(2))
	s.AddOU("ou-a", "")
	s.AddOU("ou-b", "ou-a")
	s.Add(accounts(3, "ou-a")...)
	s.Add(orgfake.Account{ID: "200000000000", Parent: "ou-b"}, orgfake.Account{ID: "300000000000"})
	c := client(t, s)
	ctx := context.Background()
	var ous []string
	p := organizations.NewListChildrenPaginator(c, &organizations.ListChildrenInput{ParentId: aws.String("ou-a"), ChildType: types.ChildTypeOrganizationalUnit})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range out.Children {
			ous = append(ous, *ch.Id)
		}
	}
	if fmt.Sprint(ous) != "[ou-b]" {
		t.Fatalf("children of ou-a = %v", ous)
	}
	var ids []string
	ap := organizations.NewListAccountsForParentPaginator(c, &organizations.ListAccountsForParentInput{ParentId: aws.String("ou-a")})
	for ap.HasMorePages() {
		out, err := ap.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range out.Accounts {
			ids = append(ids, *a.Id)
		}
	}
	if fmt.Sprint(ids) != "[100000000000 100000000001 100000000002]" {
		t.Fatalf("accounts of ou-a = %v", ids)
	}
	_, err := c.ListAccountsForParent(ctx, &organizations.ListAccountsForParentInput{ParentId: aws.String("ou-zzz")})
	var missing *types.ParentNotFoundException
	if !errors.As(err, &missing) {
		t.Fatalf("unknown parent: err = %v", err)
	}
	// A token of one parent is refused for another.
	out, err := c.ListAccountsForParent(ctx, &organizations.ListAccountsForParentInput{ParentId: aws.String("ou-a")})
	if err != nil || out.NextToken == nil {
		t.Fatalf("first page: %v, token %v", err, out.NextToken)
	}
	_, err = c.ListAccountsForParent(ctx, &organizations.ListAccountsForParentInput{ParentId: aws.String("ou-b"), NextToken: out.NextToken})
	var invalid *types.InvalidInputException
	if !errors.As(err, &invalid) {
		t.Fatalf("foreign token: err = %v", err)
	}
}

func TestFaults(t *testing.T) {
	s := orgfake.New(orgfake.WithAccounts(accounts(3, "")...))
	c := client(t, s)
	ctx := context.Background()
	for _, tc := range []struct {
		code   string
		target any
	}{
		{orgfake.AccessDenied, new(*types.AccessDeniedException)},
		{orgfake.NotInUse, new(*types.AWSOrganizationsNotInUseException)},
		{orgfake.TooManyRequests, new(*types.TooManyRequestsException)},
	} {
		s.SetFault(orgfake.Fault{Code: tc.code, Every: 1})
		_, err := c.ListAccounts(ctx, &organizations.ListAccountsInput{})
		if !errors.As(err, tc.target) {
			t.Fatalf("fault %s: err = %v", tc.code, err)
		}
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != tc.code {
			t.Fatalf("fault %s: code = %v", tc.code, err)
		}
	}
	// Every 2nd call of one operation only.
	s.SetFault(orgfake.Fault{Code: orgfake.TooManyRequests, Every: 2, Operation: "ListAccounts"})
	if _, err := c.ListAccounts(ctx, &organizations.ListAccountsInput{}); err != nil {
		t.Fatalf("call 1: %v", err)
	}
	if _, err := c.ListAccounts(ctx, &organizations.ListAccountsInput{}); err == nil {
		t.Fatal("call 2 should be throttled")
	}
	if _, err := c.ListChildren(ctx, &organizations.ListChildrenInput{ParentId: aws.String(s.Root()), ChildType: types.ChildTypeAccount}); err != nil {
		t.Fatalf("other operation: %v", err)
	}
}

// TestOUCalls: the calls that name OUs answer as the service does, with
// its error codes for unknown ids, and page the child OUs.
func TestOUCalls(t *testing.T) {
	s := orgfake.New(orgfake.WithPageSize(1))
	s.AddNamedOU("ou-aaaa-11111111", "Workloads", "")
	s.AddNamedOU("ou-aaaa-22222222", "Prod", "ou-aaaa-11111111")
	s.AddNamedOU("ou-aaaa-33333333", "Dev", "ou-aaaa-11111111")
	s.Add(orgfake.Account{ID: "111111111111", Parent: "ou-aaaa-22222222", Name: "prod", Email: "prod@example.org"})
	c := client(t, s)
	ctx := context.Background()
	roots, err := c.ListRoots(ctx, &organizations.ListRootsInput{})
	if err != nil || len(roots.Roots) != 1 || aws.ToString(roots.Roots[0].Id) != s.Root() || aws.ToString(roots.Roots[0].Name) != "Root" {
		t.Fatalf("ListRoots %+v %v", roots, err)
	}
	var names []string
	p := organizations.NewListOrganizationalUnitsForParentPaginator(c, &organizations.ListOrganizationalUnitsForParentInput{ParentId: aws.String("ou-aaaa-11111111")})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, ou := range out.OrganizationalUnits {
			names = append(names, aws.ToString(ou.Name))
		}
	}
	if fmt.Sprint(names) != "[Prod Dev]" {
		t.Errorf("child OUs %v", names)
	}
	parents, err := c.ListParents(ctx, &organizations.ListParentsInput{ChildId: aws.String("111111111111")})
	if err != nil || len(parents.Parents) != 1 || aws.ToString(parents.Parents[0].Id) != "ou-aaaa-22222222" || parents.Parents[0].Type != "ORGANIZATIONAL_UNIT" {
		t.Errorf("ListParents of the account %+v %v", parents, err)
	}
	parents, err = c.ListParents(ctx, &organizations.ListParentsInput{ChildId: aws.String("ou-aaaa-11111111")})
	if err != nil || aws.ToString(parents.Parents[0].Id) != s.Root() || parents.Parents[0].Type != "ROOT" {
		t.Errorf("ListParents of a top OU %+v %v", parents, err)
	}
	ou, err := c.DescribeOrganizationalUnit(ctx, &organizations.DescribeOrganizationalUnitInput{OrganizationalUnitId: aws.String("ou-aaaa-22222222")})
	if err != nil || aws.ToString(ou.OrganizationalUnit.Name) != "Prod" {
		t.Errorf("DescribeOrganizationalUnit %+v %v", ou, err)
	}
	if s.OUPath("ou-aaaa-22222222") != "Root/Workloads/Prod" || s.OUPath("") != "Root" {
		t.Errorf("OUPath %s", s.OUPath("ou-aaaa-22222222"))
	}
	for _, tc := range []struct {
		call func() error
		code string
	}{
		{func() error {
			_, err := c.DescribeOrganizationalUnit(ctx, &organizations.DescribeOrganizationalUnitInput{OrganizationalUnitId: aws.String("ou-none-00000000")})
			return err
		}, "OrganizationalUnitNotFoundException"},
		{func() error {
			_, err := c.ListParents(ctx, &organizations.ListParentsInput{ChildId: aws.String("999999999999")})
			return err
		}, "ChildNotFoundException"},
		{func() error {
			_, err := c.ListOrganizationalUnitsForParent(ctx, &organizations.ListOrganizationalUnitsForParentInput{ParentId: aws.String("ou-none-00000000")})
			return err
		}, "ParentNotFoundException"},
	} {
		var ae smithy.APIError
		if err := tc.call(); !errors.As(err, &ae) || ae.ErrorCode() != tc.code {
			t.Errorf("error %v, want %s", err, tc.code)
		}
	}
	accts, err := c.ListAccountsForParent(ctx, &organizations.ListAccountsForParentInput{ParentId: aws.String("ou-aaaa-22222222")})
	if err != nil || len(accts.Accounts) != 1 || aws.ToString(accts.Accounts[0].Email) != "prod@example.org" || aws.ToString(accts.Accounts[0].Name) != "prod" {
		t.Errorf("named account %+v %v", accts, err)
	}
}
