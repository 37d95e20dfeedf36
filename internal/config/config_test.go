package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/session-audit/session-audit/internal/config"
)

func load(env map[string]string) (config.Config, error) {
	return config.Load(func(k string) string { return env[k] })
}

func TestDefaults(t *testing.T) {
	c, err := load(map[string]string{"AUDIT_BUCKET": "my-audit-bucket"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Bucket != "my-audit-bucket" || c.Prefix != "ssm-sessions" || c.Grid.Length() != 24*time.Hour ||
		c.Lookback != 48*time.Hour || c.Concurrency != config.DefaultConcurrency || c.PathStyle || c.Filters.Owner != "" || !c.Nodes {
		t.Errorf("defaults = %+v", c)
	}
}

func TestAllSet(t *testing.T) {
	c, err := load(map[string]string{
		"AUDIT_BUCKET": "b-1.example", "AUDIT_PREFIX": "audit/ssm", "AUDIT_SLOT": "6h", "AUDIT_LOOKBACK": "18h",
		"AUDIT_FILTER_TARGET": "i-0123456789abcdef0", "AUDIT_FILTER_OWNER": "arn:aws:iam::123456789012:user/a",
		"AUDIT_FILTER_STATUS": "Terminated", "AUDIT_FILTER_ACCESS_TYPE": "JustInTime",
		"AUDIT_CONCURRENCY": "4", "AUDIT_S3_PATH_STYLE": "true", "AUDIT_NODES": "false",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Prefix != "audit/ssm" || c.Grid.Length() != 6*time.Hour || c.Lookback != 18*time.Hour || c.Concurrency != 4 ||
		!c.PathStyle || c.Nodes || c.Filters.Target != "i-0123456789abcdef0" || c.Filters.Status != "Terminated" || c.Filters.AccessType != "JustInTime" {
		t.Errorf("config = %+v", c)
	}
}

func TestBadValuesNameTheVariable(t *testing.T) {
	tests := []struct {
		name, value, want string
	}{
		{"AUDIT_BUCKET", "", "AUDIT_BUCKET is required"},
		{"AUDIT_BUCKET", "Bad_Bucket", "AUDIT_BUCKET"},
		{"AUDIT_PREFIX", "/abs", "AUDIT_PREFIX"},
		{"AUDIT_PREFIX", "a/../b", "AUDIT_PREFIX"},
		{"AUDIT_PREFIX", "a//b", "AUDIT_PREFIX"},
		{"AUDIT_PREFIX", "tab\there", "AUDIT_PREFIX"},
		{"AUDIT_PREFIX", "trailing/", "AUDIT_PREFIX"},
		{"AUDIT_SLOT", "5h", "AUDIT_SLOT"},
		{"AUDIT_SLOT", "daily", "AUDIT_SLOT"},
		{"AUDIT_LOOKBACK", "36h", "AUDIT_LOOKBACK"},
		{"AUDIT_LOOKBACK", "-24h", "AUDIT_LOOKBACK"},
		{"AUDIT_LOOKBACK", "1000h", "AUDIT_LOOKBACK"},
		{"AUDIT_FILTER_STATUS", "Done", "AUDIT_FILTER_STATUS"},
		{"AUDIT_FILTER_ACCESS_TYPE", "Any", "AUDIT_FILTER_ACCESS_TYPE"},
		{"AUDIT_FILTER_OWNER", "a\nb", "AUDIT_FILTER_OWNER"},
		{"AUDIT_CONCURRENCY", "0", "AUDIT_CONCURRENCY"},
		{"AUDIT_CONCURRENCY", "65", "AUDIT_CONCURRENCY"},
		{"AUDIT_CONCURRENCY", "many", "AUDIT_CONCURRENCY"},
		{"AUDIT_S3_PATH_STYLE", "yes", "AUDIT_S3_PATH_STYLE"},
		{"AUDIT_NODES", "off", "AUDIT_NODES"},
	}
	for _, tt := range tests {
		env := map[string]string{"AUDIT_BUCKET": "bucket"}
		env[tt.name] = tt.value
		_, err := load(env)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s=%q: error %v, want it to name %s", tt.name, tt.value, err, tt.want)
		}
	}
}
