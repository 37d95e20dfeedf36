package app_test

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/session-audit/session-audit/internal/app"
)

func TestTuneMemory(t *testing.T) {
	defer debug.SetMemoryLimit(math.MaxInt64)
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	tests := []struct {
		env  map[string]string
		want int64
		gogc int
	}{
		{map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128"}, 96 << 20, 400},
		{map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024", "GOGC": "100"}, 768 << 20, 100},
		{map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "GOMEMLIMIT": "200MiB"}, 0, 100},
		{map[string]string{}, 0, 100},
		{map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "lots"}, 0, 100},
	}
	for _, tt := range tests {
		debug.SetGCPercent(100)
		debug.SetMemoryLimit(math.MaxInt64)
		got := app.TuneMemory(func(k string) string { return tt.env[k] })
		runtimeLimit := int64(math.MaxInt64)
		if tt.want > 0 {
			runtimeLimit = tt.want
		}
		if got != tt.want || debug.SetMemoryLimit(-1) != runtimeLimit {
			t.Errorf("%v: limit %d (runtime %d), want %d", tt.env, got, debug.SetMemoryLimit(-1), tt.want)
		}
		if g := debug.SetGCPercent(100); g != tt.gogc {
			t.Errorf("%v: GOGC %d, want %d", tt.env, g, tt.gogc)
		}
	}
}
