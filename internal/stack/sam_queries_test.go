package stack_test

import (
	"cmp"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/session-audit/session-audit/internal/archive"
	"github.com/session-audit/session-audit/internal/findings"
)

// otherThresholds are Report* parameters other than the defaults: every
// threshold of every finding moves.
var otherThresholds = map[string]string{
	"ReportBusinessHours":    "07-19",
	"ReportTimeZone":         "Europe/Berlin",
	"ReportAllowedDocuments": "AWS-StartSSHSession,Custom-DumpDatabase",
	"ReportLongSession":      "1h30m",
	"ReportPrivilegedOwners": "%:root,%oncall-yan",
}

// samTransform applies the AWS::Serverless transform to template.yaml with
// the SAM translator (testdata/sam_transform.py), as CloudFormation does
// on deploy, and returns the transformed template.
func samTransform(t *testing.T, params map[string]string) map[string]any {
	t.Helper()
	if err := exec.Command("python3", "-c", "import samtranslator").Run(); err != nil {
		t.Skipf("the SAM translator (pip aws-sam-translator) is not installed: %v", err)
	}
	p, _ := json.Marshal(params)
	cmd := exec.Command("python3", filepath.Join("testdata", "sam_transform.py"), filepath.Join(repoRoot(t), "template.yaml"), string(p))
	cmd.Env = append(os.Environ(), "AWS_DEFAULT_REGION=us-east-1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the SAM transform: %v\n%s", err, stderr.String())
	}
	var tpl map[string]any
	if err := json.Unmarshal(out, &tpl); err != nil {
		t.Fatal(err)
	}
	if _, ok := tpl["Transform"]; ok {
		t.Fatal("the transformed template still has a Transform")
	}
	return tpl
}

// TestNamedQueriesWithOtherThresholds deploys, as far as CloudFormation
// goes, the stack with other Report* parameters: the SAM translator
// transforms the template, the intrinsics (Fn::Sub of the named queries)
// are resolved with those parameters, and each named query must be the
// text internal/findings renders for the thresholds the stack's report
// function reads from its own environment. Then each runs on DuckDB over
// the fixture's export with a stray copy of one object beside the
// original, and returns what the thresholds select there, each session
// once.
func TestNamedQueriesWithOtherThresholds(t *testing.T) {
	s := resolve(t, samTransform(t, otherThresholds), otherThresholds)
	env := map[string]string{}
	fn := s.resource(t, "SessionAuditReportFunction")
	if fn["Type"] != "AWS::Lambda::Function" {
		t.Fatalf("SessionAuditReportFunction is a %v after the transform", fn["Type"])
	}
	for k, v := range asMap(asMap(asMap(fn["Properties"])["Environment"])["Variables"]) {
		env[k] = scalarString(v)
	}
	p, err := findings.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("the report function's environment: %v", err)
	}
	if p.BusinessStart != 7 || p.TimeZone != "Europe/Berlin" || p.LongSession != 90*time.Minute || len(p.PrivilegedOwners) != 2 || len(p.AllowedDocuments) != 2 {
		t.Fatalf("the report function reads %+v, not the parameters given", p)
	}
	qs := namedQueries(t, s)
	for _, f := range findings.NamedQueries() {
		q, ok := qs[f.Resource]
		if !ok {
			t.Errorf("no named query %s after the transform", f.Resource)
			continue
		}
		if got, want := scalarString(q["QueryString"]), f.SQL(p, findings.Last30Days); got != want {
			t.Errorf("%s with %v is not what the report runs; want:\n%s\n\ngot:\n%s", f.Resource, otherThresholds, indent(want), indent(got))
		}
	}

	// On DuckDB, over the export and a stray copy of its last day's object.
	fx := *getFixture(t)
	fx.dir = t.TempDir()
	var copied string
	err = filepath.WalkDir(getFixture(t).dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(getFixture(t).dir, path)
		body, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dst := filepath.Join(fx.dir, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if strings.HasSuffix(path, ".parquet") && strings.Contains(rel, fx.to.AddDate(0, 0, -1).Format(time.DateOnly)) {
			copied = filepath.Join(filepath.Dir(dst), "copy-of-"+filepath.Base(dst))
			if err := os.WriteFile(copied, body, 0o644); err != nil {
				return err
			}
		}
		return os.WriteFile(dst, body, 0o644)
	})
	if err != nil || copied == "" {
		t.Fatalf("copying the export: %v (copy %q)", err, copied)
	}
	if fx.db, err = openDuckDB(fx.dir); err != nil {
		t.Fatal(err)
	}
	defer fx.db.Close()
	var inCopy []string
	for _, r := range fx.want {
		if r.StartDate.UTC().Format(time.DateOnly) == fx.to.AddDate(0, 0, -1).Format(time.DateOnly) {
			inCopy = append(inCopy, r.SessionID)
		}
	}
	if len(inCopy) == 0 {
		t.Fatal("the copied day holds no session")
	}

	berlin, _ := time.LoadLocation("Europe/Berlin")
	pred := map[string]func(archive.Row) bool{
		"QueryLongSessions":             func(r archive.Row) bool { return r.DurationSeconds != nil && *r.DurationSeconds > 90*60 },
		"QueryRootOrBreakGlassSessions": func(r archive.Row) bool { return p.Privileged(r.Owner) },
		"QueryFailedSessions":           func(r archive.Row) bool { return r.Status == "Failed" },
		"QueryDocumentsOutsideAllowList": func(r archive.Row) bool {
			return !slices.Contains([]string{"AWS-StartSSHSession", "Custom-DumpDatabase"}, cmp.Or(r.DocumentName, shellDoc))
		},
		"QueryOutsideBusinessHours": func(r archive.Row) bool {
			l := r.StartDate.In(berlin)
			return l.Hour() < 7 || l.Hour() >= 19 || l.Weekday() == time.Saturday || l.Weekday() == time.Sunday
		},
		"QueryNoTranscript": func(r archive.Row) bool {
			return r.Status != "Failed" && r.S3OutputURL == "" && r.CloudWatchOutputURL == ""
		},
		"QueryActiveAtPeriodEnd": func(r archive.Row) bool {
			return r.Status != "Failed" && (r.EndDate == nil || r.EndDate.After(fx.now))
		},
	}
	for _, f := range findings.NamedQueries() {
		q := qs[f.Resource]
		sql := pinClock(scalarString(q["QueryString"]), fx.now)
		t.Run(f.Resource, func(t *testing.T) {
			switch f.Resource {
			case "QuerySessionsPerOwnerPerDay":
				checkPerOwnerPerDay(t, &fx, sql, q)
				return
			case "QueryDuplicateSessions":
				res := runQuery(t, fx.db, sql)
				t.Logf("%s:\n%s", q["Name"], res.format(3))
				if got := res.ids(t); !slices.Equal(got, slices.Sorted(slices.Values(inCopy))) {
					t.Errorf("duplicates %v, want the %d sessions of the copied object", got, len(inCopy))
				}
				for _, o := range res.column(t, "objects") {
					if !strings.Contains(o.(string), "/copy-of-") || strings.Count(o.(string), "s3://"+bucket+"/ssm-sessions/sessions/dt=") != 2 {
						t.Errorf("objects %q: want the original and the copy", o)
					}
				}
				return
			}
			res := runQuery(t, fx.db, sql)
			got := res.ids(t)
			var want []string
			for _, r := range fx.want {
				if pred[f.Resource](r) {
					want = append(want, r.SessionID)
				}
			}
			if g := slices.Sorted(slices.Values(got)); !slices.Equal(g, want) {
				t.Errorf("returned %d sessions, the thresholds give %d:\n got %v\nwant %v", len(g), len(want), g, want)
			}
			if len(want) == 0 && f.Resource != "QueryActiveAtPeriodEnd" {
				t.Errorf("the thresholds select no session: the check proves nothing")
			}
			checkOrder(t, f.Resource, res)
		})
	}
	// The thresholds moved what the queries select: the hand-made sessions
	// show it.
	for id, wantIn := range map[string]map[string]bool{
		"QueryLongSessions":              {idLong: true, idFourHours: true},
		"QueryRootOrBreakGlassSessions":  {idRoot: true, idBreakUnder: true, idBreakGlass: false},
		"QueryDocumentsOutsideAllowList": {idCustomDoc: false, idNoDoc: true},
	} {
		got := runQuery(t, fx.db, pinClock(scalarString(qs[id]["QueryString"]), fx.now)).ids(t)
		for sid, in := range wantIn {
			if slices.Contains(got, sid) != in {
				t.Errorf("%s: %s returned %v, want %v", id, sid, !in, in)
			}
		}
	}
}
