package ssmfake_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/session-audit/session-audit/internal/ssmfake"
)

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// The rate limit is a token bucket of Burst tokens gaining Rate a second:
// a full bucket lets Burst calls through at once, then one call per 1/Rate,
// and it never holds more than Burst. Throttled calls get SSM's
// ThrottlingException and take no token.
func TestRateLimitIsATokenBucket(t *testing.T) {
	clock := &fakeClock{t: t0}
	srv := testServer(t, ssmfake.WithRateLimit(ssmfake.RateLimit{Rate: 10, Burst: 5, Now: clock.Now}))
	c := serve(t, srv)
	in := ssm.DescribeSessionsInput{State: "History", MaxResults: aws.Int32(1)}
	calls := func(n int) string {
		var p []string
		for range n {
			_, err := c.DescribeSessions(context.Background(), &in)
			p = append(p, classify(t, err))
		}
		return strings.Join(p, " ")
	}
	check := func(step, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s: %s, want %s", step, got, want)
		}
	}
	check("full bucket", calls(7), "ok ok ok ok ok throttle throttle")
	clock.Add(99 * time.Millisecond)
	check("after 99 ms", calls(1), "throttle")
	clock.Add(time.Millisecond)
	check("after 100 ms", calls(2), "ok throttle")
	clock.Add(250 * time.Millisecond) // 2.5 tokens
	check("after 250 ms more", calls(4), "ok ok throttle throttle")
	clock.Add(time.Hour)
	check("after an hour", calls(6), "ok ok ok ok ok throttle")

	throttled := 0
	for _, call := range srv.Calls() {
		if call.ErrorCode == "ThrottlingException" {
			throttled++
			if call.HTTPStatus != 400 || call.Sessions != nil {
				t.Errorf("throttled call answered %d with %d sessions", call.HTTPStatus, len(call.Sessions))
			}
		}
	}
	if throttled != 7 {
		t.Errorf("%d calls recorded throttled, want 7", throttled)
	}

	srv.SetRateLimit(ssmfake.RateLimit{})
	check("no limit", calls(8), "ok ok ok ok ok ok ok ok")
}
