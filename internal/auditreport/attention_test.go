package auditreport_test

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/session-audit/session-audit/internal/archive"
	"github.com/session-audit/session-audit/internal/auditreport"
	"github.com/session-audit/session-audit/internal/exceptions"
)

// exceptionsYAML has an entry for weekends, one that expires inside the
// reported week, one expired before it, and two malformed ones.
const exceptionsYAML = `version: 1
exceptions:
  - finding: after-hours
    owner: "*:user/*"
    days: [Sat, Sun]
    ticket: CHG-100
    reason: weekend on-call of the IAM users
    approvedBy: alice@example.com
    expires: 2027-01-31
  - finding: after-hours
    hours: "22-06"
    ticket: CHG-200
    approvedBy: bob@example.com
    expires: 2026-11-26
  - finding: no-transcript
    document: AWS-StartPortForwardingSession
    ticket: CHG-300
    approvedBy: carol@example.com
    expires: 2026-11-01
  - finding: long
    owner: "*"
    ticket: CHG-400
    expires: 2027-01-31
  - finding: no-such-finding
    owner: "*"
    ticket: CHG-500
    approvedBy: eve@example.com
    expires: 2027-01-31
`

// expectedTicket is the exceptions file in Go, by hand: the ticket that
// covers an after-hours row, or empty.
func expectedTicket(r archive.Row) string {
	l := r.StartDate.In(berlin)
	if strings.Contains(r.Owner, ":user/") && (l.Weekday() == time.Saturday || l.Weekday() == time.Sunday) {
		return "CHG-100"
	}
	// CHG-200's last day is 26 Nov (UTC): sessions before the 27th.
	if (l.Hour() >= 22 || l.Hour() < 6) && r.StartDate.Before(time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)) {
		return "CHG-200"
	}
	return ""
}

func (e *env) put(t *testing.T, key, body string) {
	t.Helper()
	if _, err := e.emu.Clients().S3.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body),
	}); err != nil {
		t.Fatal(err)
	}
}

// TestAttention checks the summary at the top of the report against counts
// in Go over the generated sessions: each finding's rows, its change
// against the week before, and the rows an exception covers.
func TestAttention(t *testing.T) {
	e := newEnv(t, 3000, handmade(), nil)
	e.put(t, prefix+"/exceptions.yaml", exceptionsYAML)
	e.putCoverage(t, "2026-11-24",
		`{"run_id":"r1","run_time":"2026-11-24T00:15:00Z","account_id":"222222222222","region":"eu-west-1","status":"denied","slots":0,"rows":0,"error":"AccessDenied","finished_at":"2026-11-24T00:16:01Z"}`)
	e.putCoverage(t, "2026-11-20",
		`{"run_id":"r0","run_time":"2026-11-20T00:15:00Z","account_id":"333333333333","region":"eu-west-1","status":"failed","slots":0,"rows":0,"error":"throttled","finished_at":"2026-11-20T00:16:00Z"}`,
		`{"run_id":"r0","run_time":"2026-11-20T00:15:00Z","account_id":"444444444444","region":"eu-west-1","status":"failed","slots":0,"rows":0,"error":"throttled","finished_at":"2026-11-20T00:16:00Z"}`)
	folder, objs, s := e.weekly(t)
	if s.Previous.From != week.From.AddDate(0, 0, -7) || s.Previous.To != week.From {
		t.Errorf("previous period %+v", s.Previous)
	}
	rows := inWeek(e.history)
	var before []archive.Row
	for _, r := range e.history {
		if !r.StartDate.Before(week.From.AddDate(0, 0, -7)) && r.StartDate.Before(week.From) {
			before = append(before, r)
		}
	}
	if len(before) < 1000 {
		t.Fatalf("only %d sessions the week before", len(before))
	}
	wantTickets := map[string]string{}
	for id, pred := range predicates {
		var count, prev, excepted int
		for _, r := range rows {
			if pred(r) {
				count++
				if id == "after-hours" {
					if tk := expectedTicket(r); tk != "" {
						excepted++
						wantTickets[r.SessionID] = tk
					}
				}
			}
		}
		for _, r := range before {
			ok := pred(r)
			if id == "active-at-end" { // the previous period ends when this one starts
				ok = r.Status != "Failed" && (r.EndDate == nil || r.EndDate.After(week.From))
			}
			if ok {
				prev++
			}
		}
		i := slices.IndexFunc(s.Findings, func(f auditreport.FindingResult) bool { return f.ID == id })
		if i < 0 {
			t.Fatalf("no finding %s in summary.json", id)
		}
		f := s.Findings[i]
		if f.Count != count || f.Previous != prev || f.Change != count-prev || f.Excepted != excepted || f.ToReview != count-excepted {
			t.Errorf("%s: count %d previous %d change %d excepted %d to review %d; want %d %d %d %d %d",
				id, f.Count, f.Previous, f.Change, f.Excepted, f.ToReview, count, prev, count-prev, excepted, count-excepted)
		}
		if f.PerTarget[account+"/us-east-1"] != count {
			t.Errorf("%s per target %v, want %d in %s/us-east-1", id, f.PerTarget, count, account)
		}
		// The page's summary line says the same.
		line := pageRow(t, objs[folder+"report.html"], `data-summary="`+id+`"`)
		for _, want := range []string{`data-count="` + itoa(count) + `"`, `data-change="` + itoa(count-prev) + `"`, `data-excepted="` + itoa(excepted) + `"`, `data-review="` + itoa(count-excepted) + `"`, `href="#finding-` + id + `"`, `href="` + id + `.csv"`} {
			if !strings.Contains(line, want) {
				t.Errorf("summary line of %s has no %s: %s", id, want, line)
			}
		}
		if !strings.Contains(string(objs[folder+"report.html"]), `id="finding-`+id+`"`) {
			t.Errorf("no section finding-%s for the summary's link", id)
		}
	}
	nc := s.Findings[slices.IndexFunc(s.Findings, func(f auditreport.FindingResult) bool { return f.ID == "not-covered" })]
	if nc.Count != 1 || nc.Previous != 2 || nc.Change != -1 {
		t.Errorf("not-covered %+v", nc)
	}
	if wantTickets["hand-over-the-end"] != "" || len(wantTickets) < 20 {
		t.Fatalf("the data gives %d excepted rows", len(wantTickets))
	}
	// The CSV: an exception column, the ticket of each covered row.
	head, recs := readCSV(t, objs[folder+"after-hours.csv"])
	ex := slices.Index(head, "exception")
	if ex != len(head)-1 {
		t.Fatalf("after-hours.csv header %v", head)
	}
	perTicket := map[string]int{}
	for _, r := range recs {
		if r[ex] != wantTickets[r[0]] {
			t.Errorf("after-hours.csv: session %s exception %q, want %q", r[0], r[ex], wantTickets[r[0]])
		}
		perTicket[r[ex]]++
	}
	if perTicket["CHG-100"] == 0 || perTicket["CHG-200"] == 0 {
		t.Errorf("tickets %v: want rows of both entries", perTicket)
	}
	// Every entry, as the report judged it.
	want := map[int]struct {
		state string
		rows  int
	}{3: {"applied", perTicket["CHG-100"]}, 10: {"expires", perTicket["CHG-200"]}, 15: {"expired", 0}, 20: {"invalid", 0}, 24: {"invalid", 0}}
	if !s.Exceptions.Found || s.Exceptions.Key != prefix+"/exceptions.yaml" || s.Exceptions.ETag == "" || len(s.Exceptions.Entries) != len(want) {
		t.Fatalf("exceptions %+v", s.Exceptions)
	}
	for _, x := range s.Exceptions.Entries {
		w, ok := want[x.Line]
		if !ok || x.State != w.state || x.Rows != w.rows {
			t.Errorf("entry line %d: %s, %d rows; want %+v", x.Line, x.State, x.Rows, w)
		}
		if x.State == "invalid" && len(x.Problems) == 0 {
			t.Errorf("entry line %d is invalid without a problem", x.Line)
		}
		if !strings.Contains(string(objs[folder+"report.html"]), `data-line="`+itoa(x.Line)+`" data-state="`+x.State+`"`) {
			t.Errorf("the page does not list entry line %d as %s", x.Line, x.State)
		}
	}
	// The page marks the rows it shows that an exception covers.
	page := string(objs[folder+"report.html"])
	if !strings.Contains(page, `class="expected" data-exception="CHG-`) {
		t.Error("the page marks no row as expected")
	}
}

// TestMalformedExceptionsWriteNothing: a file that is not an exceptions
// file fails the report, naming its line, before anything is written.
func TestMalformedExceptionsWriteNothing(t *testing.T) {
	e := newEnv(t, 50, nil, nil)
	e.put(t, prefix+"/exceptions.yaml", "version: 1\nexceptions:\n  - finding: after-hours\n    owner: [unclosed\n")
	_, err := e.reporter.Handle(context.Background(), json.RawMessage(`{"report":"weekly","time":"2026-11-30T06:00:00Z"}`))
	var se *exceptions.SyntaxError
	if !errorsAs(err, &se) || se.Line == 0 || !strings.Contains(err.Error(), "line ") || !strings.Contains(err.Error(), "exceptions.yaml") {
		t.Fatalf("err %v; want a syntax error naming the file and line", err)
	}
	if objs := e.objects(t, prefix+"/reports/"); len(objs) != 0 {
		t.Errorf("wrote %v", sortedKeys(objs))
	}
	if n := len(e.athena.Executions()); n != 0 {
		t.Errorf("%d queries ran", n)
	}
}

// pageRow is the <tr> of the page that carries attr.
func pageRow(t *testing.T, page []byte, attr string) string {
	t.Helper()
	s := string(page)
	i := strings.Index(s, attr)
	if i < 0 {
		t.Fatalf("the page has no row %s", attr)
	}
	start := strings.LastIndex(s[:i], "<tr")
	end := strings.Index(s[i:], "</tr>")
	return s[start : i+end]
}

// checkAuditorCSVs: every finding's CSV has account_id and region, an
// exception column, no column twice, start_reason rather than reason, and
// its timestamps in ISO 8601 with Z.
func checkAuditorCSVs(t *testing.T, objs map[string][]byte, folder string, s *auditreport.Summary) {
	t.Helper()
	stamp := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$`)
	for _, f := range s.Findings {
		head, recs := readCSV(t, objs[folder+f.CSV])
		seen := map[string]bool{}
		for _, h := range head {
			if seen[h] {
				t.Errorf("%s: column %s twice in %v", f.CSV, h, head)
			}
			seen[h] = true
		}
		// clients is a count per client over the whole trail, no rows of sessions.
		if f.ID != "clients" && (!seen["account_id"] || !seen["region"]) {
			t.Errorf("%s: no account_id and region in %v", f.CSV, head)
		}
		if !seen["exception"] || seen["reason"] {
			t.Errorf("%s: header %v", f.CSV, head)
		}
		if (f.ID == "privileged" || f.ID == "failed") && !seen["start_reason"] {
			t.Errorf("%s: no start_reason in %v", f.CSV, head)
		}
		for _, col := range []string{"start_date", "end_date", "event_time", "first_attempt", "last_attempt"} {
			i := slices.Index(head, col)
			if i < 0 {
				continue
			}
			for _, r := range recs {
				if r[i] != "" && !stamp.MatchString(r[i]) {
					t.Errorf("%s: %s %q is not ISO 8601 with Z", f.CSV, col, r[i])
					break
				}
			}
		}
	}
}

// checkReadable: timestamps and local times name their zone, active rows
// do not read as ended, a blank document reads as the default shell.
func checkReadable(t *testing.T, page string) {
	t.Helper()
	active := page[strings.Index(page, `id="finding-active-at-end"`):]
	active = active[:strings.Index(active, "</section>")]
	if !strings.Contains(active, "active at the period&#39;s end</td>") || strings.Contains(active, ">Terminated<") {
		t.Errorf("active-at-end rows:\n%s", active)
	}
	for _, want := range []string{"<th>start_date (UTC)</th>", "<th>local_hour (Europe/Berlin)</th>", "<th>local_weekday (Europe/Berlin)</th>",
		"SSM-SessionManagerRunShell (default shell)", `class="scale"`, "<th>expected?</th>", "Failed sessions are left out"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page does not say %s", want)
		}
	}
	// The summary comes before everything else the page reports.
	if i, j := strings.Index(page, `id="summary"`), strings.Index(page, `id="completeness"`); i < 0 || i > j {
		t.Error("the summary is not at the top")
	}
}

// weekly makes the weekly report of the fixed clock and returns its
// folder, its objects and its summary.json.
func (e *env) weekly(t *testing.T) (string, map[string][]byte, auditreport.Summary) {
	t.Helper()
	if _, err := e.reporter.Handle(context.Background(), json.RawMessage(`{"report":"weekly","time":"2026-11-30T06:00:00Z"}`)); err != nil {
		t.Fatal(err)
	}
	folder := "ssm-sessions/reports/weekly/20261123T000000Z_20261130T000000Z/"
	objs := e.objects(t, folder)
	var s auditreport.Summary
	if err := json.Unmarshal(objs[folder+"summary.json"], &s); err != nil {
		t.Fatal(err)
	}
	return folder, objs, s
}
