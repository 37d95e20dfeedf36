// Package export runs an export: for each slot it pages the sessions,
// encodes them to Parquet, streams the object to S3 and writes its manifest,
// within the invocation's deadline.
package export

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/session-audit/session-audit/internal/archive"
	"github.com/session-audit/session-audit/internal/metrics"
	"github.com/session-audit/session-audit/internal/nodes"
	"github.com/session-audit/session-audit/internal/outcome"
	"github.com/session-audit/session-audit/internal/reach"
	"github.com/session-audit/session-audit/internal/sessions"
	"github.com/session-audit/session-audit/internal/store"
	"github.com/session-audit/session-audit/internal/window"
)

// S3API is what an export needs of S3.
type S3API interface {
	store.UploadAPI
	store.GetAPI
	store.ListAPI
	store.HeadAPI
}

// Exporter exports slots of session history to S3.
type Exporter struct {
	SSM      sessions.API
	S3       S3API
	Bucket   string
	Prefix   string
	Region   string
	Grid     window.Grid
	Lookback time.Duration
	Filters  sessions.Filters
	// Streams is how many sub-windows of a slot are paged at once.
	Streams int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Log receives one line per slot; nil means slog.Default().
	Log *slog.Logger
	// Metrics, when set, receives one CloudWatch EMF line per run.
	Metrics io.Writer
	// Function names the function in the metrics' FunctionName dimension.
	Function string
	// Throttles, when set, reports how many throttling answers the SDK
	// clients have retried so far.
	Throttles func() int64
	// PartSize overrides the multipart part size (store.PartSize); for
	// tests only, as S3 refuses parts under 5 MiB.
	PartSize int
	// Digests, when set, records the manifests of each run that wrote any
	// (internal/digest).
	Digests Recorder

	// claimFn, set by plan on a run's copy of the exporter, claims the
	// run's slots in the target's state; claimed says it did.
	claimFn func(context.Context) error
	claimed bool
}

// Recorder records the manifests a run of one account and region wrote.
type Recorder interface {
	Record(ctx context.Context, account, region string, manifests []string) (string, error)
}

// SlotResult is the outcome of one slot, as the response reports it.
type SlotResult struct {
	Start         time.Time `json:"start"`
	End           time.Time `json:"end"`
	Rows          int64     `json:"rows"`
	Object        string    `json:"object"`
	Manifest      string    `json:"manifest"`
	ActivePending int       `json:"activePending"`
	Kept          bool      `json:"kept"`
}

// Result is the outcome of a run of one target: its slots, the target's
// account and region, and how the target ended. A refused target (denied
// or region-disabled) has no slots, and Error holds the AWS answer.
type Result struct {
	Mode    string         `json:"mode"`
	Slots   []SlotResult   `json:"slots"`
	Rows    int64          `json:"rows"`
	Account string         `json:"account"`
	Region  string         `json:"region"`
	Status  outcome.Status `json:"status"`
	Error   string         `json:"error,omitempty"`
	// Nodes is the node snapshot of a scheduled run (set by the handler
	// after the export; see package nodes); nil for other runs.
	Nodes *nodes.Result `json:"nodes,omitempty"`
	// Accounts is the accounts file a scheduled run of single-account
	// mode wrote (package accounts); "" otherwise.
	Accounts string `json:"accounts,omitempty"`
}

// SlotsError reports slots that a run did not write; the slots it did write
// stay written and are in Result.
type SlotsError struct {
	Unwritten []window.Slot
	Err       error
}

// Error names every slot not written, once each, and why: Err holds one
// error per failed slot, each naming its slot, and one naming the slots
// left unstarted.
func (e *SlotsError) Error() string {
	return fmt.Sprintf("%d slot(s) not written: %v", len(e.Unwritten), e.Err)
}

// notStarted names slots a run did not start, and why.
func notStarted(why string, slots []window.Slot) error {
	return fmt.Errorf("%s; not started: %s", why, strings.Join(slotNames(slots), ", "))
}

// Unwrap returns the joined causes.
func (e *SlotsError) Unwrap() error { return e.Err }

func (e *Exporter) now() time.Time {
	if e.Now != nil {
		return e.Now().UTC()
	}
	return time.Now().UTC()
}

func (e *Exporter) log() *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.Default()
}

// Target is the account and region an export reads, with the SSM client
// that reaches them. Its rows, keys, manifests and metrics carry its
// account and region.
type Target struct {
	Account string
	// Region is the target's region; "" means the Exporter's Region.
	Region string
	// SSM reaches the target; nil means the Exporter's SSM client.
	SSM sessions.API
}

// forTarget returns a copy of e that exports tg, and tg's keys.
func (e *Exporter) forTarget(tg Target) (*Exporter, store.Keys, error) {
	te := *e
	if tg.SSM != nil {
		te.SSM = tg.SSM
	}
	if tg.Region != "" {
		te.Region = tg.Region
	}
	keys, err := store.NewKeys(e.Prefix, tg.Account, te.Region)
	if err != nil {
		return nil, store.Keys{}, fmt.Errorf("object keys: %w", err)
	}
	return &te, keys, nil
}

// Scheduled exports the slots a scheduled run at t owes the target: every
// whole slot that ended in (t - Lookback, t], never one that ends after
// now, each day on the slot length its first export fixed, plus every slot
// inside the History horizon that the target's state holds open (its
// manifest still counts sessions that were active when it was written, or
// the run that claimed it did not finish it). It reads the target's state
// object, never a month of manifest listings (see state.go).
func (e *Exporter) Scheduled(ctx context.Context, tg Target, t time.Time) (Result, error) {
	now := e.now()
	if t.Before(now.Add(-window.HistoryHorizon)) {
		return Result{}, fmt.Errorf("scheduled time %s is before the 30-day History horizon (%s)", t.UTC().Format(time.RFC3339), now.Add(-window.HistoryHorizon).Format(time.RFC3339))
	}
	te, keys, err := e.forTarget(tg)
	if err != nil {
		return Result{}, err
	}
	owed := e.Grid.Scheduled(t, e.Lookback, now)
	te, slots, err := te.plan(ctx, keys, now, func(st *store.State) ([]window.Slot, []window.Moved) {
		// The lookback's slots first: they hold the newest sessions, never
		// exported yet, while reopened slots were written before. Both on
		// their days' recorded lengths.
		return window.OnRecordedDays(append(owed, reopened(st, now)...), st.DayLength, now)
	})
	if err != nil {
		return unplanned("scheduled", keys, owed, err)
	}
	return te.runAndRecord(ctx, "scheduled", keys, slots, now)
}

// Backfill exports every slot of [start, end) of the target, which must lie
// on the slot grid, inside the History horizon and not after now. A day
// whose first export fixed another slot length is exported on that length.
func (e *Exporter) Backfill(ctx context.Context, tg Target, start, end time.Time) (Result, error) {
	now := e.now()
	owed, err := e.Grid.Range(start, end, now)
	if err != nil {
		return Result{}, fmt.Errorf("backfill range: %w", err)
	}
	te, keys, err := e.forTarget(tg)
	if err != nil {
		return Result{}, err
	}
	te, slots, err := te.plan(ctx, keys, now, func(st *store.State) ([]window.Slot, []window.Moved) {
		return window.OnRecordedDays(owed, st.DayLength, now)
	})
	if err != nil {
		return unplanned("backfill", keys, owed, err)
	}
	return te.runAndRecord(ctx, "backfill", keys, slots, now)
}

// unplanned is the answer of a run that could not read the target's state
// and so started none of the slots it owes: an error naming each of them.
func unplanned(mode string, keys store.Keys, owed []window.Slot, err error) (Result, error) {
	res := Result{Mode: mode, Slots: []SlotResult{}, Account: keys.Account, Region: keys.Region, Status: outcome.Exported}
	if len(owed) == 0 {
		return res, err
	}
	return res, &SlotsError{Unwritten: owed, Err: notStarted(err.Error(), owed)}
}

// Deadline handling: a slot is started only when the time left is at least
// startReserve and twice the longest slot of this run so far. The work of a
// slot in flight (paging, encoding, parts) is cancelled cancelMargin +
// commitReserve before the deadline. Its commit and its manifest then run
// on a context that the invocation's end does not cancel, with their own
// deadline cancelMargin before the invocation's (at least commitReserve
// away), so a deadline cannot fall between an object and its manifest; the
// last cancelMargin is left for aborting an upload cleanly. Without an
// invocation deadline (the CLI), commit and manifest get commitTimeout, so
// an interrupt does not separate them either.
const (
	startReserve  = 4 * time.Second
	cancelMargin  = 1500 * time.Millisecond
	commitReserve = time.Second
	commitTimeout = 30 * time.Second
)

// commitContext is the context of a slot's commit and manifest: not
// cancelled with ctx, but with its own deadline, commitReserve past ctx's
// (run gives ctx a deadline that much before the invocation's end), or
// commitTimeout from now when ctx has none.
func commitContext(ctx context.Context) (context.Context, context.CancelFunc) {
	base := context.WithoutCancel(ctx)
	if d, ok := ctx.Deadline(); ok {
		return context.WithDeadline(base, d.Add(commitReserve))
	}
	return context.WithTimeout(base, commitTimeout)
}

// run exports slots in order and collects their results. Slots that failed
// or that the deadline left unstarted are returned in a *SlotsError beside
// the results of the slots that were written.
func (e *Exporter) run(ctx context.Context, mode string, keys store.Keys, slots []window.Slot) (res Result, err error) {
	res = Result{Mode: mode, Slots: []SlotResult{}, Account: keys.Account, Region: keys.Region, Status: outcome.Exported}
	m := metrics.Run{Function: e.Function, Mode: mode, Account: keys.Account, Region: keys.Region}
	began, throttles := time.Now(), e.throttles()
	defer func() {
		m.Duration, m.Throttles, m.SessionsExported = time.Since(began), e.throttles()-throttles, 0
		for _, s := range res.Slots {
			m.ActivePending += s.ActivePending
			if s.Kept {
				m.SlotsKept++
			} else {
				m.SlotsWritten++
				m.SessionsExported += s.Rows
			}
		}
		var se *SlotsError
		m.Status = string(outcome.Exported)
		if st, refused := outcome.Refused(err); refused && len(res.Slots) == 0 {
			// A refused target is an answer, not a failure: no failed slots
			// for the alarms.
			m.Status = string(st)
		} else if errors.As(err, &se) {
			m.SlotsFailed, m.Status = len(se.Unwritten), "failed"
		}
		if e.Metrics != nil {
			if werr := metrics.Write(e.Metrics, m, e.now()); werr != nil {
				e.log().Warn("metrics not written", "error", werr.Error())
			}
		}
	}()
	var unwritten []window.Slot
	var errs []error
	var longest time.Duration
	deadline, hasDeadline := ctx.Deadline()
	for i, s := range slots {
		if hasDeadline {
			if left := time.Until(deadline); left < max(startReserve, 2*longest) {
				unwritten = append(unwritten, slots[i:]...)
				errs = append(errs, notStarted(fmt.Sprintf("invocation deadline: %s left, not enough to start another slot", left.Round(time.Millisecond)), slots[i:]))
				break
			}
		}
		began := time.Now()
		slotCtx, cancel := ctx, context.CancelFunc(func() {})
		if hasDeadline {
			slotCtx, cancel = context.WithDeadline(ctx, deadline.Add(-cancelMargin-commitReserve))
		}
		r, calls, err := e.slot(slotCtx, keys, s)
		m.APICalls += calls
		cancel()
		took := time.Since(began)
		longest = max(longest, took)
		if err != nil {
			e.log().Error("slot not written", "slot", s.String(), "error", err.Error())
			unwritten = append(unwritten, s)
			errs = append(errs, err)
			// A refused target (no role, region not enabled) refuses every
			// slot alike, and an endpoint that cannot be reached fails every
			// later slot alike: stop at the first.
			_, refused := outcome.Refused(err)
			var unreachable *reach.Error
			var claim claimError
			claimed := errors.As(err, &claim)
			if refused || claimed || errors.As(err, &unreachable) || ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
				if rest := slots[i+1:]; len(rest) > 0 {
					why := "the invocation ended"
					switch {
					case refused:
						why = "the target refused the first slot"
					case claimed:
						why = "the slots could not be claimed in the target's state"
					case unreachable != nil:
						why = "the endpoint cannot be reached"
					}
					unwritten = append(unwritten, rest...)
					errs = append(errs, notStarted(why, rest))
				}
				break
			}
			continue
		}
		msg := "slot written"
		if r.Kept {
			msg = "slot kept"
		}
		e.log().Info(msg, "slot", s.String(), "rows", r.Rows, "object", r.Object,
			"activePending", r.ActivePending, "kept", r.Kept, "calls", calls, "ms", took.Milliseconds())
		res.Slots = append(res.Slots, r)
		res.Rows += r.Rows
	}
	if err := e.recordDigest(ctx, res); err != nil {
		errs = append(errs, err)
	}
	if len(unwritten) > 0 {
		return res, &SlotsError{Unwritten: unwritten, Err: errors.Join(errs...)}
	}
	return res, errors.Join(errs...)
}

// recordDigest hands the manifests the run wrote to the digest recorder,
// on a context that a cancelled run does not cancel, ending cancelMargin
// before the invocation's deadline (commitTimeout without one).
func (e *Exporter) recordDigest(ctx context.Context, res Result) error {
	if e.Digests == nil || len(res.Slots) == 0 {
		return nil
	}
	keys := make([]string, len(res.Slots))
	for i, s := range res.Slots {
		keys[i] = s.Manifest
	}
	cancel := context.CancelFunc(func() {})
	if d, ok := ctx.Deadline(); ok {
		ctx, cancel = context.WithDeadline(context.WithoutCancel(ctx), d.Add(-cancelMargin))
	} else {
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	}
	defer cancel()
	key, err := e.Digests.Record(ctx, res.Account, res.Region, keys)
	if err != nil {
		return fmt.Errorf("digest of the run: %w", err)
	}
	e.log().Info("digest written", "digest", key, "manifests", len(keys))
	return nil
}

// slot exports one slot: active count first (a session that ends meanwhile
// is then counted and also exported, never neither), then the History
// sessions streamed into the object, then the manifest. It also returns the
// number of DescribeSessions calls it made.
func (e *Exporter) slot(ctx context.Context, keys store.Keys, s window.Slot) (SlotResult, int, error) {
	manifestKey := keys.Manifest(s)
	old, err := store.GetManifest(ctx, e.S3, e.Bucket, manifestKey)
	if err != nil {
		return SlotResult{}, 0, fmt.Errorf("slot %s: %w", s, err)
	}
	lister := &sessions.Lister{API: e.SSM, Filters: e.Filters, Streams: e.Streams}
	pending := 0
	active, err := lister.Each(ctx, types.SessionStateActive, s, func(types.Session) error { pending++; return nil })
	if err != nil {
		return SlotResult{}, active.Calls, fmt.Errorf("slot %s: %w", s, err)
	}
	// The target answered: claim the run's slots before the first write.
	if err := e.claimOnce(ctx); err != nil {
		return SlotResult{}, active.Calls, fmt.Errorf("slot %s: %w", s, err)
	}

	origin := archive.Origin{AccountID: keys.Account, Region: keys.Region, ExportedAt: e.now()}
	up := store.NewUpload(ctx, e.S3, e.Bucket, keys.Object(s), "application/vnd.apache.parquet", newExportID(origin.ExportedAt))
	up.SetPartSize(e.PartSize)
	pw := archive.NewWriter(up)
	batch := make([]archive.Row, 0, batchSize)
	history, err := lister.Each(ctx, types.SessionStateHistory, s, func(ss types.Session) error {
		batch = append(batch, archive.FromSession(ss, origin))
		if len(batch) == cap(batch) {
			err := pw.Write(batch)
			batch = batch[:0]
			return err
		}
		return nil
	})
	calls := active.Calls + history.Calls
	if err == nil {
		err = pw.Write(batch)
	}
	if err == nil {
		err = pw.Close()
	}
	if err != nil {
		return SlotResult{}, calls, errors.Join(fmt.Errorf("slot %s: %w", s, err), up.Abort())
	}
	rows := pw.Rows()

	if old != nil && rows < old.Rows {
		if err := up.Abort(); err != nil {
			return SlotResult{}, calls, fmt.Errorf("slot %s: %w", s, err)
		}
		e.log().Warn("slot kept: fewer sessions than its manifest records", "slot", s.String(), "found", rows, "recorded", old.Rows)
		kept, err := e.recordKept(ctx, manifestKey, old, store.Kept{
			CheckedAt: e.now(), Rows: rows, ActivePending: pending, Filters: e.filterMap(),
		})
		if err != nil {
			return SlotResult{}, calls, fmt.Errorf("slot %s: %w", s, err)
		}
		r := resultOf(s, manifestKey, kept, true)
		r.ActivePending = kept.PendingNow()
		return r, calls, nil
	}

	// The object is complete: commit it and write its manifest on a context
	// the invocation's end does not cancel (see commitContext).
	ctx, cancel := commitContext(ctx)
	defer cancel()
	var obj *store.Object
	if rows > 0 {
		o, err := up.Commit(ctx)
		if err != nil {
			return SlotResult{}, calls, fmt.Errorf("slot %s: %w", s, err)
		}
		obj = &o
	} else if err := up.Abort(); err != nil {
		return SlotResult{}, calls, fmt.Errorf("slot %s: %w", s, err)
	}
	m := &store.Manifest{
		Version: store.ManifestVersion, Account: keys.Account, Region: keys.Region,
		SlotStart: s.Start, SlotEnd: s.End, Rows: rows, Object: obj,
		Filters: e.filterMap(),
		APICalls: store.APICalls{
			History: history.Calls, Active: active.Calls, Restarts: history.Restarts + active.Restarts,
			Duplicates: history.Duplicates, Clipped: history.Clipped,
		},
		ActivePending: pending, ExportedAt: origin.ExportedAt, WrittenAt: e.now(),
	}
	prev := ""
	if old != nil {
		prev = old.ETag
	}
	final, err := e.settle(ctx, keys.Object(s), manifestKey, m, prev)
	if err != nil {
		return SlotResult{}, calls, fmt.Errorf("slot %s: %w", s, err)
	}
	return resultOf(s, manifestKey, final, false), calls, nil
}

// recordKept notes in a kept slot's manifest what the export that kept it
// found, above all the sessions still active in the slot now: later runs
// reopen the slot for those, not for the count recorded when its object was
// written, which a filter change or expired History can leave above zero
// for good (the slot would be reopened, and kept, by every run). The
// manifest's object and evidence stay as they were. The write is
// conditional on the manifest read; when another export changed it
// meanwhile, theirs stands. It returns the manifest left in place.
func (e *Exporter) recordKept(ctx context.Context, manifestKey string, old *store.Manifest, k store.Kept) (*store.Manifest, error) {
	if old.PendingNow() == k.ActivePending {
		return old, nil // nothing a later run would decide differently
	}
	m := *old
	m.Kept = &k
	ctx, cancel := commitContext(ctx)
	defer cancel()
	etag, err := store.PutManifest(ctx, e.S3, e.Bucket, manifestKey, &m, old.ETag)
	if errors.Is(err, store.ErrConflict) {
		e.log().Info("a concurrent export of this slot wrote the manifest; leaving it", "manifest", manifestKey)
		return old, nil
	}
	if err != nil {
		return nil, err
	}
	m.ETag = etag
	return &m, nil
}

// maxSettle bounds the rounds of settle.
const maxSettle = 4

// settle writes the manifest m of an object just uploaded so that, when it
// returns, the manifest at manifestKey describes the object current at
// objectKey, even when another export of the same slot runs at the same
// time (EventBridge delivers at least once). Every manifest write is
// conditional on the manifest this export last read; after a write, or a
// lost race, the object's current ETag says whose object is current: the
// export whose upload finished last writes the manifest (re-reading and
// retrying its conditional write if needed), the other yields. It returns
// the manifest left in place.
func (e *Exporter) settle(ctx context.Context, objectKey, manifestKey string, m *store.Manifest, prev string) (*store.Manifest, error) {
	mine := ""
	if m.Object != nil {
		mine = m.Object.ExportID
	}
	for range maxSettle {
		_, err := store.PutManifest(ctx, e.S3, e.Bucket, manifestKey, m, prev)
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return nil, err
		}
		current, herr := store.CurrentExport(ctx, e.S3, e.Bucket, objectKey)
		if herr != nil {
			return nil, herr
		}
		if err == nil {
			if current != mine {
				e.log().Warn("another export replaced the object after this one; it writes the manifest", "object", objectKey)
			}
			return m, nil
		}
		// Another export wrote the manifest first.
		theirs, gerr := store.GetManifest(ctx, e.S3, e.Bucket, manifestKey)
		if gerr != nil {
			return nil, gerr
		}
		if theirs == nil {
			prev = ""
			continue
		}
		if current != mine || theirs.ObjectKey() != "" && theirs.Object.ExportID == current {
			e.log().Info("a concurrent export of this slot wrote the manifest; leaving it", "manifest", manifestKey)
			return theirs, nil
		}
		prev = theirs.ETag // our object is current but their manifest describes another: take over
	}
	return nil, fmt.Errorf("manifest %s: still contended after %d conditional writes", manifestKey, maxSettle)
}

// newExportID names one export of one slot: its time and 64 random bits.
func newExportID(at time.Time) string {
	var b [8]byte
	rand.Read(b[:])
	return at.UTC().Format("20060102T150405.000Z") + "-" + hex.EncodeToString(b[:])
}

func resultOf(s window.Slot, manifestKey string, m *store.Manifest, kept bool) SlotResult {
	return SlotResult{Start: s.Start, End: s.End, Rows: m.Rows, Object: m.ObjectKey(), Manifest: manifestKey,
		ActivePending: m.PendingNow(), Kept: kept}
}

func (e *Exporter) throttles() int64 {
	if e.Throttles == nil {
		return 0
	}
	return e.Throttles()
}

// batchSize is how many rows are handed to the Parquet writer at once.
const batchSize = 1024

func (e *Exporter) filterMap() map[string]string {
	m := map[string]string{}
	for k, v := range map[string]string{"Target": e.Filters.Target, "Owner": e.Filters.Owner, "Status": e.Filters.Status, "AccessType": e.Filters.AccessType} {
		if v != "" {
			m[k] = v
		}
	}
	return m
}
