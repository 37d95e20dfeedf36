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
	"github.com/session-audit/session-audit/internal/owner"
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
	Text, Key, Title string
	Value            *int64
}

// targetView is a line of the per account and region table.
type targetView struct {
	TargetRow
	Account string
	// ByFinding says the rows per finding: "after-hours 12, long 1".
	ByFinding string
}

type findingView struct {
	FindingResult
	Guide   findings.Guide
	Order   string
	Columns []string
	Rows    []rowView
	More    int
}

// rowView is a finding's row on the page: its cells, and the ticket of
// the exception that covers it (empty when none).
type rowView struct {
	Cells     []rowCell
	Exception string
}

// rowCell is a finding's cell: Text shown, Title (the whole value, such as
// an owner's ARN) in the tooltip.
type rowCell struct {
	Text, Title string
}

// names are what the context tables know of the ids a report shows:
// account names (accounts) and machine names (nodes). Either may be empty:
// an id without a name is shown as it is.
type names struct {
	accounts map[string]string
	nodes    map[string]machine
}

// account says an account as "name (id)", or the id.
func (n names) account(id string) string {
	if name := n.accounts[id]; name != "" {
		return name + " (" + id + ")"
	}
	return id
}

// target says a session's target as what it is: an instance by its Name
// tag or host name with the id beside it; a managed (hybrid) instance or
// an ECS task named as such.
func (n names) target(id string) string {
	m, known := n.nodes[id]
	name := cmp.Or(m.Name, m.ComputerName)
	switch {
	case strings.HasPrefix(id, "mi-"):
		if name != "" {
			return name + " (managed instance " + id + ")"
		}
		return "managed instance " + id
	case strings.HasPrefix(id, "ecs:"):
		// ecs:<cluster>_<task id>_<container runtime id>
		parts := strings.SplitN(strings.TrimPrefix(id, "ecs:"), "_", 3)
		if len(parts) >= 2 {
			return "ECS task " + parts[1] + " in cluster " + parts[0]
		}
		return "ECS task " + strings.TrimPrefix(id, "ecs:")
	case known && name != "":
		return name + " (" + id + ")"
	}
	return id
}

// label is how a column's value is shown: principal ARNs as people,
// targets and accounts by name, the default shell named; the value itself
// stays in the title.
func (n names) label(column, value string) string {
	switch column {
	case "owner", "caller_arn":
		return owner.Label(value)
	case "target":
		return n.target(value)
	case "account_id", "account":
		return n.account(value)
	}
	return value
}

// showCell is a finding cell as shown.
func (n names) showCell(column, value string) rowCell {
	switch {
	case value == "" && (column == "document_name" || column == "document"):
		return rowCell{Text: findings.DefaultShell + " (default shell)", Title: "no document: the default shell"}
	case value == "":
		return rowCell{}
	}
	if l := n.label(column, value); l != value {
		return rowCell{Text: l, Title: value}
	}
	return rowCell{Text: value}
}

type page struct {
	S          *Summary
	MaxTargets int
	Targets    []targetView
	Bucket     string
	Period     string
	Days       string
	Charts     []chart
	Findings   []findingView
	Params     findings.Params
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

func render(s *Summary, p findings.Params, nm names) ([]byte, error) {
	bucket, _, _ := strings.Cut(strings.TrimPrefix(s.Location, "s3://"), "/")
	pg := page{S: s, Params: p, Bucket: bucket, MaxTargets: sampleRows,
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
	heat.SVG = svgchart.Heatmap(heat.Title, "sessions", weekdays, hours, grid)
	pg.Charts = append(pg.Charts, heat)

	same := func(k string) string { return k }
	bars := func(id, title, what string, cs []Count, label func(string) string) chart {
		c := chart{ID: id, Title: title, Head: []string{what, "sessions"}, Empty: len(cs) == 0 || s.Sessions == 0}
		var keys, labels []string
		var values []int64
		for _, x := range cs {
			l := label(x.Key)
			keys = append(keys, x.Key)
			labels = append(labels, l)
			values = append(values, x.Count)
			first := cell{Text: l}
			if l != x.Key {
				first.Title = x.Key
			}
			c.Rows = append(c.Rows, []cell{first, {Text: strconv.FormatInt(x.Count, 10), Key: x.Key, Value: v(x.Count)}})
		}
		c.SVG = svgchart.LabeledBars(title, keys, labels, values)
		return c
	}
	pg.Charts = append(pg.Charts,
		bars("owners", fmt.Sprintf("Top %d owners", topN), "owner", s.TopOwners, owner.Label),
		bars("targets", fmt.Sprintf("Top %d targets", topN), "target", s.TopTargets, nm.target),
		bars("durations", "Session durations", "duration", s.Durations, same),
		bars("documents", "Documents used", "document", s.Documents, same),
	)
	if s.Trail.On() {
		trailBars := func(id, title, what, unit string, cs []Count, label func(string) string) chart {
			c := bars(id, title, what, cs, label)
			c.Head[1], c.Empty = unit, len(cs) == 0
			return c
		}
		pg.Charts = append(pg.Charts,
			trailBars("denied-by-caller", fmt.Sprintf("Denied session attempts: top %d people", topN), "person", "attempts", s.Trail.DeniedByCaller, owner.Label),
			trailBars("sources", fmt.Sprintf("Top %d source addresses of sessions (CloudTrail)", topN), "source address", "sessions", s.Trail.Sources, same),
			trailBars("clients", "Sessions started in the console, with the CLI or an SDK", "client", "sessions", s.Trail.Clients, same),
		)
	}

	for _, f := range s.Findings {
		res := s.results[f.ID]
		def, _ := findings.ByID(f.ID)
		fv := findingView{FindingResult: f, Guide: def.Guide(p), Order: def.Order, Columns: res.Columns}
		rows := res.Rows
		if len(rows) > sampleRows {
			rows = rows[:sampleRows] // the CSV has them all
		}
		fv.More = res.Count - len(rows)
		ex := slices.Index(res.Columns, ExceptionColumn)
		for _, row := range rows {
			var rv rowView
			for j, x := range row {
				if j == ex {
					rv.Exception = str(x)
					continue
				}
				c := nm.showCell(res.Columns[j], str(x))
				switch res.Columns[j] {
				case "status":
					if f.ID == "active-at-end" {
						// Its recorded status is the one it ended with, later.
						c = rowCell{Text: "active at the period's end", Title: "status recorded later: " + str(x)}
					}
				case "local_weekday":
					if d, err := strconv.Atoi(str(x)); err == nil && d >= 1 && d <= 7 {
						c = rowCell{Text: weekdays[d-1], Title: "ISO day " + str(x)}
					}
				}
				rv.Cells = append(rv.Cells, c)
			}
			fv.Rows = append(fv.Rows, rv)
		}
		fv.Columns = nil
		for j, col := range res.Columns {
			switch {
			case j == ex:
				continue
			case strings.HasPrefix(col, "local_"):
				col += " (" + p.TimeZone + ")"
			case j < len(res.Types) && strings.HasPrefix(strings.ToLower(res.Types[j]), "timestamp"):
				col += " (UTC)"
			}
			fv.Columns = append(fv.Columns, col)
		}
		if ex >= 0 {
			fv.Columns = append(fv.Columns, "expected?")
		}
		pg.Findings = append(pg.Findings, fv)
	}
	for _, t := range s.Targets {
		tv := targetView{TargetRow: t, Account: nm.account(t.AccountID)}
		var parts []string
		for _, f := range s.Findings {
			if n := t.Findings[f.ID]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", f.ID, n))
			}
		}
		tv.ByFinding = strings.Join(parts, ", ")
		pg.Targets = append(pg.Targets, tv)
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
	"signed": func(n int) string {
		if n > 0 {
			return "+" + strconv.Itoa(n)
		}
		if n < 0 {
			return "−" + strconv.Itoa(-n)
		}
		return "±0"
	},
	"day": func(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04") },
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
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; } td.id { white-space: nowrap; } th { background: #f3f3f3; }
.meta td:first-child { color: #555; } .none { color: #777; font-style: italic; } .count { font-size: 1.1em; font-weight: 600; }
figure { margin: 1em 0 2em; page-break-inside: avoid; } figcaption { font-weight: 600; margin-bottom: .4em; }
details summary { cursor: pointer; color: #444; } .wide { max-width: 100%; }
table.rows, table.targets, table.summary { width: 100%; table-layout: auto; } td { overflow-wrap: anywhere; word-break: break-word; }
tr.expected td { color: #5a6b5a; background: #f4faf4; } .review td.review, td.review strong { color: #a00; } .prev { color: #777; font-size: .9em; }
.warn { color: #a00; } p.defines { font-weight: 600; margin-bottom: .2em; } p.review { margin-top: 0; color: #333; } .mono { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 11.5px; }
@page { size: A4; margin: 12mm 10mm; }
@media print { body { margin: 0; max-width: none; font-size: 11px; } table { font-size: 9.5px; } .mono { font-size: 9px; } tr { page-break-inside: avoid; } figure svg { max-width: 100%; height: auto; } #summary { page-break-after: auto; } details::details-content { content-visibility: visible; display: block; } details > summary { display: none; } h2 { page-break-after: avoid; } section { page-break-inside: auto; } }
</style>
</head>
<body>
<h1>Session audit report</h1>
<p id="period" data-from="{{date .S.From}}" data-to="{{date .S.To}}"><strong>{{.Period}}</strong> ({{.Days}}, {{.S.Kind}}). Generated {{date .S.GeneratedAt}}. Stored at <span class="mono">{{.S.Location}}</span>.</p>
{{with .S.Complete.DaysMissing}}<p id="days-missing" class="warn"><strong>Days missing from the archive:</strong> {{range $i, $d := .}}{{if $i}}, {{end}}{{$d}}{{end}} (UTC; no manifest for at least one account/region: sessions of those days are not in this report).</p>{{end}}

<section id="summary">
<h2>Needs attention</h2>
<table class="summary">
<tr><th>finding</th><th class="n">rows</th><th class="n" title="the previous period: {{day .S.Previous.From}} – {{day .S.Previous.To}} UTC">change</th><th class="n">covered by an exception</th><th class="n">to review</th><th>rows</th></tr>
{{range .Findings}}<tr data-summary="{{.ID}}"><td><a href="{{.Section}}">{{.Title}}</a></td><td class="n" data-count="{{.Count}}">{{.Count}}</td><td class="n" data-change="{{.Change}}" title="{{.Previous}} in the previous period">{{signed .Change}} <span class="prev">(from {{.Previous}})</span></td><td class="n" data-excepted="{{.Excepted}}">{{.Excepted}}</td><td class="n review" data-review="{{.ToReview}}">{{if .ToReview}}<strong>{{.ToReview}}</strong>{{else}}0{{end}}</td><td><a href="{{.CSV}}">{{.CSV}}</a></td></tr>
{{end}}</table>
<p class="note">Change: against the previous period of the same length, {{day .S.Previous.From}} – {{day .S.Previous.To}} UTC. Covered: rows an entry of the exceptions file marks as expected ({{if .S.Exceptions.Found}}<span class="mono">{{.S.Exceptions.Key}}</span>{{with .S.Exceptions.VersionID}}, version {{.}}{{end}}{{else}}no exceptions file{{end}}).</p>
</section>

<section id="thresholds">
<h2>Thresholds</h2>
<table class="meta">
<tr><td>Business hours</td><td>{{.S.Thresholds.BusinessHours}}, Monday to Friday, {{.S.Thresholds.TimeZone}}</td></tr>
<tr><td>Long session</td><td>longer than {{.S.Thresholds.LongSession}}</td></tr>
<tr><td>Document allow-list</td><td>{{range $i, $d := .S.Thresholds.AllowedDocuments}}{{if $i}}, {{end}}{{$d}}{{end}}</td></tr>
<tr><td>Privileged owners (LIKE)</td><td class="mono">{{range $i, $d := .S.Thresholds.PrivilegedOwners}}{{if $i}}, {{end}}{{$d}}{{end}}</td></tr>
<tr><td>Allowed source addresses</td><td class="mono">{{range $i, $d := .S.Trail.AllowedSourceCIDRs}}{{if $i}}, {{end}}{{$d}}{{else}}<span class="none">not set: sessions from outside addresses are not judged</span>{{end}}</td></tr>
</table>
</section>

<section id="targets">
<h2>Per account and region</h2>
{{if .Targets}}<table class="targets"><tr><th>account</th><th>region</th><th class="n">sessions</th><th class="n">finding rows</th><th class="n">to review</th><th>rows by finding</th><th>coverage (runs exported)</th><th>last run (UTC)</th></tr>
{{range $i, $t := .Targets}}{{if lt $i $.MaxTargets}}{{with $t}}<tr data-target="{{.Key}}" data-sessions="{{.Sessions}}" data-rows="{{.Rows}}" data-review="{{.ToReview}}"><td class="id">{{.Account}}</td><td class="id">{{.Region}}</td><td class="n">{{.Sessions}}</td><td class="n">{{.Rows}}</td><td class="n">{{.ToReview}}</td><td>{{if .ByFinding}}{{.ByFinding}}{{else}}<span class="none">none</span>{{end}}</td><td>{{if .Runs}}{{.LastStatus}} ({{.Exported}} of {{.Runs}}){{else}}<span class="none">no coverage records</span>{{end}}</td><td>{{if .LastRun}}{{.LastRun}}{{else}}<span class="none">–</span>{{end}}</td></tr>
{{end}}{{end}}{{end}}</table>{{if gt (len .Targets) .MaxTargets}}<p>… and {{sub (len .Targets) .MaxTargets}} more in <a href="targets.csv">targets.csv</a>.</p>{{else}}<p>Every line in <a href="targets.csv">targets.csv</a>.</p>{{end}}{{else}}<p class="none">none</p>{{end}}
</section>

<section id="exceptions" data-found="{{.S.Exceptions.Found}}">
<h2>Exceptions</h2>
{{if .S.Exceptions.Found}}<p>From <span class="mono">s3://{{.Bucket}}/{{.S.Exceptions.Key}}</span>{{with .S.Exceptions.VersionID}}, version <span class="mono">{{.}}</span>{{end}}{{with .S.Exceptions.ETag}}, ETag <span class="mono">{{.}}</span>{{end}}. Invalid and expired entries are listed here and never applied; an entry that expires inside the period covers the sessions that started before its end.</p>
{{if .S.Exceptions.Entries}}<table class="rows"><tr><th>line</th><th>finding</th><th>owner</th><th>target</th><th>document</th><th>days, hours ({{.Params.TimeZone}})</th><th>ticket</th><th>approved by</th><th>expires (last day, UTC)</th><th>state</th><th class="n">rows covered</th></tr>
{{range .S.Exceptions.Entries}}<tr data-line="{{.Line}}" data-state="{{.State}}" data-rows="{{.Rows}}"><td class="n">{{.Line}}</td><td>{{.Finding}}</td><td class="mono">{{.Owner}}</td><td class="mono">{{.Target}}</td><td class="mono">{{.Document}}</td><td>{{.Days}} {{.Hours}}</td><td>{{.Label}}</td><td>{{.ApprovedBy}}</td><td>{{.Expires}}</td><td>{{if eq .State "invalid"}}<strong>invalid, not applied:</strong> {{range $i, $p := .Problems}}{{if $i}}; {{end}}{{$p}}{{end}}{{else if eq .State "expired"}}<strong>expired, not applied</strong>{{else if eq .State "expires"}}<strong>expires inside the period</strong>{{else}}applied{{end}}</td><td class="n">{{.Rows}}</td></tr>
{{end}}</table>{{else}}<p class="none">the file has no entries</p>{{end}}
{{else}}<p class="none">No exceptions file (<span class="mono">s3://{{.Bucket}}/{{.S.Exceptions.Key}}</span>): every row is to review.</p>{{end}}
</section>

<section id="cloudtrail-context" data-trail="{{if .S.Trail.On}}on{{else}}off{{end}}">
<h2>CloudTrail context</h2>
{{if .S.Trail.On}}<p>Read in place from <span class="mono">{{.S.Trail.Location}}</span>: who started each session from which address and with what client, and the attempts Session Manager refused, which the session history never lists.</p>
<table>
<tr><th>Sessions started (StartSession)</th><td class="n" id="trail-starts" data-value="{{.S.Trail.Starts}}">{{.S.Trail.Starts}}</td><td>{{.S.Trail.StartsWithMFA}} by callers signed in with MFA</td></tr>
<tr><th>Denied session attempts</th><td class="n" id="trail-denied" data-value="{{.S.Trail.DeniedAttempts}}">{{.S.Trail.DeniedAttempts}}</td><td>by {{.S.Trail.DeniedCallers}} {{if eq .S.Trail.DeniedCallers 1}}principal{{else}}principals{{end}}; every one in denied.csv</td></tr>
</table>
{{else}}<p class="off" id="trail-off"><strong>This context is off:</strong> no CloudTrail trail is configured (the stack parameter CloudTrailLocation, AUDIT_CLOUDTRAIL_LOCATION), so this report shows no denied session attempts, no source addresses and not how sessions were started.</p>{{end}}
</section>

<section id="completeness">
<h2>Completeness</h2>
<table>
<tr><th>Slots expected</th><td class="n" data-value="{{.S.Complete.SlotsExpected}}">{{.S.Complete.SlotsExpected}}</td><td>every slot of the period for each exported account/region</td></tr>
<tr><th>Slots with manifests</th><td class="n" data-value="{{.S.Complete.SlotsWithManifests}}">{{.S.Complete.SlotsWithManifests}}</td><td>{{if .S.Complete.SlotsMissing}}missing: {{range $i, $m := .S.Complete.SlotsMissing}}{{if $i}}, {{end}}{{$m}}{{end}}{{with sub (sub .S.Complete.SlotsExpected .S.Complete.SlotsWithManifests) (len .S.Complete.SlotsMissing)}}{{if gt . 0}} and {{.}} more{{end}}{{end}}{{else}}none missing{{end}}</td></tr>
{{if .S.Complete.DaysOnTwoLengths}}<tr><th>Days on two slot lengths</th><td class="n" data-value="{{len .S.Complete.DaysOnTwoLengths}}">{{len .S.Complete.DaysOnTwoLengths}}</td><td>exported before each day kept one slot length; their sessions are held twice and counted once: {{range $i, $d := .S.Complete.DaysOnTwoLengths}}{{if $i}}, {{end}}{{$d}}{{end}}</td></tr>
{{end}}<tr><th>Kept slots</th><td class="n" data-value="{{.S.Complete.SlotsKept}}">{{.S.Complete.SlotsKept}}</td><td>a re-export that found fewer sessions than the archive holds (History keeps 30 days, or the filters changed) keeps the older objects; the manifest records it under "kept"</td></tr>
<tr><th>Sessions still pending</th><td class="n" data-value="{{.S.Complete.SessionsPending}}">{{.S.Complete.SessionsPending}}</td><td>active when their slot was exported, not yet in the archive</td></tr>
<tr><th>Rows in manifests</th><td class="n" data-value="{{.S.Complete.RowsInManifests}}">{{.S.Complete.RowsInManifests}}</td><td>Athena counts {{.S.Sessions}} sessions{{if ne .S.Complete.RowsInManifests .S.Sessions}}: they differ, see the manifests{{else}}: they agree{{end}}</td></tr>
{{with .S.Complete.Duplicates}}<tr id="duplicates"><th>Sessions held more than once</th><td class="n" data-value="{{.Sessions}}">{{.Sessions}}</td><td>{{if .Sessions}}every number in this report counts each of them once, from its latest export; {{.ExtraRows}} {{if eq .ExtraRows 1}}row{{else}}rows{{end}} beyond the first copies.
Objects that hold them: {{range $i, $o := .Objects}}{{if lt $i 20}}{{if $i}}, {{end}}<span class="mono" data-object="{{$o.Key}}">{{$o.Key}}</span> ({{$o.Count}}){{end}}{{end}}{{if gt (len .Objects) 20}} and {{sub (len .Objects) 20}} more{{end}}.
Sessions: {{range $i, $d := .Sample}}{{if lt $i 20}}{{if $i}}; {{end}}<span class="mono" data-session="{{$d.SessionID}}">{{$d.Target}} {{$d.SessionID}}</span> ({{$d.Copies}} copies){{end}}{{end}}{{if gt .Sessions 20}} and {{sub .Sessions 20}} more{{end}}; every one with its objects in <span class="mono">{{.CSV}}</span>.{{else}}none: each session is held once{{end}}</td></tr>
{{end}}<tr><th>Accounts × regions</th><td class="n">{{len .S.Complete.Targets}}</td><td>{{range $i, $t := .S.Complete.Targets}}{{if lt $i 20}}{{if $i}}, {{end}}{{$t}}{{end}}{{else}}<span class="none">none</span>{{end}}{{if gt (len .S.Complete.Targets) 20}} and {{sub (len .S.Complete.Targets) 20}} more (targets.csv){{end}}{{with .S.Complete.Coverage}}; coverage records: {{.Covered}} of {{.Targets}} covered in every run{{end}}</td></tr>
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
{{range .Rows}}<tr>{{range .}}{{if .Value}}<td class="n" data-key="{{.Key}}" data-value="{{.Value}}">{{.Text}}</td>{{else}}<td{{if .Title}} title="{{.Title}}"{{end}}>{{.Text}}</td>{{end}}{{end}}</tr>
{{end}}</table></div></details>{{end}}
</figure>
{{end}}
</section>

{{range .Findings}}<section id="finding-{{.ID}}" data-finding="{{.ID}}" data-count="{{.Count}}">
<h2>{{.Title}}</h2>
<p class="defines">{{.Guide.Defines}}</p>
<p class="review">{{.Guide.Review}}</p>
<p><span class="count">{{.Count}}</span> {{if eq .Count 1}}row{{else}}rows{{end}}{{if .Excepted}}, {{.Excepted}} covered by an exception, {{.ToReview}} to review{{end}}; every row in <a class="mono" href="{{.CSV}}">{{.CSV}}</a>{{if .Rows}}; {{.Order}}{{end}}.</p>
{{if .Rows}}<div class="wide"><table class="rows"><tr>{{range .Columns}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr{{if .Exception}} class="expected" data-exception="{{.Exception}}"{{end}}>{{range .Cells}}<td{{if .Title}} title="{{.Title}}"{{end}}>{{.Text}}</td>{{end}}<td>{{if .Exception}}expected: {{.Exception}}{{else}}<span class="none">review</span>{{end}}</td></tr>
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
