package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/miniotest"
	"github.com/session-audit/session-audit/internal/store"
)

// minioClient is an S3 client for a fresh MinIO server with bucket testBucket,
// sending what it sends AWS: a CRC32 checksum on every upload.
func minioClient(t *testing.T) *s3.Client {
	t.Helper()
	srv := miniotest.Start(t)
	emu, err := emulators.Start(emulators.Options{Bucket: testBucket, MaxBackoff: 20 * time.Millisecond,
		S3Upstream: &emulators.Upstream{URL: srv.URL, AccessKey: miniotest.RootUser, SecretKey: miniotest.RootPassword}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	return emu.Clients().S3
}

// TestUploadOnMinIO: the streaming upload at its real part size, on a
// server that checks each part's CRC32 and that CompleteMultipartUpload
// repeats it: a one-request object and a three-part one, read back whole,
// with the object's checksum kept by the server.
func TestUploadOnMinIO(t *testing.T) {
	c := minioClient(t)
	ctx := context.Background()
	for _, tc := range []struct {
		size  int
		parts string // the ETag's part-count suffix
	}{{12345, ""}, {2*store.PartSize + 12345, "-3"}} {
		data := make([]byte, tc.size)
		rand.Read(data)
		u := store.NewUpload(ctx, c, testBucket, "k", "application/octet-stream", "e1")
		if _, err := u.Write(data); err != nil {
			t.Fatal(err)
		}
		obj, err := u.Commit(context.Background())
		if err != nil {
			t.Fatalf("%d bytes: %v", tc.size, err)
		}
		if got := getBody(t, c, "k"); !bytes.Equal(got, data) {
			t.Errorf("%d bytes: stored %d bytes that differ", tc.size, len(got))
		}
		head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(testBucket), Key: aws.String("k"), ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(obj.ETag, `-3"`) != (tc.parts == "-3") || aws.ToString(head.ETag) != obj.ETag {
			t.Errorf("%d bytes: ETag %s at completion, %s at HEAD; want a %q part suffix", tc.size, obj.ETag, aws.ToString(head.ETag), tc.parts)
		}
		if sum := aws.ToString(head.ChecksumCRC32); sum == "" || !strings.HasSuffix(sum, tc.parts) {
			t.Errorf("%d bytes: the server keeps CRC32 %q; want one (composite %q for parts)", tc.size, sum, tc.parts)
		}
	}
	if n := openUploads(t, c); n != 0 {
		t.Errorf("%d multipart uploads left open", n)
	}
}

// TestMinIORefusesCompletionWithoutPartChecksums shows why Upload repeats
// each part's CRC32 in CompleteMultipartUpload: a real S3 refuses the
// completion of an upload created with a checksum algorithm without them.
// (gofakes3 checks none of this.)
func TestMinIORefusesCompletionWithoutPartChecksums(t *testing.T) {
	c := minioClient(t)
	ctx := context.Background()
	created, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(testBucket), Key: aws.String("k"), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		t.Fatal(err)
	}
	part, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(testBucket), Key: aws.String("k"), UploadId: created.UploadId, PartNumber: aws.Int32(1),
		Body: bytes.NewReader([]byte("one part")), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(part.ChecksumCRC32) == "" {
		t.Fatal("the server did not answer the part's CRC32")
	}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(testBucket), Key: aws.String("k"), UploadId: created.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{ETag: part.ETag, PartNumber: aws.Int32(1)}}}})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "InvalidPart" {
		t.Fatalf("completion without the part's checksum: %v; want InvalidPart", err)
	}
	if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(testBucket), Key: aws.String("k"), UploadId: created.UploadId}); err != nil {
		t.Fatal(err)
	}
}

// TestManifestConditionalWritesOnMinIO: If-None-Match: * refuses to
// replace an existing manifest and If-Match refuses a stale ETag, both as
// ErrConflict, on a server that implements them.
func TestManifestConditionalWritesOnMinIO(t *testing.T) {
	c := minioClient(t)
	ctx := context.Background()
	m := &store.Manifest{Version: store.ManifestVersion, Rows: 1}
	first, err := store.PutManifest(ctx, c, testBucket, "m.json", m, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.PutManifest(ctx, c, testBucket, "m.json", m, ""); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second create: %v; want ErrConflict", err)
	}
	m.Rows = 2
	second, err := store.PutManifest(ctx, c, testBucket, "m.json", m, first)
	if err != nil {
		t.Fatalf("update on the current ETag: %v", err)
	}
	if _, err := store.PutManifest(ctx, c, testBucket, "m.json", m, first); !errors.Is(err, store.ErrConflict) {
		t.Errorf("update on a stale ETag: %v; want ErrConflict", err)
	}
	got, err := store.GetManifest(ctx, c, testBucket, "m.json")
	if err != nil || got.Rows != 2 || got.ETag != second {
		t.Errorf("manifest %+v, %v; want rows 2 with ETag %s", got, err, second)
	}
}
