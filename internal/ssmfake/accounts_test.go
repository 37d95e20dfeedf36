package ssmfake_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/session-audit/session-audit/internal/ssmfake"
	"github.com/session-audit/session-audit/internal/stsfake"
)

// TestTargets serves each account and region its own sessions: the account
// from credentials the STS emulator issued, the region from the signature.
func TestTargets(t *testing.T) {
	const member = "111122223333"
	srv := ssmfake.New(ssmfake.WithSessions([]types.Session{session("local-0", t0, types.SessionStatusTerminated)}))
	srv.Target(member, "eu-west-1").Put(session("member-eu-0", t0, types.SessionStatusTerminated))
	srv.Target(member, "us-east-1").Put(session("member-us-0", t0, types.SessionStatusTerminated))
	srv.Target(stsfake.LocalAccount, "eu-west-3").Put(session("local-eu3-0", t0, types.SessionStatusTerminated))
	srv.DisableRegion(member, "ap-southeast-2")
	srv.DenyAccount("444455556666")

	stsSrv := stsfake.New()
	stsSrv.AllowRole(member, stsfake.Role{Name: "reader"})
	stsSrv.AllowRole("444455556666", stsfake.Role{Name: "reader"})
	stsHS := httptest.NewServer(stsSrv)
	defer stsHS.Close()
	base := credentials.NewStaticCredentialsProvider("AKIAEMULATOR", "secret", "")
	stsClient := func() *sts.Client {
		return sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(stsHS.URL), Credentials: base})
	}
	assumed := func(account string) aws.CredentialsProvider {
		return aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsClient(), "arn:aws:iam::"+account+":role/reader"))
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	ids := func(creds aws.CredentialsProvider, region string) ([]string, error) {
		c := newClient(hs.URL, func(o *ssm.Options) { o.Credentials, o.Region = creds, region })
		res, err := pageAll(context.Background(), c, ssm.DescribeSessionsInput{State: types.SessionStateHistory}, 10)
		return res.ids(), err
	}
	for _, tt := range []struct {
		name   string
		creds  aws.CredentialsProvider
		region string
		want   string // the one session served; "" none
		code   string // the error answered
	}{
		{"base credentials: the local account in any region", base, "us-east-1", "local-0", ""},
		{"the local account's own region target", base, "eu-west-3", "local-eu3-0", ""},
		{"member in eu-west-1", assumed(member), "eu-west-1", "member-eu-0", ""},
		{"member in us-east-1", assumed(member), "us-east-1", "member-us-0", ""},
		{"member in a region without sessions", assumed(member), "eu-central-1", "", ""},
		{"member in a disabled region", assumed(member), "ap-southeast-2", "", "UnrecognizedClientException"},
		{"account whose role may not DescribeSessions", assumed("444455556666"), "us-east-1", "", "AccessDeniedException"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ids(tt.creds, tt.region)
			if tt.code != "" {
				var api smithy.APIError
				if !errors.As(err, &api) || api.ErrorCode() != tt.code {
					t.Fatalf("error = %v; want %s", err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (tt.want == "" && len(got) != 0) || (tt.want != "" && (len(got) != 1 || got[0] != tt.want)) {
				t.Errorf("served %v; want [%s]", got, tt.want)
			}
		})
	}
	last := srv.Calls()[len(srv.Calls())-1]
	if last.Account != "444455556666" || last.Region != "us-east-1" || last.ErrorCode != "AccessDeniedException" {
		t.Errorf("last call recorded as %+v", last)
	}
	if got := srv.Target(member, "eu-west-1").Sessions("History"); len(got) != 1 || aws.ToString(got[0].SessionId) != "member-eu-0" {
		t.Errorf("Target.Sessions = %v", got)
	}
	if got := srv.Sessions("History"); len(got) != 1 || aws.ToString(got[0].SessionId) != "local-0" {
		t.Errorf("Server.Sessions (the local account's) = %v", got)
	}
}
