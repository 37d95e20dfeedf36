package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// TestScheduledRunAtDayBoundaries pins the function's clock on either side
// of a UTC midnight, at the end of a month and of a February, where a
// scheduled run's slots change. Each case has a slot reopened for a session
// still active since days before, and a session that started in the last
// millisecond before midnight and is still running: the answer must list
// the lookback's slots first, oldest first, then the reopened slot, with
// the keys of the right dt partition.
func TestScheduledRunAtDayBoundaries(t *testing.T) { scheduledRunAtDayBoundaries(t, s3Backend{}) }

func scheduledRunAtDayBoundaries(t *testing.T, b s3Backend) {
	cases := []struct {
		now      string
		lookback []string // the slots (start dates) the lookback owes, oldest first
	}{
		{"2026-11-25T23:59:59.999Z", []string{"2026-11-23", "2026-11-24"}},
		{"2026-11-26T00:00:00.000Z", []string{"2026-11-24", "2026-11-25"}},
		{"2026-11-30T23:59:59.999Z", []string{"2026-11-28", "2026-11-29"}},
		{"2026-12-01T00:00:00.000Z", []string{"2026-11-29", "2026-11-30"}},
		{"2027-02-28T23:59:59.999Z", []string{"2027-02-26", "2027-02-27"}},
		{"2027-03-01T00:00:00.000Z", []string{"2027-02-27", "2027-02-28"}},
	}
	for _, tc := range cases {
		t.Run(tc.now, func(t *testing.T) {
			t.Parallel() // each case has its own servers and clock
			now := ts(tc.now)
			midnight := now.Add(time.Millisecond).Truncate(24 * time.Hour) // the midnight at or just after now
			early := midnight.AddDate(0, 0, -6)
			ss := []types.Session{
				session("still-open", early.Add(22*time.Hour).Format(time.RFC3339Nano), "", types.SessionStatusConnected),
				session("done-early", early.Add(10*time.Hour).Format(time.RFC3339Nano), early.Add(11*time.Hour).Format(time.RFC3339Nano), types.SessionStatusTerminated),
				session("last-ms", midnight.Add(-time.Millisecond).Format(time.RFC3339Nano), "", types.SessionStatusConnected),
				session("done-late", midnight.Add(-3*time.Hour).Format(time.RFC3339Nano), midnight.Add(-2*time.Hour).Format(time.RFC3339Nano), types.SessionStatusTerminated),
			}
			// The day of "still-open" was exported days ago, while it ran.
			te := newEnvWith(t, early.AddDate(0, 0, 1).Add(time.Hour), envOptions{sessions: ss, s3: b})
			first := te.mustInvoke(fmt.Sprintf(`{"start":%q,"end":%q}`, early.Format(time.RFC3339), early.AddDate(0, 0, 1).Format(time.RFC3339)))
			if len(first.Slots) != 1 || first.Slots[0].ActivePending != 1 {
				t.Fatalf("backfill of %s: %+v; want one slot with one session pending", early.Format(time.DateOnly), first.Slots)
			}

			te.now = now
			res := te.mustInvoke(fmt.Sprintf(`{"time":%q}`, now.Format(time.RFC3339Nano)))
			want := append(append([]string{}, tc.lookback...), early.Format(time.DateOnly))
			var got []string
			for _, s := range res.Slots {
				got = append(got, s.Start.Format(time.DateOnly))
				if s.End.Sub(s.Start) != 24*time.Hour {
					t.Errorf("slot %+v is not one day long", s)
				}
				if s.End.After(now) {
					t.Errorf("slot %s ends after now %s", s.End, now)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("at %s the run exported slots %v; want %v (lookback first, then the reopened slot)", tc.now, got, want)
			}
			last := res.Slots[len(tc.lookback)-1]
			// "last-ms" belongs to the last whole day only once that day
			// has ended; before midnight it is in no exported slot.
			wantPending := 0
			if !now.Before(midnight) {
				wantPending = 1
			}
			if last.ActivePending != wantPending {
				t.Errorf("at %s the last lookback slot %s counts %d active; want %d", tc.now, last.Start.Format(time.DateOnly), last.ActivePending, wantPending)
			}
			dt := last.Start.Format(time.DateOnly)
			wantManifest := fmt.Sprintf("ssm-sessions/manifests/dt=%s/123456789012_us-east-1_%s_%s.json",
				dt, last.Start.Format("20060102T150405Z"), last.End.Format("20060102T150405Z"))
			if last.Manifest != wantManifest {
				t.Errorf("manifest %s; want %s", last.Manifest, wantManifest)
			}
			if reopened := res.Slots[len(res.Slots)-1]; reopened.ActivePending != 1 || reopened.Rows != 1 {
				t.Errorf("reopened slot %+v; want 1 row and 1 session still pending", reopened)
			}
		})
	}
}
