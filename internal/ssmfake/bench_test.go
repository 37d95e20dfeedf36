package ssmfake_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/session-audit/session-audit/internal/ssmfake"
)

// BenchmarkDescribeSessions pages through 100,000 History sessions with
// the real SDK client over HTTP, 200 per page.
func BenchmarkDescribeSessions(b *testing.B) {
	gen := ssmfake.Generate(1, t0.Add(-30*24*time.Hour), t0, 100_000)
	srv := ssmfake.New(ssmfake.WithSessions(gen))
	total := len(srv.Sessions("History"))

	b.Run("sdk", func(b *testing.B) {
		c := serve(b, srv)
		b.ReportAllocs()
		for b.Loop() {
			res, err := pageAll(context.Background(), c, ssm.DescribeSessionsInput{State: "History", MaxResults: aws.Int32(200)}, 1000)
			if err != nil {
				b.Fatal(err)
			}
			if len(res.sessions) != total {
				b.Fatalf("%d sessions, want %d", len(res.sessions), total)
			}
		}
		b.ReportMetric(float64(total), "sessions/op")
	})

	// The handler alone: one page of 200 from the middle of a one-day
	// range, the server's cost per call.
	b.Run("handler-page", func(b *testing.B) {
		body := `{"State":"History","MaxResults":200,"Filters":[{"key":"InvokedAfter","value":"2026-11-10T00:00:00Z"},{"key":"InvokedBefore","value":"2026-11-11T00:00:00Z"}]}`
		b.ReportAllocs()
		for b.Loop() {
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
			req.Header.Set("X-Amz-Target", "AmazonSSM.DescribeSessions")
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatal(rec.Body.String())
			}
		}
		srv.ResetCalls()
	})
}

// BenchmarkGenerate generates 100,000 sessions.
func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = ssmfake.Generate(1, t0.Add(-30*24*time.Hour), t0, 100_000)
	}
}
