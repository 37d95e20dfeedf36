package main

// BenchmarkColdStart measures the function's init: the time from starting
// the built bootstrap (the Lambda build: CGO_ENABLED=0, -tags lambda.norpc,
// -trimpath, -ldflags "-s -w", for this machine's architecture) to the
// first Runtime API request it makes (GET .../runtime/invocation/next),
// against a fake Runtime API on loopback that records when that request
// arrives. That span is process start, Go runtime and package init, main
// (configuration, SDK clients) and lambda.Start: what Lambda bills as Init.
//
//	go test -run '^$' -bench ColdStart -benchtime 20x ./functions/session-audit/
//
// It reports the mean and the median in ms, and the size of the binary.

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func BenchmarkColdStart(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "bootstrap")
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	info, err := os.Stat(bin)
	if err != nil {
		b.Fatal(err)
	}

	arrived := make(chan time.Time, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/runtime/invocation/next") {
			select {
			case arrived <- time.Now():
			default:
			}
			<-r.Context().Done() // no invocation: hold the request until the process is stopped
			return
		}
		http.NotFound(w, r)
	})}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	b.Cleanup(func() { srv.Close() })

	// What Lambda gives the function, and the configuration it needs; no
	// AWS_CA_BUNDLE (Lambda sets none, this machine does).
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_LAMBDA_RUNTIME_API=" + ln.Addr().String(),
		"AWS_LAMBDA_FUNCTION_NAME=session-audit", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST", "AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/session-audit",
		"AWS_REGION=us-east-1", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY=secret", "AWS_SESSION_TOKEN=token",
		"AUDIT_BUCKET=bench-bucket",
	}
	var inits []time.Duration
	for b.Loop() {
		cmd := exec.Command(bin)
		cmd.Env = env
		began := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case t := <-arrived:
			inits = append(inits, t.Sub(began))
		case err := <-exited:
			b.Fatalf("bootstrap exited before asking for an invocation: %v", err)
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			b.Fatal("no Runtime API request within 10s")
		}
		cmd.Process.Kill()
		<-exited
	}
	var sum time.Duration
	for _, d := range inits {
		sum += d
	}
	slices.Sort(inits)
	b.ReportMetric(float64(sum.Microseconds())/float64(len(inits))/1000, "init-ms")
	b.ReportMetric(float64(inits[len(inits)/2].Microseconds())/1000, "init-p50-ms")
	b.ReportMetric(float64(inits[len(inits)-1].Microseconds())/1000, "init-max-ms")
	b.ReportMetric(float64(info.Size())/(1<<20), "binary-MiB")
}
