// Package ratelimit paces the calls of one SDK client to the rate a
// throttling service lets through, learned from the service's own answers.
//
// SSM limits DescribeSessions per account and region with what behaves as
// a token bucket: a burst, then a steady rate R; calls beyond it are
// answered ThrottlingException. All concurrent page streams of a client
// share one Limiter, so that together they send at about R.
//
// How the rate is learned: a throttled call means the service's bucket was
// empty when it arrived. Between two throttled calls the service let
// through exactly the tokens it gained (as long as its bucket never filled
// up in between), so the successful calls sent between the first and the
// last throttled call of a run of close throttles, divided by the time
// between those two sends (calls arrive a constant latency after they are
// sent), measure R, whatever the burst and whatever other clients of the
// account take (their share is then not ours to use). The Limiter sends at
// Margin × that rate.
//
// It assumes throttling by rate, as SSM's. A service that throttles a share
// of calls whatever their rate (ssmfake's Faults.ThrottleRate) makes each
// measurement that share short of the rate sent, so the rate falls until
// its throttles come too far apart to form runs (see BENCHMARKS.md).
//
// Before the first throttle the Limiter does not limit. At the first one
// it cannot measure yet: it paces at half the rate of the calls of the
// last tenth of a second, or their success rate if higher (rates, not
// counts from zero, so a throttle in a run's first moments does not
// collapse it), halves that while throttles of calls sent at it outnumber
// successes (the first cut by a quarter only, the calls sent before the
// first throttle having taken what the service's bucket gained, and a
// throttle right after it to a quarter of the first rate; the call after
// a halving waits a whole interval of the new rate, the service's bucket
// being empty; and until a call gets through,
// or calls go further apart than one takes, no call joins the one under
// way, so that calls queued behind a throttle are not all throttled at a
// rate already known to be too high), raises it by half while no throttle comes (by less once a
// raise met a throttle), and keeps it while throttles come now and then,
// until enough successes between throttles give a measurement. Once it has
// learned a rate it
//   - does not halve on a throttle: an isolated throttle at the learned rate
//     (jitter, or a measurement that erred high) lowers it by Nudge only,
//     never more than MaxNudge below the last measurement, and a real drop
//     of the service's rate brings the close throttles that measure it
//     again;
//   - does not probe above the learned rate for Hold after learning it or
//     after the last throttle, then raises it by ProbeStep, and waits twice
//     as long before each next probe; a probe that meets a throttle goes
//     back to the rate learned before it. A rate that has grown (another
//     client of the account stopped) is so found again at the cost of a
//     few throttles now and then.
package ratelimit

import (
	"context"
	"math"
	"slices"
	"sort"
	"sync"
	"time"
)

// Tuning of the estimator; see the package comment.
const (
	// Margin is the share of the measured rate the Limiter sends at.
	Margin = 0.97
	// Window is how far back answers are kept and measured (longer at
	// rates under 5 calls a second: the time of 20 calls).
	Window = 4 * time.Second
	// MinSamples is how many successes between throttles make a
	// measurement.
	MinSamples = 6
	// Hold is how long the Limiter stays at or below a rate it learned
	// before it probes above it.
	Hold = 30 * time.Second
	// ProbeStep is how much one probe raises the rate.
	ProbeStep = 1.05
	// Nudge lowers the rate on an isolated throttle at the learned rate,
	// down to MaxNudge × the last measurement.
	Nudge    = 0.95
	MaxNudge = 0.9
	// MinRate is the floor of the rate, in calls a second.
	MinRate = 0.5
	// firstSpan is how far back the first throttle looks for the success
	// rate it starts from.
	firstSpan = 100 * time.Millisecond
	// blindWait is how long, from the first throttle until a call gets
	// through, the next call waits for the answer of the one under way;
	// blindPoll how often it asks again.
	blindWait = time.Second
	blindPoll = 5 * time.Millisecond
	// maxHold bounds the wait between probes, which doubles after each
	// probe.
	maxHold = 5 * time.Minute
)

// Change is a change of the Limiter's rate, for logs and measurements.
type Change struct {
	At time.Time
	// Elapsed is the time since the first call the Limiter was asked for.
	Elapsed time.Duration
	// Rate is the new rate in calls a second; +Inf when not limited.
	Rate float64
	// Learned is the measured rate of the service; 0 while unknown.
	Learned float64
	// Reason is "first throttle", "halved", "learned", "nudged", "back to
	// learned" or "probe".
	Reason string
}

// Options configure a Limiter.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnChange, when set, is called (under the Limiter's lock: it must not
	// call the Limiter) with every change of the rate.
	OnChange func(Change)
}

// Limiter paces calls; it is safe for concurrent use.
type Limiter struct {
	now      func() time.Time
	onChange func(Change)

	mu         sync.Mutex
	rate       float64   // calls a second; +Inf: not limited
	learned    float64   // the service's rate as believed; 0: unknown
	measured   float64   // the service's rate as last measured
	next       time.Time // earliest time of the next call
	first      time.Time // first reservation
	lastChange time.Time
	lastRaise  time.Time // last time the rate was raised
	learnedAt  time.Time
	throttles  []time.Time // answers throttled, within Window
	successes  []time.Time // answers not throttled, within Window
	sends      []time.Time // calls let go within firstSpan, until the first throttle
	// the same answers by the time their calls were sent, in no order
	throttledSent, succeededSent []time.Time
	reason                       string // of the last change
	// answers of calls sent since the last change
	freshThrottles, freshSuccesses int
	hi                             float64 // a rate found too high before any measurement
	gentle                         float64 // the rate before a first cut by a quarter; 0: none
	probeFrom                      float64 // learned before the probe under way; 0: none
	hold                           time.Duration
	// From the first throttle until a call sent after it succeeds, one
	// call at a time: blindFrom is the send of the first throttled call,
	// outstanding the send of the call let go and not yet answered.
	blindFrom, outstanding time.Time
}

// New returns a Limiter that does not limit until the first throttle.
func New(o Options) *Limiter {
	l := &Limiter{now: o.Now, onChange: o.OnChange, rate: math.Inf(1), hold: Hold}
	if l.now == nil {
		l.now = time.Now
	}
	return l
}

// Rate returns the current rate in calls a second (+Inf: not limited).
func (l *Limiter) Rate() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rate
}

// Learned returns the service's rate as last measured; 0 while unknown.
func (l *Limiter) Learned() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.learned
}

// Take asks to send a call now. It returns 0 when the call may go (the
// caller then sends it, and later hands now to Answer), or how long to
// wait before asking again: calls are spaced 1/rate apart, a change of the
// rate applies at once to the calls waiting, and a Limiter that was idle
// does not save up a burst.
func (l *Limiter) Take() (now time.Time, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now = l.now()
	if l.first.IsZero() {
		l.first = now
	}
	if math.IsInf(l.rate, 1) {
		// Kept for the first throttle: how fast the calls went.
		l.sends = append(trim(l.sends, now.Add(-firstSpan)), now)
		return now, 0
	}
	if l.next.After(now) {
		return now, l.next.Sub(now)
	}
	if !l.blindFrom.IsZero() {
		// The service's rate is unknown and nothing got through since the
		// first throttle: no call joins the one under way, whose answer
		// (unless it is lost: blindWait) says whether the rate is still
		// too high.
		if !l.outstanding.IsZero() && now.Sub(l.outstanding) < blindWait {
			return now, blindPoll
		}
		l.outstanding = now
	}
	// A call let go late (the waiter woke up late) does not delay the
	// next one: the schedule keeps its pace, but an idle Limiter does not
	// save up more than one call.
	interval := time.Duration(float64(time.Second) / l.rate)
	base := l.next
	if base.Before(now.Add(-interval)) {
		base = now.Add(-interval)
	}
	l.next = base.Add(interval)
	return now, 0
}

// Wait waits until a call may be sent and returns the time to hand to
// Answer.
func (l *Limiter) Wait(ctx context.Context) (time.Time, error) {
	for {
		at, d := l.Take()
		if d == 0 {
			return at, nil
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return at, ctx.Err()
		}
	}
}

// Answer tells the Limiter how the call sent at sent was answered:
// throttled or not. Answers of other kinds (errors that are not throttles)
// should not be reported.
func (l *Limiter) Answer(sent time.Time, throttled bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	// Keep Window, or the time of 20 calls at low rates.
	keep := Window
	if !math.IsInf(l.rate, 1) {
		keep = max(keep, time.Duration(20*float64(time.Second)/l.rate))
	}
	l.throttles = trim(l.throttles, now.Add(-keep))
	l.successes = trim(l.successes, now.Add(-keep))
	l.throttledSent = trimAny(l.throttledSent, now.Add(-keep))
	l.succeededSent = trimAny(l.succeededSent, now.Add(-keep))
	fresh := !sent.Before(l.lastChange) // sent at the current rate
	if !l.outstanding.IsZero() && !sent.Before(l.outstanding) {
		l.outstanding = time.Time{}
	}
	if !throttled && !l.blindFrom.IsZero() && sent.After(l.blindFrom) {
		l.blindFrom, l.outstanding = time.Time{}, time.Time{}
	}
	if !throttled {
		l.successes = append(l.successes, now)
		l.succeededSent = append(l.succeededSent, sent)
		if fresh {
			l.freshSuccesses++
		}
		l.raise(now)
		return
	}
	l.throttles = append(l.throttles, now)
	l.throttledSent = append(l.throttledSent, sent)
	if !fresh {
		return // sent at the old rate: already reacted to
	}
	l.freshThrottles++
	if l.probeFrom > 0 {
		// The probe found the limit: back to what was learned, and wait
		// twice as long before the next probe.
		l.learned, l.probeFrom = l.probeFrom, 0
		l.hold = min(2*l.hold, maxHold)
		l.set(now, Margin*l.learned, "probe throttled")
		return
	}
	if r, ok := l.measure(); ok {
		l.learned, l.learnedAt, l.measured = r, now, r
		l.blindFrom, l.outstanding = time.Time{}, time.Time{}
		l.set(now, max(MinRate, Margin*r), "learned")
		return
	}
	switch {
	case math.IsInf(l.rate, 1):
		// Half the rate of the calls of the last firstSpan (it was too
		// high), but no less than their success rate.
		from := now.Add(-firstSpan)
		calls := len(l.sends) - sort.Search(len(l.sends), func(i int) bool { return l.sends[i].After(from) })
		ok := len(l.successes) - sort.Search(len(l.successes), func(i int) bool { return l.successes[i].After(from) })
		l.sends = nil
		l.blindFrom = sent
		l.set(now, max(MinRate, float64(max(calls/2, ok))/firstSpan.Seconds()), "first throttle")
	case l.learned > 0:
		// Nudges go no lower than MaxNudge below the last measurement: a
		// real drop of the service's rate is measured again.
		if l.learned*Nudge >= MaxNudge*l.measured {
			l.learned *= Nudge
			l.set(now, max(MinRate, Margin*l.learned), "nudged")
		}
	case l.freshThrottles > l.freshSuccesses:
		// Right after the first throttle the service's bucket was also
		// emptied by the calls sent before it, so the first cut is by a
		// quarter; a throttle right after it cuts to where two halvings
		// would have gone.
		next, gentle := l.rate/2, 0.0
		switch {
		case l.reason == "first throttle":
			next, gentle = 0.75*l.rate, l.rate
		case l.gentle > 0 && l.reason == "halved":
			next = l.gentle / 4
		}
		l.gentle = gentle
		l.hi = l.rate
		l.set(now, max(MinRate, next), "halved")
		// The service's bucket is empty: the next call (the retry of this
		// one, likely) waits a whole interval of the new rate.
		interval := time.Duration(float64(time.Second) / l.rate)
		l.next = now.Add(interval)
		if interval > now.Sub(sent) {
			// Calls now go further apart than a call takes: they no
			// longer pile up behind the one under way.
			l.blindFrom, l.outstanding = time.Time{}, time.Time{}
		}
	case l.reason == "raised":
		// Keep the rate, found above the service's by this raise (so
		// later raises close in on it): the throttles to come measure it.
		l.hi = l.rate
	}
	// Otherwise keep the rate: the throttles to come measure the service.
}

// measure returns the rate the service let through during the latest run
// of close throttles, by the times their calls were sent (which arrive at
// the service a constant latency later): the successes sent between the
// run's first throttled call and the last, over the time between them.
// Throttles further apart than a gap the service's bucket could have
// filled in do not belong to one run, and neither do those before the last
// raise (the Limiter then sent below what the service lets through).
// The run ends at the throttled call sent before the one just answered, so
// that the calls it counts have all been answered.
func (l *Limiter) measure() (float64, bool) {
	ts := slices.Clone(l.throttledSent)
	slices.SortFunc(ts, time.Time.Compare)
	// The run ends at the throttled call sent before the one just
	// answered: the calls sent before it have been answered too.
	n := len(ts) - 1
	if n < 2 {
		return 0, false
	}
	maxGap := time.Second
	if !math.IsInf(l.rate, 1) {
		maxGap = max(maxGap, time.Duration(8*float64(time.Second)/l.rate))
	}
	last := ts[n-1]
	from := last
	for i := n - 2; i >= 0 && from.Sub(ts[i]) <= maxGap && !ts[i].Before(l.lastRaise); i-- {
		from = ts[i]
	}
	succ := 0
	for _, t := range l.succeededSent {
		if t.After(from) && t.Before(last) {
			succ++
		}
	}
	span := last.Sub(from)
	if succ < MinSamples || span <= 0 {
		return 0, false
	}
	// Between the two throttled arrivals (each finding less than a token)
	// the service gained succ tokens, give or take one; erring high costs a
	// few throttles (and nudges), erring low the whole run's pace.
	return (float64(succ) + 0.5) / span.Seconds(), true
}

// raise brings the rate back towards the learned one after a nudge or a
// halving, and probes above it once it has held long enough.
func (l *Limiter) raise(now time.Time) {
	if math.IsInf(l.rate, 1) {
		return
	}
	var lastThrottle time.Time
	if n := len(l.throttles); n > 0 {
		lastThrottle = l.throttles[n-1]
	}
	quiet := now.Sub(lastThrottle)
	step := max(time.Duration(float64(time.Second)/l.rate), 100*time.Millisecond)
	switch {
	case l.learned == 0:
		// Never measured: search upwards until throttles measure it, by
		// half, or closing in on a rate known to be too high.
		step = max(time.Duration(float64(time.Second)/l.rate), 50*time.Millisecond)
		// Slower once a rate was found too high, so that the throttles
		// that come now and then just above the service's rate can
		// gather into a measurement.
		// At most a second or two, so that a rate left low by a storm of
		// throttles comes back within seconds.
		gate := min(max(3*step, 200*time.Millisecond), time.Second)
		if l.hi > 0 {
			gate = min(max(6*step, 400*time.Millisecond), 2*time.Second)
		}
		if quiet >= gate && now.Sub(l.lastChange) >= gate {
			if l.hi > 0 && l.rate >= 0.95*l.hi {
				l.hi = 0 // reached without a throttle: it was not too high
			}
			next := 1.5 * l.rate
			if l.hi > 0 {
				next = min(next, max(1.1*l.rate, (l.rate+l.hi)/2))
			}
			l.lastRaise = now
			l.set(now, next, "raised")
		}
	case l.rate < Margin*l.learned:
		if quiet >= 4*step && now.Sub(l.lastChange) >= 4*step {
			l.lastRaise = now
			l.set(now, min(Margin*l.learned, l.rate*1.25), "back to learned")
		}
	case l.probeFrom > 0:
		if now.Sub(l.lastChange) >= l.hold {
			l.probeFrom = 0 // the probe held
			l.hold = min(2*l.hold, maxHold)
		}
	case quiet >= l.hold && now.Sub(l.learnedAt) >= l.hold && now.Sub(l.lastChange) >= l.hold:
		l.probeFrom = l.learned
		l.learned *= ProbeStep
		l.lastRaise = now
		l.set(now, Margin*l.learned, "probe")
	}
}

func (l *Limiter) set(now time.Time, rate float64, reason string) {
	l.rate, l.lastChange, l.reason = rate, now, reason
	l.freshThrottles, l.freshSuccesses = 0, 0
	// The next call waits at most one interval of the new rate.
	if limit := now.Add(time.Duration(float64(time.Second) / rate)); l.next.After(limit) {
		l.next = limit
	}
	if l.onChange != nil {
		l.onChange(Change{At: now, Elapsed: now.Sub(l.first), Rate: rate, Learned: l.learned, Reason: reason})
	}
}

// trimAny drops the times before from; ts is in no order.
func trimAny(ts []time.Time, from time.Time) []time.Time {
	out := ts[:0]
	for _, t := range ts {
		if !t.Before(from) {
			out = append(out, t)
		}
	}
	return out
}

// trim drops the times before from; ts is in order.
func trim(ts []time.Time, from time.Time) []time.Time {
	i := 0
	for i < len(ts) && ts[i].Before(from) {
		i++
	}
	if i == 0 {
		return ts
	}
	return append(ts[:0], ts[i:]...)
}
