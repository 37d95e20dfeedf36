// Package sessions pages through SSM DescribeSessions for one time window:
// filters, MaxResults=200, every NextToken, concurrent sub-windows, restarts
// on InvalidNextToken, de-duplication and clipping to [start, end).
package sessions

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/session-audit/session-audit/internal/window"
)

// PageSize is the MaxResults of every call: the most the API allows.
const PageSize = 200

// probePages is how many pages a window is read sequentially before it is
// cut into concurrent sub-windows: small windows (and filtered ones, whose
// pages the service shortens) then cost no more calls than a plain loop.
const probePages = 3

// maxRestarts bounds how often one sub-window is paged again from the start
// after the service rejected its NextToken.
const maxRestarts = 3

// API is the one SSM operation this package needs.
type API interface {
	DescribeSessions(ctx context.Context, in *ssm.DescribeSessionsInput, optFns ...func(*ssm.Options)) (*ssm.DescribeSessionsOutput, error)
}

// Filters are the optional DescribeSessions filters applied to every call.
// Empty fields are not sent.
type Filters struct {
	Target     string `json:"target,omitempty"`
	Owner      string `json:"owner,omitempty"`
	Status     string `json:"status,omitempty"`
	AccessType string `json:"accessType,omitempty"`
}

// Stats counts what one listing did, for manifests and metrics.
type Stats struct {
	Calls      int `json:"calls"`      // DescribeSessions calls answered
	Sessions   int `json:"sessions"`   // sessions delivered
	Duplicates int `json:"duplicates"` // sessions seen again and dropped
	Clipped    int `json:"clipped"`    // sessions outside the window and dropped
	Restarts   int `json:"restarts"`   // sub-windows paged again after InvalidNextToken
	SubWindows int `json:"subWindows"` // windows paged separately
}

func (s *Stats) add(o Stats) {
	s.Calls += o.Calls
	s.Sessions += o.Sessions
	s.Duplicates += o.Duplicates
	s.Clipped += o.Clipped
	s.Restarts += o.Restarts
	s.SubWindows += o.SubWindows
}

// Lister lists the sessions of a window.
type Lister struct {
	API     API
	Filters Filters
	// Streams is how many sub-windows are paged at once (at least 1).
	Streams int
	// SubWindows is how many sub-windows a slot is cut into once its first
	// page shows it holds more than one page; 0 means 32 per stream.
	SubWindows int
}

// Each calls fn with every session of state whose StartDate lies in
// [w.Start, w.End), once each, in StartDate order (ties by SessionId). It
// first pages the whole window; if that needs more than a few pages, it cuts
// the window into sub-windows paged concurrently and delivered in order, so
// memory holds only the sub-windows in flight.
func (l *Lister) Each(ctx context.Context, state types.SessionState, w window.Slot, fn func(types.Session) error) (Stats, error) {
	first, more, stats, err := l.window(ctx, state, w, probePages)
	if err != nil {
		return stats, err
	}
	if !more {
		return stats, deliver(first, fn)
	}
	subs := window.Split(w, l.subWindows())
	total, err := l.concurrent(ctx, state, subs, fn)
	total.add(stats)
	return total, err
}

func (l *Lister) streams() int { return max(1, l.Streams) }

func (l *Lister) subWindows() int {
	if l.SubWindows > 0 {
		return l.SubWindows
	}
	return 32 * l.streams()
}

// result is one sub-window's sessions, sorted.
type result struct {
	sessions []types.Session
	stats    Stats
	err      error
}

// concurrent pages subs with l.Streams workers and hands their sessions to
// fn in sub-window order. At most Streams+2 sub-windows are held at once.
func (l *Lister) concurrent(ctx context.Context, state types.SessionState, subs []window.Slot, fn func(types.Session) error) (Stats, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	slots := make(chan struct{}, l.streams()+2) // bounds sub-windows fetched but not yet delivered
	results := make([]chan result, len(subs))
	for i := range results {
		results[i] = make(chan result, 1)
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range l.streams() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				ss, _, st, err := l.window(ctx, state, subs[i], 0)
				results[i] <- result{sessions: ss, stats: st, err: err}
			}
		}()
	}
	go func() {
		defer close(next)
		for i := range subs {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	var total Stats
	var err error
	for i := range subs {
		var r result
		select {
		case r = <-results[i]:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			break
		}
		total.add(r.stats)
		if r.err != nil {
			err = r.err
			break
		}
		if err = deliver(r.sessions, fn); err != nil {
			break
		}
		<-slots
	}
	cancel()
	wg.Wait()
	return total, err
}

// window pages one window to the end or, with probe > 0, stops after probe
// pages and reports that more pages exist. It restarts from the first
// page, keeping what it has seen, when the service rejects its NextToken.
func (l *Lister) window(ctx context.Context, state types.SessionState, w window.Slot, probe int) ([]types.Session, bool, Stats, error) {
	st := Stats{SubWindows: 1}
	seen := make(map[string]struct{})
	var out []types.Session
	in := l.input(state, w)
	var token *string
	tokens := make(map[string]struct{})
	for {
		in.NextToken = token
		page, err := l.API.DescribeSessions(ctx, in)
		if err != nil {
			var bad *types.InvalidNextToken
			if token != nil && errors.As(err, &bad) && st.Restarts < maxRestarts {
				st.Restarts++
				token = nil
				clear(tokens)
				continue
			}
			return nil, false, st, fmt.Errorf("describe sessions (%s, %s, page %d): %w", strings.ToLower(string(state)), w, st.Calls+1, err)
		}
		st.Calls++
		for _, s := range page.Sessions {
			if s.SessionId == nil || *s.SessionId == "" {
				return nil, false, st, fmt.Errorf("describe sessions (%s, %s): the service returned a session without SessionId", strings.ToLower(string(state)), w)
			}
			if s.StartDate == nil {
				return nil, false, st, fmt.Errorf("describe sessions (%s, %s): session %s has no StartDate", strings.ToLower(string(state)), w, *s.SessionId)
			}
			if !w.Contains(*s.StartDate) {
				st.Clipped++
				continue
			}
			if _, dup := seen[*s.SessionId]; dup {
				st.Duplicates++
				continue
			}
			seen[*s.SessionId] = struct{}{}
			out = append(out, s)
		}
		token = page.NextToken
		if token == nil || *token == "" {
			break
		}
		if probe > 0 && st.Calls >= probe {
			return nil, true, st, nil
		}
		if _, again := tokens[*token]; again {
			return nil, false, st, fmt.Errorf("describe sessions (%s, %s): the service repeated NextToken after %d pages; stopping instead of looping", strings.ToLower(string(state)), w, st.Calls)
		}
		tokens[*token] = struct{}{}
	}
	slices.SortFunc(out, func(a, b types.Session) int {
		if c := a.StartDate.Compare(*b.StartDate); c != 0 {
			return c
		}
		return strings.Compare(*a.SessionId, *b.SessionId)
	})
	st.Sessions = len(out)
	return out, false, st, nil
}

// input builds the request for w. The API does not document whether its
// time filters are inclusive or how it rounds, so the query is widened by a
// second on both sides and the answer clipped to [w.Start, w.End).
func (l *Lister) input(state types.SessionState, w window.Slot) *ssm.DescribeSessionsInput {
	const layout = "2006-01-02T15:04:05Z"
	filters := []types.SessionFilter{
		{Key: types.SessionFilterKeyInvokedAfter, Value: aws.String(w.Start.Add(-time.Second).UTC().Format(layout))},
		{Key: types.SessionFilterKeyInvokedBefore, Value: aws.String(w.End.Add(time.Second).UTC().Format(layout))},
	}
	for _, f := range []struct {
		key types.SessionFilterKey
		val string
	}{
		{types.SessionFilterKeyTargetId, l.Filters.Target},
		{types.SessionFilterKeyOwner, l.Filters.Owner},
		{types.SessionFilterKeyStatus, l.Filters.Status},
		{types.SessionFilterKeyAccessType, l.Filters.AccessType},
	} {
		if f.val != "" {
			filters = append(filters, types.SessionFilter{Key: f.key, Value: aws.String(f.val)})
		}
	}
	return &ssm.DescribeSessionsInput{State: state, MaxResults: aws.Int32(PageSize), Filters: filters}
}

// Lookup finds one session by id, in History first and then among the
// Active sessions. It returns nil when neither holds it.
func Lookup(ctx context.Context, api API, id string) (*types.Session, error) {
	for _, state := range []types.SessionState{types.SessionStateHistory, types.SessionStateActive} {
		in := &ssm.DescribeSessionsInput{
			State:      state,
			MaxResults: aws.Int32(PageSize),
			Filters:    []types.SessionFilter{{Key: types.SessionFilterKeySessionId, Value: aws.String(id)}},
		}
		tokens := make(map[string]struct{})
		for {
			page, err := api.DescribeSessions(ctx, in)
			if err != nil {
				return nil, fmt.Errorf("describe sessions (%s, session %s): %w", strings.ToLower(string(state)), id, err)
			}
			for _, s := range page.Sessions {
				if s.SessionId != nil && *s.SessionId == id {
					return &s, nil
				}
			}
			if page.NextToken == nil || *page.NextToken == "" {
				break
			}
			if _, again := tokens[*page.NextToken]; again {
				return nil, fmt.Errorf("describe sessions (%s, session %s): the service repeated NextToken", strings.ToLower(string(state)), id)
			}
			tokens[*page.NextToken] = struct{}{}
			in.NextToken = page.NextToken
		}
	}
	return nil, nil
}

func deliver(ss []types.Session, fn func(types.Session) error) error {
	for _, s := range ss {
		if err := fn(s); err != nil {
			return err
		}
	}
	return nil
}
