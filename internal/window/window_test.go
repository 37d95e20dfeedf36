package window_test

import (
	"strings"
	"testing"
	"time"

	"github.com/session-audit/session-audit/internal/window"
)

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func grid(t *testing.T, l time.Duration) window.Grid {
	t.Helper()
	g, err := window.NewGrid(l)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestNewGrid(t *testing.T) {
	for _, l := range window.Lengths {
		if _, err := window.NewGrid(l); err != nil {
			t.Errorf("NewGrid(%s): %v", l, err)
		}
	}
	for _, l := range []time.Duration{0, -time.Hour, 5 * time.Hour, 90 * time.Minute, 48 * time.Hour, time.Minute} {
		if _, err := window.NewGrid(l); err == nil {
			t.Errorf("NewGrid(%s) accepted an invalid length", l)
		}
	}
}

func TestScheduled(t *testing.T) {
	now := ts("2026-11-26T12:00:00Z")
	tests := []struct {
		name     string
		slot     time.Duration
		at       string
		lookback time.Duration
		want     []string
	}{
		{"daily just after midnight", 24 * time.Hour, "2026-11-26T00:05:00Z", 48 * time.Hour,
			[]string{"2026-11-24T00:00:00Z/2026-11-25T00:00:00Z", "2026-11-25T00:00:00Z/2026-11-26T00:00:00Z"}},
		{"exactly on a boundary includes the slot ending at t", 24 * time.Hour, "2026-11-26T00:00:00Z", 24 * time.Hour,
			[]string{"2026-11-25T00:00:00Z/2026-11-26T00:00:00Z"}},
		{"lower bound is exclusive", 24 * time.Hour, "2026-11-26T00:00:00Z", 48 * time.Hour,
			[]string{"2026-11-24T00:00:00Z/2026-11-25T00:00:00Z", "2026-11-25T00:00:00Z/2026-11-26T00:00:00Z"}},
		{"hourly", time.Hour, "2026-11-26T03:30:00Z", 3 * time.Hour,
			[]string{"2026-11-26T00:00:00Z/2026-11-26T01:00:00Z", "2026-11-26T01:00:00Z/2026-11-26T02:00:00Z", "2026-11-26T02:00:00Z/2026-11-26T03:00:00Z"}},
		{"time in the future is capped at now", 24 * time.Hour, "2026-11-28T00:00:00Z", 72 * time.Hour,
			[]string{"2026-11-25T00:00:00Z/2026-11-26T00:00:00Z"}},
		{"offset time zones are UTC", 24 * time.Hour, "2026-11-26T01:05:00+02:00", 24 * time.Hour,
			[]string{"2026-11-24T00:00:00Z/2026-11-25T00:00:00Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := grid(t, tt.slot).Scheduled(ts(tt.at), tt.lookback, now)
			var s []string
			for _, sl := range got {
				s = append(s, sl.String())
			}
			if strings.Join(s, ",") != strings.Join(tt.want, ",") {
				t.Errorf("Scheduled = %v, want %v", s, tt.want)
			}
		})
	}
}

func TestRange(t *testing.T) {
	now := ts("2026-11-26T12:00:00Z")
	g := grid(t, 6*time.Hour)
	tests := []struct {
		start, end string
		slots      int
		err        string
	}{
		{"2026-11-25T00:00:00Z", "2026-11-26T12:00:00Z", 6, ""},
		{"2026-10-28T00:00:00Z", "2026-10-28T06:00:00Z", 1, ""},
		{"2026-11-25T00:00:00Z", "2026-11-25T00:00:00Z", 0, "is not after start"},
		{"2026-11-25T06:00:00Z", "2026-11-25T00:00:00Z", 0, "is not after start"},
		{"2026-11-25T01:00:00Z", "2026-11-25T06:00:00Z", 0, "start 2026-11-25T01:00:00Z is not on the 6h0m0s slot grid"},
		{"2026-11-25T00:00:00Z", "2026-11-25T06:00:00.5Z", 0, "end 2026-11-25T06:00:00.5Z is not on"},
		{"2026-11-26T00:00:00Z", "2026-11-26T18:00:00Z", 0, "is after now"},
		{"2026-10-27T06:00:00Z", "2026-10-28T00:00:00Z", 0, "History horizon"},
	}
	for _, tt := range tests {
		slots, err := g.Range(ts(tt.start), ts(tt.end), now)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Range(%s, %s) error = %v, want it to contain %q", tt.start, tt.end, err, tt.err)
			}
			continue
		}
		if err != nil || len(slots) != tt.slots {
			t.Errorf("Range(%s, %s) = %d slots, %v; want %d", tt.start, tt.end, len(slots), err, tt.slots)
		}
		for i, s := range slots {
			if s.End.Sub(s.Start) != g.Length() || (i > 0 && !s.Start.Equal(slots[i-1].End)) {
				t.Errorf("slot %d %s is not contiguous or not one slot long", i, s)
			}
		}
	}
}

func TestCheckLookback(t *testing.T) {
	g := grid(t, 24*time.Hour)
	for _, l := range []time.Duration{24 * time.Hour, 48 * time.Hour, 30 * 24 * time.Hour} {
		if err := g.CheckLookback(l); err != nil {
			t.Errorf("CheckLookback(%s): %v", l, err)
		}
	}
	for _, l := range []time.Duration{0, -24 * time.Hour, 36 * time.Hour, 31 * 24 * time.Hour} {
		if err := g.CheckLookback(l); err == nil {
			t.Errorf("CheckLookback(%s) accepted it", l)
		}
	}
}

func TestSplit(t *testing.T) {
	s := window.Slot{Start: ts("2026-11-25T00:00:00Z"), End: ts("2026-11-26T00:00:00Z")}
	for _, n := range []int{-1, 0, 1, 7, 96, 200000} {
		subs := window.Split(s, n)
		if !subs[0].Start.Equal(s.Start) || !subs[len(subs)-1].End.Equal(s.End) {
			t.Fatalf("Split(%d) does not cover the slot: %v .. %v", n, subs[0], subs[len(subs)-1])
		}
		for i := 1; i < len(subs); i++ {
			if !subs[i].Start.Equal(subs[i-1].End) || !subs[i].End.After(subs[i].Start) {
				t.Fatalf("Split(%d) sub-window %d %s is not contiguous and non-empty", n, i, subs[i])
			}
		}
	}
}

func TestContainsAndHorizon(t *testing.T) {
	s := window.Slot{Start: ts("2026-11-25T00:00:00Z"), End: ts("2026-11-26T00:00:00Z")}
	if !s.Contains(s.Start) || s.Contains(s.End) || !s.Contains(ts("2026-11-25T23:59:59.999Z")) {
		t.Error("Contains is not [start, end)")
	}
	if !window.InHorizon(s, ts("2026-12-25T00:00:00Z")) || window.InHorizon(s, ts("2026-12-25T00:00:01Z")) {
		t.Error("InHorizon boundary is wrong")
	}
}

// FuzzSlots checks the slot arithmetic on arbitrary instants and lengths:
// Floor is on the grid and holds t; Scheduled slots are whole, contiguous,
// inside (t-lookback, t] and never end after now.
func FuzzSlots(f *testing.F) {
	f.Add(int64(1764115500), int64(1764158400), uint8(7), uint8(2))
	f.Add(int64(-1), int64(0), uint8(0), uint8(1))
	f.Add(int64(1764115200), int64(1764115200), uint8(3), uint8(30))
	f.Fuzz(func(t *testing.T, at, now int64, li, lb uint8) {
		const span = int64(1) << 40
		at, now = at%span, now%span
		g, err := window.NewGrid(window.Lengths[int(li)%len(window.Lengths)])
		if err != nil {
			t.Fatal(err)
		}
		tt, nn := time.Unix(at, 0).UTC(), time.Unix(now, 0).UTC()
		f := g.Floor(tt)
		if !g.OnGrid(f) || f.After(tt) || !tt.Before(f.Add(g.Length())) {
			t.Fatalf("Floor(%s) = %s", tt, f)
		}
		lookback := time.Duration(int(lb)%(720/int(g.Length().Hours()))+1) * g.Length()
		slots := g.Scheduled(tt, lookback, nn)
		for i, s := range slots {
			if s.End.Sub(s.Start) != g.Length() || !g.OnGrid(s.Start) {
				t.Fatalf("slot %s is not a whole slot", s)
			}
			if s.End.After(tt) || !s.End.After(tt.Add(-lookback)) || s.End.After(nn) {
				t.Fatalf("slot %s outside (t-lookback, t] or after now (t=%s, now=%s, lookback=%s)", s, tt, nn, lookback)
			}
			if i > 0 && !s.Start.Equal(slots[i-1].End) {
				t.Fatalf("slots not contiguous at %d", i)
			}
		}
		if !nn.Before(tt) && len(slots) != int(lookback/g.Length()) {
			t.Fatalf("got %d slots, want %d", len(slots), lookback/g.Length())
		}
	})
}

func TestOnRecordedDays(t *testing.T) {
	d := func(s string) time.Time { return ts(s + "T00:00:00Z") }
	recorded := map[time.Time]time.Duration{
		d("2026-11-22"): 24 * time.Hour,
		d("2026-11-23"): 12 * time.Hour,
		d("2026-11-25"): 24 * time.Hour,
	}
	lengthOf := func(day time.Time) time.Duration { return recorded[day] }
	fmtSlots := func(ss []window.Slot) string {
		var parts []string
		for _, s := range ss {
			parts = append(parts, s.Start.Format("02T15")+"+"+s.End.Sub(s.Start).String())
		}
		return strings.Join(parts, " ")
	}
	for _, tt := range []struct {
		name      string
		grid      time.Duration
		owed      []window.Slot
		now       time.Time
		want      string
		wantMoved int
		wantLater string
	}{
		{"a 12h slot of a 24h day is the whole day, once", 12 * time.Hour,
			grid(t, 12*time.Hour).Slots(d("2026-11-22"), d("2026-11-23")), ts("2026-11-26T06:00:00Z"),
			"22T00+24h0m0s", 1, ""},
		{"a 24h slot of a 12h day is its two 12h slots", 24 * time.Hour,
			[]window.Slot{{Start: d("2026-11-23"), End: d("2026-11-24")}}, ts("2026-11-26T06:00:00Z"),
			"23T00+12h0m0s 23T12+12h0m0s", 1, ""},
		{"6h over a 24h, a 12h and a new day", 6 * time.Hour,
			grid(t, 6*time.Hour).Slots(d("2026-11-22"), d("2026-11-25")), ts("2026-11-26T06:00:00Z"),
			"22T00+24h0m0s 23T00+12h0m0s 23T12+12h0m0s 24T00+6h0m0s 24T06+6h0m0s 24T12+6h0m0s 24T18+6h0m0s", 2, ""},
		{"a recorded slot that has not ended waits", 6 * time.Hour,
			grid(t, 6*time.Hour).Slots(d("2026-11-25"), ts("2026-11-25T12:00:00Z")), ts("2026-11-25T12:05:00Z"),
			"", 1, "25T00+24h0m0s"},
		{"a recorded slot that starts before the horizon is not exported", 6 * time.Hour,
			grid(t, 6*time.Hour).Slots(ts("2026-11-22T18:00:00Z"), d("2026-11-23")), ts("2026-12-22T06:00:00Z"),
			"", 1, ""},
		{"a day on its own length is as owed", 24 * time.Hour,
			[]window.Slot{{Start: d("2026-11-22"), End: d("2026-11-23")}}, ts("2026-11-26T06:00:00Z"),
			"22T00+24h0m0s", 0, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, moved := window.OnRecordedDays(tt.owed, lengthOf, tt.now)
			if fmtSlots(got) != tt.want || len(moved) != tt.wantMoved {
				t.Fatalf("got %q, %d days moved; want %q, %d", fmtSlots(got), len(moved), tt.want, tt.wantMoved)
			}
			var later []window.Slot
			for _, m := range moved {
				if recorded[m.Day] != m.Recorded {
					t.Errorf("moved %s says %s; recorded %s", m.Day, m.Recorded, recorded[m.Day])
				}
				later = append(later, m.Later...)
			}
			if fmtSlots(later) != tt.wantLater {
				t.Errorf("later %q; want %q", fmtSlots(later), tt.wantLater)
			}
		})
	}
}
