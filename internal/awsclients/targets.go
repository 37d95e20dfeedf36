package awsclients

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Base is what the clients of other targets are derived from: the
// configuration of the function's own clients (region, own credentials,
// retryer, HTTP client, endpoints from the environment) and per-service
// options applied on top, such as the emulators' endpoints.
type Base struct {
	Config aws.Config
	SSM    []func(*ssm.Options)
	STS    []func(*sts.Options)
	EC2    []func(*ec2.Options)
}

// Self is the invoked function, from its ARN: the partition and account it
// runs in, and its name.
type Self struct {
	Partition string
	Account   string
	Function  string
}

// ErrNoMemberRole is returned for another account when no member role is
// configured.
var ErrNoMemberRole = errors.New("AUDIT_MEMBER_ROLE is not set")

// AssumeDuration is how long assumed credentials last: an hour, the default
// MaxSessionDuration of a role, so one set outlasts the longest invocation.
const AssumeDuration = time.Hour

// RefreshBefore is how long before they expire cached credentials are
// renewed.
const RefreshBefore = 5 * time.Minute

// Targets hands out the SSM client of each export target (account, region).
// The function's own account uses the function's own credentials, whatever
// role is configured; another account's credentials come from AssumeRole
// of the member role and are cached per account, across the invocations
// of a warm function, until shortly before they expire. There is one SSM
// client per target. Targets is safe for concurrent use.
type Targets struct {
	base       Base
	own        *ssm.Client
	ownRegion  string
	role       string
	externalID string

	mu      sync.Mutex
	sts     *sts.Client
	creds   map[string]*aws.CredentialsCache // by account
	clients map[[2]string]*ssm.Client        // by account, region
	ec2s    map[[2]string]*ec2.Client        // by account, region
}

// NewTargets returns the clients of the targets derived from base. own is
// the function's own SSM client, used for its own account in ownRegion.
// role and externalID are AUDIT_MEMBER_ROLE and AUDIT_MEMBER_EXTERNAL_ID.
func NewTargets(base Base, own *ssm.Client, ownRegion, role, externalID string) *Targets {
	return &Targets{
		base: base, own: own, ownRegion: ownRegion, role: role, externalID: externalID,
		creds: map[string]*aws.CredentialsCache{}, clients: map[[2]string]*ssm.Client{}, ec2s: map[[2]string]*ec2.Client{},
	}
}

// RoleARN is the member role assumed in account.
func (t *Targets) RoleARN(self Self, account string) string {
	return fmt.Sprintf("arn:%s:iam::%s:role/%s", self.Partition, account, t.role)
}

// SSM returns the SSM client of the target (account, region) for the
// function self. For another account it makes sure credentials are at
// hand, so a refused AssumeRole is answered here, wrapped, before any call
// of the export: the error then holds the STS error (AccessDenied when the
// member role is missing or does not trust this function's role).
func (t *Targets) SSM(ctx context.Context, self Self, account, region string) (*ssm.Client, error) {
	if account == self.Account {
		if region == t.ownRegion && t.own != nil {
			return t.own, nil
		}
		return t.client(account, region, nil), nil
	}
	if t.role == "" {
		return nil, fmt.Errorf("account %s is not this function's account %s: %w; set it to the role that member accounts grant ssm:DescribeSessions to", account, self.Account, ErrNoMemberRole)
	}
	creds := t.credentials(self, account)
	if _, err := creds.Retrieve(ctx); err != nil {
		return nil, fmt.Errorf("assume %s: %w", t.RoleARN(self, account), err)
	}
	return t.client(account, region, creds), nil
}

// EC2 returns the EC2 client of the target (account, region) for the
// function self, with the same credentials as its SSM client (the member
// role's, cached per account, for another account) and the same retry
// policy (its own ratelimit.Limiter, as every client has).
func (t *Targets) EC2(ctx context.Context, self Self, account, region string) (*ec2.Client, error) {
	var creds aws.CredentialsProvider
	if account != self.Account {
		if t.role == "" {
			return nil, fmt.Errorf("account %s is not this function's account %s: %w", account, self.Account, ErrNoMemberRole)
		}
		c := t.credentials(self, account)
		if _, err := c.Retrieve(ctx); err != nil {
			return nil, fmt.Errorf("assume %s: %w", t.RoleARN(self, account), err)
		}
		creds = c
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	k := [2]string{account, region}
	if c, ok := t.ec2s[k]; ok {
		return c, nil
	}
	opts := append(append([]func(*ec2.Options){}, t.base.EC2...), func(o *ec2.Options) {
		o.Region = region
		if creds != nil {
			o.Credentials = creds
		}
	})
	c := ec2.NewFromConfig(t.base.Config, opts...)
	t.ec2s[k] = c
	return c, nil
}

// credentials returns the cached credentials of account, creating them on
// first use.
func (t *Targets) credentials(self Self, account string) *aws.CredentialsCache {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.creds[account]; ok {
		return c
	}
	if t.sts == nil {
		t.sts = sts.NewFromConfig(t.base.Config, t.base.STS...)
	}
	p := stscreds.NewAssumeRoleProvider(t.sts, t.RoleARN(self, account), func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = SessionName(self.Function)
		o.Duration = AssumeDuration
		if t.externalID != "" {
			o.ExternalID = aws.String(t.externalID)
		}
	})
	c := aws.NewCredentialsCache(p, func(o *aws.CredentialsCacheOptions) {
		o.ExpiryWindow = RefreshBefore
		o.ExpiryWindowJitterFrac = 0.5
	})
	t.creds[account] = c
	return c
}

// client returns the SSM client of (account, region), creating it on first
// use with creds (nil: the function's own).
func (t *Targets) client(account, region string, creds aws.CredentialsProvider) *ssm.Client {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := [2]string{account, region}
	if c, ok := t.clients[k]; ok {
		return c
	}
	opts := append(append([]func(*ssm.Options){}, t.base.SSM...), func(o *ssm.Options) {
		o.Region = region
		if creds != nil {
			o.Credentials = creds
		}
	})
	c := ssm.NewFromConfig(t.base.Config, opts...)
	t.clients[k] = c
	return c
}

// SessionName is the role session name that names the function in the
// member account's CloudTrail: its name, cut to the 64 characters STS
// allows ("session-audit" when unknown).
func SessionName(function string) string {
	if len(function) < 2 {
		return "session-audit"
	}
	return function[:min(len(function), 64)]
}
