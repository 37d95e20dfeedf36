package auditreport_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/session-audit/session-audit/internal/app"
	"github.com/session-audit/session-audit/internal/archive"
	"github.com/session-audit/session-audit/internal/athenafake"
	"github.com/session-audit/session-audit/internal/auditreport"
	"github.com/session-audit/session-audit/internal/cloudtrail"
	"github.com/session-audit/session-audit/internal/config"
	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/findings"
	"github.com/session-audit/session-audit/internal/ssmfake"
	"github.com/session-audit/session-audit/internal/trailfake"
)

const (
	bucket   = "audit-bucket"
	prefix   = "ssm-sessions"
	account  = "123456789012"
	fnARN    = "arn:aws:lambda:us-east-1:123456789012:function:session-audit"
	database = "session_audit"
	wg       = "audit-wg"
)

// The fixed clock: the weekly schedule's Monday 06:00 UTC.
var (
	now       = time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC)
	dataFrom  = time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC)
	dataTo    = time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	berlin, _ = time.LoadLocation("Europe/Berlin")
)

// env is a report environment over the emulators.
type env struct {
	emu      *emulators.Emulators
	athena   *athenafake.Server
	client   *athena.Client
	history  []archive.Row // every exported session
	reporter *auditreport.Reporter
	// trail are the CloudTrail records written for the sessions, when the
	// environment has a trail.
	trail []trailfake.Record
}

// trailOpts give an environment a CloudTrail trail.
type trailOpts struct {
	// location is AUDIT_CLOUDTRAIL_LOCATION; the files are written under
	// trailPrefix in the bucket whatever it says.
	location string
	cidrs    string
}

// The trail's place in the test bucket: an organization trail.
const (
	trailPrefix   = "trail/AWSLogs/o-a1b2c3d4e5/"
	trailLocation = "s3://" + bucket + "/" + trailPrefix
	allowedCIDRs  = "198.51.100.0/24,10.0.0.0/8"
)

// newEnv exports n generated sessions (plus hand-made ones) over
// [dataFrom, dataTo) through the real exporter into gofakes3, and serves
// the Athena emulator over the bucket. fail, when set, fails queries.
func newEnv(t *testing.T, n int, extra []types.Session, fail func(string) string) *env {
	t.Helper()
	return newTrailEnv(t, n, extra, fail, nil)
}

// newTrailEnv is newEnv with, when tr is set, a trail of the events of
// the sessions near the reported week and 330 denied attempts.
func newTrailEnv(t *testing.T, n int, extra []types.Session, fail func(string) string, tr *trailOpts) *env {
	t.Helper()
	t.Setenv("AWS_CA_BUNDLE", "")
	sessions := append(ssmfake.Generate(20261130, dataFrom.Add(-3*time.Hour), dataTo.Add(2*time.Hour), n), extra...)
	fake := ssmfake.New(ssmfake.WithSessions(sessions))
	emu, err := emulators.Start(emulators.Options{Bucket: bucket, SSM: fake, MaxBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	e := &env{emu: emu}
	for _, s := range fake.Sessions("History") {
		if !s.StartDate.Before(dataFrom) && s.StartDate.Before(dataTo) {
			e.history = append(e.history, archive.FromSession(s, archive.Origin{AccountID: account, Region: emulators.Region, ExportedAt: now}))
		}
	}
	cfg, err := config.Load(func(k string) string { return map[string]string{"AUDIT_BUCKET": bucket}[k] })
	if err != nil {
		t.Fatal(err)
	}
	exportAt := dataTo.Add(30 * time.Minute)
	h := app.Wire(cfg, emu.Clients(), slog.New(slog.NewJSONHandler(io.Discard, nil)), func() time.Time { return exportAt })
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{InvokedFunctionArn: fnARN})
	ev := fmt.Sprintf(`{"start":%q,"end":%q}`, dataFrom.Format(time.RFC3339), dataTo.Format(time.RFC3339))
	if _, err := h.Handle(ctx, json.RawMessage(ev)); err != nil {
		t.Fatalf("export: %v", err)
	}
	tables := athenafake.Tables(prefix)
	vars := map[string]string{
		"AUDIT_BUCKET": bucket, "AUDIT_ATHENA_WORKGROUP": wg, "AUDIT_GLUE_DATABASE": database,
		"AUDIT_TIME_ZONE": "Europe/Berlin", "AUDIT_COVERAGE_TABLE": "coverage",
	}
	if tr != nil {
		// The reported week and the hours around it: fewer files to serve.
		var near []types.Session
		for _, s := range sessions {
			if s.StartDate.After(week.From.Add(-6 * time.Hour)) {
				near = append(near, s)
			}
		}
		e.trail = trailfake.Generate(near, trailfake.Options{Seed: 3, Account: account, Region: emulators.Region, Denied: 330, From: week.From.Add(-6 * time.Hour), To: dataTo.Add(2 * time.Hour)})
		files, err := trailfake.Files(trailPrefix, e.trail, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if _, err := emu.Clients().S3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(f.Key), Body: bytes.NewReader(f.Body)}); err != nil {
				t.Fatal(err)
			}
		}
		loc, err := cloudtrail.ParseLocation(tr.location)
		if err != nil {
			t.Fatal(err)
		}
		tables = append(tables, athenafake.CloudTrailTable(loc))
		vars[cloudtrail.EnvLocation], vars[findings.EnvAllowedSourceCIDRs] = tr.location, tr.cidrs
	}
	e.athena, err = athenafake.New(athenafake.Options{
		S3: emu.Clients().S3, Bucket: bucket, Database: database, WorkGroup: wg,
		OutputLocation: "s3://" + bucket + "/athena-results/", Dir: t.TempDir(),
		Tables: tables,
		Now:    func() time.Time { return now }, Fail: fail,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.athena)
	t.Cleanup(func() { srv.Close(); e.athena.Close() })
	e.client = athena.New(athena.Options{
		Region: emulators.Region, BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		HTTPClient:  ssmfake.HTTPClient(),
	})
	rcfg, err := auditreport.ConfigFromEnv(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	e.reporter = &auditreport.Reporter{
		Config: rcfg, Athena: e.client, S3: emu.Clients().S3, Now: func() time.Time { return now },
		Poll: time.Millisecond, Sleep: func(context.Context, time.Duration) error { return nil },
	}
	return e
}

// objects returns every object under the reports folder, by key.
func (e *env) objects(t *testing.T, under string) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	api := e.emu.Clients().S3
	out := map[string][]byte{}
	page, err := api.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(under)})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range page.Contents {
		obj, err := api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		out[aws.ToString(o.Key)] = b
	}
	return out
}

// putCoverage writes a coverage file as the organization's run would.
func (e *env) putCoverage(t *testing.T, day string, lines ...string) {
	t.Helper()
	key := prefix + "/coverage/dt=" + day + "/run-" + day + ".json"
	_, err := e.emu.Clients().S3.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(strings.Join(lines, "\n") + "\n"),
	})
	if err != nil {
		t.Fatal(err)
	}
}

// session builds a hand-made History session.
func session(id, owner, doc string, start time.Time, d time.Duration, status types.SessionStatus, s3url string) types.Session {
	s := types.Session{SessionId: aws.String(id), Target: aws.String("i-0handmade0000001"), Status: status,
		StartDate: aws.Time(start), Owner: aws.String(owner), AccessType: types.AccessTypeStandard}
	if doc != "" {
		s.DocumentName = aws.String(doc)
	}
	if d >= 0 {
		s.EndDate = aws.Time(start.Add(d))
	}
	if s3url != "" {
		s.OutputUrl = &types.SessionManagerOutputUrl{S3OutputUrl: aws.String(s3url)}
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
