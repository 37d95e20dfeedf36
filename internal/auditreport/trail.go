package auditreport

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/session-audit/session-audit/internal/findings"
)

// qSources is the aggregate query over the trail behind the source
// addresses chart; the other trail numbers are sums over the rows of the
// denied and clients findings, so the report reads the trail no more often
// than it must.
const qSources = "top-source-addresses"

// TrailContext is the CloudTrail context of a report. With no trail
// configured Location is empty, every count zero, and the report says the
// context is off.
type TrailContext struct {
	// Location is the trail's S3 URI (CloudTrailLocation); empty: off.
	Location string `json:"location"`
	// AllowedSourceCIDRs are AUDIT_ALLOWED_SOURCE_CIDRS; none turns the
	// outside-sources finding off.
	AllowedSourceCIDRs []string `json:"allowedSourceCidrs"`
	// Starts are the successful StartSession events of the period, and
	// StartsWithMFA those whose caller had signed in with MFA.
	Starts        int64 `json:"startSessionEvents"`
	StartsWithMFA int64 `json:"startSessionEventsWithMfa"`
	// DeniedAttempts are the refused calls, by DeniedCallers principals.
	DeniedAttempts int64 `json:"deniedAttempts"`
	DeniedCallers  int64 `json:"deniedCallers"`
	// DeniedByCaller are the principals with the most refused calls.
	DeniedByCaller []Count `json:"deniedByCaller"`
	// Sources are the source addresses most sessions started from.
	Sources []Count `json:"topSourceAddresses"`
	// Clients are the sessions started in the console, with the CLI or an
	// SDK.
	Clients []Count `json:"clients"`
}

// On says whether the report read a trail.
func (t TrailContext) On() bool { return t.Location != "" }

func cidrs(p findings.Params) []string {
	out := []string{}
	for _, c := range p.AllowedSourceCIDRs {
		out = append(out, c.String())
	}
	return out
}

// trailAggregates are the trail's queries beside its findings.
func trailAggregates(w findings.Window) []named {
	return []named{{name: qSources, keep: -1, sql: fmt.Sprintf(`%s
SELECT source_ip, count(*) AS sessions
FROM ssm_events
WHERE error_code IS NULL AND event_name = 'StartSession'
GROUP BY source_ip
ORDER BY sessions DESC, source_ip
LIMIT %d`, findings.TrailEvents(w), topN)}}
}

// fillTrail reads the trail's numbers: the starts (with MFA) and clients
// from the clients finding, the denied attempts, their principals and the
// top of them from the denied finding, and the source addresses.
func (s *Summary) fillTrail() error {
	if !s.Trail.On() {
		return nil
	}
	var err error
	cl := s.results["clients"]
	if s.Trail.Clients, err = counts(cl, "client", "sessions"); err != nil {
		return err
	}
	mfa, err := counts(cl, "client", "with_mfa")
	if err != nil {
		return err
	}
	for i := range s.Trail.Clients {
		s.Trail.Starts += s.Trail.Clients[i].Count
		s.Trail.StartsWithMFA += mfa[i].Count
	}
	byCaller, err := counts(s.results["denied"], "caller_arn", "attempts")
	if err != nil {
		return err
	}
	sums := map[string]int64{}
	for _, c := range byCaller {
		sums[c.Key] += c.Count
		s.Trail.DeniedAttempts += c.Count
	}
	s.Trail.DeniedCallers = int64(len(sums))
	s.Trail.DeniedByCaller = []Count{}
	for k, n := range sums {
		s.Trail.DeniedByCaller = append(s.Trail.DeniedByCaller, Count{k, n})
	}
	// Most attempts first, ties by the ARN, as the other top charts.
	slices.SortFunc(s.Trail.DeniedByCaller, func(a, b Count) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Key, b.Key))
	})
	if len(s.Trail.DeniedByCaller) > topN {
		s.Trail.DeniedByCaller = s.Trail.DeniedByCaller[:topN]
	}
	if s.Trail.Sources, err = counts(s.results[qSources], "source_ip", "sessions"); err != nil {
		return err
	}
	return nil
}
