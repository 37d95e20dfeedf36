package auditreport_test

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	athenatypes "github.com/aws/aws-sdk-go-v2/service/athena/types"

	"github.com/session-audit/session-audit/internal/auditreport"
	"github.com/session-audit/session-audit/internal/findings"
	"github.com/session-audit/session-audit/internal/owner"
	"github.com/session-audit/session-audit/internal/trailfake"
)

// inWeekEvents are the trail's records whose event time is in the week.
func inWeekEvents(recs []trailfake.Record) []trailfake.Record {
	var out []trailfake.Record
	for _, r := range recs {
		at, _ := time.Parse(time.RFC3339, r.EventTime)
		if !at.Before(week.From) && at.Before(week.To) {
			out = append(out, r)
		}
	}
	return out
}

// TestWeeklyReportWithTrail checks every number the CloudTrail context adds
// against counts in Go over the generated records: the denied attempts
// (total, principals, each CSV row, the chart), the starts and MFA, the
// clients, the top source addresses, the sessions from outside the allowed
// CIDRs, and the source address on every session row of the findings.
func TestWeeklyReportWithTrail(t *testing.T) {
	e := newTrailEnv(t, 3000, handmade(), nil, &trailOpts{location: trailLocation, cidrs: allowedCIDRs})
	out, err := e.reporter.Handle(context.Background(), json.RawMessage(`{"report":"weekly","time":"2026-11-30T06:00:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	folder := "ssm-sessions/reports/weekly/20261123T000000Z_20261130T000000Z/"
	objs := e.objects(t, "ssm-sessions/reports/")
	var s auditreport.Summary
	if err := json.Unmarshal(objs[folder+"summary.json"], &s); err != nil {
		t.Fatal(err)
	}
	allowed, _ := findings.ParseCIDRs(allowedCIDRs)

	// The counts in Go.
	type group struct{ caller, target, code string }
	denied := map[group]int{}
	// Per denied group: its source addresses, first and last attempt.
	deniedIPs := map[group]map[string]bool{}
	first, last := map[group]string{}, map[group]string{}
	// Per client: its people and the starts with MFA.
	people := map[string]map[string]bool{}
	withMFA := map[string]int{}
	deniedBy := map[string]int64{}
	clients, sources := map[string]int64{}, map[string]int64{}
	var starts, mfa int64
	startIP := map[string]string{} // session id -> StartSession source (any time)
	outside := map[string]bool{}   // session id + event
	for _, r := range e.trail {
		if r.ErrorCode == "" && r.EventName == "StartSession" {
			startIP[r.ResponseElements["sessionId"].(string)] = r.SourceIPAddress
		}
	}
	for _, r := range inWeekEvents(e.trail) {
		switch {
		case r.ErrorCode != "":
			g := group{r.UserIdentity.ARN, r.RequestParameters["target"].(string), r.ErrorCode}
			denied[g]++
			deniedBy[r.UserIdentity.ARN]++
			if deniedIPs[g] == nil {
				deniedIPs[g] = map[string]bool{}
			}
			deniedIPs[g][r.SourceIPAddress] = true
			if first[g] == "" || r.EventTime < first[g] {
				first[g] = r.EventTime
			}
			last[g] = max(last[g], r.EventTime)
		case r.EventName == "StartSession" || r.EventName == "ResumeSession":
			id := r.ResponseElements["sessionId"].(string)
			if findings.Outside(allowed, r.SourceIPAddress) {
				outside[id+" "+r.EventName] = true
			}
			if r.EventName == "ResumeSession" {
				continue
			}
			starts++
			if r.UserIdentity.SessionContext != nil && r.UserIdentity.SessionContext.Attributes.MFAAuthenticated == "true" {
				mfa++
			}
			cl := findings.ClientOf(r.UserAgent, r.SessionCredentialFromConsole == "true")
			clients[cl]++
			if people[cl] == nil {
				people[cl] = map[string]bool{}
			}
			people[cl][r.UserIdentity.ARN] = true
			if r.UserIdentity.SessionContext != nil && r.UserIdentity.SessionContext.Attributes.MFAAuthenticated == "true" {
				withMFA[cl]++
			}
			sources[r.SourceIPAddress]++
		}
	}
	var attempts int64
	for _, n := range denied {
		attempts += int64(n)
	}
	t.Logf("%d denied attempts in %d groups, %d starts, %d outside, clients %v", attempts, len(denied), starts, len(outside), clients)
	if attempts < 200 || len(outside) < 20 || len(clients) != 3 {
		t.Fatalf("the generated trail is too thin to test: %d denied, %d outside, clients %v", attempts, len(outside), clients)
	}
	tc := s.Trail
	if tc.Location != trailLocation || tc.Starts != starts || tc.StartsWithMFA != mfa || tc.DeniedAttempts != attempts || tc.DeniedCallers != int64(len(deniedBy)) {
		t.Errorf("trail context %+v; want %d starts (%d with MFA), %d denied by %d", tc, starts, mfa, attempts, len(deniedBy))
	}
	checkTop(t, "denied by caller", tc.DeniedByCaller, deniedBy, 15)
	checkTop(t, "source addresses", tc.Sources, sources, 15)
	checkTop(t, "clients", tc.Clients, clients, 3)

	// denied.csv: one row per caller, target and error, with its count.
	head, recs := readCSV(t, objs[folder+"denied.csv"])
	col := func(name string) int { return slices.Index(head, name) }
	if out.Findings["denied"] != len(denied) || len(recs) != len(denied) {
		t.Errorf("denied: %d findings, %d rows; want %d", out.Findings["denied"], len(recs), len(denied))
	}
	for _, r := range recs {
		g := group{r[col("caller_arn")], r[col("target")], r[col("error_code")]}
		// CSV timestamps are ISO 8601 in UTC with Z.
		at := func(s string) string { t, _ := time.Parse(time.RFC3339, s); return t.UTC().Format(time.RFC3339Nano) }
		if strconv.Itoa(denied[g]) != r[col("attempts")] || r[col("error_message")] == "" ||
			strconv.Itoa(len(deniedIPs[g])) != r[col("source_addresses")] || at(first[g]) != r[col("first_attempt")] || at(last[g]) != r[col("last_attempt")] {
			t.Errorf("denied row %v: want %d attempts from %d addresses, %s to %s", r, denied[g], len(deniedIPs[g]), first[g], last[g])
		}
	}
	// clients.csv: sessions, people and starts with MFA per client.
	head, recs = readCSV(t, objs[folder+"clients.csv"])
	for _, r := range recs {
		cl := r[slices.Index(head, "client")]
		if r[slices.Index(head, "sessions")] != strconv.FormatInt(clients[cl], 10) || r[slices.Index(head, "people")] != strconv.Itoa(len(people[cl])) ||
			r[slices.Index(head, "with_mfa")] != strconv.Itoa(withMFA[cl]) {
			t.Errorf("clients row %v: want %d sessions, %d people, %d with MFA", r, clients[cl], len(people[cl]), withMFA[cl])
		}
	}
	if len(recs) != len(clients) {
		t.Errorf("clients.csv has %d rows, want %d", len(recs), len(clients))
	}
	// outside-sources.csv: exactly the events from outside.
	head, recs = readCSV(t, objs[folder+"outside-sources.csv"])
	got := map[string]bool{}
	for _, r := range recs {
		got[r[slices.Index(head, "session_id")]+" "+r[slices.Index(head, "event_name")]] = true
	}
	if !maps.Equal(got, outside) || out.Findings["outside-sources"] != len(outside) {
		t.Errorf("outside-sources: %d rows, want %d", len(got), len(outside))
	}
	// Every session row carries its StartSession's source address.
	for _, id := range []string{"failed", "long", "privileged", "after-hours"} {
		head, recs := readCSV(t, objs[folder+id+".csv"])
		ip := slices.Index(head, "source_ip")
		if head[0] != "session_id" || ip < 0 || len(recs) == 0 {
			t.Fatalf("%s.csv header %v", id, head)
		}
		for _, r := range recs {
			if r[ip] != startIP[r[0]] {
				t.Errorf("%s.csv: session %s has source %q, the trail %q", id, r[0], r[ip], startIP[r[0]])
			}
		}
	}
	page := objs[folder+"report.html"]
	if !bytes.Contains(page, []byte(`id="trail-denied" data-value="`+strconv.FormatInt(attempts, 10)+`"`)) || bytes.Contains(page, []byte(`id="trail-off"`)) {
		t.Error("the page does not show the denied attempts")
	}
	// The denied chart names people.
	for _, c := range tc.DeniedByCaller[:3] {
		if !bytes.Contains(page, []byte(owner.Label(c.Key))) {
			t.Errorf("the page does not name %s as %q", c.Key, owner.Label(c.Key))
		}
	}
	if n := bytes.Count(page, []byte("<figure id=\"chart-")); n != 9 {
		t.Errorf("%d charts, want 9", n)
	}
	checkHTML(t, page, &s)
	checkAuditorCSVs(t, objs, folder, &s)
}

// TestNoTrailSaysSo: without a trail the report states that the context is
// off, runs no query over it, and its findings have no source column.
func TestNoTrailSaysSo(t *testing.T) {
	e := newEnv(t, 300, nil, nil)
	if _, err := e.reporter.Handle(context.Background(), json.RawMessage(`{"report":"weekly","time":"2026-11-30T06:00:00Z"}`)); err != nil {
		t.Fatal(err)
	}
	folder := "ssm-sessions/reports/weekly/20261123T000000Z_20261130T000000Z/"
	objs := e.objects(t, folder)
	page := objs[folder+"report.html"]
	if !bytes.Contains(page, []byte(`data-trail="off"`)) || !bytes.Contains(page, []byte("This context is off")) {
		t.Error("the page does not say the CloudTrail context is off")
	}
	for _, q := range e.athena.Executions() {
		if strings.Contains(e.athena.Query(q), "cloudtrail") {
			t.Errorf("a query reads the trail:\n%s", e.athena.Query(q))
		}
	}
	for _, id := range []string{"denied.csv", "outside-sources.csv", "clients.csv"} {
		if _, ok := objs[folder+id]; ok {
			t.Errorf("%s written without a trail", id)
		}
	}
	if head, _ := readCSV(t, objs[folder+"failed.csv"]); slices.Contains(head, "source_ip") {
		t.Errorf("failed.csv has a source column without a trail: %v", head)
	}
}

// TestUnreadableTrailWritesNothing: a configured trail Athena cannot read
// (here its bucket does not exist) fails the report with Athena's error,
// naming the query, and writes nothing.
func TestUnreadableTrailWritesNothing(t *testing.T) {
	e := newTrailEnv(t, 200, nil, nil, &trailOpts{location: "s3://no-such-trail-bucket/AWSLogs/o-a1b2c3d4e5/"})
	_, err := e.reporter.Handle(context.Background(), json.RawMessage(`{"report":"weekly","time":"2026-11-30T06:00:00Z"}`))
	var qe *auditreport.QueryError
	if err == nil || !errorsAs(err, &qe) || !strings.Contains(err.Error(), "cloudtrail") || !strings.Contains(err.Error(), "NoSuchBucket") {
		t.Fatalf("error %v, want the failed query's", err)
	}
	if objs := e.objects(t, "ssm-sessions/reports/"); len(objs) != 0 {
		t.Errorf("wrote %v", sortedKeys(objs))
	}
}

func TestTrailConfigNamesTheVariable(t *testing.T) {
	base := map[string]string{"AUDIT_BUCKET": bucket, "AUDIT_ATHENA_WORKGROUP": wg, "AUDIT_GLUE_DATABASE": database}
	for _, tc := range []struct{ loc, cidrs, want string }{
		{"s3://bucket/AWSLogs", "", "AUDIT_CLOUDTRAIL_LOCATION"},
		{"bucket/AWSLogs/", "", "AUDIT_CLOUDTRAIL_LOCATION"},
		{trailLocation, "10.0.0.0/40", "AUDIT_ALLOWED_SOURCE_CIDRS"},
		{trailLocation, "10.0.0.1/8", "AUDIT_ALLOWED_SOURCE_CIDRS"},
		{"", "10.0.0.0/8", "AUDIT_CLOUDTRAIL_LOCATION is empty"},
	} {
		env := maps.Clone(base)
		env["AUDIT_CLOUDTRAIL_LOCATION"], env["AUDIT_ALLOWED_SOURCE_CIDRS"] = tc.loc, tc.cidrs
		if _, err := auditreport.ConfigFromEnv(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q, %q: error %v, want one saying %s", tc.loc, tc.cidrs, err, tc.want)
		}
	}
}

// TestTrailNamedQueries runs the stack's saved trail queries (the last 30
// days, as template.yaml holds them) on the emulator: the events query
// returns every Session Manager event of the trail, the denied query one
// row per principal, target and error.
func TestTrailNamedQueries(t *testing.T) {
	e := newTrailEnv(t, 500, nil, nil, &trailOpts{location: trailLocation})
	groups := map[string]bool{}
	for _, r := range e.trail {
		if r.ErrorCode != "" {
			groups[r.UserIdentity.ARN+" "+r.RequestParameters["target"].(string)+" "+r.ErrorCode] = true
		}
	}
	for _, tc := range []struct {
		name, sql string
		want      int
	}{
		{"session-manager-events", findings.Events(findings.Last30Days), len(e.trail)},
		{"denied-session-attempts", mustFinding(t, "denied").SQL(findings.Defaults(), findings.Last30Days), len(groups)},
	} {
		out, err := e.client.StartQueryExecution(context.Background(), &athena.StartQueryExecutionInput{
			QueryString: aws.String("SELECT count(*) AS n FROM (\n" + tc.sql + "\n)"), WorkGroup: aws.String(wg),
			QueryExecutionContext: &athenatypes.QueryExecutionContext{Database: aws.String(database)}})
		if err != nil {
			t.Fatal(err)
		}
		for {
			st, err := e.client.GetQueryExecution(context.Background(), &athena.GetQueryExecutionInput{QueryExecutionId: out.QueryExecutionId})
			if err != nil {
				t.Fatal(err)
			}
			if s := st.QueryExecution.Status.State; s == athenatypes.QueryExecutionStateFailed {
				t.Fatalf("%s: %s", tc.name, aws.ToString(st.QueryExecution.Status.StateChangeReason))
			} else if s == athenatypes.QueryExecutionStateSucceeded {
				break
			}
		}
		res, err := e.client.GetQueryResults(context.Background(), &athena.GetQueryResultsInput{QueryExecutionId: out.QueryExecutionId})
		if err != nil {
			t.Fatal(err)
		}
		if got := aws.ToString(res.ResultSet.Rows[1].Data[0].VarCharValue); got != strconv.Itoa(tc.want) || tc.want == 0 {
			t.Errorf("%s: %s rows, want %d", tc.name, got, tc.want)
		}
	}
}

func mustFinding(t *testing.T, id string) findings.Finding {
	t.Helper()
	f, ok := findings.ByID(id)
	if !ok {
		t.Fatalf("no finding %s", id)
	}
	return f
}
