// Package miniotest is test support: it runs a MinIO server, a real S3
// implementation (SigV4, checksums, multipart rules, conditional writes,
// versioning, an IAM policy engine), as a child process on a free loopback
// port with a fresh data folder, for the tests that must hold against more
// than an in-process fake.
//
// The binary is built once per machine, outside the repository, by
// `make minio` (.ci/minio.sh) at Version into BinaryPath(). Without it a
// test is skipped locally and fails in CI (CI=true), where these tests must
// run.
package miniotest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/session-audit/session-audit/internal/cachedbin"
)

// Version is the MinIO module version that .ci/minio.sh builds with
// `go install github.com/minio/minio@Version`; a test keeps the two equal.
const Version = "v0.0.0-20260212201848-7aac2a2c5b7c"

// BinaryEnv names an environment variable that points at another MinIO
// binary than the one `make minio` builds.
const BinaryEnv = "SESSION_AUDIT_MINIO_BIN"

// Root credentials and the region of every server started here.
const (
	RootUser     = "session-audit-root"
	RootPassword = "session-audit-root-secret"
	Region       = "us-east-1"
)

// readyTimeout bounds the wait for a new server to answer its health check.
const readyTimeout = 60 * time.Second

// stopTimeout is how long a server gets to exit after SIGTERM before SIGKILL.
const stopTimeout = 10 * time.Second

// binary is the server as `make minio` builds it.
var binary = cachedbin.Binary{Name: "minio", Version: Version, File: "minio", Env: BinaryEnv, Make: "make minio"}

// BinaryPath is where `make minio` installs the binary:
// $HOME/.cache/session-audit/minio/<Version>/minio, so that a version bump
// builds a new one.
func BinaryPath() (string, error) { return binary.Path() }

// Binary returns the binary to run: $SESSION_AUDIT_MINIO_BIN if set, else BinaryPath().
// It is an error if that file is not there.
func Binary() (string, error) { return binary.Find() }

// Server is a running MinIO server.
type Server struct {
	// URL is the S3 endpoint, http://127.0.0.1:<port>.
	URL string
	// PID is the server's process id.
	PID int
	// Dir is its data folder.
	Dir string

	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
}

// Start runs a MinIO server for the test with a fresh data folder and stops
// it, by its PID, when the test ends. Without a binary it skips the test,
// naming `make minio`, or fails it when CI=true.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := binary.Require(t, "MinIO")
	dir := t.TempDir()
	// A free port can be taken between our probe and MinIO's listen; a
	// server that exits before it is ready is tried again on another one.
	var lastErr error
	for range 3 {
		s, err := start(bin, dir, t.TempDir())
		if err == nil {
			t.Cleanup(func() {
				if err := s.Stop(); err != nil {
					t.Errorf("stop minio (pid %d): %v", s.PID, err)
				}
			})
			return s
		}
		lastErr = err
	}
	t.Fatalf("start minio: %v", lastErr)
	return nil
}

func start(bin, dataDir, certsDir string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", port)
	s := &Server{URL: "http://" + addr, Dir: dataDir, logs: &syncBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(bin, "server", "--quiet", "--address", addr, "--certs-dir", certsDir, dataDir)
	s.cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+RootUser,
		"MINIO_ROOT_PASSWORD="+RootPassword,
		"MINIO_REGION="+Region,
		"MINIO_BROWSER=off", // no console on a second port
		"MINIO_UPDATE=off",
		"MINIO_CALLHOME_ENABLE=off",
	)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	s.cmd.SysProcAttr = procAttr()
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", bin, err)
	}
	s.PID = s.cmd.Process.Pid
	go func() {
		s.cmd.Wait() //nolint:errcheck // the exit is reported by done and the logs
		close(s.done)
	}()
	if err := s.waitReady(); err != nil {
		s.Stop() //nolint:errcheck // the start already failed
		return nil, err
	}
	return s, nil
}

// waitReady polls the liveness endpoint until it answers 200 with its
// storage ready.
func (s *Server) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/minio/health/live", nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			// Live answers 200 as soon as it listens, and says "offline"
			// in this header until its storage is initialised.
			if resp.StatusCode == http.StatusOK && resp.Header.Get("X-Minio-Server-Status") == "" {
				return nil
			}
		}
		select {
		case <-s.done:
			return fmt.Errorf("minio (pid %d) exited before it was ready: %s", s.PID, s.Logs())
		case <-ctx.Done():
			return fmt.Errorf("minio (pid %d) not ready at %s after %s: %s", s.PID, s.URL, readyTimeout, s.Logs())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop ends the server: SIGTERM to its PID, then SIGKILL if it has not
// exited in time. Stopping a stopped server does nothing.
func (s *Server) Stop() error {
	return cachedbin.Stop(s.cmd, s.done, stopTimeout)
}

// Logs is what the server has printed so far.
func (s *Server) Logs() string {
	return strings.TrimSpace(s.logs.String())
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	return port, err
}

// syncBuffer collects the child's output, written from exec's copying
// goroutine and read by the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
