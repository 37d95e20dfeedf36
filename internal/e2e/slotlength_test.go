package e2e

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/session-audit/session-audit/internal/ssmfake"
	"github.com/session-audit/session-audit/internal/store"
)

// TestEachSessionOnceWhateverTheSlot: a day's first export fixes its slot
// length. Exported with 24h and then backfilled with 12h, the day stays one
// 24h slot; exported with 12h and then with 24h, it stays two 12h slots; a
// 6h backfill over both, and scheduled runs with 6h, keep each day on its
// length. Every session is in the table once, and the runs say in their
// logs which days they moved.
func TestEachSessionOnceWhateverTheSlot(t *testing.T) {
	from, to := ts("2026-11-22T00:00:00Z"), ts("2026-11-24T00:00:00Z")
	gen := ssmfake.Generate(15, from.Add(-6*time.Hour), to.Add(6*time.Hour), 3000)
	te := newEnv(t, now, map[string]string{"AUDIT_SLOT": "24h"}, gen)
	var logs bytes.Buffer

	// Day one: 24h first, then 12h.
	te.mustInvoke(`{"start":"2026-11-22T00:00:00Z","end":"2026-11-23T00:00:00Z"}`)
	te.rewire(map[string]string{"AUDIT_SLOT": "12h"}, &logs)
	res := te.mustInvoke(`{"start":"2026-11-22T00:00:00Z","end":"2026-11-22T12:00:00Z"}`)
	if len(res.Slots) != 1 || !res.Slots[0].Start.Equal(from) || !res.Slots[0].End.Equal(from.Add(24*time.Hour)) {
		t.Fatalf("a 12h backfill of a 24h day exported %+v; want the day's one 24h slot", res.Slots)
	}
	// Day two: 12h first, then 24h.
	te.mustInvoke(`{"start":"2026-11-23T00:00:00Z","end":"2026-11-24T00:00:00Z"}`)
	te.rewire(map[string]string{"AUDIT_SLOT": "24h"}, &logs)
	res = te.mustInvoke(`{"start":"2026-11-23T00:00:00Z","end":"2026-11-24T00:00:00Z"}`)
	if len(res.Slots) != 2 || res.Slots[0].End.Sub(res.Slots[0].Start) != 12*time.Hour {
		t.Fatalf("a 24h backfill of a 12h day exported %+v; want its two 12h slots", res.Slots)
	}
	// 6h over both days.
	te.rewire(map[string]string{"AUDIT_SLOT": "6h", "AUDIT_LOOKBACK": "24h"}, &logs)
	res = te.mustInvoke(`{"start":"2026-11-22T00:00:00Z","end":"2026-11-24T00:00:00Z"}`)
	var lengths []string
	for _, s := range res.Slots {
		lengths = append(lengths, s.Start.Format("01-02T15")+"+"+s.End.Sub(s.Start).String())
	}
	if got, want := strings.Join(lengths, " "), "11-22T00+24h0m0s 11-23T00+12h0m0s 11-23T12+12h0m0s"; got != want {
		t.Fatalf("a 6h backfill over both days exported %s; want %s", got, want)
	}
	// A scheduled run with 6h on the next morning: its lookback (24h) owes
	// 6h slots from 11-23 06:00; 11-23 is exported on its 12h, whole, and
	// 11-24, which has no export yet, follows AUDIT_SLOT.
	te.now = ts("2026-11-24T06:05:00Z")
	res = te.mustInvoke(`{"time":"2026-11-24T06:05:00Z"}`)
	lengths = nil
	for _, s := range res.Slots {
		lengths = append(lengths, s.Start.Format("01-02T15")+"+"+s.End.Sub(s.Start).String())
	}
	if got, want := strings.Join(lengths, " "), "11-23T00+12h0m0s 11-23T12+12h0m0s 11-24T00+6h0m0s"; got != want {
		t.Fatalf("a scheduled 6h run exported %s; want %s", got, want)
	}

	// The bucket holds one length a day, and each session once.
	var manifests []string
	for _, k := range te.objects() {
		if strings.Contains(k, "/manifests/") {
			manifests = append(manifests, k[strings.LastIndex(k, "/")+1:])
		}
	}
	wantManifests := []string{
		"123456789012_us-east-1_20261122T000000Z_20261123T000000Z.json",
		"123456789012_us-east-1_20261123T000000Z_20261123T120000Z.json",
		"123456789012_us-east-1_20261123T120000Z_20261124T000000Z.json",
		"123456789012_us-east-1_20261124T000000Z_20261124T060000Z.json",
	}
	if fmt.Sprint(manifests) != fmt.Sprint(wantManifests) {
		t.Fatalf("manifests %v; want %v", manifests, wantManifests)
	}
	db := duck(t, te.download())
	var rows, distinct int
	if err := db.QueryRow(`SELECT count(*), count(DISTINCT session_id) FROM sessions`).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	want := expected(te.emu.SSM, from, ts("2026-11-24T06:00:00Z"))
	if rows != distinct || rows != len(want) {
		t.Fatalf("the table has %d rows, %d distinct ids; want %d, each once", rows, distinct, len(want))
	}
	compareRows(t, readRows(t, db), want)

	// The state object records each day's length.
	keys, err := store.NewKeys("ssm-sessions", account, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	st := te.get(keys.StateKey())
	for _, day := range []string{`"2026-11-22": "24h0m0s"`, `"2026-11-23": "12h0m0s"`, `"2026-11-24": "6h0m0s"`} {
		if !bytes.Contains(st, []byte(day)) {
			t.Errorf("state lacks %s:\n%s", day, st)
		}
	}
	// Each move is logged, naming the day and both lengths.
	for _, want := range []string{
		`"day":"2026-11-22","recordedSlot":"24h0m0s","auditSlot":"12h0m0s"`,
		`"day":"2026-11-23","recordedSlot":"12h0m0s","auditSlot":"24h0m0s"`,
		`"day":"2026-11-22","recordedSlot":"24h0m0s","auditSlot":"6h0m0s"`,
		`"day":"2026-11-23","recordedSlot":"12h0m0s","auditSlot":"6h0m0s"`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no log line with %s in:\n%s", want, logs.String())
		}
	}
}
