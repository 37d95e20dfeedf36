package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMalformedParameterStopsStartUp builds the function (CGO_ENABLED=0, as
// deployed) and starts it with one bad threshold at a time: it must stop
// before serving, naming the variable.
func TestMalformedParameterStopsStartUp(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "bootstrap")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	base := []string{"AUDIT_BUCKET=b", "AUDIT_ATHENA_WORKGROUP=wg", "AUDIT_GLUE_DATABASE=db", "AWS_REGION=us-east-1", "PATH=" + os.Getenv("PATH")}
	for _, bad := range []string{"AUDIT_TIME_ZONE=Mars/Olympus", "AUDIT_BUSINESS_HOURS=18-08", "AUDIT_LONG_SESSION=long",
		"AUDIT_PRIVILEGED_OWNERS=%", "AUDIT_ALLOWED_DOCUMENTS=a'b"} {
		cmd := exec.Command(bin)
		cmd.Env = append(append([]string{}, base...), bad)
		out, err := cmd.CombinedOutput()
		name, _, _ := strings.Cut(bad, "=")
		if err == nil || cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), name) {
			t.Errorf("%s: exit %v, output %s", bad, err, out)
		}
	}
}
