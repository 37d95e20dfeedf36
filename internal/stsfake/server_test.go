package stsfake_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/session-audit/session-audit/internal/stsfake"
)

const member = "111122223333"

func newClient(t *testing.T, srv *stsfake.Server, key string, maxAttempts int) *sts.Client {
	t.Helper()
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return sts.New(sts.Options{
		Region: "eu-west-1", BaseEndpoint: aws.String(hs.URL),
		Credentials:      credentials.NewStaticCredentialsProvider(key, "secret", ""),
		RetryMaxAttempts: maxAttempts,
	})
}

func TestAssumeRoleThroughTheSDK(t *testing.T) {
	srv := stsfake.New()
	srv.AllowRole(member, stsfake.Role{Name: "audit/reader", ExternalID: "ext-123"})
	c := newClient(t, srv, "AKIAEMULATOR", 1)
	ctx := context.Background()

	prov := stscreds.NewAssumeRoleProvider(c, "arn:aws:iam::"+member+":role/audit/reader", func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName, o.ExternalID = "session-audit", aws.String("ext-123")
	})
	creds, err := prov.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if acct, ok := stsfake.AccountOfKey(creds.AccessKeyID); !ok || acct != member {
		t.Errorf("issued key %q names account %q, %v; want %s", creds.AccessKeyID, acct, ok, member)
	}
	if !creds.CanExpire || creds.Expires.Before(time.Now().Add(14*time.Minute)) || creds.SessionToken == "" {
		t.Errorf("credentials %+v: want a session token and the default 15 minutes ahead", creds)
	}

	// GetCallerIdentity: the base credentials belong to the local account,
	// the issued ones to the member account, as the assumed role.
	out, err := c.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(out.Account) != stsfake.LocalAccount {
		t.Fatalf("base caller = %v, %v; want %s", out, err, stsfake.LocalAccount)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	assumed := sts.New(sts.Options{Region: "eu-west-1", BaseEndpoint: aws.String(hs.URL), Credentials: aws.NewCredentialsCache(prov)})
	out, err = assumed.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Account) != member || !strings.HasSuffix(aws.ToString(out.Arn), ":assumed-role/reader/session-audit") {
		t.Errorf("assumed caller = %s %s", aws.ToString(out.Account), aws.ToString(out.Arn))
	}
	if n := srv.AssumeRoleCalls(member); n < 1 {
		t.Errorf("AssumeRoleCalls = %d", n)
	}
}

func TestAssumeRoleRefusals(t *testing.T) {
	srv := stsfake.New()
	srv.AllowRole(member, stsfake.Role{Name: "reader", ExternalID: "ext-123"})
	c := newClient(t, srv, "AKIAEMULATOR", 1)
	for _, tt := range []struct {
		name, arn, session, external, code string
	}{
		{"no role in the account", "arn:aws:iam::444455556666:role/reader", "fn", "ext-123", "AccessDenied"},
		{"another role name", "arn:aws:iam::" + member + ":role/writer", "fn", "ext-123", "AccessDenied"},
		{"wrong external id", "arn:aws:iam::" + member + ":role/reader", "fn", "nope-1", "AccessDenied"},
		{"missing external id", "arn:aws:iam::" + member + ":role/reader", "fn", "", "AccessDenied"},
		{"not a role ARN", "arn:aws:iam::" + member + ":user/reader", "fn", "ext-123", "ValidationError"},
		{"bad session name", "arn:aws:iam::" + member + ":role/reader", "a b", "ext-123", "ValidationError"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := &sts.AssumeRoleInput{RoleArn: aws.String(tt.arn), RoleSessionName: aws.String(tt.session)}
			if tt.external != "" {
				in.ExternalId = aws.String(tt.external)
			}
			_, err := c.AssumeRole(context.Background(), in)
			var api smithy.APIError
			if !errors.As(err, &api) || api.ErrorCode() != tt.code {
				t.Fatalf("AssumeRole error = %v; want %s", err, tt.code)
			}
		})
	}
	_, err := c.AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + member + ":role/reader"),
		RoleSessionName: aws.String("fn"), ExternalId: aws.String("ext-123"), DurationSeconds: aws.Int32(7200)})
	if err == nil || !strings.Contains(err.Error(), "MaxSessionDuration") {
		t.Errorf("two hours on a one-hour role: %v", err)
	}
}

func TestThrottlingIsRetried(t *testing.T) {
	srv := stsfake.New()
	srv.AllowRole(member, stsfake.Role{Name: "reader"})
	srv.Throttle(2)
	c := newClient(t, srv, "AKIAEMULATOR", 5)
	_, err := c.AssumeRole(context.Background(), &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + member + ":role/reader"), RoleSessionName: aws.String("fn")})
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, c := range srv.Calls() {
		codes = append(codes, c.ErrorCode)
	}
	if strings.Join(codes, ",") != "Throttling,Throttling," {
		t.Errorf("calls answered %q; want two Throttling then success", codes)
	}
}
