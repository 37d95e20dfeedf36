package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/store"
)

// testBucket is a valid S3 bucket name (3-63 characters): a real S3
// refuses shorter ones, which gofakes3 accepts.
const testBucket = "audit-test"

func s3Client(t *testing.T) *s3.Client {
	t.Helper()
	emu, err := emulators.Start(emulators.Options{Bucket: testBucket})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	return emu.Clients().S3
}

func getBody(t *testing.T, c *s3.Client, key string) []byte {
	t.Helper()
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func openUploads(t *testing.T, c *s3.Client) int {
	t.Helper()
	out, err := c.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(testBucket)})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Uploads)
}

func TestUploadSizes(t *testing.T) {
	c := s3Client(t)
	for _, size := range []int{1, store.PartSize - 1, store.PartSize, store.PartSize + 1, 2*store.PartSize + 12345} {
		data := make([]byte, size)
		rand.Read(data)
		u := store.NewUpload(context.Background(), c, testBucket, "k", "application/octet-stream", "e1")
		// odd write sizes cross part boundaries
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 1<<20+7)
			if _, err := u.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		obj, err := u.Commit(context.Background())
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		sum := sha256.Sum256(data)
		if obj.Size != int64(size) || obj.SHA256 != hex.EncodeToString(sum[:]) || obj.Key != "k" || obj.ETag == "" {
			t.Errorf("size %d: object %+v", size, obj)
		}
		if got := getBody(t, c, "k"); !bytes.Equal(got, data) {
			t.Errorf("size %d: stored %d bytes that differ from those written", size, len(got))
		}
	}
	if n := openUploads(t, c); n != 0 {
		t.Errorf("%d multipart uploads left open", n)
	}
}

func TestAbortLeavesThePreviousObject(t *testing.T) {
	c := s3Client(t)
	u := store.NewUpload(context.Background(), c, testBucket, "k", "text/plain", "e1")
	if _, err := u.Write([]byte("old")); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{10, 2*store.PartSize + 1} {
		u = store.NewUpload(context.Background(), c, testBucket, "k", "text/plain", "e1")
		u.Write(make([]byte, size))
		if err := u.Abort(); err != nil {
			t.Fatal(err)
		}
		if got := string(getBody(t, c, "k")); got != "old" {
			t.Errorf("after aborting a %d-byte upload the object is %d bytes", size, len(got))
		}
	}
	if n := openUploads(t, c); n != 0 {
		t.Errorf("%d multipart uploads left open after abort", n)
	}
}
