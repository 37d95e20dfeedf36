package config_test

import (
	"strings"
	"testing"

	"github.com/session-audit/session-audit/internal/config"
)

// TestDigestSettings: digests are on unless AUDIT_DIGESTS=off; a bad value
// of either variable is an error naming it.
func TestDigestSettings(t *testing.T) {
	for _, tc := range []struct {
		env     map[string]string
		digests bool
		key     string
		err     string
	}{
		{map[string]string{}, true, "", ""},
		{map[string]string{"AUDIT_DIGESTS": "off"}, false, "", ""},
		{map[string]string{"AUDIT_DIGESTS": "ON", "AUDIT_DIGEST_KEY": "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}, true, "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", ""},
		{map[string]string{"AUDIT_DIGEST_KEY": "alias/session-audit-digests"}, true, "alias/session-audit-digests", ""},
		{map[string]string{"AUDIT_DIGESTS": "maybe"}, false, "", "AUDIT_DIGESTS"},
		{map[string]string{"AUDIT_DIGEST_KEY": "my key"}, false, "", "AUDIT_DIGEST_KEY"},
	} {
		tc.env["AUDIT_BUCKET"] = "audit-bucket"
		c, err := config.Load(func(k string) string { return tc.env[k] })
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: error %v; want one naming %s", tc.env, err, tc.err)
			}
			continue
		}
		if err != nil || c.Digests != tc.digests || c.DigestKey != tc.key {
			t.Errorf("%v: %v, %q, %v", tc.env, c.Digests, c.DigestKey, err)
		}
	}
}
