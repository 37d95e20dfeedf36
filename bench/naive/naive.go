// Package naive is the baseline the benchmarks measure the export against:
// one sequential stream of DescribeSessions pages over the whole slot (no
// sub-windows), every session kept until the end, the whole Parquet file
// built in memory (a bytes.Buffer), then one PutObject. It is benchmark
// code only and never part of the function.
package naive

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/session-audit/session-audit/internal/archive"
	"github.com/session-audit/session-audit/internal/window"
)

// SSM is the one SSM operation the baseline needs.
type SSM interface {
	DescribeSessions(ctx context.Context, in *ssm.DescribeSessionsInput, optFns ...func(*ssm.Options)) (*ssm.DescribeSessionsOutput, error)
}

// S3 is the one S3 operation the baseline needs.
type S3 interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// Result is what one slot took.
type Result struct {
	Rows   int   `json:"rows"`
	Active int   `json:"activePending"`
	Calls  int   `json:"calls"`
	Size   int64 `json:"size"`
}

// Export writes the History sessions of slot to bucket/key as one Parquet
// object, the simple way: the same filters, clipping, de-duplication,
// order and Parquet writer as the function, without its streaming.
func Export(ctx context.Context, sc SSM, oc S3, bucket, key string, slot window.Slot, origin archive.Origin) (Result, error) {
	var res Result
	active, calls, err := List(ctx, sc, types.SessionStateActive, slot)
	res.Calls += calls
	if err != nil {
		return res, err
	}
	res.Active = len(active)
	history, calls, err := List(ctx, sc, types.SessionStateHistory, slot)
	res.Calls += calls
	if err != nil {
		return res, err
	}
	rows := make([]archive.Row, len(history))
	for i, s := range history {
		rows[i] = archive.FromSession(s, origin)
	}
	var buf bytes.Buffer
	w := archive.NewWriter(&buf)
	if err := w.Write(rows); err != nil {
		return res, err
	}
	if err := w.Close(); err != nil {
		return res, err
	}
	res.Rows, res.Size = len(rows), int64(buf.Len())
	if len(rows) == 0 {
		return res, nil
	}
	_, err = oc.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), ContentType: aws.String("application/vnd.apache.parquet"),
		Body: bytes.NewReader(buf.Bytes()), ContentLength: aws.Int64(int64(buf.Len())),
	})
	if err != nil {
		return res, fmt.Errorf("put s3://%s/%s: %w", bucket, key, err)
	}
	return res, nil
}

// List pages every session of state in slot with one sequential stream,
// keeps them all, and returns them clipped to the slot, de-duplicated and
// in StartDate order (ties by SessionId), with the number of calls made.
func List(ctx context.Context, sc SSM, state types.SessionState, slot window.Slot) ([]types.Session, int, error) {
	const layout = "2006-01-02T15:04:05Z"
	in := &ssm.DescribeSessionsInput{State: state, MaxResults: aws.Int32(200), Filters: []types.SessionFilter{
		{Key: types.SessionFilterKeyInvokedAfter, Value: aws.String(slot.Start.Add(-time.Second).UTC().Format(layout))},
		{Key: types.SessionFilterKeyInvokedBefore, Value: aws.String(slot.End.Add(time.Second).UTC().Format(layout))},
	}}
	seen := map[string]bool{}
	var out []types.Session
	calls := 0
	for {
		page, err := sc.DescribeSessions(ctx, in)
		if err != nil {
			return nil, calls, fmt.Errorf("describe sessions (page %d): %w", calls+1, err)
		}
		calls++
		for _, s := range page.Sessions {
			if s.SessionId == nil || s.StartDate == nil || !slot.Contains(*s.StartDate) || seen[*s.SessionId] {
				continue
			}
			seen[*s.SessionId] = true
			out = append(out, s)
		}
		if page.NextToken == nil || *page.NextToken == "" {
			break
		}
		in.NextToken = page.NextToken
	}
	slices.SortFunc(out, func(a, b types.Session) int {
		if c := a.StartDate.Compare(*b.StartDate); c != 0 {
			return c
		}
		return strings.Compare(*a.SessionId, *b.SessionId)
	})
	return out, calls, nil
}
