package verify

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/session-audit/session-audit/internal/coverage"
	"github.com/session-audit/session-audit/internal/digest"
	"github.com/session-audit/session-audit/internal/store"
)

// readCoverage adds to ts every target that an organization run's coverage
// record calls exported with slots, on the day before the run: the slot
// check then expects its manifests even when every one of them is gone.
func (r *run) readCoverage(ctx context.Context, keys []string, ts *targets) error {
	for _, key := range keys {
		out, err := r.api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(r.opt.Bucket), Key: aws.String(key)})
		if err != nil {
			if digest.IsNotFound(err) {
				continue
			}
			return fmt.Errorf("get coverage s3://%s/%s: %w", r.opt.Bucket, key, err)
		}
		sc := bufio.NewScanner(out.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var rec coverage.Record
			if json.Unmarshal(sc.Bytes(), &rec) != nil || rec.Status != coverage.StatusExported || rec.Slots == 0 {
				continue
			}
			at, err := time.Parse(time.RFC3339, rec.RunTime)
			k, kerr := store.NewKeys(r.opt.Prefix, rec.AccountID, rec.Region)
			if err != nil || kerr != nil {
				continue
			}
			d := at.UTC().Add(-time.Nanosecond)
			if !r.opt.From.IsZero() && (d.Before(r.opt.From) || !d.Before(r.opt.To)) {
				continue
			}
			ts.see(k, d)
		}
		err = sc.Err()
		out.Body.Close()
		if err != nil {
			return fmt.Errorf("read coverage s3://%s/%s: %w", r.opt.Bucket, key, err)
		}
	}
	return nil
}
