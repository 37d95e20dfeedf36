package ssmfake_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/session-audit/session-audit/internal/ssmfake"
	"github.com/session-audit/session-audit/internal/stsfake"
)

// TestDescribeInstanceInformationPages: the SDK's paginator gets every node
// of the account once, MaxResults at a time, with what was stored.
func TestDescribeInstanceInformationPages(t *testing.T) {
	ss := ssmfake.Generate(7, t0.AddDate(0, 0, -3), t0, 400)
	nodes := ssmfake.NodesFor(7, ss)
	srv := ssmfake.New()
	srv.PutNodes(stsfake.LocalAccount, "", nodes...)
	c := serve(t, srv)
	p := ssm.NewDescribeInstanceInformationPaginator(c, &ssm.DescribeInstanceInformationInput{MaxResults: aws.Int32(7)})
	got := map[string]types.InstanceInformation{}
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(out.InstanceInformationList) > 7 {
			t.Fatalf("page of %d", len(out.InstanceInformationList))
		}
		for _, ii := range out.InstanceInformationList {
			got[aws.ToString(ii.InstanceId)] = ii
		}
	}
	if len(got) != len(nodes) || pages != (len(nodes)+6)/7 {
		t.Fatalf("%d nodes in %d pages; stored %d", len(got), pages, len(nodes))
	}
	targets := map[string]bool{}
	for _, s := range ss {
		targets[aws.ToString(s.Target)] = true
	}
	var managed int
	for _, n := range nodes {
		if !targets[n.ID] {
			t.Errorf("node %s is no session's target", n.ID)
		}
		ii := got[n.ID]
		if string(ii.ResourceType) != n.ResourceType || aws.ToString(ii.ComputerName) != n.ComputerName ||
			aws.ToString(ii.IPAddress) != n.IPAddress || string(ii.PlatformType) != n.PlatformType || aws.ToString(ii.PlatformName) != n.PlatformName {
			t.Errorf("node %s answered %+v, stored %+v", n.ID, ii, n)
		}
		if strings.HasPrefix(n.ID, "mi-") {
			managed++
			if n.ResourceType != ssmfake.ResourceManagedInstance || aws.ToString(ii.Name) != n.Name || n.Tags != nil {
				t.Errorf("managed instance %+v answered name %q", n, aws.ToString(ii.Name))
			}
		} else if n.Tags["Name"] == "" || n.ResourceType != ssmfake.ResourceEC2Instance {
			t.Errorf("instance %+v has no Name tag", n)
		}
	}
	if managed == 0 || managed == len(nodes) {
		t.Errorf("%d of %d nodes are managed instances; want some of each", managed, len(nodes))
	}
}

func TestDescribeInstanceInformationErrors(t *testing.T) {
	srv := ssmfake.New()
	srv.PutNodes(stsfake.LocalAccount, "", ssmfake.GenerateNodes(1, []string{"i-0a", "i-0b", "mi-0c"})...)
	c := serve(t, srv)
	ctx := context.Background()
	code := func(err error) string {
		var ae smithy.APIError
		if errors.As(err, &ae) {
			return ae.ErrorCode()
		}
		return fmt.Sprint(err)
	}
	if _, err := c.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{MaxResults: aws.Int32(51)}); code(err) != "ValidationException" {
		t.Errorf("MaxResults 51: %v", err)
	}
	if _, err := c.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{NextToken: aws.String("forged")}); code(err) != "InvalidNextToken" {
		t.Errorf("forged token: %v", err)
	}
	for _, f := range []string{"ThrottlingException", "AccessDeniedException"} {
		srv.SetNodeFault(f)
		if _, err := c.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{}); code(err) != f {
			t.Errorf("fault %s answered %v", f, err)
		}
		// DescribeSessions is not affected.
		if _, err := c.DescribeSessions(ctx, &ssm.DescribeSessionsInput{State: types.SessionStateHistory}); err != nil {
			t.Errorf("DescribeSessions under node fault %s: %v", f, err)
		}
	}
	srv.SetNodeFault("")
	out, err := c.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{})
	if err != nil || len(out.InstanceInformationList) != 3 {
		t.Fatalf("%v %v", out, err)
	}
	if n := len(srv.Nodes("999999999999", "us-east-1")); n != 0 {
		t.Errorf("another account sees %d local nodes", n)
	}
}
