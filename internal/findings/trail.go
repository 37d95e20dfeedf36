package findings

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// EnvAllowedSourceCIDRs is the variable of the source addresses sessions
// may come from (comma-separated IPv4 CIDRs); empty turns the finding off.
const EnvAllowedSourceCIDRs = "AUDIT_ALLOWED_SOURCE_CIDRS"

// ParseCIDRs reads AUDIT_ALLOWED_SOURCE_CIDRS: comma-separated IPv4 CIDRs
// such as 198.51.100.0/24,10.0.0.0/8, host bits zero. A malformed or IPv6
// entry is an error naming the variable.
func ParseCIDRs(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range splitList(v) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not a CIDR such as 198.51.100.0/24", EnvAllowedSourceCIDRs, s)
		}
		if !p.Addr().Is4() {
			return nil, fmt.Errorf("%s: %q: only IPv4 CIDRs are compared (IPv6 source addresses always count as outside)", EnvAllowedSourceCIDRs, s)
		}
		if p.Masked() != p {
			return nil, fmt.Errorf("%s: %q has host bits set; did you mean %s?", EnvAllowedSourceCIDRs, s, p.Masked())
		}
		out = append(out, p)
	}
	return out, nil
}

// Outside says, as the SQL does, whether a CloudTrail sourceIPAddress is
// outside the allowed CIDRs: an IPv4 address in none of them, or any IPv6
// address. A value that is not an address (a service name such as
// ssm.amazonaws.com, or "AWS Internal") is not judged.
func Outside(allowed []netip.Prefix, source string) bool {
	a, err := netip.ParseAddr(source)
	if err != nil {
		return false
	}
	if !a.Is4() {
		return true
	}
	for _, p := range allowed {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// trailWindow renders the trail's pruning and event-time bounds. Log files
// sit in the folder of the day they were delivered, up to about fifteen
// minutes after their events, so a period's events can be in the folder of
// the day after it.
func (w Window) trailWhere() string {
	if w.From.IsZero() {
		return `"timestamp" >= date_format(current_date - INTERVAL '30' DAY, '%Y/%m/%d')`
	}
	first := w.From.UTC().Format("2006/01/02")
	last := w.To.UTC().Add(-time.Millisecond).AddDate(0, 0, 1).Format("2006/01/02")
	return fmt.Sprintf(`"timestamp" BETWEEN '%s' AND '%s'
    AND from_iso8601_timestamp(eventtime) >= %s
    AND from_iso8601_timestamp(eventtime) < %s`, first, last, Timestamp(w.From), Timestamp(w.To))
}

// TrailEvents renders the Session Manager events of the trail in the
// window as a WITH clause named ssm_events: per StartSession,
// ResumeSession and TerminateSession event, its time, the session id from
// responseElements (requestParameters for a Terminate that failed), the
// target, the caller's ARN, source address, user agent, MFA flag, whether
// its credentials came from the console, the error code and message, and
// the account and region the trail filed it under.
func TrailEvents(w Window) string {
	return fmt.Sprintf(`WITH ssm_events AS (
  SELECT from_iso8601_timestamp(eventtime) AS event_time,
         eventname AS event_name,
         coalesce(json_extract_scalar(responseelements, '$.sessionId'),
                  json_extract_scalar(requestparameters, '$.sessionId')) AS session_id,
         json_extract_scalar(requestparameters, '$.target') AS target,
         useridentity.arn AS caller_arn,
         sourceipaddress AS source_ip,
         useragent AS user_agent,
         useridentity.sessioncontext.attributes.mfaauthenticated AS mfa_authenticated,
         sessioncredentialfromconsole AS from_console,
         errorcode AS error_code,
         errormessage AS error_message,
         account,
         region
  FROM cloudtrail
  WHERE %s
    AND eventsource = 'ssm.amazonaws.com'
    AND eventname IN ('StartSession', 'ResumeSession', 'TerminateSession')
)`, w.trailWhere())
}

// Client is the SQL that names how a session was started, from its user
// agent: console (the Session Manager console calls from AWS's side,
// aws-internal/…, or with console credentials), cli (aws-cli/…), or sdk
// (anything else: SDKs, tools).
const Client = `CASE
         WHEN from_console = 'true' OR user_agent LIKE 'aws-internal/%' OR user_agent LIKE 'Mozilla/%' THEN 'console'
         WHEN user_agent LIKE 'aws-cli/%' THEN 'cli'
         ELSE 'sdk'
       END`

// ClientOf is Client in Go, for code that reads the records directly.
func ClientOf(userAgent string, fromConsole bool) string {
	switch {
	case fromConsole || strings.HasPrefix(userAgent, "aws-internal/") || strings.HasPrefix(userAgent, "Mozilla/"):
		return "console"
	case strings.HasPrefix(userAgent, "aws-cli/"):
		return "cli"
	}
	return "sdk"
}

// ipv4Number is the SQL of source_ip as a number when it is a dotted IPv4
// address, else NULL.
const ipv4Number = `CASE WHEN regexp_like(source_ip, '^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$') THEN
           CAST(split_part(source_ip, '.', 1) AS BIGINT) * 16777216 + CAST(split_part(source_ip, '.', 2) AS BIGINT) * 65536
           + CAST(split_part(source_ip, '.', 3) AS BIGINT) * 256 + CAST(split_part(source_ip, '.', 4) AS BIGINT)
         END`

// outsideSQL is the condition that source_ip is outside the CIDRs.
func outsideSQL(allowed []netip.Prefix) string {
	var ranges []string
	for _, p := range allowed {
		b := p.Addr().As4()
		lo := int64(b[0])<<24 | int64(b[1])<<16 | int64(b[2])<<8 | int64(b[3])
		hi := lo + int64(1)<<(32-p.Bits()) - 1
		ranges = append(ranges, fmt.Sprintf("ip_number BETWEEN %d AND %d /* %s */", lo, hi, p))
	}
	return fmt.Sprintf(`(strpos(source_ip, ':') > 0
         OR (ip_number IS NOT NULL AND NOT (%s)))`, strings.Join(ranges, "\n                 OR "))
}

// trailFindings are the findings over the trail.
var trailFindings = []Finding{
	{
		ID: "denied", Resource: "QueryDeniedSessionAttempts", Name: "denied-session-attempts",
		Title: "Denied session attempts", Table: "cloudtrail", Order: "most attempts first",
		sql: func(a args, w Window) string {
			return fmt.Sprintf(`-- Session Manager calls the service refused (the event has an errorCode),
-- %s: who, on which target, how often and why. DescribeSessions never
-- lists them.
%s
SELECT account AS account_id, region, caller_arn, target, error_code,
       count(*) AS attempts,
       min(event_time) AS first_attempt,
       max(event_time) AS last_attempt,
       count(DISTINCT source_ip) AS source_addresses,
       max(error_message) AS error_message
FROM ssm_events
WHERE error_code IS NOT NULL
GROUP BY account, region, caller_arn, target, error_code
ORDER BY attempts DESC, last_attempt DESC, caller_arn, target, error_code, account, region`, w.describe(), TrailEvents(w))
		},
	},
	{
		ID: "outside-sources", Resource: "", Name: "sessions-from-outside-allowed-sources",
		Title: "Sessions from source addresses outside the allowed CIDRs", Table: "cloudtrail", Order: "most recent first",
		sql: func(a args, w Window) string {
			var list []string
			for _, c := range a.params.AllowedSourceCIDRs {
				list = append(list, c.String())
			}
			return fmt.Sprintf(`-- Sessions started or resumed from a source address outside %s
-- (%s), %s: IPv4 addresses in none of the CIDRs, and every IPv6 address.
-- A source that is not an address (an AWS service) is not judged.
%s,
addressed AS (
  SELECT *, %s AS ip_number
  FROM ssm_events
  WHERE error_code IS NULL AND event_name IN ('StartSession', 'ResumeSession')
)
SELECT session_id, event_name, event_time, caller_arn, source_ip, target,
       %s AS client,
       mfa_authenticated, account AS account_id, region
FROM addressed
WHERE %s
ORDER BY event_time DESC, session_id, event_name`, EnvAllowedSourceCIDRs, strings.Join(list, ", "), w.describe(), TrailEvents(w),
				ipv4Number, Client, outsideSQL(a.params.AllowedSourceCIDRs))
		},
	},
	{
		ID: "clients", Resource: "QuerySessionsByClient", Name: "sessions-by-client",
		Title: "Sessions started in the console, with the CLI, or with an SDK", Table: "cloudtrail", Order: "most sessions first",
		sql: func(a args, w Window) string {
			return fmt.Sprintf(`-- Sessions started (successful StartSession), %s, by how they were
-- started, from the user agent: console, cli (aws-cli) or sdk (other tools).
%s
SELECT %s AS client,
       count(*) AS sessions,
       count(DISTINCT caller_arn) AS people,
       count_if(mfa_authenticated = 'true') AS with_mfa
FROM ssm_events
WHERE error_code IS NULL AND event_name = 'StartSession'
GROUP BY 1
ORDER BY sessions DESC, client`, w.describe(), TrailEvents(w), Client)
		},
	},
}

// Trail is every finding over the CloudTrail table.
func Trail() []Finding { return trailFindings }

// WithSourceIP adds, to a finding's query over sessions, the source address
// of each session's StartSession in the trail (source_ip; NULL where the
// trail has none), joined on the session id, keeping the query's order.
func WithSourceIP(query string, w Window) string {
	i := strings.LastIndex(query, "\nORDER BY ")
	body, order := query, ""
	if i >= 0 {
		body, order = query[:i], query[i:]
	}
	// The finding's leading comment stays first.
	var comment []string
	lines := strings.Split(body, "\n")
	for len(lines) > 0 && strings.HasPrefix(lines[0], "--") {
		comment, lines = append(comment, lines[0]), lines[1:]
	}
	head := ""
	if len(comment) > 0 {
		head = strings.Join(comment, "\n") + "\n-- With each session's source address from the trail.\n"
	}
	return fmt.Sprintf(`%s%s,
started AS (
  SELECT session_id, min_by(source_ip, event_time) AS source_ip
  FROM ssm_events
  WHERE event_name = 'StartSession' AND error_code IS NULL AND session_id IS NOT NULL
  GROUP BY session_id
),
finding AS (
%s
)
SELECT finding.*, started.source_ip
FROM finding
LEFT JOIN started ON started.session_id = finding.session_id%s`, head, TrailEvents(w.widen()), strings.Join(lines, "\n"), order)
}

// widen is the window of a period's StartSession events: the call can come
// a few minutes before the session's start.
func (w Window) widen() Window {
	if w.From.IsZero() {
		return w
	}
	return Window{From: w.From.Add(-15 * time.Minute), To: w.To}
}

// The trail's findings follow the others in the report.
func init() { All = append(All, trailFindings...) }

// Events renders every Session Manager event of the trail in the window,
// most recent first: the named query that plays the part of a view.
func Events(w Window) string {
	return fmt.Sprintf(`-- Session Manager events (StartSession, ResumeSession, TerminateSession)
-- in the CloudTrail trail, %s: time, session id, target, caller,
-- source address, user agent, MFA flag, and the error of a refused call.
%s
SELECT event_time, event_name, session_id, target, caller_arn, source_ip, user_agent,
       mfa_authenticated, error_code, error_message, account, region
FROM ssm_events
ORDER BY event_time DESC, session_id, event_name`, w.describe(), TrailEvents(w))
}
