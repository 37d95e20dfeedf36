// Package benchdata holds what the Go benchmarks share: the slot they
// export and how many sessions it holds.
package benchdata

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/session-audit/session-audit/internal/window"
)

// Slot is the benchmarks' slot: a Wednesday, office hours busier than the
// night.
var Slot = window.Slot{Start: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)}

// Sessions is the number of sessions in Slot: BENCH_SESSIONS, or 100,000.
func Sessions(tb testing.TB) int {
	if v := os.Getenv("BENCH_SESSIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			tb.Fatalf("BENCH_SESSIONS=%q is not a positive number", v)
		}
		return n
	}
	return 100_000
}
