// Package lambdarun drives the built bootstrap through the AWS Lambda
// Runtime Interface Emulator (RIE), with the files in events/: the path that
// `sam local invoke` takes, without Docker. The RIE is a Go tool of this
// module (the `tool` directive in go.mod pins its version), so the tests
// build it with the module's own toolchain and need no network.
package lambdarun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// rieModule is the RIE's main package; its version comes from go.mod.
const rieModule = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"

// functionName is the function name RIE is told; RIE invokes the function as
// arn:aws:lambda:us-east-1:012345678912:function:<functionName>.
const (
	functionName = "session-audit"
	rieAccount   = "012345678912"
)

// binDir holds the binaries the tests build once per run.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lambdarun-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// bins are the built bootstrap and RIE.
type bins struct {
	bootstrap string
	rie       string
}

// moduleRoot is the folder of go.mod, found upwards from the package.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test's folder")
		}
		dir = parent
	}
}

// build compiles both binaries concurrently, once per test run.
//
// The bootstrap is built like `make build` (CGO_ENABLED=0, -tags
// lambda.norpc) but for the HOST platform, not linux/arm64: the tests must
// execute it here, and an arm64 binary cannot run on this amd64 machine.
// Only the target differs; the code is the same.
var build = sync.OnceValues(func() (bins, error) {
	root, err := moduleRoot()
	if err != nil {
		return bins{}, err
	}
	goCmd, err := exec.LookPath("go") // go test puts its own GOROOT/bin first on PATH
	if err != nil {
		return bins{}, err
	}
	b := bins{bootstrap: filepath.Join(binDir, "bootstrap"), rie: filepath.Join(binDir, "aws-lambda-rie")}
	env := append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	jobs := [][]string{
		{"build", "-tags", "lambda.norpc", "-o", b.bootstrap, "./functions/session-audit"},
		{"build", "-o", b.rie, rieModule},
	}
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, args := range jobs {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, goCmd, args...)
			cmd.Dir, cmd.Env = root, env
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		})
	}
	wg.Wait()
	return b, errors.Join(errs...)
})

func binaries(t *testing.T) bins {
	t.Helper()
	b, err := build()
	if err != nil {
		t.Fatalf("building the bootstrap and the RIE: %v", err)
	}
	return b
}

// freeAddr picks a free loopback port by listening on :0 and closing.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// isolatedEnv is the environment every process here starts from: nothing
// of the test's own (no AWS_CA_BUNDLE, profiles or endpoints), shared
// config files that do not exist, and no instance metadata look-ups.
func isolatedEnv(home string) map[string]string {
	return map[string]string{
		"PATH":                        os.Getenv("PATH"),
		"HOME":                        home,
		"AWS_CONFIG_FILE":             filepath.Join(home, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, "no-aws-credentials"),
		"AWS_EC2_METADATA_DISABLED":   "true",
	}
}

func envList(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

// rie is a running Runtime Interface Emulator with the bootstrap as its
// function.
type rie struct {
	invokeURL string
	stdout    *lockedBuffer // RIE's START/END/REPORT lines and the function's stdout and stderr
	stderr    *lockedBuffer // RIE's own log
	exited    chan struct{}
	client    *http.Client
}

// startRIE runs
//
//	aws-lambda-rie --runtime-interface-emulator-address 127.0.0.1:<free> \
//	    --runtime-api-address 127.0.0.1:<free> <bootstrap>
//
// with env as its whole environment, which RIE hands on to the function. Both
// addresses are set: by default RIE listens on 0.0.0.0:8080 and serves its
// runtime API on 127.0.0.1:9001. RIE has no --help (it ignores unknown flags
// and starts serving), so it is never run with one. The first argument after
// the flags is the command RIE runs as the runtime; RIE starts it lazily, at
// the first invocation, in RIE's working directory.
func startRIE(t *testing.T, b bins, env map[string]string) *rie {
	t.Helper()
	addr, apiAddr := freeAddr(t), freeAddr(t)
	r := &rie{
		invokeURL: "http://" + addr + "/2015-03-31/functions/function/invocations",
		stdout:    &lockedBuffer{},
		stderr:    &lockedBuffer{},
		exited:    make(chan struct{}),
		client:    &http.Client{Timeout: 2 * time.Minute},
	}
	cmd := exec.Command(b.rie,
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", apiAddr,
		b.bootstrap)
	cmd.Dir = t.TempDir()
	cmd.Env = envList(env)
	cmd.Stdout, cmd.Stderr = r.stdout, r.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting RIE: %v", err)
	}
	go func() { cmd.Wait(); close(r.exited) }() //nolint:errcheck // the exit is seen through exited
	t.Cleanup(func() {
		// On SIGTERM RIE shuts the runtime (the bootstrap) down and exits.
		cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // it may have exited
		select {
		case <-r.exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill() //nolint:errcheck // last resort
			<-r.exited
		}
		if t.Failed() {
			t.Logf("RIE stdout:\n%s\nRIE stderr:\n%s", r.stdout, r.stderr)
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return r
		}
		select {
		case <-r.exited:
			t.Fatalf("RIE exited before listening on %s:\n%s%s", addr, r.stdout, r.stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("RIE is not listening on %s after 15s: %v\n%s", addr, err, r.stderr)
		}
	}
}

// invoke posts one event as `sam local invoke` does and returns RIE's
// status and body.
func (r *rie) invoke(t *testing.T, event []byte) (int, []byte) {
	t.Helper()
	resp, err := r.client.Post(r.invokeURL, "application/json", bytes.NewReader(event))
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	if _, err := body.ReadFrom(resp.Body); err != nil {
		t.Fatalf("invoke: reading the answer: %v", err)
	}
	return resp.StatusCode, body.Bytes()
}
