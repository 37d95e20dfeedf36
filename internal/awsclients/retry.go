package awsclients

import (
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"

	"github.com/session-audit/session-audit/internal/reach"
)

// MaxAttempts is how often one call is tried. Sustained throttling is
// expected on large exports, so it is well above the SDK's default of 3;
// the invocation deadline bounds the whole run anyway.
const MaxAttempts = 12

// MaxBackoff caps the wait between two attempts.
const MaxBackoff = 10 * time.Second

// UnreachableAttempts is how often a call that cannot reach its endpoint
// (connection refused, DNS or TLS failure; see reach.Unreachable) is tried:
// a few quick attempts ride out a restarting endpoint, and the run then
// stops with a reach.Error naming the endpoint instead of retrying for
// minutes. Its waits (unreachableBackoff) add up to 1.5 s.
const UnreachableAttempts = 3

// unreachableBackoff is the wait after the nth unreachable attempt.
var unreachableBackoff = [UnreachableAttempts - 1]time.Duration{500 * time.Millisecond, time.Second}

// Retryer returns the retry policy of every client: adaptive mode, whose
// client-side rate limiter is shared by all calls of a client, so that all
// concurrent page streams back off together when SSM throttles. Each
// throttling answer it sees is counted in throttles.
func Retryer(throttles *atomic.Int64) func() aws.Retryer {
	return RetryerWithBackoff(throttles, MaxBackoff)
}

// RetryerWithBackoff is Retryer with another cap on the wait between
// attempts; tests use a short one to stay fast.
func RetryerWithBackoff(throttles *atomic.Int64, maxBackoff time.Duration) func() aws.Retryer {
	return func() aws.Retryer {
		return policy{
			RetryerV2: retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
				o.StandardOptions = append(o.StandardOptions, func(so *retry.StandardOptions) {
					so.MaxAttempts = MaxAttempts
					so.MaxBackoff = maxBackoff
					so.Backoff = retry.NewExponentialJitterBackoff(maxBackoff)
					// No retry quota: sustained throttling of a long export
					// must not exhaust a client-wide budget; MaxAttempts and
					// the invocation deadline bound the retries instead.
					so.RateLimiter = ratelimit.None
				})
			}),
			throttles: throttles,
		}
	}
}

// policy counts throttles, and gives calls that cannot reach their
// endpoint UnreachableAttempts quick attempts.
type policy struct {
	aws.RetryerV2
	throttles *atomic.Int64
}

var throttleCheck = retry.IsErrorThrottles(retry.DefaultThrottles)

// IsErrorRetryable counts throttles; an unreachable endpoint is retried
// (RetryDelay bounds it), anything else as the SDK decides.
func (r policy) IsErrorRetryable(err error) bool {
	if throttleCheck.IsErrorThrottle(err) == aws.TrueTernary {
		r.throttles.Add(1)
	}
	return reach.Unreachable(err) || r.RetryerV2.IsErrorRetryable(err)
}

// RetryDelay waits briefly after an unreachable attempt and, after the
// UnreachableAttempts-th, ends the call with a *reach.Error; other errors
// get the SDK's back-off.
func (r policy) RetryDelay(attempt int, err error) (time.Duration, error) {
	if reach.Unreachable(err) {
		if attempt >= UnreachableAttempts {
			return 0, &reach.Error{Endpoint: reach.Endpoint(err), Attempts: attempt, Err: err}
		}
		return unreachableBackoff[attempt-1], nil
	}
	return r.RetryerV2.RetryDelay(attempt, err)
}
