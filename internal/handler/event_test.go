package handler_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/session-audit/session-audit/internal/handler"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name  string
		event string
		want  handler.Request
		err   string
	}{
		{name: "scheduler input", event: `{"time":"2026-11-25T00:05:00Z"}`,
			want: handler.Request{Kind: handler.KindScheduled, Time: time.Date(2026, 11, 25, 0, 5, 0, 0, time.UTC)}},
		{name: "scheduler time with offset is UTC", event: `{"time":"2026-11-25T02:05:00+02:00"}`,
			want: handler.Request{Kind: handler.KindScheduled, Time: time.Date(2026, 11, 25, 0, 5, 0, 0, time.UTC)}},
		{name: "eventbridge rule envelope", event: `{"version":"0","id":"53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012","time":"2026-11-25T00:05:00Z","region":"us-east-1","resources":["arn:aws:events:us-east-1:123456789012:rule/my-schedule"],"detail":{}}`,
			want: handler.Request{Kind: handler.KindScheduled, Time: time.Date(2026, 11, 25, 0, 5, 0, 0, time.UTC)}},
		{name: "backfill", event: `{"start":"2026-11-20T00:00:00Z","end":"2026-11-25T00:00:00Z"}`,
			want: handler.Request{Kind: handler.KindBackfill, Start: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)}},
		{name: "lookup", event: `{"sessionId":"alice-0123456789abcdef0"}`,
			want: handler.Request{Kind: handler.KindLookup, SessionID: "alice-0123456789abcdef0"}},
		{name: "malformed json", event: `{"time":`, err: "event is not valid JSON"},
		{name: "empty body", event: ``, err: "event is not valid JSON"},
		{name: "array", event: `[]`, err: "event is a JSON array; want a JSON object"},
		{name: "string", event: `"hello"`, err: "event is a JSON string"},
		{name: "null", event: `null`, err: "event is null"},
		{name: "trailing data", event: `{"time":"2026-11-25T00:05:00Z"} {}`, err: "data after its JSON object"},
		{name: "unknown shape", event: `{"foo":1}`, err: `event has none of "time"`},
		{name: "empty object", event: `{}`, err: "it has no fields"},
		{name: "time and backfill", event: `{"time":"2026-11-25T00:05:00Z","start":"2026-11-20T00:00:00Z","end":"2026-11-21T00:00:00Z"}`, err: "mixes"},
		{name: "backfill and lookup", event: `{"sessionId":"a","start":"2026-11-20T00:00:00Z"}`, err: "mixes"},
		{name: "bad time", event: `{"time":"2026-13-25T00:05:00Z"}`, err: `event field "time" is "2026-13-25T00:05:00Z"; want an RFC 3339 time`},
		{name: "time not a string", event: `{"time":1764028800}`, err: `event field "time" is 1764028800; want a string`},
		{name: "year 1", event: `{"time":"0001-01-01T00:00:00Z"}`, err: "between the years 2000 and 9999"},
		{name: "other detail type", event: `{"detail-type":"EC2 Instance State-change Notification","time":"2026-11-25T00:05:00Z"}`, err: `only "Scheduled Event"`},
		{name: "scheduler input with extra field", event: `{"time":"2026-11-25T00:05:00Z","dryRun":true}`, err: `unexpected field "dryRun"`},
		{name: "backfill missing end", event: `{"start":"2026-11-20T00:00:00Z"}`, err: `needs both "start" and "end"`},
		{name: "backfill end before start", event: `{"start":"2026-11-20T00:00:00Z","end":"2026-11-19T00:00:00Z"}`, err: "is not after"},
		{name: "backfill end equals start", event: `{"start":"2026-11-20T00:00:00Z","end":"2026-11-20T00:00:00Z"}`, err: "is not after"},
		{name: "backfill extra field", event: `{"start":"2026-11-20T00:00:00Z","end":"2026-11-21T00:00:00Z","slot":"1h"}`, err: `unexpected field "slot"`},
		{name: "empty session id", event: `{"sessionId":""}`, err: `"sessionId" is empty`},
		{name: "bad session id", event: `{"sessionId":"a b"}`, err: "is not a session id"},
		{name: "session id not a string", event: `{"sessionId":null}`, err: "want a string"},
		{name: "scheduled target", event: `{"time":"2026-11-25T00:05:00Z","account":"111122223333","region":"eu-west-1"}`,
			want: handler.Request{Kind: handler.KindScheduled, Time: time.Date(2026, 11, 25, 0, 5, 0, 0, time.UTC), Account: "111122223333", Region: "eu-west-1"}},
		{name: "backfill target", event: `{"start":"2026-11-20T00:00:00Z","end":"2026-11-21T00:00:00Z","account":"111122223333","region":"us-gov-west-1"}`,
			want: handler.Request{Kind: handler.KindBackfill, Start: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC), Account: "111122223333", Region: "us-gov-west-1"}},
		{name: "lookup target", event: `{"sessionId":"a-1","account":"111122223333","region":"ap-southeast-5"}`,
			want: handler.Request{Kind: handler.KindLookup, SessionID: "a-1", Account: "111122223333", Region: "ap-southeast-5"}},
		{name: "rule envelope keeps the function's own target", event: `{"detail-type":"Scheduled Event","source":"aws.events","account":"999988887777","region":"eu-west-3","time":"2026-11-25T00:05:00Z"}`,
			want: handler.Request{Kind: handler.KindScheduled, Time: time.Date(2026, 11, 25, 0, 5, 0, 0, time.UTC)}},
		{name: "account without region", event: `{"time":"2026-11-25T00:05:00Z","account":"111122223333"}`, err: `"account" without "region"`},
		{name: "region without account", event: `{"start":"2026-11-20T00:00:00Z","end":"2026-11-21T00:00:00Z","region":"eu-west-1"}`, err: `"region" without "account"`},
		{name: "account too short", event: `{"time":"2026-11-25T00:05:00Z","account":"11112222333","region":"eu-west-1"}`, err: `event field "account" is "11112222333"; want a 12-digit AWS account id`},
		{name: "account with letters", event: `{"sessionId":"a-1","account":"11112222333a","region":"eu-west-1"}`, err: `event field "account"`},
		{name: "account as a number", event: `{"time":"2026-11-25T00:05:00Z","account":111122223333,"region":"eu-west-1"}`, err: `event field "account" is 111122223333; want a string`},
		{name: "account with spaces", event: `{"time":"2026-11-25T00:05:00Z","account":" 111122223333","region":"eu-west-1"}`, err: `event field "account"`},
		{name: "region not a region", event: `{"time":"2026-11-25T00:05:00Z","account":"111122223333","region":"Europe"}`, err: `event field "region" is "Europe"; want an AWS region name`},
		{name: "region without number", event: `{"time":"2026-11-25T00:05:00Z","account":"111122223333","region":"eu-west"}`, err: `event field "region"`},
		{name: "region null", event: `{"time":"2026-11-25T00:05:00Z","account":"111122223333","region":null}`, err: `event field "region" is null; want a string`},
		{name: "region too long", event: `{"time":"2026-11-25T00:05:00Z","account":"111122223333","region":"eu-` + strings.Repeat("west-", 8) + `1"}`, err: `event field "region"`},
		{name: "target with an unknown field", event: `{"sessionId":"a-1","account":"111122223333","region":"eu-west-1","profile":"x"}`, err: `unexpected field "profile"`},
		{name: "huge event", event: `{"sessionId":"` + strings.Repeat("a", 70000) + `"}`, err: "at most"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := handler.Decode([]byte(tt.event))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Decode error = %v, want it to contain %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Decode = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestDecodeEventsFolder decodes every payload shipped for sam local invoke.
func TestDecodeEventsFolder(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "events", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("events/*.json: %v, %d files", err, len(files))
	}
	kinds := map[string]handler.Kind{
		"scheduled-rule.json": handler.KindScheduled, "scheduler.json": handler.KindScheduled,
		"backfill.json": handler.KindBackfill, "lookup.json": handler.KindLookup,
	}
	seen := 0
	for _, f := range files {
		want, ok := kinds[filepath.Base(f)]
		if !ok {
			continue
		}
		seen++
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := handler.Decode(body)
		if err != nil || got.Kind != want {
			t.Errorf("%s decodes to %+v, %v; want %s", f, got, err, want)
		}
	}
	if seen != len(kinds) {
		t.Errorf("found %d of the %d event files in events/", seen, len(kinds))
	}
}

// FuzzDecode checks that no input panics, that errors come without a
// request, and that what decodes is one well-formed request.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"time":"2026-11-25T00:05:00Z"}`, `{"start":"2026-11-20T00:00:00Z","end":"2026-11-25T00:00:00Z"}`,
		`{"sessionId":"a-1"}`, `{"detail-type":"Scheduled Event","time":"2026-11-25T00:05:00Z"}`, `[]`, `null`, `{`,
		`{"time":"2026-11-25T00:05:00Z","account":"111122223333","region":"eu-west-1"}`,
		`{"sessionId":"a-1","account":"111122223333","region":"us-gov-east-1"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := handler.Decode(b)
		if err != nil {
			if req != (handler.Request{}) {
				t.Fatalf("error %v came with request %+v", err, req)
			}
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
		if (req.Account == "") != (req.Region == "") || req.Account != "" && (len(req.Account) != 12 || strings.Trim(req.Account, "0123456789") != "") {
			t.Fatalf("request %+v names half a target or a malformed account", req)
		}
		switch req.Kind {
		case handler.KindScheduled:
			if req.Time.IsZero() || req.Time.Location() != time.UTC {
				t.Fatalf("scheduled request %+v", req)
			}
		case handler.KindBackfill:
			if !req.End.After(req.Start) {
				t.Fatalf("backfill request %+v", req)
			}
		case handler.KindLookup:
			if req.SessionID == "" || len(req.SessionID) > 96 {
				t.Fatalf("lookup request %+v", req)
			}
		default:
			t.Fatalf("request of unknown kind %+v", req)
		}
	})
}

func TestSelfOf(t *testing.T) {
	for _, tt := range []struct {
		arn  string
		want handler.Self
	}{
		{"arn:aws:lambda:eu-west-1:111122223333:function:audit", handler.Self{Partition: "aws", Account: "111122223333", Function: "audit"}},
		{"arn:aws-us-gov:lambda:us-gov-west-1:111122223333:function:audit-exporter:live", handler.Self{Partition: "aws-us-gov", Account: "111122223333", Function: "audit-exporter"}},
		{"arn:aws-cn:lambda:cn-north-1:111122223333:function:a_b", handler.Self{Partition: "aws-cn", Account: "111122223333", Function: "a_b"}},
	} {
		ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{InvokedFunctionArn: tt.arn})
		got, err := handler.SelfOf(ctx)
		if err != nil || got != tt.want {
			t.Errorf("SelfOf(%s) = %+v, %v; want %+v", tt.arn, got, err, tt.want)
		}
	}
	if _, err := handler.SelfOf(context.Background()); err == nil {
		t.Error("SelfOf without a Lambda context: no error")
	}
}
