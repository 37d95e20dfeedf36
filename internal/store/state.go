package store

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/session-audit/session-audit/internal/window"
)

// StateVersion is the format version written in every state object.
const StateVersion = 1

// State is what the scheduled runs of one target (account and region) need
// to know of its archive, kept in one small object so that a run reads it
// instead of listing a month of manifests (docs/ARCHITECTURE.md, "The
// target's state"):
//
//   - Days: the slot length each day's first export fixed. Every export
//     records its days here before it writes a manifest, so a later run with
//     another AUDIT_SLOT finds the day's length without listing.
//   - Open: the slots a later run must export again: claimed by a run before
//     it writes them, and left open while their manifest counts sessions that
//     were still active, or when the run that claimed them did not finish
//     them. A slot leaves Open only after a manifest that counts no pending
//     session was written for it, so Open is never short of a slot that needs
//     a run (crash-safe); at worst it holds a slot that needs none, which the
//     next run exports again and closes.
//
// Every write is conditional on the state read (If-Match / If-None-Match),
// and a writer that loses the race reads again and reapplies its change, so
// concurrent runs merge rather than overwrite each other.
type State struct {
	Version int    `json:"version"`
	Account string `json:"account"`
	Region  string `json:"region"`
	// Days maps a UTC date (YYYY-MM-DD) to its slot length ("24h").
	Days map[string]string `json:"days"`
	// Open lists the slots to export again, oldest first.
	Open []OpenSlot `json:"open"`
	// Since is when the state was first built from the manifests.
	Since     time.Time `json:"since"`
	UpdatedAt time.Time `json:"updatedAt"`

	// ETag is the state object's own ETag as read ("" when none exists);
	// writes are conditional on it. It is not part of the JSON.
	ETag string `json:"-"`
}

// OpenSlot is a slot a later scheduled run exports again.
type OpenSlot struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Pending is the sessions its latest manifest counts as active, or -1
	// while a run has claimed it and not yet written its manifest.
	Pending int `json:"pending"`
}

// Claimed is OpenSlot.Pending of a slot a run has claimed but not written.
const Claimed = -1

// Slot is the open slot as a window.Slot.
func (o OpenSlot) Slot() window.Slot { return window.Slot{Start: o.Start, End: o.End} }

// StateKey is the key of the target's state object.
func (k Keys) StateKey() string {
	return k.Prefix + "/state/" + k.Account + "_" + k.Region + ".json"
}

// NewState is the empty state of k's target.
func NewState(k Keys) *State {
	return &State{Version: StateVersion, Account: k.Account, Region: k.Region, Days: map[string]string{}, Open: []OpenSlot{}}
}

// DayLength is the slot length recorded for the UTC day that holds day, or
// 0 when none is recorded.
func (s *State) DayLength(day time.Time) time.Duration {
	v, ok := s.Days[window.Day(day).Format(time.DateOnly)]
	if !ok {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0
	}
	return d
}

// Check validates a state read from S3: its version, target, and every
// recorded length and open slot.
func (s *State) Check(k Keys) error {
	switch {
	case s.Version != StateVersion:
		return fmt.Errorf("version %d; this build reads version %d", s.Version, StateVersion)
	case s.Account != k.Account || s.Region != k.Region:
		return fmt.Errorf("it is the state of %s/%s, not of %s/%s", s.Account, s.Region, k.Account, k.Region)
	}
	for day, v := range s.Days {
		if _, err := time.Parse(time.DateOnly, day); err != nil {
			return fmt.Errorf("day %q is not YYYY-MM-DD", day)
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("day %s: slot length %q: %w", day, v, err)
		}
		if _, err := window.NewGrid(d); err != nil {
			return fmt.Errorf("day %s: %w", day, err)
		}
	}
	for _, o := range s.Open {
		if !o.End.After(o.Start) || o.Pending < Claimed {
			return fmt.Errorf("open slot %s/%s (pending %d) is not a slot", o.Start.Format(time.RFC3339), o.End.Format(time.RFC3339), o.Pending)
		}
	}
	return nil
}

// Record fixes the length of each slot's day where none is recorded yet,
// and reports whether it changed the state.
func (s *State) Record(slots []window.Slot) bool {
	changed := false
	for _, sl := range slots {
		day := window.Day(sl.Start).Format(time.DateOnly)
		if _, ok := s.Days[day]; !ok {
			s.Days[day] = sl.End.Sub(sl.Start).String()
			changed = true
		}
	}
	return changed
}

// SetOpen sets the open record of slot sl: pending > 0 or Claimed keeps
// (or puts) it in Open, 0 takes it out. It reports whether it changed the
// state.
func (s *State) SetOpen(sl window.Slot, pending int) bool {
	for i, o := range s.Open {
		if !o.Start.Equal(sl.Start) || !o.End.Equal(sl.End) {
			continue
		}
		if pending == 0 {
			s.Open = append(s.Open[:i], s.Open[i+1:]...)
			return true
		}
		if o.Pending == pending {
			return false
		}
		s.Open[i].Pending = pending
		return true
	}
	if pending == 0 {
		return false
	}
	s.Open = append(s.Open, OpenSlot{Start: sl.Start.UTC(), End: sl.End.UTC(), Pending: pending})
	sort.Slice(s.Open, func(i, j int) bool { return s.Open[i].Start.Before(s.Open[j].Start) })
	return true
}

// Claim puts each slot in Open as Claimed unless it is open already, and
// reports whether it changed the state.
func (s *State) Claim(slots []window.Slot) bool {
	changed := false
	for _, sl := range slots {
		open := false
		for _, o := range s.Open {
			if o.Start.Equal(sl.Start) && o.End.Equal(sl.End) {
				open = true
				break
			}
		}
		if !open {
			changed = s.SetOpen(sl, Claimed) || changed
		}
	}
	return changed
}

// Prune drops the open slots that left the History horizon at now (no run
// can export them again; they are returned so the caller can say so) and the
// recorded days older than twice the horizon (no run can write them).
func (s *State) Prune(now time.Time) []OpenSlot {
	var dropped []OpenSlot
	kept := s.Open[:0]
	for _, o := range s.Open {
		if window.InHorizon(o.Slot(), now) {
			kept = append(kept, o)
		} else {
			dropped = append(dropped, o)
		}
	}
	s.Open = kept
	oldest := window.Day(now.Add(-2 * window.HistoryHorizon))
	for day := range s.Days {
		if d, err := time.Parse(time.DateOnly, day); err == nil && d.Before(oldest) {
			delete(s.Days, day)
		}
	}
	return dropped
}

// GetState reads the target's state; it returns nil, nil when none exists.
func GetState(ctx context.Context, api GetAPI, bucket string, k Keys) (*State, error) {
	key := k.StateKey()
	var st State
	etag, found, err := getJSON(ctx, api, bucket, key, "state", &st)
	if err != nil || !found {
		return nil, err
	}
	st.ETag = etag
	if st.Days == nil {
		st.Days = map[string]string{}
	}
	if st.Open == nil {
		st.Open = []OpenSlot{}
	}
	if err := st.Check(k); err != nil {
		return nil, fmt.Errorf("state s3://%s/%s: %w (delete it: the next run builds it again from the manifests)", bucket, key, err)
	}
	return &st, nil
}

// PutState writes st if the state object is still the one st was read as
// (st.ETag; "" meaning none exists yet). A lost race is an error wrapping
// ErrConflict. On success st.ETag is the new object's.
func PutState(ctx context.Context, api PutAPI, bucket string, k Keys, st *State) error {
	etag, err := putJSON(ctx, api, bucket, k.StateKey(), "state", st, st.ETag)
	if err != nil {
		return err
	}
	st.ETag = etag
	return nil
}
