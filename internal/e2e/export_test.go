package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/session-audit/session-audit/internal/export"
	"github.com/session-audit/session-audit/internal/ssmfake"
	"github.com/session-audit/session-audit/internal/store"
)

var now = ts("2026-11-26T06:30:00Z")

func session(id, start string, end string, status types.SessionStatus) types.Session {
	s := types.Session{
		SessionId: aws.String(id), Target: aws.String("i-0123456789abcdef0"), Status: status,
		StartDate: aws.Time(ts(start)), Owner: aws.String("arn:aws:iam::123456789012:user/alice"),
		DocumentName: aws.String("SSM-SessionManagerRunShell"), AccessType: types.AccessTypeStandard,
	}
	if end != "" {
		s.EndDate = aws.Time(ts(end))
	}
	return s
}

func TestBackfillManyDaysReadBackByDuckDB(t *testing.T) { backfillManyDays(t, s3Backend{}) }

// backfillManyDays: a six-day backfill lands every session once, in its
// day's partition, read back field by field.
func backfillManyDays(t *testing.T, b s3Backend) {
	from, to := ts("2026-11-20T00:00:00Z"), ts("2026-11-26T00:00:00Z")
	gen := ssmfake.Generate(7, from.Add(-12*time.Hour), to.Add(6*time.Hour), 6000)
	te := newEnvWith(t, now, envOptions{sessions: gen, s3: b})
	res := te.mustInvoke(`{"start":"2026-11-20T00:00:00Z","end":"2026-11-26T00:00:00Z"}`)

	want := expected(te.emu.SSM, from, to)
	if res.Mode != "backfill" || len(res.Slots) != 6 || res.Rows != int64(len(want)) {
		t.Fatalf("response mode %q, %d slots, %d rows; want backfill, 6 slots, %d rows", res.Mode, len(res.Slots), res.Rows, len(want))
	}
	for i, s := range res.Slots {
		day := from.AddDate(0, 0, i)
		wantObj := fmt.Sprintf("ssm-sessions/sessions/dt=%s/123456789012_us-east-1_%s_%s.parquet",
			day.Format(time.DateOnly), day.Format("20060102T150405Z"), day.AddDate(0, 0, 1).Format("20060102T150405Z"))
		if s.Object != wantObj || s.Manifest != strings.Replace(strings.Replace(wantObj, "/sessions/", "/manifests/", 1), ".parquet", ".json", 1) {
			t.Errorf("slot %d object %q manifest %q; want %q and its manifest", i, s.Object, s.Manifest, wantObj)
		}
		if s.Kept || !s.Start.Equal(day) || !s.End.Equal(day.AddDate(0, 0, 1)) {
			t.Errorf("slot %d = %+v", i, s)
		}
	}
	got := readRows(t, duck(t, te.download()))
	compareRows(t, got, want)
	for _, r := range got {
		if !r.ExportedAt.Equal(now) {
			t.Fatalf("exported_at %s, want %s", r.ExportedAt, now)
		}
	}
}

func TestSlotBoundariesAndRerunsWriteEachSessionOnce(t *testing.T) {
	slotBoundariesAndReruns(t, s3Backend{})
}

// slotBoundariesAndReruns: sessions on and next to slot bounds land in
// one slot each, and a rerun overwrites rather than appends.
func slotBoundariesAndReruns(t *testing.T, b s3Backend) {
	ss := []types.Session{
		session("on-start", "2026-11-24T00:00:00Z", "2026-11-24T00:10:00Z", types.SessionStatusTerminated),
		session("last-ms", "2026-11-24T23:59:59.999Z", "2026-11-25T00:30:00Z", types.SessionStatusTerminated),
		session("on-end", "2026-11-25T00:00:00Z", "2026-11-25T00:00:30.9Z", types.SessionStatusTerminated),
		session("before", "2026-11-23T23:59:59.999Z", "2026-11-24T00:00:01Z", types.SessionStatusTerminated),
		session("failed", "2026-11-24T12:00:00Z", "", types.SessionStatusFailed),
	}
	te := newEnvWith(t, now, envOptions{env: map[string]string{"AUDIT_SLOT": "24h"}, sessions: ss, s3: b})
	for range 2 {
		res := te.mustInvoke(`{"start":"2026-11-24T00:00:00Z","end":"2026-11-26T00:00:00Z"}`)
		if len(res.Slots) != 2 || res.Slots[0].Rows != 3 || res.Slots[1].Rows != 1 {
			t.Fatalf("slots %+v; want 3 rows on 11-24 and 1 on 11-25", res.Slots)
		}
	}
	got := readRows(t, duck(t, te.download()))
	compareRows(t, got, expected(te.emu.SSM, ts("2026-11-24T00:00:00Z"), ts("2026-11-26T00:00:00Z")))
	if got[2].SessionID != "last-ms" || got[3].SessionID != "on-end" || got[3].DT != "2026-11-25" {
		t.Errorf("boundary sessions landed as %v", got)
	}
	if d := got[3].DurationSeconds; d == nil || *d != 30 {
		t.Errorf("duration of a 30.9 s session = %v, want 30 (truncated)", d)
	}
	if got[1].EndDate != nil || got[1].DurationSeconds != nil {
		t.Errorf("a session without end has end %v duration %v; want nulls", got[1].EndDate, got[1].DurationSeconds)
	}
	if n := len(te.objects()); n != 4 {
		t.Errorf("bucket holds %d objects after two reruns, want 4 (2 objects, 2 manifests): %v", n, te.objects())
	}
}

func TestScheduledRunReopensSlotsWithActiveSessions(t *testing.T) {
	scheduledRunReopensSlots(t, s3Backend{})
}

// scheduledRunReopensSlots: a session running for days keeps its slot
// reopened by every scheduled run until it has ended.
func scheduledRunReopensSlots(t *testing.T, b s3Backend) {
	long := session("long-running", "2026-11-21T22:00:00Z", "", types.SessionStatusConnected)
	ss := []types.Session{
		long,
		session("done", "2026-11-21T10:00:00Z", "2026-11-21T11:00:00Z", types.SessionStatusTerminated),
	}
	te := newEnvWith(t, ts("2026-11-22T00:05:00Z"), envOptions{sessions: ss, s3: b})
	res := te.mustInvoke(`{"version":"0","id":"x","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012","time":"2026-11-22T00:05:00Z","region":"us-east-1","resources":["arn:aws:events:us-east-1:123456789012:rule/daily"],"detail":{}}`)
	if len(res.Slots) != 2 || res.Slots[1].ActivePending != 1 || res.Slots[1].Rows != 1 {
		t.Fatalf("first run slots %+v; want 2 slots, the last with 1 row and 1 active pending", res.Slots)
	}
	// Three days later the session is still connected: the slot is out of
	// the lookback but is reopened, after the lookback's slots, because its
	// manifest counts it.
	for _, day := range []string{"2026-11-23", "2026-11-24", "2026-11-25"} {
		te.now = ts(day + "T00:05:00Z")
		res = te.mustInvoke(`{"time":"` + day + `T00:05:00Z"}`)
		// On 11-23 the slot is still in the lookback (its first slot); later
		// it is reopened after the two lookback slots.
		want, at := 3, 2
		if day == "2026-11-23" {
			want, at = 2, 0
		}
		if len(res.Slots) != want || res.Slots[at].Start.Format(time.DateOnly) != "2026-11-21" || res.Slots[at].ActivePending != 1 {
			t.Fatalf("run on %s slots %+v; want %d slots with 11-21 at %d, 1 pending", day, res.Slots, want, at)
		}
	}
	long.Status, long.EndDate = types.SessionStatusTerminated, aws.Time(ts("2026-11-25T03:00:00Z"))
	te.emu.SSM.Put(long)
	te.now = ts("2026-11-26T00:05:00Z")
	res = te.mustInvoke(`{"time":"2026-11-26T00:05:00Z"}`)
	if last := res.Slots[len(res.Slots)-1]; len(res.Slots) != 3 || last.Start.Format(time.DateOnly) != "2026-11-21" || last.ActivePending != 0 || last.Rows != 2 {
		t.Fatalf("run after the session ended: slots %+v; want 11-21 with 2 rows and none pending", res.Slots)
	}
	te.now = ts("2026-11-27T00:05:00Z")
	res = te.mustInvoke(`{"time":"2026-11-27T00:05:00Z"}`)
	for _, s := range res.Slots {
		if s.Start.Format(time.DateOnly) == "2026-11-21" {
			t.Fatalf("slot 11-21 reopened again after it counted no pending session: %+v", res.Slots)
		}
	}
	got := readRows(t, duck(t, te.download()))
	compareRows(t, got, expected(te.emu.SSM, ts("2026-11-20T00:00:00Z"), ts("2026-11-27T00:00:00Z")))
	if d := got[1].DurationSeconds; got[1].SessionID != "long-running" || d == nil || *d != 77*3600 {
		t.Errorf("long session row %+v", got[1])
	}
}

func TestRerunWithFewerSessionsKeepsTheArchive(t *testing.T) {
	rerunWithFewerSessions(t, s3Backend{})
}

// rerunWithFewerSessions: a rerun that finds fewer sessions than the
// manifest recorded keeps the archive as it is.
func rerunWithFewerSessions(t *testing.T, b s3Backend) {
	ss := ssmfake.Generate(3, ts("2026-11-24T00:00:00Z"), ts("2026-11-25T00:00:00Z"), 300)
	te := newEnvWith(t, now, envOptions{sessions: ss, s3: b})
	first := te.mustInvoke(`{"start":"2026-11-24T00:00:00Z","end":"2026-11-25T00:00:00Z"}`)
	before := te.get(first.Slots[0].Object)
	var ids []string
	for _, s := range te.emu.SSM.Sessions("History")[:50] {
		ids = append(ids, *s.SessionId)
	}
	te.emu.SSM.Delete(ids...)
	te.now = now.Add(time.Hour)
	again := te.mustInvoke(`{"start":"2026-11-24T00:00:00Z","end":"2026-11-25T00:00:00Z"}`)
	s := again.Slots[0]
	if !s.Kept || s.Rows != first.Slots[0].Rows || s.Object != first.Slots[0].Object {
		t.Fatalf("rerun with 50 fewer sessions: %+v; want kept with the first run's %d rows", s, first.Slots[0].Rows)
	}
	if string(te.get(s.Object)) != string(before) {
		t.Error("the kept object changed")
	}
	te.download() // manifests still describe their objects
}

func TestEmptySlotWritesManifestOnly(t *testing.T) {
	te := newEnv(t, now, map[string]string{"AUDIT_SLOT": "12h", "AUDIT_LOOKBACK": "24h"}, nil)
	res := te.mustInvoke(`{"time":"2026-11-26T00:00:00Z"}`)
	if len(res.Slots) != 2 || res.Slots[0].Object != "" || res.Slots[0].Rows != 0 {
		t.Fatalf("slots %+v", res.Slots)
	}
	keys := te.objects()
	if len(keys) != 2 || !strings.HasSuffix(keys[0], "_20261125T000000Z_20261125T120000Z.json") {
		t.Fatalf("bucket %v; want the two manifests only", keys)
	}
	var m store.Manifest
	if err := json.Unmarshal(te.get(keys[0]), &m); err != nil || m.Object != nil || m.Rows != 0 || m.APICalls.History != 1 || m.APICalls.Active != 1 {
		t.Fatalf("manifest %+v (%v)", m, err)
	}
}

func TestFiltersAreSentAndRecorded(t *testing.T) {
	ss := ssmfake.Generate(11, ts("2026-11-25T00:00:00Z"), ts("2026-11-26T00:00:00Z"), 2000)
	owner := aws.ToString(ss[0].Owner)
	te := newEnv(t, now, map[string]string{"AUDIT_FILTER_OWNER": owner, "AUDIT_FILTER_STATUS": "Terminated"}, ss)
	res := te.mustInvoke(`{"start":"2026-11-25T00:00:00Z","end":"2026-11-26T00:00:00Z"}`)
	want := 0
	for _, s := range te.emu.SSM.Sessions("History") {
		if aws.ToString(s.Owner) == owner && s.Status == types.SessionStatusTerminated && !s.StartDate.Before(ts("2026-11-25T00:00:00Z")) {
			want++
		}
	}
	if want == 0 || res.Rows != int64(want) {
		t.Fatalf("rows %d, want %d sessions of %s", res.Rows, want, owner)
	}
	var m store.Manifest
	if err := json.Unmarshal(te.get(res.Slots[0].Manifest), &m); err != nil {
		t.Fatal(err)
	}
	if m.Filters["Owner"] != owner || m.Filters["Status"] != "Terminated" || len(m.Filters) != 2 {
		t.Errorf("manifest filters %v", m.Filters)
	}
	for _, r := range readRows(t, duck(t, te.download())) {
		if r.Owner != owner || r.Status != "Terminated" {
			t.Fatalf("row %s of owner %s status %s escaped the filters", r.SessionID, r.Owner, r.Status)
		}
	}
}

func TestLookup(t *testing.T) {
	ss := []types.Session{
		session("hist-1", "2026-11-25T01:00:00Z", "2026-11-25T01:05:00Z", types.SessionStatusTerminated),
		session("live-1", "2026-11-26T05:00:00Z", "", types.SessionStatusConnected),
	}
	te := newEnv(t, now, nil, ss)
	for _, tt := range []struct{ id, status string }{{"hist-1", "Terminated"}, {"live-1", "Connected"}, {"nobody-0123", ""}} {
		out, err := te.h.Handle(lambdaCtx(), json.RawMessage(`{"sessionId":"`+tt.id+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		var res struct {
			Mode     string           `json:"mode"`
			Sessions []map[string]any `json:"sessions"`
		}
		if err := json.Unmarshal([]byte(mustJSON(t, out)), &res); err != nil {
			t.Fatal(err)
		}
		if tt.status == "" {
			if res.Mode != "lookup" || res.Sessions == nil || len(res.Sessions) != 0 {
				t.Errorf("lookup of an unknown id: %s", mustJSON(t, out))
			}
			continue
		}
		if len(res.Sessions) != 1 || res.Sessions[0]["session_id"] != tt.id || res.Sessions[0]["status"] != tt.status || res.Sessions[0]["account_id"] != account {
			t.Errorf("lookup %s: %s", tt.id, mustJSON(t, out))
		}
	}
	if n := len(te.allObjects()); n != 0 {
		t.Errorf("lookups wrote %d objects", n)
	}
}

func TestBadEventsWriteNothing(t *testing.T) {
	te := newEnv(t, now, map[string]string{"AUDIT_SLOT": "6h"}, ssmfake.Generate(1, now.Add(-72*time.Hour), now, 100))
	for _, tt := range []struct{ event, msg string }{
		{`{"start":"2026-11-25T01:00:00Z","end":"2026-11-25T06:00:00Z"}`, "not on the 6h0m0s slot grid"},
		{`{"start":"2026-10-01T00:00:00Z","end":"2026-10-02T00:00:00Z"}`, "History horizon"},
		{`{"start":"2026-11-26T00:00:00Z","end":"2026-11-26T12:00:00Z"}`, "after now"},
		{`{"time":"2026-09-01T00:00:00Z"}`, "History horizon"},
		{`{"time":"yesterday"}`, `"time" is "yesterday"`},
		{`{"sessionId":""}`, "empty"},
		{`[1,2]`, "want a JSON object"},
		{`{"time":"2026-11-26T00:00:00Z","sessionId":"a"}`, "mixes"},
	} {
		_, err := te.invoke(tt.event)
		if err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("event %s: error %v, want it to say %q", tt.event, err, tt.msg)
		}
	}
	if keys := te.allObjects(); len(keys) != 0 {
		t.Errorf("bad events wrote %v", keys)
	}
}

func TestNoLambdaContextIsAnError(t *testing.T) {
	te := newEnv(t, now, nil, nil)
	_, err := te.h.Handle(t.Context(), json.RawMessage(`{"time":"2026-11-26T00:05:00Z"}`))
	var se *export.SlotsError
	if err == nil || errors.As(err, &se) || !strings.Contains(err.Error(), "no Lambda context") {
		t.Fatalf("error %v", err)
	}
}
