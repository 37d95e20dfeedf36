package stack_test

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/session-audit/session-audit/internal/accounts"
	"github.com/session-audit/session-audit/internal/coverage"
	"github.com/session-audit/session-audit/internal/digest"
	"github.com/session-audit/session-audit/internal/orgconfig"
	"github.com/session-audit/session-audit/internal/orgplan"
)

var (
	// orgFixed: organization mode over a fixed list of accounts.
	orgFixed = map[string]string{
		"OrgAccounts": "111111111111,222222222222", "OrgRegions": "eu-west-1,us-east-1",
		"ExistingBucketName": "audit-bucket",
	}
	// orgListed: organization mode listing the organization through the
	// management account's role, with a KMS key and an alarm topic.
	orgListed = map[string]string{
		"OrgManagementRoleArn": "arn:aws:iam::999999999999:role/session-audit-org-list",
		"OrgUnits":             "ou-ab12-abcdefgh", "OrgExcludedAccounts": "333333333333",
		"OrgRegions": "eu-west-1", "MemberRoleName": "audit-reader", "MemberExternalId": "xid-123",
		"MapMaxConcurrency": "25", "KmsKeyArn": customised["KmsKeyArn"], "AlarmTopicArn": customised["AlarmTopicArn"],
		"Prefix": "audit/ssm",
	}
)

// policyStatements reads an inline-policy role's statements by Sid.
func policyStatements(t *testing.T, s *stack, role string) map[string]statement {
	t.Helper()
	out := map[string]statement{}
	for _, p := range asList(s.props(t, role)["Policies"]) {
		for _, raw := range asList(asMap(asMap(p)["PolicyDocument"])["Statement"]) {
			st := normalise(raw)
			if _, dup := out[st.Sid]; dup || st.Sid == "" {
				t.Errorf("%s: statement Sid %q is empty or repeated", role, st.Sid)
			}
			out[st.Sid] = st
		}
	}
	return out
}

func trustedService(t *testing.T, s *stack, role string) string {
	t.Helper()
	sts := asList(asMap(s.props(t, role)["AssumeRolePolicyDocument"])["Statement"])
	if len(sts) != 1 {
		t.Fatalf("%s: %d trust statements", role, len(sts))
	}
	return scalarString(asMap(asMap(sts[0])["Principal"])["Service"])
}

func equalStatements(t *testing.T, role string, got, want map[string]statement) {
	t.Helper()
	for sid, w := range want {
		if g, ok := got[sid]; !ok {
			t.Errorf("%s: no statement %s", role, sid)
		} else if !reflect.DeepEqual(g, w) {
			t.Errorf("%s: statement %s\n got %+v\nwant %+v", role, sid, g, w)
		}
	}
	for sid := range got {
		if _, ok := want[sid]; !ok {
			t.Errorf("%s: unexpected statement %s: %+v", role, sid, got[sid])
		}
	}
}

func TestOrgModeResources(t *testing.T) {
	tpl := loadTemplate(t)
	org := []string{"OrgFunction", "OrgFunctionLogGroup", "OrgFunctionRole", "OrgStateMachine", "OrgStateMachineRole",
		"OrgSchedule", "OrgScheduleRole", "CoverageTable", "QueryTargetsNotExported", "QueryCoveragePerAccount",
		"OrgExecutionFailedAlarm", "OrgTargetsDeniedOrFailedAlarm"}
	for _, tc := range []struct {
		name   string
		params map[string]string
		want   bool
	}{{"defaults", defaults, false}, {"customised", customised, false}, {"fixed list", orgFixed, true}, {"organization", orgListed, true}} {
		s := resolve(t, tpl, tc.params)
		for _, r := range org {
			if _, ok := s.resources[r]; ok != tc.want {
				t.Errorf("%s: resource %s present = %v, want %v", tc.name, r, ok, tc.want)
			}
		}
		_, kms := s.resources["OrgKmsPolicy"]
		if kms != (tc.name == "organization") {
			t.Errorf("%s: OrgKmsPolicy present = %v", tc.name, kms)
		}
		// The function's own schedule is off in org mode: the state
		// machine's runs this account too.
		state := asMap(asMap(asMap(s.props(t, "SessionAuditFunction")["Events"])["Daily"])["Properties"])["State"]
		if want := map[bool]string{true: "DISABLED", false: "ENABLED"}[tc.want]; state != want {
			t.Errorf("%s: the function's schedule is %v, want %s", tc.name, state, want)
		}
	}
}

// TestOrgSchedule: the scheduler starts the state machine with the
// scheduled time, which Plan accepts as a scheduled run.
func TestOrgSchedule(t *testing.T) {
	s := resolve(t, loadTemplate(t), orgFixed)
	p := s.props(t, "OrgSchedule")
	target := asMap(p["Target"])
	if target["Arn"] != "{{OrgStateMachine}}" || target["RoleArn"] != "{{OrgScheduleRole.Arn}}" ||
		scalarString(p["ScheduleExpression"]) != "cron(15 0 * * ? *)" || p["ScheduleExpressionTimezone"] != "UTC" || p["State"] != "ENABLED" {
		t.Errorf("OrgSchedule %v", p)
	}
	input := strings.Replace(scalarString(target["Input"]), "<aws.scheduler.scheduled-time>", "2026-11-25T00:15:00Z", 1)
	if input != `{"time": "2026-11-25T00:15:00Z"}` {
		t.Errorf("schedule input %s", input)
	}
	if trustedService(t, s, "OrgScheduleRole") != "scheduler.amazonaws.com" {
		t.Error("OrgScheduleRole is not the scheduler's")
	}
	equalStatements(t, "OrgScheduleRole", policyStatements(t, s, "OrgScheduleRole"), map[string]statement{
		"StartRun":    {Sid: "StartRun", Effect: "Allow", Actions: []string{"states:StartExecution"}, Resources: []string{"{{OrgStateMachine}}"}},
		"DeadLetters": {Sid: "DeadLetters", Effect: "Allow", Actions: []string{"sqs:SendMessage"}, Resources: []string{"{{ScheduleDeadLetterQueue.Arn}}"}},
	})
}

// TestExporterMayAssumeOnlyTheMemberRole: in org mode the exporter's role
// gains sts:AssumeRole on the member role's name in any account, nothing
// else; outside org mode it has no such statement (TestFunctionRoleIsLeastPrivilege).
func TestExporterMayAssumeOnlyTheMemberRole(t *testing.T) {
	tpl := loadTemplate(t)
	for _, tc := range []struct {
		params map[string]string
		role   string
	}{{orgFixed, "session-audit-reader"}, {orgListed, "audit-reader"}} {
		s := resolve(t, tpl, tc.params)
		got := roleStatements(t, s)
		want := statement{Sid: "AssumeMemberRole", Effect: "Allow", Actions: []string{"sts:AssumeRole"},
			Resources: []string{"arn:aws:iam::*:role/" + tc.role}}
		if !reflect.DeepEqual(got["AssumeMemberRole"], want) {
			t.Errorf("AssumeMemberRole %+v, want %+v", got["AssumeMemberRole"], want)
		}
		for sid, st := range got {
			if sid != "AssumeMemberRole" && slices.ContainsFunc(st.Actions, func(a string) bool { return strings.HasPrefix(a, "sts:") }) {
				t.Errorf("statement %s grants %v", sid, st.Actions)
			}
		}
		env := templateEnv(t, s)
		if env["AUDIT_MEMBER_ROLE"] != tc.role || env["AUDIT_MEMBER_EXTERNAL_ID"] != tc.params["MemberExternalId"] {
			t.Errorf("exporter env AUDIT_MEMBER_ROLE=%q AUDIT_MEMBER_EXTERNAL_ID=%q", env["AUDIT_MEMBER_ROLE"], env["AUDIT_MEMBER_EXTERNAL_ID"])
		}
	}
}

// orgS3Actions maps the org function's S3 calls (orgplan.PutAPI,
// coverage.GetAPI) to IAM actions.
var orgS3Actions = map[string]string{"PutObject": "s3:PutObject", "GetObject": "s3:GetObject"}

// TestOrgFunctionRoleIsTheCodesCalls: the org function's role grants
// exactly the calls of the interfaces its code declares, on exactly the
// keys it writes and reads; Organizations is reached through the
// management account's role, never with this role's own permissions.
func TestOrgFunctionRoleIsTheCodesCalls(t *testing.T) {
	needed := map[string]bool{}
	for _, typ := range []reflect.Type{reflect.TypeFor[orgplan.PutAPI](), reflect.TypeFor[coverage.GetAPI](), reflect.TypeFor[digest.S3API]()} {
		for i := range typ.NumMethod() {
			a, ok := orgS3Actions[typ.Method(i).Name]
			if !ok {
				t.Errorf("the org function calls S3 %s, which this test does not map: add it here and to template.yaml", typ.Method(i).Name)
			}
			needed[a] = true
		}
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[orgplan.AccountsAPI](), reflect.TypeFor[orgplan.ChildrenAPI](), reflect.TypeFor[orgplan.ParentAccountsAPI](), reflect.TypeFor[orgplan.OUAPI]()} {
		for i := range typ.NumMethod() {
			needed["organizations:"+typ.Method(i).Name] = true
		}
	}
	if want := []string{"organizations:DescribeOrganizationalUnit", "organizations:ListAccounts", "organizations:ListAccountsForParent", "organizations:ListChildren",
		"organizations:ListOrganizationalUnitsForParent", "organizations:ListParents", "organizations:ListRoots", "s3:GetObject", "s3:PutObject"}; !slices.Equal(slices.Sorted(maps.Keys(needed)), want) {
		t.Fatalf("the code's calls %v, want %v", slices.Sorted(maps.Keys(needed)), want)
	}
	for _, tc := range []struct {
		name   string
		params map[string]string
		prefix string
		role   bool
	}{{"fixed", orgFixed, "ssm-sessions", false}, {"organization", orgListed, "audit/ssm", true}} {
		s := resolve(t, loadTemplate(t), tc.params)
		if trustedService(t, s, "OrgFunctionRole") != "lambda.amazonaws.com" {
			t.Errorf("%s: OrgFunctionRole trust", tc.name)
		}
		obj := "arn:aws:s3:::audit-bucket/" + tc.prefix
		if tc.name == "organization" {
			obj = "arn:aws:s3:::{{AuditBucket}}/" + tc.prefix
		}
		want := map[string]statement{
			"WritePlansAndCoverage": {Sid: "WritePlansAndCoverage", Effect: "Allow", Actions: []string{"s3:PutObject"},
				Resources: []string{obj + "/accounts/*", obj + "/coverage/*", obj + "/runs/*"}},
			"ReadRuns":      {Sid: "ReadRuns", Effect: "Allow", Actions: []string{"s3:GetObject"}, Resources: []string{obj + "/runs/*"}},
			"WriteDigests":  {Sid: "WriteDigests", Effect: "Allow", Actions: []string{"s3:GetObject", "s3:PutObject"}, Resources: []string{obj + "/digests/*"}},
			"ReadManifests": {Sid: "ReadManifests", Effect: "Allow", Actions: []string{"s3:GetObject"}, Resources: []string{obj + "/manifests/*"}},
			"ListDigests": {Sid: "ListDigests", Effect: "Allow", Actions: []string{"s3:ListBucket"}, Resources: []string{strings.TrimSuffix(obj, "/"+tc.prefix)},
				Condition: map[string]map[string][]string{"StringLike": {"s3:prefix": {tc.prefix + "/digests/*"}}}},
			"WriteLogs": {Sid: "WriteLogs", Effect: "Allow", Actions: []string{"logs:CreateLogStream", "logs:PutLogEvents"}, Resources: []string{"{{OrgFunctionLogGroup.Arn}}"}},
		}
		if tc.role {
			want["AssumeOrgListRole"] = statement{Sid: "AssumeOrgListRole", Effect: "Allow", Actions: []string{"sts:AssumeRole"}, Resources: []string{orgListed["OrgManagementRoleArn"]}}
		}
		got := policyStatements(t, s, "OrgFunctionRole")
		equalStatements(t, tc.name+" OrgFunctionRole", got, want)
		// What the code writes and reads is allowed.
		key := func(k string) string { return obj + strings.TrimPrefix(k, tc.prefix) }
		for _, r := range []request{
			{"s3:PutObject", key(orgplan.ItemsKey(tc.prefix, "run-1")), nil},
			{"s3:PutObject", key(coverage.Key(tc.prefix, time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), "run-1")), nil},
			{"s3:PutObject", key(accounts.Key(tc.prefix, time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC))), nil},
			{"s3:GetObject", key(orgplan.ItemsKey(tc.prefix, "run-1")), nil},
			{"s3:GetObject", key(orgplan.RunsPrefix(tc.prefix) + "/map-run/manifest.json"), nil},
			{"s3:PutObject", key(digest.Key(tc.prefix, time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), "run-1")), nil},
			{"s3:PutObject", key(digest.HeadKey(tc.prefix, "999999999999", "us-east-1")), nil},
			{"s3:GetObject", key(digest.HeadKey(tc.prefix, "999999999999", "us-east-1")), nil},
			{"s3:GetObject", key(tc.prefix + "/manifests/dt=2026-11-25/x.json"), nil},
		} {
			if _, ok := allows(got, r); !ok {
				t.Errorf("%s: the org function may not %s %s", tc.name, r.action, r.resource)
			}
		}
		for _, r := range []request{
			{"s3:PutObject", key(tc.prefix + "/sessions/dt=2026-11-25/x.parquet"), nil},
			{"s3:GetObject", key(tc.prefix + "/sessions/dt=2026-11-25/x.parquet"), nil},
			{"s3:PutObject", key(tc.prefix + "/manifests/dt=2026-11-25/x.json"), nil},
		} {
			if sid, ok := allows(got, r); ok {
				t.Errorf("%s: the org function may %s %s (by %s)", tc.name, r.action, r.resource, sid)
			}
		}
	}
}

// TestOrgFunctionEnvironment: the org function accepts the template's
// environment, and it matches the parameters.
func TestOrgFunctionEnvironment(t *testing.T) {
	s := resolve(t, loadTemplate(t), orgListed)
	env := map[string]string{}
	for k, v := range asMap(asMap(s.props(t, "OrgFunction")["Environment"])["Variables"]) {
		env[k] = scalarString(v)
	}
	env["AUDIT_BUCKET"] = "audit-bucket"
	read := map[string]bool{}
	cfg, err := orgconfig.Load(func(k string) string { read[k] = true; return env[k] })
	if err != nil {
		t.Fatalf("the org function refuses the template's environment: %v", err)
	}
	if cfg.OrgRoleARN != orgListed["OrgManagementRoleArn"] || !slices.Equal(cfg.OUs, []string{"ou-ab12-abcdefgh"}) ||
		!slices.Equal(cfg.Exclude, []string{"333333333333"}) || !slices.Equal(cfg.Regions, []string{"eu-west-1"}) || cfg.Export.Prefix != "audit/ssm" {
		t.Errorf("configuration %+v", cfg)
	}
	// The org function reads the exporter's variables through
	// config.Load; the ones the template does not give it have the
	// exporter's defaults and do not affect Plan or Coverage.
	ignored := map[string]bool{"AUDIT_FILTER_TARGET": true, "AUDIT_FILTER_OWNER": true, "AUDIT_FILTER_STATUS": true,
		"AUDIT_FILTER_ACCESS_TYPE": true, "AUDIT_CONCURRENCY": true, "AUDIT_S3_PATH_STYLE": true,
		"AUDIT_MEMBER_ROLE": true, "AUDIT_MEMBER_EXTERNAL_ID": true, "AUDIT_NODES": true, "AUDIT_DIGESTS": true, "AUDIT_DIGEST_KEY": true}
	for k := range read {
		if _, ok := env[k]; !ok && !ignored[k] {
			t.Errorf("the org function reads %s, which template.yaml does not set", k)
		}
	}
	// An org stack without regions would deploy a function that refuses to start.
	e := maps.Clone(env)
	e["AUDIT_REGIONS"] = ""
	if _, err := orgconfig.Load(func(k string) string { return e[k] }); err == nil || !strings.Contains(err.Error(), "AUDIT_REGIONS") {
		t.Errorf("empty OrgRegions: %v", err)
	}
}

func TestOrgAlarms(t *testing.T) {
	s := resolve(t, loadTemplate(t), orgListed)
	p := s.props(t, "OrgExecutionFailedAlarm")
	if p["Namespace"] != "AWS/States" || p["MetricName"] != "ExecutionsFailed" || scalarString(asMap(asList(p["Dimensions"])[0])["Value"]) != "{{OrgStateMachine}}" {
		t.Errorf("OrgExecutionFailedAlarm %v", p)
	}
	p = s.props(t, "OrgTargetsDeniedOrFailedAlarm")
	var metrics []string
	for _, m := range asList(p["Metrics"]) {
		ms := asMap(asMap(m)["MetricStat"])
		if ms == nil {
			continue
		}
		met := asMap(ms["Metric"])
		metrics = append(metrics, scalarString(met["Namespace"])+"/"+scalarString(met["MetricName"])+"@"+scalarString(asMap(asList(met["Dimensions"])[0])["Value"]))
	}
	if fmt.Sprint(metrics) != "[SessionAudit/TargetsDenied@{{OrgFunction}} SessionAudit/TargetsFailed@{{OrgFunction}}]" {
		t.Errorf("OrgTargetsDeniedOrFailedAlarm metrics %v", metrics)
	}
	for _, a := range []string{"OrgExecutionFailedAlarm", "OrgTargetsDeniedOrFailedAlarm"} {
		if acts := strs(s.props(t, a)["AlarmActions"]); !slices.Equal(acts, []string{orgListed["AlarmTopicArn"]}) {
			t.Errorf("%s actions %v", a, acts)
		}
	}
}
