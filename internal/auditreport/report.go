// Package auditreport makes the session audit report of a period: it runs
// every finding (internal/findings) and the aggregates behind the charts in
// Athena, pruned by dt, reads the manifests for completeness, and writes
// report.html (self-contained, inline SVG charts), summary.json and one CSV
// per finding under <prefix>/reports/<kind>/<from>_<to>/, only once every
// query has succeeded.
package auditreport

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/session-audit/session-audit/internal/cloudtrail"
	"github.com/session-audit/session-audit/internal/findings"
	"github.com/session-audit/session-audit/internal/store"
)

// PublishAPI sends the notification.
type PublishAPI interface {
	Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// S3API is what the report needs of S3: the manifests, and its objects.
type S3API interface {
	ManifestAPI
	store.PutAPI
}

// Reporter makes reports.
type Reporter struct {
	Config Config
	Athena AthenaAPI
	S3     S3API
	// SNS is nil when no topic is configured.
	SNS    PublishAPI
	Now    func() time.Time
	Logger *slog.Logger
	// Poll is the first wait between GetQueryExecution calls (default 500ms);
	// Sleep waits (default a timer).
	Poll  time.Duration
	Sleep func(context.Context, time.Duration) error
	// TempDir holds the findings' CSV files until they are uploaded
	// (default the system's, /tmp in Lambda).
	TempDir string
}

// FindingResult is one finding in summary.json.
type FindingResult struct {
	ID      string `json:"id"`
	Title   string `json:"title"`
	Count   int    `json:"count"`
	CSV     string `json:"csv"`
	QueryID string `json:"queryExecutionId"`
	Scanned int64  `json:"dataScannedInBytes"`
	// Previous is the count over the previous period of the same length;
	// Change is Count − Previous.
	Previous int `json:"previous"`
	Change   int `json:"change"`
	// Excepted is the rows an exception covers; ToReview the rest.
	Excepted int `json:"excepted"`
	ToReview int `json:"toReview"`
	// Section is the link to the finding's section of report.html.
	Section string `json:"section"`
	// PerTarget is the rows per account/region ("account/region").
	PerTarget map[string]int `json:"perTarget"`
}

// Period is a range [From, To).
type Period struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// previousName is the query of a finding's count over the previous period.
func previousName(id string) string { return "previous-" + id }

// countSQL counts the rows of a finding's query.
func countSQL(sql string) string {
	return "SELECT count(*) AS n FROM (\n" + sql + "\n) AS finding"
}

// Count is a key and its number.
type Count struct {
	Key   string `json:"key"`
	Count int64  `json:"count"`
}

// Summary is summary.json.
type Summary struct {
	Kind        string          `json:"kind"`
	From        time.Time       `json:"from"`
	To          time.Time       `json:"to"`
	GeneratedAt time.Time       `json:"generatedAt"`
	Location    string          `json:"location"`
	Thresholds  Thresholds      `json:"thresholds"`
	Complete    Completeness    `json:"completeness"`
	Sessions    int64           `json:"sessions"`
	ByStatus    []Count         `json:"byStatus"`
	PerDay      []DayCount      `json:"perDay"`
	Heatmap     [7][24]int64    `json:"heatmapWeekdayHour"`
	TopOwners   []Count         `json:"topOwners"`
	TopTargets  []Count         `json:"topTargets"`
	Durations   []Count         `json:"durations"`
	Documents   []Count         `json:"documents"`
	Findings    []FindingResult `json:"findings"`
	// Previous is the period the changes are counted against: the same
	// length, just before.
	Previous Period `json:"previousPeriod"`
	// Targets is every account and region of the period: its sessions,
	// findings and coverage.
	Targets []TargetRow `json:"targets"`
	// Exceptions is the exceptions file applied, and its entries.
	Exceptions ExceptionsInfo `json:"exceptions"`
	// Trail is the CloudTrail context: off (Location empty) or its counts.
	Trail   TrailContext `json:"cloudtrail"`
	Queries []Result     `json:"queries"`

	results map[string]Result
}

// DayCount is one day and status.
type DayCount struct {
	Day      string `json:"day"`
	Status   string `json:"status"`
	Sessions int64  `json:"sessions"`
}

// Thresholds are the parameters the findings were judged by.
type Thresholds struct {
	BusinessHours    string   `json:"businessHours"`
	TimeZone         string   `json:"timeZone"`
	AllowedDocuments []string `json:"allowedDocuments"`
	LongSession      string   `json:"longSession"`
	PrivilegedOwners []string `json:"privilegedOwners"`
}

// Run makes the report of the request and returns its summary. Nothing is
// written unless every query succeeded.
func (r *Reporter) Run(ctx context.Context, req Request) (*Summary, error) {
	c := r.Config
	w := findings.Window{From: req.From, To: req.To}
	// The previous period of the same length, for each finding's change.
	prev := findings.Window{From: req.From.Add(-req.To.Sub(req.From)), To: req.From}
	// The exceptions file first: a malformed one fails the report before
	// any query runs, and nothing is written.
	exFile, exInfo, err := readExceptions(ctx, r.S3, c.Bucket, c.Prefix, req.From, req.To)
	if err != nil {
		return nil, err
	}
	loc := c.Params.Location()
	shapes := map[string]*findingShape{}
	var qs []named
	for _, f := range findings.All {
		sql, prevSQL, keep := f.SQL(c.Params, w), f.SQL(c.Params, prev), sampleRows
		switch {
		case f.Table == "coverage":
			if c.CoverageTable == "" {
				continue
			}
			sql = strings.Replace(sql, "FROM coverage", "FROM "+c.CoverageTable, 1)
			prevSQL = strings.Replace(prevSQL, "FROM coverage", "FROM "+c.CoverageTable, 1)
		case f.Table == cloudtrail.TableName:
			if !c.Trail.On() || (f.ID == "outside-sources" && len(c.Params.AllowedSourceCIDRs) == 0) {
				continue
			}
			if f.ID == "denied" || f.ID == "clients" {
				// Every row in memory: the trail's totals and the denied
				// chart are summed from them, not read again from the trail.
				keep = -1
			}
		case c.Trail.On():
			// Every session row carries its source address from the trail.
			sql = findings.WithSourceIP(sql, w)
		}
		shapes[f.ID] = newShape(f.ID, exFile, loc, req.From)
		qs = append(qs, named{name: f.ID, sql: sql, keep: keep, toCSV: true, shape: shapes[f.ID]},
			named{name: previousName(f.ID), sql: countSQL(prevSQL), keep: -1})
	}
	qs = append(qs, aggregates(c.Params, w, c.CoverageTable)...)
	qs = append(qs, perTargetQuery(w))
	if c.Trail.On() {
		qs = append(qs, trailAggregates(w)...)
	}
	run := &runner{api: r.Athena, workGroup: c.WorkGroup, database: c.Database, poll: r.Poll, sleep: r.Sleep, tempDir: r.TempDir}
	if run.poll <= 0 {
		run.poll = 500 * time.Millisecond
	}
	if run.sleep == nil {
		run.sleep = sleepCtx
	}
	results, err := run.runAll(ctx, qs)
	if err != nil {
		return nil, err
	}
	defer closeAll(results)
	accountNames, machines, nameResults := r.runNames(ctx, run, w)
	results = append(results, nameResults...)
	ms, err := readManifests(ctx, r.S3, c.Bucket, c.Prefix, req.From, req.To)
	if err != nil {
		return nil, err
	}
	folder := req.Folder(c.Prefix)
	s := &Summary{
		Kind: req.Kind, From: req.From, To: req.To, GeneratedAt: r.Now().UTC(),
		Location: "s3://" + c.Bucket + "/" + folder,
		Thresholds: Thresholds{
			BusinessHours: fmt.Sprintf("%02d-%02d", c.Params.BusinessStart, c.Params.BusinessEnd), TimeZone: c.Params.TimeZone,
			AllowedDocuments: c.Params.AllowedDocuments, LongSession: findings.Words(c.Params.LongSession),
			PrivilegedOwners: c.Params.PrivilegedOwners,
		},
		Complete:   completeness(ms, req.From, req.To, c.Slot),
		Trail:      TrailContext{Location: c.Trail.URI, AllowedSourceCIDRs: cidrs(c.Params)},
		Previous:   Period{From: prev.From, To: prev.To},
		Exceptions: exInfo,
		Queries:    results,
		results:    map[string]Result{},
	}
	for _, res := range results {
		s.results[res.Name] = res
	}
	if err := s.fill(); err != nil {
		return nil, err
	}
	if err := s.fillTrail(); err != nil {
		return nil, err
	}
	objects := map[string]io.ReadSeeker{}
	for _, f := range findings.All {
		res, ok := s.results[f.ID]
		if !ok {
			continue
		}
		name := f.ID + ".csv"
		objects[folder+name] = res.csv
		fr := FindingResult{ID: f.ID, Title: f.Title, Count: res.Count, CSV: name, QueryID: res.ID, Scanned: res.Scanned,
			Section: "#finding-" + f.ID, PerTarget: map[string]int{}}
		if sh := shapes[f.ID]; sh != nil {
			fr.Excepted, fr.PerTarget = sh.matched, sh.perTarget
			for i := range s.Exceptions.Entries {
				s.Exceptions.Entries[i].Rows += sh.byEntry[s.Exceptions.Entries[i].Line]
			}
		}
		fr.ToReview = fr.Count - fr.Excepted
		if p, ok := s.results[previousName(f.ID)]; ok && len(p.Rows) == 1 {
			n, err := num(p, p.Rows[0], 0)
			if err != nil {
				return nil, err
			}
			fr.Previous = int(n)
			fr.Change = fr.Count - fr.Previous
		}
		s.Findings = append(s.Findings, fr)
	}
	excepted := map[string]map[string]int{}
	for id, sh := range shapes {
		excepted[id] = sh.excepted
	}
	if err := s.fillTargets(accountNames, excepted); err != nil {
		return nil, err
	}
	if res, ok := s.results[qDuplicates]; ok {
		s.Complete.Duplicates.CSV = qDuplicates + ".csv"
		objects[folder+s.Complete.Duplicates.CSV] = res.csv
	}
	page, err := render(s, c.Params, names{accounts: accountNames, nodes: machines})
	if err != nil {
		return nil, fmt.Errorf("render the report: %w", err)
	}
	objects[folder+"report.html"] = bytes.NewReader(page)
	var ids []string
	for _, f := range s.Findings {
		ids = append(ids, f.ID)
	}
	tc, err := targetsCSV(s.Targets, ids)
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", TargetsCSV, err)
	}
	objects[folder+TargetsCSV] = bytes.NewReader(tc)
	js, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	objects[folder+"summary.json"] = bytes.NewReader(append(js, '\n'))
	// report.html last: its presence says the report is whole.
	order := []string{folder + "summary.json"}
	for _, f := range s.Findings {
		order = append(order, folder+f.CSV)
	}
	if s.Complete.Duplicates.CSV != "" {
		order = append(order, folder+s.Complete.Duplicates.CSV)
	}
	order = append(order, folder+TargetsCSV)
	order = append(order, folder+"report.html")
	for _, k := range order {
		ct := map[bool]string{true: "text/csv; charset=utf-8", false: "application/json"}[strings.HasSuffix(k, ".csv")]
		if strings.HasSuffix(k, ".html") {
			ct = "text/html; charset=utf-8"
		}
		body := objects[k]
		if _, err := body.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("write %s: %w", k, err)
		}
		if _, err := r.S3.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(c.Bucket), Key: aws.String(k), Body: body, ContentType: aws.String(ct),
		}); err != nil {
			return nil, fmt.Errorf("write %s: %w", k, err)
		}
	}
	if r.SNS != nil && c.Topic != "" {
		if err := r.notify(ctx, s); err != nil {
			return nil, err
		}
	}
	if r.Logger != nil {
		r.Logger.Info("report written", "kind", s.Kind, "from", s.From, "to", s.To, "location", s.Location, "sessions", s.Sessions, "queries", len(results))
	}
	return s, nil
}

// notify publishes the period, the counts and the location: no session
// details.
func (r *Reporter) notify(ctx context.Context, s *Summary) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Session audit report (%s), %s to %s\n", s.Kind, s.From.Format(time.RFC3339), s.To.Format(time.RFC3339))
	fmt.Fprintf(&b, "Sessions: %d\n", s.Sessions)
	for _, f := range s.Findings {
		fmt.Fprintf(&b, "%s: %d\n", f.Title, f.Count)
	}
	fmt.Fprintf(&b, "Report: %sreport.html\n", s.Location)
	subject := fmt.Sprintf("Session audit %s report %s", s.Kind, s.From.Format(time.DateOnly))
	_, err := r.SNS.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(r.Config.Topic), Subject: aws.String(subject), Message: aws.String(b.String())})
	if err != nil {
		return fmt.Errorf("notify %s: %w", r.Config.Topic, err)
	}
	return nil
}
