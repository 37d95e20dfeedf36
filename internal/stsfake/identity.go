package stsfake

import (
	"net/http"
	"strings"
)

// LocalAccount is the account of every credential this emulator did not
// issue, such as the emulators' base credentials: the local account.
const LocalAccount = "123456789012"

// Identity is who signed a request, as the emulators see it.
type Identity struct {
	// AccessKeyID and Region are read from the SigV4 credential scope.
	AccessKeyID string
	Region      string
	// Account is the account the key belongs to: the one encoded in keys
	// this emulator issued, LocalAccount for any other.
	Account string
	// Assumed is true for keys this emulator issued.
	Assumed bool
}

// IdentityOf reads the SigV4 Authorization header of r ("AWS4-HMAC-SHA256
// Credential=<key>/<date>/<region>/<service>/aws4_request, ..."); ok is
// false for an unsigned or malformed request. Signatures are not checked.
func IdentityOf(r *http.Request) (Identity, bool) {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return Identity{}, false
	}
	for _, part := range strings.Split(rest, ",") {
		scope, ok := strings.CutPrefix(strings.TrimSpace(part), "Credential=")
		if !ok {
			continue
		}
		f := strings.Split(scope, "/")
		if len(f) != 5 || f[0] == "" || f[2] == "" || f[4] != "aws4_request" {
			return Identity{}, false
		}
		id := Identity{AccessKeyID: f[0], Region: f[2], Account: LocalAccount}
		if acct, ok := AccountOfKey(f[0]); ok {
			id.Account, id.Assumed = acct, true
		}
		return id, true
	}
	return Identity{}, false
}

// keyPrefix starts every access key id issued, as STS's temporary keys do.
const keyPrefix = "ASIA"

// AccountOfKey returns the account encoded in an access key id this
// emulator issued: "ASIA", the 12-digit account, 4 characters of A-Z2-7.
func AccountOfKey(id string) (string, bool) {
	if len(id) != 20 || !strings.HasPrefix(id, keyPrefix) {
		return "", false
	}
	acct := id[4:16]
	for _, c := range acct {
		if c < '0' || c > '9' {
			return "", false
		}
	}
	return acct, true
}
