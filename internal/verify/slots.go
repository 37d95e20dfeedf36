package verify

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/session-audit/session-audit/internal/store"
	"github.com/session-audit/session-audit/internal/window"
)

// day is 24 hours: slots tile UTC days.
const day = 24 * time.Hour

// slotKey is a manifest or object key parsed back into its target and slot.
type slotKey struct {
	key        string
	target     store.Keys // Prefix, Account, Region
	start, end time.Time
}

// parseSlotKey parses <root>dt=DAY/<account>_<region>_<start>_<end><ext>;
// ok is false for any other shape, or a name whose dt= is not its day.
func parseSlotKey(root, key, ext string) (slotKey, bool) {
	rest, ok := strings.CutPrefix(key, root)
	if !ok {
		return slotKey{}, false
	}
	_, file, ok := strings.Cut(rest, "/")
	if !ok {
		return slotKey{}, false
	}
	name, ok := strings.CutSuffix(file, ext)
	if !ok {
		return slotKey{}, false
	}
	parts := strings.Split(name, "_")
	if len(parts) != 4 {
		return slotKey{}, false
	}
	prefix := strings.TrimSuffix(strings.TrimSuffix(root, "/manifests/"), "/sessions/")
	k, err := store.NewKeys(prefix, parts[0], parts[1])
	if err != nil {
		return slotKey{}, false
	}
	start, err1 := time.Parse("20060102T150405Z", parts[2])
	end, err2 := time.Parse("20060102T150405Z", parts[3])
	if err1 != nil || err2 != nil || !end.After(start) {
		return slotKey{}, false
	}
	s := window.Slot{Start: start, End: end}
	want := k.Manifest(s)
	if ext == ".parquet" {
		want = k.Object(s)
	}
	if want != key {
		return slotKey{}, false
	}
	return slotKey{key: key, target: k, start: start, end: end}, true
}

// targets are the accounts and regions seen, each with the first and last
// day it was seen on.
type targets struct {
	keys        map[string]store.Keys
	first, last map[string]time.Time
}

func newTargets() *targets {
	return &targets{keys: map[string]store.Keys{}, first: map[string]time.Time{}, last: map[string]time.Time{}}
}

func (t *targets) see(k store.Keys, at time.Time) {
	id := k.Account + "_" + k.Region
	d := at.UTC().Truncate(day)
	t.keys[id] = k
	if f, ok := t.first[id]; !ok || d.Before(f) {
		t.first[id] = d
	}
	if l, ok := t.last[id]; !ok || d.After(l) {
		t.last[id] = d
	}
}

// checkSlots reports every slot without a manifest, each day of each
// target tiled by that day's own slot length: the length of the day's
// first-written manifest (the export that fixed it), or Options.Slot for a
// day without one. A manifest of another length on a fixed day overlaps
// the day's slots: it is reported as object-modified (the day holds its
// sessions twice). Slots ending after now are not expected. It returns the
// number of slots expected and the range checked.
func (r *run) checkSlots(manifests []*manifestInfo, ts *targets) (int, time.Time, time.Time) {
	byDay := map[string][]*manifestInfo{}
	for _, m := range manifests {
		id := m.target.Account + "_" + m.target.Region + "_" + m.start.Format(time.DateOnly)
		byDay[id] = append(byDay[id], m)
	}
	from, to := r.opt.From, r.opt.To
	if from.IsZero() {
		for id := range ts.first {
			if to.IsZero() || !ts.last[id].Before(to) {
				to = ts.last[id].Add(day)
			}
			if from.IsZero() || ts.first[id].Before(from) {
				from = ts.first[id]
			}
		}
	}
	expected := 0
	ids := make([]string, 0, len(ts.keys))
	for id := range ts.keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		k := ts.keys[id]
		first := from
		if r.opt.From.IsZero() {
			first = ts.first[id] // the whole archive: from the target's first day
		}
		for d := first; d.Before(to); d = d.Add(day) {
			ms := byDay[id+"_"+d.Format(time.DateOnly)]
			length := r.opt.Slot
			have := map[time.Time]bool{}
			if len(ms) > 0 {
				fixed := ms[0]
				for _, m := range ms[1:] {
					if m.writtenAt.Before(fixed.writtenAt) {
						fixed = m
					}
				}
				length = fixed.end.Sub(fixed.start)
				for _, m := range ms {
					if l := m.end.Sub(m.start); l != length {
						r.report(ObjectModified, m.key, "a %s slot on a day exported on %s slots (fixed by %s): the two overlap, so the day holds its sessions twice", l, length, fixed.key)
						continue
					}
					have[m.start] = true
				}
			}
			if length <= 0 || day%length != 0 {
				r.report(ObjectModified, id, "day %s: slot length %s does not divide a day", d.Format(time.DateOnly), length)
				continue
			}
			for s := d; s.Before(d.Add(day)); s = s.Add(length) {
				slot := window.Slot{Start: s, End: s.Add(length)}
				if slot.End.After(r.now) {
					break
				}
				expected++
				if !have[s] {
					r.report(ManifestMissing, k.Manifest(slot), "no manifest for slot %s of %s in %s", slot, k.Account, k.Region)
				}
			}
		}
	}
	return expected, from, to
}

// String is for details.
func (s slotKey) String() string { return fmt.Sprintf("%s [%s, %s)", s.key, s.start, s.end) }
