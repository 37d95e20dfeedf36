package stack_test

import (
	"debug/elf"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestSamBuildTarget runs what `sam build` runs for the function
// (Metadata: BuildMethod: makefile): `make build-SessionAuditFunction` with
// ARTIFACTS_DIR, from the CodeUri (the repository root). It must leave a
// static linux/arm64 executable named bootstrap there, as provided.al2023
// on arm64 runs.
func TestSamBuildTarget(t *testing.T) {
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make is not installed")
	}
	fn := resolve(t, loadTemplate(t), defaults).resource(t, "SessionAuditFunction")
	target := "build-SessionAuditFunction" // sam build's target: build-<logical id>
	codeURI := scalarString(asMap(fn["Properties"])["CodeUri"])
	artifacts := filepath.Join(t.TempDir(), "artifacts")
	cmd := exec.Command(mk, target, "ARTIFACTS_DIR="+artifacts)
	cmd.Dir = filepath.Join(repoRoot(t), codeURI)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make %s: %v\n%s", target, err, out)
	}
	f, err := elf.Open(filepath.Join(artifacts, scalarString(asMap(fn["Properties"])["Handler"])))
	if err != nil {
		t.Fatalf("no bootstrap executable: %v", err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 || f.Class != elf.ELFCLASS64 || f.Type != elf.ET_EXEC {
		t.Errorf("bootstrap is %v %v %v; want a 64-bit arm64 executable", f.Class, f.Machine, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("bootstrap is dynamically linked: the function is built with CGO_ENABLED=0")
		}
	}

	// Without ARTIFACTS_DIR the target refuses, rather than writing /bootstrap.
	cmd = exec.Command(mk, target)
	cmd.Dir = filepath.Join(repoRoot(t), codeURI)
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("make %s without ARTIFACTS_DIR succeeded:\n%s", target, out)
	}
}

// TestSamBuildOrgFunction: `sam build` of the org function (org mode) runs
// `make build-OrgFunction` and gets a static linux/arm64 bootstrap.
func TestSamBuildOrgFunction(t *testing.T) {
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make is not installed")
	}
	fn := resolve(t, loadTemplate(t), orgFixed).resource(t, "OrgFunction")
	if bm := asMap(fn["Metadata"])["BuildMethod"]; bm != "makefile" {
		t.Fatalf("OrgFunction BuildMethod %v", bm)
	}
	artifacts := filepath.Join(t.TempDir(), "artifacts")
	cmd := exec.Command(mk, "build-OrgFunction", "ARTIFACTS_DIR="+artifacts)
	cmd.Dir = filepath.Join(repoRoot(t), scalarString(asMap(fn["Properties"])["CodeUri"]))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build-OrgFunction: %v\n%s", err, out)
	}
	f, err := elf.Open(filepath.Join(artifacts, scalarString(asMap(fn["Properties"])["Handler"])))
	if err != nil {
		t.Fatalf("no bootstrap executable: %v", err)
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
