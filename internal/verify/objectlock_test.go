package verify_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/session-audit/session-audit/internal/digest"
	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/export"
	"github.com/session-audit/session-audit/internal/miniotest"
	"github.com/session-audit/session-audit/internal/ssmfake"
	"github.com/session-audit/session-audit/internal/store"
	"github.com/session-audit/session-audit/internal/verify"
	"github.com/session-audit/session-audit/internal/window"
)

// TestObjectLockOnMinIO: into a bucket created with Object Lock and a
// default GOVERNANCE retention (what the stack's ObjectLockMode makes), an
// export with its digests succeeds, every write carrying the checksum Object
// Lock requires; verify finds nothing wrong; deleting a locked version is
// refused, and the version is still there.
func TestObjectLockOnMinIO(t *testing.T) {
	srv := miniotest.Start(t)
	now := time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)
	day := window.Slot{Start: now.Truncate(24*time.Hour).AddDate(0, 0, -1), End: now.Truncate(24 * time.Hour)}
	fake := ssmfake.New(ssmfake.WithSessions(ssmfake.Generate(3, day.Start, day.End, 500)))
	emu, err := emulators.Start(emulators.Options{Bucket: "plain", SSM: fake, MaxBackoff: 20 * time.Millisecond,
		S3Upstream: &emulators.Upstream{URL: srv.URL, AccessKey: miniotest.RootUser, SecretKey: miniotest.RootPassword}})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	c := emu.Clients()
	ctx := context.Background()
	const bucket = "locked"
	if _, err := c.S3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket), ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.S3.PutObjectLockConfiguration(ctx, &s3.PutObjectLockConfigurationInput{Bucket: aws.String(bucket),
		ObjectLockConfiguration: &types.ObjectLockConfiguration{ObjectLockEnabled: types.ObjectLockEnabledEnabled,
			Rule: &types.ObjectLockRule{DefaultRetention: &types.DefaultRetention{Mode: types.ObjectLockRetentionModeGovernance, Days: aws.Int32(1)}}}}); err != nil {
		t.Fatal(err)
	}
	grid, _ := window.NewGrid(24 * time.Hour)
	clock := func() time.Time { return now }
	exp := &export.Exporter{SSM: c.SSM, S3: c.S3, Bucket: bucket, Prefix: "p", Region: emulators.Region, Grid: grid, Streams: 2, Now: clock,
		Digests: &digest.Writer{S3: c.S3, Bucket: bucket, Prefix: "p", Now: clock},
		Log:     slog.New(slog.NewJSONHandler(io.Discard, nil))}
	res, err := exp.Backfill(ctx, export.Target{Account: "123456789012"}, day.Start, day.End)
	if err != nil {
		t.Fatalf("export into a locked bucket: %v", err)
	}
	if res.Rows == 0 {
		t.Fatal("the export wrote no rows")
	}
	rep, err := verify.Run(ctx, verify.Options{S3: c.S3, Bucket: bucket, Prefix: "p", Now: clock})
	if err != nil || len(rep.Problems) != 0 || rep.Digests != 1 || rep.Objects != 1 {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
	keys, _ := store.NewKeys("p", "123456789012", emulators.Region)
	head, err := c.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(keys.Object(day))})
	if err != nil {
		t.Fatal(err)
	}
	if head.ObjectLockMode != types.ObjectLockModeGovernance || head.ObjectLockRetainUntilDate == nil {
		t.Errorf("the object is not locked: mode %q until %v", head.ObjectLockMode, head.ObjectLockRetainUntilDate)
	}
	_, err = c.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(keys.Object(day)), VersionId: head.VersionId})
	var api smithy.APIError
	// AWS answers AccessDenied; MinIO InvalidRequest ("Object is WORM
	// protected and cannot be overwritten").
	if err == nil || !errors.As(err, &api) || (api.ErrorCode() != "AccessDenied" && api.ErrorCode() != "InvalidRequest") {
		t.Fatalf("deleting a locked version: %v; want it refused", err)
	}
	if _, err := c.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(keys.Object(day)), VersionId: head.VersionId}); err != nil {
		t.Errorf("the locked version is gone: %v", err)
	}
}
