package config

import (
	"fmt"
	"regexp"
	"strings"
)

// keyIDRE accepts what kms:Sign takes as KeyId: a key id, a key ARN, an
// alias name or an alias ARN.
var keyIDRE = regexp.MustCompile(`^([0-9a-f-]{36}|mrk-[0-9a-f]{32}|alias/[A-Za-z0-9/_-]{1,250}|arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key/[A-Za-z0-9-]+|alias/[A-Za-z0-9/_-]+))$`)

// loadDigest reads AUDIT_DIGESTS (on, the default, or off: in an
// organization run Coverage writes the run's digest, not each export) and
// AUDIT_DIGEST_KEY (the KMS asymmetric key that signs them; empty signs
// none).
func (c *Config) loadDigest(getenv func(string) string) error {
	switch v := strings.ToLower(strings.TrimSpace(getenv("AUDIT_DIGESTS"))); v {
	case "", "on":
		c.Digests = true
	case "off":
		c.Digests = false
	default:
		return fmt.Errorf("AUDIT_DIGESTS %q is not on or off", v)
	}
	c.DigestKey = strings.TrimSpace(getenv("AUDIT_DIGEST_KEY"))
	if c.DigestKey != "" && !keyIDRE.MatchString(c.DigestKey) {
		return fmt.Errorf("AUDIT_DIGEST_KEY %q is not a KMS key id, key ARN, alias or alias ARN", c.DigestKey)
	}
	return nil
}
