package ec2fake_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/session-audit/session-audit/internal/ec2fake"
	"github.com/session-audit/session-audit/internal/stsfake"
)

func client(t *testing.T, srv *ec2fake.Server) *ec2.Client {
	t.Helper()
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return ec2.New(ec2.Options{
		Region: "eu-west-1", BaseEndpoint: aws.String(hs.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIATEST", "secret", ""),
		RetryMaxAttempts: 1,
	})
}

func instances(n int) []ec2fake.Instance {
	var out []ec2fake.Instance
	for i := range n {
		out = append(out, ec2fake.Instance{ID: fmt.Sprintf("i-%017d", i), Tags: map[string]string{"Name": fmt.Sprintf("web-%02d", i), "Env": "prod & <test>"}})
	}
	return out
}

// TestDescribeInstancesPagesByFilter: the SDK's paginator over the
// instance-id filter gets every asked instance once, with its tags (XML
// escapes included), and nothing else.
func TestDescribeInstancesPagesByFilter(t *testing.T) {
	srv := ec2fake.New()
	srv.Put(stsfake.LocalAccount, "eu-west-1", instances(23)...)
	srv.Put(stsfake.LocalAccount, "us-east-1", ec2fake.Instance{ID: "i-other"})
	c := client(t, srv)
	var ids []string
	for i := 3; i < 20; i++ {
		ids = append(ids, fmt.Sprintf("i-%017d", i))
	}
	ids = append(ids, "i-unknown")
	p := ec2.NewDescribeInstancesPaginator(c, &ec2.DescribeInstancesInput{
		Filters: []types.Filter{{Name: aws.String("instance-id"), Values: ids}}, MaxResults: aws.Int32(5),
	})
	got := map[string]map[string]string{}
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, r := range out.Reservations {
			for _, in := range r.Instances {
				tags := map[string]string{}
				for _, tg := range in.Tags {
					tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
				}
				if _, dup := got[aws.ToString(in.InstanceId)]; dup {
					t.Fatalf("%s twice", aws.ToString(in.InstanceId))
				}
				got[aws.ToString(in.InstanceId)] = tags
			}
		}
	}
	if len(got) != 17 || pages != 4 {
		t.Fatalf("%d instances in %d pages, want 17 in 4", len(got), pages)
	}
	if tags := got["i-00000000000000007"]; tags["Name"] != "web-07" || tags["Env"] != "prod & <test>" {
		t.Errorf("tags %v", tags)
	}
	for _, c := range srv.Calls() {
		if c.IDs != 18 || c.MaxResults != 5 || c.Region != "eu-west-1" {
			t.Errorf("call %+v", c)
		}
	}
}

func TestDescribeInstancesErrors(t *testing.T) {
	srv := ec2fake.New()
	srv.Put(stsfake.LocalAccount, "eu-west-1", instances(3)...)
	c := client(t, srv)
	code := func(err error) string {
		var ae smithy.APIError
		if !errors.As(err, &ae) {
			return fmt.Sprint(err)
		}
		return ae.ErrorCode()
	}
	ctx := context.Background()
	_, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-00000000000000001", "i-nope"}})
	if code(err) != "InvalidInstanceID.NotFound" {
		t.Errorf("unknown InstanceId: %v", err)
	}
	_, err = c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-00000000000000001"}, MaxResults: aws.Int32(5)})
	if code(err) != "InvalidParameterCombination" {
		t.Errorf("InstanceIds with MaxResults: %v", err)
	}
	_, err = c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(1001)})
	if code(err) != "InvalidParameterValue" {
		t.Errorf("MaxResults 1001: %v", err)
	}
	_, err = c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{NextToken: aws.String("forged")})
	if code(err) != "InvalidNextToken" {
		t.Errorf("forged token: %v", err)
	}
	for _, f := range []string{ec2fake.RequestLimitExceeded, ec2fake.UnauthorizedOperation} {
		srv.SetFault(ec2fake.Fault{Code: f})
		_, err = c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
		if code(err) != f {
			t.Errorf("fault %s answered %v", f, err)
		}
	}
	srv.SetFault(ec2fake.Fault{Code: ec2fake.RequestLimitExceeded, Account: "999999999999"})
	out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if err != nil || len(out.Reservations) != 3 {
		t.Errorf("a fault of another account reached this one: %v", err)
	}
}
