package lambdarun

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/session-audit/session-audit/internal/config"
	"github.com/session-audit/session-audit/internal/digest"
	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/ssmfake"
	"github.com/session-audit/session-audit/internal/store"
	"github.com/session-audit/session-audit/internal/stsfake"
	"github.com/session-audit/session-audit/internal/window"
)

const day = 24 * time.Hour

// eventsDir is the repository's events/ folder.
func eventsDir(t *testing.T) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "events")
}

// slotAnswer is one slot of a scheduled or backfill answer (docs/ARCHITECTURE.md,
// "Response"), decoded here independently of the export package.
type slotAnswer struct {
	Start         time.Time `json:"start"`
	End           time.Time `json:"end"`
	Rows          int64     `json:"rows"`
	Object        string    `json:"object"`
	Manifest      string    `json:"manifest"`
	ActivePending int       `json:"activePending"`
	Kept          bool      `json:"kept"`
}

// answer is what RIE returns: the function's response, or its error.
type answer struct {
	Mode         string           `json:"mode"`
	Slots        []slotAnswer     `json:"slots"`
	Rows         *int64           `json:"rows"`
	Sessions     []map[string]any `json:"sessions"`
	ErrorMessage string           `json:"errorMessage"`
	ErrorType    string           `json:"errorType"`
	Nodes        *struct {
		Status string `json:"status"`
		Object string `json:"object"`
		Count  int    `json:"count"`
	} `json:"nodes"`
	Accounts string `json:"accounts"`
}

// summary shortens an export answer for the test log.
func summary(a answer, body []byte) string {
	if a.ErrorMessage != "" || a.Rows == nil {
		return string(body)
	}
	parts := make([]string, len(a.Slots))
	for i, s := range a.Slots {
		parts[i] = fmt.Sprintf("%s: %d rows, %d active, kept=%v", s.Start.Format(time.DateOnly), s.Rows, s.ActivePending, s.Kept)
	}
	return fmt.Sprintf(`{"mode":%q,"rows":%d,"slots":[%s]}`, a.Mode, *a.Rows, strings.Join(parts, "; "))
}

func decodeAnswer(t *testing.T, name string, status int, body []byte) answer {
	t.Helper()
	if status != 200 {
		t.Fatalf("%s: RIE answered %d: %s", name, status, body)
	}
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("%s: answer is not JSON (%v): %s", name, err, body)
	}
	return a
}

// eventTimes are the date fields of the events, by kind.
var eventTimes = []string{"time", "start", "end"}

// parseEvent returns the event's fields and its date fields parsed.
func parseEvent(raw []byte) (map[string]json.RawMessage, map[string]time.Time, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, nil, err
	}
	times := map[string]time.Time{}
	for _, k := range eventTimes {
		v, ok := fields[k]
		if !ok {
			continue
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, nil, fmt.Errorf("field %q: %w", k, err)
		}
		ts, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return nil, nil, fmt.Errorf("field %q: %w", k, err)
		}
		times[k] = ts.UTC()
	}
	return fields, times, nil
}

// shiftEvent moves every date of the event by whole days; everything else
// stays as it is.
func shiftEvent(raw []byte, days int) ([]byte, error) {
	fields, times, err := parseEvent(raw)
	if err != nil {
		return nil, err
	}
	for k, ts := range times {
		if fields[k], err = json.Marshal(ts.AddDate(0, 0, days).Format(time.RFC3339)); err != nil {
			return nil, err
		}
	}
	return json.Marshal(fields)
}

// daysToNow is the largest whole number of days that, added to the event's
// latest date, keeps it at or before now. Whole days keep a backfill on the
// UTC day grid and a scheduled time at the same time of day.
func daysToNow(times map[string]time.Time, now time.Time) int {
	var latest time.Time
	for _, ts := range times {
		if ts.After(latest) {
			latest = ts
		}
	}
	d := now.Sub(latest)
	n := int(d / day)
	if d < 0 && d%day != 0 {
		n--
	}
	return n
}

// stale reports whether an event's earliest date lies before SSM's 30-day
// History horizon at now, so that the function must refuse it.
func stale(times map[string]time.Time, now time.Time) bool {
	for _, k := range []string{"time", "start"} {
		if ts, ok := times[k]; ok && ts.Before(now.Add(-window.HistoryHorizon)) {
			return true
		}
	}
	return false
}

// knownSession is the session that events/lookup.json looks up: it ended
// yesterday, so it lies in yesterday's slot, which every run here exports.
func knownSession(id string, now time.Time) types.Session {
	start := now.Truncate(day).Add(-day + 9*time.Hour + 14*time.Minute + 3*time.Second + 250*time.Millisecond)
	end := start.Add(10*time.Minute + 30*time.Second)
	return types.Session{
		SessionId:    aws.String(id),
		Target:       aws.String("i-0a1b2c3d4e5f67890"),
		Status:       types.SessionStatusTerminated,
		StartDate:    aws.Time(start),
		EndDate:      aws.Time(end),
		DocumentName: aws.String("AWS-StartPortForwardingSession"),
		Owner:        aws.String("arn:aws:iam::123456789012:user/alice"),
		Reason:       aws.String("INC-4711: \"disk full\" on the reporting host"),
		AccessType:   types.AccessTypeStandard,
	}
}

// model is what the emulated SSM holds, to predict every answer.
type model struct {
	history, active []types.Session
	keys            store.Keys
	grid            window.Grid
	lookback        time.Duration
}

func countIn(ss []types.Session, s window.Slot) int {
	n := 0
	for _, x := range ss {
		if x.StartDate != nil && s.Contains(*x.StartDate) {
			n++
		}
	}
	return n
}

// slot is the answer expected for one slot.
func (m *model) slot(s window.Slot) slotAnswer {
	a := slotAnswer{
		Start: s.Start, End: s.End,
		Rows:          int64(countIn(m.history, s)),
		Manifest:      m.keys.Manifest(s),
		ActivePending: countIn(m.active, s),
	}
	if a.Rows > 0 {
		a.Object = m.keys.Object(s)
	}
	return a
}

// listing is the bucket's content: key to ETag and size.
func listing(t *testing.T, emu *emulators.Emulators) map[string]string {
	t.Helper()
	out := map[string]string{}
	p := s3.NewListObjectsV2Paginator(emu.Clients().S3, &s3.ListObjectsV2Input{Bucket: aws.String(emu.Bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("listing the emulated bucket: %v", err)
		}
		for _, o := range page.Contents {
			out[aws.ToString(o.Key)] = fmt.Sprintf("%s %d", aws.ToString(o.ETag), aws.ToInt64(o.Size))
		}
	}
	return out
}

// TestEventsThroughRIE starts the emulators in-process, runs the bootstrap
// under the Runtime Interface Emulator pointed at them, and posts every
// event file to RIE's invocation endpoint, as `sam local invoke` does.
func TestEventsThroughRIE(t *testing.T) {
	b := binaries(t)

	// The bootstrap is a real process on the real clock, so this test's
	// model takes the same clock. Every answer below is computed from now
	// exactly as the function computes it, on any day and at any hour; the
	// only thing it cannot model is a UTC midnight passing between two
	// invocations (the function's slots would move under the model), so
	// when midnight is less than the test's run time away, it waits past
	// it. The slot arithmetic at midnight itself is pinned with a fixed
	// clock in internal/e2e (TestScheduledRunAtDayBoundaries).
	now := time.Now().UTC()
	if left := now.Truncate(day).Add(day).Sub(now); left < 90*time.Second {
		t.Logf("UTC midnight is %s away; waiting past it", left.Round(time.Second))
		time.Sleep(left + time.Second)
		now = time.Now().UTC()
	}

	lookup, err := os.ReadFile(filepath.Join(eventsDir(t), "lookup.json"))
	if err != nil {
		t.Fatal(err)
	}
	var lookupEvent struct {
		SessionID string `json:"sessionId"`
	}
	if err := json.Unmarshal(lookup, &lookupEvent); err != nil || lookupEvent.SessionID == "" {
		t.Fatalf("events/lookup.json has no sessionId (%v): %s", err, lookup)
	}
	known := knownSession(lookupEvent.SessionID, now)

	// A week of sessions up to now: the sessions still running now are
	// Active, the others History.
	ss := ssmfake.Generate(20261126, now.Truncate(day).Add(-7*day), now, 3000)
	ss = append(ss, known)
	emu, err := emulators.Start(emulators.Options{Bucket: "session-audit-local", SSM: ssmfake.New(ssmfake.WithSessions(ss))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	t.Logf("SSM emulator on %s, S3 on %s", emu.SSMURL, emu.S3URL)
	// The managed nodes the sessions ran on, for the scheduled runs'
	// snapshots (the emulators serve the credentials' account).
	fleet := ssmfake.NodesFor(20261126, ss)
	emu.PutNodes(stsfake.LocalAccount, emulators.Region, fleet)

	funcEnv := isolatedEnv(t.TempDir())
	maps.Copy(funcEnv, emu.Env())
	maps.Copy(funcEnv, map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":        functionName,
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     "60", // seconds: RIE's invocation deadline (its default is 300)
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
		"AWS_LAMBDA_LOG_FORMAT":           "JSON", // what Lambda sets for LoggingConfig.LogFormat: JSON
	})

	cfg, err := config.Load(func(k string) string { return funcEnv[k] })
	if err != nil {
		t.Fatal(err)
	}
	keys, err := store.NewKeys(cfg.Prefix, rieAccount, emulators.Region)
	if err != nil {
		t.Fatal(err)
	}
	m := &model{
		history: emu.SSM.Sessions("History"), active: emu.SSM.Sessions("Active"),
		keys: keys, grid: cfg.Grid, lookback: cfg.Lookback,
	}

	r := startRIE(t, b, funcEnv)

	// pending holds the slots whose last manifest counted active sessions:
	// a scheduled run re-exports them after its own (lookback) slots.
	pending := map[time.Time]window.Slot{}
	// written holds every key an answer named.
	written := map[string]bool{}
	record := func(a answer) {
		for _, s := range a.Slots {
			if s.ActivePending > 0 {
				pending[s.Start] = window.Slot{Start: s.Start, End: s.End}
			} else {
				delete(pending, s.Start)
			}
			written[s.Manifest] = true
			if s.Object != "" {
				written[s.Object] = true
			}
		}
		if a.Nodes != nil && a.Nodes.Object != "" {
			written[a.Nodes.Object] = true
		}
		if a.Accounts != "" {
			written[a.Accounts] = true
		}
	}

	checkExport := func(t *testing.T, a answer, mode string, want []window.Slot) {
		t.Helper()
		if a.ErrorMessage != "" {
			t.Fatalf("the function failed: %s (%s)", a.ErrorMessage, a.ErrorType)
		}
		if a.Mode != mode || a.Rows == nil {
			t.Fatalf("answer mode %q rows %v; want mode %q with rows", a.Mode, a.Rows, mode)
		}
		if len(a.Slots) != len(want) {
			t.Fatalf("answer has %d slots; want %d: %+v", len(a.Slots), len(want), a.Slots)
		}
		var total int64
		objects := listing(t, emu)
		for i, s := range want {
			exp, got := m.slot(s), a.Slots[i]
			if !got.Start.Equal(exp.Start) || !got.End.Equal(exp.End) || got.Rows != exp.Rows ||
				got.Object != exp.Object || got.Manifest != exp.Manifest ||
				got.ActivePending != exp.ActivePending || got.Kept {
				t.Errorf("slot %d:\n got %+v\nwant %+v", i, got, exp)
			}
			if _, ok := objects[exp.Manifest]; !ok {
				t.Errorf("slot %s: manifest %s is not in the bucket", s, exp.Manifest)
			}
			if exp.Object != "" {
				if _, ok := objects[exp.Object]; !ok {
					t.Errorf("slot %s: object %s is not in the bucket", s, exp.Object)
				}
			}
			total += got.Rows
		}
		if *a.Rows != total {
			t.Errorf("answer rows %d; its slots hold %d", *a.Rows, total)
		}
		if total == 0 {
			t.Errorf("no rows exported at all: the emulator holds %d History sessions", len(m.history))
		}
		record(a)
	}

	// writesNothing runs send and checks that the bucket is unchanged after.
	writesNothing := func(t *testing.T, send func()) {
		t.Helper()
		before := listing(t, emu)
		send()
		if after := listing(t, emu); !maps.Equal(before, after) {
			t.Errorf("the bucket changed:\nbefore %v\nafter  %v", before, after)
		}
	}

	wantError := func(t *testing.T, name string, event []byte, wantMsg, hint string) {
		t.Helper()
		writesNothing(t, func() {
			status, body := r.invoke(t, event)
			a := decodeAnswer(t, name, status, body)
			if a.ErrorMessage == "" {
				t.Fatalf("%s: want the function's error, got %s", name, body)
			}
			if !strings.Contains(a.ErrorMessage, wantMsg) {
				t.Errorf("%s: errorMessage %q does not mention %q%s", name, a.ErrorMessage, wantMsg, hint)
			}
			t.Logf("%s %s -> %s", name, event, body)
		})
	}

	entries, err := os.ReadDir(eventsDir(t))
	if err != nil {
		t.Fatal(err)
	}
	sent := 0
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".json") || name == "env.json" {
			continue // env.json is sam's --env-vars file, not an event
		}
		sent++
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(eventsDir(t), name))
			if err != nil {
				t.Fatal(err)
			}
			fields, times, err := parseEvent(raw)
			if err != nil {
				t.Fatalf("events/%s: %v", name, err)
			}
			// The files carry fixed dates (2026-11-2x); SSM keeps History 30
			// days, and the function refuses older dates. So the event is
			// moved by whole days to lie just before now, as if it had been
			// sent today.
			days := daysToNow(times, now)
			event, err := shiftEvent(raw, days)
			if err != nil {
				t.Fatal(err)
			}
			_, hasID := fields["sessionId"]
			_, hasTime := times["time"]
			_, hasStart := times["start"]
			switch {
			case hasID:
				writesNothing(t, func() {
					status, body := r.invoke(t, raw)
					a := decodeAnswer(t, name, status, body)
					t.Logf("%s -> %.300s", raw, body)
					if a.ErrorMessage != "" || a.Mode != "lookup" || len(a.Sessions) != 1 {
						t.Fatalf("want a lookup answer with one session, got %s", body)
					}
					got := a.Sessions[0]
					want := map[string]any{
						"session_id": *known.SessionId, "target": *known.Target, "owner": *known.Owner,
						"status": "Terminated", "document_name": *known.DocumentName, "reason": *known.Reason,
						"duration_seconds": float64(630), "account_id": rieAccount, "region": emulators.Region,
						"start_date": known.StartDate.Format(time.RFC3339Nano),
					}
					for k, v := range want {
						if got[k] != v {
							t.Errorf("session %s = %#v; want %#v", k, got[k], v)
						}
					}
				})
			case hasTime:
				status, body := r.invoke(t, event)
				a := decodeAnswer(t, name, status, body)
				t.Logf("%s (moved %+d days) -> %s", event, days, summary(a, body))
				scheduled := m.grid.Scheduled(times["time"].AddDate(0, 0, days), m.lookback, now)
				var want []window.Slot
				for _, s := range pending {
					if !slices.ContainsFunc(scheduled, func(x window.Slot) bool { return x.Start.Equal(s.Start) }) {
						want = append(want, s)
					}
				}
				sort.Slice(want, func(i, j int) bool { return want[i].Start.Before(want[j].Start) })
				// The lookback's slots first, then the reopened ones, as
				// export.Exporter.Scheduled orders them.
				checkExport(t, a, "scheduled", append(scheduled, want...))
				// The day's node snapshot of every node the sessions ran
				// on, and single-account mode's accounts file.
				if a.Nodes == nil || a.Nodes.Status != "written" || a.Nodes.Count != len(fleet) || a.Accounts == "" {
					t.Errorf("scheduled run: nodes %+v (want %d written), accounts %q", a.Nodes, len(fleet), a.Accounts)
				}
			case hasStart:
				status, body := r.invoke(t, event)
				a := decodeAnswer(t, name, status, body)
				t.Logf("%s (moved %+d days) -> %s", event, days, summary(a, body))
				want, err := m.grid.Range(times["start"].AddDate(0, 0, days), times["end"].AddDate(0, 0, days), now)
				if err != nil {
					t.Fatalf("the moved backfill is not valid: %v", err)
				}
				checkExport(t, a, "backfill", want)
			default:
				t.Fatalf("events/%s is neither a scheduled, a backfill nor a lookup event; teach this test what it should answer", name)
			}

			if len(times) == 0 {
				return
			}
			// The file as it is, once its dates have fallen out of the
			// History horizon.
			if stale(times, now) {
				wantError(t, name+" as is", raw, "History horizon", "")
			} else {
				t.Logf("events/%s as it is still lies inside the History horizon; its stale form is checked below", name)
			}
			// And always a copy moved 31 days further back.
			old, err := shiftEvent(event, -31)
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, name+" 31 days older", old, "History horizon", "")
		})
	}
	if sent < 4 {
		t.Errorf("sent %d event files; events/ should hold scheduled-rule.json, scheduler.json, backfill.json and lookup.json", sent)
	}

	t.Run("unknown session", func(t *testing.T) {
		writesNothing(t, func() {
			status, body := r.invoke(t, []byte(`{"sessionId":"nobody-00000000000000000"}`))
			a := decodeAnswer(t, "unknown session", status, body)
			if a.ErrorMessage != "" || a.Mode != "lookup" || a.Sessions == nil || len(a.Sessions) != 0 {
				t.Errorf(`want {"mode":"lookup","sessions":[]}, got %s`, body)
			}
		})
	})

	// Malformed events: the function's own error comes back through RIE.
	for _, bad := range []struct{ name, event, hint string }{
		{"mixed kinds", `{"time":"2026-11-26T00:05:00Z","sessionId":"alice-0a1b2c3d4e5f67890"}`, ""},
		{"bad time", `{"time":"yesterday"}`, ""},
		{"unknown shape", `{"hello":"world"}`, ""},
		{"empty session id", `{"sessionId":""}`, ""},
		{"array", `[1,2,3]`, ""},
		{"invalid JSON", `{"start": "2026-11-20T00:00:00Z",`,
			" (aws-lambda-go decodes the payload into the handler's json.RawMessage argument before calling it," +
				" so invalid JSON never reaches handler.Decode: the function must start a lambda.Handler," +
				" whose Invoke(ctx, []byte) gets the payload as it came)"},
	} {
		t.Run("bad event/"+bad.name, func(t *testing.T) {
			wantError(t, bad.name, []byte(bad.event), "bad event", bad.hint)
		})
	}

	// Everything in the bucket was named by an answer, but the target's
	// state object (what its runs owe) and the runs' digests (package
	// digest): nothing else written.
	state := keys.StateKey()
	if _, ok := listing(t, emu)[state]; !ok {
		t.Errorf("the bucket holds no state object %s", state)
	}
	digests := 0
	for k := range listing(t, emu) {
		if digest.IsDigestKey(keys.Prefix, k) || strings.HasPrefix(k, digest.HeadRoot(keys.Prefix)) {
			digests++
			continue
		}
		if !written[k] && k != state {
			t.Errorf("the bucket holds %s, which no answer named", k)
		}
	}
	if digests == 0 {
		t.Error("the runs that wrote manifests wrote no digest")
	}

	checkLogs(t, r)
}

// checkLogs checks what the function printed: RIE passes the runtime's
// stdout and stderr to its own stdout, between its START, END and REPORT
// lines; every other line there must be a JSON object (slog through
// lambdacontext.NewLogger with AWS_LAMBDA_LOG_FORMAT=JSON, and the EMF
// metrics). No output may carry the secret key.
func checkLogs(t *testing.T, r *rie) {
	t.Helper()
	stdout, stderr := r.stdout.String(), r.stderr.String()
	var logLines, slotLines int
	for line := range strings.Lines(stdout) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" || strings.HasPrefix(line, "START RequestId: ") || strings.HasPrefix(line, "END RequestId: ") ||
			strings.HasPrefix(line, "REPORT RequestId: ") {
			continue
		}
		logLines++
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			hint := ""
			if strings.HasPrefix(line, "SDK ") {
				hint = " (the AWS SDK's default logger writes plain text to stderr: the clients need config.WithLogger sending its lines through slog)"
			}
			t.Errorf("function log line is not a JSON object: %q%s", line, hint)
			continue
		}
		if obj["message"] == "slot written" {
			slotLines++
		}
	}
	if logLines == 0 || slotLines == 0 {
		t.Errorf("the function logged %d lines, %d of them \"slot written\"; want some of each", logLines, slotLines)
	}
	for name, out := range map[string]string{"stdout": stdout, "stderr": stderr} {
		if strings.Contains(out, emulators.SecretKey) || bytes.Contains([]byte(out), []byte("AWS_SECRET_ACCESS_KEY=")) {
			t.Errorf("RIE's %s carries the AWS secret key", name)
		}
	}
}

// TestShiftEvent checks the moving of event dates that TestEventsThroughRIE
// relies on, at fixed clocks: today, just after midnight, and months later.
func TestShiftEvent(t *testing.T) {
	scheduled := []byte(`{"detail-type":"Scheduled Event","source":"aws.events","detail":{},"time":"2026-11-26T00:05:00Z"}`)
	backfill := []byte(`{"start": "2026-11-20T00:00:00Z", "end": "2026-11-26T00:00:00Z"}`)
	for _, tc := range []struct {
		now       string
		event     []byte
		want      map[string]string
		wantStale bool
	}{
		{"2026-11-26T23:44:00Z", scheduled, map[string]string{"time": "2026-11-26T00:05:00Z"}, false},
		{"2026-11-27T00:03:00Z", scheduled, map[string]string{"time": "2026-11-26T00:05:00Z"}, false},
		{"2026-11-27T00:05:00Z", scheduled, map[string]string{"time": "2026-11-27T00:05:00Z"}, false},
		{"2027-03-15T10:00:00Z", scheduled, map[string]string{"time": "2027-03-15T00:05:00Z"}, true},
		{"2026-11-26T23:44:00Z", backfill, map[string]string{"start": "2026-11-20T00:00:00Z", "end": "2026-11-26T00:00:00Z"}, false},
		{"2026-12-22T00:00:00Z", backfill, map[string]string{"start": "2026-12-16T00:00:00Z", "end": "2026-12-22T00:00:00Z"}, true},
		{"2026-11-01T12:00:00Z", backfill, map[string]string{"start": "2026-10-26T00:00:00Z", "end": "2026-11-01T00:00:00Z"}, false},
	} {
		now, err := time.Parse(time.RFC3339, tc.now)
		if err != nil {
			t.Fatal(err)
		}
		fields, times, err := parseEvent(tc.event)
		if err != nil {
			t.Fatal(err)
		}
		if got := stale(times, now); got != tc.wantStale {
			t.Errorf("at %s, stale(%s) = %v; want %v", tc.now, tc.event, got, tc.wantStale)
		}
		moved, err := shiftEvent(tc.event, daysToNow(times, now))
		if err != nil {
			t.Fatal(err)
		}
		mfields, mtimes, err := parseEvent(moved)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range tc.want {
			if got := mtimes[k].Format(time.RFC3339); got != v {
				t.Errorf("at %s, %s moved to %s; want %s", tc.now, k, got, v)
			}
		}
		for k, v := range fields {
			if _, isTime := times[k]; !isTime && !bytes.Equal(mfields[k], v) {
				t.Errorf("field %s changed from %s to %s", k, v, mfields[k])
			}
		}
	}
}
