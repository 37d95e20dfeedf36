package verify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/parquet-go/parquet-go"

	"github.com/session-audit/session-audit/internal/digest"
	"github.com/session-audit/session-audit/internal/store"
)

// manifestInfo is what the later checks need of a manifest.
type manifestInfo struct {
	key        string
	target     store.Keys
	start, end time.Time
	writtenAt  time.Time
	sha256     string // of the manifest's own bytes
	object     string // its object's key, "" for an empty slot
}

// maxManifest bounds what is read as a manifest (store's limit too).
const maxManifest = 1 << 20

// checkManifests reads every manifest and checks its object, Concurrency at
// a time. A manifest that vanished between the listing and the read is left
// to the slot check (manifest-missing).
func (r *run) checkManifests(ctx context.Context, keys []slotKey) ([]*manifestInfo, error) {
	out := make([]*manifestInfo, len(keys))
	err := r.parallel(ctx, len(keys), func(i int) error {
		m, err := r.checkManifest(ctx, keys[i])
		out[i] = m
		r.done.Add(1)
		return err
	})
	if err != nil {
		return nil, err
	}
	var ms []*manifestInfo
	for _, m := range out {
		if m != nil {
			ms = append(ms, m)
		}
	}
	return ms, nil
}

func (r *run) checkManifest(ctx context.Context, sk slotKey) (*manifestInfo, error) {
	out, err := r.api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(r.opt.Bucket), Key: aws.String(sk.key)})
	if err != nil {
		if digest.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("get manifest s3://%s/%s: %w", r.opt.Bucket, sk.key, err)
	}
	defer out.Body.Close()
	h := sha256.New()
	var body bytes.Buffer
	if _, err := io.Copy(io.MultiWriter(h, &body), io.LimitReader(out.Body, maxManifest+1)); err != nil {
		return nil, fmt.Errorf("read manifest s3://%s/%s: %w", r.opt.Bucket, sk.key, err)
	}
	info := &manifestInfo{key: sk.key, target: sk.target, start: sk.start, end: sk.end, sha256: hex.EncodeToString(h.Sum(nil))}
	var m store.Manifest
	if body.Len() > maxManifest {
		r.report(ObjectModified, sk.key, "the manifest is larger than %d bytes", maxManifest)
		return info, nil
	}
	if err := json.Unmarshal(body.Bytes(), &m); err != nil {
		r.report(ObjectModified, sk.key, "the manifest is not valid JSON: %v", err)
		return info, nil
	}
	info.writtenAt = m.WrittenAt
	if !m.SlotStart.Equal(sk.start) || !m.SlotEnd.Equal(sk.end) || m.Account != sk.target.Account || m.Region != sk.target.Region {
		r.report(ObjectModified, sk.key, "the manifest describes %s %s [%s, %s), not the slot its key names", m.Account, m.Region, m.SlotStart.Format(time.RFC3339), m.SlotEnd.Format(time.RFC3339))
	}
	if m.Object == nil {
		if m.Rows != 0 {
			r.report(ObjectModified, sk.key, "the manifest records %d rows and no object", m.Rows)
		}
		return info, nil
	}
	info.object = m.Object.Key
	return info, r.checkObject(ctx, m)
}

// tailSize is how much of an object's end is read at once for its Parquet
// footer: one request for the footers of the objects this project writes.
const tailSize = 64 << 10

// checkObject streams the manifest's object through SHA-256, then reads its
// Parquet footer (ranged requests pinned to the version or ETag hashed) for
// the row count.
func (r *run) checkObject(ctx context.Context, m store.Manifest) error {
	key := m.Object.Key
	out, err := r.api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(r.opt.Bucket), Key: aws.String(key)})
	if err != nil {
		if digest.IsNotFound(err) {
			r.report(ObjectMissing, key, "the manifest of slot [%s, %s) names it; it is not in the bucket", m.SlotStart.Format(time.RFC3339), m.SlotEnd.Format(time.RFC3339))
			return nil
		}
		return fmt.Errorf("get object s3://%s/%s: %w", r.opt.Bucket, key, err)
	}
	h := sha256.New()
	head := &prefixBuffer{max: 8}
	n, err := io.Copy(io.MultiWriter(h, head, counter{&r.bytes}), out.Body)
	out.Body.Close()
	if err != nil {
		return fmt.Errorf("read object s3://%s/%s: %w", r.opt.Bucket, key, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if n != m.Object.Size || sum != m.Object.SHA256 {
		r.report(ObjectModified, key, "size %d and SHA-256 %s; the manifest records %d and %s", n, sum, m.Object.Size, m.Object.SHA256)
		return nil
	}
	ra := &rangeReader{ctx: ctx, api: r.api, bucket: r.opt.Bucket, key: key, version: aws.ToString(out.VersionId), etag: aws.ToString(out.ETag), size: n, head: head.buf}
	if err := ra.loadTail(); err != nil {
		return err
	}
	f, err := parquet.OpenFile(ra, n, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		if ra.err != nil {
			return ra.err
		}
		r.report(ObjectModified, key, "its SHA-256 matches the manifest but it is not a Parquet file: %v", err)
		return nil
	}
	if rows := f.NumRows(); rows != m.Rows {
		r.report(ObjectModified, key, "%d rows; the manifest records %d", rows, m.Rows)
	}
	return nil
}

// counter adds the bytes written to n.
type counter struct{ n interface{ Add(int64) int64 } }

func (c counter) Write(p []byte) (int, error) { c.n.Add(int64(len(p))); return len(p), nil }

// prefixBuffer keeps the first max bytes written.
type prefixBuffer struct {
	max int
	buf []byte
}

func (b *prefixBuffer) Write(p []byte) (int, error) {
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// rangeReader reads an object at offsets with ranged GETs, pinned to the
// version (or ETag) that was hashed; its first bytes and its last tailSize
// bytes are served from memory.
type rangeReader struct {
	ctx           context.Context
	api           S3API
	bucket, key   string
	version, etag string
	size          int64
	head, tail    []byte
	err           error
}

func (ra *rangeReader) get(off, n int64) ([]byte, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(ra.bucket), Key: aws.String(ra.key), Range: aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1))}
	if ra.version != "" {
		in.VersionId = aws.String(ra.version)
	} else if ra.etag != "" {
		in.IfMatch = aws.String(ra.etag)
	}
	out, err := ra.api.GetObject(ra.ctx, in)
	if err != nil {
		ra.err = fmt.Errorf("get s3://%s/%s %s: %w", ra.bucket, ra.key, aws.ToString(in.Range), err)
		return nil, ra.err
	}
	defer out.Body.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(out.Body, b); err != nil {
		ra.err = fmt.Errorf("read s3://%s/%s %s: %w", ra.bucket, ra.key, aws.ToString(in.Range), err)
		return nil, ra.err
	}
	return b, nil
}

func (ra *rangeReader) loadTail() error {
	n := min(ra.size, tailSize)
	if n == 0 {
		return nil
	}
	b, err := ra.get(ra.size-n, n)
	ra.tail = b
	return err
}

// ReadAt serves p from the head or tail kept, else with a ranged GET.
func (ra *rangeReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= ra.size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), ra.size)
	if end <= int64(len(ra.head)) {
		if n := copy(p, ra.head[off:end]); n < len(p) {
			return n, io.EOF
		}
		return len(p), nil
	}
	if tailStart := ra.size - int64(len(ra.tail)); off >= tailStart {
		n := copy(p, ra.tail[off-tailStart:end-tailStart])
		if n < len(p) {
			return n, io.EOF
		}
		return n, nil
	}
	b, err := ra.get(off, end-off)
	if err != nil {
		return 0, err
	}
	n := copy(p, b)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
