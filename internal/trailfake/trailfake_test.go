package trailfake_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/session-audit/session-audit/internal/cloudtrail"
	"github.com/session-audit/session-audit/internal/ssmfake"
	"github.com/session-audit/session-audit/internal/trailfake"
)

// Reference records with the shape of real StartSession events (as AWS's
// CloudTrail documentation and public incident write-ups show them; the
// values here are made up): a role session with its session context, an
// IAM user with long-term keys (no sessionContext), a refused call
// (errorCode, errorMessage, responseElements null).
const (
	realRole   = `{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLEROLEID0001:jdoe","arn":"arn:aws:sts::111122223333:assumed-role/Admin/jdoe","accountId":"111122223333","accessKeyId":"ASIAEXAMPLEKEY000001","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAEXAMPLEROLEID0001","arn":"arn:aws:iam::111122223333:role/Admin","accountId":"111122223333","userName":"Admin"},"webIdFederationData":{},"attributes":{"creationDate":"2024-05-02T08:11:02Z","mfaAuthenticated":"false"}}},"eventTime":"2024-05-02T08:20:47Z","eventSource":"ssm.amazonaws.com","eventName":"StartSession","awsRegion":"eu-west-1","sourceIPAddress":"198.51.100.7","userAgent":"aws-internal/3 aws-sdk-java/1.12.0","requestParameters":{"target":"i-0123456789abcdef0"},"responseElements":{"sessionId":"jdoe-0a1b2c3d4e5f67890","tokenValue":"Value hidden due to security reasons.","streamUrl":"wss://ssmmessages.eu-west-1.amazonaws.com/v1/data-channel/jdoe-0a1b2c3d4e5f67890?role=publish_subscribe"},"requestID":"0f8e7d6c-0000-4000-8000-000000000001","eventID":"0f8e7d6c-0000-4000-8000-000000000002","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}`
	realUser   = `{"eventVersion":"1.05","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLEUSERID0001","arn":"arn:aws:iam::111122223333:user/ops.person","accountId":"111122223333","accessKeyId":"AKIAEXAMPLEKEY000001","userName":"ops.person"},"eventTime":"2020-05-18T17:00:24Z","eventSource":"ssm.amazonaws.com","eventName":"StartSession","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.9","userAgent":"aws-cli/2.0.0 Python/3.7.3 Linux/5.4.0-29-generic botocore/2.0.0dev4","requestParameters":{"target":"i-0fedcba9876543210","documentName":"SSM-Custom"},"responseElements":{"sessionId":"ops.person-0e34861185201706f","tokenValue":"Value hidden due to security reasons.","streamUrl":"wss://ssmmessages.us-east-1.amazonaws.com/v1/data-channel/ops.person-0e34861185201706f?role=publish_subscribe"},"requestID":"0f8e7d6c-0000-4000-8000-000000000003","eventID":"0f8e7d6c-0000-4000-8000-000000000004","readOnly":false,"eventType":"AwsApiCall","recipientAccountId":"111122223333"}`
	realDenied = `{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLEROLEID0002:mallory","arn":"arn:aws:sts::111122223333:assumed-role/ReadOnly/mallory","accountId":"111122223333","accessKeyId":"ASIAEXAMPLEKEY000002","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAEXAMPLEROLEID0002","arn":"arn:aws:iam::111122223333:role/ReadOnly","accountId":"111122223333","userName":"ReadOnly"},"webIdFederationData":{},"attributes":{"creationDate":"2024-05-02T08:11:02Z","mfaAuthenticated":"false"}}},"eventTime":"2024-05-02T09:00:00Z","eventSource":"ssm.amazonaws.com","eventName":"StartSession","awsRegion":"eu-west-1","sourceIPAddress":"198.51.100.8","userAgent":"aws-cli/2.15.0","errorCode":"AccessDenied","errorMessage":"User: arn:aws:sts::111122223333:assumed-role/ReadOnly/mallory is not authorized to perform: ssm:StartSession on resource: arn:aws:ec2:eu-west-1:111122223333:instance/i-0123456789abcdef0 because no identity-based policy allows the ssm:StartSession action","requestParameters":{"target":"i-0123456789abcdef0"},"responseElements":null,"requestID":"0f8e7d6c-0000-4000-8000-000000000005","eventID":"0f8e7d6c-0000-4000-8000-000000000006","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}`
)

// shape is the set of key paths of a JSON value, with the JSON type of
// each leaf ("null" included): what a reader relies on.
func shape(t *testing.T, raw []byte) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(p string, v any)
	walk = func(p string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if len(x) == 0 {
				out = append(out, p+":{}")
			}
			for k, c := range x {
				walk(p+"."+k, c)
			}
		case nil:
			out = append(out, p+":null")
		case string:
			out = append(out, p+":string")
		case bool:
			out = append(out, p+":bool")
		default:
			out = append(out, p+":other")
		}
	}
	walk("", v)
	sort.Strings(out)
	return out
}

var (
	week     = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	sessions = ssmfake.Generate(7, week, week.AddDate(0, 0, 7), 2000)
	opts     = trailfake.Options{Seed: 7, Account: "111122223333", Region: "eu-west-1", Denied: 300, From: week, To: week.AddDate(0, 0, 7)}
)

// TestShapeOfRealRecords: every key path (and leaf type) of the real
// records' kinds is in a generated record of the same kind, and a
// generated record has no key the real ones lack, except the documented
// optional ones (tlsDetails, sessionCredentialFromConsole, reason and
// documentName in requestParameters).
func TestShapeOfRealRecords(t *testing.T) {
	recs := trailfake.Generate(sessions, opts)
	find := func(pred func(trailfake.Record) bool) []string {
		for _, r := range recs {
			if pred(r) {
				b, _ := json.Marshal(r)
				return shape(t, b)
			}
		}
		t.Fatal("no such record")
		return nil
	}
	optional := regexp.MustCompile(`^\.(tlsDetails\.|sessionCredentialFromConsole|requestParameters\.(reason|documentName))`)
	for _, tc := range []struct {
		name string
		real string
		pred func(trailfake.Record) bool
	}{
		{"role session", realRole, func(r trailfake.Record) bool {
			return r.ErrorCode == "" && r.EventName == "StartSession" && r.UserIdentity.Type == "AssumedRole" && r.SessionCredentialFromConsole == ""
		}},
		{"IAM user with access keys", realUser, func(r trailfake.Record) bool {
			return r.ErrorCode == "" && r.EventName == "StartSession" && r.UserIdentity.Type == "IAMUser" && r.UserIdentity.SessionContext == nil
		}},
		{"denied", realDenied, func(r trailfake.Record) bool {
			return r.ErrorCode == "AccessDenied" && r.UserIdentity.Type == "AssumedRole"
		}},
	} {
		real, gen := shape(t, []byte(tc.real)), find(tc.pred)
		for _, k := range real {
			if k == ".eventCategory:string" || k == ".managementEvent:bool" {
				continue // absent from the older realUser record only
			}
			if !slices.Contains(gen, k) && !optional.MatchString(k) {
				t.Errorf("%s: the generated record lacks %s", tc.name, k)
			}
		}
		for _, k := range gen {
			if !slices.Contains(real, k) && !optional.MatchString(k) && k != ".eventCategory:string" && k != ".managementEvent:bool" {
				t.Errorf("%s: the generated record has %s, which the real one has not", tc.name, k)
			}
		}
	}
}

// TestEverySessionStarts: one successful StartSession per session, with
// its id in responseElements and its target in requestParameters; the
// Terminate and Resume events name known sessions; the denied attempts
// number Options.Denied, carry an error and null responseElements.
func TestEverySessionStarts(t *testing.T) {
	recs := trailfake.Generate(sessions, opts)
	starts := map[string]string{}
	var denied, terminate, resume int
	for _, r := range recs {
		if r.EventSource != "ssm.amazonaws.com" || r.RecipientAccountID != opts.Account || r.AWSRegion != opts.Region {
			t.Fatalf("record %+v", r)
		}
		switch {
		case r.ErrorCode != "":
			denied++
			if r.ResponseElements != nil || r.ErrorMessage == "" || r.EventName != "StartSession" {
				t.Errorf("denied record %+v", r)
			}
		case r.EventName == "StartSession":
			id := r.ResponseElements["sessionId"].(string)
			if _, dup := starts[id]; dup {
				t.Errorf("two StartSession for %s", id)
			}
			starts[id] = r.RequestParameters["target"].(string)
		case r.EventName == "TerminateSession":
			terminate++
		case r.EventName == "ResumeSession":
			resume++
		}
	}
	for _, s := range sessions {
		if starts[aws.ToString(s.SessionId)] != aws.ToString(s.Target) {
			t.Fatalf("session %s has no StartSession on %s", aws.ToString(s.SessionId), aws.ToString(s.Target))
		}
	}
	if len(starts) != len(sessions) || denied != opts.Denied || terminate == 0 || resume == 0 {
		t.Errorf("%d starts for %d sessions, %d denied, %d terminate, %d resume", len(starts), len(sessions), denied, terminate, resume)
	}
}

// TestFiles: the real layout and name; every record lands in one file,
// delivered after its event; gzip JSON with Records.
func TestFiles(t *testing.T) {
	recs := trailfake.Generate(sessions[:300], opts)
	const prefix = "logs/AWSLogs/o-a1b2c3d4e5/"
	files, err := trailfake.Files(prefix, recs, 1)
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`^logs/AWSLogs/o-a1b2c3d4e5/111122223333/CloudTrail/eu-west-1/(\d{4}/\d{2}/\d{2})/111122223333_CloudTrail_eu-west-1_(\d{8}T\d{4}Z)_[0-9a-z]{16}\.json\.gz$`)
	n := 0
	for _, f := range files {
		m := name.FindStringSubmatch(f.Key)
		if m == nil {
			t.Fatalf("key %s", f.Key)
		}
		delivered, _ := time.Parse("20060102T1504Z", m[2])
		if cloudtrail.Day(delivered) != m[1] {
			t.Errorf("%s: folder %s, delivered %s", f.Key, m[1], delivered)
		}
		zr, err := gzip.NewReader(bytes.NewReader(f.Body))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(zr)
		var doc struct{ Records []json.RawMessage }
		if err := json.Unmarshal(raw, &doc); err != nil || len(doc.Records) == 0 {
			t.Fatalf("%s: %v, %d records", f.Key, err, len(doc.Records))
		}
		for _, r := range doc.Records {
			var ev struct{ EventTime time.Time }
			json.Unmarshal(r, &ev)
			if !ev.EventTime.Before(delivered) {
				t.Errorf("%s: event at %s delivered at %s", f.Key, ev.EventTime, delivered)
			}
			if strings.Contains(string(r), `"responseElements":null`) != strings.Contains(string(r), `"errorCode"`) {
				t.Errorf("%s: responseElements null without an error, or the reverse: %s", f.Key, r)
			}
		}
		n += len(doc.Records)
	}
	if n != len(recs) {
		t.Errorf("%d records in files, %d generated", n, len(recs))
	}
}
