package sessions

// Benchmarks of the pager: the real SDK client (with the function's retry
// policy) over HTTP against the SSM emulator, one 24-hour slot of History
// sessions. They report, per listing:
//
//	calls          DescribeSessions calls answered (server side)
//	subwindows     windows paged separately (the probe counts as one)
//	seq-bound-ratio wall time / (pages × latency), pages = ceil(sessions/200):
//	               the share of the sequential bound the listing took
//	peak-live-MiB  highest live heap (as the last GC found it, sampled every
//	               millisecond) above the idle process: what the listing
//	               holds, with the in-process emulator's small per-call share
//
// BENCH_SESSIONS overrides the sessions in the slot (default 100000).
// The machine is shared and noisy: compare variants of one run, not runs.
//
//	go test -run '^$' -bench Pager -benchtime 1x ./internal/sessions/

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/session-audit/session-audit/bench/benchdata"
	"github.com/session-audit/session-audit/bench/heappeak"
	"github.com/session-audit/session-audit/bench/naive"
	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/ssmfake"
	"github.com/session-audit/session-audit/internal/window"
)

var benchSlot = benchdata.Slot

var generated sync.Map // n -> []types.Session

// benchData returns n sessions over benchSlot, generated once per n.
func benchData(n int) []types.Session {
	if v, ok := generated.Load(n); ok {
		return v.([]types.Session)
	}
	ss := ssmfake.Generate(1, benchSlot.Start, benchSlot.End, n)
	generated.Store(n, ss)
	return ss
}

// benchServer is the SSM emulator with a request counter in front.
type benchServer struct {
	fake      *ssmfake.Server
	emu       *emulators.Emulators
	calls     atomic.Int64
	throttled atomic.Int64
	history   int // History sessions in benchSlot
}

func newBenchServer(b *testing.B, n int, faults ssmfake.Faults) *benchServer {
	b.Helper()
	bs := &benchServer{fake: ssmfake.New(ssmfake.WithSessions(benchData(n)), ssmfake.WithFaults(faults))}
	for _, s := range bs.fake.Sessions("History") {
		if benchSlot.Contains(*s.StartDate) {
			bs.history++
		}
	}
	emu, err := emulators.Start(emulators.Options{Bucket: "bench-bucket", SSM: bs.fake, SSMWrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			bs.calls.Add(1)
			sw := &statusWriter{ResponseWriter: w}
			h.ServeHTTP(sw, r)
			if sw.status == http.StatusBadRequest {
				bs.throttled.Add(1)
			}
		})
	}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { emu.Close() })
	bs.emu = emu
	return bs
}

// reset forgets what the emulator recorded, so it does not grow across
// iterations, and restarts the counters.
func (bs *benchServer) reset() {
	bs.fake.ResetCalls()
	bs.calls.Store(0)
	bs.throttled.Store(0)
}

// seqBound is pages × latency: the time one sequential stream needs.
func (bs *benchServer) seqBound(latency time.Duration) time.Duration {
	return time.Duration(math.Ceil(float64(bs.history)/PageSize)) * latency
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// pagerRun is one way of listing the slot: it returns the sessions
// delivered and the windows paged.
type pagerRun func(ctx context.Context, api API) (sessions, windows int, err error)

// ours is the Lister as the export uses it.
func ours(streams int) pagerRun { return oursTuned(streams, Tuning{}) }

// oursTuned is ours with other sub-window sizing.
func oursTuned(streams int, tuning Tuning) pagerRun {
	return func(ctx context.Context, api API) (int, int, error) {
		l := &Lister{API: api, Streams: streams, Tuning: tuning}
		n := 0
		st, err := l.Each(ctx, types.SessionStateHistory, benchSlot, func(types.Session) error { n++; return nil })
		return n, st.SubWindows, err
	}
}

// naiveList is the baseline: one sequential stream over the whole slot.
func naiveList(ctx context.Context, api API) (int, int, error) {
	ss, _, err := naive.List(ctx, api, types.SessionStateHistory, benchSlot)
	return len(ss), 1, err
}

// measurePager runs list once per iteration and reports the metrics.
func measurePager(b *testing.B, bs *benchServer, latency time.Duration, list pagerRun) {
	b.Helper()
	api := bs.emu.Clients().SSM
	var calls, throttled, windows int64
	var peak float64
	var wall time.Duration
	iterations := 0
	for b.Loop() {
		bs.reset()
		hp := heappeak.Start()
		began := time.Now()
		n, w, err := list(context.Background(), api)
		wall += time.Since(began)
		peak = max(peak, hp.End())
		if err != nil {
			b.Fatal(err)
		}
		if n != bs.history {
			b.Fatalf("%d sessions delivered, want %d", n, bs.history)
		}
		iterations++
		calls += bs.calls.Load()
		throttled += bs.throttled.Load()
		windows += int64(w)
	}
	it := float64(iterations)
	b.ReportMetric(float64(calls)/it, "calls")
	b.ReportMetric(float64(windows)/it, "subwindows")
	b.ReportMetric(peak, "peak-live-MiB")
	b.ReportMetric(float64(bs.history)*it/wall.Seconds(), "sessions/s")
	if throttled > 0 {
		b.ReportMetric(float64(throttled)/it, "throttled")
	}
	if latency > 0 {
		b.ReportMetric(wall.Seconds()/it/bs.seqBound(latency).Seconds(), "seq-bound-ratio")
	}
}

// BenchmarkPager lists the slot with the Lister as shipped (DefaultConcurrency
// is 8; the benchmark uses 8 streams) and with the naive sequential baseline,
// at 0 and 20 ms per call.
func BenchmarkPager(b *testing.B) {
	n := benchdata.Sessions(b)
	for _, latency := range []time.Duration{0, 20 * time.Millisecond} {
		bs := newBenchServer(b, n, ssmfake.Faults{Latency: latency})
		b.Run(fmt.Sprintf("n=%d/latency=%s/ours", n, latency), func(b *testing.B) {
			measurePager(b, bs, latency, ours(8))
		})
		b.Run(fmt.Sprintf("n=%d/latency=%s/naive", n, latency), func(b *testing.B) {
			measurePager(b, bs, latency, naiveList)
		})
	}
}

// BenchmarkPagerStreams is the concurrency sweep behind DefaultConcurrency:
// 1 to 32 streams at 20 ms per call.
func BenchmarkPagerStreams(b *testing.B) {
	n := benchdata.Sessions(b)
	const latency = 20 * time.Millisecond
	bs := newBenchServer(b, n, ssmfake.Faults{Latency: latency})
	for _, streams := range []int{1, 2, 4, 8, 16, 32} {
		b.Run(fmt.Sprintf("n=%d/latency=%s/streams=%d", n, latency, streams), func(b *testing.B) {
			measurePager(b, bs, latency, ours(streams))
		})
	}
}

// BenchmarkSubWindowSizing is how DefaultTuning's MinSubPages, MaxSubPages
// and SubsPerStream were chosen: calls (each sub-window's last page is short),
// wall time and peak heap (sub-windows buffered) for sizes around them,
// and the cut used before (a fixed 32 sub-windows per stream).
func BenchmarkSubWindowSizing(b *testing.B) {
	n := benchdata.Sessions(b)
	const latency = 20 * time.Millisecond
	bs := newBenchServer(b, n, ssmfake.Faults{Latency: latency})
	for _, s := range []struct{ min, max, perStream float64 }{
		{2, 4, 4}, {2, 8, 4}, {2, 16, 4}, {2, 32, 4}, {1, 8, 4}, {4, 8, 4}, {2, 8, 2}, {2, 8, 8},
	} {
		b.Run(fmt.Sprintf("n=%d/min=%g/max=%g/perStream=%g", n, s.min, s.max, s.perStream), func(b *testing.B) {
			tuning := DefaultTuning()
			tuning.MinSubPages, tuning.MaxSubPages, tuning.SubsPerStream = s.min, s.max, s.perStream
			measurePager(b, bs, latency, oursTuned(8, tuning))
		})
	}
	b.Run(fmt.Sprintf("n=%d/fixed=32-per-stream", n), func(b *testing.B) {
		measurePager(b, bs, latency, func(ctx context.Context, api API) (int, int, error) {
			l := &Lister{API: api, Streams: 8, SubWindows: 32 * 8}
			k := 0
			st, err := l.Each(ctx, types.SessionStateHistory, benchSlot, func(types.Session) error { k++; return nil })
			return k, st.SubWindows, err
		})
	})
}

// BenchmarkPagerOrder is the cost of delivering sessions in StartDate
// order: the Lister as shipped against the same sub-windows handed over
// unsorted as soon as any stream finishes one (what a file without row
// order would allow).
func BenchmarkPagerOrder(b *testing.B) {
	n := benchdata.Sessions(b)
	for _, latency := range []time.Duration{0, 20 * time.Millisecond} {
		bs := newBenchServer(b, n, ssmfake.Faults{Latency: latency})
		b.Run(fmt.Sprintf("n=%d/latency=%s/ordered", n, latency), func(b *testing.B) {
			measurePager(b, bs, latency, ours(8))
		})
		for _, sl := range []int{4, 8} {
			b.Run(fmt.Sprintf("n=%d/latency=%s/ordered-slack=%d", n, latency, sl), func(b *testing.B) {
				tuning := DefaultTuning()
				tuning.Slack = sl
				measurePager(b, bs, latency, oursTuned(8, tuning))
			})
		}
		b.Run(fmt.Sprintf("n=%d/latency=%s/unordered", n, latency), func(b *testing.B) {
			measurePager(b, bs, latency, unordered(8))
		})
	}
}

// unordered pages the same adaptive sub-windows as the Lister with the
// same number of streams, but hands each one over unsorted as soon as it
// is paged, in whatever order the streams finish.
func unordered(streams int) pagerRun {
	return func(ctx context.Context, api API) (int, int, error) {
		l := &Lister{API: api, Streams: streams}
		_, more, st, span, err := l.window(ctx, types.SessionStateHistory, benchSlot, probePages)
		if err != nil || !more {
			return st.Sessions, 1, err
		}
		plan := newAdaptivePlan(benchSlot, streams, DefaultTuning(), st.Calls, span)
		var mu sync.Mutex // the consumer: one at a time, like the writer
		var planMu sync.Mutex
		var n, windows int
		var firstErr error
		var wg sync.WaitGroup
		for range streams {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					planMu.Lock()
					sub, ok := plan.next()
					planMu.Unlock()
					if !ok {
						return
					}
					ss, err := l.windowUnsorted(ctx, types.SessionStateHistory, sub)
					mu.Lock()
					if err != nil && firstErr == nil {
						firstErr = err
					}
					n += len(ss)
					windows++
					mu.Unlock()
					plan.done(sub, Stats{Sessions: len(ss), Calls: int(math.Ceil(float64(len(ss)) / PageSize))})
				}
			}()
		}
		wg.Wait()
		return n, windows + 1, firstErr
	}
}

// windowUnsorted pages w to the end and keeps the sessions inside it, in
// the order served (no sorting, no de-duplication).
func (l *Lister) windowUnsorted(ctx context.Context, state types.SessionState, w window.Slot) ([]*types.Session, error) {
	in := l.input(state, w)
	var out []*types.Session
	for {
		page, err := l.API.DescribeSessions(ctx, in)
		if err != nil {
			return nil, err
		}
		for i := range page.Sessions {
			if s := &page.Sessions[i]; w.Contains(*s.StartDate) {
				out = append(out, s)
			}
		}
		if page.NextToken == nil || *page.NextToken == "" {
			return out, nil
		}
		in.NextToken = page.NextToken
	}
}

// BenchmarkPagerThrottled pages while the emulator answers a share of the
// calls with ThrottlingException, whatever their rate, through the
// function's retry policy and its client-side limiter (internal/ratelimit),
// shared by all streams of the one client. SSM throttles above a rate
// instead: bench/function.sh's throttle mode measures that case. This runs
// on a tenth of BENCH_SESSIONS (10,000 by default).
func BenchmarkPagerThrottled(b *testing.B) {
	n := benchdata.Sessions(b) / 10
	const latency = 20 * time.Millisecond
	for _, rate := range []float64{0, 0.02, 0.1} {
		bs := newBenchServer(b, n, ssmfake.Faults{Latency: latency, ThrottleRate: rate, Seed: 1})
		b.Run(fmt.Sprintf("n=%d/latency=%s/throttle=%g", n, latency, rate), func(b *testing.B) {
			var reqs int64
			var wall time.Duration
			measurePager(b, bs, latency, func(ctx context.Context, api API) (int, int, error) {
				began := time.Now()
				k, w, err := ours(8)(ctx, api)
				wall += time.Since(began)
				reqs += bs.calls.Load()
				return k, w, err
			})
			b.ReportMetric(float64(reqs)/wall.Seconds(), "req/s")
		})
	}
}

// pagesAPI answers DescribeSessions from fixed pages, page i carrying
// NextToken "i+1" while more follow.
type pagesAPI [][]types.Session

func (p pagesAPI) DescribeSessions(_ context.Context, in *ssm.DescribeSessionsInput, _ ...func(*ssm.Options)) (*ssm.DescribeSessionsOutput, error) {
	i := 0
	if in.NextToken != nil {
		var err error
		if i, err = strconv.Atoi(*in.NextToken); err != nil || i < 0 || i >= len(p) {
			return nil, fmt.Errorf("pagesAPI: NextToken %q is not one it handed out", *in.NextToken)
		}
	}
	out := &ssm.DescribeSessionsOutput{Sessions: p[i]}
	if i+1 < len(p) {
		out.NextToken = aws.String(strconv.Itoa(i + 1))
	}
	return out, nil
}

// TestWindowKeepsFirstSeen guards the sort the benchmarks tuned: whether
// the service answers newest or oldest first, a session returned twice is
// delivered once, as first seen, and the rest in StartDate order.
func TestWindowKeepsFirstSeen(t *testing.T) {
	at := func(id string, min int, status types.SessionStatus) types.Session {
		return types.Session{SessionId: aws.String(id), StartDate: aws.Time(benchSlot.Start.Add(time.Duration(min) * time.Minute)), Status: status}
	}
	newestFirst := pagesAPI{
		{at("d", 40, "Terminated"), at("c", 30, "Terminated"), at("b", 20, "Terminated")},
		{at("b", 20, "Failed"), at("a", 10, "Terminated")},
	}
	oldestFirst := pagesAPI{
		{at("a", 10, "Terminated"), at("b", 20, "Terminated")},
		{at("b", 20, "Failed"), at("c", 30, "Terminated"), at("d", 40, "Terminated")},
	}
	for name, api := range map[string]pagesAPI{"newest first": newestFirst, "oldest first": oldestFirst} {
		l := &Lister{API: api, Streams: 1}
		var got []string
		st, err := l.Each(context.Background(), types.SessionStateHistory, benchSlot, func(s types.Session) error {
			got = append(got, *s.SessionId+":"+string(s.Status))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := "a:Terminated b:Terminated c:Terminated d:Terminated"; strings.Join(got, " ") != want || st.Duplicates != 1 {
			t.Errorf("%s: got %v (%d duplicates), want %s (1 duplicate)", name, got, st.Duplicates, want)
		}
	}
}
