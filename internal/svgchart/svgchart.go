// Package svgchart draws the audit report's charts as inline SVG: stacked
// bars, a heatmap and horizontal bars. Every mark carries its numbers in
// data-key and data-value attributes and a <title> (the tooltip, and what
// a screen reader says), so a test can check a chart against its table.
package svgchart

import (
	"fmt"
	"html"
	"html/template"
	"strings"
)

// Palette is the colours of the series, in order (colour-blind safe).
var Palette = []string{"#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#bbbbbb", "#222255"}

func esc(s string) string { return html.EscapeString(s) }

// Stacked draws one bar per category (a day) stacked by series (a status).
// values[i][j] is category i, series j.
func Stacked(title string, categories, series []string, values [][]int64) template.HTML {
	const w, h, left, bottom, top = 720, 240, 48, 56, 12
	var peak int64
	for _, row := range values {
		var s int64
		for _, v := range row {
			s += v
		}
		peak = max(peak, s)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`, w, h+22, w, h+22, esc(title))
	fmt.Fprintf(&b, `<title>%s</title>`, esc(title))
	axis(&b, left, top, w, h-bottom, peak)
	if len(categories) > 0 && peak > 0 {
		slot := float64(w-left-8) / float64(len(categories))
		bw := slot * 0.75
		plot := float64(h - bottom - top)
		for i, c := range categories {
			x := float64(left) + float64(i)*slot + (slot-bw)/2
			y := float64(h - bottom)
			for j, s := range series {
				v := values[i][j]
				if v == 0 {
					continue
				}
				hh := plot * float64(v) / float64(peak)
				y -= hh
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" data-key="%s|%s" data-value="%d"><title>%s, %s: %d</title></rect>`,
					x, y, bw, hh, Palette[j%len(Palette)], esc(c), esc(s), v, esc(c), esc(s), v)
			}
			if len(categories) <= 16 || i%((len(categories)+15)/16) == 0 {
				fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="10" text-anchor="end" transform="rotate(-45 %.1f %d)">%s</text>`,
					x+bw/2, h-bottom+14, x+bw/2, h-bottom+14, esc(c))
			}
		}
	}
	legend(&b, series, left, h+12)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func axis(b *strings.Builder, left, top, w, base int, max int64) {
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#444"/>`, left, base, w-4, base)
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#444"/>`, left, top, left, base)
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="10" text-anchor="end">%d</text>`, left-4, top+8, max)
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="10" text-anchor="end">0</text>`, left-4, base)
}

func legend(b *strings.Builder, series []string, x, y int) {
	for j, s := range series {
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d" font-size="11">%s</text>`,
			x, y-9, Palette[j%len(Palette)], x+14, y, esc(s))
		x += 24 + 7*len(s)
	}
}

// heatShade is a heatmap cell's opacity for a share of the peak (0-1).
func heatShade(share float64) float64 { return 0.04 + 0.96*share }

// Heatmap draws counts[row][col] as shaded cells: rows are the days of the
// week, columns the hours; under them a scale of five shades from 0 to the
// peak, in unit.
func Heatmap(title, unit string, rows, cols []string, counts [][]int64) template.HTML {
	const cell, left, top, scaleH = 26, 40, 18, 34
	w, h := left+cell*len(cols)+4, top+cell*len(rows)+4+scaleH
	var peak int64
	for _, r := range counts {
		for _, v := range r {
			peak = max(peak, v)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s"><title>%s</title>`, w, h, w, h, esc(title), esc(title))
	for j, c := range cols {
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="10" text-anchor="middle">%s</text>`, left+j*cell+cell/2, top-5, esc(c))
	}
	for i, r := range rows {
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="end">%s</text>`, left-4, top+i*cell+cell/2+4, esc(r))
		for j, c := range cols {
			v := counts[i][j]
			shade := 0.0
			if peak > 0 {
				shade = float64(v) / float64(peak)
			}
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#4477aa" fill-opacity="%.2f" stroke="#ddd" data-key="%s|%s" data-value="%d"><title>%s %s:00: %d</title></rect>`,
				left+j*cell, top+i*cell, cell, cell, heatShade(shade), esc(r), esc(c), v, esc(r), esc(c), v)
		}
	}
	// The scale: what each shade means.
	y := top + cell*len(rows) + 12
	fmt.Fprintf(&b, `<g class="scale" data-scale-max="%d">`, peak)
	for k := range 5 {
		v := peak * int64(k) / 4
		x := left + k*72
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="14" fill="#4477aa" fill-opacity="%.2f" stroke="#ddd"/><text x="%d" y="%d" font-size="10">%d</text>`,
			x, y, cell, heatShade(float64(k)/4), x+cell+4, y+11, v)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="10">%s per cell</text>`, left+5*72, y+11, esc(unit))
	b.WriteString(`</g></svg>`)
	return template.HTML(b.String())
}

// Bars draws one horizontal bar per label.
func Bars(title string, labels []string, values []int64) template.HTML {
	return LabeledBars(title, labels, labels, values)
}

// labelRunes is how many characters of a bar's label are drawn.
const labelRunes = 44

// LabeledBars draws one horizontal bar per key, shown as its label: the
// marks carry the key in data-key (what the table beside the chart
// names), the text the label. A label longer than the space is cut on the
// right with an ellipsis, never on the left, and the whole label and key
// are in its <title>.
func LabeledBars(title string, keys, labels []string, values []int64) template.HTML {
	const row, left, w = 20, 320, 760
	h := row*len(labels) + 8
	var peak int64
	for _, v := range values {
		peak = max(peak, v)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s"><title>%s</title>`, w, h, w, h, esc(title), esc(title))
	for i, l := range labels {
		y := 4 + i*row
		bw := 0.0
		if peak > 0 {
			bw = float64(w-left-70) * float64(values[i]) / float64(peak)
		}
		full := l
		if keys[i] != l {
			full = l + "\n" + keys[i]
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="end"><title>%s</title>%s</text>`, left-6, y+13, esc(full), esc(Shorten(l, labelRunes)))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s" data-key="%s" data-value="%d"><title>%s: %d</title></rect>`,
			left, y+2, bw, row-6, Palette[0], esc(keys[i]), values[i], esc(l), values[i])
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11">%d</text>`, float64(left)+bw+4, y+13, values[i])
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// Shorten keeps the first n-1 characters of s and an ellipsis when s is
// longer than n characters: cut on the right, so the start (a person's
// name) stays readable.
func Shorten(s string, n int) string {
	r := []rune(s)
	if n < 1 || len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
