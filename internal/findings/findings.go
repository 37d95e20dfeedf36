// Package findings defines, once, each finding of the session audit: one
// SQL query over the sessions table (Athena engine v3, Trino SQL). The
// report function runs them over a period, pruned by dt; the stack's
// Athena named queries are the same text over the last 30 days (a test in
// internal/stack keeps template.yaml equal to what this package renders).
package findings

import (
	"fmt"
	"strings"
	"time"
)

// Finding is one audit question with its query.
type Finding struct {
	// ID names the finding in summary.json, the CSV name and the
	// template's named query (Query<Resource>).
	ID string
	// Resource is the template's NamedQuery logical id.
	Resource string
	// Name is the NamedQuery's Name.
	Name string
	// Title is the heading in the report.
	Title string
	// Table is the table the query reads: sessions, or coverage.
	Table string
	// Order says, for people, how rows are sorted.
	Order string
	// sql renders the query's text for a window.
	sql func(p Params, w Window) string
}

// Window is the range a query reads. The zero Window is the named
// queries' "last 30 days" (relative to current_date); otherwise the
// period [From, To), both UTC.
type Window struct {
	From, To time.Time
}

// Last30Days is the window of the named queries.
var Last30Days = Window{}

// Dates is the inclusive dt range of the window: the UTC dates of From and
// of the last instant before To.
func (w Window) Dates() (first, last string) {
	return w.From.UTC().Format(time.DateOnly), w.To.UTC().Add(-time.Millisecond).Format(time.DateOnly)
}

// where renders the dt pruning and, for a period, the start_date bounds.
func (w Window) where() string {
	if w.From.IsZero() {
		return "dt >= CAST(CAST(current_date - INTERVAL '30' DAY AS DATE) AS VARCHAR)"
	}
	first, last := w.Dates()
	return fmt.Sprintf("dt BETWEEN '%s' AND '%s'\n  AND start_date >= %s\n  AND start_date < %s", first, last, Timestamp(w.From), Timestamp(w.To))
}

// coverageWhere prunes the coverage table by dt.
func (w Window) coverageWhere() string {
	if w.From.IsZero() {
		return "dt >= CAST(CAST(current_date - INTERVAL '30' DAY AS DATE) AS VARCHAR)"
	}
	first, last := w.Dates()
	return fmt.Sprintf("dt BETWEEN '%s' AND '%s'", first, last)
}

// end is the period's end as SQL: the named queries use the time they run.
func (w Window) end() string {
	if w.From.IsZero() {
		return "current_timestamp"
	}
	return Timestamp(w.To)
}

// describe says the window in words for the query's comment.
func (w Window) describe() string {
	if w.From.IsZero() {
		return "last 30 days"
	}
	return "from " + w.From.UTC().Format(time.RFC3339) + " to " + w.To.UTC().Format(time.RFC3339)
}

// Timestamp is a UTC instant as a Trino timestamp literal.
func Timestamp(t time.Time) string {
	return "TIMESTAMP '" + t.UTC().Format("2006-01-02 15:04:05.000") + "'"
}

// SQL renders the finding's query for the thresholds and the window.
func (f Finding) SQL(p Params, w Window) string { return f.sql(p, w) }

// Where renders the WHERE conditions of the sessions table for a window:
// what every report query over sessions starts with.
func Where(w Window) string { return w.where() }

// Local is start_date in the thresholds' time zone, as SQL.
func Local(p Params) string {
	return fmt.Sprintf("start_date AT TIME ZONE '%s'", p.TimeZone)
}

func quoteList(items []string, indent string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = indent + "'" + strings.ReplaceAll(s, "'", "''") + "'"
	}
	return strings.Join(q, ",\n")
}

const sessionCols = "session_id, owner, target, status, document_name, start_date, end_date, duration_seconds"

// All is every finding, in the report's order.
var All = []Finding{
	{
		ID: "privileged", Resource: "QueryRootOrBreakGlassSessions", Name: "sessions-by-root-or-break-glass",
		Title: "Sessions by the root user or a break-glass role", Table: "sessions", Order: "most recent first",
		sql: func(p Params, w Window) string {
			var likes []string
			for _, s := range p.PrivilegedOwners {
				likes = append(likes, "lower(owner) LIKE '"+s+"'")
			}
			return fmt.Sprintf(`-- Sessions whose owner matches a privileged pattern (root, break-glass
-- roles; in LIKE, "_" matches any one character), %s.
SELECT %s, reason
FROM sessions
WHERE %s
  AND (%s)
ORDER BY start_date DESC, session_id`, w.describe(), sessionCols, w.where(), strings.Join(likes, "\n       OR "))
		},
	},
	{
		ID: "failed", Resource: "QueryFailedSessions", Name: "failed-sessions",
		Title: "Failed sessions", Table: "sessions", Order: "most recent first",
		sql: func(p Params, w Window) string {
			return fmt.Sprintf(`-- Sessions that failed, %s.
SELECT %s, reason
FROM sessions
WHERE %s
  AND status = 'Failed'
ORDER BY start_date DESC, session_id`, w.describe(), sessionCols, w.where())
		},
	},
	{
		ID: "long", Resource: "QueryLongSessions", Name: "long-sessions",
		Title: "Long sessions", Table: "sessions", Order: "longest first",
		sql: func(p Params, w Window) string {
			s := int64(p.LongSession / time.Second)
			return fmt.Sprintf(`-- Sessions longer than %s (%d seconds), %s.
SELECT %s
FROM sessions
WHERE %s
  AND duration_seconds > %d
ORDER BY duration_seconds DESC, start_date DESC, session_id`, Words(p.LongSession), s, w.describe(), sessionCols, w.where(), s)
		},
	},
	{
		ID: "after-hours", Resource: "QueryOutsideBusinessHours", Name: "sessions-outside-business-hours",
		Title: "Sessions outside business hours", Table: "sessions", Order: "most recent first",
		sql: func(p Params, w Window) string {
			l := Local(p)
			return fmt.Sprintf(`-- Sessions started outside business hours (%02d:00-%02d:00, Monday to Friday,
-- %s), %s. day_of_week is ISO: Monday 1 ... Sunday 7.
SELECT %s,
       day_of_week(%s) AS local_weekday, hour(%s) AS local_hour
FROM sessions
WHERE %s
  AND (hour(%s) < %d
       OR hour(%s) >= %d
       OR day_of_week(%s) IN (6, 7))
ORDER BY start_date DESC, session_id`, p.BusinessStart, p.BusinessEnd, p.TimeZone, w.describe(), sessionCols,
				l, l, w.where(), l, p.BusinessStart, l, p.BusinessEnd, l)
		},
	},
	{
		ID: "documents", Resource: "QueryDocumentsOutsideAllowList", Name: "sessions-with-documents-outside-allow-list",
		Title: "Documents outside the allow-list", Table: "sessions", Order: "most recent first",
		sql: func(p Params, w Window) string {
			return fmt.Sprintf(`-- Sessions whose document is not on the allow-list, %s.
-- A session without a document (NULL) ran the default shell and is judged
-- as SSM-SessionManagerRunShell: NULL NOT IN (...) would be NULL, never true.
SELECT %s,
       coalesce(document_name, '%s') AS document
FROM sessions
WHERE %s
  AND coalesce(document_name, '%s') NOT IN (
%s)
ORDER BY start_date DESC, session_id`, w.describe(), sessionCols, DefaultShell, w.where(), DefaultShell, quoteList(p.AllowedDocuments, "        "))
		},
	},
	{
		ID: "no-transcript", Resource: "QueryNoTranscript", Name: "sessions-without-transcript",
		Title: "Sessions without an S3 or CloudWatch transcript", Table: "sessions", Order: "most recent first",
		sql: func(p Params, w Window) string {
			return fmt.Sprintf(`-- Sessions that ran (not Failed) with neither an S3 nor a CloudWatch
-- transcript, %s.
SELECT %s
FROM sessions
WHERE %s
  AND coalesce(status, '') <> 'Failed'
  AND coalesce(s3_output_url, '') = ''
  AND coalesce(cloudwatch_output_url, '') = ''
ORDER BY start_date DESC, session_id`, w.describe(), sessionCols, w.where())
		},
	},
	{
		ID: "active-at-end", Resource: "QueryActiveAtPeriodEnd", Name: "sessions-active-at-period-end",
		Title: "Sessions still active at the period's end", Table: "sessions", Order: "most recent first",
		sql: func(p Params, w Window) string {
			return fmt.Sprintf(`-- Sessions that started in the window and had not ended at its end
-- (%s): no end yet, or an end after it; failed sessions never ran.
SELECT %s
FROM sessions
WHERE %s
  AND coalesce(status, '') <> 'Failed'
  AND (end_date IS NULL OR end_date > %s)
ORDER BY start_date DESC, session_id`, w.end(), sessionCols, w.where(), w.end())
		},
	},
	{
		ID: "not-covered", Resource: "", Name: "targets-not-covered",
		Title: "Targets (account × region) not covered", Table: "coverage", Order: "most failed runs first",
		sql: func(p Params, w Window) string {
			return fmt.Sprintf(`-- Targets (account, region) whose export runs were not all "exported",
-- %s, from the organization's coverage records.
SELECT account_id, region, count(*) AS runs,
       count_if(status <> 'exported') AS runs_not_exported,
       max_by(status, finished_at) AS last_status,
       max_by(error, finished_at) AS last_error
FROM coverage
WHERE %s
GROUP BY account_id, region
HAVING count_if(status <> 'exported') > 0
ORDER BY runs_not_exported DESC, account_id, region`, w.describe(), w.coverageWhere())
		},
	},
}

// Sessions is every finding over the sessions table.
func Sessions() []Finding {
	var out []Finding
	for _, f := range All {
		if f.Table == "sessions" {
			out = append(out, f)
		}
	}
	return out
}

// ByID finds a finding.
func ByID(id string) (Finding, bool) {
	for _, f := range All {
		if f.ID == id {
			return f, true
		}
	}
	return Finding{}, false
}

// Words says a duration as people write it: 4h, 90m, 1h30m.
func Words(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// IDs is the id of every finding, in the report's order: what an
// exceptions file may name.
func IDs() []string {
	out := make([]string, len(All))
	for i, f := range All {
		out[i] = f.ID
	}
	return out
}
