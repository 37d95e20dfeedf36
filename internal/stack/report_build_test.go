package stack_test

import (
	"debug/elf"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestSamBuildReportTarget runs what `sam build` runs for the report
// function: `make build-SessionAuditReportFunction` with ARTIFACTS_DIR. It
// must leave a static linux/arm64 bootstrap (CGO_ENABLED=0: no DuckDB).
func TestSamBuildReportTarget(t *testing.T) {
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make is not installed")
	}
	fn := resolve(t, loadTemplate(t), defaults).resource(t, "SessionAuditReportFunction")
	if bm := scalarString(asMap(fn["Metadata"])["BuildMethod"]); bm != "makefile" {
		t.Fatalf("BuildMethod %q", bm)
	}
	artifacts := filepath.Join(t.TempDir(), "artifacts")
	cmd := exec.Command(mk, "build-SessionAuditReportFunction", "ARTIFACTS_DIR="+artifacts)
	cmd.Dir = filepath.Join(repoRoot(t), scalarString(asMap(fn["Properties"])["CodeUri"]))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make: %v\n%s", err, out)
	}
	f, err := elf.Open(filepath.Join(artifacts, scalarString(asMap(fn["Properties"])["Handler"])))
	if err != nil {
		t.Fatalf("no bootstrap: %v", err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 || f.Type != elf.ET_EXEC {
		t.Errorf("bootstrap is %v %v; want an arm64 executable", f.Machine, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("bootstrap is dynamically linked")
		}
	}
}
