package stack_test

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// nameRule is the documented limit of one name property.
type nameRule struct {
	path    []string       // the property, from Properties; "*" is every key or element
	pattern *regexp.Regexp // characters and length, anchored
	doc     string         // where AWS documents it
}

// nameRules lists, for every resource type template.yaml and
// member-role.yaml declare, the properties that name it. A type with no
// entry fails the test, so a new resource type must say what names it
// (an empty list: CloudFormation or SAM generates its name).
var nameRules = map[string][]nameRule{
	"AWS::StepFunctions::StateMachine": {{[]string{"StateMachineName"}, regexp.MustCompile(`^[0-9A-Za-z_-]{1,80}$`),
		"Step Functions API Reference, CreateStateMachine, name: 1-80 characters; no white space, brackets, wildcards or special characters, and only 0-9, A-Z, a-z, - and _ for CloudWatch Logs"}},
	"AWS::Athena::WorkGroup": {{[]string{"Name"}, regexp.MustCompile(`^[a-zA-Z0-9._-]{1,128}$`),
		"Athena API Reference, CreateWorkGroup, Name: pattern [a-zA-Z0-9._-]{1,128}"}},
	"AWS::Athena::NamedQuery": {{[]string{"Name"}, regexp.MustCompile(`^.{1,128}$`),
		"Athena API Reference, CreateNamedQuery, Name: 1-128 characters"}},
	"AWS::Glue::Database": {{[]string{"DatabaseInput", "Name"}, regexp.MustCompile(`^[a-z0-9_]{1,255}$`),
		"Glue API, DatabaseInput.Name: 1-255 characters; Athena User Guide, \"Name databases, tables, and columns\": lowercase letters, numbers and underscore"}},
	"AWS::Glue::Table": {{[]string{"TableInput", "Name"}, regexp.MustCompile(`^[a-z0-9_]{1,255}$`),
		"Glue API, TableInput.Name: 1-255 characters; Athena User Guide, \"Name databases, tables, and columns\""}},
	"AWS::Logs::LogGroup": {{[]string{"LogGroupName"}, regexp.MustCompile(`^[.\-_/#A-Za-z0-9]{1,512}$`),
		"CloudWatch Logs API Reference, CreateLogGroup, logGroupName: 1-512 characters, pattern [\\.\\-_/#A-Za-z0-9]+"}},
	"AWS::IAM::Role": {
		{[]string{"RoleName"}, regexp.MustCompile(`^[\w+=,.@-]{1,64}$`), "IAM API Reference, CreateRole, RoleName: 1-64 characters, pattern [\\w+=,.@-]+"},
		{[]string{"Policies", "*", "PolicyName"}, regexp.MustCompile(`^[\w+=,.@-]{1,128}$`), "IAM API Reference, PutRolePolicy, PolicyName: 1-128 characters, pattern [\\w+=,.@-]+"},
	},
	"AWS::IAM::RolePolicy": {{[]string{"PolicyName"}, regexp.MustCompile(`^[\w+=,.@-]{1,128}$`),
		"IAM API Reference, PutRolePolicy, PolicyName: 1-128 characters"}},
	"AWS::SQS::Queue": {{[]string{"QueueName"}, regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`),
		"SQS API Reference, CreateQueue, QueueName: up to 80 alphanumeric characters, hyphens and underscores"}},
	"AWS::CloudWatch::Alarm": {{[]string{"AlarmName"}, regexp.MustCompile(`^.{1,255}$`),
		"CloudWatch API Reference, PutMetricAlarm, AlarmName: 1-255 characters"}},
	"AWS::Scheduler::Schedule": {{[]string{"Name"}, regexp.MustCompile(`^[0-9a-zA-Z._-]{1,64}$`),
		"EventBridge Scheduler API Reference, CreateSchedule, Name: 1-64 characters, pattern [0-9a-zA-Z-_.]+"}},
	"AWS::SNS::Topic": {{[]string{"TopicName"}, regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`),
		"SNS API Reference, CreateTopic, Name: up to 256 alphanumeric characters, hyphens and underscores"}},
	"AWS::S3::Bucket": {{[]string{"BucketName"}, regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`),
		"S3 User Guide, \"General purpose bucket naming rules\": 3-63 lowercase letters, numbers, dots and hyphens"}},
	"AWS::S3::BucketPolicy": {},
	"AWS::Serverless::Function": {
		{[]string{"FunctionName"}, regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`), "Lambda API Reference, CreateFunction, FunctionName: a name of 1-64 characters"},
		// SAM names a ScheduleV2 event's schedule Name, or lets
		// CloudFormation generate one with OmitName.
		{[]string{"Events", "*", "Properties", "Name"}, regexp.MustCompile(`^[0-9a-zA-Z._-]{1,64}$`), "EventBridge Scheduler API Reference, CreateSchedule, Name: 1-64 characters"},
	},
}

// values returns the values at path under v, "*" matching every key or
// element.
func values(v any, path []string) []any {
	if len(path) == 0 {
		return []any{v}
	}
	var out []any
	switch c := v.(type) {
	case map[string]any:
		if path[0] == "*" {
			for _, e := range c {
				out = append(out, values(e, path[1:])...)
			}
		} else if e, ok := c[path[0]]; ok {
			out = append(out, values(e, path[1:])...)
		}
	case []any:
		if path[0] == "*" {
			for _, e := range c {
				out = append(out, values(e, path[1:])...)
			}
		}
	}
	return out
}

// resolveAs resolves tpl as deployed in a stack of the given name.
func resolveAs(t *testing.T, tpl map[string]any, name string, params map[string]string) *stack {
	t.Helper()
	oldName, oldID := pseudo["AWS::StackName"], pseudo["AWS::StackId"]
	defer func() { pseudo["AWS::StackName"], pseudo["AWS::StackId"] = oldName, oldID }()
	pseudo["AWS::StackName"] = name
	pseudo["AWS::StackId"] = "arn:aws:cloudformation:ap-southeast-2:123456789012:stack/" + name + "/9f8e7d6c-5b4a-11ef-9a8b-7c6d5e4f3a2b"
	return resolve(t, tpl, params)
}

// stackName is a valid stack name of n characters ([a-zA-Z][-a-zA-Z0-9]*).
func stackName(n int) string {
	return ("S" + strings.Repeat("ession-Audit-9", 10))[:n]
}

// TestEveryNameFitsItsLimit renders every named resource of template.yaml
// (every resource present: organization mode, every option on) and of
// member-role.yaml (both of its roles, their names at the longest the
// parameters allow) for stack names of 1 to 128 characters, the range
// CloudFormation accepts, and holds each name to its documented limit.
func TestEveryNameFitsItsLimit(t *testing.T) {
	all := withParam(withParam(withParam(orgListed, "NoSessionsAlarmDays", "3"), "ReportTopicArn", "arn:aws:sns:us-east-1:123456789012:reports"), "RetentionDays", "400")
	long64 := strings.Repeat("r", 64)
	templates := []struct {
		name   string
		tpl    map[string]any
		params map[string]string
	}{
		{"template.yaml", loadTemplate(t), all},
		{"template.yaml (existing bucket, named database)", loadTemplate(t), withParam(withParam(all, "ExistingBucketName", "corp-audit-trail"), "GlueDatabaseName", strings.Repeat("d", 255))},
		{"member-role.yaml (reader)", loadMemberTemplate(t), map[string]string{"ExporterRoleArn": "arn:aws:iam::123456789012:role/x", "MemberRoleName": long64}},
		{"member-role.yaml (org list)", loadMemberTemplate(t), map[string]string{"ExporterRoleArn": "arn:aws:iam::123456789012:role/x", "CreateOrgListRole": "true", "OrgListRoleName": long64}},
	}
	checked := map[string]int{}
	for _, tc := range templates {
		for n := 1; n <= 128; n++ {
			s := resolveAs(t, tc.tpl, stackName(n), tc.params)
			names := make([]string, 0, len(s.resources))
			for name := range s.resources {
				names = append(names, name)
			}
			sort.Strings(names)
			for _, name := range names {
				res := s.resources[name]
				typ := scalarString(res["Type"])
				rules, ok := nameRules[typ]
				if !ok {
					t.Fatalf("%s: %s is a %s, which nameRules does not list: add the properties that name it, with their documented limits", tc.name, name, typ)
				}
				for _, r := range rules {
					for _, v := range values(asMap(res["Properties"]), r.path) {
						got := scalarString(v)
						checked[typ+"."+strings.Join(r.path, ".")]++
						if !r.pattern.MatchString(got) {
							t.Errorf("%s, stack name of %d characters: %s %s = %q (%d characters) breaks %s",
								tc.name, n, name, strings.Join(r.path, "."), got, len(got), r.doc)
						}
					}
				}
			}
		}
	}
	// The names the templates set, each checked for every stack length.
	for _, want := range []string{"AWS::StepFunctions::StateMachine.StateMachineName", "AWS::Athena::WorkGroup.Name", "AWS::Athena::NamedQuery.Name",
		"AWS::Glue::Database.DatabaseInput.Name", "AWS::Glue::Table.TableInput.Name", "AWS::Logs::LogGroup.LogGroupName",
		"AWS::IAM::Role.RoleName", "AWS::IAM::Role.Policies.*.PolicyName", "AWS::IAM::RolePolicy.PolicyName"} {
		if checked[want] < 128 {
			t.Errorf("%s was checked %d times; the templates no longer set it, or the table lost it", want, checked[want])
		}
	}
	t.Logf("names checked: %v", fmt.Sprint(checked))
}
