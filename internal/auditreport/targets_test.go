package auditreport_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/session-audit/session-audit/internal/accounts"
	"github.com/session-audit/session-audit/internal/archive"
	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/nodes"
	"github.com/session-audit/session-audit/internal/tablefile"
)

// TestPerAccountAndRegion: a second account's sessions beside the
// exported one's, coverage records and the names of accounts and
// machines; the per account and region table is checked against counts in
// Go, and the page names accounts and machines by name with the id beside.
func TestPerAccountAndRegion(t *testing.T) {
	e := newEnv(t, 1500, handmade(), nil)
	ctx := context.Background()
	api := e.emu.Clients().S3
	const other, otherRegion = "210987654321", "eu-west-1"
	// The other account: a copy of the first 300 sessions of the week,
	// written as that account's export would be, one file per day.
	rows := inWeek(e.history)
	byDay := map[string][]archive.Row{}
	var copies []archive.Row
	for _, r := range rows[:300] {
		r.SessionID, r.AccountID, r.Region = "other-"+r.SessionID, other, otherRegion
		copies = append(copies, r)
		day := r.StartDate.UTC().Format(time.DateOnly)
		byDay[day] = append(byDay[day], r)
	}
	for day, rs := range byDay {
		key := fmt.Sprintf("%s/sessions/dt=%s/%s_%s_%sT000000Z_%sT000000Z.parquet", prefix, day, other, otherRegion, strings.ReplaceAll(day, "-", ""), strings.ReplaceAll(day, "-", ""))
		if _, err := tablefile.Put(ctx, api, bucket, key, rs); err != nil {
			t.Fatal(err)
		}
	}
	e.putCoverage(t, "2026-11-24",
		`{"run_id":"r1","run_time":"2026-11-24T00:15:00Z","account_id":"`+other+`","region":"`+otherRegion+`","status":"exported","slots":1,"rows":10,"error":"","finished_at":"2026-11-24T00:16:00Z"}`,
		`{"run_id":"r1","run_time":"2026-11-24T00:15:00Z","account_id":"222222222222","region":"eu-west-1","status":"denied","slots":0,"rows":0,"error":"AccessDenied","finished_at":"2026-11-24T00:16:01Z"}`)
	e.putCoverage(t, "2026-11-25",
		`{"run_id":"r2","run_time":"2026-11-25T00:15:00Z","account_id":"`+other+`","region":"`+otherRegion+`","status":"failed","slots":0,"rows":0,"error":"throttled","finished_at":"2026-11-25T00:16:00Z"}`)
	// Names: the exported account and one machine.
	if _, err := accounts.Write(ctx, api, bucket, prefix, week.From.Add(time.Hour), []accounts.Row{
		{AccountID: account, Name: accounts.Text("Payments prod"), CapturedAt: week.From.Add(time.Hour)},
	}); err != nil {
		t.Fatal(err)
	}
	nodeRows := []nodes.Row{{NodeID: "i-0handmade0000001", Name: aws.String("hand-box"), ResourceType: "EC2Instance", Tags: map[string]string{"Name": "hand-box"},
		AccountID: account, Region: emulators.Region, CapturedAt: week.From.Add(time.Hour)}}
	if _, err := tablefile.Put(ctx, api, bucket, nodes.Key(prefix, account, emulators.Region, week.From), nodeRows); err != nil {
		t.Fatal(err)
	}

	folder, objs, s := e.weekly(t)
	// In Go: sessions and finding rows per account/region.
	type want struct {
		sessions int64
		findings map[string]int
		rows     int
	}
	wants := map[string]*want{}
	for _, r := range append(rows, copies...) {
		k := r.AccountID + "/" + r.Region
		if wants[k] == nil {
			wants[k] = &want{findings: map[string]int{}}
		}
		w := wants[k]
		w.sessions++
		for id, pred := range predicates {
			if pred(r) {
				w.findings[id]++
				w.rows++
			}
		}
	}
	wants["222222222222/eu-west-1"] = &want{findings: map[string]int{"not-covered": 1}, rows: 1}
	wants[other+"/"+otherRegion].findings["not-covered"]++
	wants[other+"/"+otherRegion].rows++
	if len(s.Targets) != len(wants) {
		t.Fatalf("targets %+v; want %d", s.Targets, len(wants))
	}
	for _, got := range s.Targets {
		w := wants[got.Key()]
		if w == nil {
			t.Errorf("unexpected target %s", got.Key())
			continue
		}
		if got.Sessions != w.sessions || got.Rows != w.rows || got.ToReview != w.rows || fmt.Sprint(got.Findings) != fmt.Sprint(w.findings) {
			t.Errorf("%s: sessions %d rows %d to review %d %v; want %d %d %v", got.Key(), got.Sessions, got.Rows, got.ToReview, got.Findings, w.sessions, w.rows, w.findings)
		}
		page := string(objs[folder+"report.html"])
		if !strings.Contains(page, fmt.Sprintf(`data-target="%s" data-sessions="%d" data-rows="%d"`, got.Key(), w.sessions, w.rows)) {
			t.Errorf("the page has no line for %s", got.Key())
		}
		switch got.Key() {
		case account + "/" + emulators.Region:
			if got.AccountName != "Payments prod" || got.Runs != 0 {
				t.Errorf("%s: %+v", got.Key(), got)
			}
		case other + "/" + otherRegion:
			if got.AccountName != "" || got.Runs != 2 || got.Exported != 1 || got.LastStatus != "failed" || got.LastRun != "2026-11-25T00:16:00Z" {
				t.Errorf("%s: %+v", got.Key(), got)
			}
		case "222222222222/eu-west-1":
			if got.LastStatus != "denied" || got.Sessions != 0 {
				t.Errorf("%s: %+v", got.Key(), got)
			}
		}
	}
	// targets.csv: every line of the table.
	head, recs := readCSV(t, objs[folder+"targets.csv"])
	if len(recs) != len(s.Targets) || head[0] != "account_id" || head[2] != "region" {
		t.Fatalf("targets.csv %v %v", head, recs)
	}
	for i, r := range recs {
		g := s.Targets[i]
		if r[0] != g.AccountID || r[1] != g.AccountName || r[2] != g.Region || r[3] != fmt.Sprint(g.Sessions) || r[4] != fmt.Sprint(g.Rows) ||
			r[slices.Index(head, "rows_after_hours")] != fmt.Sprint(g.Findings["after-hours"]) || r[len(r)-2] != g.LastStatus {
			t.Errorf("targets.csv line %v; summary %+v", r, g)
		}
	}
	page := string(objs[folder+"report.html"])
	for _, want := range []string{"Payments prod (" + account + ")", "hand-box (i-0handmade0000001)", `title="i-0handmade0000001"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page does not say %q", want)
		}
	}
}

// TestNamesAreOptional: where the nodes and accounts tables cannot be read
// (a stack without them), the report is still written, with the ids.
func TestNamesAreOptional(t *testing.T) {
	e := newEnv(t, 300, handmade(), func(q string) string {
		if strings.Contains(q, "FROM nodes") || strings.Contains(q, "FROM accounts") {
			return "TABLE_NOT_FOUND: line 1:1: Table 'session_audit.nodes' does not exist"
		}
		return ""
	})
	folder, objs, s := e.weekly(t)
	if len(s.Targets) != 1 || s.Targets[0].AccountName != "" || s.Targets[0].Sessions != int64(len(inWeek(e.history))) {
		t.Errorf("targets %+v", s.Targets)
	}
	page := string(objs[folder+"report.html"])
	if !strings.Contains(page, `<td class="id">`+account+`</td>`) || !strings.Contains(page, ">i-0handmade0000001<") {
		t.Error("the page does not show the account and the machine by id")
	}
	for _, q := range s.Queries {
		if q.Name == "account-names" || q.Name == "machine-names" {
			t.Errorf("the failed lookup %s is listed among the report's queries", q.Name)
		}
	}
}
