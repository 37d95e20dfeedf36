package auditreport

import (
	"fmt"

	"github.com/session-audit/session-audit/internal/findings"
)

// Names of the aggregate queries behind the charts.
const (
	qPerDay    = "sessions-per-day-by-status"
	qHeatmap   = "sessions-by-weekday-and-hour"
	qOwners    = "top-owners"
	qTargets   = "top-targets"
	qDurations = "duration-distribution"
	qDocuments = "documents-used"
	qCoverage  = "coverage-by-target"
	// qDuplicates lists the sessions held more than once (its CSV is
	// duplicates.csv); qDupObjects the objects that hold them.
	qDuplicates = "duplicates"
	qDupObjects = "duplicate-objects"
)

// topN is how many owners and targets the charts show.
const topN = 15

// durationBuckets are the duration chart's buckets, in order; the SQL
// returns their index.
var durationBuckets = []string{"no end", "< 1 min", "1-10 min", "10-60 min", "1-4 h", "4-12 h", "≥ 12 h"}

// aggregates are the chart queries for the window.
func aggregates(p findings.Params, w findings.Window, coverageTable string) []named {
	// Every aggregate reads each session once (findings.Once).
	with, from := findings.Once(w), findings.OnceTable+"\nWHERE "+findings.OnceFirst
	local := findings.Local(p)
	qs := []named{
		{name: qPerDay, keep: -1, sql: fmt.Sprintf(`%s
SELECT dt AS day, coalesce(status, '') AS status, count(*) AS sessions
FROM %s
GROUP BY dt, coalesce(status, '')
ORDER BY day, status`, with, from)},
		{name: qHeatmap, keep: -1, sql: fmt.Sprintf(`%s
SELECT day_of_week(%s) AS weekday, hour(%s) AS hour, count(*) AS sessions
FROM %s
GROUP BY 1, 2
ORDER BY 1, 2`, with, local, local, from)},
		{name: qOwners, keep: -1, sql: fmt.Sprintf(`%s
SELECT coalesce(owner, '') AS owner, count(*) AS sessions, count(DISTINCT target) AS targets
FROM %s
GROUP BY 1
ORDER BY sessions DESC, owner
LIMIT %d`, with, from, topN)},
		{name: qTargets, keep: -1, sql: fmt.Sprintf(`%s
SELECT coalesce(target, '') AS target, count(*) AS sessions, count(DISTINCT owner) AS owners
FROM %s
GROUP BY 1
ORDER BY sessions DESC, target
LIMIT %d`, with, from, topN)},
		{name: qDurations, keep: -1, sql: fmt.Sprintf(`%s
SELECT CASE
         WHEN duration_seconds IS NULL THEN 0
         WHEN duration_seconds < 60 THEN 1
         WHEN duration_seconds < 600 THEN 2
         WHEN duration_seconds < 3600 THEN 3
         WHEN duration_seconds < 14400 THEN 4
         WHEN duration_seconds < 43200 THEN 5
         ELSE 6 END AS bucket, count(*) AS sessions
FROM %s
GROUP BY 1
ORDER BY 1`, with, from)},
		{name: qDocuments, keep: -1, sql: fmt.Sprintf(`%s
SELECT coalesce(document_name, '%s') AS document, count(*) AS sessions
FROM %s
GROUP BY 1
ORDER BY sessions DESC, document`, with, findings.DefaultShell, from)},
		// The duplicates: the first sampleRows sessions on the page, every
		// one in duplicates.csv; every object that holds one.
		{name: qDuplicates, keep: sampleRows, toCSV: true, sql: findings.Duplicates(w), shape: &stampShape{}},
		{name: qDupObjects, keep: -1, sql: findings.DuplicateObjects(w)},
	}
	if coverageTable != "" {
		first, last := w.Dates()
		qs = append(qs, named{name: qCoverage, keep: -1, sql: fmt.Sprintf(`SELECT account_id, region, count(*) AS runs, count_if(status = 'exported') AS exported,
       max_by(status, finished_at) AS last_status, max(finished_at) AS last_run
FROM %s
WHERE dt BETWEEN '%s' AND '%s'
GROUP BY account_id, region
ORDER BY account_id, region`, coverageTable, first, last)})
	}
	return qs
}
