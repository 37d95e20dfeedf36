// Package digest writes and reads the digest files that make the archive
// verifiable: after each run, one JSON file under
// <prefix>/digests/dt=YYYY-MM-DD/<run id>.json lists the manifests the run
// wrote with their SHA-256 and version ids, and names the key and SHA-256
// of the previous digest of the same account and region (a chain, like
// CloudTrail's log file validation). When a KMS asymmetric key is
// configured the digest is signed with kms:Sign; the signature travels in
// the object's metadata, over the SHA-256 of the exact bytes written, so
// verify checks it offline with the public key.
//
// Concurrent runs of one account and region serialise on a conditional
// write of the chain's head object (<prefix>/digests/heads/<account>_<region>.json):
// a run's digest names as previous the digest the head named, and the head
// moves to the new digest only with If-Match on the head it read (or
// If-None-Match for the first), so two runs never both extend the same
// digest. See docs/ARCHITECTURE.md.
package digest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/session-audit/session-audit/internal/store"
)

// Version is the format version written in every digest.
const Version = 1

// Metadata keys (x-amz-meta-*) of a signed digest.
const (
	MetaSignature = "signature"           // base64 of the signature
	MetaKeyID     = "signature-key"       // the KMS key that signed
	MetaAlgorithm = "signature-algorithm" // the KMS signing algorithm
)

// Digest is one run's record of the manifests it wrote.
type Digest struct {
	Version int    `json:"version"`
	RunID   string `json:"runId"`
	// Account and Region name the chain: the target's in a single-account
	// run, the org function's own in an organization run's Coverage.
	Account   string     `json:"account"`
	Region    string     `json:"region"`
	WrittenAt time.Time  `json:"writtenAt"`
	Manifests []Manifest `json:"manifests"`
	// Previous is the digest this one extends; nil for the first of its
	// chain.
	Previous *Link `json:"previous"`
}

// Manifest is a manifest as a run left it.
type Manifest struct {
	Key       string `json:"key"`
	SHA256    string `json:"sha256"`
	Size      int64  `json:"size"`
	VersionID string `json:"versionId,omitempty"`
}

// Link names a digest by key and the SHA-256 of its bytes.
type Link struct {
	Key    string `json:"key"`
	SHA256 string `json:"sha256"`
}

// Head is the chain's head object: the latest digest of a chain.
type Head struct {
	Latest Link `json:"latest"`
}

// Root is the prefix of every digest key; HeadRoot that of every head.
func Root(prefix string) string { return prefix + "/digests/" }

// HeadRoot is where the chains' heads are kept, beside the dt= folders.
func HeadRoot(prefix string) string { return Root(prefix) + "heads/" }

// Chain names the chain of one account and region.
func Chain(account, region string) string { return account + "_" + region }

// HeadKey is the key of a chain's head.
func HeadKey(prefix, account, region string) string {
	return HeadRoot(prefix) + Chain(account, region) + ".json"
}

// Key is the key of a run's digest, in the folder of the day it was written.
func Key(prefix string, writtenAt time.Time, runID string) string {
	return Root(prefix) + "dt=" + writtenAt.UTC().Format(time.DateOnly) + "/" + runID + ".json"
}

// NewRunID names a run of one chain: its time, the chain and 32 random bits.
func NewRunID(at time.Time, account, region string) string {
	var b [4]byte
	rand.Read(b[:])
	return at.UTC().Format("20060102T150405Z") + "_" + Chain(account, region) + "_" + hex.EncodeToString(b[:])
}

// S3API is what writing digests needs of S3.
type S3API interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// SignAPI is what signing needs of KMS.
type SignAPI interface {
	Sign(ctx context.Context, in *kms.SignInput, optFns ...func(*kms.Options)) (*kms.SignOutput, error)
}

// Signer signs digests with a KMS asymmetric key.
type Signer struct {
	API   SignAPI
	KeyID string
	// Algorithm is the KMS signing algorithm; "" means ECDSA_SHA_256 (for
	// an ECC_NIST_P256 key).
	Algorithm kmstypes.SigningAlgorithmSpec
}

func (s *Signer) algorithm() kmstypes.SigningAlgorithmSpec {
	if s.Algorithm == "" {
		return kmstypes.SigningAlgorithmSpecEcdsaSha256
	}
	return s.Algorithm
}

// sign signs the SHA-256 sum of a digest's bytes and returns the metadata
// that carries the signature.
func (s *Signer) sign(ctx context.Context, sum []byte) (map[string]string, error) {
	out, err := s.API.Sign(ctx, &kms.SignInput{
		KeyId: aws.String(s.KeyID), Message: sum, MessageType: kmstypes.MessageTypeDigest, SigningAlgorithm: s.algorithm(),
	})
	if err != nil {
		return nil, fmt.Errorf("kms sign with %s: %w", s.KeyID, err)
	}
	return map[string]string{
		MetaSignature: base64.StdEncoding.EncodeToString(out.Signature),
		MetaKeyID:     aws.ToString(out.KeyId),
		MetaAlgorithm: string(s.algorithm()),
	}, nil
}

// Writer writes the digests of runs.
type Writer struct {
	S3     S3API
	Bucket string
	Prefix string
	// Signer, when set, signs every digest.
	Signer *Signer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// maxHeadRounds bounds the retries of a lost race for the head.
const maxHeadRounds = 8

// ErrConflict reports that a conditional write lost to another writer.
var ErrConflict = errors.New("another writer changed it first")

// Record writes the digest of a run of account and region that wrote the
// manifests at keys, chained to the chain's latest digest, and returns its
// key. It writes nothing for no manifests. Each manifest is read back (not
// held whole: hashed as it streams) for its SHA-256 and version id. The
// head moves first, conditionally, then the digest is written where the head
// says, so a lost race costs only a new attempt; a crash between the two
// leaves a head naming a missing digest, which verify reports
// (digest-missing) rather than a silent fork.
func (w *Writer) Record(ctx context.Context, account, region string, keys []string) (string, error) {
	if len(keys) == 0 {
		return "", nil
	}
	manifests := make([]Manifest, 0, len(keys))
	for _, k := range keys {
		m, err := w.readManifest(ctx, k)
		if err != nil {
			return "", err
		}
		manifests = append(manifests, m)
	}
	at := w.now()
	runID := NewRunID(at, account, region)
	key := Key(w.Prefix, at, runID)
	headKey := HeadKey(w.Prefix, account, region)
	for range maxHeadRounds {
		head, etag, err := ReadHead(ctx, w.S3, w.Bucket, headKey)
		if err != nil {
			return "", err
		}
		d := Digest{Version: Version, RunID: runID, Account: account, Region: region, WrittenAt: at, Manifests: manifests}
		if head != nil {
			d.Previous = &head.Latest
		}
		body, err := json.MarshalIndent(d, "", "  ")
		if err != nil {
			return "", fmt.Errorf("encode digest %s: %w", key, err)
		}
		body = append(body, '\n')
		sum := sha256.Sum256(body)
		err = w.putHead(ctx, headKey, Head{Latest: Link{Key: key, SHA256: hex.EncodeToString(sum[:])}}, etag)
		if errors.Is(err, ErrConflict) {
			continue // another run extended the chain first: extend theirs
		}
		if err != nil {
			return "", err
		}
		return key, w.putDigest(ctx, key, body, sum[:])
	}
	return "", fmt.Errorf("digest chain %s: still contended after %d conditional writes", headKey, maxHeadRounds)
}

func (w *Writer) now() time.Time {
	if w.Now != nil {
		return w.Now().UTC()
	}
	return time.Now().UTC()
}

// readManifest hashes the manifest at key as it streams.
func (w *Writer) readManifest(ctx context.Context, key string) (Manifest, error) {
	out, err := w.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: &w.Bucket, Key: &key})
	if err != nil {
		return Manifest{}, fmt.Errorf("digest: read manifest s3://%s/%s: %w", w.Bucket, key, err)
	}
	defer out.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, out.Body)
	if err != nil {
		return Manifest{}, fmt.Errorf("digest: read manifest s3://%s/%s: %w", w.Bucket, key, err)
	}
	return Manifest{Key: key, SHA256: hex.EncodeToString(h.Sum(nil)), Size: n, VersionID: aws.ToString(out.VersionId)}, nil
}

func (w *Writer) putHead(ctx context.Context, key string, h Head, etag string) error {
	body, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("encode digest head: %w", err)
	}
	in := putInput(w.Bucket, key, body)
	if etag == "" {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(etag)
	}
	if _, err := w.S3.PutObject(ctx, in); err != nil {
		if store.IsConflict(err) {
			return fmt.Errorf("put digest head s3://%s/%s: %w", w.Bucket, key, ErrConflict)
		}
		return fmt.Errorf("put digest head s3://%s/%s: %w", w.Bucket, key, err)
	}
	return nil
}

func (w *Writer) putDigest(ctx context.Context, key string, body, sum []byte) error {
	in := putInput(w.Bucket, key, body)
	in.IfNoneMatch = aws.String("*")
	if w.Signer != nil {
		meta, err := w.Signer.sign(ctx, sum)
		if err != nil {
			return fmt.Errorf("digest %s: %w", key, err)
		}
		in.Metadata = meta
	}
	if _, err := w.S3.PutObject(ctx, in); err != nil {
		return fmt.Errorf("put digest s3://%s/%s: %w", w.Bucket, key, err)
	}
	return nil
}

// putInput is a PutObject of a small JSON body with its SHA-256 checksum,
// which S3 checks and Object Lock requires (a checksum or Content-MD5).
func putInput(bucket, key string, body []byte) *s3.PutObjectInput {
	sum := sha256.Sum256(body)
	return &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))), ContentType: aws.String("application/json"),
		ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum[:])),
	}
}

// ErrBadHead reports a head object that is not a head.
var ErrBadHead = errors.New("not a digest head")

// maxHeadSize bounds what is read as a head.
const maxHeadSize = 64 << 10

// ReadHead reads a chain's head and its ETag; nil, "" when there is none.
func ReadHead(ctx context.Context, api interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}, bucket, key string) (*Head, string, error) {
	out, err := api.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		if IsNotFound(err) {
			return nil, "", nil
		}
		return nil, "", fmt.Errorf("get digest head s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	var h Head
	if err := json.NewDecoder(io.LimitReader(out.Body, maxHeadSize)).Decode(&h); err != nil {
		return nil, "", fmt.Errorf("decode digest head s3://%s/%s: %w: %w", bucket, key, ErrBadHead, err)
	}
	return &h, aws.ToString(out.ETag), nil
}

// IsNotFound recognises S3's answers for a key that is not there.
func IsNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var re *smithyhttp.ResponseError
	return errors.As(err, &nsk) || errors.As(err, &nf) || (errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound)
}

// IsDigestKey says whether key is a digest (under a dt= folder), not a head.
func IsDigestKey(prefix, key string) bool {
	rest, ok := strings.CutPrefix(key, Root(prefix)+"dt=")
	return ok && strings.HasSuffix(rest, ".json")
}
