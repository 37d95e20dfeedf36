package ssmfake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/session-audit/session-audit/internal/ssmfake"
)

// tieStart is the StartDate shared by the tie group of testServer.
var tieStart = t0.Add(-30*time.Hour + 123*time.Millisecond)

// testServer holds generated sessions over three days before t0, plus a
// group of 25 sessions sharing one StartDate to exercise tie ordering
// across page boundaries.
func testServer(tb testing.TB, opts ...ssmfake.Option) *ssmfake.Server {
	tb.Helper()
	srv := ssmfake.New(append([]ssmfake.Option{ssmfake.WithSessions(ssmfake.Generate(1, t0.Add(-72*time.Hour), t0, 3000))}, opts...)...)
	var ties []types.Session
	for i := range 25 {
		ties = append(ties, session(fmt.Sprintf("tie-%02d", (i*7)%25), tieStart, types.SessionStatusTerminated))
	}
	srv.Put(ties...)
	return srv
}

func TestPagingReturnsEverySessionInRangeOnce(t *testing.T) {
	srv := testServer(t)
	c := serve(t, srv)
	history := srv.Sessions("History")
	someOwner := aws.ToString(history[len(history)/2].Owner)
	someTarget := aws.ToString(history[len(history)/3].Target)
	someID := aws.ToString(history[len(history)/4].SessionId)

	tests := []struct {
		name    string
		state   types.SessionState
		max     *int32
		filters []types.SessionFilter
	}{
		{name: "history all default page", state: types.SessionStateHistory},
		{name: "history all 200", state: types.SessionStateHistory, max: aws.Int32(200)},
		{name: "active all 1", state: types.SessionStateActive, max: aws.Int32(1)},
		{name: "history one day 7", state: types.SessionStateHistory, max: aws.Int32(7), filters: []types.SessionFilter{
			filter(types.SessionFilterKeyInvokedAfter, rfc(t0.Add(-48*time.Hour))),
			filter(types.SessionFilterKeyInvokedBefore, rfc(t0.Add(-24*time.Hour))),
		}},
		{name: "ties only", state: types.SessionStateHistory, max: aws.Int32(7), filters: []types.SessionFilter{
			filter(types.SessionFilterKeyInvokedAfter, rfc(tieStart)),
			filter(types.SessionFilterKeyInvokedBefore, rfc(tieStart)),
		}},
		{name: "after only", state: types.SessionStateHistory, max: aws.Int32(50), filters: []types.SessionFilter{
			filter(types.SessionFilterKeyInvokedAfter, rfc(t0.Add(-10*time.Hour))),
		}},
		{name: "before only", state: types.SessionStateHistory, max: aws.Int32(50), filters: []types.SessionFilter{
			filter(types.SessionFilterKeyInvokedBefore, rfc(t0.Add(-60*time.Hour))),
		}},
		{name: "inverted range", state: types.SessionStateHistory, max: aws.Int32(50), filters: []types.SessionFilter{
			filter(types.SessionFilterKeyInvokedAfter, rfc(t0.Add(-10*time.Hour))),
			filter(types.SessionFilterKeyInvokedBefore, rfc(t0.Add(-20*time.Hour))),
		}},
		{name: "range before all data", state: types.SessionStateHistory, filters: []types.SessionFilter{
			filter(types.SessionFilterKeyInvokedBefore, "2020-01-01T00:00:00Z"),
		}},
		{name: "owner", state: types.SessionStateHistory, max: aws.Int32(100), filters: []types.SessionFilter{
			filter(types.SessionFilterKeyOwner, someOwner),
			filter(types.SessionFilterKeyInvokedAfter, rfc(t0.Add(-72*time.Hour))),
		}},
		{name: "failed on a target", state: types.SessionStateHistory, max: aws.Int32(200), filters: []types.SessionFilter{
			filter(types.SessionFilterKeyStatus, "Failed"),
			filter(types.SessionFilterKeyTargetId, someTarget),
		}},
		{name: "session id", state: types.SessionStateHistory, max: aws.Int32(200), filters: []types.SessionFilter{
			filter(types.SessionFilterKeySessionId, someID),
		}},
		{name: "just in time", state: types.SessionStateHistory, max: aws.Int32(200), filters: []types.SessionFilter{
			filter(types.SessionFilterKeyAccessType, "JustInTime"),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := pageAll(context.Background(), c, ssm.DescribeSessionsInput{State: tt.state, MaxResults: tt.max, Filters: tt.filters}, 10000)
			if err != nil {
				t.Fatal(err)
			}
			exp := want(srv, string(tt.state), tt.filters)
			got := res.ids()
			seen := map[string]bool{}
			for _, id := range got {
				if seen[id] {
					t.Fatalf("session %s returned twice", id)
				}
				seen[id] = true
			}
			if !equalStrings(got, exp) {
				t.Fatalf("got %d sessions, want %d (first got %v, first want %v)", len(got), len(exp), head(got), head(exp))
			}
			max := 20
			if tt.max != nil {
				max = int(*tt.max)
			}
			for i, p := range res.pages {
				if len(p.Sessions) > max {
					t.Errorf("page %d has %d sessions, more than MaxResults %d", i, len(p.Sessions), max)
				}
				last := i == len(res.pages)-1
				if last != (p.NextToken == nil) {
					t.Errorf("page %d of %d: NextToken %v", i, len(res.pages), p.NextToken)
				}
			}
		})
	}
}

func head(s []string) []string { return s[:min(len(s), 3)] }

func TestTimeFiltersAreInclusive(t *testing.T) {
	at := time.Date(2026, 11, 20, 10, 0, 0, 250_000_000, time.UTC)
	srv := ssmfake.New(ssmfake.WithSessions([]types.Session{
		session("before-1ms", at.Add(-time.Millisecond), types.SessionStatusTerminated),
		session("exact", at, types.SessionStatusTerminated),
		session("after-1ms", at.Add(time.Millisecond), types.SessionStatusTerminated),
	}))
	c := serve(t, srv)
	tests := []struct {
		name          string
		after, before string
		want          []string
	}{
		{"both bounds equal", rfc(at), rfc(at), []string{"exact"}},
		{"after is inclusive", rfc(at), "", []string{"after-1ms", "exact"}},
		{"before is inclusive", "", rfc(at), []string{"exact", "before-1ms"}},
		{"sub-millisecond after rounds up", rfc(at.Add(time.Microsecond)), "", []string{"after-1ms"}},
		{"sub-millisecond before rounds down", "", rfc(at.Add(time.Millisecond - time.Microsecond)), []string{"exact", "before-1ms"}},
		{"zone offset", at.In(time.FixedZone("x", 2*3600)).Format(time.RFC3339Nano), at.In(time.FixedZone("y", -5*3600)).Format(time.RFC3339Nano), []string{"exact"}},
		{"whole second bounds", "2026-11-20T10:00:00Z", "2026-11-20T10:00:01Z", []string{"after-1ms", "exact", "before-1ms"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fs []types.SessionFilter
			if tt.after != "" {
				fs = append(fs, filter(types.SessionFilterKeyInvokedAfter, tt.after))
			}
			if tt.before != "" {
				fs = append(fs, filter(types.SessionFilterKeyInvokedBefore, tt.before))
			}
			res, err := pageAll(context.Background(), c, ssm.DescribeSessionsInput{State: types.SessionStateHistory, Filters: fs}, 10)
			if err != nil {
				t.Fatal(err)
			}
			if got := res.ids(); !equalStrings(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// MaxResults is applied before the non-time filters: a page examines
// MaxResults sessions of the range and returns those that match.
func TestNonTimeFiltersGiveShortPagesWithToken(t *testing.T) {
	var ss []types.Session
	for i := range 100 {
		s := session(fmt.Sprintf("s-%03d", i), t0.Add(-time.Duration(i)*time.Minute), types.SessionStatusTerminated)
		if i%10 == 0 {
			s.Owner = aws.String("arn:aws:iam::123456789012:user/bob")
		}
		ss = append(ss, s)
	}
	srv := ssmfake.New(ssmfake.WithSessions(ss))
	c := serve(t, srv)
	fs := []types.SessionFilter{filter(types.SessionFilterKeyOwner, "arn:aws:iam::123456789012:user/bob")}

	res, err := pageAll(context.Background(), c, ssm.DescribeSessionsInput{State: types.SessionStateHistory, MaxResults: aws.Int32(5), Filters: fs}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.pages) != 20 {
		t.Errorf("got %d pages, want 20 (100 sessions, 5 examined per page)", len(res.pages))
	}
	var sizes []int
	for _, p := range res.pages {
		sizes = append(sizes, len(p.Sessions))
	}
	// Bob owns s-000, s-010, ...: pages 0, 2, 4... hold one, the others none.
	for i, n := range sizes {
		if wantN := 1 - i%2; n != wantN {
			t.Fatalf("page sizes %v: page %d has %d, want %d", sizes, i, n, wantN)
		}
		if i < len(sizes)-1 && res.pages[i].NextToken == nil {
			t.Fatalf("page %d is short and has no NextToken", i)
		}
	}
	if got := len(res.sessions); got != 10 {
		t.Errorf("got %d sessions, want 10", got)
	}
}

func TestErrorsSurfaceAsSDKErrors(t *testing.T) {
	srv := testServer(t)
	c := serve(t, srv)
	ctx := context.Background()

	var validation *types.ValidationException
	var invalidKey *types.InvalidFilterKey
	var invalidToken *types.InvalidNextToken
	tests := []struct {
		name   string
		in     ssm.DescribeSessionsInput
		target any
		code   string
	}{
		{"unknown state", ssm.DescribeSessionsInput{State: "Finished"}, &validation, "ValidationException"},
		{"MaxResults 0", ssm.DescribeSessionsInput{State: "History", MaxResults: aws.Int32(0)}, &validation, "ValidationException"},
		{"MaxResults -1", ssm.DescribeSessionsInput{State: "History", MaxResults: aws.Int32(-1)}, &validation, "ValidationException"},
		{"MaxResults 201", ssm.DescribeSessionsInput{State: "History", MaxResults: aws.Int32(201)}, &validation, "ValidationException"},
		{"unknown filter key", ssm.DescribeSessionsInput{State: "History", Filters: []types.SessionFilter{filter("Region", "us-east-1")}}, &invalidKey, "InvalidFilterKey"},
		{"lowercase filter key", ssm.DescribeSessionsInput{State: "History", Filters: []types.SessionFilter{filter("owner", "x")}}, &invalidKey, "InvalidFilterKey"},
		{"unparsable date", ssm.DescribeSessionsInput{State: "History", Filters: []types.SessionFilter{filter(types.SessionFilterKeyInvokedAfter, "yesterday")}}, &validation, "ValidationException"},
		{"date without zone", ssm.DescribeSessionsInput{State: "History", Filters: []types.SessionFilter{filter(types.SessionFilterKeyInvokedBefore, "2026-11-24T00:00:00")}}, &validation, "ValidationException"},
		{"duplicate key", ssm.DescribeSessionsInput{State: "History", Filters: []types.SessionFilter{
			filter(types.SessionFilterKeyOwner, "a"), filter(types.SessionFilterKeyOwner, "b")}}, &validation, "ValidationException"},
		{"empty value", ssm.DescribeSessionsInput{State: "History", Filters: []types.SessionFilter{filter(types.SessionFilterKeyOwner, "")}}, &validation, "ValidationException"},
		{"value too long", ssm.DescribeSessionsInput{State: "History", Filters: []types.SessionFilter{filter(types.SessionFilterKeyOwner, strings.Repeat("x", 401))}}, &validation, "ValidationException"},
		{"empty filter list", ssm.DescribeSessionsInput{State: "History", Filters: []types.SessionFilter{}}, &validation, "ValidationException"},
		{"seven filters", ssm.DescribeSessionsInput{State: "History", Filters: []types.SessionFilter{
			filter(types.SessionFilterKeyInvokedAfter, "2026-11-01T00:00:00Z"), filter(types.SessionFilterKeyInvokedBefore, "2026-11-30T00:00:00Z"),
			filter(types.SessionFilterKeyTargetId, "i-0"), filter(types.SessionFilterKeyOwner, "o"), filter(types.SessionFilterKeyStatus, "Terminated"),
			filter(types.SessionFilterKeySessionId, "s"), filter(types.SessionFilterKeyAccessType, "Standard")}}, &validation, "ValidationException"},
		{"garbage token", ssm.DescribeSessionsInput{State: "History", NextToken: aws.String("not-a-token")}, &invalidToken, "InvalidNextToken"},
		{"base64 garbage token", ssm.DescribeSessionsInput{State: "History", NextToken: aws.String("AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")}, &invalidToken, "InvalidNextToken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.DescribeSessions(ctx, &tt.in)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.As(err, tt.target) {
				t.Fatalf("error %T %v is not %T", err, err, tt.target)
			}
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tt.code {
				t.Fatalf("error code of %v is not %s", err, tt.code)
			}
			if ae.ErrorFault() != smithy.FaultClient {
				t.Errorf("fault %v, want client", ae.ErrorFault())
			}
			var re *awshttp.ResponseError
			if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusBadRequest {
				t.Errorf("HTTP status of %v is not 400", err)
			}
		})
	}
}

func TestNextTokenIsBoundToServerAndRequest(t *testing.T) {
	srv := testServer(t)
	c := serve(t, srv)
	ctx := context.Background()
	after := filter(types.SessionFilterKeyInvokedAfter, rfc(t0.Add(-48*time.Hour)))
	in := ssm.DescribeSessionsInput{State: "History", MaxResults: aws.Int32(10), Filters: []types.SessionFilter{after}}
	first, err := c.DescribeSessions(ctx, &in)
	if err != nil {
		t.Fatal(err)
	}
	if first.NextToken == nil {
		t.Fatal("no NextToken on a first page of many")
	}
	tok := *first.NextToken

	other := serve(t, testServer(t))
	tests := []struct {
		name   string
		client *ssm.Client
		in     ssm.DescribeSessionsInput
		ok     bool
	}{
		{"same request", c, in, true},
		{"same request, other MaxResults", c, ssm.DescribeSessionsInput{State: "History", MaxResults: aws.Int32(3), Filters: in.Filters}, true},
		{"other state", c, ssm.DescribeSessionsInput{State: "Active", MaxResults: aws.Int32(10), Filters: in.Filters}, false},
		{"no filters", c, ssm.DescribeSessionsInput{State: "History", MaxResults: aws.Int32(10)}, false},
		{"other filter value", c, ssm.DescribeSessionsInput{State: "History", MaxResults: aws.Int32(10), Filters: []types.SessionFilter{
			filter(types.SessionFilterKeyInvokedAfter, rfc(t0.Add(-47*time.Hour)))}}, false},
		{"extra filter", c, ssm.DescribeSessionsInput{State: "History", MaxResults: aws.Int32(10), Filters: []types.SessionFilter{
			after, filter(types.SessionFilterKeyStatus, "Terminated")}}, false},
		{"other server", other, in, false},
		{"tampered", c, ssm.DescribeSessionsInput{State: "History", MaxResults: aws.Int32(10), Filters: in.Filters, NextToken: aws.String(tamper(tok))}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.in.NextToken == nil {
				tt.in.NextToken = aws.String(tok)
			}
			out, err := tt.client.DescribeSessions(ctx, &tt.in)
			var invalid *types.InvalidNextToken
			switch {
			case tt.ok && err != nil:
				t.Fatal(err)
			case tt.ok && aws.ToString(out.Sessions[0].SessionId) == aws.ToString(first.Sessions[0].SessionId):
				t.Fatal("the token restarted the listing")
			case !tt.ok && !errors.As(err, &invalid):
				t.Fatalf("got %v, want InvalidNextToken", err)
			}
		})
	}

	// Filter order does not matter; the token is bound to the set.
	in2 := ssm.DescribeSessionsInput{State: "History", MaxResults: aws.Int32(10), Filters: []types.SessionFilter{
		filter(types.SessionFilterKeyStatus, "Terminated"), after}}
	p1, err := c.DescribeSessions(ctx, &in2)
	if err != nil {
		t.Fatal(err)
	}
	in2.Filters = []types.SessionFilter{after, filter(types.SessionFilterKeyStatus, "Terminated")}
	in2.NextToken = p1.NextToken
	if _, err := c.DescribeSessions(ctx, &in2); err != nil {
		t.Fatalf("token rejected after reordering filters: %v", err)
	}

	// An empty NextToken is no token.
	out, err := c.DescribeSessions(ctx, &ssm.DescribeSessionsInput{State: "History", MaxResults: aws.Int32(10), Filters: in.Filters, NextToken: aws.String("")})
	if err != nil || aws.ToString(out.Sessions[0].SessionId) != aws.ToString(first.Sessions[0].SessionId) {
		t.Fatalf("empty token: %v", err)
	}
}

// tamper flips one character in the middle of a token.
func tamper(tok string) string {
	b := []byte(tok)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func TestPagingIsStableWhileSessionsChange(t *testing.T) {
	var ss []types.Session
	for i := range 100 {
		ss = append(ss, session(fmt.Sprintf("h-%03d", i), t0.Add(-time.Duration(i+1)*time.Hour), types.SessionStatusTerminated))
	}
	active := session("moving", t0.Add(-80*time.Hour-30*time.Minute), types.SessionStatusConnected)
	srv := ssmfake.New(ssmfake.WithSessions(append(ss, active)))
	c := serve(t, srv)
	ctx := context.Background()
	in := ssm.DescribeSessionsInput{State: "History", MaxResults: aws.Int32(10)}

	var got []string
	for range 3 {
		out, err := c.DescribeSessions(ctx, &in)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range out.Sessions {
			got = append(got, aws.ToString(s.SessionId))
		}
		in.NextToken = out.NextToken
	}
	cut := got[len(got)-1]

	// Between pages: newer sessions (not to be seen), older ones (to be
	// seen), a session moving from Active to History, a deletion ahead,
	// and the deletion of the session the token points after.
	moved := active
	moved.Status = types.SessionStatusTerminated
	moved.EndDate = aws.Time(t0)
	srv.Put(
		session("newest", t0.Add(-time.Minute), types.SessionStatusTerminated),
		session("new-in-served-part", t0.Add(-5*time.Hour-30*time.Minute), types.SessionStatusTerminated),
		session("new-ahead", t0.Add(-50*time.Hour-30*time.Minute), types.SessionStatusTerminated),
		session("oldest", t0.Add(-200*time.Hour), types.SessionStatusTerminated),
		moved,
	)
	srv.Delete("h-060", cut)

	for in.NextToken != nil {
		out, err := c.DescribeSessions(ctx, &in)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range out.Sessions {
			got = append(got, aws.ToString(s.SessionId))
		}
		in.NextToken = out.NextToken
	}
	seen := map[string]int{}
	for _, id := range got {
		seen[id]++
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("%s returned %d times", id, n)
		}
	}
	for _, id := range []string{"new-ahead", "oldest", "moving", "h-099", "h-030"} {
		if seen[id] != 1 {
			t.Errorf("%s not returned", id)
		}
	}
	for _, id := range []string{"newest", "new-in-served-part", "h-060"} {
		if seen[id] != 0 {
			t.Errorf("%s returned", id)
		}
	}
	// h-000..h-099 without h-060 (cut was served before its deletion),
	// plus new-ahead, oldest and moving.
	if want := 100 - 1 + 3; len(got) != want {
		t.Errorf("got %d sessions, want %d", len(got), want)
	}
}

func TestPutDeleteSessions(t *testing.T) {
	srv := ssmfake.New()
	start := t0.Add(-time.Hour)

	s := session("alice-0a1b2c3d4e5f67890", start, types.SessionStatusConnected)
	srv.Put(s, types.Session{Status: types.SessionStatusTerminated}) // no SessionId: ignored
	if n := len(srv.Sessions("Active")); n != 1 {
		t.Fatalf("%d active sessions, want 1", n)
	}
	// The server keeps its own copy.
	*s.Owner = "changed"
	if got := aws.ToString(srv.Sessions("Active")[0].Owner); got == "changed" {
		t.Fatal("Put kept the caller's pointer")
	}
	// Sessions returns copies.
	*srv.Sessions("Active")[0].Target = "changed"
	if got := aws.ToString(srv.Sessions("Active")[0].Target); got == "changed" {
		t.Fatal("Sessions returned the server's own pointer")
	}

	// Upsert moves it to History; the last of duplicates wins.
	done := session("alice-0a1b2c3d4e5f67890", start, types.SessionStatusTerminated)
	failed := session("alice-0a1b2c3d4e5f67890", start, types.SessionStatusFailed)
	srv.Put(done, failed)
	if n := len(srv.Sessions("Active")); n != 0 {
		t.Fatalf("%d active sessions after termination, want 0", n)
	}
	h := srv.Sessions("History")
	if len(h) != 1 || h[0].Status != types.SessionStatusFailed {
		t.Fatalf("history %+v, want the Failed session", h)
	}

	// Millisecond precision.
	srv.Put(session("precise", time.Date(2026, 1, 2, 3, 4, 5, 678_901_234, time.UTC), types.SessionStatusTerminated))
	for _, s := range srv.Sessions("History") {
		if aws.ToString(s.SessionId) == "precise" && s.StartDate.Nanosecond() != 678_000_000 {
			t.Errorf("StartDate %v, want millisecond precision", s.StartDate)
		}
	}

	// A session without StartDate is served last and no time filter
	// selects it.
	srv.Put(types.Session{SessionId: aws.String("undated"), Status: types.SessionStatusTerminated})
	c := serve(t, srv)
	all, err := pageAll(context.Background(), c, ssm.DescribeSessionsInput{State: "History"}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if ids := all.ids(); len(ids) != 3 || ids[2] != "undated" || all.sessions[2].StartDate != nil {
		t.Errorf("History %v, want the undated session last and without StartDate", ids)
	}
	for _, f := range []types.SessionFilter{
		filter(types.SessionFilterKeyInvokedBefore, "2030-01-01T00:00:00Z"),
		filter(types.SessionFilterKeyInvokedAfter, "2020-01-01T00:00:00Z"),
	} {
		res, err := pageAll(context.Background(), c, ssm.DescribeSessionsInput{State: "History", Filters: []types.SessionFilter{f}}, 5)
		if err != nil {
			t.Fatal(err)
		}
		if ids := res.ids(); len(ids) != 2 || ids[1] == "undated" {
			t.Errorf("%s selects %v", f.Key, ids)
		}
	}

	srv.Delete("alice-0a1b2c3d4e5f67890", "unknown", "undated")
	if h := srv.Sessions("History"); len(h) != 1 {
		t.Fatalf("history %d after delete, want 1", len(h))
	}
	if srv.Sessions("Bogus") != nil {
		t.Error("Sessions of an unknown state is not nil")
	}
}

func TestBulkUpsertKeepsOrder(t *testing.T) {
	gen := ssmfake.Generate(5, t0.Add(-24*time.Hour), t0, 2000)
	srv := ssmfake.New(ssmfake.WithSessions(gen))
	// Large batch: terminate every Active session and move half the rest.
	var upd []types.Session
	for i, s := range gen {
		if s.EndDate == nil || i%2 == 0 {
			s.Status = types.SessionStatusTerminated
			s.StartDate = aws.Time(s.StartDate.Add(-time.Duration(i) * time.Second))
			s.EndDate = aws.Time(s.StartDate.Add(time.Minute))
			upd = append(upd, s)
		}
	}
	srv.Put(upd...)
	// Small batch and a small delete.
	srv.Put(session("x-1", t0.Add(-time.Hour), types.SessionStatusConnected), session("x-2", t0.Add(-2*time.Hour), types.SessionStatusTerminated))
	srv.Delete(aws.ToString(gen[1].SessionId), aws.ToString(gen[3].SessionId))
	// Large delete.
	var del []string
	for i := 100; i < 200; i++ {
		del = append(del, aws.ToString(gen[i].SessionId))
	}
	srv.Delete(del...)

	seen := map[string]bool{}
	for _, state := range []string{"Active", "History"} {
		ss := srv.Sessions(state)
		for i, s := range ss {
			id := aws.ToString(s.SessionId)
			if seen[id] {
				t.Fatalf("%s stored twice", id)
			}
			seen[id] = true
			if i > 0 {
				p := ss[i-1]
				if p.StartDate.Before(*s.StartDate) || p.StartDate.Equal(*s.StartDate) && aws.ToString(p.SessionId) > id {
					t.Fatalf("%s: %s before %s out of order", state, aws.ToString(p.SessionId), id)
				}
			}
			if (state == "Active") != (s.EndDate == nil && s.Status != types.SessionStatusFailed) {
				t.Fatalf("%s in %s with status %s", id, state, s.Status)
			}
		}
	}
	if want := 2000 + 2 - 2 - 100; len(seen) != want {
		t.Fatalf("%d sessions stored, want %d", len(seen), want)
	}
}

func TestCallsAreRecorded(t *testing.T) {
	srv := testServer(t)
	c := serve(t, srv)
	ctx := context.Background()
	in := ssm.DescribeSessionsInput{State: "History", MaxResults: aws.Int32(3), Filters: []types.SessionFilter{
		filter(types.SessionFilterKeyInvokedAfter, "2026-11-22T00:00:00Z")}}
	out, err := c.DescribeSessions(ctx, &in)
	if err != nil {
		t.Fatal(err)
	}
	in.NextToken = out.NextToken
	if _, err := c.DescribeSessions(ctx, &in); err != nil {
		t.Fatal(err)
	}
	_, _ = c.DescribeSessions(ctx, &ssm.DescribeSessionsInput{State: "History", NextToken: aws.String("bad")})

	calls := srv.Calls()
	if len(calls) != 3 {
		t.Fatalf("%d calls, want 3", len(calls))
	}
	c0 := calls[0]
	if c0.Operation != "AmazonSSM.DescribeSessions" || c0.State != "History" || c0.MaxResults != 3 || c0.NextToken != "" ||
		!reflect.DeepEqual(c0.Filters, map[string]string{"InvokedAfter": "2026-11-22T00:00:00Z"}) ||
		c0.ErrorCode != "" || c0.HTTPStatus != 200 || c0.ReturnedNextToken != aws.ToString(out.NextToken) {
		t.Errorf("first call recorded as %+v", c0)
	}
	if !reflect.DeepEqual(c0.Sessions, out.Sessions) {
		t.Errorf("recorded sessions differ from the answered ones")
	}
	if calls[1].NextToken != aws.ToString(out.NextToken) {
		t.Errorf("second call's token %q", calls[1].NextToken)
	}
	if calls[2].ErrorCode != "InvalidNextToken" || calls[2].HTTPStatus != 400 || calls[2].Sessions != nil {
		t.Errorf("third call recorded as %+v", calls[2])
	}
	srv.ResetCalls()
	if n := len(srv.Calls()); n != 0 {
		t.Errorf("%d calls after ResetCalls", n)
	}
}

// Requests the SDK cannot send, sent raw.
func TestRawRequests(t *testing.T) {
	srv := testServer(t)
	hs := httptest.NewServer(srv)
	defer hs.Close()

	tests := []struct {
		name        string
		method      string
		target      string
		contentType string
		body        string
		status      int
		code        string
	}{
		{"ok", "POST", "AmazonSSM.DescribeSessions", "application/x-amz-json-1.1", `{"State":"History","MaxResults":2}`, 200, ""},
		{"unknown operation", "POST", "AmazonSSM.GetParameter", "application/x-amz-json-1.1", `{"Name":"x"}`, 400, "UnknownOperationException"},
		{"no target", "POST", "", "application/x-amz-json-1.1", `{}`, 400, "UnknownOperationException"},
		{"GET", "GET", "AmazonSSM.DescribeSessions", "application/x-amz-json-1.1", ``, 400, "UnknownOperationException"},
		{"wrong content type", "POST", "AmazonSSM.DescribeSessions", "text/plain", `{"State":"History"}`, 400, "UnknownOperationException"},
		{"malformed JSON", "POST", "AmazonSSM.DescribeSessions", "application/x-amz-json-1.1", `{"State":"History"`, 400, "ValidationException"},
		{"not an object", "POST", "AmazonSSM.DescribeSessions", "application/x-amz-json-1.1", `["History"]`, 400, "ValidationException"},
		{"missing state", "POST", "AmazonSSM.DescribeSessions", "application/x-amz-json-1.1", `{"MaxResults":5}`, 400, "ValidationException"},
		{"empty body", "POST", "AmazonSSM.DescribeSessions", "application/x-amz-json-1.1", ``, 400, "ValidationException"},
		{"lowercase member name", "POST", "AmazonSSM.DescribeSessions", "application/x-amz-json-1.1", `{"state":"History"}`, 400, "ValidationException"},
		{"MaxResults as string", "POST", "AmazonSSM.DescribeSessions", "application/x-amz-json-1.1", `{"State":"History","MaxResults":"5"}`, 400, "ValidationException"},
		{"MaxResults fractional", "POST", "AmazonSSM.DescribeSessions", "application/x-amz-json-1.1", `{"State":"History","MaxResults":1.5}`, 400, "ValidationException"},
		{"filter without value", "POST", "AmazonSSM.DescribeSessions", "application/x-amz-json-1.1", `{"State":"History","Filters":[{"key":"Owner"}]}`, 400, "ValidationException"},
		{"filter members capitalised", "POST", "AmazonSSM.DescribeSessions", "application/x-amz-json-1.1", `{"State":"History","Filters":[{"Key":"Owner","Value":"x"}]}`, 400, "ValidationException"},
		{"null members are absent", "POST", "AmazonSSM.DescribeSessions", "application/x-amz-json-1.1", `{"State":"Active","MaxResults":null,"NextToken":null,"Filters":null,"Extra":1}`, 200, ""},
		{"JSON 1.0 content type", "POST", "AmazonSSM.DescribeSessions", "application/x-amz-json-1.0", `{"State":"History","MaxResults":1}`, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, hs.URL+"/", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.target != "" {
				req.Header.Set("X-Amz-Target", tt.target)
			}
			req.Header.Set("Content-Type", tt.contentType)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
				t.Errorf("Content-Type %q", ct)
			}
			if resp.Header.Get("X-Amzn-Requestid") == "" {
				t.Error("no request id")
			}
			var e struct {
				Type    string `json:"__type"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			if e.Type != tt.code || resp.Header.Get("X-Amzn-ErrorType") != tt.code {
				t.Fatalf("__type %q, header %q, want %q", e.Type, resp.Header.Get("X-Amzn-ErrorType"), tt.code)
			}
			if tt.code != "" && e.Message == "" {
				t.Error("error without message")
			}
		})
	}

	// The SDK sees an unknown operation as an API error with that code.
	_, err := newClient(hs.URL).GetParameter(context.Background(), &ssm.GetParameterInput{Name: aws.String("x")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "UnknownOperationException" {
		t.Errorf("GetParameter: %v", err)
	}
}

func TestWireFormat(t *testing.T) {
	start := time.Date(2026, 11, 23, 10, 11, 12, 345_000_000, time.UTC)
	full := types.Session{
		SessionId: aws.String("bob@example.com-0123456789abcdef0"), Target: aws.String("mi-0123456789abcdef0"),
		Status: types.SessionStatusTerminated, StartDate: aws.Time(start), EndDate: aws.Time(start.Add(90*time.Second + 5*time.Millisecond)),
		DocumentName: aws.String("AWS-StartSSHSession"), Owner: aws.String("arn:aws:iam::123456789012:root"),
		Reason: aws.String("quote \" backslash \\ newline \n tab \t ctrl \x01 ü 🚀"), Details: aws.String(""),
		OutputUrl:          &types.SessionManagerOutputUrl{S3OutputUrl: aws.String("s3://b/k"), CloudWatchOutputUrl: aws.String("cw")},
		MaxSessionDuration: aws.String("60"), AccessType: types.AccessTypeJustintime,
	}
	bare := types.Session{SessionId: aws.String("bare-0123456789abcdef0"), StartDate: aws.Time(start.Add(-time.Hour)), Status: types.SessionStatusFailed}
	old := types.Session{SessionId: aws.String("old"), StartDate: aws.Time(time.Date(1969, 12, 31, 23, 59, 59, 999_000_000, time.UTC)), Status: types.SessionStatusTerminated}
	srv := ssmfake.New(ssmfake.WithSessions([]types.Session{full, bare, old}))
	hs := httptest.NewServer(srv)
	defer hs.Close()

	post := func(body string) []byte {
		req, err := http.NewRequest("POST", hs.URL, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Amz-Target", "AmazonSSM.DescribeSessions")
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return b
	}
	body := post(`{"State":"History","MaxResults":2}`)
	var raw struct {
		NextToken *string
		Sessions  []map[string]json.RawMessage
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	if raw.NextToken == nil || len(raw.Sessions) != 2 {
		t.Fatalf("first page %s", body)
	}
	if got := string(raw.Sessions[0]["StartDate"]); got != "1795428672.345" {
		t.Errorf("StartDate %s, want 1795428672.345", got)
	}
	if got := string(raw.Sessions[0]["EndDate"]); got != "1795428762.350" {
		t.Errorf("EndDate %s, want 1795428762.350", got)
	}
	if got := string(raw.Sessions[0]["Details"]); got != `""` {
		t.Errorf("empty Details %s, want present and empty", got)
	}
	wantMembers := "AccessType Details DocumentName EndDate MaxSessionDuration OutputUrl Owner Reason SessionId StartDate Status Target"
	if got := keys(raw.Sessions[0]); got != wantMembers {
		t.Errorf("members %s, want %s", got, wantMembers)
	}
	if got := keys(raw.Sessions[1]); got != "SessionId StartDate Status" {
		t.Errorf("bare session members %s", got)
	}
	last := post(fmt.Sprintf(`{"State":"History","MaxResults":2,"NextToken":%q}`, *raw.NextToken))
	if bytes.Contains(last, []byte("NextToken")) {
		t.Errorf("last page carries a NextToken: %s", last)
	}
	if !bytes.Contains(last, []byte(`"StartDate":-0.001`)) {
		t.Errorf("pre-1970 StartDate: %s", last)
	}
	if got := post(`{"State":"Active"}`); string(got) != `{"Sessions":[]}` {
		t.Errorf("empty answer %s", got)
	}

	// The SDK reads every member back exactly.
	res, err := pageAll(context.Background(), newClient(hs.URL), ssm.DescribeSessionsInput{State: "History"}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.sessions, []types.Session{full, bare, old}) {
		t.Errorf("SDK read\n%s\nwant\n%s", dump(res.sessions), dump([]types.Session{full, bare, old}))
	}
}

func keys(m map[string]json.RawMessage) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slicesSort(ks)
	return strings.Join(ks, " ")
}

func slicesSort(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func dump(ss []types.Session) string {
	b, _ := json.MarshalIndent(ss, "", " ")
	return string(b)
}

func TestThrottleAndFailAreDeterministic(t *testing.T) {
	srv := testServer(t, ssmfake.WithFaults(ssmfake.Faults{ThrottleEvery: 3, FailEvery: 4}))
	c := serve(t, srv)
	ctx := context.Background()
	in := ssm.DescribeSessionsInput{State: "History", MaxResults: aws.Int32(1)}
	var pattern []string
	for range 12 {
		_, err := c.DescribeSessions(ctx, &in)
		pattern = append(pattern, classify(t, err))
	}
	want := "ok ok throttle fail ok throttle ok fail throttle ok ok throttle"
	if got := strings.Join(pattern, " "); got != want {
		t.Fatalf("pattern %s, want %s", got, want)
	}

	// ThrottleRate: the same seed gives the same calls throttled, also
	// after SetFaults restarts the sequence.
	rate := func(srv *ssmfake.Server, c *ssm.Client) string {
		srv.SetFaults(ssmfake.Faults{ThrottleRate: 0.3, Seed: 7})
		var p []string
		for range 40 {
			_, err := c.DescribeSessions(ctx, &in)
			p = append(p, classify(t, err))
		}
		return strings.Join(p, " ")
	}
	a := rate(srv, c)
	srv2 := testServer(t)
	if b := rate(srv2, serve(t, srv2)); a != b {
		t.Fatalf("same seed, different throttling:\n%s\n%s", a, b)
	}
	if b := rate(srv, c); a != b {
		t.Fatalf("SetFaults did not restart the sequence:\n%s\n%s", a, b)
	}
	if n := strings.Count(a, "throttle"); n == 0 || n == 40 {
		t.Fatalf("%d of 40 calls throttled at rate 0.3", n)
	}
	srv.SetFaults(ssmfake.Faults{ThrottleRate: 0.3, Seed: 8})
	var p []string
	for range 40 {
		_, err := c.DescribeSessions(ctx, &in)
		p = append(p, classify(t, err))
	}
	if strings.Join(p, " ") == a {
		t.Error("another seed throttles the same calls")
	}
}

// classify names the outcome of a call and checks that the SDK's retryer
// sees throttling as throttling and internal errors as retryable.
func classify(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return "ok"
	}
	var ae smithy.APIError
	var re *awshttp.ResponseError
	if !errors.As(err, &ae) || !errors.As(err, &re) {
		t.Fatalf("unexpected error %v", err)
	}
	var ise *types.InternalServerError
	switch {
	case ae.ErrorCode() == "ThrottlingException" && re.HTTPStatusCode() == 400:
		if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) != aws.TrueTernary {
			t.Errorf("the SDK does not see %v as throttling", err)
		}
		return "throttle"
	case errors.As(err, &ise) && re.HTTPStatusCode() == 500:
		if retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) != aws.TrueTernary {
			t.Errorf("the SDK does not see %v as retryable", err)
		}
		if ae.ErrorFault() != smithy.FaultServer {
			t.Errorf("fault %v, want server", ae.ErrorFault())
		}
		return "fail"
	}
	t.Fatalf("unexpected error %v", err)
	return ""
}

func TestSDKRetriesThroughFaults(t *testing.T) {
	srv := testServer(t, ssmfake.WithFaults(ssmfake.Faults{ThrottleEvery: 3, FailEvery: 5, ShortPages: true, Seed: 3}))
	c := serve(t, srv, func(o *ssm.Options) {
		o.RetryMaxAttempts = 5
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = 5
			so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			so.RateLimiter = ratelimit.None
		})
	})
	fs := []types.SessionFilter{filter(types.SessionFilterKeyInvokedAfter, rfc(t0.Add(-12*time.Hour)))}
	res, err := pageAll(context.Background(), c, ssm.DescribeSessionsInput{State: "History", MaxResults: aws.Int32(50), Filters: fs}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if !equalStrings(res.ids(), want(srv, "History", fs)) {
		t.Fatal("paging through faults lost or duplicated sessions")
	}
	var faults int
	for _, call := range srv.Calls() {
		if call.ErrorCode != "" {
			faults++
		}
	}
	if faults == 0 || len(srv.Calls()) != len(res.pages)+faults {
		t.Errorf("%d calls for %d pages and %d faults", len(srv.Calls()), len(res.pages), faults)
	}
}

func TestShortPagesAreDeterministicAndComplete(t *testing.T) {
	sizes := func() ([]int, bool) {
		srv := testServer(t, ssmfake.WithFaults(ssmfake.Faults{ShortPages: true, Seed: 11}))
		c := serve(t, srv)
		fs := []types.SessionFilter{filter(types.SessionFilterKeyInvokedAfter, rfc(t0.Add(-24*time.Hour)))}
		res, err := pageAll(context.Background(), c, ssm.DescribeSessionsInput{State: "History", MaxResults: aws.Int32(20), Filters: fs}, 10000)
		if err != nil {
			t.Fatal(err)
		}
		var out []int
		empty := false
		for i, p := range res.pages {
			out = append(out, len(p.Sessions))
			if len(p.Sessions) == 0 && i < len(res.pages)-1 {
				empty = true
			}
		}
		if !equalStrings(res.ids(), want(srv, "History", fs)) {
			t.Fatal("short pages lost or duplicated sessions")
		}
		return out, empty
	}
	a, empty := sizes()
	b, _ := sizes()
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("page sizes differ for one seed:\n%v\n%v", a, b)
	}
	short := 0
	for _, n := range a[:len(a)-1] {
		if n < 20 {
			short++
		}
	}
	if short == 0 || !empty {
		t.Errorf("page sizes %v: want short and empty pages", a)
	}
}

func TestLatencyHonoursContext(t *testing.T) {
	srv := testServer(t, ssmfake.WithFaults(ssmfake.Faults{Latency: time.Hour}))
	c := serve(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.DescribeSessions(ctx, &ssm.DescribeSessionsInput{State: "History"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the context's deadline", err)
	}

	// The handler itself returns once the request's context ends, and
	// records the call as cancelled.
	srv.ResetCalls()
	rctx, rcancel := context.WithCancel(context.Background())
	req := httptest.NewRequestWithContext(rctx, "POST", "/", strings.NewReader(`{"State":"History"}`))
	req.Header.Set("X-Amz-Target", "AmazonSSM.DescribeSessions")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() { srv.ServeHTTP(rec, req); close(done) }()
	rcancel()
	<-done
	if rec.Body.Len() != 0 {
		t.Errorf("answered a cancelled request: %s", rec.Body)
	}
	calls := srv.Calls()
	if len(calls) != 1 || calls[0].ErrorCode != "RequestCanceled" || calls[0].HTTPStatus != 0 {
		t.Errorf("calls %+v", calls)
	}

	// A short latency still answers.
	srv.SetFaults(ssmfake.Faults{Latency: time.Millisecond})
	if _, err := c.DescribeSessions(context.Background(), &ssm.DescribeSessionsInput{State: "History"}); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentUse(t *testing.T) {
	srv := testServer(t)
	c := serve(t, srv)
	fs := []types.SessionFilter{filter(types.SessionFilterKeyInvokedAfter, rfc(t0.Add(-6*time.Hour)))}
	errs := make(chan error, 4)
	for w := range 4 {
		go func() {
			if w == 0 {
				for i := range 200 {
					srv.Put(session(fmt.Sprintf("c-%d", i), t0.Add(-100*time.Hour), types.SessionStatusTerminated))
					_ = srv.Sessions("History")
					_ = srv.Calls()
				}
				errs <- nil
				return
			}
			res, err := pageAll(context.Background(), c, ssm.DescribeSessionsInput{State: "History", MaxResults: aws.Int32(13), Filters: fs}, 1000)
			if err == nil && !equalStrings(res.ids(), want(srv, "History", fs)) {
				err = errors.New("concurrent paging differs")
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9@._-]+-0[0-9a-f]{16}$`)
