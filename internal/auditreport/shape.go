package auditreport

import (
	"strings"
	"time"

	"github.com/session-audit/session-audit/internal/exceptions"
)

// shaper turns a finding's Athena rows into the rows of its CSV and page:
// timestamps as ISO 8601 with Z, an exception column (the ticket of the
// entry that covers the row, or empty), and counts of the rows per
// account/region and per exception entry on the way.
type shaper interface {
	columns(cols, types []string) []string
	row(rec []string) []string
}

// ExceptionColumn is the column every finding's CSV ends with: the ticket
// (or reason) of the exception entry that covers the row, or empty.
const ExceptionColumn = "exception"

// findingShape shapes one finding's rows and counts them.
type findingShape struct {
	finding string
	file    *exceptions.File
	loc     *time.Location
	// periodStart is the start matched for rows without their own (the
	// targets not covered).
	periodStart time.Time

	ts                                         []bool
	owner, target, doc, start, account, region int

	// matched counts rows covered by an exception; byEntry by the entry's
	// line; perTarget the rows per account/region, and excepted per
	// account/region.
	matched   int
	byEntry   map[int]int
	perTarget map[string]int
	excepted  map[string]int
}

func newShape(finding string, f *exceptions.File, loc *time.Location, periodStart time.Time) *findingShape {
	return &findingShape{finding: finding, file: f, loc: loc, periodStart: periodStart, byEntry: map[int]int{}, perTarget: map[string]int{}, excepted: map[string]int{}}
}

func index(cols []string, names ...string) int {
	for _, n := range names {
		for i, c := range cols {
			if c == n {
				return i
			}
		}
	}
	return -1
}

func (s *findingShape) columns(cols, types []string) []string {
	s.ts = timestamps(types)
	s.owner = index(cols, "owner", "caller_arn")
	s.target = index(cols, "target")
	s.doc = index(cols, "document_name", "document")
	s.start = index(cols, "start_date", "event_time", "first_attempt")
	s.account = index(cols, "account_id", "account")
	s.region = index(cols, "region")
	return append(append([]string{}, cols...), ExceptionColumn)
}

func field(rec []string, i int) string {
	if i < 0 || i >= len(rec) {
		return ""
	}
	return rec[i]
}

func (s *findingShape) row(rec []string) []string {
	stamps(rec, s.ts)
	r := exceptions.Row{Finding: s.finding, Owner: field(rec, s.owner), Target: field(rec, s.target), Document: field(rec, s.doc)}
	if s.target < 0 && s.account >= 0 {
		r.Target = field(rec, s.account) + "/" + field(rec, s.region)
	}
	r.Start = s.periodStart
	if v := field(rec, s.start); v != "" {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			r.Start = t
		}
	}
	label, key := "", ""
	if s.account >= 0 {
		key = field(rec, s.account) + "/" + field(rec, s.region)
		s.perTarget[key]++
	}
	if e := s.file.Match(r, s.loc); e != nil {
		label = e.Label()
		s.matched++
		s.byEntry[e.Line]++
		if key != "" {
			s.excepted[key]++
		}
	}
	return append(rec, label)
}

// isoZ writes an Athena timestamp ("2026-11-23 08:00:00.000", or already
// ISO) as ISO 8601 in UTC with Z; what it cannot read is kept as it is.
func isoZ(v string) string {
	if v == "" {
		return v
	}
	for _, layout := range []string{"2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05.999999999 UTC", "2006-01-02 15:04:05.999999999Z07:00", time.RFC3339Nano} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC().Format(time.RFC3339Nano)
		}
	}
	return v
}

// stampShape only writes a query's timestamps as ISO 8601 with Z: the
// CSVs that are not findings (duplicates.csv).
type stampShape struct{ ts []bool }

func (s *stampShape) columns(cols, types []string) []string {
	s.ts = timestamps(types)
	return cols
}

func (s *stampShape) row(rec []string) []string {
	stamps(rec, s.ts)
	return rec
}

// timestamps says which of a result's columns are timestamps.
func timestamps(types []string) []bool {
	ts := make([]bool, len(types))
	for i, t := range types {
		ts[i] = strings.HasPrefix(strings.ToLower(t), "timestamp")
	}
	return ts
}

// stamps rewrites rec's timestamps as ISO 8601 with Z.
func stamps(rec []string, ts []bool) {
	for i, t := range ts {
		if t && i < len(rec) {
			rec[i] = isoZ(rec[i])
		}
	}
}
