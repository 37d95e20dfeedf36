package archive_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/session-audit/session-audit/internal/archive"
)

func TestFromSession(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		paris = time.FixedZone("CET", 3600)
	}
	exported := time.Date(2026, 11, 25, 1, 2, 3, 456_789_000, paris)
	origin := archive.Origin{AccountID: "123456789012", Region: "eu-west-3", ExportedAt: exported}
	exportedUTC := time.Date(2026, 11, 25, 0, 2, 3, 456_000_000, time.UTC)
	start := time.Date(2026, 11, 24, 10, 0, 0, 999_999_999, time.UTC)

	tests := []struct {
		name    string
		session types.Session
		want    archive.Row
	}{
		{
			name: "every field",
			session: types.Session{
				SessionId:          aws.String("alice-0123456789abcdef0"),
				Target:             aws.String("i-0123456789abcdef0"),
				Status:             types.SessionStatusTerminated,
				StartDate:          aws.Time(start),
				EndDate:            aws.Time(start.Add(90*time.Second + 500*time.Millisecond)),
				DocumentName:       aws.String("SSM-SessionManagerRunShell"),
				Owner:              aws.String("arn:aws:iam::123456789012:user/alice"),
				Reason:             aws.String("ticket \"OPS-1\"\nline two ✓"),
				Details:            aws.String("details"),
				OutputUrl:          &types.SessionManagerOutputUrl{S3OutputUrl: aws.String("s3://b/k"), CloudWatchOutputUrl: aws.String("https://cw/log")},
				MaxSessionDuration: aws.String("60"),
				AccessType:         types.AccessTypeStandard,
			},
			want: archive.Row{
				SessionID:           "alice-0123456789abcdef0",
				Target:              "i-0123456789abcdef0",
				Status:              "Terminated",
				StartDate:           time.Date(2026, 11, 24, 10, 0, 0, 999_000_000, time.UTC),
				EndDate:             ptr(time.Date(2026, 11, 24, 10, 1, 31, 499_000_000, time.UTC)),
				DocumentName:        "SSM-SessionManagerRunShell",
				Owner:               "arn:aws:iam::123456789012:user/alice",
				Reason:              "ticket \"OPS-1\"\nline two ✓",
				Details:             "details",
				S3OutputURL:         "s3://b/k",
				CloudWatchOutputURL: "https://cw/log",
				MaxSessionDuration:  "60",
				AccessType:          "Standard",
				DurationSeconds:     ptr(int64(90)),
				AccountID:           "123456789012",
				Region:              "eu-west-3",
				ExportedAt:          exportedUTC,
			},
		},
		{
			name:    "absent fields",
			session: types.Session{SessionId: aws.String("bob-1")},
			want: archive.Row{
				SessionID:  "bob-1",
				AccountID:  "123456789012",
				Region:     "eu-west-3",
				ExportedAt: exportedUTC,
			},
		},
		{
			name: "output url without members",
			session: types.Session{
				SessionId: aws.String("bob-2"),
				OutputUrl: &types.SessionManagerOutputUrl{},
			},
			want: archive.Row{SessionID: "bob-2", AccountID: "123456789012", Region: "eu-west-3", ExportedAt: exportedUTC},
		},
		{
			name: "running session: end nil, duration null",
			session: types.Session{
				SessionId: aws.String("carol-1"),
				Status:    types.SessionStatusConnected,
				StartDate: aws.Time(start),
			},
			want: archive.Row{
				SessionID:  "carol-1",
				Status:     "Connected",
				StartDate:  time.Date(2026, 11, 24, 10, 0, 0, 999_000_000, time.UTC),
				AccountID:  "123456789012",
				Region:     "eu-west-3",
				ExportedAt: exportedUTC,
			},
		},
		{
			name: "duration truncated to whole seconds",
			session: types.Session{
				SessionId: aws.String("dave-1"),
				StartDate: aws.Time(start),
				EndDate:   aws.Time(start.Add(59*time.Second + 999*time.Millisecond)),
			},
			want: archive.Row{
				SessionID:       "dave-1",
				StartDate:       time.Date(2026, 11, 24, 10, 0, 0, 999_000_000, time.UTC),
				EndDate:         ptr(time.Date(2026, 11, 24, 10, 1, 0, 998_000_000, time.UTC)),
				DurationSeconds: ptr(int64(59)),
				AccountID:       "123456789012",
				Region:          "eu-west-3",
				ExportedAt:      exportedUTC,
			},
		},
		{
			name: "zero duration",
			session: types.Session{
				SessionId: aws.String("dave-2"),
				StartDate: aws.Time(start),
				EndDate:   aws.Time(start),
			},
			want: archive.Row{
				SessionID:       "dave-2",
				StartDate:       time.Date(2026, 11, 24, 10, 0, 0, 999_000_000, time.UTC),
				EndDate:         ptr(time.Date(2026, 11, 24, 10, 0, 0, 999_000_000, time.UTC)),
				DurationSeconds: ptr(int64(0)),
				AccountID:       "123456789012",
				Region:          "eu-west-3",
				ExportedAt:      exportedUTC,
			},
		},
		{
			name: "end before start: end kept, duration null",
			session: types.Session{
				SessionId: aws.String("erin-1"),
				StartDate: aws.Time(start),
				EndDate:   aws.Time(start.Add(-time.Second)),
			},
			want: archive.Row{
				SessionID:  "erin-1",
				StartDate:  time.Date(2026, 11, 24, 10, 0, 0, 999_000_000, time.UTC),
				EndDate:    ptr(time.Date(2026, 11, 24, 9, 59, 59, 999_000_000, time.UTC)),
				AccountID:  "123456789012",
				Region:     "eu-west-3",
				ExportedAt: exportedUTC,
			},
		},
		{
			name: "end without start: duration null",
			session: types.Session{
				SessionId: aws.String("erin-2"),
				EndDate:   aws.Time(start),
			},
			want: archive.Row{
				SessionID:  "erin-2",
				EndDate:    ptr(time.Date(2026, 11, 24, 10, 0, 0, 999_000_000, time.UTC)),
				AccountID:  "123456789012",
				Region:     "eu-west-3",
				ExportedAt: exportedUTC,
			},
		},
		{
			name: "non-UTC zones become UTC, sub-millisecond truncated",
			session: types.Session{
				SessionId: aws.String("frank-1"),
				StartDate: aws.Time(time.Date(2026, 11, 24, 23, 30, 0, 123_456_789, time.FixedZone("+0530", 5*3600+1800))),
				EndDate:   aws.Time(time.Date(2026, 11, 24, 13, 0, 1, 999_999, time.FixedZone("-0500", -5*3600))),
			},
			want: archive.Row{
				SessionID:       "frank-1",
				StartDate:       time.Date(2026, 11, 24, 18, 0, 0, 123_000_000, time.UTC),
				EndDate:         ptr(time.Date(2026, 11, 24, 18, 0, 1, 0, time.UTC)),
				DurationSeconds: ptr(int64(0)),
				AccountID:       "123456789012",
				Region:          "eu-west-3",
				ExportedAt:      exportedUTC,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := archive.FromSession(tt.session, origin)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("FromSession:\n got %s\nwant %s", show(got), show(tt.want))
			}
			for name, tm := range map[string]*time.Time{"start_date": &got.StartDate, "end_date": got.EndDate, "exported_at": &got.ExportedAt} {
				if tm != nil && !tm.IsZero() && tm.Location() != time.UTC {
					t.Errorf("%s in %v, want UTC", name, tm.Location())
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// show renders a row with its pointers dereferenced, for failure messages.
func show(r archive.Row) string {
	end, dur := "<nil>", "<nil>"
	if r.EndDate != nil {
		end = r.EndDate.Format(time.RFC3339Nano)
	}
	if r.DurationSeconds != nil {
		dur = fmt.Sprint(*r.DurationSeconds)
	}
	r.EndDate, r.DurationSeconds = nil, nil
	return fmt.Sprintf("%+v EndDate=%s DurationSeconds=%s", r, end, dur)
}

func TestRowJSONHasNullsWhereParquetDoes(t *testing.T) {
	b, err := json.Marshal(archive.Row{SessionID: "s-1", Owner: "o"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"session_id":"s-1","target":null,"status":null,"start_date":null,"end_date":null,"document_name":null,"owner":"o","reason":null,"details":null,"s3_output_url":null,"cloudwatch_output_url":null,"max_session_duration":null,"access_type":null,"duration_seconds":null,"account_id":null,"region":null,"exported_at":null}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	var back archive.Row
	if err := json.Unmarshal(b, &back); err != nil || back.SessionID != "s-1" || back.Owner != "o" || back.Target != "" {
		t.Errorf("round trip: %+v %v", back, err)
	}
}
