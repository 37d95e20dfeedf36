package outcome_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/session-audit/session-audit/internal/outcome"
	"github.com/session-audit/session-audit/internal/ssmfake"
	"github.com/session-audit/session-audit/internal/stsfake"
)

// TestRefusalsThroughTheSDK: the refusals as the real SDK clients see
// them, from the STS emulator (query protocol) and the SSM emulator (JSON
// 1.1), each answering the way AWS does.
func TestRefusalsThroughTheSDK(t *testing.T) {
	const (
		member   = "111122223333" // its role exists
		inactive = "222233334444" // deactivated STS in us-east-1
		noRole   = "333344445555"
		optIn    = "ap-southeast-5" // an opt-in region member has not enabled
	)
	stsSrv := stsfake.New()
	stsSrv.AllowRole(member, stsfake.Role{Name: "reader"})
	stsSrv.AllowRole(inactive, stsfake.Role{Name: "reader"})
	stsSrv.DeactivateRegion(inactive, "us-east-1")
	stsSrv.DisableRegion(member, optIn)
	stsHS := httptest.NewServer(stsSrv)
	defer stsHS.Close()
	ssmSrv := ssmfake.New()
	ssmSrv.DisableRegion(member, optIn)
	ssmHS := httptest.NewServer(ssmSrv)
	defer ssmHS.Close()

	base := credentials.NewStaticCredentialsProvider("AKIAEMULATOR", "secret", "")
	stsIn := func(region string, creds aws.CredentialsProvider) *sts.Client {
		return sts.New(sts.Options{Region: region, BaseEndpoint: aws.String(stsHS.URL), Credentials: creds, RetryMaxAttempts: 1})
	}
	assume := func(account string) error {
		p := stscreds.NewAssumeRoleProvider(stsIn("us-east-1", base), "arn:aws:iam::"+account+":role/reader")
		_, err := aws.NewCredentialsCache(p).Retrieve(context.Background())
		return err
	}
	memberCreds := aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsIn("us-east-1", base), "arn:aws:iam::"+member+":role/reader"))
	ctx := context.Background()
	_, stsOptIn := stsIn(optIn, memberCreds).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	ssmClient := ssm.New(ssm.Options{Region: optIn, BaseEndpoint: aws.String(ssmHS.URL), Credentials: memberCreds, RetryMaxAttempts: 1})
	_, ssmOptIn := ssmClient.DescribeSessions(ctx, &ssm.DescribeSessionsInput{State: "History"})
	deactivated, missing := assume(inactive), assume(noRole)
	// The caller's own account in a region it has not enabled.
	stsSrv.DisableRegion(stsfake.LocalAccount, "us-east-1")
	ownToken := assume(member)

	for _, tt := range []struct {
		name       string
		err        error
		code       string
		refused    outcome.Status // Refused
		roleStatus outcome.Status // RefusedRole (meant for AssumeRole errors); "" is no refusal
	}{
		{"AssumeRole, STS deactivated in the endpoint's region for the member", deactivated, "RegionDisabledException", outcome.RegionDisabled, outcome.RegionDisabled},
		{"AssumeRole of a missing role", missing, "AccessDenied", outcome.Denied, outcome.Denied},
		{"STS, query protocol, in an opt-in region the member has not enabled", stsOptIn, "InvalidClientTokenId", outcome.RegionDisabled, ""},
		{"SSM, JSON protocol, in the same region", ssmOptIn, "UnrecognizedClientException", outcome.RegionDisabled, ""},
		{"AssumeRole refusing the caller's own token", ownToken, "InvalidClientTokenId", outcome.RegionDisabled, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil {
				t.Fatal("no error")
			}
			if msg := outcome.Message(tt.err); len(msg) < len(tt.code) || msg[:len(tt.code)] != tt.code {
				t.Fatalf("error %v: message %q, want code %s", tt.err, msg, tt.code)
			}
			if st, ok := outcome.Refused(tt.err); !ok || st != tt.refused {
				t.Errorf("Refused = %q, %v; want %q", st, ok, tt.refused)
			}
			if st, ok := outcome.RefusedRole(tt.err); st != tt.roleStatus || ok != (tt.roleStatus != "") {
				t.Errorf("RefusedRole = %q, %v; want %q", st, ok, tt.roleStatus)
			}
		})
	}
}
