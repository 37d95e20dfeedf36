package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// abortTimeout bounds the clean-up requests made after a deadline: less
// than the margin the exporter keeps before the invocation deadline
// (export.cancelMargin, 1.5 s), so the function still answers in time.
const abortTimeout = 1200 * time.Millisecond

// ManifestVersion is the format version written in every manifest.
const ManifestVersion = 1

// Manifest is the record of one exported slot, written beside its object
// once the object is complete: what an auditor checks the object against.
type Manifest struct {
	Version       int               `json:"version"`
	Account       string            `json:"account"`
	Region        string            `json:"region"`
	SlotStart     time.Time         `json:"slotStart"`
	SlotEnd       time.Time         `json:"slotEnd"`
	Rows          int64             `json:"rows"`
	Object        *Object           `json:"object"` // nil for an empty slot
	Filters       map[string]string `json:"filters"`
	APICalls      APICalls          `json:"apiCalls"`
	ActivePending int               `json:"activePending"`
	ExportedAt    time.Time         `json:"exportedAt"`
	WrittenAt     time.Time         `json:"writtenAt"`
	// Kept, when set, is what the latest export that kept this manifest's
	// object (it found fewer sessions) found; the rest of the manifest still
	// describes the object.
	Kept *Kept `json:"kept,omitempty"`

	// ETag is the manifest object's own ETag as read; writes of a newer
	// manifest are conditional on it. It is not part of the JSON.
	ETag string `json:"-"`
}

// Kept records an export that found fewer sessions than the manifest's
// object holds and so left the object in place.
type Kept struct {
	CheckedAt     time.Time         `json:"checkedAt"`
	Rows          int64             `json:"rows"`          // History sessions found then
	ActivePending int               `json:"activePending"` // sessions active in the slot then
	Filters       map[string]string `json:"filters"`
}

// PendingNow is the count of sessions active in the slot at its latest
// export: the kept export's when there was one, else the manifest's. A
// scheduled run reopens the slot while it is above zero; 0 for a nil
// manifest.
func (m *Manifest) PendingNow() int {
	switch {
	case m == nil:
		return 0
	case m.Kept != nil:
		return m.Kept.ActivePending
	default:
		return m.ActivePending
	}
}

// APICalls counts the DescribeSessions calls behind a slot.
type APICalls struct {
	History    int `json:"history"`    // State=History calls answered
	Active     int `json:"active"`     // State=Active calls answered
	Restarts   int `json:"restarts"`   // sub-windows paged again after InvalidNextToken
	Duplicates int `json:"duplicates"` // sessions returned more than once, written once
	Clipped    int `json:"clipped"`    // sessions returned outside the slot, not written
}

// ObjectKey is the key of the manifest's object, or "" for an empty slot.
func (m *Manifest) ObjectKey() string {
	if m == nil || m.Object == nil {
		return ""
	}
	return m.Object.Key
}

// GetAPI is what reading manifests needs of S3.
type GetAPI interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// PutAPI is what writing manifests needs of S3.
type PutAPI interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// ListAPI is what finding manifests needs of S3.
type ListAPI interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// GetManifest reads the manifest at key; it returns nil, nil when none exists.
func GetManifest(ctx context.Context, api GetAPI, bucket, key string) (*Manifest, error) {
	var m Manifest
	etag, found, err := getJSON(ctx, api, bucket, key, "manifest", &m)
	if err != nil || !found {
		return nil, err
	}
	m.ETag = etag
	if m.Version != ManifestVersion {
		return nil, fmt.Errorf("manifest s3://%s/%s has version %d; this build reads version %d", bucket, key, m.Version, ManifestVersion)
	}
	return &m, nil
}

// maxJSONSize bounds what is read as a manifest or a state object.
const maxJSONSize = 1 << 20

// getJSON reads the JSON object at key into v and returns its ETag; found
// is false, without error, when no object exists. what names the object in
// errors.
func getJSON(ctx context.Context, api GetAPI, bucket, key, what string, v any) (etag string, found bool, err error) {
	out, err := api.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		var missing *types.NoSuchKey
		if errors.As(err, &missing) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("get %s s3://%s/%s: %w", what, bucket, key, err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(io.LimitReader(out.Body, maxJSONSize+1))
	if err != nil {
		return "", false, fmt.Errorf("read %s s3://%s/%s: %w", what, bucket, key, err)
	}
	if len(body) > maxJSONSize {
		return "", false, fmt.Errorf("%s s3://%s/%s is larger than %d bytes", what, bucket, key, maxJSONSize)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return "", false, fmt.Errorf("decode %s s3://%s/%s: %w", what, bucket, key, err)
	}
	return aws.ToString(out.ETag), true, nil
}

// ErrConflict reports that a conditional write lost to another writer: the
// object changed since it was read.
var ErrConflict = errors.New("another writer changed it first")

// PutManifest writes m at key if the manifest there is still the one whose
// ETag is prev ("" meaning no manifest exists yet): S3 conditional writes
// (If-Match / If-None-Match), so two exports of one slot cannot silently
// overwrite each other's manifest. A lost race is an error wrapping
// ErrConflict. On success it returns the new manifest's ETag.
func PutManifest(ctx context.Context, api PutAPI, bucket, key string, m *Manifest, prev string) (string, error) {
	return putJSON(ctx, api, bucket, key, "manifest", m, prev)
}

// putJSON writes v as indented JSON at key if the object there is still
// the one whose ETag is prev ("" meaning none exists yet), and returns the
// new object's ETag. A lost race is an error wrapping ErrConflict.
func putJSON(ctx context.Context, api PutAPI, bucket, key, what string, v any, prev string) (string, error) {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode %s %s: %w", what, key, err)
	}
	body = append(body, '\n')
	in := &s3.PutObjectInput{
		Bucket: &bucket, Key: &key, ContentType: aws.String("application/json"),
		Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
		// Object Lock refuses a write without a checksum.
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	}
	if prev == "" {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(prev)
	}
	out, err := api.PutObject(ctx, in)
	if err != nil {
		// A write conditional on an ETag whose object is gone (deleted
		// since it was read) lost too: S3 may answer it 404 NoSuchKey
		// rather than 412.
		if isConflict(err) || (prev != "" && isMissing(err)) {
			return "", fmt.Errorf("put %s s3://%s/%s: %w", what, bucket, key, ErrConflict)
		}
		return "", fmt.Errorf("put %s s3://%s/%s: %w", what, bucket, key, err)
	}
	return aws.ToString(out.ETag), nil
}

// isConflict recognises S3's answers to a failed conditional write: 412
// PreconditionFailed, and 409 ConditionalRequestConflict when two
// conditional writes race.
func isConflict(err error) bool {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "PreconditionFailed", "ConditionalRequestConflict":
			return true
		}
	}
	var re *smithyhttp.ResponseError
	return errors.As(err, &re) && (re.HTTPStatusCode() == http.StatusPreconditionFailed)
}

// isMissing recognises S3's answer for a key that does not exist.
func isMissing(err error) bool {
	var missing *types.NoSuchKey
	var notFound *types.NotFound
	var re *smithyhttp.ResponseError
	return errors.As(err, &missing) || errors.As(err, &notFound) || (errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound)
}

// HeadAPI is what checking an object's current version needs of S3.
type HeadAPI interface {
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
}

// CurrentExport returns the export id (ExportIDKey metadata) of the object
// now at key, or "" if there is none. Export ids rather than ETags tell
// writers apart: a multipart ETag is not the MD5 of the object, and local S3
// servers disagree on it between CompleteMultipartUpload and HeadObject.
func CurrentExport(ctx context.Context, api HeadAPI, bucket, key string) (string, error) {
	out, err := api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		if isMissing(err) {
			return "", nil
		}
		return "", fmt.Errorf("head s3://%s/%s: %w", bucket, key, err)
	}
	if id := out.Metadata[ExportIDKey]; id != "" {
		return id, nil
	}
	return "unknown:" + aws.ToString(out.ETag), nil
}
