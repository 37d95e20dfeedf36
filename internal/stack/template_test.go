package stack_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/session-audit/session-audit/internal/config"
	"github.com/session-audit/session-audit/internal/handler"
	"github.com/session-audit/session-audit/internal/store"
	"github.com/session-audit/session-audit/internal/window"
)

// Parameter sets the tests deploy the template with.
var (
	// defaults: every parameter at its default: a new bucket, SSE-S3, no
	// alarm topic, no NoSessions alarm, no retention.
	defaults = map[string]string{}
	// customised: an existing bucket, a KMS key, an alarm topic, the
	// NoSessions alarm and a retention.
	customised = map[string]string{
		"ExistingBucketName":  "corp-audit-trail",
		"KmsKeyArn":           "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"AlarmTopicArn":       "arn:aws:sns:us-east-1:123456789012:ops-alerts",
		"NoSessionsAlarmDays": "3",
		"RetentionDays":       "400",
		"Prefix":              "audit/ssm",
	}
	// newBucketWithKMS: a new bucket under a KMS key, with a retention.
	newBucketWithKMS = map[string]string{
		"KmsKeyArn":     "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"RetentionDays": "400",
	}
)

func TestTemplateIsSAM(t *testing.T) {
	tpl := loadTemplate(t)
	if tpl["AWSTemplateFormatVersion"] != "2010-09-09" || tpl["Transform"] != "AWS::Serverless-2016-10-31" {
		t.Errorf("AWSTemplateFormatVersion %v, Transform %v", tpl["AWSTemplateFormatVersion"], tpl["Transform"])
	}
	for _, section := range []string{"Parameters", "Conditions", "Resources", "Outputs"} {
		if asMap(tpl[section]) == nil {
			t.Errorf("no %s section", section)
		}
	}
}

// TestEveryResourceSaysWhy: each resource has a comment above it.
func TestEveryResourceSaysWhy(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	top := doc.Content[0]
	for i := 0; i < len(top.Content); i += 2 {
		if top.Content[i].Value != "Resources" {
			continue
		}
		res := top.Content[i+1]
		for j := 0; j < len(res.Content); j += 2 {
			if k := res.Content[j]; strings.TrimSpace(k.HeadComment) == "" {
				t.Errorf("resource %s (line %d) has no comment saying why it is there", k.Value, k.Line)
			}
		}
		return
	}
	t.Fatal("no Resources")
}

func TestResourceTypes(t *testing.T) {
	tpl := loadTemplate(t)
	always := map[string]string{
		"SessionAuditFunction":           "AWS::Serverless::Function",
		"SessionAuditRole":               "AWS::IAM::Role",
		"FunctionLogGroup":               "AWS::Logs::LogGroup",
		"ScheduleDeadLetterQueue":        "AWS::SQS::Queue",
		"FailureQueue":                   "AWS::SQS::Queue",
		"GlueDatabase":                   "AWS::Glue::Database",
		"SessionsTable":                  "AWS::Glue::Table",
		"NodesTable":                     "AWS::Glue::Table",
		"AccountsTable":                  "AWS::Glue::Table",
		"AthenaWorkGroup":                "AWS::Athena::WorkGroup",
		"QuerySessionsPerOwnerPerDay":    "AWS::Athena::NamedQuery",
		"QueryLongSessions":              "AWS::Athena::NamedQuery",
		"QueryRootOrBreakGlassSessions":  "AWS::Athena::NamedQuery",
		"QueryFailedSessions":            "AWS::Athena::NamedQuery",
		"QueryDocumentsOutsideAllowList": "AWS::Athena::NamedQuery",
		"QueryOutsideBusinessHours":      "AWS::Athena::NamedQuery",
		"QuerySessionById":               "AWS::Athena::NamedQuery",
		"QueryNoTranscript":              "AWS::Athena::NamedQuery",
		"QueryDuplicateSessions":         "AWS::Athena::NamedQuery",
		"QueryActiveAtPeriodEnd":         "AWS::Athena::NamedQuery",
		"FunctionErrorsAlarm":            "AWS::CloudWatch::Alarm",
		"ScheduleDeadLetterAlarm":        "AWS::CloudWatch::Alarm",
		"FailureQueueAlarm":              "AWS::CloudWatch::Alarm",
		"SessionAuditReportFunction":     "AWS::Serverless::Function",
		"SessionAuditReportRole":         "AWS::IAM::Role",
		"ReportLogGroup":                 "AWS::Logs::LogGroup",
		"ReportScheduleDeadLetterQueue":  "AWS::SQS::Queue",
		"ReportErrorsAlarm":              "AWS::CloudWatch::Alarm",
		"ReportScheduleDeadLetterAlarm":  "AWS::CloudWatch::Alarm",
	}
	for _, tc := range []struct {
		name   string
		params map[string]string
		extra  map[string]string
	}{
		{"defaults", defaults, map[string]string{"AuditBucket": "AWS::S3::Bucket", "AuditBucketPolicy": "AWS::S3::BucketPolicy"}},
		{"customised", customised, map[string]string{"NoSessionsAlarm": "AWS::CloudWatch::Alarm"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := resolve(t, tpl, tc.params)
			want := maps.Clone(always)
			maps.Copy(want, tc.extra)
			got := map[string]string{}
			for name, r := range s.resources {
				got[name] = scalarString(r["Type"])
			}
			if !maps.Equal(got, want) {
				t.Errorf("resources\n got %v\nwant %v", got, want)
			}
		})
	}
}

// TestParameters: every default is one CloudFormation accepts, and every
// parameter is used.
func TestParameters(t *testing.T) {
	tpl := loadTemplate(t)
	used := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if r, ok := v["Ref"].(string); ok && len(v) == 1 {
				used[r] = true
			}
			if sub, ok := v["Fn::Sub"]; ok && len(v) == 1 {
				text := scalarString(sub)
				if l := asList(sub); len(l) > 0 {
					text = scalarString(l[0])
				}
				for _, m := range subVar.FindAllStringSubmatch(text, -1) {
					used[m[1]] = true
				}
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	for k, v := range tpl {
		if k != "Parameters" {
			walk(v)
		}
	}
	for name, raw := range asMap(tpl["Parameters"]) {
		p := asMap(raw)
		if !used[name] {
			t.Errorf("parameter %s is never used", name)
		}
		if strings.TrimSpace(scalarString(p["Description"])) == "" {
			t.Errorf("parameter %s has no Description", name)
		}
		def, ok := p["Default"]
		if !ok {
			t.Errorf("parameter %s has no default: the stack should deploy as it is", name)
			continue
		}
		if err := checkParameter(p, scalarString(def)); err != nil {
			t.Errorf("parameter %s: default %v: %v", name, def, err)
		}
	}
	for name, v := range customised {
		if err := checkParameter(asMap(asMap(tpl["Parameters"])[name]), v); err != nil {
			t.Errorf("parameter %s: test value %q: %v", name, v, err)
		}
	}
	// What the constraints must refuse.
	for name, bad := range map[string]string{
		"Prefix": "/ssm-sessions/", "Slot": "5h", "Lookback": "2d", "FilterStatus": "Gone",
		"ExistingBucketName": "Not_A_Bucket", "KmsKeyArn": "alias/audit", "NoSessionsAlarmDays": "8",
		"FunctionTimeout": "901", "ProjectionStart": "2026/01/01",
	} {
		if checkParameter(asMap(asMap(tpl["Parameters"])[name]), bad) == nil {
			t.Errorf("parameter %s accepts %q", name, bad)
		}
	}
}

// checkParameter applies a parameter's constraints to a value as
// CloudFormation does.
func checkParameter(p map[string]any, v string) error {
	if av, ok := p["AllowedValues"]; ok && !slices.Contains(strs(av), v) {
		return fmt.Errorf("not one of %v", strs(av))
	}
	if pat, ok := p["AllowedPattern"].(string); ok && !regexp.MustCompile(pat).MatchString(v) {
		return fmt.Errorf("does not match %s", pat)
	}
	if p["Type"] == "Number" {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return errors.New("not a number")
		}
		if lo, ok := p["MinValue"]; ok && n < toFloat(lo) {
			return fmt.Errorf("below %v", lo)
		}
		if hi, ok := p["MaxValue"]; ok && n > toFloat(hi) {
			return fmt.Errorf("above %v", hi)
		}
	}
	return nil
}

func toFloat(v any) float64 {
	f, _ := strconv.ParseFloat(scalarString(v), 64)
	return f
}

func TestFunction(t *testing.T) {
	s := resolve(t, loadTemplate(t), defaults)
	fn := s.resource(t, "SessionAuditFunction")
	if bm := asMap(fn["Metadata"])["BuildMethod"]; bm != "makefile" {
		t.Errorf("Metadata.BuildMethod = %v, want makefile (the Makefile's build-SessionAuditFunction)", bm)
	}
	p := asMap(fn["Properties"])
	for k, want := range map[string]string{
		"Runtime": "provided.al2023", "Handler": "bootstrap", "CodeUri": ".",
		"Timeout": "900", "MemorySize": "256",
		"Role": "{{SessionAuditRole.Arn}}",
	} {
		if got := scalarString(p[k]); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if rc, ok := p["ReservedConcurrentExecutions"]; ok {
		t.Errorf("ReservedConcurrentExecutions = %v by default; want none (accounts under 101 concurrency could not deploy)", rc)
	}
	if a := strs(p["Architectures"]); !slices.Equal(a, []string{"arm64"}) {
		t.Errorf("Architectures = %v, want [arm64] (the Makefile builds GOARCH=arm64)", a)
	}
	wantLogging := map[string]any{"LogFormat": "JSON", "ApplicationLogLevel": "INFO", "SystemLogLevel": "WARN", "LogGroup": "{{FunctionLogGroup}}"}
	if lc := asMap(p["LoggingConfig"]); !reflect.DeepEqual(lc, wantLogging) {
		t.Errorf("LoggingConfig = %v, want %v", lc, wantLogging)
	}
	lg := s.props(t, "FunctionLogGroup")
	if lg["RetentionInDays"] != "90" || !strings.HasPrefix(scalarString(lg["LogGroupName"]), "/aws/lambda/") {
		t.Errorf("log group %v", lg)
	}
	for _, key := range []string{"Policies", "DeadLetterQueue", "Layers", "VpcConfig", "Tracing"} {
		if _, ok := p[key]; ok {
			t.Errorf("the function sets %s: its permissions are SessionAuditRole's, nothing else", key)
		}
	}
}

// templateEnv is the function's environment in a resolved stack.
func templateEnv(t *testing.T, s *stack) map[string]string {
	t.Helper()
	vars := asMap(asMap(s.props(t, "SessionAuditFunction")["Environment"])["Variables"])
	env := map[string]string{}
	for k, v := range vars {
		env[k] = scalarString(v)
	}
	return env
}

func TestFunctionEnvironment(t *testing.T) {
	tpl := loadTemplate(t)
	env := templateEnv(t, resolve(t, tpl, defaults))
	want := map[string]string{
		"AUDIT_BUCKET": "{{AuditBucket}}", "AUDIT_PREFIX": "ssm-sessions", "AUDIT_SLOT": "24h",
		"AUDIT_LOOKBACK": "48h", "AUDIT_FILTER_TARGET": "", "AUDIT_FILTER_OWNER": "", "AUDIT_FILTER_STATUS": "",
		"AUDIT_FILTER_ACCESS_TYPE": "", "AUDIT_CONCURRENCY": "8", "AUDIT_NODES": "true",
		// Org mode only (empty outside it).
		"AUDIT_MEMBER_ROLE": "", "AUDIT_MEMBER_EXTERNAL_ID": "", "AUDIT_DIGESTS": "on", "AUDIT_DIGEST_KEY": "",
		// Declared for sam local's --env-vars; empty (unset) in AWS.
		"AUDIT_S3_PATH_STYLE": "", "AWS_ENDPOINT_URL_SSM": "", "AWS_ENDPOINT_URL_S3": "", "AWS_ENDPOINT_URL_STS": "", "AWS_ENDPOINT_URL_EC2": "",
		"AWS_REQUEST_CHECKSUM_CALCULATION": "", "AWS_RESPONSE_CHECKSUM_VALIDATION": "",
	}
	if !maps.Equal(env, want) {
		t.Errorf("environment\n got %v\nwant %v", env, want)
	}
	if got := templateEnv(t, resolve(t, tpl, customised))["AUDIT_BUCKET"]; got != "corp-audit-trail" {
		t.Errorf("with ExistingBucketName, AUDIT_BUCKET = %q", got)
	}

	// The function accepts the template's environment, reads no variable
	// the template does not declare, and the template's defaults are the
	// code's own.
	env["AUDIT_BUCKET"] = "audit-bucket"
	read := map[string]bool{}
	fromTemplate, err := config.Load(func(k string) string { read[k] = true; return env[k] })
	if err != nil {
		t.Fatalf("the function refuses the template's environment: %v", err)
	}
	for k := range read {
		if _, ok := env[k]; !ok {
			t.Errorf("the function reads %s, which template.yaml does not set", k)
		}
	}
	fromCode, err := config.Load(func(k string) string { return map[string]string{"AUDIT_BUCKET": "audit-bucket"}[k] })
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromTemplate, fromCode) {
		t.Errorf("the template's defaults configure %+v; the code's defaults %+v", fromTemplate, fromCode)
	}

	// Every allowed value of the constrained parameters works with the
	// other defaults.
	params := asMap(tpl["Parameters"])
	var lengths []string
	for _, l := range window.Lengths {
		lengths = append(lengths, strings.TrimSuffix(l.String(), "0m0s"))
	}
	if av := strs(asMap(params["Slot"])["AllowedValues"]); !slices.Equal(av, lengths) {
		t.Errorf("Slot AllowedValues %v; the code allows %v", av, lengths)
	}
	for param, v := range map[string]string{"Slot": "AUDIT_SLOT", "FilterStatus": "AUDIT_FILTER_STATUS", "FilterAccessType": "AUDIT_FILTER_ACCESS_TYPE"} {
		for _, allowed := range strs(asMap(params[param])["AllowedValues"]) {
			e := maps.Clone(env)
			e[v] = allowed
			if _, err := config.Load(func(k string) string { return e[k] }); err != nil {
				t.Errorf("%s=%q is allowed by the template but refused by the function: %v", param, allowed, err)
			}
		}
	}
	for _, n := range []string{fmt.Sprint(asMap(params["Concurrency"])["MinValue"]), fmt.Sprint(asMap(params["Concurrency"])["MaxValue"])} {
		e := maps.Clone(env)
		e["AUDIT_CONCURRENCY"] = n
		if _, err := config.Load(func(k string) string { return e[k] }); err != nil {
			t.Errorf("Concurrency %s is allowed by the template but refused by the function: %v", n, err)
		}
	}

	// sam local invoke --env-vars events/env.json overrides only variables
	// the template declares.
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "events", "env.json"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		t.Log("no events/env.json")
	case err != nil:
		t.Fatal(err)
	default:
		var file map[string]map[string]string
		if err := json.Unmarshal(raw, &file); err != nil {
			t.Fatalf("events/env.json: %v", err)
		}
		for id, vars := range file {
			if _, ok := asMap(tpl["Resources"])[id]; !ok {
				t.Errorf("events/env.json names %s, which is not a resource of template.yaml", id)
			}
			for k := range vars {
				if _, ok := want[k]; !ok {
					t.Errorf("events/env.json sets %s, which template.yaml does not declare: sam local would ignore it", k)
				}
			}
		}
	}
}

func TestSchedule(t *testing.T) {
	p := resolve(t, loadTemplate(t), defaults).props(t, "SessionAuditFunction")
	events := asMap(p["Events"])
	if len(events) != 1 {
		t.Fatalf("events %v; want one schedule", events)
	}
	ev := asMap(events["Daily"])
	if ev["Type"] != "ScheduleV2" {
		t.Fatalf("event %v; want Daily of type ScheduleV2", ev)
	}
	sp := asMap(ev["Properties"])
	want := map[string]any{
		"ScheduleExpression":         "cron(15 0 * * ? *)",
		"ScheduleExpressionTimezone": "UTC",
		"State":                      "ENABLED",
		"Description":                "Scheduled session-audit export",
		"Input":                      `{"time": "<aws.scheduler.scheduled-time>"}`,
		"RetryPolicy":                map[string]any{"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600},
		"DeadLetterConfig":           map[string]any{"Arn": "{{ScheduleDeadLetterQueue.Arn}}"},
		"OmitName":                   true,
	}
	if !reflect.DeepEqual(sp, want) {
		t.Errorf("schedule\n got %v\nwant %v", sp, want)
	}
	// The handler takes the Input, once the scheduler has put in its time,
	// as a scheduled run at that time.
	input := strings.Replace(scalarString(sp["Input"]), "<aws.scheduler.scheduled-time>", "2026-11-26T00:15:00Z", 1)
	req, err := handler.Decode([]byte(input))
	if err != nil || req.Kind != handler.KindScheduled || !req.Time.Equal(time.Date(2026, 11, 26, 0, 15, 0, 0, time.UTC)) {
		t.Errorf("the handler decodes the schedule's input %s as %+v, %v", input, req, err)
	}

	eic := asMap(p["EventInvokeConfig"])
	wantEIC := map[string]any{
		"MaximumRetryAttempts":     0,
		"MaximumEventAgeInSeconds": 21600,
		"DestinationConfig": map[string]any{"OnFailure": map[string]any{
			"Type": "SQS", "Destination": "{{FailureQueue.Arn}}",
		}},
	}
	if !reflect.DeepEqual(eic, wantEIC) {
		t.Errorf("EventInvokeConfig\n got %v\nwant %v", eic, wantEIC)
	}
}

func TestQueues(t *testing.T) {
	s := resolve(t, loadTemplate(t), defaults)
	for _, q := range []string{"ScheduleDeadLetterQueue", "FailureQueue"} {
		p := s.props(t, q)
		if p["SqsManagedSseEnabled"] != true || scalarString(p["MessageRetentionPeriod"]) != strconv.Itoa(14*24*3600) {
			t.Errorf("%s: %v; want SSE and 14 days' retention", q, p)
		}
	}
}

func TestAlarms(t *testing.T) {
	tpl := loadTemplate(t)
	type alarm struct{ ns, metric, stat, op, missing, dims string }
	want := map[string]alarm{
		"FunctionErrorsAlarm":     {"AWS/Lambda", "Errors", "Sum", "GreaterThanThreshold 0", "notBreaching", "FunctionName={{SessionAuditFunction}}"},
		"ScheduleDeadLetterAlarm": {"AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", "GreaterThanThreshold 0", "notBreaching", "QueueName={{ScheduleDeadLetterQueue.QueueName}}"},
		"FailureQueueAlarm":       {"AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", "GreaterThanThreshold 0", "notBreaching", "QueueName={{FailureQueue.QueueName}}"},
		"NoSessionsAlarm":         {"SessionAudit", "SessionsExported", "Sum", "LessThanThreshold 1", "breaching", "FunctionName={{SessionAuditFunction}},Mode=scheduled"},
	}
	for _, tc := range []struct {
		name    string
		params  map[string]string
		actions []string
	}{{"defaults", defaults, nil}, {"customised", customised, []string{customised["AlarmTopicArn"]}}} {
		s := resolve(t, tpl, tc.params)
		for name, w := range want {
			r, ok := s.resources[name]
			if !ok {
				if name != "NoSessionsAlarm" || tc.params["NoSessionsAlarmDays"] != "" {
					t.Errorf("%s: no %s", tc.name, name)
				}
				continue
			}
			p := asMap(r["Properties"])
			var dims []string
			for _, d := range asList(p["Dimensions"]) {
				dims = append(dims, scalarString(asMap(d)["Name"])+"="+scalarString(asMap(d)["Value"]))
			}
			got := alarm{scalarString(p["Namespace"]), scalarString(p["MetricName"]), scalarString(p["Statistic"]),
				scalarString(p["ComparisonOperator"]) + " " + scalarString(p["Threshold"]), scalarString(p["TreatMissingData"]), strings.Join(dims, ",")}
			if got != w {
				t.Errorf("%s: %s = %+v, want %+v", tc.name, name, got, w)
			}
			if a := strs(p["AlarmActions"]); !slices.Equal(a, tc.actions) {
				t.Errorf("%s: %s actions %v, want %v", tc.name, name, a, tc.actions)
			}
		}
	}
	p := resolve(t, tpl, customised).props(t, "NoSessionsAlarm")
	if p["Period"] != 86400 || p["EvaluationPeriods"] != "3" || p["DatapointsToAlarm"] != "3" {
		t.Errorf("NoSessionsAlarm with 3 days: %v", p)
	}
	// CloudWatch evaluates at most 7 days of 1-day periods.
	if hi := asMap(asMap(tpl["Parameters"])["NoSessionsAlarmDays"])["MaxValue"]; toFloat(hi)*86400 > 604800 {
		t.Errorf("NoSessionsAlarmDays MaxValue %v exceeds CloudWatch's 7-day evaluation range", hi)
	}
}

func TestBucketHardening(t *testing.T) {
	tpl := loadTemplate(t)
	s := resolve(t, tpl, defaults)
	b := s.resource(t, "AuditBucket")
	if b["DeletionPolicy"] != "Retain" || b["UpdateReplacePolicy"] != "Retain" {
		t.Errorf("the audit bucket is not retained when the stack goes: %v %v", b["DeletionPolicy"], b["UpdateReplacePolicy"])
	}
	p := asMap(b["Properties"])
	if v := asMap(p["VersioningConfiguration"])["Status"]; v != "Enabled" {
		t.Errorf("versioning %v", v)
	}
	wantPAB := map[string]any{"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true}
	if pab := asMap(p["PublicAccessBlockConfiguration"]); !reflect.DeepEqual(pab, wantPAB) {
		t.Errorf("public access block %v", pab)
	}
	if oc := fmt.Sprint(p["OwnershipControls"]); oc != "map[Rules:[map[ObjectOwnership:BucketOwnerEnforced]]]" {
		t.Errorf("ownership %s", oc)
	}
	if enc := fmt.Sprint(p["BucketEncryption"]); enc != "map[ServerSideEncryptionConfiguration:[map[ServerSideEncryptionByDefault:map[SSEAlgorithm:AES256]]]]" {
		t.Errorf("default encryption %s, want SSE-S3", enc)
	}
	rules := lifecycle(p)
	wantRules := map[string]string{
		"expire-noncurrent-versions":         "map[Id:expire-noncurrent-versions NoncurrentVersionExpiration:map[NoncurrentDays:365] Status:Enabled]",
		"abort-incomplete-multipart-uploads": "map[AbortIncompleteMultipartUpload:map[DaysAfterInitiation:7] Id:abort-incomplete-multipart-uploads Status:Enabled]",
		"expire-athena-results":              "map[ExpirationInDays:30 Id:expire-athena-results Prefix:athena-results/ Status:Enabled]",
	}
	if !maps.Equal(rules, wantRules) {
		t.Errorf("lifecycle rules\n got %v\nwant %v", rules, wantRules)
	}

	bp := s.props(t, "AuditBucketPolicy")
	wantPolicy := map[string]any{
		"Bucket": "{{AuditBucket}}",
		"PolicyDocument": map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
			"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
			"Resource":  []any{"{{AuditBucket.Arn}}", "{{AuditBucket.Arn}}/*"},
			"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
		}}},
	}
	if !reflect.DeepEqual(bp, wantPolicy) {
		t.Errorf("bucket policy\n got %v\nwant %v", bp, wantPolicy)
	}

	// With a KMS key: SSE-KMS with a bucket key; with a retention: the
	// audit trail's objects expire.
	p = resolve(t, tpl, newBucketWithKMS).props(t, "AuditBucket")
	wantEnc := "map[ServerSideEncryptionConfiguration:[map[BucketKeyEnabled:true ServerSideEncryptionByDefault:map[KMSMasterKeyID:" + newBucketWithKMS["KmsKeyArn"] + " SSEAlgorithm:aws:kms]]]]"
	if enc := fmt.Sprint(p["BucketEncryption"]); enc != wantEnc {
		t.Errorf("default encryption with a key\n got %s\nwant %s", enc, wantEnc)
	}
	if r := lifecycle(p)["expire-audit-trail"]; r != "map[ExpirationInDays:400 Id:expire-audit-trail Prefix:ssm-sessions/ Status:Enabled]" {
		t.Errorf("retention rule %s", r)
	}

	// An existing bucket is not created, and everything points at it.
	c := resolve(t, tpl, customised)
	for name := range c.resources {
		if name == "AuditBucket" || name == "AuditBucketPolicy" {
			t.Errorf("%s is created although ExistingBucketName is given", name)
		}
	}
	if c.outputs["BucketName"] == nil || scalarString(asMap(c.outputs["BucketName"])["Value"]) != "corp-audit-trail" {
		t.Errorf("BucketName output %v", c.outputs["BucketName"])
	}
}

// lifecycle returns a bucket's lifecycle rules by Id, printed.
func lifecycle(bucket map[string]any) map[string]string {
	out := map[string]string{}
	for _, r := range asList(asMap(bucket["LifecycleConfiguration"])["Rules"]) {
		out[scalarString(asMap(r)["Id"])] = fmt.Sprint(r)
	}
	return out
}

func TestGlueTable(t *testing.T) {
	tpl := loadTemplate(t)
	s := resolve(t, tpl, defaults)
	if db := asMap(s.props(t, "GlueDatabase")["DatabaseInput"]); db["Name"] != "session_audit_1b2c3d4e_5f60_11ef_8a9b_0a1b2c3d4e5f" {
		t.Errorf("database %v", db)
	}
	p := s.props(t, "SessionsTable")
	if p["DatabaseName"] != "{{GlueDatabase}}" || p["CatalogId"] != "123456789012" {
		t.Errorf("table in %v (catalog %v)", p["DatabaseName"], p["CatalogId"])
	}
	ti := asMap(p["TableInput"])
	if ti["Name"] != "sessions" || ti["TableType"] != "EXTERNAL_TABLE" {
		t.Errorf("table %v type %v", ti["Name"], ti["TableType"])
	}
	wantParams := map[string]any{
		"classification": "parquet", "EXTERNAL": "TRUE",
		"projection.enabled": "true", "projection.dt.type": "date", "projection.dt.format": "yyyy-MM-dd",
		"projection.dt.range": "2026-01-01,NOW", "projection.dt.interval": "1", "projection.dt.interval.unit": "DAYS",
		"storage.location.template": "s3://{{AuditBucket}}/ssm-sessions/sessions/dt=${dt}/",
	}
	if params := asMap(ti["Parameters"]); !reflect.DeepEqual(params, wantParams) {
		t.Errorf("table parameters\n got %v\nwant %v", params, wantParams)
	}
	if pk := fmt.Sprint(ti["PartitionKeys"]); pk != "[map[Comment:UTC date of the slot (YYYY-MM-DD) Name:dt Type:string]]" {
		t.Errorf("partition keys %s", pk)
	}
	sd := asMap(ti["StorageDescriptor"])
	wantSD := map[string]string{
		"Location":     "s3://{{AuditBucket}}/ssm-sessions/sessions/",
		"InputFormat":  "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
		"OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
		"SerDe":        "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
	}
	gotSD := map[string]string{
		"Location": scalarString(sd["Location"]), "InputFormat": scalarString(sd["InputFormat"]),
		"OutputFormat": scalarString(sd["OutputFormat"]), "SerDe": scalarString(asMap(sd["SerdeInfo"])["SerializationLibrary"]),
	}
	if !maps.Equal(gotSD, wantSD) {
		t.Errorf("storage\n got %v\nwant %v", gotSD, wantSD)
	}

	// The location template is where the code puts a slot's object.
	for _, params := range []map[string]string{defaults, customised} {
		s := resolve(t, tpl, params)
		ti := asMap(s.props(t, "SessionsTable")["TableInput"])
		bucket := templateEnv(t, s)["AUDIT_BUCKET"]
		keys, err := store.NewKeys(templateEnv(t, s)["AUDIT_PREFIX"], "123456789012", "us-east-1")
		if err != nil {
			t.Fatal(err)
		}
		day := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
		obj := "s3://" + bucket + "/" + keys.Object(window.Slot{Start: day, End: day.AddDate(0, 0, 1)})
		dir := strings.Replace(scalarString(asMap(ti["Parameters"])["storage.location.template"]), "${dt}", "2026-11-24", 1)
		if obj[:strings.LastIndex(obj, "/")+1] != dir {
			t.Errorf("the code writes %s; Athena looks for dt=2026-11-24 in %s", obj, dir)
		}
		if loc := scalarString(asMap(ti["StorageDescriptor"])["Location"]); !strings.HasPrefix(dir, loc) {
			t.Errorf("partition folder %s is not under the table location %s", dir, loc)
		}
	}
}

func TestAthenaWorkGroup(t *testing.T) {
	tpl := loadTemplate(t)
	for _, tc := range []struct {
		params map[string]string
		bucket string
		enc    string
	}{
		{defaults, "{{AuditBucket}}", "map[EncryptionOption:SSE_S3]"},
		{customised, "corp-audit-trail", "map[EncryptionOption:SSE_KMS KmsKey:" + customised["KmsKeyArn"] + "]"},
	} {
		s := resolve(t, tpl, tc.params)
		wg := asMap(s.props(t, "AthenaWorkGroup")["WorkGroupConfiguration"])
		rc := asMap(wg["ResultConfiguration"])
		if wg["EnforceWorkGroupConfiguration"] != true || scalarString(wg["BytesScannedCutoffPerQuery"]) != "10737418240" ||
			fmt.Sprint(wg["EngineVersion"]) != "map[SelectedEngineVersion:Athena engine version 3]" ||
			rc["OutputLocation"] != "s3://"+tc.bucket+"/athena-results/" || fmt.Sprint(rc["EncryptionConfiguration"]) != tc.enc {
			t.Errorf("workgroup configuration %v", wg)
		}
		// The results are outside the function's objects.
		prefix := templateEnv(t, s)["AUDIT_PREFIX"]
		if strings.HasPrefix("athena-results/", prefix+"/") {
			t.Errorf("Athena results lie under the function's prefix %s", prefix)
		}
	}
}

// namedQueries are the saved compliance queries, by logical id.
func namedQueries(t *testing.T, s *stack) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for name, r := range s.resources {
		if r["Type"] == "AWS::Athena::NamedQuery" {
			out[name] = asMap(r["Properties"])
		}
	}
	return out
}

var dtFilter = regexp.MustCompile(`(?i)\bWHERE\b[\s\S]*\bdt\s*(>=|BETWEEN)`)

func TestNamedQueriesAreSavedInTheWorkGroup(t *testing.T) {
	qs := namedQueries(t, resolve(t, loadTemplate(t), defaults))
	names := map[string]bool{}
	for id, q := range qs {
		if q["Database"] != "{{GlueDatabase}}" || q["WorkGroup"] != "{{AthenaWorkGroup}}" {
			t.Errorf("%s runs in database %v, workgroup %v", id, q["Database"], q["WorkGroup"])
		}
		name := scalarString(q["Name"])
		if name == "" || names[name] || scalarString(q["Description"]) == "" {
			t.Errorf("%s: name %q (or a duplicate), description %q", id, name, q["Description"])
		}
		names[name] = true
		if sql := scalarString(q["QueryString"]); !dtFilter.MatchString(sql) || !strings.Contains(sql, "FROM sessions") {
			t.Errorf("%s does not select from sessions with a dt filter (partition pruning):\n%s", id, sql)
		}
	}
	// The generated ones (internal/findings.NamedQueries) and session-by-id.
	if len(qs) != 10 {
		t.Errorf("%d named queries, want 10", len(qs))
	}
}

func TestOutputs(t *testing.T) {
	s := resolve(t, loadTemplate(t), defaults)
	want := map[string]string{
		"FunctionArn": "{{SessionAuditFunction.Arn}}", "FunctionName": "{{SessionAuditFunction}}",
		"BucketName": "{{AuditBucket}}", "GlueDatabase": "{{GlueDatabase}}", "GlueTable": "{{SessionsTable}}",
		"AthenaWorkGroup": "{{AthenaWorkGroup}}", "ScheduleDeadLetterQueueUrl": "{{ScheduleDeadLetterQueue}}",
		"FailureQueueUrl": "{{FailureQueue}}", "ExporterRoleArn": "{{SessionAuditRole.Arn}}",
		"ReportFunctionName": "{{SessionAuditReportFunction}}",
	}
	got := map[string]string{}
	for k, v := range s.outputs {
		got[k] = scalarString(asMap(v)["Value"])
	}
	if !maps.Equal(got, want) {
		t.Errorf("outputs\n got %v\nwant %v", got, want)
	}
}

// TestCfnLint runs cfn-lint, which also applies the SAM transform, when it
// is installed.
func TestCfnLint(t *testing.T) {
	lint, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Skip("cfn-lint is not installed")
	}
	cmd := exec.Command(lint, "--format", "parseable", "--", "template.yaml")
	cmd.Dir = repoRoot(t)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case !errors.As(err, &exit) || exit.ExitCode() > 15 || exit.ExitCode()&1 != 0:
		t.Skipf("cfn-lint did not run: %v\n%s", err, out)
	case exit.ExitCode()&(2|4) == 0: // 8: informational matches only
		t.Logf("cfn-lint (informational only):\n%s", out)
	default: // 2: errors, 4: warnings
		t.Errorf("cfn-lint: %v\n%s", err, out)
	}
}
