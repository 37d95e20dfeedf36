package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/session-audit/session-audit/internal/store"
)

// everyObjectHasItsManifest fails unless each Parquet object in the bucket
// has a manifest, and (through download) each manifest describes its
// object exactly.
func everyObjectHasItsManifest(t *testing.T, te *testEnv) {
	t.Helper()
	keys := te.objects()
	have := map[string]bool{}
	for _, k := range keys {
		have[k] = true
	}
	for _, k := range keys {
		if !strings.HasSuffix(k, ".parquet") {
			continue
		}
		m := strings.TrimSuffix(strings.Replace(k, "/sessions/", "/manifests/", 1), ".parquet") + ".json"
		if !have[m] {
			t.Errorf("object %s has no manifest %s", k, m)
		}
	}
	te.download()
}

// untilLeft holds a request until only left remains before deadline, then
// passes it on; it gives up when the client does.
func untilLeft(deadline time.Time, left time.Duration) func(http.ResponseWriter, *http.Request, http.Handler) {
	return func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		select {
		case <-time.After(time.Until(deadline.Add(-left))):
			next.ServeHTTP(w, r)
		case <-r.Context().Done():
		}
	}
}

// TestCommitAndManifestOutliveTheInvocation: once a slot's object is
// complete, the end of the invocation's context (here cancelled while the
// manifest is on its way) does not separate the object from its manifest.
func TestCommitAndManifestOutliveTheInvocation(t *testing.T) {
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	s3P := newFaultProxy(1, &rule{name: "hold", op: "PutObject:manifest", nth: []int{1}, do: hold(arrived, release)})
	te := newEnvWith(t, now, envOptions{sessions: faultSessions(), s3Wrap: s3P.wrap, partSize: faultPartSize})
	ctx, cancel := context.WithCancel(lambdaCtx())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := te.h.Handle(ctx, json.RawMessage(faultBackfill))
		done <- err
	}()
	<-arrived // the first slot's object is committed; its manifest is held
	cancel()
	close(release)
	err := <-done
	if err == nil || !strings.Contains(err.Error(), "2 slot(s) not written") {
		t.Fatalf("error %v; want the two slots after the cancelled one named", err)
	}
	everyObjectHasItsManifest(t, te)
	if n := len(te.objects()); n != 2 {
		t.Errorf("bucket holds %v; want the first slot's object and manifest", te.objects())
	}
}

// TestDeadlineLeavesNoObjectWithoutManifest: a slot whose paging ends
// after its work deadline (commitReserve + cancelMargin before the
// invocation's) is not committed at all, rather than committed with too
// little time left for its manifest.
func TestDeadlineLeavesNoObjectWithoutManifest(t *testing.T) {
	deadline := time.Now().Add(6 * time.Second)
	history := func(b []byte) bool { return bytes.Contains(b, []byte(`"State":"History"`)) }
	ssmP := newFaultProxy(1, &rule{name: "late page", op: "DescribeSessions", match: history, nth: []int{1}, do: untilLeft(deadline, 2*time.Second)})
	s3P := newFaultProxy(1, &rule{name: "slow manifest", op: "PutObject:manifest", nth: []int{1}, do: untilLeft(deadline, 1200*time.Millisecond)})
	te := newEnvWith(t, now, envOptions{sessions: faultSessions(), ssmWrap: ssmP.wrap, s3Wrap: s3P.wrap, partSize: faultPartSize})
	ctx, cancel := context.WithDeadline(lambdaCtx(), deadline)
	defer cancel()
	_, err := te.h.Handle(ctx, json.RawMessage(faultBackfill))
	if err == nil || !strings.Contains(err.Error(), "3 slot(s) not written") {
		t.Fatalf("error %v; want all three slots named", err)
	}
	everyObjectHasItsManifest(t, te)
}

// TestKeptSlotStopsReopening: a slot whose manifest counts an active
// session is reopened by scheduled runs; when a filter change makes a
// re-export find fewer sessions, the slot is kept, and the manifest records
// what that export found, no session active under the filter, so later
// runs stop reopening it.
func TestKeptSlotStopsReopening(t *testing.T) {
	bob := "arn:aws:iam::123456789012:user/bob"
	done2 := session("done-2", "2026-11-21T12:00:00Z", "2026-11-21T13:00:00Z", types.SessionStatusTerminated)
	done2.Owner = aws.String(bob)
	ss := []types.Session{
		session("long-running", "2026-11-21T22:00:00Z", "", types.SessionStatusConnected),
		session("done-1", "2026-11-21T10:00:00Z", "2026-11-21T11:00:00Z", types.SessionStatusTerminated),
		done2,
	}
	var logs bytes.Buffer
	te := newEnvWith(t, ts("2026-11-22T00:05:00Z"), envOptions{sessions: ss, logs: &logs})
	res := te.mustInvoke(`{"time":"2026-11-22T00:05:00Z"}`)
	first := res.Slots[len(res.Slots)-1]
	if first.Start.Format(time.DateOnly) != "2026-11-21" || first.Rows != 2 || first.ActivePending != 1 {
		t.Fatalf("first run: %+v; want 11-21 with 2 rows and 1 pending", res.Slots)
	}
	objectBefore := string(te.get(first.Object))

	te.exp().Filters.Owner = bob // the filter changes: alice's sessions are no longer exported
	te.now = ts("2026-11-23T00:05:00Z")
	logs.Reset()
	res = te.mustInvoke(`{"time":"2026-11-23T00:05:00Z"}`)
	kept := res.Slots[0]
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var l struct{ Msg, Slot string }
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if strings.HasPrefix(l.Slot, "2026-11-21") && l.Msg == "slot written" {
			t.Errorf("the kept slot was logged as written: %s", line)
		}
	}
	if !strings.Contains(logs.String(), `"msg":"slot kept","slot":"2026-11-21T00:00:00Z/2026-11-22T00:00:00Z"`) {
		t.Errorf("no \"slot kept\" line for 11-21:\n%s", logs.String())
	}
	if kept.Start.Format(time.DateOnly) != "2026-11-21" || !kept.Kept || kept.Rows != 2 || kept.ActivePending != 0 {
		t.Fatalf("run under the new filter: %+v; want 11-21 kept with its 2 rows and none pending under the filter", res.Slots)
	}
	var m store.Manifest
	if err := json.Unmarshal(te.get(kept.Manifest), &m); err != nil {
		t.Fatal(err)
	}
	if m.Kept == nil || m.Kept.Rows != 1 || m.Kept.ActivePending != 0 || m.Kept.Filters["Owner"] != bob || m.ActivePending != 1 || m.Rows != 2 {
		t.Errorf("manifest after the kept export: %+v kept %+v; want the object's evidence unchanged and the kept export's findings recorded", m, m.Kept)
	}
	if string(te.get(kept.Object)) != objectBefore {
		t.Error("the kept object changed")
	}
	for _, day := range []string{"2026-11-24", "2026-11-25"} {
		te.now = ts(day + "T00:05:00Z")
		res = te.mustInvoke(`{"time":"` + day + `T00:05:00Z"}`)
		for _, s := range res.Slots {
			if s.Start.Format(time.DateOnly) == "2026-11-21" {
				t.Fatalf("run on %s reopened the kept slot 11-21 again: %+v", day, res.Slots)
			}
		}
	}
	everyObjectHasItsManifest(t, te)
}
