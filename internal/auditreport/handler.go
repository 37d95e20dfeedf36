package auditreport

import (
	"context"
	"encoding/json"
	"github.com/session-audit/session-audit/internal/findings"
)

// Response is what the function answers.
type Response struct {
	Kind     string         `json:"kind"`
	From     string         `json:"from"`
	To       string         `json:"to"`
	Location string         `json:"location"`
	Sessions int64          `json:"sessions"`
	Findings map[string]int `json:"findings"`
	// Duplicates is how many sessions the table holds more than once in
	// the period (each counted once above; the report names them).
	Duplicates int `json:"duplicates"`
	// DaysMissing are the days of the period the archive lacks for an
	// account/region, as date ranges; absent when none.
	DaysMissing []string `json:"daysMissing,omitempty"`
	Queries     []Result `json:"queries"`
}

// Handle decodes the event and makes its report: the Lambda handler.
func (r *Reporter) Handle(ctx context.Context, raw json.RawMessage) (*Response, error) {
	req, err := Decode(raw, r.Config.ArchiveStart, r.Now())
	if err != nil {
		return nil, err
	}
	s, err := r.Run(ctx, req)
	if err != nil {
		if r.Logger != nil {
			r.Logger.Error("report failed", "kind", req.Kind, "from", req.From, "to", req.To, "error", err.Error())
		}
		return nil, err
	}
	out := &Response{Kind: s.Kind, From: s.From.Format("2006-01-02T15:04:05Z"), To: s.To.Format("2006-01-02T15:04:05Z"),
		Location: s.Location, Sessions: s.Sessions, Findings: map[string]int{}, Duplicates: s.Complete.Duplicates.Sessions, Queries: s.Queries}
	if len(s.Complete.DaysMissing) > 0 {
		out.DaysMissing = s.Complete.DaysMissing
	}
	for _, f := range s.Findings {
		out.Findings[f.ID] = f.Count
	}
	return out, nil
}

// FindingIDs lists the findings' ids in the report's order.
func FindingIDs() []string {
	var out []string
	for _, f := range findings.All {
		out = append(out, f.ID)
	}
	return out
}
