package auditreport

import (
	"testing"
	"time"
)

// TestLength: the report's header gives a period in words, never as a
// fraction of days ("2.4166666666666665 days").
func TestLength(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{7 * 24 * time.Hour, "7 days"},
		{24 * time.Hour, "1 day"},
		{58 * time.Hour, "2 days 10 hours"},
		{25*time.Hour + 30*time.Minute, "1 day 1 hour 30 minutes"},
		{90 * time.Second, "1 minute 30 seconds"},
		{0, "0 seconds"},
	} {
		if got := length(tt.d); got != tt.want {
			t.Errorf("length(%s) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
