package verify_test

import (
	"context"
	"testing"
	"time"

	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/store"
	"github.com/session-audit/session-audit/internal/verify"
	"github.com/session-audit/session-audit/internal/window"
)

// TestSlotLengthPerDay: each day is tiled on its own slot length, read
// from its manifests (24h one day, 1h the next); a day without manifests
// on Options.Slot; a manifest of another length on a fixed day is
// reported (object-modified); slots ending after now are not expected.
func TestSlotLengthPerDay(t *testing.T) {
	emu, err := emulators.Start(emulators.Options{Bucket: "verify-slots"})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	api := emu.Clients().S3
	ctx := context.Background()
	keys, _ := store.NewKeys("p", "123456789012", "eu-west-1")
	d0 := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	put := func(start time.Time, length time.Duration, written time.Time) string {
		t.Helper()
		s := window.Slot{Start: start, End: start.Add(length)}
		m := &store.Manifest{Version: store.ManifestVersion, Account: keys.Account, Region: keys.Region,
			SlotStart: s.Start, SlotEnd: s.End, Filters: map[string]string{}, WrittenAt: written}
		if _, err := store.PutManifest(ctx, api, "verify-slots", keys.Manifest(s), m, ""); err != nil {
			t.Fatal(err)
		}
		return keys.Manifest(s)
	}
	put(d0, 24*time.Hour, d0.Add(25*time.Hour)) // day 0: one 24h slot
	for h := range 24 {                         // day 1: 24 1h slots
		put(d0.AddDate(0, 0, 1).Add(time.Duration(h)*time.Hour), time.Hour, d0.Add(49*time.Hour))
	}
	// day 2: none, so Options.Slot (6h): 4 missing
	fixed := d0.AddDate(0, 0, 3)
	put(fixed, 24*time.Hour, fixed.Add(25*time.Hour))                        // day 3 fixed on 24h ...
	stray := put(fixed.Add(5*time.Hour), time.Hour, fixed.Add(30*time.Hour)) // ... and a later 1h slot
	// day 4: 1h slots up to 10:00; now is 12:30, so 10:00 and 11:00 are missing, 12:00 not yet due
	d4 := d0.AddDate(0, 0, 4)
	for h := range 10 {
		put(d4.Add(time.Duration(h)*time.Hour), time.Hour, d4.Add(11*time.Hour))
	}
	now := d4.Add(12*time.Hour + 30*time.Minute)
	rep, err := verify.Run(ctx, verify.Options{S3: api, Bucket: "verify-slots", Prefix: "p", Slot: 6 * time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	want := map[verify.Problem]bool{}
	for h := 0; h < 24; h += 6 {
		s := window.Slot{Start: d0.AddDate(0, 0, 2).Add(time.Duration(h) * time.Hour)}
		s.End = s.Start.Add(6 * time.Hour)
		want[verify.Problem{Problem: verify.ManifestMissing, Key: keys.Manifest(s)}] = true
	}
	for _, h := range []int{10, 11} {
		s := window.Slot{Start: d4.Add(time.Duration(h) * time.Hour), End: d4.Add(time.Duration(h+1) * time.Hour)}
		want[verify.Problem{Problem: verify.ManifestMissing, Key: keys.Manifest(s)}] = true
	}
	want[verify.Problem{Problem: verify.ObjectModified, Key: stray}] = true
	got := map[verify.Problem]bool{}
	for _, p := range rep.Problems {
		if p.Detail == "" {
			t.Errorf("no detail: %+v", p)
		}
		p.Detail = ""
		got[p] = true
	}
	for p := range want {
		if !got[p] {
			t.Errorf("missing %+v", p)
		}
	}
	for p := range got {
		if !want[p] {
			t.Errorf("unexpected %+v", p)
		}
	}
	if wantSlots := 1 + 24 + 4 + 1 + 12; rep.Slots != wantSlots {
		t.Errorf("%d slots expected; want %d", rep.Slots, wantSlots)
	}
}
