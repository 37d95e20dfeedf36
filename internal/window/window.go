// Package window does the slot arithmetic of the export: which UTC slots a
// scheduled run or a backfill covers, and whether a requested range is valid.
// It is pure: no I/O, no process time zone, "now" is always an argument.
package window

import (
	"fmt"
	"time"
)

// HistoryHorizon is how long SSM keeps ended sessions in History.
const HistoryHorizon = 30 * 24 * time.Hour

// Lengths are the slot lengths allowed for AUDIT_SLOT: the divisors of a day
// in whole hours, so every slot lies inside one UTC date.
var Lengths = []time.Duration{
	1 * time.Hour, 2 * time.Hour, 3 * time.Hour, 4 * time.Hour,
	6 * time.Hour, 8 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// Slot is the half-open UTC interval [Start, End).
type Slot struct {
	Start time.Time
	End   time.Time
}

// String formats the slot as "start/end" in RFC 3339, the ISO 8601 interval form.
func (s Slot) String() string {
	return s.Start.Format(time.RFC3339) + "/" + s.End.Format(time.RFC3339)
}

// Contains reports whether t lies in [Start, End).
func (s Slot) Contains(t time.Time) bool {
	return !t.Before(s.Start) && t.Before(s.End)
}

// Grid is a validated slot length with the arithmetic built on it.
type Grid struct {
	length time.Duration
}

// NewGrid validates a slot length: it must be one of Lengths.
func NewGrid(length time.Duration) (Grid, error) {
	for _, l := range Lengths {
		if length == l {
			return Grid{length: length}, nil
		}
	}
	return Grid{}, fmt.Errorf("slot length %s is not one of 1h, 2h, 3h, 4h, 6h, 8h, 12h, 24h", length)
}

// Length is the slot length of the grid.
func (g Grid) Length() time.Duration { return g.length }

// Floor returns the start of the slot that holds t, in UTC.
func (g Grid) Floor(t time.Time) time.Time {
	// Unix time 0 is a UTC midnight, and every slot length divides a day.
	sec := t.Unix()
	l := int64(g.length / time.Second)
	start := sec - mod(sec, l)
	return time.Unix(start, 0).UTC()
}

// OnGrid reports whether t is a slot boundary.
func (g Grid) OnGrid(t time.Time) bool {
	return t.Nanosecond() == 0 && mod(t.Unix(), int64(g.length/time.Second)) == 0
}

// Slot returns the slot that starts at start, which must be on the grid.
func (g Grid) Slot(start time.Time) Slot {
	start = start.UTC()
	return Slot{Start: start, End: start.Add(g.length)}
}

// Scheduled returns, oldest first, every whole slot that ended in
// (t - lookback, t] and not after now. lookback must be a positive multiple
// of the slot length (see CheckLookback).
func (g Grid) Scheduled(t time.Time, lookback time.Duration, now time.Time) []Slot {
	last := g.Floor(t) // the latest slot end <= t
	if nowEnd := g.Floor(now); nowEnd.Before(last) {
		last = nowEnd
	}
	earliest := t.Add(-lookback) // ends must be strictly after this
	var slots []Slot
	for end := last; end.After(earliest); end = end.Add(-g.length) {
		slots = append(slots, Slot{Start: end.Add(-g.length), End: end})
	}
	reverse(slots)
	return slots
}

// Range returns the slots of the backfill [start, end) after checking that it
// is non-empty, on the grid, inside the History horizon and not in the future.
func (g Grid) Range(start, end, now time.Time) ([]Slot, error) {
	start, end = start.UTC(), end.UTC()
	switch {
	case !end.After(start):
		return nil, fmt.Errorf("end %s is not after start %s", end.Format(time.RFC3339), start.Format(time.RFC3339))
	case !g.OnGrid(start):
		return nil, fmt.Errorf("start %s is not on the %s slot grid (nearest boundary before it: %s)",
			start.Format(time.RFC3339Nano), g.length, g.Floor(start).Format(time.RFC3339))
	case !g.OnGrid(end):
		return nil, fmt.Errorf("end %s is not on the %s slot grid (nearest boundary before it: %s)",
			end.Format(time.RFC3339Nano), g.length, g.Floor(end).Format(time.RFC3339))
	case end.After(now):
		return nil, fmt.Errorf("end %s is after now (%s): a slot is exported only once it has ended",
			end.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case start.Before(now.Add(-HistoryHorizon)):
		return nil, fmt.Errorf("start %s is before the %s History horizon (%s): SSM no longer holds those sessions",
			start.Format(time.RFC3339), "30-day", now.Add(-HistoryHorizon).UTC().Format(time.RFC3339))
	}
	return g.Slots(start, end), nil
}

// InHorizon reports whether the whole slot still lies inside SSM's History
// horizon at now, so re-exporting it can still find every session.
func InHorizon(s Slot, now time.Time) bool {
	return !s.Start.Before(now.Add(-HistoryHorizon))
}

// CheckLookback validates a lookback against the grid: positive, a whole
// number of slots, and no longer than the History horizon.
func (g Grid) CheckLookback(lookback time.Duration) error {
	switch {
	case lookback <= 0:
		return fmt.Errorf("lookback %s is not positive", lookback)
	case lookback%g.length != 0:
		return fmt.Errorf("lookback %s is not a multiple of the slot length %s", lookback, g.length)
	case lookback > HistoryHorizon:
		return fmt.Errorf("lookback %s is longer than the 30-day History horizon", lookback)
	}
	return nil
}

// Split cuts s into n sub-windows of equal length (the last absorbs any
// remainder), for paging one slot with several concurrent streams.
// n is clamped to [1, number of whole seconds in the slot].
func Split(s Slot, n int) []Slot {
	secs := int(s.End.Sub(s.Start) / time.Second)
	if n < 1 {
		n = 1
	}
	if n > secs && secs > 0 {
		n = secs
	}
	step := time.Duration(secs/n) * time.Second
	subs := make([]Slot, n)
	for i := range subs {
		subs[i] = Slot{Start: s.Start.Add(time.Duration(i) * step), End: s.Start.Add(time.Duration(i+1) * step)}
	}
	subs[n-1].End = s.End
	return subs
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

func reverse(s []Slot) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}

// Day is the UTC date that holds t, as its midnight.
func Day(t time.Time) time.Time {
	return t.UTC().Truncate(24 * time.Hour)
}

// Moved records a day that a run exports on a recorded slot length other
// than its grid's: the day's first export fixed that length.
type Moved struct {
	Day      time.Time
	Recorded time.Duration
	// Later is the day's slots of the recorded length that the owed slots
	// overlap but that end after now: a later run exports them.
	Later []Slot
	// Expired is the day's slots of the recorded length that the owed
	// slots overlap but that start before the History horizon: not
	// exported, as a re-export could no longer find all their sessions.
	Expired []Slot
}

// OnRecordedDays maps the slots a run owes onto the slot length each day
// has recorded: a day whose first export fixed another length is exported
// on that length, never on two. For a slot of such a day it returns
// instead every slot of the recorded length that overlaps it, ends by now
// and starts inside the History horizon, once, in the order of the owed
// slots; a slot of a day without a recorded length (lengthOf answers 0), or
// on its day's length, stays as it is. It also returns the days it moved,
// in order.
func OnRecordedDays(owed []Slot, lengthOf func(day time.Time) time.Duration, now time.Time) ([]Slot, []Moved) {
	var out []Slot
	var moved []Moved
	seen := map[time.Time]bool{}
	movedAt := map[time.Time]int{}
	for _, s := range owed {
		day := Day(s.Start)
		l := lengthOf(day)
		if l == 0 || l == s.End.Sub(s.Start) {
			if !seen[s.Start] {
				seen[s.Start] = true
				out = append(out, s)
			}
			continue
		}
		i, ok := movedAt[day]
		if !ok {
			i = len(moved)
			movedAt[day] = i
			moved = append(moved, Moved{Day: day, Recorded: l})
		}
		for start := day; start.Before(day.Add(24 * time.Hour)); start = start.Add(l) {
			r := Slot{Start: start, End: start.Add(l)}
			if !r.Start.Before(s.End) || !s.Start.Before(r.End) || seen[r.Start] {
				continue
			}
			seen[r.Start] = true
			switch {
			case r.End.After(now):
				moved[i].Later = append(moved[i].Later, r)
			case !InHorizon(r, now):
				moved[i].Expired = append(moved[i].Expired, r)
			default:
				out = append(out, r)
			}
		}
	}
	return out, moved
}

// Slots returns the slots of g that tile [from, to), both on the grid.
func (g Grid) Slots(from, to time.Time) []Slot {
	var out []Slot
	for s := from.UTC(); s.Before(to); s = s.Add(g.length) {
		out = append(out, g.Slot(s))
	}
	return out
}
