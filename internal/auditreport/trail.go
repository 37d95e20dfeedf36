package auditreport

import (
	"fmt"

	"github.com/session-audit/session-audit/internal/findings"
)

// Names of the aggregate queries over the trail.
const (
	qTrailTotals  = "trail-totals"
	qDeniedPeople = "denied-attempts-by-caller"
	qSources      = "top-source-addresses"
)

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

// trailAggregates are the trail's counts and the charts' queries.
func trailAggregates(w findings.Window) []named {
	ev := findings.TrailEvents(w)
	return []named{
		{name: qTrailTotals, keep: -1, sql: fmt.Sprintf(`%s
SELECT count_if(error_code IS NULL AND event_name = 'StartSession') AS starts,
       count_if(error_code IS NULL AND event_name = 'StartSession' AND mfa_authenticated = 'true') AS starts_with_mfa,
       count_if(error_code IS NOT NULL) AS denied_attempts,
       count(DISTINCT CASE WHEN error_code IS NOT NULL THEN caller_arn END) AS denied_callers
FROM ssm_events`, ev)},
		{name: qDeniedPeople, keep: -1, sql: fmt.Sprintf(`%s
SELECT caller_arn, count(*) AS attempts
FROM ssm_events
WHERE error_code IS NOT NULL
GROUP BY caller_arn
ORDER BY attempts DESC, caller_arn
LIMIT %d`, ev, topN)},
		{name: qSources, keep: -1, sql: fmt.Sprintf(`%s
SELECT source_ip, count(*) AS sessions
FROM ssm_events
WHERE error_code IS NULL AND event_name = 'StartSession'
GROUP BY source_ip
ORDER BY sessions DESC, source_ip
LIMIT %d`, ev, topN)},
	}
}

// fillTrail reads the trail's aggregates and the clients finding.
func (s *Summary) fillTrail() error {
	if !s.Trail.On() {
		return nil
	}
	tot := s.results[qTrailTotals]
	if len(tot.Rows) != 1 {
		return fmt.Errorf("athena query %s (%s): %d rows, want 1", tot.ID, tot.Name, len(tot.Rows))
	}
	for col, dst := range map[string]*int64{"starts": &s.Trail.Starts, "starts_with_mfa": &s.Trail.StartsWithMFA,
		"denied_attempts": &s.Trail.DeniedAttempts, "denied_callers": &s.Trail.DeniedCallers} {
		i, err := tot.column(col)
		if err != nil {
			return err
		}
		if *dst, err = num(tot, tot.Rows[0], i); err != nil {
			return err
		}
	}
	var err error
	if s.Trail.DeniedByCaller, err = counts(s.results[qDeniedPeople], "caller_arn", "attempts"); err != nil {
		return err
	}
	if s.Trail.Sources, err = counts(s.results[qSources], "source_ip", "sessions"); err != nil {
		return err
	}
	// Every client row is in memory: there are three at most.
	if s.Trail.Clients, err = counts(s.results["clients"], "client", "sessions"); err != nil {
		return err
	}
	return nil
}
