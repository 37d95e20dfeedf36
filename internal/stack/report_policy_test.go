package stack_test

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/session-audit/session-audit/internal/auditreport"
)

// reportStatements returns the report role's statements by Sid.
func reportStatements(t *testing.T, s *stack) map[string]statement {
	t.Helper()
	role := s.props(t, "SessionAuditReportRole")
	policies := asList(role["Policies"])
	if len(policies) != 1 {
		t.Fatalf("the report role has %d inline policies, want 1", len(policies))
	}
	if _, ok := role["ManagedPolicyArns"]; ok {
		t.Error("the report role has managed policies")
	}
	return policyStatements(t, s, "SessionAuditReportRole")
}

// TestReportRoleIsLeastPrivilege checks the report role statement by
// statement, with the defaults and with a bucket, key and topic given.
func TestReportRoleIsLeastPrivilege(t *testing.T) {
	tpl := loadTemplate(t)
	topic := "arn:aws:sns:us-east-1:123456789012:audit-reports"
	for _, tc := range []struct {
		name           string
		params         map[string]string
		bucket, prefix string
		kms, sns       bool
		trail          bool
	}{
		{"defaults", defaults, "{{AuditBucket}}", "ssm-sessions", false, false, false},
		{"customised", withParam(customised, "ReportTopicArn", topic), "corp-audit-trail", "audit/ssm", true, true, false},
		// A trail in a log-archive account's bucket: read under its
		// location only.
		{"cloudtrail", withParam(defaults, "CloudTrailLocation", "s3://org-log-archive/trails/AWSLogs/o-a1b2c3d4e5/"), "{{AuditBucket}}", "ssm-sessions", false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := "arn:aws:s3:::" + tc.bucket
			p := b + "/" + tc.prefix
			glue := "arn:aws:glue:us-east-1:123456789012:"
			want := map[string]statement{
				"RunQueries": {Sid: "RunQueries", Effect: "Allow",
					Actions:   []string{"athena:GetQueryExecution", "athena:GetQueryResults", "athena:StartQueryExecution"},
					Resources: []string{"arn:aws:athena:us-east-1:123456789012:workgroup/{{AthenaWorkGroup}}"}},
				// GetDatabase and GetDatabases on the catalog and the
				// default database: Athena's "Configure access to databases
				// and tables in the AWS Glue Data Catalog" requires them.
				"ReadCatalog": {Sid: "ReadCatalog", Effect: "Allow", Actions: []string{"glue:GetDatabase", "glue:GetDatabases", "glue:GetTable"},
					Resources: []string{glue + "catalog", glue + "database/default", glue + "database/{{GlueDatabase}}", glue + "table/{{GlueDatabase}}/sessions", glue + "table/{{GlueDatabase}}/coverage", glue + "table/{{GlueDatabase}}/cloudtrail", glue + "table/{{GlueDatabase}}/nodes", glue + "table/{{GlueDatabase}}/accounts"}},
				"ReadArchive": {Sid: "ReadArchive", Effect: "Allow", Actions: []string{"s3:GetObject"},
					Resources: []string{p + "/sessions/*", p + "/manifests/*", p + "/coverage/*", p + "/nodes/*", p + "/accounts/*", p + "/exceptions.yaml"}},
				"ListArchive": {Sid: "ListArchive", Effect: "Allow", Actions: []string{"s3:ListBucket"}, Resources: []string{b},
					Condition: map[string]map[string][]string{"StringLike": {"s3:prefix": {tc.prefix + "/sessions/*", tc.prefix + "/manifests/*", tc.prefix + "/coverage/*", tc.prefix + "/nodes/*", tc.prefix + "/accounts/*", tc.prefix + "/exceptions.yaml", "athena-results/*"}}}},
				"WriteReports": {Sid: "WriteReports", Effect: "Allow", Actions: []string{"s3:PutObject"}, Resources: []string{p + "/reports/*"}},
				"QueryResults": {Sid: "QueryResults", Effect: "Allow",
					Actions:   []string{"s3:AbortMultipartUpload", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:PutObject"},
					Resources: []string{b + "/athena-results/*"}},
				"ResultsBucketLocation": {Sid: "ResultsBucketLocation", Effect: "Allow", Actions: []string{"s3:GetBucketLocation"}, Resources: []string{b}},
				"WriteLogs": {Sid: "WriteLogs", Effect: "Allow", Actions: []string{"logs:CreateLogStream", "logs:PutLogEvents"},
					Resources: []string{"{{ReportLogGroup.Arn}}"}},
			}
			if tc.trail {
				want["ReadCloudTrail"] = statement{Sid: "ReadCloudTrail", Effect: "Allow", Actions: []string{"s3:GetObject"},
					Resources: []string{"arn:aws:s3:::org-log-archive/trails/AWSLogs/o-a1b2c3d4e5/*"}}
				want["ListCloudTrail"] = statement{Sid: "ListCloudTrail", Effect: "Allow", Actions: []string{"s3:GetBucketLocation", "s3:ListBucket"},
					Resources: []string{"arn:aws:s3:::org-log-archive"}}
			}
			if tc.sns {
				want["Notify"] = statement{Sid: "Notify", Effect: "Allow", Actions: []string{"sns:Publish"}, Resources: []string{topic}}
			}
			if tc.kms {
				want["ReportObjectsKms"] = statement{Sid: "ReportObjectsKms", Effect: "Allow",
					Actions: []string{"kms:Decrypt", "kms:GenerateDataKey"}, Resources: []string{customised["KmsKeyArn"]},
					Condition: map[string]map[string][]string{"StringEquals": {"kms:ViaService": {"s3.us-east-1.amazonaws.com"}}}}
			}
			got := reportStatements(t, resolve(t, tpl, tc.params))
			for sid, w := range want {
				slices.Sort(w.Resources)
				if g, ok := got[sid]; !ok {
					t.Errorf("no statement %s", sid)
				} else if !reflect.DeepEqual(g, w) {
					t.Errorf("statement %s\n got %+v\nwant %+v", sid, g, w)
				}
			}
			for sid, st := range got {
				if _, ok := want[sid]; !ok {
					t.Errorf("unexpected statement %s: %+v", sid, st)
				}
				if slices.Contains(st.Resources, "*") {
					t.Errorf("statement %s applies to every resource", sid)
				}
			}
		})
	}
}

// athenaOwnS3 are the S3 actions Athena itself takes with the caller's
// credentials on the workgroup's results location (the code makes none of
// them): the only grants the code's calls do not explain.
var athenaOwnS3 = []string{"s3:AbortMultipartUpload", "s3:GetBucketLocation", "s3:ListMultipartUploadParts"}

// TestReportRoleCoversTheCodesCalls derives the calls from the interfaces
// internal/auditreport declares: a call added there without its grant, or
// an Athena, SNS or S3 grant no call (nor Athena) needs, fails.
func TestReportRoleCoversTheCodesCalls(t *testing.T) {
	got := reportStatements(t, resolve(t, loadTemplate(t), withParam(defaults, "ReportTopicArn", "arn:aws:sns:us-east-1:123456789012:t")))
	granted := map[string]bool{}
	for _, st := range got {
		for _, a := range st.Actions {
			if strings.HasPrefix(a, "s3:") || strings.HasPrefix(a, "athena:") || strings.HasPrefix(a, "sns:") {
				granted[a] = true
			}
		}
	}
	needed := map[string]bool{}
	for _, a := range athenaOwnS3 {
		needed[a] = true
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[auditreport.AthenaAPI](), reflect.TypeFor[auditreport.PublishAPI]()} {
		svc := map[bool]string{true: "athena:", false: "sns:"}[typ.Name() == "AthenaAPI"]
		for i := range typ.NumMethod() {
			needed[svc+typ.Method(i).Name] = true
		}
	}
	s3api := reflect.TypeFor[auditreport.S3API]()
	for i := range s3api.NumMethod() {
		a, ok := s3Actions[s3api.Method(i).Name]
		if !ok {
			t.Errorf("the report calls S3 %s, which this test does not map", s3api.Method(i).Name)
		}
		needed[a] = true
	}
	if !maps.Equal(granted, needed) {
		t.Errorf("the report role grants %v; the code's calls need %v", slices.Sorted(maps.Keys(granted)), slices.Sorted(maps.Keys(needed)))
	}
}

func withParam(m map[string]string, k, v string) map[string]string {
	out := maps.Clone(m)
	out[k] = v
	return out
}
