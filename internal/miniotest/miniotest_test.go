package miniotest_test

import (
	"errors"
	"net/http"
	"os"
	"syscall"
	"testing"

	"github.com/session-audit/session-audit/internal/miniotest"
)

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
