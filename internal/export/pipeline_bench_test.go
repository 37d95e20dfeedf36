package export_test

// BenchmarkPipeline is the whole export of one 24-hour slot, wired as the
// function wires it (app.Wire, the real SDK clients with the function's
// retry policy) against the emulators over HTTP: SSM with 0 or 20 ms per
// call and S3 keeping its objects as files (so they are not in the heap).
// Beside it, in the same run, the naive baseline (bench/naive): one
// sequential stream, the whole file in a bytes.Buffer, one PutObject.
//
//	seq-bound-ratio wall time / (pages × latency), pages = ceil(sessions/200)
//	peak-live-MiB   highest live heap (as the last GC found it, sampled
//	                every millisecond) above the idle process
//
// BENCH_SESSIONS overrides the sessions in the slot (default 100000).
//
//	go test -run '^$' -bench Pipeline -benchtime 1x ./internal/export/

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/session-audit/session-audit/bench/benchdata"
	"github.com/session-audit/session-audit/bench/heappeak"
	"github.com/session-audit/session-audit/bench/naive"
	"github.com/session-audit/session-audit/internal/app"
	"github.com/session-audit/session-audit/internal/archive"
	"github.com/session-audit/session-audit/internal/config"
	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/export"
	"github.com/session-audit/session-audit/internal/ssmfake"
	"github.com/session-audit/session-audit/internal/store"
)

var (
	benchSlot = benchdata.Slot
	benchNow  = benchSlot.End.Add(time.Hour)
)

const (
	benchBucket  = "bench-bucket"
	benchAccount = "123456789012"
)

// pipeline is one way of exporting benchSlot: it returns the rows written.
type pipeline func(ctx context.Context) (int64, error)

func BenchmarkPipeline(b *testing.B) {
	n := benchdata.Sessions(b)
	data := ssmfake.Generate(1, benchSlot.Start, benchSlot.End, n)
	for _, latency := range []time.Duration{0, 20 * time.Millisecond} {
		fake := ssmfake.New(ssmfake.WithSessions(data), ssmfake.WithFaults(ssmfake.Faults{Latency: latency}))
		history := 0
		for _, s := range fake.Sessions("History") {
			if benchSlot.Contains(*s.StartDate) {
				history++
			}
		}
		emu, err := emulators.Start(emulators.Options{Bucket: benchBucket, SSM: fake, Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { emu.Close() })
		seqBound := time.Duration(math.Ceil(float64(history)/200)) * latency

		b.Run(fmt.Sprintf("n=%d/latency=%s/ours", n, latency), func(b *testing.B) {
			measure(b, fake, history, seqBound, ours(b, emu))
		})
		b.Run(fmt.Sprintf("n=%d/latency=%s/naive", n, latency), func(b *testing.B) {
			measure(b, fake, history, seqBound, naiveExport(b, emu))
		})
	}
}

// ours is the function's handler, given the backfill event of benchSlot.
func ours(b *testing.B, emu *emulators.Emulators) pipeline {
	env := map[string]string{"AUDIT_BUCKET": benchBucket}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		b.Fatal(err)
	}
	h := app.Wire(cfg, emu.Clients(), slog.New(slog.NewTextHandler(io.Discard, nil)), func() time.Time { return benchNow })
	event := json.RawMessage(fmt.Sprintf(`{"start":%q,"end":%q}`, benchSlot.Start.Format(time.RFC3339), benchSlot.End.Format(time.RFC3339)))
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{
		InvokedFunctionArn: "arn:aws:lambda:us-east-1:" + benchAccount + ":function:session-audit",
	})
	return func(context.Context) (int64, error) {
		out, err := h.Handle(ctx, event)
		if err != nil {
			return 0, err
		}
		return out.(export.Result).Rows, nil
	}
}

// naiveExport is the baseline, to the same bucket and key.
func naiveExport(b *testing.B, emu *emulators.Emulators) pipeline {
	keys, err := store.NewKeys("ssm-sessions", benchAccount, emulators.Region)
	if err != nil {
		b.Fatal(err)
	}
	c := emu.Clients()
	return func(ctx context.Context) (int64, error) {
		r, err := naive.Export(ctx, c.SSM, c.S3, benchBucket, keys.Object(benchSlot), benchSlot,
			archive.Origin{AccountID: benchAccount, Region: emulators.Region, ExportedAt: benchNow})
		return int64(r.Rows), err
	}
}

func measure(b *testing.B, fake *ssmfake.Server, history int, seqBound time.Duration, run pipeline) {
	var peak float64
	var wall time.Duration
	iterations := 0
	for b.Loop() {
		fake.ResetCalls()
		hp := heappeak.Start()
		began := time.Now()
		rows, err := run(context.Background())
		wall += time.Since(began)
		peak = max(peak, hp.End())
		if err != nil {
			b.Fatal(err)
		}
		if rows != int64(history) {
			b.Fatalf("%d rows written, want %d", rows, history)
		}
		iterations++
	}
	it := float64(iterations)
	b.ReportMetric(peak, "peak-live-MiB")
	b.ReportMetric(float64(history)*it/wall.Seconds(), "rows/s")
	if seqBound > 0 {
		b.ReportMetric(wall.Seconds()/it/seqBound.Seconds(), "seq-bound-ratio")
	}
}
