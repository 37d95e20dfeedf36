// Package kmstest is test support: it runs local-kms
// (github.com/nsmithuk/local-kms), a KMS emulator speaking KMS's JSON
// protocol with asymmetric keys (CreateKey with KeyUsage SIGN_VERIFY, Sign,
// Verify, GetPublicKey), as a child process on a port of its own choosing
// with a fresh data folder, for the tests of signed digests.
//
// The binary is built once per machine, outside the repository, by
// `make kms` (.ci/kms.sh) at Version into BinaryPath(). Without it a test is
// skipped locally and fails in CI (CI=true), where these tests must run.
package kmstest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/session-audit/session-audit/internal/cachedbin"
)

// Version is the local-kms module version that .ci/kms.sh builds with
// `go install github.com/nsmithuk/local-kms@Version`; a test keeps the two
// equal.
const Version = "v0.0.0-20260228092603-2a5e92d09ab6"

// BinaryEnv names an environment variable that points at another local-kms
// binary than the one `make kms` builds.
const BinaryEnv = "SESSION_AUDIT_KMS_BIN"

// Account and Region of every server started here: the key ARNs it makes
// carry them.
const (
	Account = "111122223333"
	Region  = "us-east-1"
)

const (
	readyTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
)

// binary is the server as `make kms` builds it.
var binary = cachedbin.Binary{Name: "local-kms", Version: Version, File: "local-kms", Env: BinaryEnv, Make: "make kms"}

// BinaryPath is where `make kms` installs the binary:
// $HOME/.cache/session-audit/local-kms/<Version>/local-kms, so that a version bump
// builds a new one.
func BinaryPath() (string, error) { return binary.Path() }

// Binary returns the binary to run: $SESSION_AUDIT_KMS_BIN if set, else BinaryPath().
// It is an error if that file is not there.
func Binary() (string, error) { return binary.Find() }

// Server is a running local-kms.
type Server struct {
	// URL is the KMS endpoint, http://127.0.0.1:<port>.
	URL string
	// PID is the server's process id.
	PID int

	cmd  *exec.Cmd
	mu   sync.Mutex
	logs strings.Builder
	done chan struct{}
}

// Start runs local-kms for the test with a fresh data folder and stops it,
// by its PID, when the test ends. Without a binary it skips the test,
// naming `make kms`, or fails it when CI=true.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := binary.Require(t, "KMS")
	s, err := start(bin, t.TempDir())
	if err != nil {
		t.Fatalf("start local-kms: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop local-kms (pid %d): %v", s.PID, err)
		}
	})
	return s
}

// started is the line local-kms prints once it listens; PORT=0 lets the
// kernel choose the port, so no other process can take it between a probe
// and the listen.
var started = regexp.MustCompile(`Local KMS started on [0-9.]+:([0-9]+)`)

func start(bin, dataDir string) (*Server, error) {
	s := &Server{done: make(chan struct{})}
	s.cmd = exec.Command(bin)
	s.cmd.Env = append(os.Environ(),
		"PORT=0",
		"KMS_ACCOUNT_ID="+Account,
		"KMS_REGION="+Region,
		"KMS_DATA_PATH="+dataDir,
		"KMS_SEED_PATH="+filepath.Join(dataDir, "no-seed.yaml"),
	)
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	s.cmd.Stderr = s.cmd.Stdout
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", bin, err)
	}
	s.PID = s.cmd.Process.Pid
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.logs.WriteString(line + "\n")
			s.mu.Unlock()
			if m := started.FindStringSubmatch(line); m != nil {
				select {
				case port <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, out) //nolint:errcheck // drain after a scan error
		s.cmd.Wait()             //nolint:errcheck // the exit is reported by done and the logs
		close(s.done)
	}()
	select {
	case p := <-port:
		s.URL = "http://127.0.0.1:" + p
		return s, nil
	case <-s.done:
		return nil, fmt.Errorf("local-kms (pid %d) exited before it listened: %s", s.PID, s.Logs())
	case <-time.After(readyTimeout):
		s.Stop() //nolint:errcheck // the start already failed
		return nil, fmt.Errorf("local-kms (pid %d) did not listen within %s: %s", s.PID, readyTimeout, s.Logs())
	}
}

// Client is a real SDK KMS client pointed at the server.
func (s *Server) Client() *kms.Client {
	return kms.New(kms.Options{
		Region:       Region,
		BaseEndpoint: aws.String(s.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("kmstest", "kmstest-secret", ""),
	})
}

// SigningKey creates an asymmetric ECC_NIST_P256 SIGN_VERIFY key and
// returns its id (an ARN).
func (s *Server) SigningKey(t testing.TB) string {
	t.Helper()
	out, err := s.Client().CreateKey(context.Background(), &kms.CreateKeyInput{
		KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY", Description: aws.String(t.Name()),
	})
	if err != nil {
		t.Fatalf("create signing key: %v", err)
	}
	return aws.ToString(out.KeyMetadata.Arn)
}

// Stop ends the server: SIGTERM to its PID, then SIGKILL if it has not
// exited in time. Stopping a stopped server does nothing.
func (s *Server) Stop() error {
	return cachedbin.Stop(s.cmd, s.done, stopTimeout)
}

// Logs is what the server has printed so far.
func (s *Server) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.TrimSpace(s.logs.String())
}
