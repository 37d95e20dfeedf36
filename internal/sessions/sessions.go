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
	// SubWindows is how many equal sub-windows a slot is cut into once its
	// first pages show it holds more than a few pages; 0 cuts it as it
	// goes, each sub-window sized to hold a few pages (see adaptivePlan).
	SubWindows int
	// Tuning sizes the adaptive sub-windows; zero means DefaultTuning().
	Tuning Tuning
}

// Each calls fn with every session of state whose StartDate lies in
// [w.Start, w.End), once each, in StartDate order (ties by SessionId). It
// first pages the whole window; if that needs more than a few pages, it cuts
// the window into sub-windows paged concurrently and delivered in order, so
// memory holds only the sub-windows in flight.
func (l *Lister) Each(ctx context.Context, state types.SessionState, w window.Slot, fn func(types.Session) error) (Stats, error) {
	first, more, stats, span, err := l.window(ctx, state, w, probePages)
	if err != nil {
		return stats, err
	}
	if !more {
		return stats, deliver(first, fn)
	}
	var p planner
	if l.SubWindows > 0 {
		p = &fixedPlan{subs: window.Split(w, l.SubWindows)}
	} else {
		p = newAdaptivePlan(w, l.streams(), l.tuning(), stats.Calls, span)
	}
	total, err := l.concurrent(ctx, state, p, fn)
	// The probe's pages are paged again by the sub-windows: count its calls
	// and restarts, not its sessions, duplicates or clipped ones twice.
	total.add(Stats{Calls: stats.Calls, Restarts: stats.Restarts, SubWindows: stats.SubWindows})
	return total, err
}

func (l *Lister) streams() int { return max(1, l.Streams) }

// Tuning sizes the sub-windows when Lister.SubWindows is 0; its defaults
// (DefaultTuning) were chosen with BenchmarkSubWindowSizing (see
// BENCHMARKS.md). A sub-window's last page is usually short, so each
// sub-window costs about half a call more than its sessions need:
// sub-windows of at least MinSubPages pages keep that overhead low. Each
// sub-window fetched but not yet delivered holds its sessions in memory
// (Streams+Slack of them at most), and so does the one being sorted:
// sub-windows of at most MaxSubPages pages bound that. Between the two,
// what is left of a window is cut into SubsPerStream sub-windows per
// stream, so the streams finish at about the same time. The Slack lets
// streams run ahead of a slow sub-window that is next to be delivered;
// BenchmarkPagerOrder found no gain beyond 2.
type Tuning struct {
	SubsPerStream float64
	MinSubPages   float64
	MaxSubPages   float64
	Slack         int
}

// DefaultTuning is the Tuning a zero Lister.Tuning stands for.
func DefaultTuning() Tuning {
	return Tuning{SubsPerStream: 4, MinSubPages: 2, MaxSubPages: 8, Slack: 2}
}

// tuning is l.Tuning, or DefaultTuning when it is zero.
func (l *Lister) tuning() Tuning {
	if l.Tuning == (Tuning{}) {
		return DefaultTuning()
	}
	return l.Tuning
}

// planner hands out the sub-windows of a window in StartDate order.
type planner interface {
	// next returns the sub-window after the last one returned; false when
	// the window is covered.
	next() (window.Slot, bool)
	// done tells what paging a sub-window took.
	done(sub window.Slot, st Stats)
}

// fixedPlan is a window cut into given sub-windows.
type fixedPlan struct {
	subs []window.Slot
}

func (f *fixedPlan) next() (window.Slot, bool) {
	if len(f.subs) == 0 {
		return window.Slot{}, false
	}
	s := f.subs[0]
	f.subs = f.subs[1:]
	return s, true
}

func (f *fixedPlan) done(window.Slot, Stats) {}

// adaptivePlan cuts a window as it goes, each sub-window sized from the
// density (pages per second of window) of the sub-windows paged last, so
// that dense hours get short sub-windows and quiet ones long ones. The
// density is only an estimate: it sizes the cut, and every sub-window is
// paged to its end whatever it holds.
type adaptivePlan struct {
	w       window.Slot
	streams int
	tuning  Tuning
	cursor  time.Time

	mu       sync.Mutex
	rate     float64 // estimated pages per second of window; 0: unknown
	observed bool    // rate comes from sub-windows, not from the probe
}

// newAdaptivePlan starts from the probe: calls pages that returned
// sessions whose StartDates lie span apart. The service answers newest
// first, so that is about the density at the end of the window.
func newAdaptivePlan(w window.Slot, streams int, tuning Tuning, calls int, span time.Duration) *adaptivePlan {
	p := &adaptivePlan{w: w, streams: streams, tuning: tuning, cursor: w.Start}
	if calls > 0 && span > 0 {
		p.rate = float64(calls) / max(span.Seconds(), 1)
	}
	return p
}

func (p *adaptivePlan) next() (window.Slot, bool) {
	left := p.w.End.Sub(p.cursor)
	if left <= 0 {
		return window.Slot{}, false
	}
	p.mu.Lock()
	rate, observed := p.rate, p.observed
	p.mu.Unlock()
	var length time.Duration
	switch {
	case rate <= 0:
		// No estimate (the probe's sessions all started at once, or
		// filters left none): 32 sub-windows per stream, as many as the
		// first ones take to tell the density.
		length = p.w.End.Sub(p.w.Start) / time.Duration(32*p.streams)
	default:
		t := p.tuning
		pages := t.MinSubPages // until a sub-window has been measured
		if observed {
			pages = min(max(rate*left.Seconds()/(t.SubsPerStream*float64(p.streams)), t.MinSubPages), t.MaxSubPages)
		}
		length = time.Duration(pages / rate * float64(time.Second))
	}
	// Whole seconds, as the filters are; never leave a sliver behind.
	length = max(length.Truncate(time.Second), time.Second)
	if left-length < length/2 {
		length = left
	}
	sub := window.Slot{Start: p.cursor, End: p.cursor.Add(length)}
	p.cursor = sub.End
	return sub, true
}

func (p *adaptivePlan) done(sub window.Slot, st Stats) {
	secs := sub.End.Sub(sub.Start).Seconds()
	if secs <= 0 {
		return
	}
	// Pages the sub-window needed: its sessions, or its calls when filters
	// made them short, less the last page's usual half.
	pages := max(float64(st.Sessions+st.Duplicates+st.Clipped)/PageSize, float64(st.Calls)-0.5)
	rate := pages / secs
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.observed {
		rate = (p.rate + rate) / 2
	}
	p.rate, p.observed = rate, true
}

// result is one sub-window's sessions, sorted.
type result struct {
	sessions []*types.Session
	stats    Stats
	err      error
}

// concurrent pages the sub-windows of plan with l.Streams workers and hands
// their sessions to fn in sub-window order. At most Streams+Slack sub-windows
// are fetched and not yet delivered at once.
func (l *Lister) concurrent(ctx context.Context, state types.SessionState, plan planner, fn func(types.Session) error) (Stats, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type job struct {
		sub window.Slot
		out chan result
	}
	jobs := make(chan job)
	// queue holds the sub-windows handed out and not yet taken up for
	// delivery; the one being delivered makes Streams+Slack.
	queue := make(chan chan result, l.streams()+l.tuning().Slack-1)
	var wg sync.WaitGroup
	for range l.streams() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				ss, _, st, _, err := l.window(ctx, state, j.sub, 0)
				if err == nil {
					plan.done(j.sub, st)
				}
				j.out <- result{sessions: ss, stats: st, err: err}
			}
		}()
	}
	go func() {
		defer close(queue)
		defer close(jobs)
		for {
			// Size the next sub-window only once there is room for it, with
			// what the sub-windows paged meanwhile have shown.
			out := make(chan result, 1)
			select {
			case queue <- out:
			case <-ctx.Done():
				return
			}
			sub, ok := plan.next()
			if !ok {
				out <- result{}
				return
			}
			select {
			case jobs <- job{sub: sub, out: out}:
			case <-ctx.Done():
				return
			}
		}
	}()
	var total Stats
	var err error
	for out := range queue {
		var r result
		select {
		case r = <-out:
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
	}
	cancel()
	wg.Wait()
	return total, err
}

// window pages one window to the end or, with probe > 0, stops after probe
// pages and reports that more pages exist, and how far apart the StartDates
// of the sessions it saw lie. It restarts from the first page, keeping what
// it has seen, when the service rejects its NextToken.
//
// The sessions it returns point into the pages the SDK decoded: they are
// neither copied nor moved, only the pointers are sorted.
func (l *Lister) window(ctx context.Context, state types.SessionState, w window.Slot, probe int) ([]*types.Session, bool, Stats, time.Duration, error) {
	st := Stats{SubWindows: 1}
	var out []*types.Session
	var oldest, newest time.Time
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
			return nil, false, st, 0, fmt.Errorf("describe sessions (%s, %s, page %d): %w", strings.ToLower(string(state)), w, st.Calls+1, err)
		}
		st.Calls++
		for i := range page.Sessions {
			s := &page.Sessions[i]
			if s.SessionId == nil || *s.SessionId == "" {
				return nil, false, st, 0, fmt.Errorf("describe sessions (%s, %s): the service returned a session without SessionId", strings.ToLower(string(state)), w)
			}
			if s.StartDate == nil {
				return nil, false, st, 0, fmt.Errorf("describe sessions (%s, %s): session %s has no StartDate", strings.ToLower(string(state)), w, *s.SessionId)
			}
			if probe > 0 {
				if oldest.IsZero() || s.StartDate.Before(oldest) {
					oldest = *s.StartDate
				}
				if s.StartDate.After(newest) {
					newest = *s.StartDate
				}
			}
			if !w.Contains(*s.StartDate) {
				st.Clipped++
				continue
			}
			out = append(out, s)
		}
		token = page.NextToken
		if token == nil || *token == "" {
			break
		}
		if probe > 0 && st.Calls >= probe {
			return nil, true, st, newest.Sub(oldest), nil
		}
		if _, again := tokens[*token]; again {
			return nil, false, st, 0, fmt.Errorf("describe sessions (%s, %s): the service repeated NextToken after %d pages; stopping instead of looping", strings.ToLower(string(state)), w, st.Calls)
		}
		tokens[*token] = struct{}{}
	}
	// Sorted by (StartDate, SessionId), a session returned twice (on two
	// pages, or again after a restart) lies next to itself, and the copy
	// seen first is kept. The service answers newest first: reversed, the
	// sessions are then in order already, which the stable sort (insertion
	// sort on runs, then merges) finds in linear time.
	cmp := func(a, b *types.Session) int {
		if c := a.StartDate.Compare(*b.StartDate); c != 0 {
			return c
		}
		return strings.Compare(*a.SessionId, *b.SessionId)
	}
	reversed := len(out) > 1 && cmp(out[0], out[len(out)-1]) > 0
	if reversed {
		slices.Reverse(out)
	}
	slices.SortStableFunc(out, cmp)
	kept := out[:0]
	for _, s := range out {
		if n := len(kept); n > 0 && cmp(s, kept[n-1]) == 0 {
			st.Duplicates++
			if reversed {
				kept[n-1] = s // the later in this order was seen first
			}
			continue
		}
		kept = append(kept, s)
	}
	clear(out[len(kept):])
	st.Sessions = len(kept)
	return kept, false, st, 0, nil
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

func deliver(ss []*types.Session, fn func(types.Session) error) error {
	for _, s := range ss {
		if err := fn(*s); err != nil {
			return err
		}
	}
	return nil
}
