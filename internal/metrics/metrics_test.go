package metrics_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/session-audit/session-audit/internal/metrics"
)

// TestWriteIsValidEMF checks the line against the EMF specification: the
// _aws envelope, every declared metric and dimension present at the top
// level with a numeric or string value.
func TestWriteIsValidEMF(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 11, 26, 0, 15, 0, 0, time.UTC)
	err := metrics.Write(&buf, metrics.Run{Function: "fn", Mode: "scheduled", Account: "111122223333", Region: "eu-west-1", Status: "exported", SessionsExported: 12, SlotsWritten: 2,
		APICalls: 9, Throttles: 3, ActivePending: 1, Duration: 1500 * time.Millisecond}, now)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(buf.Bytes(), []byte("\n")) != 1 {
		t.Fatalf("want one line, got %q", buf.String())
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	aws := doc["_aws"].(map[string]any)
	if aws["Timestamp"].(float64) != float64(now.UnixMilli()) {
		t.Errorf("timestamp %v", aws["Timestamp"])
	}
	cw := aws["CloudWatchMetrics"].([]any)[0].(map[string]any)
	if cw["Namespace"] != "SessionAudit" {
		t.Errorf("namespace %v", cw["Namespace"])
	}
	for _, d := range cw["Dimensions"].([]any)[0].([]any) {
		if _, ok := doc[d.(string)].(string); !ok {
			t.Errorf("dimension %v has no string value", d)
		}
	}
	// The target is a property, not a dimension: the org's accounts x
	// regions would multiply the metric series.
	if doc["Account"] != "111122223333" || doc["Region"] != "eu-west-1" || doc["Status"] != "exported" {
		t.Errorf("target properties Account=%v Region=%v Status=%v", doc["Account"], doc["Region"], doc["Status"])
	}
	for _, d := range cw["Dimensions"].([]any)[0].([]any) {
		if d == "Account" || d == "Region" {
			t.Errorf("dimension %v", d)
		}
	}
	want := map[string]float64{"SessionsExported": 12, "SlotsWritten": 2, "SlotsKept": 0, "SlotsFailed": 0, "APICalls": 9, "Throttles": 3, "ActivePending": 1, "RunDuration": 1500}
	ms := cw["Metrics"].([]any)
	if len(ms) != len(want) {
		t.Errorf("%d metrics declared, want %d", len(ms), len(want))
	}
	for _, m := range ms {
		name := m.(map[string]any)["Name"].(string)
		if v, ok := doc[name].(float64); !ok || v != want[name] {
			t.Errorf("metric %s = %v, want %v", name, doc[name], want[name])
		}
	}
}
