package stack_test

import (
	"encoding/json"
	"strconv"
	"testing"
)

// TestMapConcurrencyWithinReserved: the Map never runs more children than
// the exporter's ReservedConcurrency (the rest would only be throttled):
// its MaxConcurrency is min(MapMaxConcurrency, ReservedConcurrency), and
// MapMaxConcurrency alone without a reservation, for every
// ReservedConcurrency the parameter accepts.
func TestMapConcurrencyWithinReserved(t *testing.T) {
	tpl := loadTemplate(t)
	p := asMap(asMap(tpl["Parameters"])["ReservedConcurrency"])
	lo, err1 := strconv.Atoi(scalarString(p["MinValue"]))
	hi, err2 := strconv.Atoi(scalarString(p["MaxValue"]))
	if err1 != nil || err2 != nil || lo != 0 {
		t.Fatalf("ReservedConcurrency MinValue %v MaxValue %v", p["MinValue"], p["MaxValue"])
	}
	maps := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 25, 40, 10000}
	for reserved := lo; reserved <= hi; reserved++ {
		for _, m := range maps {
			params := withParam(withParam(orgFixed, "ReservedConcurrency", strconv.Itoa(reserved)), "MapMaxConcurrency", strconv.Itoa(m))
			s := resolve(t, tpl, params)
			var def map[string]any
			if err := json.Unmarshal([]byte(scalarString(s.props(t, "OrgStateMachine")["DefinitionString"])), &def); err != nil {
				t.Fatal(err)
			}
			want := m
			if reserved > 0 && reserved < m {
				want = reserved
			}
			if got := state(def, "States", "Export")["MaxConcurrency"]; got != float64(want) {
				t.Errorf("ReservedConcurrency %d, MapMaxConcurrency %d: the Map's MaxConcurrency is %v, want %d", reserved, m, got, want)
			}
			rce := s.props(t, "SessionAuditFunction")["ReservedConcurrentExecutions"]
			if (reserved == 0 && rce != nil) || (reserved > 0 && scalarString(rce) != strconv.Itoa(reserved)) {
				t.Errorf("ReservedConcurrency %d: the function reserves %v", reserved, rce)
			}
		}
	}
}
