package stack_test

import (
	"strings"
	"testing"
	"time"

	"github.com/session-audit/session-audit/internal/cloudtrail"
	"github.com/session-audit/session-audit/internal/findings"
)

// TestCloudTrailTable: with CloudTrailLocation set, the Glue table over the
// trail has exactly internal/cloudtrail's columns (which the Athena
// emulator serves), the documented projection by account, region and day
// under the location, and the named queries are internal/findings'; with
// the default (empty) there is no table and no trail query. The
// parameter's AllowedPattern is the report function's check.
func TestCloudTrailTable(t *testing.T) {
	tpl := loadTemplate(t)
	param := asMap(asMap(tpl["Parameters"])["CloudTrailLocation"])
	if scalarString(param["AllowedPattern"]) != cloudtrail.LocationPattern {
		t.Errorf("CloudTrailLocation's AllowedPattern %q, want cloudtrail.LocationPattern %q", param["AllowedPattern"], cloudtrail.LocationPattern)
	}
	off := resolve(t, tpl, defaults)
	for _, name := range []string{"CloudTrailTable", "QuerySessionManagerEvents", "QueryDeniedSessionAttempts", "QuerySessionsByClient"} {
		if _, ok := off.resources[name]; ok {
			t.Errorf("%s exists without CloudTrailLocation", name)
		}
	}
	if v := templateEnvOf(t, off)["AUDIT_CLOUDTRAIL_LOCATION"]; v != "" {
		t.Errorf("AUDIT_CLOUDTRAIL_LOCATION=%q by default", v)
	}

	const loc = "s3://org-log-archive/trails/AWSLogs/o-a1b2c3d4e5/"
	on := resolve(t, tpl, withParam(withParam(defaults, "CloudTrailLocation", loc), "CloudTrailAccounts", "111122223333,444455556666"))
	in := asMap(on.props(t, "CloudTrailTable")["TableInput"])
	if in["Name"] != cloudtrail.TableName {
		t.Errorf("table name %v", in["Name"])
	}
	sd := asMap(in["StorageDescriptor"])
	var got, want []string
	for _, c := range asList(sd["Columns"]) {
		got = append(got, scalarString(asMap(c)["Name"])+" "+scalarString(asMap(c)["Type"]))
	}
	for _, f := range cloudtrail.Columns {
		want = append(want, f.Name()+" "+f.GlueType())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("columns\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var parts []string
	for _, k := range asList(in["PartitionKeys"]) {
		parts = append(parts, scalarString(asMap(k)["Name"]))
	}
	if strings.Join(parts, ",") != strings.Join(cloudtrail.Partitions, ",") {
		t.Errorf("partition keys %v", parts)
	}
	p := asMap(in["Parameters"])
	for k, v := range map[string]string{
		"projection.enabled": "true", "projection.account.type": "enum", "projection.account.values": "111122223333,444455556666",
		"projection.region.type": "enum", "projection.region.values": "us-east-1",
		"projection.timestamp.type": "date", "projection.timestamp.format": "yyyy/MM/dd", "projection.timestamp.range": "2026/01/01,NOW",
		"storage.location.template": loc + "${account}/CloudTrail/${region}/${timestamp}",
	} {
		if got := scalarString(p[k]); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if scalarString(sd["Location"]) != loc || !strings.Contains(scalarString(sd["InputFormat"]), "CloudTrailInputFormat") {
		t.Errorf("storage %v", sd)
	}
	// The projection's template names the emulator's (and CloudTrail's) keys.
	key := cloudtrail.ObjectKey("trails/AWSLogs/o-a1b2c3d4e5/", "111122223333", "us-east-1", time.Date(2026, 11, 23, 10, 5, 0, 0, time.UTC), "abc")
	folder := strings.NewReplacer("${account}", "111122223333", "${region}", "us-east-1", "${timestamp}", "2026/11/23").Replace(scalarString(p["storage.location.template"]))
	if !strings.HasPrefix("s3://org-log-archive/"+key, folder+"/") {
		t.Errorf("key %s is not under the projected folder %s", key, folder)
	}

	qs := namedQueries(t, on)
	d := findings.Defaults()
	for res, sql := range map[string]string{"QuerySessionManagerEvents": findings.Events(findings.Last30Days)} {
		if got := scalarString(qs[res]["QueryString"]); got != sql {
			t.Errorf("%s's QueryString is not findings.Events; want:\n%s\n\ngot:\n%s", res, indent(sql), indent(got))
		}
	}
	for _, f := range findings.Trail() {
		if f.Resource == "" {
			continue
		}
		if got := scalarString(qs[f.Resource]["QueryString"]); got != f.SQL(d, findings.Last30Days) {
			t.Errorf("%s's QueryString is not internal/findings' %s; want:\n%s\n\ngot:\n%s", f.Resource, f.ID, indent(f.SQL(d, findings.Last30Days)), indent(got))
		}
		if got := scalarString(qs[f.Resource]["Name"]); got != f.Name {
			t.Errorf("%s's Name %q, want %q", f.Resource, got, f.Name)
		}
	}
	if l, err := cloudtrail.ParseLocation(templateEnvOf(t, on)["AUDIT_CLOUDTRAIL_LOCATION"]); err != nil || l.Org != "o-a1b2c3d4e5" {
		t.Errorf("the report function's AUDIT_CLOUDTRAIL_LOCATION: %+v, %v", l, err)
	}
}

// templateEnvOf is the report function's environment.
func templateEnvOf(t *testing.T, s *stack) map[string]string {
	t.Helper()
	env := map[string]string{}
	for k, v := range asMap(asMap(s.props(t, "SessionAuditReportFunction")["Environment"])["Variables"]) {
		env[k] = scalarString(v)
	}
	return env
}
