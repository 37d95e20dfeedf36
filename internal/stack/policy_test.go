package stack_test

import (
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/session-audit/session-audit/internal/export"
	"github.com/session-audit/session-audit/internal/nodes"
	"github.com/session-audit/session-audit/internal/sessions"
)

// statement is one IAM policy statement, normalised: sorted actions and
// resources, conditions as operator → key → values.
type statement struct {
	Sid       string
	Effect    string
	Actions   []string
	Resources []string
	Condition map[string]map[string][]string
}

func normalise(raw any) statement {
	m := asMap(raw)
	s := statement{
		Sid: scalarString(m["Sid"]), Effect: scalarString(m["Effect"]),
		Actions: strs(m["Action"]), Resources: strs(m["Resource"]),
	}
	slices.Sort(s.Actions)
	slices.Sort(s.Resources)
	for op, keys := range asMap(m["Condition"]) {
		if s.Condition == nil {
			s.Condition = map[string]map[string][]string{}
		}
		s.Condition[op] = map[string][]string{}
		for k, v := range asMap(keys) {
			s.Condition[op][k] = strs(v)
		}
	}
	return s
}

// roleStatements returns the function role's statements by Sid.
func roleStatements(t *testing.T, s *stack) map[string]statement {
	t.Helper()
	role := s.props(t, "SessionAuditRole")
	for _, key := range []string{"ManagedPolicyArns", "PermissionsBoundary"} {
		if _, ok := role[key]; ok {
			t.Errorf("the function role has %s: every permission should be an inline statement here", key)
		}
	}
	trust := normalise(asList(asMap(role["AssumeRolePolicyDocument"])["Statement"])[0])
	if len(asList(asMap(role["AssumeRolePolicyDocument"])["Statement"])) != 1 || trust.Effect != "Allow" ||
		!slices.Equal(trust.Actions, []string{"sts:AssumeRole"}) {
		t.Errorf("trust policy %+v", role["AssumeRolePolicyDocument"])
	}
	policies := asList(role["Policies"])
	if len(policies) != 1 {
		t.Fatalf("the function role has %d inline policies, want 1", len(policies))
	}
	return policyStatements(t, s, "SessionAuditRole")
}

// TestFunctionRoleIsLeastPrivilege checks the role statement by statement,
// with the default parameters and with an existing bucket and a KMS key.
func TestFunctionRoleIsLeastPrivilege(t *testing.T) {
	tpl := loadTemplate(t)
	for _, tc := range []struct {
		name           string
		params         map[string]string
		bucket, prefix string
		kms            bool
	}{
		{"defaults", defaults, "{{AuditBucket}}", "ssm-sessions", false},
		{"customised", customised, "corp-audit-trail", "audit/ssm", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := resolve(t, tpl, tc.params)
			want := map[string]statement{
				"DescribeSessions": {Sid: "DescribeSessions", Effect: "Allow", Actions: []string{"ssm:DescribeSessions"}, Resources: []string{"*"}},
				"DescribeNodes":    {Sid: "DescribeNodes", Effect: "Allow", Actions: []string{"ec2:DescribeInstances", "ssm:DescribeInstanceInformation"}, Resources: []string{"*"}},
				"AuditObjects": {Sid: "AuditObjects", Effect: "Allow",
					Actions:   []string{"s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"},
					Resources: []string{"arn:aws:s3:::" + tc.bucket + "/" + tc.prefix + "/*"}},
				"ListAuditFolders": {Sid: "ListAuditFolders", Effect: "Allow", Actions: []string{"s3:ListBucket"},
					Resources: []string{"arn:aws:s3:::" + tc.bucket},
					Condition: map[string]map[string][]string{"StringLike": {"s3:prefix": {tc.prefix + "/manifests/*", tc.prefix + "/sessions/*", tc.prefix + "/state/*", tc.prefix + "/digests/*"}}}},
				"SendFailures": {Sid: "SendFailures", Effect: "Allow", Actions: []string{"sqs:SendMessage"}, Resources: []string{"{{FailureQueue.Arn}}"}},
				"WriteLogs": {Sid: "WriteLogs", Effect: "Allow", Actions: []string{"logs:CreateLogStream", "logs:PutLogEvents"},
					Resources: []string{"{{FunctionLogGroup.Arn}}"}},
			}
			if tc.kms {
				want["AuditObjectsKms"] = statement{Sid: "AuditObjectsKms", Effect: "Allow",
					Actions: []string{"kms:Decrypt", "kms:GenerateDataKey"}, Resources: []string{customised["KmsKeyArn"]},
					Condition: map[string]map[string][]string{"StringEquals": {"kms:ViaService": {"s3.us-east-1.amazonaws.com"}}}}
			}
			got := roleStatements(t, s)
			for sid, w := range want {
				if g, ok := got[sid]; !ok {
					t.Errorf("no statement %s", sid)
				} else if !reflect.DeepEqual(g, w) {
					t.Errorf("statement %s\n got %+v\nwant %+v", sid, g, w)
				}
			}
			for sid := range got {
				if _, ok := want[sid]; !ok {
					t.Errorf("unexpected statement %s: %+v", sid, got[sid])
				}
			}
			for _, st := range got {
				for _, a := range st.Actions {
					if strings.ContainsAny(a, "*?") {
						t.Errorf("statement %s grants the wildcard action %s", st.Sid, a)
					}
				}
				if st.Effect != "Allow" {
					t.Errorf("statement %s is %s", st.Sid, st.Effect)
				}
				// Only the describe calls, which have no resource type, may use "*".
				if slices.Contains(st.Resources, "*") && st.Sid != "DescribeSessions" && st.Sid != "DescribeNodes" {
					t.Errorf("statement %s applies to every resource", st.Sid)
				}
			}
		})
	}
	// The only IAM identities are the function's role (SAM adds the
	// scheduler's, scoped to invoking this function).
	for name, r := range resolve(t, tpl, customised).resources {
		if typ := scalarString(r["Type"]); strings.HasPrefix(typ, "AWS::IAM::") && name != "SessionAuditRole" && name != "SessionAuditReportRole" {
			t.Errorf("%s is an extra IAM resource (%s)", name, typ)
		}
	}
}

// s3Actions maps each S3 API call to the IAM action that authorizes it
// (Service Authorization Reference): multipart uploads are authorized by
// s3:PutObject, HeadObject by s3:GetObject, ListObjectsV2 by s3:ListBucket.
var s3Actions = map[string]string{
	"PutObject":               "s3:PutObject",
	"CreateMultipartUpload":   "s3:PutObject",
	"UploadPart":              "s3:PutObject",
	"CompleteMultipartUpload": "s3:PutObject",
	"AbortMultipartUpload":    "s3:AbortMultipartUpload",
	"GetObject":               "s3:GetObject",
	"HeadObject":              "s3:GetObject",
	"ListObjectsV2":           "s3:ListBucket",
}

// TestRoleCoversTheCodesCalls derives the calls from the interfaces the
// code declares (export.S3API, sessions.API, and the node snapshot's
// nodes.SSMAPI and nodes.EC2API): a call added there without
// its permission here, or a permission no call needs, fails.
func TestRoleCoversTheCodesCalls(t *testing.T) {
	got := roleStatements(t, resolve(t, loadTemplate(t), defaults))
	granted := map[string]bool{}
	for _, st := range got {
		for _, a := range st.Actions {
			if strings.HasPrefix(a, "s3:") || strings.HasPrefix(a, "ssm:") || strings.HasPrefix(a, "ec2:") {
				granted[a] = true
			}
		}
	}
	needed := map[string]bool{}
	s3api := reflect.TypeFor[export.S3API]()
	for i := range s3api.NumMethod() {
		m := s3api.Method(i).Name
		a, ok := s3Actions[m]
		if !ok {
			t.Errorf("the code calls S3 %s, which this test does not map to an IAM action: add it here and to template.yaml", m)
			continue
		}
		needed[a] = true
	}
	for _, api := range []struct {
		service string
		typ     reflect.Type
	}{{"ssm", reflect.TypeFor[sessions.API]()}, {"ssm", reflect.TypeFor[nodes.SSMAPI]()}, {"ec2", reflect.TypeFor[nodes.EC2API]()}} {
		for i := range api.typ.NumMethod() {
			needed[api.service+":"+api.typ.Method(i).Name] = true
		}
	}
	// The node snapshot writes its files with PutObject (tablefile.PutAPI),
	// already granted above for the sessions.
	needed["s3:PutObject"] = true
	if !maps.Equal(granted, needed) {
		t.Errorf("the role grants %v; the code's S3, SSM and EC2 calls need %v", slices.Sorted(maps.Keys(granted)), slices.Sorted(maps.Keys(needed)))
	}
}

// request is one authorization question: may the role do action on
// resource, with these condition keys?
type request struct {
	action, resource string
	context          map[string]string
}

// allows evaluates the role's Allow statements for r as IAM does for the
// parts this template uses: exact actions, wildcard resources, StringLike
// and StringEquals conditions (a missing key never matches).
func allows(stmts map[string]statement, r request) (string, bool) {
	for _, st := range stmts {
		if st.Effect != "Allow" || !slices.ContainsFunc(st.Actions, func(a string) bool { return globMatch(a, r.action) }) ||
			!slices.ContainsFunc(st.Resources, func(p string) bool { return globMatch(p, r.resource) }) {
			continue
		}
		ok := true
		for op, keys := range st.Condition {
			for k, values := range keys {
				v, present := r.context[k]
				match := present && slices.ContainsFunc(values, func(p string) bool {
					if op == "StringLike" {
						return globMatch(p, v)
					}
					return op == "StringEquals" && p == v
				})
				ok = ok && match
			}
		}
		if ok {
			return st.Sid, true
		}
	}
	return "", false
}

// globMatch matches IAM wildcards: * any run of characters, ? one.
func globMatch(pattern, s string) bool {
	re := "^" + strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(pattern)) + "$"
	return regexp.MustCompile(re).MatchString(s)
}

func TestPolicyEvaluator(t *testing.T) {
	stmts := roleStatements(t, resolve(t, loadTemplate(t), map[string]string{"ExistingBucketName": "audit-bucket"}))
	obj := "arn:aws:s3:::audit-bucket/ssm-sessions/"
	for _, tc := range []struct {
		r    request
		want bool
	}{
		{request{"s3:PutObject", obj + "sessions/dt=2026-11-24/x.parquet", nil}, true},
		{request{"s3:GetObject", obj + "manifests/dt=2026-11-24/x.json", nil}, true},
		{request{"s3:DeleteObject", obj + "sessions/dt=2026-11-24/x.parquet", nil}, false},
		{request{"s3:PutObject", "arn:aws:s3:::audit-bucket/athena-results/q.csv", nil}, false},
		{request{"s3:PutObject", "arn:aws:s3:::other-bucket/ssm-sessions/x", nil}, false},
		{request{"s3:ListBucket", "arn:aws:s3:::audit-bucket", map[string]string{"s3:prefix": "ssm-sessions/manifests/"}}, true},
		// S3's check before answering 404 to a GET or HEAD of a missing
		// key: store.GetManifest and store.CurrentExport rely on the 404.
		{request{"s3:ListBucket", "arn:aws:s3:::audit-bucket", map[string]string{"s3:prefix": "ssm-sessions/manifests/dt=2026-11-24/x.json"}}, true},
		{request{"s3:ListBucket", "arn:aws:s3:::audit-bucket", map[string]string{"s3:prefix": "ssm-sessions/sessions/dt=2026-11-24/x.parquet"}}, true},
		{request{"s3:ListBucket", "arn:aws:s3:::audit-bucket", map[string]string{"s3:prefix": "ssm-sessions/"}}, false},
		{request{"s3:ListBucket", "arn:aws:s3:::audit-bucket", map[string]string{"s3:prefix": "athena-results/"}}, false},
		{request{"s3:ListBucket", "arn:aws:s3:::audit-bucket", nil}, false},
		{request{"ssm:DescribeSessions", "*", nil}, true},
		{request{"ssm:TerminateSession", "*", nil}, false},
		{request{"ssm:DescribeInstanceInformation", "*", nil}, true},
		{request{"ec2:DescribeInstances", "*", nil}, true},
		{request{"ec2:DescribeTags", "*", nil}, false},
		{request{"ssm:ListTagsForResource", "*", nil}, false},
		{request{"s3:PutObject", "arn:aws:s3:::audit-bucket/ssm-sessions/nodes/dt=2026-11-24/111122223333_eu-west-1.parquet", nil}, true},
	} {
		if sid, got := allows(stmts, tc.r); got != tc.want {
			t.Errorf("%+v: allowed %v (by %q), want %v", tc.r, got, sid, tc.want)
		}
	}
}
