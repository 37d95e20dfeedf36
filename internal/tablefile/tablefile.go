// Package tablefile writes the small Parquet files of the context tables
// (nodes, accounts): the rows encoded whole in memory with the archive's
// writer options, then one PutObject, so that a reader sees the previous
// file or the new one, never a part, and a failed write leaves nothing.
package tablefile

import (
	"bytes"
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/parquet-go/parquet-go"

	"github.com/session-audit/session-audit/internal/archive"
)

// PutAPI is the S3 call that stores a file.
type PutAPI interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// Encode returns rows as one Parquet file with the archive's writer
// options (archive.Options).
func Encode[T any](rows []T) ([]byte, error) {
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[T](&buf, archive.Options(archive.RowsPerRowGroup, archive.PageBufferSize)...)
	if _, err := w.Write(rows); err != nil {
		return nil, fmt.Errorf("encode parquet: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("encode parquet: %w", err)
	}
	return buf.Bytes(), nil
}

// Put writes rows as one Parquet file to s3://bucket/key, replacing any
// file there, with a CRC32 checksum (which an Object Lock bucket
// requires). It returns the file's size.
func Put[T any](ctx context.Context, api PutAPI, bucket, key string, rows []T) (int64, error) {
	body, err := Encode(rows)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", key, err)
	}
	if _, err := api.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))), ContentType: aws.String("application/vnd.apache.parquet"),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	}); err != nil {
		return 0, fmt.Errorf("put s3://%s/%s: %w", bucket, key, err)
	}
	return int64(len(body)), nil
}
