package store_test

import (
	"testing"
	"time"

	"github.com/session-audit/session-audit/internal/store"
	"github.com/session-audit/session-audit/internal/window"
)

func TestKeys(t *testing.T) {
	k, err := store.NewKeys("ssm-sessions", "123456789012", "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	s := window.Slot{Start: time.Date(2026, 11, 24, 6, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	if got, want := k.Object(s), "ssm-sessions/sessions/dt=2026-11-24/123456789012_eu-west-1_20261124T060000Z_20261124T120000Z.parquet"; got != want {
		t.Errorf("Object = %s, want %s", got, want)
	}
	m := k.Manifest(s)
	if want := "ssm-sessions/manifests/dt=2026-11-24/123456789012_eu-west-1_20261124T060000Z_20261124T120000Z.json"; m != want {
		t.Errorf("Manifest = %s, want %s", m, want)
	}
	if back, ok := k.SlotOfManifest(m); !ok || back != s {
		t.Errorf("SlotOfManifest(%s) = %v, %v", m, back, ok)
	}
	other, err := store.NewKeys("ssm-sessions", "210987654321", "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{other.Manifest(s), k.Object(s), "ssm-sessions/manifests/dt=2026-11-24/junk.json",
		"ssm-sessions/manifests/dt=2026-11-25/123456789012_eu-west-1_20261124T060000Z_20261124T120000Z.json"} {
		if _, ok := k.SlotOfManifest(key); ok {
			t.Errorf("SlotOfManifest accepted %s", key)
		}
	}
}

func TestNewKeysValidates(t *testing.T) {
	for _, c := range []struct{ prefix, account, region string }{
		{"", "123456789012", "us-east-1"},
		{"../x", "123456789012", "us-east-1"},
		{"a/./b", "123456789012", "us-east-1"},
		{"p", "12345678901", "us-east-1"},
		{"p", "123456789012", "US-EAST-1"},
		{"p", "123456789012", "us-east-1/../x"},
		{"p\x00", "123456789012", "us-east-1"},
	} {
		if _, err := store.NewKeys(c.prefix, c.account, c.region); err == nil {
			t.Errorf("NewKeys(%q, %q, %q) accepted", c.prefix, c.account, c.region)
		}
	}
	for _, r := range []string{"us-east-1", "us-gov-west-1", "ap-southeast-2", "cn-north-1", "eu-central-2"} {
		if _, err := store.NewKeys("p", "123456789012", r); err != nil {
			t.Errorf("region %s: %v", r, err)
		}
	}
}
