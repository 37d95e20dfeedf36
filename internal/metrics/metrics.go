// Package metrics writes CloudWatch Embedded Metric Format (EMF) lines: one
// JSON log line per run that CloudWatch turns into metrics in the
// SessionAudit namespace, so the stack's alarms need no API calls.
package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Namespace is the CloudWatch namespace of every metric.
const Namespace = "SessionAudit"

// Run is what one run reports.
type Run struct {
	Function string // dimension FunctionName
	Mode     string // dimension Mode: scheduled or backfill
	// Account and Region name the target. They are properties of the line,
	// not dimensions: an organization of 1,000 accounts in 17 regions would
	// make 17,000 series of every metric (each billed as a custom metric),
	// while the alarms need the totals per function. CloudWatch Logs
	// Insights still groups the lines by them.
	Account string
	Region  string
	// Status is how the target ended: exported, denied, region-disabled
	// or failed; a property too.
	Status           string
	SessionsExported int64
	SlotsWritten     int
	SlotsKept        int
	SlotsFailed      int
	APICalls         int
	Throttles        int64
	ActivePending    int
	Duration         time.Duration
}

type metric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

// Write emits r as one EMF line on w, stamped at now.
func Write(w io.Writer, r Run, now time.Time) error {
	doc := map[string]any{
		"_aws": map[string]any{
			"Timestamp": now.UnixMilli(),
			"CloudWatchMetrics": []map[string]any{{
				"Namespace":  Namespace,
				"Dimensions": [][]string{{"FunctionName", "Mode"}},
				"Metrics": []metric{
					{"SessionsExported", "Count"}, {"SlotsWritten", "Count"}, {"SlotsKept", "Count"},
					{"SlotsFailed", "Count"}, {"APICalls", "Count"}, {"Throttles", "Count"},
					{"ActivePending", "Count"}, {"RunDuration", "Milliseconds"},
				},
			}},
		},
		"FunctionName":     r.Function,
		"Mode":             r.Mode,
		"Account":          r.Account,
		"Region":           r.Region,
		"Status":           r.Status,
		"SessionsExported": r.SessionsExported,
		"SlotsWritten":     r.SlotsWritten,
		"SlotsKept":        r.SlotsKept,
		"SlotsFailed":      r.SlotsFailed,
		"APICalls":         r.APICalls,
		"Throttles":        r.Throttles,
		"ActivePending":    r.ActivePending,
		"RunDuration":      r.Duration.Milliseconds(),
	}
	line, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("encode metrics: %w", err)
	}
	if _, err := w.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("write metrics: %w", err)
	}
	return nil
}
