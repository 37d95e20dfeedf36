package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// PartSize is the size of each multipart part; S3 needs at least 5 MiB for
// every part but the last. Objects smaller than one part are sent with a
// single PutObject.
const PartSize = 8 << 20

// UploadAPI is what a streaming upload needs of S3.
type UploadAPI interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	UploadPart(ctx context.Context, in *s3.UploadPartInput, optFns ...func(*s3.Options)) (*s3.UploadPartOutput, error)
	CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, optFns ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
}

// ExportIDKey is the user metadata key (x-amz-meta-session-audit-export)
// that names the export which wrote an object.
const ExportIDKey = "session-audit-export"

// Object describes an object as written: the evidence a manifest records.
type Object struct {
	Key       string `json:"key"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"`
	ETag      string `json:"etag,omitempty"`
	VersionID string `json:"versionId,omitempty"`
	ExportID  string `json:"exportId"`
}

// Upload streams one object to S3 as it is written: up to PartSize it only
// buffers, then it switches to a multipart upload, one part at a time, so
// memory stays at one part whatever the object's size. Nothing is visible
// at the key until Commit succeeds; Abort (or a failed Commit) leaves the
// previous object as it was and no parts behind.
type Upload struct {
	ctx         context.Context
	api         UploadAPI
	bucket, key string
	contentType string
	exportID    string
	partSize    int
	buf         []byte
	uploadID    string
	parts       []types.CompletedPart
	sum         hash.Hash
	size        int64
	err         error
}

// NewUpload starts an upload of key, tagged with exportID (ExportIDKey
// metadata); ctx bounds every request it makes.
func NewUpload(ctx context.Context, api UploadAPI, bucket, key, contentType, exportID string) *Upload {
	return &Upload{ctx: ctx, api: api, bucket: bucket, key: key, contentType: contentType, exportID: exportID, partSize: PartSize, sum: sha256.New()}
}

// SetPartSize changes the part size before the first Write. Only tests
// want this: S3 refuses parts under 5 MiB but the last.
func (u *Upload) SetPartSize(n int) {
	if n > 0 {
		u.partSize = n
	}
}

func (u *Upload) metadata() map[string]string {
	return map[string]string{ExportIDKey: u.exportID}
}

// Write buffers p and sends every full part.
func (u *Upload) Write(p []byte) (int, error) {
	if u.err != nil {
		return 0, u.err
	}
	n := len(p)
	u.sum.Write(p)
	u.size += int64(n)
	for len(p) > 0 {
		if len(u.buf)+len(p) > cap(u.buf) && cap(u.buf) < u.partSize {
			u.grow(len(p))
		}
		take := min(len(p), u.partSize-len(u.buf))
		u.buf = append(u.buf, p[:take]...)
		p = p[take:]
		if len(u.buf) == u.partSize {
			if err := u.sendPart(); err != nil {
				u.err = err
				return 0, err
			}
		}
	}
	return n, nil
}

// smallBuffer is the first buffer of an upload. Most objects of an
// organization's targets are small or empty (a Parquet footer alone), and
// a whole part's buffer, zeroed at allocation, costs milliseconds of CPU.
const smallBuffer = 64 << 10

// grow makes room for n more bytes: a small buffer first, then one of a
// whole part, which is kept for the rest of the upload.
func (u *Upload) grow(n int) {
	size := u.partSize
	if u.buf == nil && n < smallBuffer {
		size = min(smallBuffer, u.partSize)
	}
	buf := make([]byte, len(u.buf), size)
	copy(buf, u.buf)
	u.buf = buf
}

func (u *Upload) sendPart() error {
	if u.uploadID == "" {
		out, err := u.api.CreateMultipartUpload(u.ctx, &s3.CreateMultipartUploadInput{
			Bucket: &u.bucket, Key: &u.key, ContentType: aws.String(u.contentType), Metadata: u.metadata(),
			// The SDK checksums every part (CRC32 by default); S3 then wants
			// the upload created with that algorithm and each part's
			// checksum in CompleteMultipartUpload, or it answers InvalidPart.
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		})
		if err != nil {
			return fmt.Errorf("create multipart upload of s3://%s/%s: %w", u.bucket, u.key, err)
		}
		u.uploadID = aws.ToString(out.UploadId)
	}
	num := int32(len(u.parts) + 1)
	out, err := u.api.UploadPart(u.ctx, &s3.UploadPartInput{
		Bucket: &u.bucket, Key: &u.key, UploadId: &u.uploadID, PartNumber: aws.Int32(num),
		Body: bytes.NewReader(u.buf), ContentLength: aws.Int64(int64(len(u.buf))),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	})
	if err != nil {
		return fmt.Errorf("upload part %d of s3://%s/%s: %w", num, u.bucket, u.key, err)
	}
	u.parts = append(u.parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num), ChecksumCRC32: out.ChecksumCRC32})
	u.buf = u.buf[:0]
	return nil
}

// Size is the number of bytes written so far.
func (u *Upload) Size() int64 { return u.size }

// Commit sends what remains and makes the object visible at its key, with
// ctx (not the upload's) bounding those last requests: the exporter gives
// the commit and the manifest a context of their own. On failure it aborts,
// so the previous object stays and no parts are left.
func (u *Upload) Commit(ctx context.Context) (Object, error) {
	if u.err != nil {
		return Object{}, errors.Join(u.err, u.Abort())
	}
	obj := Object{Key: u.key, Size: u.size, SHA256: hex.EncodeToString(u.sum.Sum(nil)), ExportID: u.exportID}
	if u.uploadID == "" {
		out, err := u.api.PutObject(ctx, &s3.PutObjectInput{
			Bucket: &u.bucket, Key: &u.key, ContentType: aws.String(u.contentType), Metadata: u.metadata(),
			Body: bytes.NewReader(u.buf), ContentLength: aws.Int64(int64(len(u.buf))),
			// Object Lock refuses a write without a checksum, whatever the
			// client's default.
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		})
		if err != nil {
			return Object{}, fmt.Errorf("put s3://%s/%s: %w", u.bucket, u.key, err)
		}
		obj.ETag, obj.VersionID = aws.ToString(out.ETag), aws.ToString(out.VersionId)
		u.buf = nil
		return obj, nil
	}
	if len(u.buf) > 0 {
		u.ctx = ctx
		if err := u.sendPart(); err != nil {
			return Object{}, errors.Join(err, u.Abort())
		}
	}
	out, err := u.api.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &u.bucket, Key: &u.key, UploadId: &u.uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: u.parts},
	})
	if err != nil {
		return Object{}, errors.Join(fmt.Errorf("complete multipart upload of s3://%s/%s: %w", u.bucket, u.key, err), u.Abort())
	}
	obj.ETag, obj.VersionID = aws.ToString(out.ETag), aws.ToString(out.VersionId)
	u.buf = nil
	return obj, nil
}

// Abort discards the upload: no object is written and no parts are left.
// It uses a fresh context, so an upload cancelled by its deadline is still
// cleaned up.
func (u *Upload) Abort() error {
	u.buf = nil
	if u.uploadID == "" {
		return nil
	}
	id := u.uploadID
	u.uploadID = ""
	ctx, cancel := context.WithTimeout(context.WithoutCancel(u.ctx), abortTimeout)
	defer cancel()
	// A plain retryer for the clean-up: the client's adaptive one may hold
	// the call back for seconds after S3 throttled the upload it cleans up.
	plain := func(o *s3.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts, so.MaxBackoff = 3, 200*time.Millisecond
		})
	}
	if _, err := u.api.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &u.bucket, Key: &u.key, UploadId: &id}, plain); err != nil {
		return fmt.Errorf("abort multipart upload of s3://%s/%s: %w", u.bucket, u.key, err)
	}
	return nil
}
