package config

import (
	"fmt"
	"regexp"
	"strings"
)

var (
	// roleNameRE is an IAM role name, optionally after its path
	// ("audit/session-reader"): letters, digits and +=,.@_- in each part.
	roleNameRE = regexp.MustCompile(`^([\w+=,.@-]+/)*[\w+=,.@-]{1,64}$`)
	// externalIDRE is the ExternalId of sts:AssumeRole (2-1224 characters).
	externalIDRE = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
)

// loadMember reads AUDIT_MEMBER_ROLE and AUDIT_MEMBER_EXTERNAL_ID, which let
// the function export other accounts of an organization (see
// docs/ARCHITECTURE.md, "Organizations").
func (c *Config) loadMember(getenv func(string) string) error {
	c.MemberRole = strings.TrimSpace(getenv("AUDIT_MEMBER_ROLE"))
	c.MemberExternalID = strings.TrimSpace(getenv("AUDIT_MEMBER_EXTERNAL_ID"))
	if r := c.MemberRole; r != "" {
		if strings.HasPrefix(r, "arn:") {
			return fmt.Errorf("AUDIT_MEMBER_ROLE %q is an ARN; want the role name alone (the account comes from each event)", r)
		}
		if len(r) > 512 || !roleNameRE.MatchString(r) {
			return fmt.Errorf("AUDIT_MEMBER_ROLE %q is not an IAM role name (letters, digits and +=,.@_-, at most 64, optionally after a path)", r)
		}
	}
	if x := c.MemberExternalID; x != "" {
		if c.MemberRole == "" {
			return fmt.Errorf("AUDIT_MEMBER_EXTERNAL_ID is set but AUDIT_MEMBER_ROLE is not: the external id is only sent when assuming that role")
		}
		if len(x) < 2 || len(x) > 1224 || !externalIDRE.MatchString(x) {
			return fmt.Errorf("AUDIT_MEMBER_EXTERNAL_ID is not an external id (2 to 1224 letters, digits and +=,.@:/_-)")
		}
	}
	return nil
}
