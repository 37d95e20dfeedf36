package auditreport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kinds of report, which name the folder under <prefix>/reports/.
const (
	Weekly  = "weekly"
	Monthly = "monthly"
	Custom  = "custom"
)

// maxPeriod is the longest period a report covers.
const maxPeriod = 366 * 24 * time.Hour

// Request is one report to make: the period [From, To), UTC.
type Request struct {
	Kind     string
	From, To time.Time
}

// Decode reads the event: from the scheduler {"report": "weekly"|"monthly",
// "time": "<scheduled time>"}, or on demand {"report": {"from": "...Z",
// "to": "...Z"}}. archiveStart is the first day the archive can hold, now
// the clock; a period outside [archiveStart, now] is an error.
func Decode(raw json.RawMessage, archiveStart, now time.Time) (Request, error) {
	var ev struct {
		Report json.RawMessage `json:"report"`
		Time   *string         `json:"time"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		return Request{}, fmt.Errorf("event: %w", err)
	}
	if len(ev.Report) == 0 {
		return Request{}, errors.New(`event: no "report": want "weekly", "monthly" or {"from": "...Z", "to": "...Z"}`)
	}
	var r Request
	var kind string
	if err := json.Unmarshal(ev.Report, &kind); err == nil {
		if ev.Time == nil {
			return Request{}, fmt.Errorf(`event: a %q report needs "time", the scheduled time`, kind)
		}
		t, err := parseUTC("time", *ev.Time)
		if err != nil {
			return Request{}, err
		}
		switch kind {
		case Weekly:
			r = LastWeek(t)
		case Monthly:
			r = LastMonth(t)
		default:
			return Request{}, fmt.Errorf(`event: report %q: want "weekly", "monthly" or {"from", "to"}`, kind)
		}
	} else {
		if ev.Time != nil {
			return Request{}, errors.New(`event: "time" goes with a scheduled report only, not with "from" and "to"`)
		}
		var p struct {
			From *string `json:"from"`
			To   *string `json:"to"`
		}
		dec := json.NewDecoder(bytes.NewReader(ev.Report))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return Request{}, fmt.Errorf("event: report: %w", err)
		}
		if p.From == nil || p.To == nil {
			return Request{}, errors.New(`event: report: "from" and "to" are both required`)
		}
		from, err := parseUTC("report.from", *p.From)
		if err != nil {
			return Request{}, err
		}
		to, err := parseUTC("report.to", *p.To)
		if err != nil {
			return Request{}, err
		}
		r = Request{Kind: Custom, From: from, To: to}
	}
	return r, r.check(archiveStart, now)
}

func parseUTC(field, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil || !strings.HasSuffix(v, "Z") {
		return time.Time{}, fmt.Errorf("event: %s %q: want an RFC 3339 UTC time such as 2026-11-23T00:00:00Z", field, v)
	}
	if t.Truncate(time.Second) != t {
		return time.Time{}, fmt.Errorf("event: %s %q: want whole seconds", field, v)
	}
	return t.UTC(), nil
}

func (r Request) check(archiveStart, now time.Time) error {
	switch {
	case !r.From.Before(r.To):
		return fmt.Errorf("event: report: from %s is not before to %s", r.From.Format(time.RFC3339), r.To.Format(time.RFC3339))
	case r.To.Sub(r.From) > maxPeriod:
		return fmt.Errorf("event: report: %s to %s is longer than 366 days", r.From.Format(time.RFC3339), r.To.Format(time.RFC3339))
	case r.From.Before(archiveStart):
		return fmt.Errorf("event: report: from %s is before the archive's first day %s (AUDIT_ARCHIVE_START)", r.From.Format(time.RFC3339), archiveStart.Format(time.DateOnly))
	case r.To.After(now):
		return fmt.Errorf("event: report: to %s is after now (%s): the archive holds no future", r.To.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// LastWeek is the last whole week (Monday 00:00 UTC to Monday 00:00 UTC)
// before t.
func LastWeek(t time.Time) Request {
	day := t.UTC().Truncate(24 * time.Hour)
	monday := day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
	return Request{Kind: Weekly, From: monday.AddDate(0, 0, -7), To: monday}
}

// LastMonth is the last whole UTC month before t.
func LastMonth(t time.Time) Request {
	t = t.UTC()
	first := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	return Request{Kind: Monthly, From: first.AddDate(0, -1, 0), To: first}
}

// Folder is the report's key folder under the prefix.
func (r Request) Folder(prefix string) string {
	return fmt.Sprintf("%s/reports/%s/%s_%s/", prefix, r.Kind, stamp(r.From), stamp(r.To))
}

func stamp(t time.Time) string { return t.UTC().Format("20060102T150405Z") }
