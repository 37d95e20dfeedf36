// Package orgconfig reads the org function's settings (the Plan and
// Coverage steps of an organization run) from its environment, naming the
// variable behind every bad value.
package orgconfig

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/session-audit/session-audit/internal/config"
	"github.com/session-audit/session-audit/internal/orgplan"
	"github.com/session-audit/session-audit/internal/store"
)

// Config is the validated configuration. Bucket, prefix, slot and lookback
// are the exporter's (config.Load): both functions must agree on them.
type Config struct {
	Export     config.Config
	Regions    []string // AUDIT_REGIONS
	Accounts   []string // AUDIT_ACCOUNTS: a fixed list, or
	OrgRoleARN string   // AUDIT_ORG_ROLE_ARN: the management account's listing role
	OUs        []string // AUDIT_ORG_UNITS: only these OUs (and those below), with the role
	Exclude    []string // AUDIT_EXCLUDE_ACCOUNTS
}

// roleARNRE is an IAM role ARN in any partition.
var roleARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$`)

// Load reads the configuration through getenv (os.Getenv in production).
func Load(getenv func(string) string) (Config, error) {
	exp, err := config.Load(getenv)
	if err != nil {
		return Config{}, err
	}
	c := Config{Export: exp, OrgRoleARN: strings.TrimSpace(getenv("AUDIT_ORG_ROLE_ARN"))}
	if c.Regions, err = parseRegions(getenv("AUDIT_REGIONS")); err != nil {
		return Config{}, err
	}
	if c.Accounts, err = orgplan.ParseAccounts("AUDIT_ACCOUNTS", getenv("AUDIT_ACCOUNTS")); err != nil {
		return Config{}, err
	}
	if c.OUs, err = orgplan.ParseOUs("AUDIT_ORG_UNITS", getenv("AUDIT_ORG_UNITS")); err != nil {
		return Config{}, err
	}
	if c.Exclude, err = orgplan.ParseAccounts("AUDIT_EXCLUDE_ACCOUNTS", getenv("AUDIT_EXCLUDE_ACCOUNTS")); err != nil {
		return Config{}, err
	}
	switch {
	case len(c.Accounts) > 0 && c.OrgRoleARN != "":
		return Config{}, errors.New("AUDIT_ACCOUNTS and AUDIT_ORG_ROLE_ARN are both set: audit a fixed list or the organization, not both")
	case len(c.Accounts) == 0 && c.OrgRoleARN == "":
		return Config{}, errors.New("AUDIT_ORG_ROLE_ARN (the management account's Organizations listing role) or AUDIT_ACCOUNTS (a fixed list) is required")
	case c.OrgRoleARN != "" && !roleARNRE.MatchString(c.OrgRoleARN):
		return Config{}, fmt.Errorf("AUDIT_ORG_ROLE_ARN %q is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)", c.OrgRoleARN)
	case len(c.OUs) > 0 && c.OrgRoleARN == "":
		return Config{}, errors.New("AUDIT_ORG_UNITS needs AUDIT_ORG_ROLE_ARN: organizational units are listed through Organizations")
	}
	return c, nil
}

func parseRegions(list string) ([]string, error) {
	var out, bad, dup []string
	seen := map[string]bool{}
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		switch {
		case f == "":
		case store.CheckRegion(f) != nil:
			bad = append(bad, fmt.Sprintf("%q", f))
		case seen[f]:
			dup = append(dup, f)
		default:
			seen[f] = true
			out = append(out, f)
		}
	}
	switch {
	case len(bad) > 0:
		return nil, fmt.Errorf("AUDIT_REGIONS: not region names: %s", strings.Join(bad, ", "))
	case len(dup) > 0:
		return nil, fmt.Errorf("AUDIT_REGIONS: given twice: %s", strings.Join(dup, ", "))
	case len(out) == 0:
		return nil, errors.New("AUDIT_REGIONS is empty: name at least one region to audit (comma-separated, e.g. eu-west-1,us-east-1)")
	}
	return out, nil
}
