package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ReadConcurrency is how many listings or manifest reads run at once when a
// run looks for the slots it owes.
const ReadConcurrency = 32

// ListManifestKeys returns the keys of the manifests of k's account and
// region whose slots start on the UTC days from first to last (inclusive),
// oldest day first, in key order within a day. It lists each day's
// ManifestDayPrefix, ReadConcurrency days at a time, following
// continuation tokens: never the whole prefix, so an organization's other
// targets cost this one nothing.
func ListManifestKeys(ctx context.Context, api ListAPI, bucket string, k Keys, first, last time.Time) ([]string, error) {
	var days []time.Time
	for d := first.UTC().Truncate(24 * time.Hour); !d.After(last.UTC()); d = d.AddDate(0, 0, 1) {
		days = append(days, d)
	}
	perDay := make([][]string, len(days))
	err := parallel(len(days), func(i int) error {
		keys, err := listPrefix(ctx, api, bucket, k.ManifestDayPrefix(days[i]))
		perDay[i] = keys
		return err
	})
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, ks := range perDay {
		keys = append(keys, ks...)
	}
	return keys, nil
}

func listPrefix(ctx context.Context, api ListAPI, bucket, prefix string) ([]string, error) {
	in := &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String(prefix)}
	var keys []string
	for {
		out, err := api.ListObjectsV2(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list manifests s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		if !aws.ToBool(out.IsTruncated) || aws.ToString(out.NextContinuationToken) == "" {
			return keys, nil
		}
		in.ContinuationToken = out.NextContinuationToken
	}
}

// GetManifests reads the manifests at keys, ReadConcurrency at a time. The
// i-th manifest or error answers keys[i]; a missing manifest is nil
// without error.
func GetManifests(ctx context.Context, api GetAPI, bucket string, keys []string) ([]*Manifest, []error) {
	ms := make([]*Manifest, len(keys))
	errs := make([]error, len(keys))
	parallel(len(keys), func(i int) error { //nolint:errcheck // errors are kept per key
		ms[i], errs[i] = GetManifest(ctx, api, bucket, keys[i])
		return nil
	})
	return ms, errs
}

// parallel calls fn(0..n-1), ReadConcurrency at a time, and joins the
// errors.
func parallel(n int, fn func(i int) error) error {
	var wg sync.WaitGroup
	sem := make(chan struct{}, ReadConcurrency)
	errs := make([]error, n)
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = fn(i)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
