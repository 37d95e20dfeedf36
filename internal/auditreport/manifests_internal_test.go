package auditreport

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/session-audit/session-audit/internal/store"
)

// TestCompletenessCountsKeptAndPending: a kept slot is counted as kept, and
// its pending sessions are those its latest (kept) export found, not the
// older object's.
func TestCompletenessCountsKeptAndPending(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 11, 23+d, 0, 0, 0, 0, time.UTC) }
	m := func(d int, rows int64, pending int, kept *store.Kept) store.Manifest {
		return store.Manifest{Account: "111122223333", Region: "eu-west-1", SlotStart: day(d), SlotEnd: day(d + 1),
			Rows: rows, ActivePending: pending, Kept: kept}
	}
	ms := []store.Manifest{
		m(0, 10, 0, nil),
		m(1, 20, 3, &store.Kept{CheckedAt: day(5), Rows: 12, ActivePending: 1}),
		m(2, 30, 2, nil),
	}
	c := completeness(ms, day(0), day(4), 24*time.Hour)
	if c.SlotsExpected != 4 || c.SlotsWithManifests != 3 || c.SlotsKept != 1 || c.SessionsPending != 3 || c.RowsInManifests != 60 {
		t.Errorf("completeness %+v; want 4 expected, 3 with manifests, 1 kept, 3 pending (1 of the kept slot's latest export + 2), 60 rows", c)
	}
	if len(c.SlotsMissing) != 1 || c.SlotsMissing[0] != "111122223333/eu-west-1 2026-11-26T00:00:00Z" {
		t.Errorf("missing %v", c.SlotsMissing)
	}
}

// TestDaysMissing: the days on which an account/region has no manifest,
// as ranges of consecutive days.
func TestDaysMissing(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 11, 1+d, 0, 0, 0, 0, time.UTC) }
	var ms []store.Manifest
	for d := range 30 {
		// a: every day but the 3rd-5th and the 20th; b: every day but the 28th.
		if d < 2 || (d > 4 && d != 19) {
			ms = append(ms, store.Manifest{Account: "111122223333", Region: "eu-west-1", SlotStart: day(d), SlotEnd: day(d + 1)})
		}
		if d != 27 {
			ms = append(ms, store.Manifest{Account: "444455556666", Region: "eu-west-1", SlotStart: day(d), SlotEnd: day(d + 1)})
		}
	}
	c := completeness(ms, day(0), day(30), 24*time.Hour)
	want := []string{"2026-11-03 – 2026-11-05", "2026-11-20", "2026-11-28"}
	if !slices.Equal(c.DaysMissing, want) {
		t.Errorf("days missing %v; want %v", c.DaysMissing, want)
	}
	if c := completeness(ms[:0], day(0), day(2), time.Hour); !slices.Equal(c.DaysMissing, []string{"2026-11-01 – 2026-11-02"}) {
		t.Errorf("an empty archive: days missing %v", c.DaysMissing)
	}
}

// TestCompletenessOnEachDaysLength: a day exported on 24h and a day on
// 12h are both complete under AUDIT_SLOT=6h; a day that also holds a 12h
// copy of its 24h slot (written before each day kept one length) is named,
// and its rows are counted once, on its first export's length.
func TestCompletenessOnEachDaysLength(t *testing.T) {
	at := func(d, h int) time.Time { return time.Date(2026, 11, 22+d, h, 0, 0, 0, time.UTC) }
	m := func(d, h, hours int, rows int64, exported time.Time) store.Manifest {
		return store.Manifest{Account: "111122223333", Region: "eu-west-1", SlotStart: at(d, h), SlotEnd: at(d, h+hours),
			Rows: rows, ExportedAt: exported}
	}
	ms := []store.Manifest{
		m(0, 0, 24, 100, at(1, 1)),                            // day 0: 24h
		m(1, 0, 12, 40, at(2, 1)), m(1, 12, 12, 60, at(2, 1)), // day 1: 12h
		m(2, 0, 24, 90, at(3, 1)),                             // day 2: 24h first,
		m(2, 0, 12, 50, at(4, 1)), m(2, 12, 12, 40, at(4, 1)), // and a later 12h copy
	}
	c := completeness(ms, at(0, 0), at(4, 0), 6*time.Hour)
	// 1 + 2 + 1 slots on the recorded lengths, and day 3's four 6h slots.
	if c.SlotsExpected != 8 || c.SlotsWithManifests != 4 || c.RowsInManifests != 290 || len(c.SlotsMissing) != 4 {
		t.Errorf("completeness %+v; want 8 expected, 4 with manifests, 290 rows, day 3's four 6h slots missing", c)
	}
	if len(c.DaysOnTwoLengths) != 1 || !strings.Contains(c.DaysOnTwoLengths[0], "2026-11-24 (12h0m0s and 24h0m0s; counted on 24h0m0s") {
		t.Errorf("days on two lengths %v", c.DaysOnTwoLengths)
	}
}
