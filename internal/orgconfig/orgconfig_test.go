package orgconfig_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/session-audit/session-audit/internal/orgconfig"
)

func env(m map[string]string) func(string) string {
	base := map[string]string{"AUDIT_BUCKET": "audit", "AUDIT_REGIONS": "eu-west-1, us-east-1", "AUDIT_ACCOUNTS": "111111111111,222222222222"}
	for k, v := range m {
		base[k] = v
	}
	return func(k string) string { return base[k] }
}

func TestLoad(t *testing.T) {
	c, err := orgconfig.Load(env(map[string]string{"AUDIT_EXCLUDE_ACCOUNTS": "222222222222"}))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(c.Regions, c.Accounts, c.Exclude) != "[eu-west-1 us-east-1] [111111111111 222222222222] [222222222222]" || c.Export.Prefix != "ssm-sessions" {
		t.Fatalf("%+v", c)
	}
	c, err = orgconfig.Load(env(map[string]string{"AUDIT_ACCOUNTS": "", "AUDIT_ORG_ROLE_ARN": "arn:aws:iam::999999999999:role/org-list", "AUDIT_ORG_UNITS": "ou-ab12-abcdefgh"}))
	if err != nil || c.OrgRoleARN == "" || len(c.OUs) != 1 {
		t.Fatalf("%+v %v", c, err)
	}
}

func TestLoadNamesTheVariable(t *testing.T) {
	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"no bucket":       {map[string]string{"AUDIT_BUCKET": ""}, "AUDIT_BUCKET"},
		"empty regions":   {map[string]string{"AUDIT_REGIONS": " , "}, "AUDIT_REGIONS is empty"},
		"bad region":      {map[string]string{"AUDIT_REGIONS": "eu-west-1,Mars"}, `AUDIT_REGIONS: not region names: "Mars"`},
		"dup region":      {map[string]string{"AUDIT_REGIONS": "eu-west-1,eu-west-1"}, "AUDIT_REGIONS: given twice: eu-west-1"},
		"bad account":     {map[string]string{"AUDIT_ACCOUNTS": "1234"}, `AUDIT_ACCOUNTS: not 12-digit account ids: "1234"`},
		"dup account":     {map[string]string{"AUDIT_ACCOUNTS": "111111111111,111111111111"}, "AUDIT_ACCOUNTS: given twice: 111111111111"},
		"both sources":    {map[string]string{"AUDIT_ORG_ROLE_ARN": "arn:aws:iam::999999999999:role/x"}, "both set"},
		"no source":       {map[string]string{"AUDIT_ACCOUNTS": ""}, "AUDIT_ORG_ROLE_ARN"},
		"bad role":        {map[string]string{"AUDIT_ACCOUNTS": "", "AUDIT_ORG_ROLE_ARN": "org-list"}, `AUDIT_ORG_ROLE_ARN "org-list"`},
		"OUs without org": {map[string]string{"AUDIT_ORG_UNITS": "ou-ab12-abcdefgh"}, "AUDIT_ORG_UNITS needs AUDIT_ORG_ROLE_ARN"},
		"bad OU":          {map[string]string{"AUDIT_ORG_UNITS": "prod"}, `AUDIT_ORG_UNITS: not organizational unit`},
		"bad exclusion":   {map[string]string{"AUDIT_EXCLUDE_ACCOUNTS": "x"}, "AUDIT_EXCLUDE_ACCOUNTS"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := orgconfig.Load(env(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
