package auditreport

import (
	"slices"
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
