package auditreport_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"maps"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/parquet-go/parquet-go"
	"golang.org/x/net/html"

	"github.com/session-audit/session-audit/internal/archive"
	"github.com/session-audit/session-audit/internal/auditreport"
	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/owner"
	"github.com/session-audit/session-audit/internal/svgchart"
)

var week = auditreport.LastWeek(now)

// csvLink is a relative link to a CSV of the report's folder.
var csvLink = regexp.MustCompile(`^[a-z-]+\.csv$`)

// handmade sessions in the reported week, one per finding at least.
func handmade() []types.Session {
	mon := week.From // Monday 00:00 UTC = 01:00 Berlin
	user := "arn:aws:iam::123456789012:user/hand-auditor"
	tr := "s3://transcripts/x"
	return []types.Session{
		session("hand-root", "arn:aws:iam::123456789012:root", "", mon.Add(10*time.Hour), 5*time.Minute, types.SessionStatusTerminated, tr),
		session("hand-breakglass", "arn:aws:sts::123456789012:assumed-role/Break_Glass/zoe", "", mon.Add(11*time.Hour), 5*time.Minute, types.SessionStatusTerminated, tr),
		session("hand-long", user, "", mon.Add(9*time.Hour), 5*time.Hour, types.SessionStatusTerminated, tr),
		session("hand-4h", user, "", mon.Add(8*time.Hour), 4*time.Hour, types.SessionStatusTerminated, tr),
		// 06:30 UTC is 07:30 in Berlin: before business hours there.
		session("hand-early-berlin", user, "", mon.Add(6*time.Hour+30*time.Minute), 5*time.Minute, types.SessionStatusTerminated, tr),
		session("hand-custom-doc", user, "Corp-DumpDatabase", mon.Add(13*time.Hour), 5*time.Minute, types.SessionStatusTerminated, tr),
		session("hand-no-transcript", user, "", mon.Add(14*time.Hour), 5*time.Minute, types.SessionStatusTerminated, ""),
		// Started Sunday 23:00 UTC, ended after the week.
		session("hand-over-the-end", user, "", week.To.Add(-time.Hour), 3*time.Hour, types.SessionStatusTerminated, tr),
	}
}

// predicates are the findings in Go, over the generated sessions: the
// independent count.
var predicates = map[string]func(archive.Row) bool{
	"privileged": func(r archive.Row) bool {
		o := strings.ToLower(r.Owner)
		if strings.HasSuffix(o, ":root") || strings.Contains(o, "breakglass") {
			return true
		}
		i := strings.Index(o, "break")
		return i >= 0 && len(o) > i+10 && o[i+6:i+11] == "glass"
	},
	"failed": func(r archive.Row) bool { return r.Status == "Failed" },
	"long":   func(r archive.Row) bool { return r.DurationSeconds != nil && *r.DurationSeconds > 4*3600 },
	"after-hours": func(r archive.Row) bool {
		l := r.StartDate.In(berlin)
		return l.Hour() < 8 || l.Hour() >= 18 || l.Weekday() == time.Saturday || l.Weekday() == time.Sunday
	},
	"documents": func(r archive.Row) bool {
		d := r.DocumentName
		if d == "" {
			d = "SSM-SessionManagerRunShell"
		}
		return !slices.Contains([]string{"SSM-SessionManagerRunShell", "AWS-StartPortForwardingSession", "AWS-StartSSHSession"}, d)
	},
	"no-transcript": func(r archive.Row) bool {
		return r.Status != "Failed" && r.S3OutputURL == "" && r.CloudWatchOutputURL == ""
	},
	"active-at-end": func(r archive.Row) bool {
		return r.Status != "Failed" && (r.EndDate == nil || r.EndDate.After(week.To))
	},
}

func inWeek(rows []archive.Row) []archive.Row {
	var out []archive.Row
	for _, r := range rows {
		if !r.StartDate.Before(week.From) && r.StartDate.Before(week.To) {
			out = append(out, r)
		}
	}
	return out
}

func readCSV(t *testing.T, b []byte) ([]string, [][]string) {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil || len(recs) == 0 {
		t.Fatalf("CSV: %v (%d records)", err, len(recs))
	}
	return recs[0], recs[1:]
}

func TestWeeklyReport(t *testing.T) {
	e := newEnv(t, 3000, handmade(), nil)
	e.putCoverage(t, "2026-11-24",
		`{"run_id":"r1","run_time":"2026-11-24T00:15:00Z","account_id":"111111111111","region":"eu-west-1","status":"exported","slots":2,"rows":10,"error":"","finished_at":"2026-11-24T00:16:00Z"}`,
		`{"run_id":"r1","run_time":"2026-11-24T00:15:00Z","account_id":"222222222222","region":"eu-west-1","status":"denied","slots":0,"rows":0,"error":"AccessDenied: no member role","finished_at":"2026-11-24T00:16:01Z"}`)
	// Outside the week: pruned by dt, so not counted.
	e.putCoverage(t, "2026-11-20",
		`{"run_id":"r0","run_time":"2026-11-20T00:15:00Z","account_id":"333333333333","region":"eu-west-1","status":"failed","slots":0,"rows":0,"error":"throttled","finished_at":"2026-11-20T00:16:00Z"}`)

	out, err := e.reporter.Handle(context.Background(), json.RawMessage(`{"report":"weekly","time":"2026-11-30T06:00:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	folder := "ssm-sessions/reports/weekly/20261123T000000Z_20261130T000000Z/"
	if out.Location != "s3://"+bucket+"/"+folder {
		t.Errorf("location %s", out.Location)
	}
	objs := e.objects(t, "ssm-sessions/reports/")
	wantKeys := []string{folder + "report.html", folder + "summary.json"}
	for id := range predicates {
		wantKeys = append(wantKeys, folder+id+".csv")
	}
	wantKeys = append(wantKeys, folder+"not-covered.csv", folder+"duplicates.csv", folder+"targets.csv")
	slices.Sort(wantKeys)
	if got := sortedKeys(objs); !slices.Equal(got, wantKeys) {
		t.Fatalf("objects\n got %v\nwant %v", got, wantKeys)
	}
	var s auditreport.Summary
	if err := json.Unmarshal(objs[folder+"summary.json"], &s); err != nil {
		t.Fatal(err)
	}
	rows := inWeek(e.history)
	t.Logf("%d sessions in the week; findings %v", len(rows), out.Findings)

	// Totals, by status, per day.
	if s.Sessions != int64(len(rows)) {
		t.Errorf("sessions %d, want %d", s.Sessions, len(rows))
	}
	status, perDay := map[string]int64{}, map[string]int64{}
	var heat [7][24]int64
	owners, targets, docs := map[string]int64{}, map[string]int64{}, map[string]int64{}
	durations := make([]int64, 7)
	for _, r := range rows {
		status[r.Status]++
		perDay[r.StartDate.UTC().Format(time.DateOnly)+" "+r.Status]++
		l := r.StartDate.In(berlin)
		heat[(int(l.Weekday())+6)%7][l.Hour()]++
		owners[r.Owner]++
		targets[r.Target]++
		d := r.DocumentName
		if d == "" {
			d = "SSM-SessionManagerRunShell"
		}
		docs[d]++
		switch {
		case r.DurationSeconds == nil:
			durations[0]++
		case *r.DurationSeconds < 60:
			durations[1]++
		case *r.DurationSeconds < 600:
			durations[2]++
		case *r.DurationSeconds < 3600:
			durations[3]++
		case *r.DurationSeconds < 14400:
			durations[4]++
		case *r.DurationSeconds < 43200:
			durations[5]++
		default:
			durations[6]++
		}
	}
	gotStatus := map[string]int64{}
	for _, c := range s.ByStatus {
		gotStatus[c.Key] = c.Count
	}
	if !maps.Equal(gotStatus, status) {
		t.Errorf("by status %v, want %v", gotStatus, status)
	}
	gotDay := map[string]int64{}
	for _, d := range s.PerDay {
		gotDay[d.Day+" "+d.Status] = d.Sessions
	}
	if !maps.Equal(gotDay, perDay) {
		t.Errorf("per day %v, want %v", gotDay, perDay)
	}
	if s.Heatmap != heat {
		t.Errorf("heatmap %v, want %v", s.Heatmap, heat)
	}
	checkTop(t, "owners", s.TopOwners, owners, 15)
	checkTop(t, "targets", s.TopTargets, targets, 15)
	checkTop(t, "documents", s.Documents, docs, len(docs))
	for i, c := range s.Durations {
		if c.Count != durations[i] {
			t.Errorf("durations %v, want %v", s.Durations, durations)
			break
		}
	}

	// Every finding: the count and every CSV row.
	for id, pred := range predicates {
		var want []string
		for _, r := range rows {
			if pred(r) {
				want = append(want, r.SessionID)
			}
		}
		slices.Sort(want)
		head, recs := readCSV(t, objs[folder+id+".csv"])
		if head[0] != "session_id" {
			t.Fatalf("%s.csv header %v", id, head)
		}
		var got []string
		for _, r := range recs {
			got = append(got, r[0])
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s.csv has %d sessions, the generated sessions give %d", id, len(got), len(want))
		}
		if out.Findings[id] != len(want) || len(want) == 0 {
			t.Errorf("finding %s counts %d, want %d (and more than none)", id, out.Findings[id], len(want))
		}
		var sf *auditreport.FindingResult
		for i := range s.Findings {
			if s.Findings[i].ID == id {
				sf = &s.Findings[i]
			}
		}
		if sf == nil || sf.Count != len(want) || sf.CSV != id+".csv" || sf.QueryID == "" {
			t.Errorf("summary.json finding %s: %+v", id, sf)
		}
	}
	// Targets not covered: from the coverage records of the week only.
	_, recs := readCSV(t, objs[folder+"not-covered.csv"])
	if len(recs) != 1 || recs[0][0] != "222222222222" || recs[0][4] != "denied" || recs[0][5] != "AccessDenied: no member role" {
		t.Errorf("not-covered.csv %v", recs)
	}
	if c := s.Complete.Coverage; c == nil || c.Targets != 2 || c.Covered != 1 {
		t.Errorf("coverage %+v", c)
	}
	// Completeness: 7 daily slots, every one with a manifest; rows agree.
	if s.Complete.SlotsExpected != 7 || s.Complete.SlotsWithManifests != 7 || s.Complete.RowsInManifests != int64(len(rows)) {
		t.Errorf("completeness %+v", s.Complete)
	}
	// The query ids are the emulator's executions, each with bytes scanned.
	execs := e.athena.Executions()
	for _, q := range s.Queries {
		if !slices.Contains(execs, q.ID) || (q.Scanned <= 0 && !slices.Contains([]string{"not-covered", "coverage-by-target", "account-names", "machine-names"}, q.Name)) {
			t.Errorf("query %s: id %s (known %v), scanned %d", q.Name, q.ID, slices.Contains(execs, q.ID), q.Scanned)
		}
		dates := "dt BETWEEN '2026-11-23' AND '2026-11-29'"
		switch {
		case strings.HasPrefix(q.Name, "previous-"):
			dates = "dt BETWEEN '2026-11-16' AND '2026-11-22'" // the week before
		case q.Name == "account-names" || q.Name == "machine-names":
			dates = "dt BETWEEN '2026-10-23' AND '2026-12-30'" // names known in the month before and after
		}
		if sql := e.athena.Query(q.ID); !strings.Contains(sql, dates) {
			t.Errorf("query %s is not pruned by dt:\n%s", q.Name, sql)
		}
	}
	checkHTML(t, objs[folder+"report.html"], &s)
	checkAuditorCSVs(t, objs, folder, &s)
	checkReadable(t, string(objs[folder+"report.html"]))
}

func checkTop(t *testing.T, what string, got []auditreport.Count, all map[string]int64, n int) {
	t.Helper()
	keys := sortedKeys(all)
	slices.SortStableFunc(keys, func(a, b string) int { return int(all[b] - all[a]) })
	if len(keys) > n {
		keys = keys[:n]
	}
	var want []auditreport.Count
	for _, k := range keys {
		want = append(want, auditreport.Count{Key: k, Count: all[k]})
	}
	if !slices.Equal(got, want) {
		t.Errorf("top %s\n got %v\nwant %v", what, got, want)
	}
}

// checkHTML parses the page: nothing outside itself, every chart's marks
// equal to its table, every finding's count and the status totals equal to
// summary.json.
func checkHTML(t *testing.T, page []byte, s *auditreport.Summary) {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	attr := func(n *html.Node, k string) (string, bool) {
		for _, a := range n.Attr {
			if a.Key == k {
				return a.Val, true
			}
		}
		return "", false
	}
	var walk func(n *html.Node, f func(*html.Node))
	walk = func(n *html.Node, f func(*html.Node)) {
		f(n)
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, f)
		}
	}
	walk(doc, func(n *html.Node) {
		if n.Type != html.ElementNode {
			return
		}
		switch n.Data {
		case "script", "link", "img", "iframe", "object", "embed", "image", "use":
			t.Errorf("the page has a <%s> element", n.Data)
		case "style":
			if c := n.FirstChild; c != nil && (strings.Contains(c.Data, "url(") || strings.Contains(c.Data, "@import")) {
				t.Error("the style sheet loads something")
			}
		}
		for _, a := range n.Attr {
			k := strings.ToLower(a.Key)
			if k == "href" && (strings.HasPrefix(a.Val, "#") || csvLink.MatchString(a.Val)) {
				continue // the page's sections and the CSV files beside it
			}
			if k == "src" || k == "href" || k == "xlink:href" || k == "srcset" || k == "action" || strings.HasPrefix(k, "on") {
				t.Errorf("<%s %s=%q> refers outside the page or runs code", n.Data, a.Key, a.Val)
			}
			if k == "style" && strings.Contains(a.Val, "url(") {
				t.Errorf("<%s> style loads something", n.Data)
			}
		}
	})
	charts := 0
	walk(doc, func(n *html.Node) {
		id, ok := attr(n, "data-chart")
		if n.Type != html.ElementNode || n.Data != "figure" || !ok {
			return
		}
		charts++
		marks, cells := map[string]string{}, map[string]string{}
		walk(n, func(m *html.Node) {
			k, ok1 := attr(m, "data-key")
			v, ok2 := attr(m, "data-value")
			if !ok1 || !ok2 {
				return
			}
			switch m.Data {
			case "rect":
				marks[k] = v
				// The tooltip says the same number.
				if m.FirstChild == nil || !strings.HasSuffix(m.FirstChild.FirstChild.Data, ": "+v) {
					t.Errorf("chart %s: mark %s has no <title> ending in %s", id, k, v)
				}
			case "td":
				cells[k] = v
			}
		})
		// A table cell of 0 has no mark in the stacked chart (no bar).
		for k, v := range cells {
			if _, ok := marks[k]; !ok && v == "0" && id == "per-day" {
				delete(cells, k)
			}
		}
		if len(marks) == 0 || !maps.Equal(marks, cells) {
			t.Errorf("chart %s: %d marks and %d table cells differ", id, len(marks), len(cells))
		}
	})
	if want := map[bool]int{false: 6, true: 9}[s.Trail.On()]; charts != want {
		t.Errorf("%d charts, want %d", charts, want)
	}
	walk(doc, func(n *html.Node) {
		id, ok := attr(n, "data-finding")
		if !ok {
			return
		}
		c, _ := attr(n, "data-count")
		for _, f := range s.Findings {
			if f.ID == id && strconv.Itoa(f.Count) != c {
				t.Errorf("finding %s shows %s, summary.json %d", id, c, f.Count)
			}
		}
	})
	// Owners read as people in the chart and its table, cut on the right
	// only, the ARN in the title.
	for _, c := range s.TopOwners {
		l := owner.Label(c.Key)
		if l == c.Key {
			t.Errorf("owner %s is not read as a person", c.Key)
		}
		if !bytes.Contains(page, []byte(">"+html.EscapeString(svgchart.Shorten(l, 44))+"</text>")) ||
			!bytes.Contains(page, []byte(`<td title="`+html.EscapeString(c.Key)+`">`+html.EscapeString(l)+"</td>")) {
			t.Errorf("the owners chart does not show %q", l)
		}
	}
	if bytes.Contains(page, []byte("</title>…")) {
		t.Error("a label is cut on the left")
	}
	for _, want := range []string{s.Queries[0].ID, "Europe/Berlin", "Mon 23 Nov 2026 00:00 – Mon 30 Nov 2026 00:00 UTC"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("the page does not say %q", want)
		}
	}
}

func TestEmptyPeriod(t *testing.T) {
	e := newEnv(t, 200, nil, nil)
	out, err := e.reporter.Handle(context.Background(), json.RawMessage(`{"report":{"from":"2026-11-02T00:00:00Z","to":"2026-11-09T00:00:00Z"}}`))
	if err != nil {
		t.Fatal(err)
	}
	objs := e.objects(t, "ssm-sessions/reports/custom/20261102T000000Z_20261109T000000Z/")
	page := objs["ssm-sessions/reports/custom/20261102T000000Z_20261109T000000Z/report.html"]
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil || out.Sessions != 0 {
		t.Fatalf("%v, %d sessions", err, out.Sessions)
	}
	// Every chart and every finding says "none".
	var sections, nones int
	var walk func(n *html.Node, in string)
	walk = func(n *html.Node, in string) {
		if n.Type == html.ElementNode {
			for _, a := range n.Attr {
				if a.Key == "data-chart" || a.Key == "data-finding" {
					in = a.Val
					sections++
				}
				if a.Key == "class" && a.Val == "none" && in != "" && n.FirstChild != nil && n.FirstChild.Data == "none" {
					nones++
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, in)
		}
	}
	walk(doc, "")
	if sections != 6+8 || nones != sections {
		t.Errorf("%d sections, %d say none", sections, nones)
	}
	for k, b := range objs {
		if strings.HasSuffix(k, ".csv") && bytes.Count(b, []byte("\n")) != 1 {
			t.Errorf("%s has rows: %q", k, b)
		}
	}
	// A rerun overwrites the same objects and adds none.
	if _, err := e.reporter.Handle(context.Background(), json.RawMessage(`{"report":{"from":"2026-11-02T00:00:00Z","to":"2026-11-09T00:00:00Z"}}`)); err != nil {
		t.Fatal(err)
	}
	again := e.objects(t, "ssm-sessions/reports/")
	if !slices.Equal(sortedKeys(again), sortedKeys(objs)) {
		t.Errorf("the rerun left %v, the first run %v", sortedKeys(again), sortedKeys(objs))
	}
}

func TestFailedQueryWritesNothing(t *testing.T) {
	e := newEnv(t, 200, nil, func(q string) string {
		if strings.Contains(q, "duration_seconds > ") {
			return "HIVE_BAD_DATA: the emulator was told to fail"
		}
		return ""
	})
	_, err := e.reporter.Handle(context.Background(), json.RawMessage(`{"report":"weekly","time":"2026-11-30T06:00:00Z"}`))
	var qe *auditreport.QueryError
	if err == nil || !errorsAs(err, &qe) {
		t.Fatalf("error %v, want a QueryError", err)
	}
	if !strings.Contains(e.athena.Query(qe.ID), "duration_seconds > ") || !strings.Contains(err.Error(), qe.ID) || !strings.Contains(err.Error(), "HIVE_BAD_DATA") {
		t.Errorf("the error %q does not name the failed query", err)
	}
	if objs := e.objects(t, "ssm-sessions/reports/"); len(objs) != 0 {
		t.Errorf("wrote %v", sortedKeys(objs))
	}
}

func TestBadEventsWriteNothing(t *testing.T) {
	e := newEnv(t, 50, nil, nil)
	for ev, want := range map[string]string{
		`{"report":{"from":"2026-11-23T00:00:00Z","to":"2026-11-23T00:00:00Z"}}`:       "not before",
		`{"report":{"from":"2025-11-01T00:00:00Z","to":"2026-11-23T00:00:00Z"}}`:       "366 days",
		`{"report":{"from":"2025-12-01T00:00:00Z","to":"2025-12-08T00:00:00Z"}}`:       "AUDIT_ARCHIVE_START",
		`{"report":{"from":"2026-11-23T00:00:00Z","to":"2026-12-07T00:00:00Z"}}`:       "after now",
		`{"report":{"from":"2026-11-23T00:00:00Z","to":"2026-11-30T00:00:00Z","x":1}}`: "unknown field",
		`{"report":"weekly","time":"2026-11-30T06:00:00Z","extra":true}`:               "unknown field",
		`{"report":"daily","time":"2026-11-30T06:00:00Z"}`:                             "daily",
		`{"report":"weekly"}`: `needs "time"`,
		`{"report":{"from":"2026-11-23T00:00:00+01:00","to":"2026-11-30T00:00:00Z"}}`: "report.from",
		`{}`: `no "report"`,
	} {
		_, err := e.reporter.Handle(context.Background(), json.RawMessage(ev))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one saying %q", ev, err, want)
		}
	}
	if objs := e.objects(t, "ssm-sessions/reports/"); len(objs) != 0 || len(e.athena.Executions()) != 0 {
		t.Errorf("wrote %v, ran %d queries", sortedKeys(objs), len(e.athena.Executions()))
	}
}

func TestPeriods(t *testing.T) {
	for _, tc := range []struct {
		kind     string
		at       string
		from, to string
	}{
		{"weekly", "2026-11-30T06:00:00Z", "2026-11-23", "2026-11-30"},
		{"weekly", "2026-12-06T23:59:59Z", "2026-11-23", "2026-11-30"},
		{"monthly", "2026-12-01T06:00:00Z", "2026-11-01", "2026-12-01"},
		{"monthly", "2027-01-01T06:00:00Z", "2026-12-01", "2027-01-01"},
	} {
		at, _ := time.Parse(time.RFC3339, tc.at)
		r := auditreport.LastWeek(at)
		if tc.kind == "monthly" {
			r = auditreport.LastMonth(at)
		}
		if r.From.Format(time.DateOnly) != tc.from || r.To.Format(time.DateOnly) != tc.to || r.Kind != tc.kind {
			t.Errorf("%s at %s: %+v", tc.kind, tc.at, r)
		}
	}
}

// TestStrayCopy puts a copy of one day's Parquet object beside it, as a
// stray "cp" or a day exported on two slot lengths would: every number of
// the report stays as it was, and completeness names the copy and the
// sessions it repeats.
func TestStrayCopy(t *testing.T) {
	e := newEnv(t, 600, handmade(), nil)
	ctx := context.Background()
	event := json.RawMessage(`{"report":"weekly","time":"2026-11-30T06:00:00Z"}`)
	folder := "ssm-sessions/reports/weekly/20261123T000000Z_20261130T000000Z/"
	report := func() (auditreport.Summary, map[string][]byte) {
		t.Helper()
		if _, err := e.reporter.Handle(ctx, event); err != nil {
			t.Fatal(err)
		}
		objs := e.objects(t, folder)
		var s auditreport.Summary
		if err := json.Unmarshal(objs[folder+"summary.json"], &s); err != nil {
			t.Fatal(err)
		}
		return s, objs
	}
	before, beforeObjs := report()
	if d := before.Complete.Duplicates; d.Sessions != 0 || len(d.Objects) != 0 || d.CSV != "duplicates.csv" {
		t.Fatalf("duplicates before the copy: %+v", d)
	}

	// The copy: the Monday's object, under another name in its dt folder.
	api := e.emu.Clients().S3
	day := prefix + "/sessions/dt=2026-11-24/"
	page, err := api.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(day)})
	if err != nil || len(page.Contents) != 1 {
		t.Fatalf("objects of %s: %v (%v)", day, len(page.Contents), err)
	}
	orig := aws.ToString(page.Contents[0].Key)
	obj, err := api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(orig)})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	stray := day + "copy-of-" + path.Base(orig)
	if _, err := api.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(stray), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	var copied []string
	for _, r := range e.history {
		if r.StartDate.UTC().Format(time.DateOnly) == "2026-11-24" {
			copied = append(copied, r.SessionID)
		}
	}
	slices.Sort(copied)

	after, afterObjs := report()
	// Every number as before.
	same := func(what string, a, b any) {
		t.Helper()
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s changed with the copy:\n before %+v\n  after %+v", what, a, b)
		}
	}
	same("sessions", before.Sessions, after.Sessions)
	same("by status", before.ByStatus, after.ByStatus)
	same("per day", before.PerDay, after.PerDay)
	same("heatmap", before.Heatmap, after.Heatmap)
	same("top owners", before.TopOwners, after.TopOwners)
	same("top targets", before.TopTargets, after.TopTargets)
	same("durations", before.Durations, after.Durations)
	same("documents", before.Documents, after.Documents)
	for i := range before.Findings {
		same("finding "+before.Findings[i].ID, before.Findings[i].Count, after.Findings[i].Count)
		csvName := folder + before.Findings[i].CSV
		if !bytes.Equal(beforeObjs[csvName], afterObjs[csvName]) {
			t.Errorf("%s changed with the copy", csvName)
		}
	}
	d := after.Complete.Duplicates
	before.Complete.Duplicates, after.Complete.Duplicates = auditreport.Duplicates{}, auditreport.Duplicates{}
	same("completeness but the duplicates", before.Complete, after.Complete)

	// Completeness names the copy, its original and every session of it.
	uri := func(key string) string { return "s3://" + bucket + "/" + key }
	wantObjects := []auditreport.Count{{Key: uri(stray), Count: int64(len(copied))}, {Key: uri(orig), Count: int64(len(copied))}}
	slices.SortFunc(wantObjects, func(a, b auditreport.Count) int { return strings.Compare(a.Key, b.Key) })
	if d.Sessions != len(copied) || d.ExtraRows != int64(len(copied)) || !slices.Equal(d.Objects, wantObjects) || len(d.Sample) == 0 {
		t.Fatalf("duplicates %d sessions, %d extra rows, objects %v; want %d, %d, %v", d.Sessions, d.ExtraRows, d.Objects, len(copied), len(copied), wantObjects)
	}
	if s := d.Sample[0]; s.Copies != 2 || !slices.Equal(s.Objects, []string{wantObjects[0].Key, wantObjects[1].Key}) || s.Target != account+"/"+emulators.Region {
		t.Errorf("first duplicate %+v", s)
	}
	head, recs := readCSV(t, afterObjs[folder+"duplicates.csv"])
	var ids []string
	for _, r := range recs {
		ids = append(ids, r[slices.Index(head, "session_id")])
		if !strings.Contains(r[slices.Index(head, "objects")], stray) {
			t.Errorf("duplicates.csv row %v does not name %s", r, stray)
		}
		if _, err := time.Parse(time.RFC3339, r[slices.Index(head, "latest_export")]); err != nil || !strings.HasSuffix(r[slices.Index(head, "latest_export")], "Z") {
			t.Errorf("duplicates.csv latest_export %q is not ISO 8601 with Z", r[slices.Index(head, "latest_export")])
		}
	}
	if !slices.Equal(ids, copied) {
		t.Errorf("duplicates.csv lists %d sessions, the copied object holds %d", len(ids), len(copied))
	}
	page2 := afterObjs[folder+"report.html"]
	if !bytes.Contains(page2, []byte(`data-object="`+uri(stray)+`"`)) || !bytes.Contains(page2, []byte(`data-session="`+copied[0]+`"`)) {
		t.Errorf("report.html does not name the copy %s and the session %s", stray, copied[0])
	}
	if bytes.Contains(beforeObjs[folder+"report.html"], []byte("copy-of-")) {
		t.Error("report.html named a copy before there was one")
	}
}

// TestLatestExportWins: two more copies of a day's object, one exported an
// hour later with one session now Failed, one an hour earlier with another
// session Failed, as a day exported on two slot lengths at different times
// would be. Each session counts once, as its latest export says: the
// later copy's change shows, the earlier copy's does not.
func TestLatestExportWins(t *testing.T) {
	e := newEnv(t, 300, handmade(), nil)
	ctx := context.Background()
	api := e.emu.Clients().S3
	day := prefix + "/sessions/dt=2026-11-25/"
	page, err := api.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(day)})
	if err != nil || len(page.Contents) != 1 {
		t.Fatalf("objects of %s: %d (%v)", day, len(page.Contents), err)
	}
	obj, err := api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: page.Contents[0].Key})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	rows, err := parquet.Read[archive.Row](bytes.NewReader(body), int64(len(body)))
	if err != nil || len(rows) < 2 {
		t.Fatalf("%d rows: %v", len(rows), err)
	}
	var later, earlier string
	for _, r := range rows {
		if r.Status != "Failed" {
			if later == "" {
				later = r.SessionID
			} else if earlier == "" {
				earlier = r.SessionID
			}
		}
	}
	put := func(name string, shift time.Duration, failed string) {
		t.Helper()
		out := slices.Clone(rows)
		for i := range out {
			out[i].ExportedAt = out[i].ExportedAt.Add(shift)
			if out[i].SessionID == failed {
				out[i].Status = "Failed"
			}
		}
		var buf bytes.Buffer
		w := archive.NewWriter(&buf)
		if err := w.Write(out); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := api.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(day + name), Body: bytes.NewReader(buf.Bytes())}); err != nil {
			t.Fatal(err)
		}
	}
	put("later-12h.parquet", time.Hour, later)
	put("earlier-24h.parquet", -time.Hour, earlier)

	out, err := e.reporter.Handle(ctx, json.RawMessage(`{"report":"weekly","time":"2026-11-30T06:00:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	wk := inWeek(e.history)
	failed := 0
	for _, r := range wk {
		if r.Status == "Failed" || r.SessionID == later {
			failed++
		}
	}
	if out.Sessions != int64(len(wk)) || out.Findings["failed"] != failed || out.Duplicates != len(rows) {
		t.Errorf("sessions %d, failed %d, duplicates %d; want %d, %d (the later copy's), %d", out.Sessions, out.Findings["failed"], out.Duplicates, len(wk), failed, len(rows))
	}
	objs := e.objects(t, "ssm-sessions/reports/weekly/20261123T000000Z_20261130T000000Z/")
	csvFailed := string(objs["ssm-sessions/reports/weekly/20261123T000000Z_20261130T000000Z/failed.csv"])
	if !strings.Contains(csvFailed, later) || strings.Contains(csvFailed, earlier) {
		t.Errorf("failed.csv: the later copy's %s in it: %v; the earlier copy's %s: %v", later, strings.Contains(csvFailed, later), earlier, strings.Contains(csvFailed, earlier))
	}
}
