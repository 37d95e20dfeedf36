package sessions

import "testing"

// TestZeroTuningIsTheDefault: a Lister without a Tuning sizes its
// sub-windows with DefaultTuning, one with a Tuning with that.
func TestZeroTuningIsTheDefault(t *testing.T) {
	if got := (&Lister{}).tuning(); got != DefaultTuning() {
		t.Errorf("zero Tuning gives %+v, want DefaultTuning %+v", got, DefaultTuning())
	}
	own := Tuning{SubsPerStream: 1, MinSubPages: 3, MaxSubPages: 5, Slack: 7}
	if got := (&Lister{Tuning: own}).tuning(); got != own {
		t.Errorf("Tuning %+v gives %+v", own, got)
	}
}
