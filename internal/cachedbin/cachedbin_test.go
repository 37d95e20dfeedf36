package cachedbin_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/session-audit/session-audit/internal/cachedbin"
	"github.com/session-audit/session-audit/internal/kmstest"
	"github.com/session-audit/session-audit/internal/miniotest"
)

// TestBuildScriptsBuildTheseVersions: .ci/minio.sh (make minio) and
// .ci/kms.sh (make kms) build the versions the test-support packages look
// for, into folders named by them.
func TestBuildScriptsBuildTheseVersions(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	for _, tc := range []struct {
		script, variable, version string
		path                      func() (string, error)
	}{
		{"minio.sh", "MINIO_VERSION", miniotest.Version, miniotest.BinaryPath},
		{"kms.sh", "KMS_VERSION", kmstest.Version, kmstest.BinaryPath},
	} {
		script, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", ".ci", tc.script))
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`(?m)^` + tc.variable + `=(\S+)$`).FindSubmatch(script)
		if m == nil || string(m[1]) != tc.version {
			t.Errorf(".ci/%s builds %s=%q; the package's Version is %q", tc.script, tc.variable, m, tc.version)
		}
		path, err := tc.path()
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(filepath.Dir(path)) != tc.version {
			t.Errorf("binary path %s is not keyed by the version", path)
		}
	}
}

var testBinary = cachedbin.Binary{Name: "test-server", Version: "v1", File: "test-server", Env: "CACHEDBIN_TEST_BIN", Make: "make test-server"}

// TestFind: the environment variable names another binary, and a missing
// one is an error naming its path.
func TestFind(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none")
	t.Setenv(testBinary.Env, missing)
	if _, err := testBinary.Find(); err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing binary: error %v", err)
	}
	present := filepath.Join(t.TempDir(), "server")
	if err := os.WriteFile(present, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(testBinary.Env, present)
	if got, err := testBinary.Find(); err != nil || got != present {
		t.Errorf("Find() = %q, %v; want %q", got, err, present)
	}
}

// TestRequire: without a binary, Require skips the test locally, naming
// the make target, and fails it in CI. It runs this test binary again as
// the test that calls Require.
func TestRequire(t *testing.T) {
	if os.Getenv("CACHEDBIN_HELPER") == "1" {
		testBinary.Require(t, "test")
		t.Fatal("Require returned without a binary")
	}
	missing := filepath.Join(t.TempDir(), "none")
	for _, tc := range []struct {
		ci, want string
		fails    bool
	}{
		{"true", "CI must run the test tests", true},
		{"", "run `make test-server` to build it", false},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRequire$", "-test.v")
		cmd.Env = append(os.Environ(), "CACHEDBIN_HELPER=1", "CI="+tc.ci, testBinary.Env+"="+missing)
		out, err := cmd.CombinedOutput()
		if (err != nil) != tc.fails || !strings.Contains(string(out), tc.want) || !strings.Contains(string(out), missing) {
			t.Errorf("CI=%q: exit %v, output:\n%s\nwant failed=%v and %q", tc.ci, err, out, tc.fails, tc.want)
		}
		if !tc.fails && !strings.Contains(string(out), "--- SKIP") {
			t.Errorf("CI=%q: the test was not skipped:\n%s", tc.ci, out)
		}
	}
}
