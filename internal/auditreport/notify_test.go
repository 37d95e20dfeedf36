package auditreport_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/session-audit/session-audit/internal/auditreport"
	"github.com/session-audit/session-audit/internal/ssmfake"
)

// snsServer answers SNS Publish as the service does (AWS Query protocol,
// an XML answer) and keeps the requests' forms.
type snsServer struct {
	mu    sync.Mutex
	forms []url.Values
}

func (s *snsServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("Action") != "Publish" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.forms = append(s.forms, r.PostForm)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	w.Write([]byte(`<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>m-1</MessageId></PublishResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></PublishResponse>`))
}

func TestNotification(t *testing.T) {
	e := newEnv(t, 300, handmade(), nil)
	fake := &snsServer{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	topic := "arn:aws:sns:us-east-1:123456789012:audit-reports"
	e.reporter.Config.Topic = topic
	e.reporter.SNS = sns.New(sns.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("a", "b", ""), HTTPClient: ssmfake.HTTPClient()})
	out, err := e.reporter.Handle(context.Background(), json.RawMessage(`{"report":"weekly","time":"2026-11-30T06:00:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(fake.forms) != 1 || fake.forms[0].Get("TopicArn") != topic {
		t.Fatalf("publishes %v", fake.forms)
	}
	msg := fake.forms[0].Get("Message")
	t.Logf("message:\n%s", msg)
	for _, want := range []string{"2026-11-23T00:00:00Z to 2026-11-30T00:00:00Z", out.Location + "report.html", "Long sessions: " + itoa(out.Findings["long"])} {
		if !strings.Contains(msg, want) {
			t.Errorf("the message does not say %q", want)
		}
	}
	for _, r := range inWeek(e.history) {
		if strings.Contains(msg, r.SessionID) || strings.Contains(msg, r.Owner) || strings.Contains(msg, r.Target) {
			t.Fatalf("the message has session details (%s)", r.SessionID)
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestConfigNamesTheBadVariable(t *testing.T) {
	base := map[string]string{"AUDIT_BUCKET": "b", "AUDIT_ATHENA_WORKGROUP": "wg", "AUDIT_GLUE_DATABASE": "db"}
	for k, v := range map[string]string{
		"AUDIT_BUCKET": "", "AUDIT_ATHENA_WORKGROUP": "bad name", "AUDIT_GLUE_DATABASE": "", "AUDIT_REPORT_TOPIC": "topic",
		"AUDIT_SLOT": "7h", "AUDIT_ARCHIVE_START": "2026/01/01", "AUDIT_S3_PATH_STYLE": "yes", "AUDIT_TIME_ZONE": "Nowhere/Land",
		"AUDIT_BUSINESS_HOURS": "9-5", "AUDIT_PREFIX": "/lead",
	} {
		env := map[string]string{}
		for a, b := range base {
			env[a] = b
		}
		env[k] = v
		_, err := auditreport.ConfigFromEnv(func(n string) string { return env[n] })
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%q: %v", k, v, err)
		}
	}
	if _, err := auditreport.ConfigFromEnv(func(n string) string { return base[n] }); err != nil {
		t.Error(err)
	}
}
