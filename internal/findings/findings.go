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
	// sql renders the query's text for thresholds (as SQL text) and a
	// window.
	sql func(a args, w Window) string
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

// where renders the dt pruning and, for a period, the start_date bounds;
// indent starts each line after the first.
func (w Window) where(indent string) string {
	if w.From.IsZero() {
		return "dt >= CAST(CAST(current_date - INTERVAL '30' DAY AS DATE) AS VARCHAR)"
	}
	first, last := w.Dates()
	return fmt.Sprintf("dt BETWEEN '%s' AND '%s'\n%s  AND start_date >= %s\n%s  AND start_date < %s", first, last, indent, Timestamp(w.From), indent, Timestamp(w.To))
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
func (f Finding) SQL(p Params, w Window) string { return f.sql(p.args(), w) }

// OnceTable is the name Once gives the sessions of a window, each once;
// OnceFirst is the condition that keeps one row per session in it.
const (
	OnceTable = "sessions_once"
	OnceFirst = "copy_number = 1"
)

// Once renders the WITH clause that every query over sessions starts
// with: the window's rows, numbered per session (account, region, session
// id) from its latest export, so that a query reading OnceTable WHERE
// OnceFirst counts each session once. A day exported on two slot lengths,
// or a stray copy of an object, holds a session twice; Duplicates lists
// them. Among copies exported at the same time the object ("$path", the
// S3 URI) that sorts last is kept, so the choice does not depend on the
// engine.
func Once(w Window) string {
	return fmt.Sprintf(`WITH %s AS (
  -- Each session once (account, region, session id): the row of its
  -- latest export, should a day or an object be in the table twice.
  SELECT *, row_number() OVER (PARTITION BY account_id, region, session_id
                               ORDER BY exported_at DESC, "$path" DESC) AS copy_number
  FROM sessions
  WHERE %s
)`, OnceTable, w.where("  "))
}

// Duplicates renders the query of the sessions (account, region, session
// id) that the window holds more than once: one row per session with its
// number of copies, its latest export and the objects (S3 URIs) that hold
// it.
func Duplicates(w Window) string {
	return fmt.Sprintf(`-- Sessions (account, region, session id) held more than once, %s,
-- with the objects that hold them: a day exported on two slot lengths, or
-- a stray copy of an object. The other queries count each once.
SELECT account_id, region, session_id, count(*) AS copies,
       max(exported_at) AS latest_export,
       array_join(array_agg("$path" ORDER BY "$path"), ' ') AS objects
FROM sessions
WHERE %s
GROUP BY account_id, region, session_id
HAVING count(*) > 1
ORDER BY account_id, region, session_id`, w.describe(), w.where(""))
}

// DuplicateObjects renders the query of the objects (S3 URIs) that hold a
// session the window holds more than once, with how many such sessions
// each holds.
func DuplicateObjects(w Window) string {
	return fmt.Sprintf(`SELECT object, count(*) AS sessions
FROM (
  SELECT "$path" AS object,
         count(*) OVER (PARTITION BY account_id, region, session_id) AS copies
  FROM sessions
  WHERE %s
)
WHERE copies > 1
GROUP BY object
ORDER BY object`, w.where("  "))
}

// Where renders the WHERE conditions of the sessions table for a window.
func Where(w Window) string { return w.where("") }

// Local is start_date in the thresholds' time zone, as SQL.
func Local(p Params) string { return local(p.args()) }

func local(a args) string {
	return fmt.Sprintf("start_date AT TIME ZONE '%s'", a.timeZone)
}

// sessionCols are the columns every finding over sessions starts with.
const sessionCols = "session_id, account_id, region, owner, target, status, document_name, start_date, end_date, duration_seconds"

// PerOwnerPerDay is the named query of sessions per owner per day: not a
// finding of the report, saved beside them in the workgroup.
var PerOwnerPerDay = Finding{
	ID: "per-owner-per-day", Resource: "QuerySessionsPerOwnerPerDay", Name: "sessions-per-owner-per-day",
	Title: "Sessions per owner per UTC day, with the number of distinct targets", Table: "sessions", Order: "by day, most sessions first",
	sql: func(a args, w Window) string {
		return fmt.Sprintf(`-- Sessions per owner per UTC day, %s.
-- The double CAST gives 'YYYY-MM-DD' for the dt comparison in every engine.
%s
SELECT dt, owner, count(*) AS sessions, count(DISTINCT target) AS targets
FROM %s
WHERE %s
GROUP BY dt, owner
ORDER BY dt, sessions DESC, owner`, w.describe(), Once(w), OnceTable, OnceFirst)
	},
}

// DuplicateSessions is the named query of the sessions held more than
// once (Duplicates).
var DuplicateSessions = Finding{
	ID: "duplicates", Resource: "QueryDuplicateSessions", Name: "duplicate-sessions",
	Title: "Sessions held more than once, with the objects that hold them", Table: "sessions", Order: "by account, region, session id",
	sql: func(a args, w Window) string { return Duplicates(w) },
}

// NamedQueries are the template's generated named queries, in order.
func NamedQueries() []Finding {
	return append([]Finding{PerOwnerPerDay}, append(Sessions(), DuplicateSessions)...)
}

// All is every finding, in the report's order.
var All = []Finding{
	{
		ID: "privileged", Resource: "QueryRootOrBreakGlassSessions", Name: "sessions-by-root-or-break-glass",
		Title: "Sessions by the root user or a break-glass role", Table: "sessions", Order: "most recent first",
		sql: func(a args, w Window) string {
			return fmt.Sprintf(`-- Sessions whose owner matches a privileged pattern (root, break-glass
-- roles; in LIKE, "_" matches any one character), %s.
%s
SELECT %s, reason AS start_reason
FROM %s
WHERE %s
  AND (lower(owner) LIKE '%s')
ORDER BY start_date DESC, session_id`, w.describe(), Once(w), sessionCols, OnceTable, OnceFirst, a.privileged)
		},
	},
	{
		ID: "failed", Resource: "QueryFailedSessions", Name: "failed-sessions",
		Title: "Failed sessions", Table: "sessions", Order: "most recent first",
		sql: func(a args, w Window) string {
			return fmt.Sprintf(`-- Sessions that failed, %s.
%s
SELECT %s, reason AS start_reason
FROM %s
WHERE %s
  AND status = 'Failed'
ORDER BY start_date DESC, session_id`, w.describe(), Once(w), sessionCols, OnceTable, OnceFirst)
		},
	},
	{
		ID: "long", Resource: "QueryLongSessions", Name: "long-sessions",
		Title: "Long sessions", Table: "sessions", Order: "longest first",
		sql: func(a args, w Window) string {
			return fmt.Sprintf(`-- Sessions longer than %s, %s.
%s
SELECT %s
FROM %s
WHERE %s
  AND duration_seconds > %s
ORDER BY duration_seconds DESC, start_date DESC, session_id`, a.long, w.describe(), Once(w), sessionCols, OnceTable, OnceFirst, a.longSeconds)
		},
	},
	{
		ID: "after-hours", Resource: "QueryOutsideBusinessHours", Name: "sessions-outside-business-hours",
		Title: "Sessions outside business hours", Table: "sessions", Order: "most recent first",
		sql: func(a args, w Window) string {
			l := local(a)
			return fmt.Sprintf(`-- Sessions started outside business hours (%s:00-%s:00, Monday to Friday,
-- %s), %s. day_of_week is ISO: Monday 1 ... Sunday 7.
%s
SELECT %s,
       day_of_week(%s) AS local_weekday, hour(%s) AS local_hour
FROM %s
WHERE %s
  AND (hour(%s) < %s
       OR hour(%s) >= %s
       OR day_of_week(%s) IN (6, 7))
ORDER BY start_date DESC, session_id`, a.start, a.end, a.timeZone, w.describe(), Once(w), sessionCols,
				l, l, OnceTable, OnceFirst, l, a.start, l, a.end, l)
		},
	},
	{
		ID: "documents", Resource: "QueryDocumentsOutsideAllowList", Name: "sessions-with-documents-outside-allow-list",
		Title: "Documents outside the allow-list", Table: "sessions", Order: "most recent first",
		sql: func(a args, w Window) string {
			return fmt.Sprintf(`-- Sessions whose document is not on the allow-list, %s.
-- A session without a document (NULL) ran the default shell and is judged
-- as SSM-SessionManagerRunShell: NULL NOT IN (...) would be NULL, never true.
%s
SELECT %s,
       coalesce(document_name, '%s') AS document
FROM %s
WHERE %s
  AND coalesce(document_name, '%s') NOT IN (
        '%s')
ORDER BY start_date DESC, session_id`, w.describe(), Once(w), sessionCols, DefaultShell, OnceTable, OnceFirst, DefaultShell, a.documents)
		},
	},
	{
		ID: "no-transcript", Resource: "QueryNoTranscript", Name: "sessions-without-transcript",
		Title: "Sessions without an S3 or CloudWatch transcript", Table: "sessions", Order: "most recent first",
		sql: func(a args, w Window) string {
			return fmt.Sprintf(`-- Sessions that ran (not Failed) with neither an S3 nor a CloudWatch
-- transcript, %s.
%s
SELECT %s
FROM %s
WHERE %s
  AND coalesce(status, '') <> 'Failed'
  AND coalesce(s3_output_url, '') = ''
  AND coalesce(cloudwatch_output_url, '') = ''
ORDER BY start_date DESC, session_id`, w.describe(), Once(w), sessionCols, OnceTable, OnceFirst)
		},
	},
	{
		ID: "active-at-end", Resource: "QueryActiveAtPeriodEnd", Name: "sessions-active-at-period-end",
		Title: "Sessions still active at the period's end", Table: "sessions", Order: "most recent first",
		sql: func(a args, w Window) string {
			return fmt.Sprintf(`-- Sessions that started in the window and had not ended at its end
-- (%s): no end yet, or an end after it; failed sessions never ran.
%s
SELECT %s
FROM %s
WHERE %s
  AND coalesce(status, '') <> 'Failed'
  AND (end_date IS NULL OR end_date > %s)
ORDER BY start_date DESC, session_id`, w.end(), Once(w), sessionCols, OnceTable, OnceFirst, w.end())
		},
	},
	{
		ID: "not-covered", Resource: "", Name: "targets-not-covered",
		Title: "Targets (account × region) not covered", Table: "coverage", Order: "most failed runs first",
		sql: func(a args, w Window) string {
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
