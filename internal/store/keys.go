// Package store lays out the audit trail in S3: deterministic keys, the
// streaming upload of each slot's Parquet object, and the manifests that
// describe them.
package store

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/session-audit/session-audit/internal/window"
)

// nameTime is how slot bounds appear in object names: ISO 8601 basic format,
// free of the colons that Hadoop paths and URL encoding stumble on.
const nameTime = "20060102T150405Z"

var (
	prefixSegment = regexp.MustCompile(`^[A-Za-z0-9._=-]+$`)
	accountRE     = regexp.MustCompile(`^[0-9]{12}$`)
	regionRE      = regexp.MustCompile(`^[a-z]{2}(-[a-z0-9]+)+-[0-9]+$`)
)

// CheckPrefix validates a key prefix: one or more segments of letters,
// digits and ._=- separated by single slashes, with no leading or trailing
// slash, no "." or ".." segment and at most 256 bytes.
func CheckPrefix(prefix string) error {
	if prefix == "" {
		return fmt.Errorf("prefix is empty")
	}
	if len(prefix) > 256 {
		return fmt.Errorf("prefix is %d bytes long; at most 256", len(prefix))
	}
	for _, seg := range strings.Split(prefix, "/") {
		switch {
		case seg == "":
			return fmt.Errorf("prefix %q has an empty segment (a leading, trailing or double slash)", prefix)
		case seg == "." || seg == "..":
			return fmt.Errorf("prefix %q has a %q segment", prefix, seg)
		case !prefixSegment.MatchString(seg):
			return fmt.Errorf("prefix %q has a character outside letters, digits and ._=-/", prefix)
		}
	}
	return nil
}

// Keys names the objects of one account and region under a prefix.
type Keys struct {
	Prefix  string
	Account string
	Region  string
}

// NewKeys validates the parts that reach every key.
func NewKeys(prefix, account, region string) (Keys, error) {
	if err := CheckPrefix(prefix); err != nil {
		return Keys{}, err
	}
	if !accountRE.MatchString(account) {
		return Keys{}, fmt.Errorf("account id %q is not 12 digits", account)
	}
	if err := CheckRegion(region); err != nil {
		return Keys{}, err
	}
	return Keys{Prefix: prefix, Account: account, Region: region}, nil
}

// CheckRegion validates a region name, which reaches every key.
func CheckRegion(region string) error {
	if !regionRE.MatchString(region) {
		return fmt.Errorf("region %q is not an AWS region name", region)
	}
	return nil
}

// Name is the slot's file name without extension:
// <account>_<region>_<slot start>_<slot end>.
func (k Keys) Name(s window.Slot) string {
	return k.Account + "_" + k.Region + "_" + s.Start.UTC().Format(nameTime) + "_" + s.End.UTC().Format(nameTime)
}

// Object is the key of the slot's Parquet object.
func (k Keys) Object(s window.Slot) string {
	return k.Prefix + "/sessions/" + partition(s) + "/" + k.Name(s) + ".parquet"
}

// Manifest is the key of the slot's manifest.
func (k Keys) Manifest(s window.Slot) string {
	return k.Prefix + "/manifests/" + partition(s) + "/" + k.Name(s) + ".json"
}

// ManifestDayPrefix is the prefix of the keys of every manifest of this
// account and region whose slot starts on day (UTC): listing it never sees
// another target's manifests.
func (k Keys) ManifestDayPrefix(day time.Time) string {
	return k.ManifestRoot() + "dt=" + day.UTC().Format(time.DateOnly) + "/" + k.Account + "_" + k.Region + "_"
}

// ManifestRoot is the prefix every manifest key starts with.
func (k Keys) ManifestRoot() string { return k.Prefix + "/manifests/" }

// SlotOfManifest parses a manifest key of this account and region back into
// its slot; ok is false for keys of other accounts, regions or shapes.
func (k Keys) SlotOfManifest(key string) (window.Slot, bool) {
	rest, ok := strings.CutPrefix(key, k.ManifestRoot())
	if !ok {
		return window.Slot{}, false
	}
	_, file, ok := strings.Cut(rest, "/")
	if !ok {
		return window.Slot{}, false
	}
	name, ok := strings.CutSuffix(file, ".json")
	if !ok {
		return window.Slot{}, false
	}
	times, ok := strings.CutPrefix(name, k.Account+"_"+k.Region+"_")
	if !ok {
		return window.Slot{}, false
	}
	a, b, ok := strings.Cut(times, "_")
	if !ok {
		return window.Slot{}, false
	}
	start, err1 := time.Parse(nameTime, a)
	end, err2 := time.Parse(nameTime, b)
	if err1 != nil || err2 != nil || !end.After(start) {
		return window.Slot{}, false
	}
	s := window.Slot{Start: start, End: end}
	if k.Manifest(s) != key {
		return window.Slot{}, false
	}
	return s, true
}

func partition(s window.Slot) string {
	return "dt=" + s.Start.UTC().Format(time.DateOnly)
}
