package digest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/session-audit/session-audit/internal/digest"
	"github.com/session-audit/session-audit/internal/emulators"
)

// TestConcurrentRunsDoNotFork: runs of one account and region recording
// at the same moment serialise on the head's conditional write: every
// digest extends a different one, and following the chain from the head
// reaches all of them.
func TestConcurrentRunsDoNotFork(t *testing.T) {
	emu, err := emulators.Start(emulators.Options{Bucket: "digest-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	api := emu.Clients().S3
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
	emu, err := emulators.Start(emulators.Options{Bucket: "digest-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	api := emu.Clients().S3
	w := &digest.Writer{S3: api, Bucket: "digest-test", Prefix: "p"}
	if key, err := w.Record(context.Background(), "123456789012", "eu-west-1", nil); key != "" || err != nil {
		t.Fatalf("Record(no manifests) = %q, %v", key, err)
	}
	out, err := api.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("digest-test")})
	if err != nil || len(out.Contents) != 0 {
		t.Errorf("objects after a run without manifests: %v, %v", out.Contents, err)
	}
}
