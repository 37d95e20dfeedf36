package cli

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/session-audit/session-audit/internal/app"
	"github.com/session-audit/session-audit/internal/awsclients"
	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/verify"
)

// ExitProblems is the exit code of a verify that found problems; 1 means
// it could not look (an S3 error), 2 a usage error.
const ExitProblems = 3

// problemsFound is a verify that found problems: exit code 3.
type problemsFound struct{ n int }

func (p problemsFound) Error() string { return fmt.Sprintf("%d problem(s) found", p.n) }

// progressEvery is how often a long verify reports progress on stderr.
const progressEvery = 10 * time.Second

// verify checks the archive read-only and prints one JSON line per problem.
func (c *cmd) verify(ctx context.Context, args []string) error {
	fs := c.flags("verify", "verify [--from DAY] [--to DAY] [--public-key FILE | --kms-key KEY] [--local [--out DIR]]")
	fromS := fs.String("from", "", "first day checked, YYYY-MM-DD (default: the archive's first day)")
	toS := fs.String("to", "", "day after the last day checked, YYYY-MM-DD, exclusive (default: the day after the archive's last day)")
	pubFile := fs.String("public-key", "", "the digests' signing public key, PEM or DER SubjectPublicKeyInfo (as kms:GetPublicKey returns it): checked offline")
	kmsKey := fs.String("kms-key", "", "instead of --public-key: fetch the public key of this KMS key with kms:GetPublicKey (default AUDIT_DIGEST_KEY)")
	concurrency := fs.Int("concurrency", verify.DefaultConcurrency, "objects read at once")
	local := fs.Bool("local", false, "verify the local export under --out (make run) instead of AUDIT_BUCKET on AWS")
	out := fs.String("out", "out", "with --local: the folder the emulated S3 keeps its objects in")
	if _, err := c.parse(fs, args, 0); err != nil {
		return err
	}
	var from, to time.Time
	if *fromS != "" || *toS != "" {
		var err1, err2 error
		from, err1 = time.Parse(time.DateOnly, *fromS)
		to, err2 = time.Parse(time.DateOnly, *toS)
		switch {
		case *fromS == "" || *toS == "":
			return usageError{errors.New("give both --from and --to, or neither (the whole archive)")}
		case err1 != nil:
			return usageError{fmt.Errorf("--from %q is not a day YYYY-MM-DD", *fromS)}
		case err2 != nil:
			return usageError{fmt.Errorf("--to %q is not a day YYYY-MM-DD", *toS)}
		case !to.After(from):
			return usageError{fmt.Errorf("--to %s is not after --from %s", *toS, *fromS)}
		}
	}
	if *concurrency < 1 || *concurrency > 64 {
		return usageError{fmt.Errorf("--concurrency %d: want 1 to 64", *concurrency)}
	}
	if *pubFile != "" && *kmsKey != "" {
		return usageError{errors.New("give --public-key or --kms-key, not both")}
	}
	var pub crypto.PublicKey
	if *pubFile != "" {
		b, err := os.ReadFile(*pubFile)
		if err != nil {
			return usageError{fmt.Errorf("--public-key: %w", err)}
		}
		if pub, err = verify.ParsePublicKey(b); err != nil {
			return usageError{fmt.Errorf("--public-key %s: %w", *pubFile, err)}
		}
	}
	getenv, clientsFn := c.getenv, app.DefaultClients(c.getenv, c.logger())
	if *local {
		bucket := c.localBucket()
		emu, err := emulators.Start(emulators.Options{Dir: *out, Bucket: bucket})
		if err != nil {
			return err
		}
		defer emu.Close()
		getenv = func(k string) string {
			if k == "AUDIT_BUCKET" {
				return bucket
			}
			return c.getenv(k)
		}
		clientsFn = func(context.Context, bool) (awsclients.Clients, error) { return emu.Clients(), nil }
	}
	cfg, clients, err := app.Load(ctx, getenv, clientsFn)
	if err != nil {
		return err
	}
	if *kmsKey == "" && pub == nil {
		*kmsKey = cfg.DigestKey
	}
	if pub == nil && *kmsKey != "" {
		resp, err := kms.NewFromConfig(clients.Base.Config).GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(*kmsKey)})
		if err != nil {
			return fmt.Errorf("kms get public key of %s: %w", *kmsKey, err)
		}
		if pub, err = verify.ParsePublicKey(resp.PublicKey); err != nil {
			return fmt.Errorf("kms public key of %s: %w", *kmsKey, err)
		}
	}
	began := time.Now()
	rep, err := verify.Run(ctx, verify.Options{
		S3: clients.S3, Bucket: cfg.Bucket, Prefix: cfg.Prefix, From: from, To: to,
		Slot: cfg.Grid.Length(), Now: c.clock, PublicKey: pub, Concurrency: *concurrency,
		Progress: c.stderr, ProgressEvery: progressEvery,
	})
	enc := json.NewEncoder(c.stdout)
	for _, p := range rep.Problems {
		if werr := enc.Encode(p); werr != nil {
			return werr
		}
	}
	if err != nil {
		return fmt.Errorf("could not check the archive: %w", err)
	}
	took := time.Since(began)
	fmt.Fprintf(c.stderr, "verify s3://%s/%s", cfg.Bucket, cfg.Prefix)
	if !rep.From.IsZero() {
		fmt.Fprintf(c.stderr, " [%s, %s)", rep.From.Format(time.DateOnly), rep.To.Format(time.DateOnly))
	}
	fmt.Fprintf(c.stderr, ": %d account-region(s), %d slots expected, %d manifests, %d objects (%.1f MB hashed), %d digests; %d S3 requests in %s\n",
		rep.Targets, rep.Slots, rep.Manifests, rep.Objects, float64(rep.Bytes)/1e6, rep.Digests, rep.Calls, took.Round(time.Millisecond))
	switch {
	case rep.Digests > 0 && pub == nil && rep.Unchecked > 0:
		fmt.Fprintf(c.stderr, "verify: %d signed digest(s) not checked: give --public-key FILE or --kms-key KEY\n", rep.Unchecked)
	case rep.Unsigned > 0 && pub == nil:
		fmt.Fprintf(c.stderr, "verify: %d digest(s) unsigned (no AUDIT_DIGEST_KEY when they were written)\n", rep.Unsigned)
	}
	if len(rep.Problems) > 0 {
		fmt.Fprintf(c.stderr, "verify: %d problem(s) found (stdout, one JSON line each)\n", len(rep.Problems))
		return problemsFound{len(rep.Problems)}
	}
	fmt.Fprintln(c.stderr, "verify: verified, no problem found")
	return nil
}
