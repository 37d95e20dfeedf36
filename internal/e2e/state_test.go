package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/session-audit/session-audit/internal/ssmfake"
	"github.com/session-audit/session-audit/internal/store"
)

// requestRecorder counts the S3 requests a run makes, by kind.
type requestRecorder struct {
	mu    sync.Mutex
	count map[string]int
}

func (r *requestRecorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		kind := req.Method
		switch {
		case req.Method == http.MethodGet && req.URL.Query().Get("list-type") == "2":
			kind = "LIST"
		case strings.Contains(req.URL.Path, "/state/"):
			kind += " state"
		}
		r.mu.Lock()
		r.count[kind]++
		r.mu.Unlock()
		next.ServeHTTP(w, req)
	})
}

func (r *requestRecorder) take() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.count
	r.count = map[string]int{}
	return c
}

func (te *testEnv) state() store.State {
	te.t.Helper()
	keys, err := store.NewKeys("ssm-sessions", account, "us-east-1")
	if err != nil {
		te.t.Fatal(err)
	}
	var st store.State
	if err := json.Unmarshal(te.get(keys.StateKey()), &st); err != nil {
		te.t.Fatal(err)
	}
	return st
}

// TestScheduledRunReadsItsStateNotAMonthOfListings: the first run of a
// target builds its state from the horizon's manifest listings (31 LISTs);
// every later scheduled run reads one state object and lists nothing, and
// still reopens the slot whose session is running. With the state object
// gone, the next run builds it again from the manifests, reopening included.
func TestScheduledRunReadsItsStateNotAMonthOfListings(t *testing.T) {
	rec := &requestRecorder{count: map[string]int{}}
	long := session("long-running", "2026-11-21T22:00:00Z", "", types.SessionStatusConnected)
	te := newEnvWith(t, ts("2026-11-22T00:05:00Z"), envOptions{sessions: []types.Session{long}, s3Wrap: rec.wrap})
	te.mustInvoke(`{"time":"2026-11-22T00:05:00Z"}`)
	if c := rec.take(); c["LIST"] != 31 || c["GET state"] != 2 || c["PUT state"] != 2 {
		t.Fatalf("first run: %v; want 31 LIST (the state is built), 2 GET state (plan, record), 2 PUT state (claim, record)", c)
	}
	if st := te.state(); len(st.Open) != 1 || st.Open[0].Start.Format(time.DateOnly) != "2026-11-21" || st.Open[0].Pending != 1 {
		t.Fatalf("state open %+v; want 11-21 with 1 pending", st.Open)
	}
	rec.take() // the test's own read
	for _, day := range []string{"2026-11-24", "2026-11-25"} {
		te.now = ts(day + "T00:05:00Z")
		res := te.mustInvoke(`{"time":"` + day + `T00:05:00Z"}`)
		if c := rec.take(); c["LIST"] != 0 || c["GET state"] != 2 {
			t.Fatalf("run on %s: %v; want no LIST and 2 GET state (plan, record)", day, c)
		}
		if len(res.Slots) != 3 || res.Slots[2].Start.Format(time.DateOnly) != "2026-11-21" {
			t.Fatalf("run on %s slots %+v; want the lookback's two and 11-21 reopened", day, res.Slots)
		}
	}
	keys, err := store.NewKeys("ssm-sessions", account, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := te.emu.Clients().S3.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(keys.StateKey())}); err != nil {
		t.Fatal(err)
	}
	rec.take()
	te.now = ts("2026-11-26T00:05:00Z")
	res := te.mustInvoke(`{"time":"2026-11-26T00:05:00Z"}`)
	if c := rec.take(); c["LIST"] != 31 {
		t.Fatalf("run without a state object: %v; want 31 LIST to build it again", c)
	}
	if len(res.Slots) != 3 || res.Slots[2].Start.Format(time.DateOnly) != "2026-11-21" || res.Slots[2].ActivePending != 1 {
		t.Fatalf("run without a state object: slots %+v; want 11-21 reopened from its manifest", res.Slots)
	}
}

// TestUnfinishedSlotIsExportedByTheNextRun: a run that claimed a slot and
// could not write it (its manifest write failed) leaves it open, so the
// next scheduled run exports it although it is outside that run's lookback.
func TestUnfinishedSlotIsExportedByTheNextRun(t *testing.T) {
	s3P := newFaultProxy(1, &rule{name: "manifest", op: "PutObject:manifest", nth: []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, do: reset})
	gen := ssmfake.Generate(21, ts("2026-11-20T00:00:00Z"), ts("2026-11-24T00:00:00Z"), 400)
	te := newEnvWith(t, ts("2026-11-21T00:05:00Z"), envOptions{sessions: gen, s3Wrap: s3P.wrap, env: map[string]string{"AUDIT_LOOKBACK": "24h"}})
	if _, err := te.invoke(`{"time":"2026-11-21T00:05:00Z"}`); err == nil || !strings.Contains(err.Error(), "put manifest") {
		t.Fatalf("first run error %v; want the manifest write's", err)
	}
	if st := te.state(); len(st.Open) != 1 || st.Open[0].Pending != store.Claimed {
		t.Fatalf("state open %+v; want 11-20 claimed", st.Open)
	}
	s3P.setRules()
	te.now = ts("2026-11-23T00:05:00Z")
	res := te.mustInvoke(`{"time":"2026-11-23T00:05:00Z"}`)
	var days []string
	for _, s := range res.Slots {
		days = append(days, s.Start.Format(time.DateOnly))
	}
	if fmt.Sprint(days) != "[2026-11-22 2026-11-20]" {
		t.Fatalf("second run exported %v; want its lookback's 11-22, then 11-20 that the first run left unwritten", days)
	}
	if st := te.state(); len(st.Open) != 0 {
		t.Fatalf("state open %+v after the slot was written; want none", st.Open)
	}
	got := readRows(t, duck(t, te.download()))
	want := expected(te.emu.SSM, ts("2026-11-20T00:00:00Z"), ts("2026-11-21T00:00:00Z"))
	want = append(want, expected(te.emu.SSM, ts("2026-11-22T00:00:00Z"), ts("2026-11-23T00:00:00Z"))...)
	compareRows(t, got, want)
}

// TestConcurrentRunsMergeTheirState: runs of one target at once (a
// scheduled run and backfills of other days) each claim and record their
// slots with conditional writes; none overwrites another's days or open
// slots.
func TestConcurrentRunsMergeTheirState(t *testing.T) {
	long := session("long-running", "2026-11-19T22:00:00Z", "", types.SessionStatusConnected)
	ss := append(ssmfake.Generate(5, ts("2026-11-15T00:00:00Z"), ts("2026-11-26T00:00:00Z"), 300), long)
	te := newEnv(t, now, nil, ss)
	events := []string{`{"time":"2026-11-26T00:05:00Z"}`}
	for d := 15; d <= 23; d++ {
		events = append(events, fmt.Sprintf(`{"start":"2026-11-%02dT00:00:00Z","end":"2026-11-%02dT00:00:00Z"}`, d, d+1))
	}
	for i, err := range te.invokeAll(events...) {
		if err != nil {
			t.Fatalf("%s: %v", events[i], err)
		}
	}
	st := te.state()
	for d := 15; d <= 25; d++ {
		if day := fmt.Sprintf("2026-11-%02d", d); st.Days[day] != "24h0m0s" {
			t.Errorf("state day %s = %q; want 24h0m0s (days %v)", day, st.Days[day], st.Days)
		}
	}
	if len(st.Open) != 1 || st.Open[0].Start.Format(time.DateOnly) != "2026-11-19" || st.Open[0].Pending != 1 {
		t.Errorf("state open %+v; want only 11-19 with its running session", st.Open)
	}
	compareRows(t, readRows(t, duck(t, te.download())), expected(te.emu.SSM, ts("2026-11-15T00:00:00Z"), ts("2026-11-26T00:00:00Z")))
}
