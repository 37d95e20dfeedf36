package stack_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/session-audit/session-audit/internal/app"
	"github.com/session-audit/session-audit/internal/awsclients"
	"github.com/session-audit/session-audit/internal/config"
	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/export"
	"github.com/session-audit/session-audit/internal/miniotest"
	"github.com/session-audit/session-audit/internal/ssmfake"
	"github.com/session-audit/session-audit/internal/store"
	"github.com/session-audit/session-audit/internal/window"
)

// TestFunctionRoleOnMinIO runs the export with nothing but the S3
// statements of the function's role (AuditObjects and ListAuditFolders, read
// from template.yaml with a bucket and prefix substituted), enforced by a
// real policy engine: MinIO's, as the session policy of credentials from
// its STS AssumeRole. The export must succeed, and a manifest or object
// that does not exist must read as missing, not as denied. The second case
// drops sessions/* from the ListBucket grant, and records what MinIO then
// answers to a HEAD of a missing object.
func TestFunctionRoleOnMinIO(t *testing.T) {
	const (
		bucket = "corp-audit-trail"
		prefix = "audit/ssm"
		nowStr = "2026-11-26T06:30:00Z"
	)
	stmts := roleStatements(t, resolve(t, loadTemplate(t), map[string]string{"ExistingBucketName": bucket, "Prefix": prefix}))
	objects, list := stmts["AuditObjects"], stmts["ListAuditFolders"]
	if len(objects.Actions) == 0 || len(list.Condition["StringLike"]["s3:prefix"]) != 4 {
		t.Fatalf("template statements AuditObjects %+v, ListAuditFolders %+v", objects, list)
	}

	srv := miniotest.Start(t)
	now, _ := time.Parse(time.RFC3339, nowStr)
	from := now.Truncate(24*time.Hour).AddDate(0, 0, -3)
	fake := ssmfake.New(ssmfake.WithSessions(ssmfake.Generate(5, from, now, 600)))
	emu, err := emulators.Start(emulators.Options{Bucket: bucket, SSM: fake, MaxBackoff: 20 * time.Millisecond,
		S3Upstream: &emulators.Upstream{URL: srv.URL, AccessKey: miniotest.RootUser, SecretKey: miniotest.RootPassword}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	root := emu.Clients().S3
	keys, err := store.NewKeys(prefix, "123456789012", emulators.Region)
	if err != nil {
		t.Fatal(err)
	}
	never := window.Slot{Start: from.AddDate(0, 0, -5), End: from.AddDate(0, 0, -4)} // a slot no run exports

	for _, tc := range []struct {
		name     string
		listed   []string // the s3:prefix values of ListAuditFolders
		headGone int      // MinIO's status for a HEAD of a missing object
	}{
		{"as in template.yaml", list.Condition["StringLike"]["s3:prefix"], http.StatusNotFound},
		// Observed on MinIO: it answers a signed request for a missing
		// object 404 whatever the ListBucket grant (it consults
		// s3:ListBucket only for anonymous requests). AWS documents 403
		// here; MinIO does not show it.
		{"without sessions/* in ListBucket", []string{prefix + "/manifests/*", prefix + "/state/*"}, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			narrowed := list
			narrowed.Condition = map[string]map[string][]string{"StringLike": {"s3:prefix": tc.listed}}
			c := s3Client(srv.URL, assumeRole(t, srv.URL, objects, narrowed))

			// The policy is in force: outside the grant is denied.
			ctx := context.Background()
			if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("elsewhere/x")}); httpStatus(err) != http.StatusForbidden {
				t.Errorf("GetObject outside the prefix: %v; want 403", err)
			}
			if _, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)}); httpStatus(err) != http.StatusForbidden {
				t.Errorf("listing the whole bucket: %v; want 403", err)
			}
			if _, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(keys.ManifestRoot())}); err != nil {
				t.Errorf("listing the manifests: %v", err)
			}

			// Missing reads as missing.
			if m, err := store.GetManifest(ctx, c, bucket, keys.Manifest(never)); m != nil || err != nil {
				t.Errorf("missing manifest: %+v, %v; want nil, nil", m, err)
			}
			if id, err := store.CurrentExport(ctx, c, bucket, keys.Object(never)); id != "" || err != nil {
				t.Errorf("missing object: %q, %v; want none", id, err)
			}
			_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(keys.Object(never))})
			t.Logf("HEAD of a missing object with ListBucket on %v: %v", tc.listed, err)
			if got := httpStatus(err); got != tc.headGone {
				t.Errorf("HEAD of a missing object answered %d; want %d", got, tc.headGone)
			}

			// A backfill and a scheduled run (which lists the manifests)
			// with these credentials succeed; the second case rewrites
			// what the first wrote, conditionally on its manifests.
			cfg, err := config.Load(func(k string) string {
				return map[string]string{"AUDIT_BUCKET": bucket, "AUDIT_PREFIX": prefix}[k]
			})
			if err != nil {
				t.Fatal(err)
			}
			clients := awsclients.Clients{SSM: emu.Clients().SSM, S3: c, Region: emulators.Region}
			h := app.Wire(cfg, clients, slog.New(slog.NewJSONHandler(io.Discard, nil)), func() time.Time { return now })
			lctx := lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{InvokedFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:session-audit"})
			for _, event := range []string{
				fmt.Sprintf(`{"start":%q,"end":%q}`, from.Format(time.RFC3339), from.AddDate(0, 0, 2).Format(time.RFC3339)),
				fmt.Sprintf(`{"time":%q}`, nowStr),
			} {
				out, err := h.Handle(lctx, json.RawMessage(event))
				if err != nil {
					t.Fatalf("%s with the role's permissions: %v", event, err)
				}
				res := out.(export.Result)
				for _, s := range res.Slots {
					if s.Rows == 0 || s.Object == "" || s.Kept {
						t.Errorf("%s: slot %+v; want rows written", event, s)
					}
					if _, err := root.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(s.Object)}); err != nil {
						t.Errorf("%s: object %s: %v", event, s.Object, err)
					}
				}
			}
		})
	}
}

// assumeRole returns MinIO STS credentials of the root user restricted by a
// session policy of stmts.
func assumeRole(t *testing.T, endpoint string, stmts ...statement) aws.Credentials {
	t.Helper()
	type jsonStatement struct {
		Sid       string
		Effect    string
		Action    []string
		Resource  []string
		Condition map[string]map[string][]string `json:",omitempty"`
	}
	doc := struct {
		Version   string
		Statement []jsonStatement
	}{Version: "2012-10-17"}
	for _, s := range stmts {
		doc.Statement = append(doc.Statement, jsonStatement{s.Sid, s.Effect, s.Actions, s.Resources, s.Condition})
	}
	policy, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	c := sts.New(sts.Options{
		Region: miniotest.Region, BaseEndpoint: aws.String(endpoint), HTTPClient: ssmfake.HTTPClient(),
		Credentials: credentials.NewStaticCredentialsProvider(miniotest.RootUser, miniotest.RootPassword, ""),
	})
	in := &sts.AssumeRoleInput{
		RoleArn:         aws.String("arn:aws:iam::123456789012:role/SessionAuditRole"), // MinIO ignores it
		RoleSessionName: aws.String("session-audit"),
		Policy:          aws.String(string(policy)),
		DurationSeconds: aws.Int32(900),
	}
	out, err := c.AssumeRole(context.Background(), in)
	// MinIO's IAM comes up after its storage (which miniotest waits for)
	// and answers "Server not initialized" until then: ask again, for at
	// most 30 s.
	for i := 0; i < 300 && err != nil && strings.Contains(err.Error(), "Server not initialized"); i++ {
		time.Sleep(100 * time.Millisecond)
		out, err = c.AssumeRole(context.Background(), in)
	}
	if err != nil {
		t.Fatalf("AssumeRole with policy %s: %v", policy, err)
	}
	cr := out.Credentials
	return aws.Credentials{AccessKeyID: aws.ToString(cr.AccessKeyId), SecretAccessKey: aws.ToString(cr.SecretAccessKey), SessionToken: aws.ToString(cr.SessionToken)}
}

// s3Client reaches endpoint with creds as the function does: path-style
// (local server), default checksums, no SDK retries of denials.
func s3Client(endpoint string, creds aws.Credentials) *s3.Client {
	return s3.New(s3.Options{
		Region: miniotest.Region, BaseEndpoint: aws.String(endpoint), UsePathStyle: true, HTTPClient: ssmfake.HTTPClient(),
		Credentials: credentials.StaticCredentialsProvider{Value: creds},
	})
}

// httpStatus is the HTTP status of an SDK error, 0 for none.
func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}
