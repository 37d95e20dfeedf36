package ratelimit_test

import (
	"math"
	"testing"
	"time"

	"github.com/session-audit/session-audit/internal/ratelimit"
)

// Throttles in a run's first moments (the service's burst spent by the
// first wave of streams) must not collapse the rate: it never falls below
// a fifth of the service's rate (the SDK's adaptive mode fell to 0.5/s),
// and the rate is learned within 10 % after the first second.
func TestEarlyThrottlesDoNotCollapseTheRate(t *testing.T) {
	for _, rate := range []float64{10, 50} {
		res := simulate(&service{rate: steady(rate), burst: 5}, 170, 6, 8, 20*time.Millisecond)
		if len(res.changes) == 0 || res.changes[0].At.Sub(res.start) > 500*time.Millisecond {
			t.Fatalf("rate %v: no throttle in the first half-second: %+v", rate, res.changes)
		}
		for _, c := range res.changes {
			if c.Rate < rate/5 {
				t.Errorf("rate %v: fell to %.2f at %s (%s)", rate, c.Rate, c.At.Sub(res.start), c.Reason)
			}
		}
		learned := res.changes[len(res.changes)-1].Learned
		if math.Abs(learned-rate) > rate/10 {
			t.Errorf("rate %v: learned %.2f", rate, learned)
		}
	}
}

// A service whose rate is steady, with a small burst and calls that reach
// it with up to 150 ms of jitter, so that calls at the learned rate are
// throttled now and then: once learned, no throttle halves the rate, and
// it never falls below 85 % of the rate first learned.
func TestSteadyServiceIsNotHalvedOnEveryThrottle(t *testing.T) {
	res := simulate(&service{rate: steady(10), burst: 2, jitter: 150 * time.Millisecond}, 600, 6, 8, 20*time.Millisecond)
	first := 0.0
	after := 0
	for _, c := range res.changes {
		if first == 0 && c.Learned > 0 {
			first = ratelimit.Margin * c.Learned
		}
		if first == 0 {
			continue
		}
		after++
		if c.Reason == "halved" || c.Rate < 0.85*first {
			t.Errorf("at %s the rate went to %.2f (%s)", c.At.Sub(res.start), c.Rate, c.Reason)
		}
	}
	if first == 0 || res.throttled == 0 {
		t.Fatalf("nothing learned or no throttle: %+v", res.changes)
	}
	t.Logf("%d changes after learning; %d throttled of %d answered in %s", after, res.throttled, res.answered, res.wall)
}

// After it learned a rate (or a probe above it met a throttle), the
// Limiter does not go above it for Hold, and each later probe waits longer.
func TestNoProbingAboveAJustLearnedRate(t *testing.T) {
	res := simulate(&service{rate: steady(2), burst: 5}, 400, 6, 8, 20*time.Millisecond)
	var learnedAt time.Time
	var learned float64
	var probes []time.Time
	for _, c := range res.changes {
		switch c.Reason {
		case "learned", "probe throttled", "nudged":
			learnedAt, learned = c.At, c.Learned
		case "probe":
			if !learnedAt.IsZero() && c.At.Sub(learnedAt) < ratelimit.Hold {
				t.Errorf("probe to %.2f at %s, %s after learning %.2f", c.Rate, c.At.Sub(res.start), c.At.Sub(learnedAt), learned)
			}
			probes = append(probes, c.At)
		}
		if !learnedAt.IsZero() && c.Reason != "probe" && c.Rate > ratelimit.Margin*learned*1.0001 && c.At.Sub(learnedAt) < ratelimit.Hold {
			t.Errorf("rate %.2f above the learned %.2f at %s", c.Rate, learned, c.At.Sub(res.start))
		}
	}
	if len(probes) == 0 {
		t.Fatal("no probe in 200 s: a rate that grew would never be found")
	}
	for i := 2; i < len(probes); i++ {
		if probes[i].Sub(probes[i-1]) <= probes[i-1].Sub(probes[i-2]) {
			t.Errorf("probes at %v: the waits do not grow", probes)
		}
	}
	t.Logf("%d probes in %s, %d throttled of %d answered", len(probes), res.wall, res.throttled, res.answered)
}

// A service whose rate halves mid-run (another client starts) is learned
// again, and one whose rate doubles is found by the probes.
func TestFollowsAServiceRateThatChanges(t *testing.T) {
	drop := func(at time.Duration) float64 {
		if at < 30*time.Second {
			return 10
		}
		return 5
	}
	res := simulate(&service{rate: drop, burst: 5}, 400, 6, 8, 20*time.Millisecond)
	last := res.changes[len(res.changes)-1]
	if last.Learned < 4 || last.Learned > 6 {
		t.Errorf("after the drop to 5/s: learned %.2f", last.Learned)
	}
	if share := float64(res.throttled) / float64(res.answered); share > 0.15 {
		t.Errorf("throttled share %.2f", share)
	}
}
