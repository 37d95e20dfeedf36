package auditreport

import (
	"bytes"
	"cmp"
	"fmt"
	"html/template"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/session-audit/session-audit/internal/findings"
	"github.com/session-audit/session-audit/internal/svgchart"
)

// sampleRows is how many rows of each finding the page shows; the CSV has
// them all.
const sampleRows = 50

var weekdays = []string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}

// chart is one figure: an SVG and the table of its numbers.
type chart struct {
	ID, Title string
	SVG       template.HTML
	Head      []string
	Rows      [][]cell
	Empty     bool
}

// cell is a table cell; Key and Value, when set, tie it to a chart mark.
type cell struct {
	Text, Key string
	Value     *int64
}

type findingView struct {
	FindingResult
	Order   string
	Columns []string
	Rows    [][]string
	More    int
}

type page struct {
	S        *Summary
	Period   string
	Days     string
	Charts   []chart
	Findings []findingView
	Params   findings.Params
}

func v(n int64) *int64 { return &n }

// length says how long a period is in words: "7 days", "2 days 10 hours",
// "1 day 30 minutes", to the second.
func length(d time.Duration) string {
	var parts []string
	for _, u := range []struct {
		name string
		d    time.Duration
	}{{"day", 24 * time.Hour}, {"hour", time.Hour}, {"minute", time.Minute}, {"second", time.Second}} {
		if n := d / u.d; n > 0 {
			d -= n * u.d
			name := u.name
			if n != 1 {
				name += "s"
			}
			parts = append(parts, fmt.Sprintf("%d %s", n, name))
		}
	}
	if len(parts) == 0 {
		return "0 seconds"
	}
	return strings.Join(parts, " ")
}

func render(s *Summary, p findings.Params) ([]byte, error) {
	pg := page{S: s, Params: p,
		Period: s.From.Format("Mon 2 Jan 2006 15:04") + " – " + s.To.Format("Mon 2 Jan 2006 15:04") + " UTC",
		Days:   length(s.To.Sub(s.From)),
	}
	// Sessions per day, stacked by status.
	var days, statuses []string
	seen := map[string]bool{}
	// The biggest status at the bottom, in the first colour.
	byCount := slices.Clone(s.ByStatus)
	slices.SortStableFunc(byCount, func(a, b Count) int { return cmp.Compare(b.Count, a.Count) })
	for _, st := range byCount {
		statuses = append(statuses, st.Key)
	}
	for _, d := range s.PerDay {
		if !seen[d.Day] {
			seen[d.Day] = true
			days = append(days, d.Day)
		}
	}
	vals := make([][]int64, len(days))
	per := chart{ID: "per-day", Title: "Sessions per day (UTC), by status", Head: append([]string{"day"}, statuses...), Empty: len(days) == 0}
	for i, d := range days {
		vals[i] = make([]int64, len(statuses))
		for _, x := range s.PerDay {
			if x.Day == d {
				for j, st := range statuses {
					if st == x.Status {
						vals[i][j] = x.Sessions
					}
				}
			}
		}
		row := []cell{{Text: d}}
		for j, st := range statuses {
			row = append(row, cell{Text: strconv.FormatInt(vals[i][j], 10), Key: d + "|" + st, Value: v(vals[i][j])})
		}
		per.Rows = append(per.Rows, row)
	}
	per.SVG = svgchart.Stacked(per.Title, days, statuses, vals)
	pg.Charts = append(pg.Charts, per)

	// Heatmap.
	hours := make([]string, 24)
	for h := range hours {
		hours[h] = fmt.Sprintf("%02d", h)
	}
	heat := chart{ID: "heatmap", Title: "Sessions by day of week and hour (" + p.TimeZone + ")", Head: append([]string{""}, hours...), Empty: s.Sessions == 0}
	grid := make([][]int64, 7)
	for d := range 7 {
		grid[d] = s.Heatmap[d][:]
		row := []cell{{Text: weekdays[d]}}
		for h := range 24 {
			row = append(row, cell{Text: strconv.FormatInt(grid[d][h], 10), Key: weekdays[d] + "|" + hours[h], Value: v(grid[d][h])})
		}
		heat.Rows = append(heat.Rows, row)
	}
	heat.SVG = svgchart.Heatmap(heat.Title, weekdays, hours, grid)
	pg.Charts = append(pg.Charts, heat)

	bars := func(id, title, what string, cs []Count) chart {
		c := chart{ID: id, Title: title, Head: []string{what, "sessions"}, Empty: len(cs) == 0 || s.Sessions == 0}
		var labels []string
		var values []int64
		for _, x := range cs {
			labels = append(labels, x.Key)
			values = append(values, x.Count)
			c.Rows = append(c.Rows, []cell{{Text: x.Key}, {Text: strconv.FormatInt(x.Count, 10), Key: x.Key, Value: v(x.Count)}})
		}
		c.SVG = svgchart.Bars(title, labels, values)
		return c
	}
	pg.Charts = append(pg.Charts,
		bars("owners", fmt.Sprintf("Top %d owners", topN), "owner", s.TopOwners),
		bars("targets", fmt.Sprintf("Top %d targets", topN), "target", s.TopTargets),
		bars("durations", "Session durations", "duration", s.Durations),
		bars("documents", "Documents used", "document", s.Documents),
	)

	for _, f := range s.Findings {
		res := s.results[f.ID]
		def, _ := findings.ByID(f.ID)
		fv := findingView{FindingResult: f, Order: def.Order, Columns: res.Columns}
		fv.More = res.Count - len(res.Rows)
		for _, row := range res.Rows {
			cells := make([]string, len(row))
			for j, x := range row {
				cells[j] = str(x)
			}
			fv.Rows = append(fv.Rows, cells)
		}
		pg.Findings = append(pg.Findings, fv)
	}
	var b bytes.Buffer
	if err := pageTmpl.Execute(&b, pg); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

var pageTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"date":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"bytes": humanBytes,
	"sub":   func(a, b int) int { return a - b },
}).Parse(pageHTML))

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Session audit report, {{.Period}}</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #1d1d1f; margin: 2em auto; max-width: 1100px; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: .6em 0; font-size: 12.5px; } th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: left; vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; } th { background: #f3f3f3; }
.meta td:first-child { color: #555; } .none { color: #777; font-style: italic; } .count { font-size: 1.1em; font-weight: 600; }
figure { margin: 1em 0 2em; page-break-inside: avoid; } figcaption { font-weight: 600; margin-bottom: .4em; }
details summary { cursor: pointer; color: #444; } .wide { overflow-x: auto; } .mono { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 11.5px; }
@media print { body { margin: 0; max-width: none; } details::details-content { content-visibility: visible; display: block; } details > summary { display: none; } h2 { page-break-after: avoid; } section { page-break-inside: auto; } }
</style>
</head>
<body>
<h1>Session audit report</h1>
<p id="period" data-from="{{date .S.From}}" data-to="{{date .S.To}}"><strong>{{.Period}}</strong> ({{.Days}}, {{.S.Kind}}). Generated {{date .S.GeneratedAt}}. Stored at <span class="mono">{{.S.Location}}</span>.</p>
<table class="meta">
<tr><td>Business hours</td><td>{{.S.Thresholds.BusinessHours}}, Monday to Friday, {{.S.Thresholds.TimeZone}}</td></tr>
<tr><td>Long session</td><td>longer than {{.S.Thresholds.LongSession}}</td></tr>
<tr><td>Document allow-list</td><td>{{range $i, $d := .S.Thresholds.AllowedDocuments}}{{if $i}}, {{end}}{{$d}}{{end}}</td></tr>
<tr><td>Privileged owners (LIKE)</td><td class="mono">{{range $i, $d := .S.Thresholds.PrivilegedOwners}}{{if $i}}, {{end}}{{$d}}{{end}}</td></tr>
</table>

<section id="completeness">
<h2>Completeness</h2>
<table>
<tr><th>Slots expected</th><td class="n" data-value="{{.S.Complete.SlotsExpected}}">{{.S.Complete.SlotsExpected}}</td><td>every slot of the period for each exported account/region</td></tr>
<tr><th>Slots with manifests</th><td class="n" data-value="{{.S.Complete.SlotsWithManifests}}">{{.S.Complete.SlotsWithManifests}}</td><td>{{if .S.Complete.SlotsMissing}}missing: {{range $i, $m := .S.Complete.SlotsMissing}}{{if $i}}, {{end}}{{$m}}{{end}}{{else}}none missing{{end}}</td></tr>
<tr><th>Kept slots</th><td class="n" data-value="{{.S.Complete.SlotsKept}}">{{.S.Complete.SlotsKept}}</td><td>a re-export that found fewer sessions than the archive holds (History keeps 30 days, or the filters changed) keeps the older objects; the manifest records it under "kept"</td></tr>
<tr><th>Sessions still pending</th><td class="n" data-value="{{.S.Complete.SessionsPending}}">{{.S.Complete.SessionsPending}}</td><td>active when their slot was exported, not yet in the archive</td></tr>
<tr><th>Rows in manifests</th><td class="n" data-value="{{.S.Complete.RowsInManifests}}">{{.S.Complete.RowsInManifests}}</td><td>Athena counts {{.S.Sessions}} sessions{{if ne .S.Complete.RowsInManifests .S.Sessions}}: they differ, see the manifests{{else}}: they agree{{end}}</td></tr>
<tr><th>Accounts × regions</th><td class="n">{{len .S.Complete.Targets}}</td><td>{{range $i, $t := .S.Complete.Targets}}{{if $i}}, {{end}}{{$t}}{{else}}<span class="none">none</span>{{end}}{{with .S.Complete.Coverage}}; coverage records: {{.Covered}} of {{.Targets}} covered in every run{{end}}</td></tr>
</table>
</section>

<section id="status">
<h2>Sessions by status</h2>
{{if .S.ByStatus}}<table><tr><th>status</th><th class="n">sessions</th></tr>
{{range .S.ByStatus}}<tr><td>{{if .Key}}{{.Key}}{{else}}(none){{end}}</td><td class="n" data-key="{{.Key}}" data-value="{{.Count}}">{{.Count}}</td></tr>
{{end}}<tr><th>total</th><th class="n" id="total" data-value="{{.S.Sessions}}">{{.S.Sessions}}</th></tr></table>
{{else}}<p class="none">none</p>{{end}}
</section>

<section id="charts">
{{range .Charts}}<figure id="chart-{{.ID}}" data-chart="{{.ID}}">
<figcaption>{{.Title}}</figcaption>
{{if .Empty}}<p class="none">none</p>{{else}}{{.SVG}}
<details><summary>Numbers</summary><div class="wide"><table class="numbers">
<tr>{{range .Head}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr>{{range .}}{{if .Value}}<td class="n" data-key="{{.Key}}" data-value="{{.Value}}">{{.Text}}</td>{{else}}<td>{{.Text}}</td>{{end}}{{end}}</tr>
{{end}}</table></div></details>{{end}}
</figure>
{{end}}
</section>

{{range .Findings}}<section id="finding-{{.ID}}" data-finding="{{.ID}}" data-count="{{.Count}}">
<h2>{{.Title}}</h2>
<p><span class="count">{{.Count}}</span> {{if eq .Count 1}}row{{else}}rows{{end}}; every row in <span class="mono">{{.CSV}}</span>{{if .Rows}}; {{.Order}}{{end}}.</p>
{{if .Rows}}<div class="wide"><table class="rows"><tr>{{range .Columns}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table></div>{{if .More}}<p>… and {{.More}} more in {{.CSV}}.</p>{{end}}
{{else}}<p class="none">none</p>{{end}}
</section>
{{end}}

<section id="trail">
<h2>Audit trail: Athena queries</h2>
<table><tr><th>query</th><th>query execution id</th><th class="n">data scanned</th></tr>
{{range .S.Queries}}<tr><td>{{.Name}}</td><td class="mono">{{.ID}}</td><td class="n" data-value="{{.Scanned}}">{{bytes .Scanned}}</td></tr>
{{end}}</table>
</section>
</body>
</html>
`
