package digest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/session-audit/session-audit/internal/digest"
	"github.com/session-audit/session-audit/internal/emulators"
)

// s3Client is a client of an in-process S3 holding the bucket digest-test.
func s3Client(t *testing.T) *s3.Client {
	t.Helper()
	emu, err := emulators.Start(emulators.Options{Bucket: "digest-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	return emu.Clients().S3
}

// TestConcurrentRunsDoNotFork: runs of one account and region recording
// at the same moment serialise on the head's conditional write: every
// digest extends a different one, and following the chain from the head
// reaches all of them.
func TestConcurrentRunsDoNotFork(t *testing.T) {
	api := s3Client(t)
	ctx := context.Background()
	manifest := "p/manifests/dt=2026-11-25/123456789012_eu-west-1_20261125T000000Z_20261126T000000Z.json"
	if _, err := api.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("digest-test"), Key: aws.String(manifest), Body: bytes.NewReader([]byte(`{"version":1}`))}); err != nil {
		t.Fatal(err)
	}
	w := &digest.Writer{S3: api, Bucket: "digest-test", Prefix: "p", Now: func() time.Time { return time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC) }}
	const runs = 8
	var wg sync.WaitGroup
	errs := make([]error, runs)
	for i := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = w.Record(ctx, "123456789012", "eu-west-1", []string{manifest})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	read := func(key string) digest.Digest {
		out, err := api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("digest-test"), Key: &key})
		if err != nil {
			t.Fatal(err)
		}
		defer out.Body.Close()
		var d digest.Digest
		b, _ := io.ReadAll(out.Body)
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	head, _, err := digest.ReadHead(ctx, api, "digest-test", digest.HeadKey("p", "123456789012", "eu-west-1"))
	if err != nil || head == nil {
		t.Fatalf("head %v, %v", head, err)
	}
	seen := map[string]bool{}
	for link := &head.Latest; link != nil; {
		if seen[link.Key] {
			t.Fatalf("the chain loops at %s", link.Key)
		}
		seen[link.Key] = true
		d := read(link.Key)
		if len(d.Manifests) != 1 || d.Manifests[0].Key != manifest || d.Manifests[0].SHA256 == "" {
			t.Errorf("%s records %+v", link.Key, d.Manifests)
		}
		link = d.Previous
	}
	if len(seen) != runs {
		t.Errorf("the chain from the head holds %d digests; %d runs wrote one each: %v", len(seen), runs, fmt.Sprint(seen))
	}
}

// TestNoManifestNoDigest: a run that wrote no manifest writes no digest.
func TestNoManifestNoDigest(t *testing.T) {
	api := s3Client(t)
	w := &digest.Writer{S3: api, Bucket: "digest-test", Prefix: "p"}
	if key, err := w.Record(context.Background(), "123456789012", "eu-west-1", nil); key != "" || err != nil {
		t.Fatalf("Record(no manifests) = %q, %v", key, err)
	}
	out, err := api.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("digest-test")})
	if err != nil || len(out.Contents) != 0 {
		t.Errorf("objects after a run without manifests: %v, %v", out.Contents, err)
	}
}

// TestRecordRunNamesDigestByRunID: an organization run's digest is named by
// the run id it is given, lists the manifests of every target, and chains
// to the previous run's digest of the same (org function's) chain.
func TestRecordRunNamesDigestByRunID(t *testing.T) {
	api := s3Client(t)
	ctx := context.Background()
	var keys []string
	for _, acct := range []string{"111111111111", "222222222222"} {
		k := "p/manifests/dt=2026-11-25/" + acct + "_eu-west-1_20261125T000000Z_20261126T000000Z.json"
		if _, err := api.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("digest-test"), Key: aws.String(k), Body: bytes.NewReader([]byte(`{"version":1}`))}); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	w := &digest.Writer{S3: api, Bucket: "digest-test", Prefix: "p", Now: func() time.Time { return time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC) }}
	first, err := w.RecordRun(ctx, "999999999999", "us-east-1", "org-run-1", keys)
	if err != nil || first != "p/digests/dt=2026-11-26/org-run-1.json" {
		t.Fatalf("RecordRun = %q, %v", first, err)
	}
	second, err := w.RecordRun(ctx, "999999999999", "us-east-1", "org-run-2", keys[:1])
	if err != nil || second != "p/digests/dt=2026-11-26/org-run-2.json" {
		t.Fatalf("RecordRun = %q, %v", second, err)
	}
	out, err := api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("digest-test"), Key: &first})
	if err != nil {
		t.Fatal(err)
	}
	var d1 digest.Digest
	if err := json.NewDecoder(out.Body).Decode(&d1); err != nil {
		t.Fatal(err)
	}
	out.Body.Close()
	if d1.RunID != "org-run-1" || d1.Account != "999999999999" || d1.Region != "us-east-1" || len(d1.Manifests) != 2 || d1.Manifests[1].Key != keys[1] || d1.Previous != nil {
		t.Errorf("first org digest %+v", d1)
	}
	out, err = api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("digest-test"), Key: &second})
	if err != nil {
		t.Fatal(err)
	}
	var d2 digest.Digest
	if err := json.NewDecoder(out.Body).Decode(&d2); err != nil {
		t.Fatal(err)
	}
	out.Body.Close()
	if d2.Previous == nil || d2.Previous.Key != first {
		t.Errorf("second org digest extends %+v, want %s", d2.Previous, first)
	}
	if _, err := w.RecordRun(ctx, "999999999999", "us-east-1", "../x", keys); err == nil || !strings.Contains(err.Error(), "run id") {
		t.Errorf("RecordRun(run id ../x) = %v, want an error naming the run id", err)
	}
}
