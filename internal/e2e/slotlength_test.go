package e2e

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/session-audit/session-audit/internal/ssmfake"
	"github.com/session-audit/session-audit/internal/store"
	"github.com/session-audit/session-audit/internal/window"
)

// TestEachSessionOnceWhateverTheSlot: a day's first export fixes its slot
// length. Exported with 24h and then backfilled with 12h, the day stays one
// 24h slot; exported with 12h and then with 24h, it stays two 12h slots; a
// 6h backfill over both, and scheduled runs with 6h, keep each day on its
// length. Every session is in the table once, and the runs say in their
// logs which days they moved.
func TestEachSessionOnceWhateverTheSlot(t *testing.T) {
	from, to := ts("2026-11-22T00:00:00Z"), ts("2026-11-24T00:00:00Z")
	gen := ssmfake.Generate(15, from.Add(-6*time.Hour), to.Add(6*time.Hour), 3000)
	te := newEnv(t, now, map[string]string{"AUDIT_SLOT": "24h"}, gen)
	var logs bytes.Buffer

	// Day one: 24h first, then 12h.
	te.mustInvoke(`{"start":"2026-11-22T00:00:00Z","end":"2026-11-23T00:00:00Z"}`)
	te.rewire(map[string]string{"AUDIT_SLOT": "12h"}, &logs)
	res := te.mustInvoke(`{"start":"2026-11-22T00:00:00Z","end":"2026-11-22T12:00:00Z"}`)
	if len(res.Slots) != 1 || !res.Slots[0].Start.Equal(from) || !res.Slots[0].End.Equal(from.Add(24*time.Hour)) {
		t.Fatalf("a 12h backfill of a 24h day exported %+v; want the day's one 24h slot", res.Slots)
	}
	// Day two: 12h first, then 24h.
	te.mustInvoke(`{"start":"2026-11-23T00:00:00Z","end":"2026-11-24T00:00:00Z"}`)
	te.rewire(map[string]string{"AUDIT_SLOT": "24h"}, &logs)
	res = te.mustInvoke(`{"start":"2026-11-23T00:00:00Z","end":"2026-11-24T00:00:00Z"}`)
	if len(res.Slots) != 2 || res.Slots[0].End.Sub(res.Slots[0].Start) != 12*time.Hour {
		t.Fatalf("a 24h backfill of a 12h day exported %+v; want its two 12h slots", res.Slots)
	}
	// 6h over both days.
	te.rewire(map[string]string{"AUDIT_SLOT": "6h", "AUDIT_LOOKBACK": "24h"}, &logs)
	res = te.mustInvoke(`{"start":"2026-11-22T00:00:00Z","end":"2026-11-24T00:00:00Z"}`)
	var lengths []string
	for _, s := range res.Slots {
		lengths = append(lengths, s.Start.Format("01-02T15")+"+"+s.End.Sub(s.Start).String())
	}
	if got, want := strings.Join(lengths, " "), "11-22T00+24h0m0s 11-23T00+12h0m0s 11-23T12+12h0m0s"; got != want {
		t.Fatalf("a 6h backfill over both days exported %s; want %s", got, want)
	}
	// A scheduled run with 6h on the next morning: its lookback (24h) owes
	// 6h slots from 11-23 06:00; 11-23 is exported on its 12h, whole, and
	// 11-24, which has no export yet, follows AUDIT_SLOT.
	te.now = ts("2026-11-24T06:05:00Z")
	res = te.mustInvoke(`{"time":"2026-11-24T06:05:00Z"}`)
	lengths = nil
	for _, s := range res.Slots {
		lengths = append(lengths, s.Start.Format("01-02T15")+"+"+s.End.Sub(s.Start).String())
	}
	if got, want := strings.Join(lengths, " "), "11-23T00+12h0m0s 11-23T12+12h0m0s 11-24T00+6h0m0s"; got != want {
		t.Fatalf("a scheduled 6h run exported %s; want %s", got, want)
	}

	// The bucket holds one length a day, and each session once.
	var manifests []string
	for _, k := range te.objects() {
		if strings.Contains(k, "/manifests/") {
			manifests = append(manifests, k[strings.LastIndex(k, "/")+1:])
		}
	}
	wantManifests := []string{
		"123456789012_us-east-1_20261122T000000Z_20261123T000000Z.json",
		"123456789012_us-east-1_20261123T000000Z_20261123T120000Z.json",
		"123456789012_us-east-1_20261123T120000Z_20261124T000000Z.json",
		"123456789012_us-east-1_20261124T000000Z_20261124T060000Z.json",
	}
	if fmt.Sprint(manifests) != fmt.Sprint(wantManifests) {
		t.Fatalf("manifests %v; want %v", manifests, wantManifests)
	}
	db := duck(t, te.download())
	var rows, distinct int
	if err := db.QueryRow(`SELECT count(*), count(DISTINCT session_id) FROM sessions`).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	want := expected(te.emu.SSM, from, ts("2026-11-24T06:00:00Z"))
	if rows != distinct || rows != len(want) {
		t.Fatalf("the table has %d rows, %d distinct ids; want %d, each once", rows, distinct, len(want))
	}
	compareRows(t, readRows(t, db), want)

	// The state object records each day's length.
	keys, err := store.NewKeys("ssm-sessions", account, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	st := te.get(keys.StateKey())
	for _, day := range []string{`"2026-11-22": "24h0m0s"`, `"2026-11-23": "12h0m0s"`, `"2026-11-24": "6h0m0s"`} {
		if !bytes.Contains(st, []byte(day)) {
			t.Errorf("state lacks %s:\n%s", day, st)
		}
	}
	// Each move is logged, naming the day and both lengths.
	for _, want := range []string{
		`"day":"2026-11-22","recordedSlot":"24h0m0s","auditSlot":"12h0m0s"`,
		`"day":"2026-11-23","recordedSlot":"12h0m0s","auditSlot":"24h0m0s"`,
		`"day":"2026-11-22","recordedSlot":"24h0m0s","auditSlot":"6h0m0s"`,
		`"day":"2026-11-23","recordedSlot":"12h0m0s","auditSlot":"6h0m0s"`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no log line with %s in:\n%s", want, logs.String())
		}
	}
}

// TestDayOnTwoLengthsFromAnEarlierVersion: an archive written before each
// day kept one length holds, on 11-24, its 24h slot (exported first) and a
// later 1h slot whose manifest still counts a pending session. The state
// built from it records 11-24 on 24h and reopens the 1h slot as the day's
// 24h slot: every run goes on, nothing clashes, and the day is never
// written on 1h again.
func TestDayOnTwoLengthsFromAnEarlierVersion(t *testing.T) {
	long := session("long-running", "2026-11-24T10:30:00Z", "", types.SessionStatusConnected)
	te := newEnvWith(t, ts("2026-11-25T00:05:00Z"), envOptions{sessions: []types.Session{long}})
	te.mustInvoke(`{"time":"2026-11-25T00:05:00Z"}`)
	keys, err := store.NewKeys("ssm-sessions", account, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	c := te.emu.Clients().S3
	short := window.Slot{Start: ts("2026-11-24T10:00:00Z"), End: ts("2026-11-24T11:00:00Z")}
	m := &store.Manifest{Version: store.ManifestVersion, Account: account, Region: "us-east-1", SlotStart: short.Start, SlotEnd: short.End,
		ActivePending: 1, ExportedAt: ts("2026-11-25T10:00:00Z"), WrittenAt: ts("2026-11-25T10:00:00Z"), Filters: map[string]string{}}
	if _, err := store.PutManifest(context.Background(), c, bucket, keys.Manifest(short), m, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(keys.StateKey())}); err != nil {
		t.Fatal(err)
	}
	// On 11-26 the day is in the lookback; on 11-27 it is reopened.
	for _, run := range []struct {
		day string
		at  int
	}{{"2026-11-26", 0}, {"2026-11-27", 2}} {
		day, at := run.day, run.at
		te.now = ts(day + "T00:05:00Z")
		res, err := te.invoke(`{"time":"` + day + `T00:05:00Z"}`)
		if err != nil {
			t.Fatalf("run on %s: %v", day, err)
		}
		if len(res.Slots) <= at || !res.Slots[at].Start.Equal(ts("2026-11-24T00:00:00Z")) || res.Slots[at].End.Sub(res.Slots[at].Start) != 24*time.Hour || res.Slots[at].ActivePending != 1 {
			t.Fatalf("run on %s: slots %+v; want 11-24 on its 24h at %d, 1 pending", day, res.Slots, at)
		}
	}
	if st := te.state(); st.Days["2026-11-24"] != "24h0m0s" {
		t.Errorf("state days %v; want 11-24 on 24h", st.Days)
	}
}

// TestRecordTrustsTheManifestThatStands: a run's own result said the slot
// counts no pending session, but the manifest in place when it records
// (another export's) counts one: the slot stays open.
func TestRecordTrustsTheManifestThatStands(t *testing.T) {
	long := session("long-running", "2026-11-24T10:30:00Z", "", types.SessionStatusConnected)
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	// The run's record (its second read of the state) waits until the other
	// manifest stands.
	s3P := newFaultProxy(1, &rule{name: "hold", op: "GetObject:state", nth: []int{2}, do: hold(arrived, release)})
	te := newEnvWith(t, ts("2026-11-25T00:05:00Z"), envOptions{sessions: []types.Session{long}, s3Wrap: s3P.wrap})
	long.Status, long.EndDate = types.SessionStatusTerminated, aws.Time(ts("2026-11-24T11:00:00Z"))
	te.emu.SSM.Put(long)
	done := make(chan error, 1)
	go func() {
		_, err := te.invoke(`{"start":"2026-11-24T00:00:00Z","end":"2026-11-25T00:00:00Z"}`)
		done <- err
	}()
	<-arrived // its manifest (no pending session) is written; its record waits
	keys, err := store.NewKeys("ssm-sessions", account, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	day := window.Slot{Start: ts("2026-11-24T00:00:00Z"), End: ts("2026-11-25T00:00:00Z")}
	old, err := store.GetManifest(context.Background(), te.emu.Clients().S3, bucket, keys.Manifest(day))
	if err != nil || old == nil {
		t.Fatalf("manifest: %v %v", old, err)
	}
	theirs := *old
	theirs.ActivePending = 1 // another export's, which counted the session while it ran
	if _, err := store.PutManifest(context.Background(), te.emu.Clients().S3, bucket, keys.Manifest(day), &theirs, old.ETag); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := te.state(); len(st.Open) != 1 || !st.Open[0].Start.Equal(day.Start) || st.Open[0].Pending != 1 {
		t.Fatalf("state open %+v; want 11-24 with the standing manifest's 1 pending", st.Open)
	}
}
