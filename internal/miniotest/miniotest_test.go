package miniotest_test

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"syscall"
	"testing"

	"github.com/session-audit/session-audit/internal/miniotest"
)

// TestBuildScriptBuildsThisVersion: .ci/minio.sh (make minio) builds the
// version this package looks for.
func TestBuildScriptBuildsThisVersion(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	script, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", ".ci", "minio.sh"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^MINIO_VERSION=(\S+)$`).FindSubmatch(script)
	if m == nil || string(m[1]) != miniotest.Version {
		t.Fatalf(".ci/minio.sh builds MINIO_VERSION=%q; miniotest.Version is %q", m, miniotest.Version)
	}
	path, err := miniotest.BinaryPath()
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(filepath.Dir(path)) != miniotest.Version {
		t.Errorf("binary path %s is not keyed by the version", path)
	}
}

// TestBinaryOverride: the environment variable names another binary, and a
// missing one is an error naming its path.
func TestBinaryOverride(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-minio")
	t.Setenv(miniotest.BinaryEnv, missing)
	if _, err := miniotest.Binary(); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing binary: error %v", err)
	}
	present := filepath.Join(t.TempDir(), "minio")
	if err := os.WriteFile(present, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(miniotest.BinaryEnv, present)
	if got, err := miniotest.Binary(); err != nil || got != present {
		t.Errorf("Binary() = %q, %v; want %q", got, err, present)
	}
}

// TestStartAndStop: a started server answers its health check on loopback
// with its own data folder; Stop ends the process.
func TestStartAndStop(t *testing.T) {
	s := miniotest.Start(t)
	resp, err := http.Get(s.URL + "/minio/health/live")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("health: %s", resp.Status)
	}
	if entries, err := os.ReadDir(s.Dir); err != nil || len(entries) == 0 {
		t.Errorf("data folder %s: %v entries, %v", s.Dir, len(entries), err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(s.PID, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("pid %d still exists after Stop: %v", s.PID, err)
	}
	if _, err := http.Get(s.URL + "/minio/health/live"); err == nil {
		t.Error("the server still answers after Stop")
	}
}
