package export

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/session-audit/session-audit/internal/store"
	"github.com/session-audit/session-audit/internal/window"
)

// The target's state object (store.State) is how a run knows, without
// listing a month of manifests, which slot length each day has and which
// slots it must export again. A run reads it, plans its slots on it, and
// claims them (records their days and puts them in Open) with a conditional
// write before it writes any object; after the run it records what each
// written slot's manifest counts. Both writes are conditional and, when
// another run changed the state meanwhile, are reapplied to the state read
// again. A crash between the two leaves the claimed slots open: the next
// scheduled run exports them again. See docs/ARCHITECTURE.md, "The
// target's state".

// maxStateWrites bounds the rounds of a conditional state write: enough
// for dozens of runs of one target at once (backfills beside a scheduled
// run), each round after a lost race waiting a random while first.
const maxStateWrites = 32

// contended waits before round n (from 1) of a conditional state write that
// lost a race: a random while up to 10 ms × n, so writers that collided do
// not collide again in step.
func contended(ctx context.Context, n int) error {
	t := time.NewTimer(time.Duration(rand.Int64N(int64(10 * time.Millisecond * time.Duration(n)))))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// planFunc chooses a run's slots on a state, and says which days it moved
// onto their recorded slot length.
type planFunc func(st *store.State) ([]window.Slot, []window.Moved)

// plan reads (or builds) the target's state and plans the run's slots on
// it. It logs each day moved onto its recorded length. The returned
// exporter claims the slots (claim) once the target has answered its first
// call: a target that refuses (denied, region not enabled) or cannot be
// reached gets nothing written, not even its state.
func (e *Exporter) plan(ctx context.Context, keys store.Keys, now time.Time, plan planFunc) (*Exporter, []window.Slot, error) {
	st, err := e.loadState(ctx, keys, now)
	if err != nil {
		return nil, nil, err
	}
	slots, moved := plan(st)
	for _, m := range moved {
		attrs := []any{"day", m.Day.Format(time.DateOnly), "recordedSlot", m.Recorded.String(), "auditSlot", e.Grid.Length().String()}
		if len(m.Later) > 0 {
			attrs = append(attrs, "notEndedYet", slotNames(m.Later))
		}
		if len(m.Expired) > 0 {
			attrs = append(attrs, "beforeHistoryHorizon", slotNames(m.Expired))
		}
		e.log().Info("day exported on the slot length its first export fixed, not AUDIT_SLOT", attrs...)
	}
	te := *e
	te.claimed = false
	te.claimFn = func(ctx context.Context) error { return te.claim(ctx, keys, st, slots, now) }
	return &te, slots, nil
}

func slotNames(slots []window.Slot) []string {
	out := make([]string, len(slots))
	for i, s := range slots {
		out[i] = s.String()
	}
	return out
}

// claimError is a claim that failed: the run stops, as every later slot
// would fail the same way.
type claimError struct{ error }

func (e claimError) Unwrap() error { return e.error }

// claimOnce claims the run's slots before its first write; later calls do
// nothing once a claim succeeded.
func (e *Exporter) claimOnce(ctx context.Context) error {
	if e.claimed || e.claimFn == nil {
		return nil
	}
	if err := e.claimFn(ctx); err != nil {
		return claimError{err}
	}
	e.claimed = true
	return nil
}

// update applies change to st and writes st conditionally on the state it
// was read as. When another run wrote the state first, it waits a random
// while, reads the state again and reapplies change, up to maxStateWrites
// rounds. change reports whether it changed st; nothing is written when it
// did not.
func (e *Exporter) update(ctx context.Context, keys store.Keys, st *store.State, now time.Time, change func(*store.State) (bool, error)) error {
	for n := range maxStateWrites {
		if n > 0 {
			if err := contended(ctx, n); err != nil {
				return err
			}
			var err error
			if st, err = e.loadState(ctx, keys, now); err != nil {
				return err
			}
		}
		changed, err := change(st)
		if err != nil || !changed {
			return err
		}
		st.UpdatedAt = e.now()
		if err := store.PutState(ctx, e.S3, e.Bucket, keys, st); !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("state s3://%s/%s: still contended after %d conditional writes", e.Bucket, keys.StateKey(), maxStateWrites)
}

// claim records the days of slots and puts them in Open, on st or, when
// another run wrote the state meanwhile, on the state read again: if that
// run fixed one of these slots' days on another length, the run stops
// before writing anything (the next run exports those days on their
// length). It logs each open slot that left the History horizon
// unexported.
func (e *Exporter) claim(ctx context.Context, keys store.Keys, st *store.State, slots []window.Slot, now time.Time) error {
	var dropped []store.OpenSlot
	err := e.update(ctx, keys, st, now, func(st *store.State) (bool, error) {
		var clash []string
		for _, s := range slots {
			if l := st.DayLength(s.Start); l != 0 && l != s.End.Sub(s.Start) {
				clash = append(clash, fmt.Sprintf("day %s on %s, not %s", window.Day(s.Start).Format(time.DateOnly), l, s.End.Sub(s.Start)))
			}
		}
		if len(clash) > 0 {
			return false, fmt.Errorf("the target's state records %s since this run planned (a concurrent run exported those days first); nothing written, the next run exports them on the recorded length", strings.Join(clash, ", "))
		}
		dropped = st.Prune(now)
		changed := len(dropped) > 0
		changed = st.Record(slots) || changed
		return st.Claim(slots) || changed, nil
	})
	if err != nil {
		return err
	}
	for _, o := range dropped {
		e.log().Warn("slot left the History horizon before a run could export it again", "slot", o.Slot().String(), "pending", o.Pending)
	}
	return nil
}

// reopened is the open slots of st inside the History horizon that have
// ended, oldest first. A slot the run owes
// anyway is dropped when the two are mapped onto their days' lengths
// (window.OnRecordedDays).
func reopened(st *store.State, now time.Time) []window.Slot {
	var out []window.Slot
	for _, o := range st.Open {
		if s := o.Slot(); window.InHorizon(s, now) && !s.End.After(now) {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// runAndRecord runs the slots and then records in the state what each
// written slot's manifest counts: a slot with pending sessions stays open,
// the others close. Slots not written stay open as claimed. A failure to
// record is logged, not returned: the state then over-approximates, which
// costs the next run a re-export, never a session.
func (e *Exporter) runAndRecord(ctx context.Context, mode string, keys store.Keys, slots []window.Slot, now time.Time) (Result, error) {
	res, err := e.run(ctx, mode, keys, slots)
	if len(res.Slots) > 0 {
		// As a slot's commit: not cancelled with the invocation, and done
		// cancelMargin before its deadline.
		base, cancelBase := ctx, context.CancelFunc(func() {})
		if d, ok := ctx.Deadline(); ok {
			base, cancelBase = context.WithDeadline(ctx, d.Add(-cancelMargin-commitReserve))
		}
		defer cancelBase()
		rctx, cancel := commitContext(base)
		defer cancel()
		if rerr := e.record(rctx, keys, res.Slots, now); rerr != nil {
			e.log().Warn("target state not updated; the next scheduled run exports the slots again", "state", keys.StateKey(), "error", rerr.Error())
		}
	}
	return res, err
}

// record sets the open record of every written slot from the manifest in
// place at its key, read after the state: with concurrent exports of one
// slot the manifest that stands may be another run's, with another pending
// count, and a slot leaves Open only when the manifest that stands counts
// none. The change is reapplied to a state another run wrote meanwhile.
func (e *Exporter) record(ctx context.Context, keys store.Keys, written []SlotResult, now time.Time) error {
	st, err := e.loadState(ctx, keys, now)
	if err != nil {
		return err
	}
	manifestKeys := make([]string, len(written))
	for i, r := range written {
		manifestKeys[i] = r.Manifest
	}
	return e.update(ctx, keys, st, now, func(st *store.State) (bool, error) {
		ms, errs := store.GetManifests(ctx, e.S3, e.Bucket, manifestKeys)
		changed := false
		for i, r := range written {
			pending := store.Claimed // unreadable or gone: the next run looks again
			if errs[i] == nil && ms[i] != nil {
				pending = ms[i].PendingNow()
			}
			changed = st.SetOpen(window.Slot{Start: r.Start, End: r.End}, pending) || changed
		}
		return changed, nil
	})
}

// State returns the target's state as a run would plan on it: read, or
// built from the manifests (and not written) when the target has none.
// It writes nothing.
func (e *Exporter) State(ctx context.Context, tg Target) (*store.State, error) {
	te, keys, err := e.forTarget(tg)
	if err != nil {
		return nil, err
	}
	return te.loadState(ctx, keys, e.now())
}

// loadState reads the target's state, or builds it from the manifests of
// the History horizon when the target has none yet (the first run of this
// version, or a state object someone deleted). A built state is returned
// unwritten (ETag ""): the claim writes it with If-None-Match, so two runs
// that build it at once do not both win.
func (e *Exporter) loadState(ctx context.Context, keys store.Keys, now time.Time) (*store.State, error) {
	st, err := store.GetState(ctx, e.S3, e.Bucket, keys)
	if err != nil || st != nil {
		return st, err
	}
	return e.buildState(ctx, keys, now)
}

// unknownTime is the export time of a manifest that could not be read: later
// than any real one, so a readable manifest of its day decides the day's
// length.
var unknownTime = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// buildState lists the target's manifests of every day of the History
// horizon, one prefix a day, and reads them: each day's slot length, and
// the slots whose manifest still counts pending sessions. A day that
// already holds slots of two lengths (written before lengths were fixed per
// day) keeps the length of its earliest export, and is logged: its sessions
// are in the archive twice, which the report's completeness names.
func (e *Exporter) buildState(ctx context.Context, keys store.Keys, now time.Time) (*store.State, error) {
	st := store.NewState(keys)
	st.Since = e.now()
	listed, err := store.ListManifestKeys(ctx, e.S3, e.Bucket, keys, now.Add(-window.HistoryHorizon), now)
	if err != nil {
		return nil, err
	}
	var slots []window.Slot
	var manifestKeys []string
	for _, key := range listed {
		if s, ok := keys.SlotOfManifest(key); ok {
			slots, manifestKeys = append(slots, s), append(manifestKeys, key)
		}
	}
	ms, errs := store.GetManifests(ctx, e.S3, e.Bucket, manifestKeys)
	type first struct {
		length time.Duration
		at     time.Time
	}
	days := map[string]first{}
	mixed := map[string]bool{}
	for i, s := range slots {
		day, l := window.Day(s.Start).Format(time.DateOnly), s.End.Sub(s.Start)
		if errs[i] != nil {
			// One unreadable manifest must not stop the run: its slot is
			// reopened, which rewrites it. Its key still tells its day's
			// length, which the day's readable manifests override.
			e.log().Warn("manifest not readable; slot opened again", "manifest", manifestKeys[i], "error", errs[i].Error())
			st.SetOpen(s, store.Claimed)
			if _, ok := days[day]; !ok {
				days[day] = first{length: l, at: unknownTime}
			}
			continue
		}
		if ms[i] == nil {
			continue // deleted since the listing
		}
		at := ms[i].ExportedAt
		if f, ok := days[day]; !ok || at.Before(f.at) {
			if ok && f.length != l {
				mixed[day] = true
			}
			days[day] = first{length: l, at: at}
		} else if f.length != l {
			mixed[day] = true
		}
		if window.InHorizon(s, now) && ms[i].PendingNow() > 0 {
			st.SetOpen(s, ms[i].PendingNow())
		}
	}
	// An open slot of a day's other length (a day that holds two) reopens
	// as the recorded slots it overlaps (window.OnRecordedDays, when
	// planned).
	for day, f := range days {
		st.Days[day] = f.length.String()
		if mixed[day] {
			e.log().Warn("day holds slots of two lengths (exported before each day kept one); later runs keep its first", "day", day, "recordedSlot", f.length.String())
		}
	}
	e.log().Info("target state built from the manifests", "state", keys.StateKey(), "manifests", len(listed), "days", len(st.Days), "open", len(st.Open))
	return st, nil
}
