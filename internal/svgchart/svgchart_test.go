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
	hm := string(svgchart.Heatmap("heat", "sessions", []string{"Mon"}, []string{"00", "01"}, [][]int64{{0, 8}}))
	if !strings.Contains(hm, `data-key="Mon|00" data-value="0"`) || !strings.Contains(hm, `data-key="Mon|01" data-value="8"`) {
		t.Errorf("heatmap:\n%s", hm)
	}
	// The scale: five shades from 0 to the peak, each with its number.
	if !strings.Contains(hm, `data-scale-max="8"`) || !strings.Contains(hm, ">sessions per cell</text>") {
		t.Errorf("heatmap has no scale:\n%s", hm)
	}
	for _, n := range []string{">0<", ">2<", ">4<", ">6<", ">8<"} {
		if !strings.Contains(hm[strings.Index(hm, `class="scale"`):], n) {
			t.Errorf("the heatmap's scale does not say %s:\n%s", n, hm)
		}
	}
	if e := string(svgchart.Stacked("none", nil, nil, nil)); strings.Contains(e, "data-value") {
		t.Errorf("an empty chart has marks: %s", e)
	}
}

// TestLabelsCutOnTheRight: a long label keeps its start (the person) and
// ends in an ellipsis; the whole label and the key are in its title.
func TestLabelsCutOnTheRight(t *testing.T) {
	key := "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_AdministratorAccess_abcdef0123456789/erin.long-name@example.com"
	label := "erin.long-name@example.com (AdministratorAccess-With-A-Long-Name)"
	svg := string(svgchart.LabeledBars("owners", []string{key}, []string{label}, []int64{7}))
	want := svgchart.Shorten(label, 44)
	if !strings.HasPrefix(want, "erin.long-name@example.com") || !strings.HasSuffix(want, "…") || len([]rune(want)) != 44 {
		t.Fatalf("Shorten: %q", want)
	}
	if !strings.Contains(svg, "<title>"+label+"\n"+key+"</title>"+want+"</text>") || !strings.Contains(svg, `data-key="`+key+`" data-value="7"`) {
		t.Errorf("bars:\n%s", svg)
	}
	if strings.Contains(svg, ">…") {
		t.Errorf("a label cut on the left:\n%s", svg)
	}
}
