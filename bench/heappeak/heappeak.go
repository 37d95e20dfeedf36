// Package heappeak measures, for benchmarks, the peak of the live heap
// during a piece of work.
package heappeak

import (
	"runtime"
	"runtime/metrics"
	"time"
)

// Peak samples the live heap (as of the last GC) every millisecond between
// Start and End.
type Peak struct {
	stop chan struct{}
	done chan float64
}

// Start collects garbage, takes the live heap as the base and starts
// sampling.
func Start() *Peak {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	runtime.GC()
	metrics.Read(s)
	base := s[0].Value.Uint64()
	p := &Peak{stop: make(chan struct{}), done: make(chan float64, 1)}
	go func() {
		var peak uint64
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-p.stop:
				p.done <- float64(peak-min(peak, base)) / (1 << 20)
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// End stops sampling and returns the peak above the base, in MiB.
func (p *Peak) End() float64 {
	close(p.stop)
	return <-p.done
}
