package miniotest_test

import (
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
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

// TestMissingBinary: without a binary, Start skips the test locally,
// naming the make target, and fails it in CI. It runs this test binary
// again as the test that calls Start.
func TestMissingBinary(t *testing.T) {
	if os.Getenv("MINIOTEST_MISSING_HELPER") == "1" {
		miniotest.Start(t)
		t.Fatal("Start returned without a binary")
	}
	missing := filepath.Join(t.TempDir(), "no-minio")
	for _, tc := range []struct {
		ci, want string
		fails    bool
	}{
		{"true", "CI must run the MinIO tests", true},
		{"", "run `make minio` to build it", false},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissingBinary$", "-test.v")
		cmd.Env = append(os.Environ(), "MINIOTEST_MISSING_HELPER=1", "CI="+tc.ci, miniotest.BinaryEnv+"="+missing)
		out, err := cmd.CombinedOutput()
		if (err != nil) != tc.fails || !strings.Contains(string(out), tc.want) || !strings.Contains(string(out), missing) {
			t.Errorf("CI=%q: exit %v, output:\n%s\nwant failed=%v and %q", tc.ci, err, out, tc.fails, tc.want)
		}
		if !tc.fails && !strings.Contains(string(out), "--- SKIP") {
			t.Errorf("CI=%q: the test was not skipped:\n%s", tc.ci, out)
		}
	}
}
