// Package verify checks an archive the way an auditor would, read-only:
// every manifest's object exists with the size, SHA-256 and rows the
// manifest records; every Parquet object under sessions/ is named by a
// manifest; every slot of every day of every account and region seen has
// a manifest (each day on its own slot length, read from its manifests);
// every target an organization run's coverage calls exported is among
// them; and, where digests exist, their chain, their signatures and the
// manifests they record. Objects are hashed as they stream, a few at a
// time. See docs/ARCHITECTURE.md, "Evidence an auditor can verify".
package verify

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Problem names, as the command prints them.
const (
	ObjectMissing    = "object-missing"
	ObjectModified   = "object-modified"
	ObjectUnlisted   = "object-unlisted"
	ManifestMissing  = "manifest-missing"
	DigestMissing    = "digest-missing"
	DigestModified   = "digest-modified"
	ChainBroken      = "chain-broken"
	SignatureInvalid = "signature-invalid"
)

// Problem is one finding: what is wrong, the key it is about, and a
// sentence for a person.
type Problem struct {
	Problem string `json:"problem"`
	Key     string `json:"key"`
	Detail  string `json:"detail"`
}

// S3API is what verify needs of S3: listing and reading, nothing else.
type S3API interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// DefaultConcurrency is how many objects are read at once.
const DefaultConcurrency = 8

// Options say what to verify.
type Options struct {
	S3     S3API
	Bucket string
	Prefix string
	// From and To bound the days checked, [From, To); zero values mean the
	// whole archive: from each target's first day seen to the last day seen.
	From, To time.Time
	// Slot is the slot length of a day that has no manifest (AUDIT_SLOT).
	Slot time.Duration
	// Now is the clock: slots ending after it are not expected.
	Now func() time.Time
	// PublicKey checks the digests' signatures; nil checks none (the
	// summary says how many were left unchecked).
	PublicKey crypto.PublicKey
	// Concurrency bounds the objects read at once; 0 means
	// DefaultConcurrency.
	Concurrency int
	// Progress, when set, receives a line every ProgressEvery.
	Progress      io.Writer
	ProgressEvery time.Duration
}

// Report is what a verification found and how much it read.
type Report struct {
	Problems  []Problem
	Manifests int
	Objects   int
	Digests   int
	// Unsigned counts digests without a signature; Unchecked the signed
	// ones whose signature was not checked (no public key given).
	Unsigned, Unchecked int
	Slots               int   // slots expected
	Targets             int   // accounts and regions seen
	Bytes               int64 // bytes hashed
	Calls               int64 // S3 requests made
	From, To            time.Time
}

// counting counts the S3 requests and bytes of a verification.
type counting struct {
	api   S3API
	calls atomic.Int64
}

func (c *counting) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	c.calls.Add(1)
	return c.api.ListObjectsV2(ctx, in, optFns...)
}

func (c *counting) GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	c.calls.Add(1)
	return c.api.GetObject(ctx, in, optFns...)
}

// run holds one verification's state.
type run struct {
	opt   Options
	api   *counting
	now   time.Time
	bytes atomic.Int64
	done  atomic.Int64

	mu       sync.Mutex
	problems []Problem
}

func (r *run) report(p, key, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.problems = append(r.problems, Problem{Problem: p, Key: key, Detail: fmt.Sprintf(format, args...)})
}

// Run verifies the archive. Problems found are in the report; an error
// means the archive could not be checked (an S3 error other than a missing
// key), and the report is then incomplete.
func Run(ctx context.Context, opt Options) (Report, error) {
	if opt.Concurrency <= 0 {
		opt.Concurrency = DefaultConcurrency
	}
	if opt.Slot <= 0 {
		opt.Slot = 24 * time.Hour
	}
	now := time.Now
	if opt.Now != nil {
		now = opt.Now
	}
	r := &run{opt: opt, api: &counting{api: opt.S3}, now: now().UTC()}
	rep := Report{From: opt.From, To: opt.To}
	stop := r.progress()
	err := r.verify(ctx, &rep)
	stop()
	rep.Bytes, rep.Calls = r.bytes.Load(), r.api.calls.Load()
	sort.Slice(r.problems, func(i, j int) bool {
		a, b := r.problems[i], r.problems[j]
		if a.Key != b.Key {
			return a.Key < b.Key
		}
		return a.Problem < b.Problem
	})
	rep.Problems = r.problems
	return rep, err
}

func (r *run) progress() func() {
	if r.opt.Progress == nil || r.opt.ProgressEvery <= 0 {
		return func() {}
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(r.opt.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				fmt.Fprintf(r.opt.Progress, "verify: %d manifests checked, %.1f MB hashed, %d S3 requests\n",
					r.done.Load(), float64(r.bytes.Load())/1e6, r.api.calls.Load())
			}
		}
	}()
	return func() { close(quit); wg.Wait() }
}

func (r *run) verify(ctx context.Context, rep *Report) error {
	p := r.opt.Prefix
	manifestKeys, err := r.listDays(ctx, p+"/manifests/")
	if err != nil {
		return err
	}
	objectKeys, err := r.listDays(ctx, p+"/sessions/")
	if err != nil {
		return err
	}
	coverageKeys, err := r.listDays(ctx, p+"/coverage/")
	if err != nil {
		return err
	}
	digestKeys, err := r.list(ctx, p+"/digests/")
	if err != nil {
		return err
	}

	targets := newTargets()
	var parsed []slotKey
	for _, k := range manifestKeys {
		if sk, ok := parseSlotKey(p+"/manifests/", k, ".json"); ok {
			parsed = append(parsed, sk)
			targets.see(sk.target, sk.start)
		}
	}
	for _, k := range objectKeys {
		if sk, ok := parseSlotKey(p+"/sessions/", k, ".parquet"); ok {
			targets.see(sk.target, sk.start)
		}
	}
	if err := r.readCoverage(ctx, coverageKeys, targets); err != nil {
		return err
	}

	manifests, err := r.checkManifests(ctx, parsed)
	if err != nil {
		return err
	}
	rep.Manifests = len(manifests)
	named := make(map[string]bool, len(manifests))
	for _, m := range manifests {
		if m.object != "" {
			named[m.object] = true
			rep.Objects++
		}
	}
	for _, k := range objectKeys {
		if strings.HasSuffix(k, ".parquet") && !named[k] {
			r.report(ObjectUnlisted, k, "a Parquet object that no manifest names: a copy or a leftover, not part of the archive's record")
		}
	}
	rep.Targets = len(targets.first)
	rep.Slots, rep.From, rep.To = r.checkSlots(manifests, targets)

	ds, err := r.checkDigests(ctx, digestKeys, rep)
	if err != nil {
		return err
	}
	r.checkRecorded(manifests, ds)
	return nil
}

// list returns every key under prefix.
func (r *run) list(ctx context.Context, prefix string) ([]string, error) {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(r.opt.Bucket), Prefix: aws.String(prefix)}
	var keys []string
	for {
		out, err := r.api.ListObjectsV2(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", r.opt.Bucket, prefix, err)
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

// listDays lists root's dt= folders of [From, To), or all of root for the
// whole archive.
func (r *run) listDays(ctx context.Context, root string) ([]string, error) {
	if r.opt.From.IsZero() {
		return r.list(ctx, root)
	}
	var keys []string
	for d := r.opt.From; d.Before(r.opt.To); d = d.AddDate(0, 0, 1) {
		ks, err := r.list(ctx, root+"dt="+d.Format(time.DateOnly)+"/")
		if err != nil {
			return nil, err
		}
		keys = append(keys, ks...)
	}
	return keys, nil
}

// parallel calls fn(0..n-1), Concurrency at a time, and returns the first
// error.
func (r *run) parallel(ctx context.Context, n int, fn func(i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, r.opt.Concurrency)
	var wg sync.WaitGroup
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := fn(i); err != nil {
				cancel(err)
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}
