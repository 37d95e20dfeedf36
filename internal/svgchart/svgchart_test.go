package svgchart_test

import (
	"strings"
	"testing"

	"github.com/session-audit/session-audit/internal/svgchart"
)

func TestMarksCarryTheirNumbers(t *testing.T) {
	bars := string(svgchart.Bars("owners", []string{"a<script>", "b"}, []int64{3, 1}))
	if strings.Contains(bars, "<script>") || !strings.Contains(bars, `data-key="a&lt;script&gt;" data-value="3"`) ||
		!strings.Contains(bars, "<title>b: 1</title>") {
		t.Errorf("bars:\n%s", bars)
	}
	st := string(svgchart.Stacked("days", []string{"d1", "d2"}, []string{"ok", "bad"}, [][]int64{{2, 0}, {1, 1}}))
	// A zero draws no mark; the others carry day|series and the value.
	if strings.Count(st, "<rect x=") != 3+2 || strings.Contains(st, `data-key="d1|bad"`) || !strings.Contains(st, `data-key="d2|bad" data-value="1"`) {
		t.Errorf("stacked:\n%s", st)
	}
	hm := string(svgchart.Heatmap("heat", []string{"Mon"}, []string{"00", "01"}, [][]int64{{0, 5}}))
	if !strings.Contains(hm, `data-key="Mon|00" data-value="0"`) || !strings.Contains(hm, `data-key="Mon|01" data-value="5"`) {
		t.Errorf("heatmap:\n%s", hm)
	}
	if e := string(svgchart.Stacked("none", nil, nil, nil)); strings.Contains(e, "data-value") {
		t.Errorf("an empty chart has marks: %s", e)
	}
}
