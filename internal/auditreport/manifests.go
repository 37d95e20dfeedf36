package auditreport

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/session-audit/session-audit/internal/store"
)

// Completeness is what the manifests say of the period: the evidence that
// the sessions in the report are all the archive should hold.
type Completeness struct {
	// Targets are the account/region pairs with a manifest in the period.
	Targets []string `json:"targets"`
	// SlotsExpected is every slot of the period for every target (at least
	// one target: the exporter's own).
	SlotsExpected int `json:"slotsExpected"`
	// SlotsWithManifests is the slots of the period that have a manifest.
	SlotsWithManifests int `json:"slotsWithManifests"`
	// SlotsMissing lists the first slots without a manifest.
	SlotsMissing []string `json:"slotsMissing"`
	// SlotsKept is the slots whose latest re-export found fewer sessions
	// than the archive holds, so the older objects were kept.
	SlotsKept int `json:"slotsKept"`
	// SessionsPending is the sessions the manifests count as still active
	// at their slot's latest export (not yet in the archive).
	SessionsPending int `json:"sessionsPending"`
	// RowsInManifests is the rows the manifests record: it equals the
	// sessions Athena counts when the archive is whole.
	RowsInManifests int64 `json:"rowsInManifests"`
	// DaysMissing are the UTC days of the period (as date ranges, such as
	// "2026-11-03 – 2026-11-05") on which an account/region has no
	// manifest at all: the archive lacks those days.
	DaysMissing []string `json:"daysMissing"`
	// Coverage is the organization's coverage over the period, when the
	// stack has coverage records.
	Coverage *Coverage `json:"coverage"`
	// Duplicates are the sessions the table holds more than once in the
	// period; every number of the report counts each of them once.
	Duplicates Duplicates `json:"duplicates"`
	// DaysOnTwoLengths names each target's day that holds slots of two
	// lengths (exported before each day kept one): its slots are counted
	// on its first export's length.
	DaysOnTwoLengths []string `json:"daysOnTwoLengths"`
}

// Duplicates are the sessions (account, region, session id) found in more
// than one row: a day exported on two slot lengths, or a stray copy of an
// object. The report counts each once, from its latest export
// (findings.Once).
type Duplicates struct {
	// Sessions is how many sessions are held more than once; ExtraRows
	// the rows beyond one per session.
	Sessions  int   `json:"sessions"`
	ExtraRows int64 `json:"extraRows"`
	// Objects are the objects (S3 URIs) that hold such a session, with
	// how many of their rows are one.
	Objects []Count `json:"objects"`
	// Sample are the first sessions, by account, region and id; CSV is
	// the file of the report that lists every one.
	Sample []DuplicateSession `json:"sample"`
	CSV    string             `json:"csv"`
}

// DuplicateSession is one session held more than once.
type DuplicateSession struct {
	// Target is account/region.
	Target    string   `json:"target"`
	SessionID string   `json:"sessionId"`
	Copies    int64    `json:"copies"`
	Objects   []string `json:"objects"`
}

// Coverage counts targets (account × region) and those whose every run in
// the period exported.
type Coverage struct {
	Targets int `json:"targets"`
	Covered int `json:"covered"`
}

// ManifestAPI is what reading manifests needs of S3.
type ManifestAPI interface {
	store.ListAPI
	store.GetAPI
}

// readManifests reads every manifest of the period's dt folders: listed
// day by day, read store.ReadConcurrency at a time (store.GetManifests).
func readManifests(ctx context.Context, api ManifestAPI, bucket, prefix string, from, to time.Time) ([]store.Manifest, error) {
	var keys []string
	for day := from.UTC().Truncate(24 * time.Hour); day.Before(to); day = day.AddDate(0, 0, 1) {
		in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix + "/manifests/dt=" + day.Format(time.DateOnly) + "/")}
		for {
			page, err := api.ListObjectsV2(ctx, in)
			if err != nil {
				return nil, fmt.Errorf("list manifests of %s: %w", day.Format(time.DateOnly), err)
			}
			for _, o := range page.Contents {
				if key := aws.ToString(o.Key); strings.HasSuffix(key, ".json") {
					keys = append(keys, key)
				}
			}
			if !aws.ToBool(page.IsTruncated) {
				break
			}
			in.ContinuationToken = page.NextContinuationToken
		}
	}
	ms, errs := store.GetManifests(ctx, api, bucket, keys)
	var out []store.Manifest
	for i, m := range ms {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if m != nil && !m.SlotStart.Before(from) && !m.SlotEnd.After(to) {
			out = append(out, *m)
		}
	}
	return out, nil
}

// completeness counts the slots of [from, to) against the manifests. Each
// day of each target is expected on one slot length: the length of its
// first export (docs/ARCHITECTURE.md, "Slot length per day"), or slot for a
// day without a manifest. Manifests of a day's other length (archives
// written before each day kept one length) are named in
// DaysOnTwoLengths and left out of the counts: their sessions are the
// duplicates the report counts once.
func completeness(ms []store.Manifest, from, to time.Time, slot time.Duration) Completeness {
	c := Completeness{SlotsMissing: []string{}, Targets: []string{}, DaysOnTwoLengths: []string{}}
	type dayKey struct {
		target string
		day    time.Time
	}
	first := map[dayKey]store.Manifest{} // the day's earliest export
	lengths := map[dayKey]map[time.Duration]bool{}
	targets := map[string]bool{}
	for _, m := range ms {
		t := m.Account + "/" + m.Region
		targets[t] = true
		k := dayKey{t, m.SlotStart.UTC().Truncate(24 * time.Hour)}
		if f, ok := first[k]; !ok || m.ExportedAt.Before(f.ExportedAt) {
			first[k] = m
		}
		if lengths[k] == nil {
			lengths[k] = map[time.Duration]bool{}
		}
		lengths[k][m.SlotEnd.Sub(m.SlotStart)] = true
	}
	have := map[string]bool{}
	for _, m := range ms {
		t := m.Account + "/" + m.Region
		k := dayKey{t, m.SlotStart.UTC().Truncate(24 * time.Hour)}
		f := first[k]
		key := t + " " + m.SlotStart.UTC().Format(time.RFC3339)
		if m.SlotEnd.Sub(m.SlotStart) != f.SlotEnd.Sub(f.SlotStart) || have[key] {
			continue
		}
		have[key] = true
		c.SlotsWithManifests++
		if m.Kept != nil {
			c.SlotsKept++
		}
		c.SessionsPending += m.PendingNow()
		c.RowsInManifests += m.Rows
	}
	for k, ls := range lengths {
		if len(ls) > 1 {
			var names []string
			for l := range ls {
				names = append(names, l.String())
			}
			sort.Strings(names)
			c.DaysOnTwoLengths = append(c.DaysOnTwoLengths, fmt.Sprintf("%s %s (%s; counted on %s, its first export's)",
				k.target, k.day.Format(time.DateOnly), strings.Join(names, " and "), first[k].SlotEnd.Sub(first[k].SlotStart)))
		}
	}
	sort.Strings(c.DaysOnTwoLengths)
	for t := range targets {
		c.Targets = append(c.Targets, t)
	}
	sort.Strings(c.Targets)
	names := c.Targets
	if len(names) == 0 {
		names = []string{"(the exporter's account/region)"}
	}
	haveDay := map[string]bool{}
	for k := range have {
		t, start, _ := strings.Cut(k, " ")
		haveDay[t+" "+start[:len(time.DateOnly)]] = true
	}
	var missingDays []time.Time
	for day := from.UTC().Truncate(24 * time.Hour); day.Before(to); day = day.AddDate(0, 0, 1) {
		for _, t := range names {
			if !haveDay[t+" "+day.Format(time.DateOnly)] {
				missingDays = append(missingDays, day)
				break
			}
		}
	}
	c.DaysMissing = DateRanges(missingDays)
	for _, t := range names {
		for s := from.UTC().Truncate(slot); s.Before(to); {
			l := slot
			if f, ok := first[dayKey{t, s.Truncate(24 * time.Hour)}]; ok {
				l = f.SlotEnd.Sub(f.SlotStart)
			}
			if !s.Before(from) {
				c.SlotsExpected++
				if !have[t+" "+s.Format(time.RFC3339)] && len(c.SlotsMissing) < 20 {
					c.SlotsMissing = append(c.SlotsMissing, t+" "+s.Format(time.RFC3339))
				}
			}
			s = s.Add(l)
		}
	}
	return c
}

// DateRanges writes ascending UTC days as ranges of consecutive days:
// "2026-11-03 – 2026-11-05", "2026-11-20".
func DateRanges(days []time.Time) []string {
	out := []string{}
	for i := 0; i < len(days); {
		j := i
		for j+1 < len(days) && days[j+1].Equal(days[j].AddDate(0, 0, 1)) {
			j++
		}
		r := days[i].Format(time.DateOnly)
		if j > i {
			r += " – " + days[j].Format(time.DateOnly)
		}
		out = append(out, r)
		i = j + 1
	}
	return out
}
