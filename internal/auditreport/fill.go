package auditreport

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// column finds a column of a result.
func (res Result) column(name string) (int, error) {
	i := slices.Index(res.Columns, name)
	if i < 0 {
		return 0, fmt.Errorf("athena query %s (%s): no column %s in %v", res.ID, res.Name, name, res.Columns)
	}
	return i, nil
}

func str(v *string) string {
	if v == nil {
		return ""
	}
	return *v
}

func num(res Result, row []*string, i int) (int64, error) {
	n, err := strconv.ParseInt(str(row[i]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("athena query %s (%s): column %s: %q is not a number", res.ID, res.Name, res.Columns[i], str(row[i]))
	}
	return n, nil
}

// counts reads (key, count) rows.
func counts(res Result, key, count string) ([]Count, error) {
	k, err := res.column(key)
	if err != nil {
		return nil, err
	}
	c, err := res.column(count)
	if err != nil {
		return nil, err
	}
	out := []Count{}
	for _, row := range res.Rows {
		n, err := num(res, row, c)
		if err != nil {
			return nil, err
		}
		out = append(out, Count{str(row[k]), n})
	}
	return out, nil
}

// fill reads the aggregates into the summary.
func (s *Summary) fill() error {
	var err error
	perDay := s.results[qPerDay]
	st, err := counts(perDay, "status", "sessions")
	if err != nil {
		return err
	}
	day, _ := perDay.column("day")
	byStatus := map[string]int64{}
	var order []string
	s.PerDay = []DayCount{}
	for i, c := range st {
		s.PerDay = append(s.PerDay, DayCount{str(perDay.Rows[i][day]), c.Key, c.Count})
		if _, ok := byStatus[c.Key]; !ok {
			order = append(order, c.Key)
		}
		byStatus[c.Key] += c.Count
		s.Sessions += c.Count
	}
	slices.Sort(order)
	s.ByStatus = []Count{}
	for _, k := range order {
		s.ByStatus = append(s.ByStatus, Count{k, byStatus[k]})
	}
	hm := s.results[qHeatmap]
	wd, err := hm.column("weekday")
	if err != nil {
		return err
	}
	hr, _ := hm.column("hour")
	n, _ := hm.column("sessions")
	for _, row := range hm.Rows {
		d, err1 := num(hm, row, wd)
		h, err2 := num(hm, row, hr)
		c, err3 := num(hm, row, n)
		if err1 != nil || err2 != nil || err3 != nil || d < 1 || d > 7 || h < 0 || h > 23 {
			return fmt.Errorf("athena query %s (%s): bad row %v", hm.ID, hm.Name, row)
		}
		s.Heatmap[d-1][h] += c
	}
	if s.TopOwners, err = counts(s.results[qOwners], "owner", "sessions"); err != nil {
		return err
	}
	if s.TopTargets, err = counts(s.results[qTargets], "target", "sessions"); err != nil {
		return err
	}
	if s.Documents, err = counts(s.results[qDocuments], "document", "sessions"); err != nil {
		return err
	}
	buckets, err := counts(s.results[qDurations], "bucket", "sessions")
	if err != nil {
		return err
	}
	s.Durations = make([]Count, len(durationBuckets))
	for i, b := range durationBuckets {
		s.Durations[i] = Count{b, 0}
	}
	for _, b := range buckets {
		i, err := strconv.Atoi(b.Key)
		if err != nil || i < 0 || i >= len(durationBuckets) {
			return fmt.Errorf("duration bucket %q", b.Key)
		}
		s.Durations[i].Count = b.Count
	}
	if err := s.fillDuplicates(); err != nil {
		return err
	}
	if cov, ok := s.results[qCoverage]; ok {
		runs, err := counts(cov, "region", "runs")
		if err != nil {
			return err
		}
		exp, err := counts(cov, "region", "exported")
		if err != nil {
			return err
		}
		c := &Coverage{Targets: len(runs)}
		for i := range runs {
			if runs[i].Count == exp[i].Count {
				c.Covered++
			}
		}
		s.Complete.Coverage = c
	}
	return nil
}

// fillDuplicates reads the sessions held more than once and the objects
// that hold them.
func (s *Summary) fillDuplicates() error {
	d := Duplicates{Objects: []Count{}, Sample: []DuplicateSession{}}
	objs, err := counts(s.results[qDupObjects], "object", "sessions")
	if err != nil {
		return err
	}
	d.Objects = append(d.Objects, objs...)
	res := s.results[qDuplicates]
	d.Sessions = res.Count
	for _, o := range objs {
		d.ExtraRows += o.Count
	}
	d.ExtraRows -= int64(d.Sessions)
	cols := map[string]int{}
	for _, c := range []string{"account_id", "region", "session_id", "copies", "objects"} {
		if cols[c], err = res.column(c); err != nil {
			return err
		}
	}
	for _, row := range res.Rows {
		n, err := num(res, row, cols["copies"])
		if err != nil {
			return err
		}
		d.Sample = append(d.Sample, DuplicateSession{
			Target: str(row[cols["account_id"]]) + "/" + str(row[cols["region"]]), SessionID: str(row[cols["session_id"]]),
			Copies: n, Objects: strings.Fields(str(row[cols["objects"]])),
		})
	}
	s.Complete.Duplicates = d
	return nil
}
