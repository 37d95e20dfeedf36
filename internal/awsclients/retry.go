package awsclients

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	limiter "github.com/session-audit/session-audit/internal/ratelimit"
	"github.com/session-audit/session-audit/internal/reach"
)

// MaxAttempts is how often one call is tried when it fails with a
// retryable error other than throttling. It is well above the SDK's
// default of 3; the invocation deadline bounds the whole run anyway.
const MaxAttempts = 12

// MaxThrottledAttempts is how often one call is tried while it is
// throttled: the Limiter slows every stream first (its first halvings cost
// a few attempts of the call that meets them), and sustained throttling
// (another client holding the account's limit) must be ridden out until
// the invocation deadline, not fail within seconds.
const MaxThrottledAttempts = 40

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

// Retryer returns the retry policy of every client: the SDK's standard
// retries (MaxAttempts, or MaxThrottledAttempts while throttled;
// exponential back-off up to MaxBackoff; no retry quota), with every attempt paced by one ratelimit.Limiter per client, so
// that all concurrent page streams of the SSM client share what the
// account's DescribeSessions limit lets through, learned from its
// throttling answers (see package ratelimit and BENCHMARKS.md). A
// throttled attempt is retried as soon as the Limiter lets it go; the
// Limiter's rate, not a back-off, spaces the calls. Each throttling answer
// is counted in throttles, and each change of the Limiter's rate is logged.
func Retryer(throttles *atomic.Int64) func() aws.Retryer {
	return RetryerWithBackoff(throttles, MaxBackoff)
}

// RetryerWithBackoff is Retryer with another cap on the wait between
// attempts; tests use a short one to stay fast.
func RetryerWithBackoff(throttles *atomic.Int64, maxBackoff time.Duration) func() aws.Retryer {
	return func() aws.Retryer {
		return policy{
			RetryerV2: retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = MaxThrottledAttempts
				so.MaxBackoff = maxBackoff
				so.Backoff = retry.NewExponentialJitterBackoff(maxBackoff)
				// No retry quota: sustained throttling of a long export
				// must not exhaust a client-wide budget; MaxAttempts and
				// the invocation deadline bound the retries instead.
				so.RateLimiter = ratelimit.None
			}),
			limiter:    limiter.New(limiter.Options{OnChange: logChange}),
			throttles:  throttles,
			maxBackoff: maxBackoff,
		}
	}
}

// throttleDelay is the wait before retrying a call throttled attempt
// times: none after the first throttle (the Limiter paces the retry), then
// a random share of 100 ms, 200 ms, 400 ms, ... up to maxBackoff, so that
// MaxAttempts still spans tens of seconds when another client of the
// account holds its limit.
func throttleDelay(attempt int, maxBackoff time.Duration) time.Duration {
	if attempt <= 1 {
		return 0
	}
	ceiling := min(maxBackoff, 50*time.Millisecond<<min(attempt-1, 16))
	return time.Duration(rand.Int64N(int64(ceiling) + 1))
}

// logChange logs a change of a client's rate.
func logChange(c limiter.Change) {
	slog.Default().Info("rate limit", "elapsed_ms", c.Elapsed.Milliseconds(), "rate", round2(c.Rate), "learned", round2(c.Learned), "reason", c.Reason, "source", "rate limiter")
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// policy paces attempts with its Limiter, counts throttles, and gives calls
// that cannot reach their endpoint UnreachableAttempts quick attempts.
type policy struct {
	aws.RetryerV2
	limiter    *limiter.Limiter
	throttles  *atomic.Int64
	maxBackoff time.Duration
}

var throttleCheck = retry.IsErrorThrottles(retry.DefaultThrottles)

func isThrottle(err error) bool { return throttleCheck.IsErrorThrottle(err) == aws.TrueTernary }

// GetAttemptToken waits until the Limiter lets the attempt go, and tells
// it how the attempt was answered: throttled, or answered (successfully or
// with an error of the service, which still took a token of the service's
// limit). Attempts that got no answer teach it nothing.
func (r policy) GetAttemptToken(ctx context.Context) (func(error) error, error) {
	sent, err := r.limiter.Wait(ctx)
	if err != nil {
		return nil, err
	}
	release, err := r.RetryerV2.GetAttemptToken(ctx)
	if err != nil {
		return nil, err
	}
	return func(opErr error) error {
		var re *smithyhttp.ResponseError
		switch {
		case isThrottle(opErr):
			r.limiter.Answer(sent, true)
		case opErr == nil || errors.As(opErr, &re) && re.HTTPStatusCode() != 0:
			r.limiter.Answer(sent, false)
		}
		return release(opErr)
	}, nil
}

// IsErrorRetryable counts throttles; an unreachable endpoint is retried
// (RetryDelay bounds it), anything else as the SDK decides.
func (r policy) IsErrorRetryable(err error) bool {
	if isThrottle(err) {
		r.throttles.Add(1)
	}
	return reach.Unreachable(err) || r.RetryerV2.IsErrorRetryable(err)
}

// RetryDelay waits briefly after an unreachable attempt and, after the
// UnreachableAttempts-th, ends the call with a *reach.Error; a throttled
// attempt is retried at once the first time (GetAttemptToken paces it),
// after a short back-off when the same call is throttled again
// (throttleDelay), up to MaxThrottledAttempts; other errors get the SDK's
// back-off, up to MaxAttempts.
func (r policy) RetryDelay(attempt int, err error) (time.Duration, error) {
	if reach.Unreachable(err) {
		if attempt >= UnreachableAttempts {
			return 0, &reach.Error{Endpoint: reach.Endpoint(err), Attempts: attempt, Err: err}
		}
		return unreachableBackoff[attempt-1], nil
	}
	if isThrottle(err) {
		return throttleDelay(attempt, r.maxBackoff), nil
	}
	if attempt >= MaxAttempts {
		return 0, &retry.MaxAttemptsError{Attempt: attempt, Err: err}
	}
	return r.RetryerV2.RetryDelay(attempt, err)
}
