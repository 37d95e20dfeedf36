package awsclients_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/session-audit/session-audit/internal/awsclients"
)

func TestTargetsRoleAndOwnAccount(t *testing.T) {
	own := ssm.New(ssm.Options{Region: "us-east-1"})
	base := awsclients.Base{Config: aws.Config{Region: "us-east-1"}}
	self := awsclients.Self{Partition: "aws-cn", Account: "111122223333", Function: "fn"}
	tg := awsclients.NewTargets(base, own, "us-east-1", "audit/reader", "")
	if got := tg.RoleARN(self, "444455556666"); got != "arn:aws-cn:iam::444455556666:role/audit/reader" {
		t.Errorf("RoleARN = %s", got)
	}
	// The function's own account: its own client at home, one client per
	// other region, and no credentials to assume (no STS configured here).
	c, err := tg.SSM(context.Background(), self, self.Account, "us-east-1")
	if err != nil || c != own {
		t.Errorf("own account, own region: %p, %v; want the function's own client", c, err)
	}
	c1, err1 := tg.SSM(context.Background(), self, self.Account, "eu-west-1")
	c2, err2 := tg.SSM(context.Background(), self, self.Account, "eu-west-1")
	if err1 != nil || err2 != nil || c1 != c2 || c1 == own || c1.Options().Region != "eu-west-1" {
		t.Errorf("own account in eu-west-1: %p %p, %v %v", c1, c2, err1, err2)
	}

	noRole := awsclients.NewTargets(base, own, "us-east-1", "", "")
	if _, err := noRole.SSM(context.Background(), self, "444455556666", "us-east-1"); !errors.Is(err, awsclients.ErrNoMemberRole) {
		t.Errorf("another account without a role: %v", err)
	}
}

func TestSessionName(t *testing.T) {
	long := "f123456789012345678901234567890123456789012345678901234567890123456789"
	for in, want := range map[string]string{"": "session-audit", "a": "session-audit", "audit-exporter": "audit-exporter", long: long[:64]} {
		if got := awsclients.SessionName(in); got != want {
			t.Errorf("SessionName(%q) = %q, want %q", in, got, want)
		}
	}
}
