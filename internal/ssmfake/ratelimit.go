package ssmfake

import (
	"sync"
	"time"
)

// RateLimit throttles DescribeSessions the way SSM does: calls beyond a
// rate, per account and region (one Server), are answered
// ThrottlingException (HTTP 400, the JSON 1.1 error shape) until tokens
// come back. It is a token bucket: it holds at most Burst tokens, starts
// full, gains Rate tokens a second, and each call arriving takes one; a
// call that finds it empty is throttled and takes none. Unlike
// Faults.ThrottleRate, which throttles a share of calls at any rate, it
// lets a client that keeps under Rate through untouched.
type RateLimit struct {
	// Rate is the tokens gained a second; 0 or less means no limit.
	Rate float64
	// Burst is the bucket's size (at least 1).
	Burst int
	// Now is the bucket's clock; nil means time.Now. Tests inject one.
	Now func() time.Time
}

// WithRateLimit sets the rate limit the server starts with; see
// SetRateLimit.
func WithRateLimit(l RateLimit) Option {
	return func(s *Server) { s.SetRateLimit(l) }
}

// SetRateLimit replaces the rate limit, with a full bucket. A zero
// RateLimit removes it.
func (s *Server) SetRateLimit(l RateLimit) {
	var b *tokenBucket
	if l.Rate > 0 {
		b = newTokenBucket(l)
	}
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.bucket = b
}

// tokenBucket is the state of a RateLimit.
type tokenBucket struct {
	rate   float64
	burst  float64
	now    func() time.Time
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newTokenBucket(l RateLimit) *tokenBucket {
	b := &tokenBucket{rate: l.Rate, burst: float64(max(1, l.Burst)), now: l.Now}
	if b.now == nil {
		b.now = time.Now
	}
	b.tokens, b.last = b.burst, b.now()
	return b
}

// take takes a token for a call arriving now, and reports whether there
// was one.
func (b *tokenBucket) take() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(b.burst, b.tokens+el.Seconds()*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
