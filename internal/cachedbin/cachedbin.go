// Package cachedbin is test support for the servers the tests run as child
// processes (MinIO, local-kms): each is built once per machine by a script
// in .ci into $HOME/.cache/session-audit/<name>/<version>/<file>, found
// there or through an environment variable, skipped without it locally and
// failed without it in CI, and stopped by its PID.
package cachedbin

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Binary is a server binary built into the cache.
type Binary struct {
	Name    string // the cache folder and the name in messages, e.g. "minio"
	Version string // the module version built
	File    string // the executable's name
	Env     string // a variable naming another binary to run instead
	Make    string // the make target that builds it, e.g. "make minio"
}

// Path is where the build script installs it:
// $HOME/.cache/session-audit/<Name>/<Version>/<File>.
func (b Binary) Path() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("%s binary: %w", b.Name, err)
	}
	return filepath.Join(home, ".cache", "session-audit", b.Name, b.Version, b.File), nil
}

// Find returns the binary to run: $Env if set, else Path(). It is an error
// if that file is not there.
func (b Binary) Find() (string, error) {
	path := os.Getenv(b.Env)
	if path == "" {
		p, err := b.Path()
		if err != nil {
			return "", err
		}
		path = p
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("%s binary %s: %w", b.Name, path, err)
	}
	return path, nil
}

// Require returns the binary, or skips the test naming the make target, or
// fails it when CI=true, where every such test must run.
func (b Binary) Require(t testing.TB, what string) string {
	t.Helper()
	bin, err := b.Find()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v: CI must run the %s tests; build it with `%s` (.ci/run does)", err, what, b.Make)
		}
		t.Skipf("%v: run `%s` to build it (once per machine), or set %s", err, b.Make, b.Env)
	}
	return bin
}

// Stop ends a child started with cmd, whose exit closes done: SIGTERM to
// its PID, then SIGKILL if it has not exited within grace. Stopping a
// stopped child does nothing.
func Stop(cmd *exec.Cmd, done <-chan struct{}, grace time.Duration) error {
	select {
	case <-done:
		return nil
	default:
	}
	pid := cmd.Process.Pid
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal pid %d: %w", pid, err)
	}
	select {
	case <-done:
		return nil
	case <-time.After(grace):
	}
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill pid %d: %w", pid, err)
	}
	<-done
	return fmt.Errorf("pid %d ignored SIGTERM for %s and was killed", pid, grace)
}
