package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Coverage is what the Coverage step of an organization run reports:
// targets (account and region pairs) by outcome.
type Coverage struct {
	Function       string // dimension FunctionName
	Exported       int
	Denied         int
	RegionDisabled int
	Failed         int
}

// WriteCoverage emits c as one EMF line on w, stamped at now: metrics
// TargetsExported, TargetsDenied, TargetsRegionDisabled and TargetsFailed
// in the SessionAudit namespace, dimension FunctionName.
func WriteCoverage(w io.Writer, c Coverage, now time.Time) error {
	doc := map[string]any{
		"_aws": map[string]any{
			"Timestamp": now.UnixMilli(),
			"CloudWatchMetrics": []map[string]any{{
				"Namespace":  Namespace,
				"Dimensions": [][]string{{"FunctionName"}},
				"Metrics": []metric{
					{"TargetsExported", "Count"}, {"TargetsDenied", "Count"},
					{"TargetsRegionDisabled", "Count"}, {"TargetsFailed", "Count"},
				},
			}},
		},
		"FunctionName":          c.Function,
		"TargetsExported":       c.Exported,
		"TargetsDenied":         c.Denied,
		"TargetsRegionDisabled": c.RegionDisabled,
		"TargetsFailed":         c.Failed,
	}
	line, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("encode coverage metrics: %w", err)
	}
	if _, err := w.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("write coverage metrics: %w", err)
	}
	return nil
}
