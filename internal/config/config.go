// Package config reads the function's settings from its environment and
// names the variable behind every bad value.
package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/session-audit/session-audit/internal/sessions"
	"github.com/session-audit/session-audit/internal/store"
	"github.com/session-audit/session-audit/internal/window"
)

// DefaultConcurrency is the number of concurrent page streams when
// AUDIT_CONCURRENCY is unset; BENCHMARKS.md has the measurement behind it.
const DefaultConcurrency = 8

// MaxConcurrency bounds AUDIT_CONCURRENCY.
const MaxConcurrency = 64

// Config is the validated configuration.
type Config struct {
	Bucket      string
	Prefix      string
	Grid        window.Grid
	Lookback    time.Duration
	Filters     sessions.Filters
	Concurrency int
	PathStyle   bool
	// MemberRole is the role name (with its path, if any) assumed in
	// another account named by an event; empty means only the function's
	// own account can be exported.
	MemberRole string
	// MemberExternalID is sent with AssumeRole when set.
	MemberExternalID string
	// Digests: each run writes a digest of the manifests it wrote
	// (AUDIT_DIGESTS, on by default).
	Digests bool
	// DigestKey is the KMS asymmetric key that signs digests
	// (AUDIT_DIGEST_KEY); empty signs none.
	DigestKey string
	// Nodes turns the daily snapshot of the target's managed nodes
	// (package nodes) on a scheduled run on or off: AUDIT_NODES, true
	// unless set to false.
	Nodes bool
}

// bucketRE is the S3 general purpose bucket naming rule (3-63 characters).
var bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// sessionStatuses are the values the Status filter accepts.
var sessionStatuses = []string{"Connected", "Connecting", "Disconnected", "Terminated", "Terminating", "Failed"}

// Load reads the configuration through getenv (os.Getenv in production).
func Load(getenv func(string) string) (Config, error) {
	c := Config{
		Bucket: strings.TrimSpace(getenv("AUDIT_BUCKET")),
		Prefix: orDefault(getenv("AUDIT_PREFIX"), "ssm-sessions"),
	}
	if c.Bucket == "" {
		return Config{}, fmt.Errorf("AUDIT_BUCKET is required: the bucket the audit trail is written to")
	}
	if !bucketRE.MatchString(c.Bucket) || strings.Contains(c.Bucket, "..") {
		return Config{}, fmt.Errorf("AUDIT_BUCKET %q is not a valid S3 bucket name", c.Bucket)
	}
	if err := store.CheckPrefix(c.Prefix); err != nil {
		return Config{}, fmt.Errorf("AUDIT_PREFIX: %w", err)
	}
	slot, err := duration(getenv, "AUDIT_SLOT", "24h")
	if err != nil {
		return Config{}, err
	}
	if c.Grid, err = window.NewGrid(slot); err != nil {
		return Config{}, fmt.Errorf("AUDIT_SLOT: %w", err)
	}
	if c.Lookback, err = duration(getenv, "AUDIT_LOOKBACK", "48h"); err != nil {
		return Config{}, err
	}
	if err := c.Grid.CheckLookback(c.Lookback); err != nil {
		return Config{}, fmt.Errorf("AUDIT_LOOKBACK: %w", err)
	}
	c.Filters = sessions.Filters{
		Target:     strings.TrimSpace(getenv("AUDIT_FILTER_TARGET")),
		Owner:      strings.TrimSpace(getenv("AUDIT_FILTER_OWNER")),
		Status:     strings.TrimSpace(getenv("AUDIT_FILTER_STATUS")),
		AccessType: strings.TrimSpace(getenv("AUDIT_FILTER_ACCESS_TYPE")),
	}
	if s := c.Filters.Status; s != "" && !contains(sessionStatuses, s) {
		return Config{}, fmt.Errorf("AUDIT_FILTER_STATUS %q is not one of %s", s, strings.Join(sessionStatuses, ", "))
	}
	if a := c.Filters.AccessType; a != "" && a != "Standard" && a != "JustInTime" {
		return Config{}, fmt.Errorf("AUDIT_FILTER_ACCESS_TYPE %q is not Standard or JustInTime", a)
	}
	for name, v := range map[string]string{"AUDIT_FILTER_TARGET": c.Filters.Target, "AUDIT_FILTER_OWNER": c.Filters.Owner} {
		if len(v) > 400 || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return Config{}, fmt.Errorf("%s is longer than 400 characters or has control characters", name)
		}
	}
	c.Concurrency = DefaultConcurrency
	if v := strings.TrimSpace(getenv("AUDIT_CONCURRENCY")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxConcurrency {
			return Config{}, fmt.Errorf("AUDIT_CONCURRENCY %q is not a whole number from 1 to %d", v, MaxConcurrency)
		}
		c.Concurrency = n
	}
	if c.PathStyle, err = PathStyle(getenv); err != nil {
		return Config{}, err
	}
	c.Nodes = true
	if v := strings.TrimSpace(getenv("AUDIT_NODES")); v != "" {
		if c.Nodes, err = strconv.ParseBool(v); err != nil {
			return Config{}, fmt.Errorf("AUDIT_NODES %q is not true or false (the daily snapshot of managed nodes; on by default)", v)
		}
	}
	if err := c.loadMember(getenv); err != nil {
		return Config{}, err
	}
	if err := c.loadDigest(getenv); err != nil {
		return Config{}, err
	}
	return c, nil
}

// PathStyle reads AUDIT_S3_PATH_STYLE (empty is false), for every function
// that reaches the bucket.
func PathStyle(getenv func(string) string) (bool, error) {
	v := strings.TrimSpace(getenv("AUDIT_S3_PATH_STYLE"))
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("AUDIT_S3_PATH_STYLE %q is not true or false", v)
	}
	return b, nil
}

func duration(getenv func(string) string, name, def string) (time.Duration, error) {
	v := orDefault(getenv(name), def)
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not a duration such as %s", name, v, def)
	}
	return d, nil
}

func orDefault(v, def string) string {
	if v = strings.TrimSpace(v); v != "" {
		return v
	}
	return def
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
