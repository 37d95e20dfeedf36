// Command profile is the session-audit command line (internal/cli) under
// the Go profiler, for finding where the function spends its CPU time and
// memory: PROFILE_CPU names the CPU profile to write, PROFILE_HEAP the
// allocation profile written at exit. bench/function.sh uses it when
// PROFILE=1.
//
//	PROFILE_CPU=cpu.prof profile run --account 123456789012 --event ev.json
//	go tool pprof -top profile cpu.prof
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/session-audit/session-audit/internal/cli"
)

func main() {
	if path := os.Getenv("PROFILE_CPU"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "profile:", err)
			os.Exit(2)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "profile:", err)
			os.Exit(2)
		}
	}
	code := cli.Main(os.Args[1:], cli.Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Now: time.Now})
	pprof.StopCPUProfile()
	if path := os.Getenv("PROFILE_HEAP"); path != "" {
		if f, err := os.Create(path); err == nil {
			runtime.GC()
			_ = pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
	}
	os.Exit(code)
}
