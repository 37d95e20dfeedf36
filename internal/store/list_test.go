package store_test

import (
	"bytes"
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/session-audit/session-audit/internal/store"
	"github.com/session-audit/session-audit/internal/window"
)

// TestListManifestKeysOfOneTarget lists one target's manifests of a range
// of days among other targets' and other days' manifests, across pages.
func TestListManifestKeysOfOneTarget(t *testing.T) {
	c := s3Client(t)
	ctx := context.Background()
	mine, _ := store.NewKeys("audit", "111122223333", "eu-west-1")
	others := []store.Keys{
		{Prefix: "audit", Account: "111122223333", Region: "eu-west-10"}, // a region whose name extends mine
		{Prefix: "audit", Account: "111122223333", Region: "us-east-1"},
		{Prefix: "audit", Account: "999988887777", Region: "eu-west-1"},
	}
	put := func(key string) {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key), Body: bytes.NewReader([]byte("{}"))}); err != nil {
			t.Fatal(err)
		}
	}
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	var want []string
	for d := range 5 {
		for h := 0; h < 24; h += 4 { // 4-hour slots: 6 a day
			s := window.Slot{Start: day.AddDate(0, 0, d).Add(time.Duration(h) * time.Hour)}
			s.End = s.Start.Add(4 * time.Hour)
			put(mine.Manifest(s))
			for _, o := range others {
				put(o.Manifest(s))
			}
			if d >= 1 && d <= 3 {
				want = append(want, mine.Manifest(s))
			}
		}
	}
	page := &pagingS3{c: c}
	got, err := store.ListManifestKeys(ctx, page, testBucket, mine, day.AddDate(0, 0, 1).Add(13*time.Hour), day.AddDate(0, 0, 3))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("listed %d keys:\n%v\nwant %d:\n%v", len(got), got, len(want), want)
	}
	if n := page.calls.Load(); n < 6 {
		t.Errorf("%d ListObjectsV2 calls for 3 days of 6 manifests in pages of 4; continuation tokens not followed", n)
	}
}

// pagingS3 lists at most 4 keys a page and counts the calls.
type pagingS3 struct {
	c     *s3.Client
	calls atomic.Int32
}

func (p *pagingS3) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	in.MaxKeys = aws.Int32(4)
	p.calls.Add(1) // ListManifestKeys runs days concurrently
	return p.c.ListObjectsV2(ctx, in, optFns...)
}
