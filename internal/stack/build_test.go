package stack_test

import (
	"debug/elf"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestSamBuildTargets runs what `sam build` runs for each function
// (Metadata: BuildMethod: makefile): `make build-<logical id>` with
// ARTIFACTS_DIR, from the CodeUri (the repository root). Each must leave a
// static linux/arm64 executable named bootstrap there, as provided.al2023
// on arm64 runs (CGO_ENABLED=0: no DuckDB in any function), and refuse to
// run without ARTIFACTS_DIR rather than write /bootstrap.
func TestSamBuildTargets(t *testing.T) {
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make is not installed")
	}
	for _, tc := range []struct {
		logicalID string
		params    map[string]string
	}{
		{"SessionAuditFunction", defaults},
		{"OrgFunction", orgFixed}, // deployed in org mode only
		{"SessionAuditReportFunction", defaults},
	} {
		t.Run(tc.logicalID, func(t *testing.T) {
			fn := resolve(t, loadTemplate(t), tc.params).resource(t, tc.logicalID)
			if bm := scalarString(asMap(fn["Metadata"])["BuildMethod"]); bm != "makefile" {
				t.Fatalf("%s BuildMethod %q; want makefile", tc.logicalID, bm)
			}
			target := "build-" + tc.logicalID // sam build's target
			dir := filepath.Join(repoRoot(t), scalarString(asMap(fn["Properties"])["CodeUri"]))
			artifacts := filepath.Join(t.TempDir(), "artifacts")
			cmd := exec.Command(mk, target, "ARTIFACTS_DIR="+artifacts)
			cmd.Dir = dir
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
					t.Error("bootstrap is dynamically linked: the functions are built with CGO_ENABLED=0")
				}
			}
			cmd = exec.Command(mk, target)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err == nil {
				t.Errorf("make %s without ARTIFACTS_DIR succeeded:\n%s", target, out)
			}
		})
	}
}
