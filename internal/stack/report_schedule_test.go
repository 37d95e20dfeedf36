package stack_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/session-audit/session-audit/internal/auditreport"
)

// TestReportSchedules: each schedule's Input, as the scheduler fills it in,
// asks the report function for the last whole week or month.
func TestReportSchedules(t *testing.T) {
	s := resolve(t, loadTemplate(t), defaults)
	events := asMap(s.props(t, "SessionAuditReportFunction")["Events"])
	params := asMap(loadTemplate(t)["Parameters"])
	for name, tc := range map[string]struct{ param, at, from, to string }{
		"Weekly":  {"ReportWeeklySchedule", "2026-11-30T06:00:00Z", "2026-11-23", "2026-11-30"},
		"Monthly": {"ReportMonthlySchedule", "2026-12-01T06:00:00Z", "2026-11-01", "2026-12-01"},
	} {
		p := asMap(asMap(events[name])["Properties"])
		if scalarString(p["ScheduleExpression"]) != scalarString(asMap(params[tc.param])["Default"]) || scalarString(p["ScheduleExpressionTimezone"]) != "UTC" {
			t.Errorf("%s: schedule %v", name, p["ScheduleExpression"])
		}
		if dlq := asMap(p["DeadLetterConfig"])["Arn"]; scalarString(dlq) != "{{ReportScheduleDeadLetterQueue.Arn}}" {
			t.Errorf("%s: dead-letter queue %v", name, dlq)
		}
		ev := strings.Replace(scalarString(p["Input"]), "<aws.scheduler.scheduled-time>", tc.at, 1)
		at, _ := time.Parse(time.RFC3339, tc.at)
		req, err := auditreport.Decode(json.RawMessage(ev), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), at)
		if err != nil {
			t.Fatalf("%s: %s: %v", name, ev, err)
		}
		if req.From.Format(time.DateOnly) != tc.from || req.To.Format(time.DateOnly) != tc.to {
			t.Errorf("%s at %s reports %s to %s, want %s to %s", name, tc.at, req.From, req.To, tc.from, tc.to)
		}
	}
	want := map[string]string{"weekly cron": "cron(0 6 ? * MON *)", "monthly cron": "cron(0 6 1 * ? *)"}
	if g := scalarString(asMap(params["ReportWeeklySchedule"])["Default"]); g != want["weekly cron"] {
		t.Errorf("weekly schedule %s", g)
	}
	if g := scalarString(asMap(params["ReportMonthlySchedule"])["Default"]); g != want["monthly cron"] {
		t.Errorf("monthly schedule %s", g)
	}
}
