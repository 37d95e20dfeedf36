package sessions_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/session-audit/session-audit/internal/sessions"
	"github.com/session-audit/session-audit/internal/window"
)

var slot = window.Slot{Start: time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)}

func sess(id string, offset time.Duration) types.Session {
	return types.Session{SessionId: aws.String(id), StartDate: aws.Time(slot.Start.Add(offset)), Status: types.SessionStatusTerminated}
}

// scripted answers DescribeSessions from a list of pages, one per call,
// keyed by the NextToken it was given ("" for the first page).
type scripted struct {
	mu     sync.Mutex
	pages  map[string]page
	calls  []*ssm.DescribeSessionsInput
	failOn map[string]error // token -> error, once
}

type page struct {
	sessions []types.Session
	next     string
}

func (s *scripted) DescribeSessions(_ context.Context, in *ssm.DescribeSessionsInput, _ ...func(*ssm.Options)) (*ssm.DescribeSessionsOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, in)
	tok := aws.ToString(in.NextToken)
	if err, ok := s.failOn[tok]; ok {
		delete(s.failOn, tok)
		return nil, err
	}
	p, ok := s.pages[tok]
	if !ok {
		return nil, fmt.Errorf("unexpected token %q", tok)
	}
	out := &ssm.DescribeSessionsOutput{Sessions: p.sessions}
	if p.next != "" {
		out.NextToken = aws.String(p.next)
	}
	return out, nil
}

func ids(ss []types.Session) string {
	var out []string
	for _, s := range ss {
		out = append(out, *s.SessionId)
	}
	return strings.Join(out, ",")
}

func TestEachPaging(t *testing.T) {
	tests := []struct {
		name    string
		pages   map[string]page
		failOn  map[string]error
		want    string
		stats   sessions.Stats
		wantErr string
	}{
		{
			name:  "one page",
			pages: map[string]page{"": {sessions: []types.Session{sess("b", time.Hour), sess("a", 2*time.Hour)}}},
			want:  "b,a", stats: sessions.Stats{Calls: 1, Sessions: 2, SubWindows: 1},
		},
		{
			name: "empty and short pages that still carry a token",
			pages: map[string]page{
				"":   {next: "t1"},
				"t1": {sessions: []types.Session{sess("a", time.Hour)}, next: "t2"},
				"t2": {},
			},
			want: "a", stats: sessions.Stats{Calls: 3, Sessions: 1, SubWindows: 1},
		},
		{
			name: "duplicates across pages and sessions outside the slot",
			pages: map[string]page{
				"":   {sessions: []types.Session{sess("a", 0), sess("early", -time.Millisecond), sess("b", 24*time.Hour-time.Millisecond)}, next: "t1"},
				"t1": {sessions: []types.Session{sess("a", 0), sess("late", 24*time.Hour)}},
			},
			want: "a,b", stats: sessions.Stats{Calls: 2, Sessions: 2, Duplicates: 1, Clipped: 2, SubWindows: 1},
		},
		{
			name:  "ties in StartDate order by SessionId",
			pages: map[string]page{"": {sessions: []types.Session{sess("z", time.Hour), sess("m", time.Hour), sess("a", 3*time.Hour)}}},
			want:  "m,z,a", stats: sessions.Stats{Calls: 1, Sessions: 3, SubWindows: 1},
		},
		{
			name: "invalid token mid-slot restarts the window without duplicates",
			pages: map[string]page{
				"":   {sessions: []types.Session{sess("a", time.Hour)}, next: "t1"},
				"t1": {sessions: []types.Session{sess("b", 2*time.Hour)}},
			},
			failOn: map[string]error{"t1": &types.InvalidNextToken{Message: aws.String("expired")}},
			want:   "a,b", stats: sessions.Stats{Calls: 3, Sessions: 2, Duplicates: 1, Restarts: 1, SubWindows: 1},
		},
		{
			name: "repeated token stops with an error",
			pages: map[string]page{
				"":   {next: "t1"},
				"t1": {next: "t2"},
				"t2": {next: "t1"},
			},
			wantErr: "repeated NextToken",
		},
		{
			name:    "session without StartDate is a bad answer",
			pages:   map[string]page{"": {sessions: []types.Session{{SessionId: aws.String("x")}}}},
			wantErr: "session x has no StartDate",
		},
		{
			name:    "service error is wrapped with state and slot",
			pages:   map[string]page{},
			failOn:  map[string]error{"": errors.New("boom")},
			wantErr: "describe sessions (history, 2026-11-24T00:00:00Z/2026-11-25T00:00:00Z, page 1): boom",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &scripted{pages: tt.pages, failOn: tt.failOn}
			l := &sessions.Lister{API: api, Streams: 1}
			var got []types.Session
			st, err := l.Each(context.Background(), types.SessionStateHistory, slot, func(s types.Session) error {
				got = append(got, s)
				return nil
			})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ids(got) != tt.want || st != tt.stats {
				t.Errorf("got %s %+v, want %s %+v", ids(got), st, tt.want, tt.stats)
			}
		})
	}
}

func TestInputFilters(t *testing.T) {
	api := &scripted{pages: map[string]page{"": {}}}
	l := &sessions.Lister{API: api, Filters: sessions.Filters{Owner: "arn:aws:iam::1:user/a", AccessType: "Standard"}}
	if _, err := l.Each(context.Background(), types.SessionStateActive, slot, func(types.Session) error { return nil }); err != nil {
		t.Fatal(err)
	}
	in := api.calls[0]
	got := map[types.SessionFilterKey]string{}
	for _, f := range in.Filters {
		got[f.Key] = *f.Value
	}
	want := map[types.SessionFilterKey]string{
		"InvokedAfter": "2026-11-23T23:59:59Z", "InvokedBefore": "2026-11-25T00:00:01Z",
		"Owner": "arn:aws:iam::1:user/a", "AccessType": "Standard",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || in.State != types.SessionStateActive || aws.ToInt32(in.MaxResults) != 200 {
		t.Errorf("input %v state %s max %d; want %v", got, in.State, aws.ToInt32(in.MaxResults), want)
	}
}

// windowed answers from a fixed set of sessions honouring the time filters
// (inclusive), newest first, pageSize at a time.
type windowed struct {
	all      []types.Session
	pageSize int
	mu       sync.Mutex
	calls    int
}

func (w *windowed) DescribeSessions(ctx context.Context, in *ssm.DescribeSessionsInput, _ ...func(*ssm.Options)) (*ssm.DescribeSessionsOutput, error) {
	w.mu.Lock()
	w.calls++
	w.mu.Unlock()
	var after, before time.Time
	for _, f := range in.Filters {
		v, _ := time.Parse(time.RFC3339, *f.Value)
		switch f.Key {
		case types.SessionFilterKeyInvokedAfter:
			after = v
		case types.SessionFilterKeyInvokedBefore:
			before = v
		}
	}
	var match []types.Session
	for i := len(w.all) - 1; i >= 0; i-- {
		s := w.all[i]
		if !s.StartDate.Before(after) && !s.StartDate.After(before) {
			match = append(match, s)
		}
	}
	off := 0
	fmt.Sscan(aws.ToString(in.NextToken), &off)
	end := min(off+w.pageSize, len(match))
	out := &ssm.DescribeSessionsOutput{Sessions: match[off:end]}
	if end < len(match) {
		out.NextToken = aws.String(fmt.Sprint(end))
	}
	return out, nil
}

func TestConcurrentSubWindowsDeliverEverySessionOnceInOrder(t *testing.T) {
	var all []types.Session
	for i := range 5000 {
		all = append(all, sess(fmt.Sprintf("s%05d", i), time.Duration(i)*17*time.Second))
	}
	for _, streams := range []int{1, 3, 8} {
		api := &windowed{all: all, pageSize: 200}
		l := &sessions.Lister{API: api, Streams: streams, SubWindows: 37}
		var got []types.Session
		st, err := l.Each(context.Background(), types.SessionStateHistory, slot, func(s types.Session) error {
			got = append(got, s)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(all) || st.Sessions != len(all) || st.SubWindows != 38 {
			t.Fatalf("streams %d: %d sessions, stats %+v", streams, len(got), st)
		}
		for i := range got {
			if *got[i].SessionId != *all[i].SessionId {
				t.Fatalf("streams %d: session %d is %s, want %s", streams, i, *got[i].SessionId, *all[i].SessionId)
			}
		}
	}
}

func TestEachStopsOnCallbackError(t *testing.T) {
	var all []types.Session
	for i := range 3000 {
		all = append(all, sess(fmt.Sprintf("s%05d", i), time.Duration(i)*20*time.Second))
	}
	l := &sessions.Lister{API: &windowed{all: all, pageSize: 200}, Streams: 4}
	stop := errors.New("stop")
	n := 0
	_, err := l.Each(context.Background(), types.SessionStateHistory, slot, func(types.Session) error {
		n++
		if n == 100 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 100 {
		t.Fatalf("err %v after %d sessions", err, n)
	}
}

func TestLookup(t *testing.T) {
	api := &scripted{pages: map[string]page{"": {sessions: []types.Session{sess("x-1", time.Hour)}}}}
	s, err := sessions.Lookup(context.Background(), api, "x-1")
	if err != nil || s == nil || *s.SessionId != "x-1" {
		t.Fatalf("Lookup = %v, %v", s, err)
	}
	if f := api.calls[0].Filters; len(f) != 1 || f[0].Key != types.SessionFilterKeySessionId || api.calls[0].State != types.SessionStateHistory {
		t.Errorf("lookup input %+v", api.calls[0])
	}
}

// TestTuningIsPerLister: the sub-window sizing is a field of each Lister,
// not shared state: two Listers with different tunings, side by side, cut
// the same window differently.
func TestTuningIsPerLister(t *testing.T) {
	var all []types.Session
	for i := range 5000 {
		all = append(all, sess(fmt.Sprintf("s%05d", i), time.Duration(i)*17*time.Second))
	}
	run := func(streams int, tuning sessions.Tuning) sessions.Stats {
		l := &sessions.Lister{API: &windowed{all: all, pageSize: 200}, Streams: streams, Tuning: tuning}
		n := 0
		st, err := l.Each(context.Background(), types.SessionStateHistory, slot, func(types.Session) error { n++; return nil })
		if err != nil || n != len(all) {
			t.Fatalf("tuning %+v: %d sessions, %v", tuning, n, err)
		}
		return st
	}
	var fine, coarse sessions.Stats
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		fine = run(2, sessions.Tuning{SubsPerStream: 4, MinSubPages: 1, MaxSubPages: 1, Slack: 1})
	}()
	go func() {
		defer wg.Done()
		coarse = run(2, sessions.Tuning{SubsPerStream: 1, MinSubPages: 8, MaxSubPages: 32, Slack: 4})
	}()
	wg.Wait()
	if fine.SubWindows <= coarse.SubWindows {
		t.Errorf("sub-windows of one page: %d; of 8 to 32 pages: %d; want more of the small ones", fine.SubWindows, coarse.SubWindows)
	}
	if d := sessions.DefaultTuning(); d != (sessions.Tuning{SubsPerStream: 4, MinSubPages: 2, MaxSubPages: 8, Slack: 2}) {
		t.Errorf("DefaultTuning %+v changed; BENCHMARKS.md measured 4 per stream, 2 to 8 pages, slack 2", d)
	}
}
