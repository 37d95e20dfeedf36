package stack_test

import (
	"container/heap"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/session-audit/session-audit/internal/coverage"
	"github.com/session-audit/session-audit/internal/ssmfake"
	"github.com/session-audit/session-audit/internal/stsfake"
)

// retrier is a Task's Retry entry, with the Amazon States Language's
// defaults filled in.
type retrier struct {
	interval, backoff, maxDelay float64 // seconds; maxDelay 0: none
	maxAttempts                 int
	fullJitter                  bool
}

// retrierFor returns the retrier Step Functions applies to errName in a
// Task's Retry: the first whose ErrorEquals names it (or States.ALL or
// States.TaskFailed); ok is false when none does.
func retrierFor(task map[string]any, errName string) (retrier, bool) {
	num := func(v any, def float64) float64 {
		if f, ok := v.(float64); ok {
			return f
		}
		return def
	}
	for _, raw := range asList(task["Retry"]) {
		r := asMap(raw)
		errs := strs(r["ErrorEquals"])
		if !slices.Contains(errs, errName) && !slices.Contains(errs, "States.ALL") && !slices.Contains(errs, "States.TaskFailed") {
			continue
		}
		return retrier{
			interval: num(r["IntervalSeconds"], 1), backoff: num(r["BackoffRate"], 2), maxDelay: num(r["MaxDelaySeconds"], 0),
			maxAttempts: int(num(r["MaxAttempts"], 3)), fullJitter: r["JitterStrategy"] == "FULL",
		}, true
	}
	return retrier{}, false
}

// wait is the delay before the k-th retry (from 1), u the jitter's draw in
// [0, 1).
func (r retrier) wait(k int, u float64) float64 {
	w := r.interval * math.Pow(r.backoff, float64(k-1))
	if r.maxDelay > 0 {
		w = math.Min(w, r.maxDelay)
	}
	if r.fullJitter {
		w *= u
	}
	return w
}

// attemptQueue orders the children's next attempts by virtual time, then
// by child.
type attemptQueue []attempt

type attempt struct {
	at    float64
	child int
	n     int // the attempt, from 1
}

func (q attemptQueue) Len() int { return len(q) }
func (q attemptQueue) Less(i, j int) bool {
	return q[i].at < q[j].at || q[i].at == q[j].at && q[i].child < q[j].child
}
func (q attemptQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *attemptQueue) Push(x any)   { *q = append(*q, x.(attempt)) }
func (q *attemptQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// throttling is how Lambda answers a Map of children that all start at
// once against limit concurrent executions, each export lasting export
// seconds, when every throttled child retries as r says.
type throttling struct {
	runsAt []int     // per child: the attempt Lambda runs (from 1); 0: it never got a turn
	turnAt []float64 // per child: when it got its turn, virtual seconds
}

// simulateThrottling plays the children's attempts on a virtual clock, in
// time order: an attempt runs when fewer than limit exports are running at
// its moment, and is throttled otherwise; a throttled child retries after
// r's wait (full jitter drawn from a generator seeded per child), until
// r's attempts are spent. Virtual time makes the outcome independent of
// how fast this machine runs the engine.
func simulateThrottling(children, limit int, export float64, r retrier) throttling {
	res := throttling{runsAt: make([]int, children), turnAt: make([]float64, children)}
	jitter := make([]*rand.Rand, children)
	q := &attemptQueue{}
	for i := range children {
		jitter[i] = rand.New(rand.NewPCG(15, uint64(i)))
		heap.Push(q, attempt{at: 0, child: i, n: 1})
	}
	var running []float64 // end times
	for q.Len() > 0 {
		a := heap.Pop(q).(attempt)
		running = slices.DeleteFunc(running, func(end float64) bool { return end <= a.at })
		if len(running) < limit {
			running = append(running, a.at+export)
			res.runsAt[a.child], res.turnAt[a.child] = a.n, a.at
			continue
		}
		if a.n <= r.maxAttempts { // a.n-1 retries made so far
			heap.Push(q, attempt{at: a.at + r.wait(a.n, jitter[a.child].Float64()), child: a.child, n: a.n + 1})
		}
	}
	return res
}

// TestStateMachineRidesOutThrottling: 40 targets on an account whose
// Lambda concurrency is 10 (a new account's quota; no reservation, so the
// Map runs MapMaxConcurrency's 40 children at once), each export taking
// the function's whole timeout. Lambda throttles 30 of the 40 children at
// first, and keeps throttling each until a running export ends and its
// retry comes before the others'. The throttling retrier must wait long
// enough for every child's turn: all 40 end exported.
func TestStateMachineRidesOutThrottling(t *testing.T) {
	node, dir := nodeTools(t)
	now := time.Date(2026, 11, 25, 0, 20, 0, 0, time.UTC)
	const accountLimit = 10
	fake := ssmfake.New()
	sts := stsfake.New()
	var accounts string
	for i := range 20 {
		a := "123456789012"
		if i > 0 {
			a = fmt.Sprintf("1000000000%02d", i)
			sts.AllowRole(a, stsfake.Role{Name: localRole})
			accounts += ","
		}
		accounts += a
		for j, r := range []string{"us-east-1", "eu-west-1"} {
			fake.Target(a, r).Put(ssmfake.Generate(int64(100+2*i+j), now.Add(-50*time.Hour), now.Add(-time.Hour), 2)...)
		}
	}
	lambda := newLocalLambda(t, now, fake, sts, accounts, "us-east-1,eu-west-1")

	params := withParam(orgFixed, "MapMaxConcurrency", "40")
	def, _ := orgDefinition(t, params)
	if mc := state(def, "States", "Export")["MaxConcurrency"]; mc != float64(40) {
		t.Fatalf("MaxConcurrency %v", mc)
	}
	r, ok := retrierFor(state(def, "States", "Export", "ItemProcessor", "States", "ExportTarget"), "Lambda.TooManyRequestsException")
	if !ok {
		t.Fatal("ExportTarget does not retry Lambda.TooManyRequestsException")
	}
	timeout, err := strconv.Atoi(scalarString(asMap(asMap(loadTemplate(t)["Parameters"])["FunctionTimeout"])["Default"]))
	if err != nil {
		t.Fatal(err)
	}
	sim := simulateThrottling(40, accountLimit, float64(timeout), r)
	index := map[string]int{}
	lambda.throttle = func(target string, attempt int) bool {
		lambda.mu.Lock()
		defer lambda.mu.Unlock()
		if len(index) == 0 {
			for i, it := range lambda.items {
				index[it.Account+"/"+it.Region] = i
			}
		}
		i, ok := index[target]
		if !ok {
			t.Errorf("target %s was not planned", target)
			return false
		}
		return sim.runsAt[i] == 0 || attempt < sim.runsAt[i]
	}

	res := lambda.run(node, dir, params, `{"time":"2026-11-25T00:15:00Z"}`)
	throttledFirst, last := 0, 0.0
	for i, n := range sim.runsAt {
		if n != 1 {
			throttledFirst++
		}
		last = math.Max(last, sim.turnAt[i])
	}
	if throttledFirst != 30 {
		t.Errorf("Lambda throttled %d of 40 children at first, want 30", throttledFirst)
	}
	if res.Status != "SUCCEEDED" {
		t.Fatalf("execution %s: %s: %s (throttling retrier %+v: %d children never got a turn)", res.Status, res.Error, truncate(res.Cause, 400), r, len(sim.runsAt)-len(slices.DeleteFunc(slices.Clone(sim.runsAt), func(n int) bool { return n == 0 })))
	}
	var out coverage.Output
	if err := json.Unmarshal(res.Output, &out); err != nil {
		t.Fatalf("output %s: %v", res.Output, err)
	}
	if out.Targets != 40 || out.Exported != 40 {
		t.Errorf("coverage %+v; want 40 targets, 40 exported", out)
	}
	// The engine made exactly the attempts the model answered.
	lambda.mu.Lock()
	for target, i := range index {
		if got := lambda.attempts[target]; got != sim.runsAt[i] {
			t.Errorf("%s: %d invocations, want %d", target, got, sim.runsAt[i])
		}
	}
	lambda.mu.Unlock()
	t.Logf("the last of the 40 children got its turn after %.0f s (virtual), retrier %+v", last, r)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
