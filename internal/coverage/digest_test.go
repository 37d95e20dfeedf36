package coverage_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/session-audit/session-audit/internal/coverage"
	"github.com/session-audit/session-audit/internal/digest"
)

// TestReportWritesOneDigestPerRun: Coverage records the manifests of every
// exported target (kept slots too, and a failed chunk's) in one digest
// named by the run id, on the org function's chain; a second run's digest
// extends the first; a run without manifests writes none.
func TestReportWritesOneDigestPerRun(t *testing.T) {
	c := s3Client(t)
	ctx := context.Background()
	w := &digest.Writer{S3: c, Bucket: "audit", Prefix: prefix, Now: func() time.Time { return now }}
	r := &coverage.Reporter{Bucket: "audit", Prefix: prefix, S3: c, Now: func() time.Time { return now }, Digests: w, Account: "999999999999", Region: "us-east-1"}
	run := func(runID string, targets map[string][]string) (coverage.Output, error) {
		var items []map[string]string
		var succeeded []map[string]any
		for acct, mans := range targets {
			items = append(items, map[string]string{"account": acct, "region": "eu-west-1", "time": "2026-11-25T00:15:00Z"})
			var slots []map[string]any
			for _, m := range mans {
				put(t, c, m, `{"version":1}`)
				slots = append(slots, map[string]any{"rows": 1, "manifest": m})
			}
			out := mustJSON(t, map[string]any{"mode": "scheduled", "account": acct, "region": "eu-west-1", "status": "exported", "slots": slots, "rows": len(slots)})
			in := `{"event":{"account":"` + acct + `","region":"eu-west-1","time":"2026-11-25T00:15:00Z"}}`
			succeeded = append(succeeded, child(runID+acct, in, out, "SUCCEEDED", "", "", "2026-11-25T00:16:00.000Z"))
		}
		put(t, c, prefix+"/runs/"+runID+"/items.json", mustJSON(t, items))
		runs := prefix + "/runs/map-" + runID
		put(t, c, runs+"/SUCCEEDED_0.json", mustJSON(t, succeeded))
		put(t, c, runs+"/manifest.json", `{"ResultFiles":{"FAILED":[],"PENDING":[],"SUCCEEDED":[{"Key":"`+runs+`/SUCCEEDED_0.json"}]}}`)
		return r.Report(ctx, coverage.Input{RunID: runID, RunTime: "2026-11-25T00:15:00Z", ItemsKey: prefix + "/runs/" + runID + "/items.json",
			ResultWriterDetails: coverage.ResultWriterDetails{Bucket: "audit", Key: runs + "/manifest.json"}})
	}
	man := func(acct, slot string) string {
		return prefix + "/manifests/dt=2026-11-25/" + acct + "_eu-west-1_" + slot + ".json"
	}
	first := map[string][]string{
		"111111111111": {man("111111111111", "a"), man("111111111111", "b")},
		"222222222222": {man("222222222222", "a")},
	}
	out, err := run("run-1", first)
	if err != nil {
		t.Fatal(err)
	}
	if out.Digest != prefix+"/digests/dt=2026-11-25/run-1.json" {
		t.Fatalf("digest key %q", out.Digest)
	}
	var d digest.Digest
	if err := json.Unmarshal([]byte(get(t, c, out.Digest)), &d); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, m := range d.Manifests {
		got[m.Key] = true
	}
	for _, mans := range first {
		for _, m := range mans {
			if !got[m] {
				t.Errorf("digest lacks %s: %+v", m, d.Manifests)
			}
		}
	}
	if len(d.Manifests) != 3 || d.Account != "999999999999" || d.Region != "us-east-1" || d.RunID != "run-1" || d.Previous != nil {
		t.Errorf("first digest %+v", d)
	}
	out, err = run("run-2", map[string][]string{"111111111111": {man("111111111111", "c")}})
	if err != nil {
		t.Fatal(err)
	}
	var d2 digest.Digest
	if err := json.Unmarshal([]byte(get(t, c, out.Digest)), &d2); err != nil {
		t.Fatal(err)
	}
	if d2.Previous == nil || d2.Previous.Key != prefix+"/digests/dt=2026-11-25/run-1.json" || len(d2.Manifests) != 1 {
		t.Errorf("second digest %+v", d2)
	}
	out, err = run("run-3", map[string][]string{"111111111111": nil})
	if err != nil || out.Digest != "" {
		t.Errorf("run without manifests: digest %q, %v", out.Digest, err)
	}
}
