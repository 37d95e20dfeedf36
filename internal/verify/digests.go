package verify

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/session-audit/session-audit/internal/digest"
)

// digestInfo is a digest as read: its bytes' SHA-256 and what it says.
type digestInfo struct {
	key    string
	sha256 string
	d      digest.Digest
	ok     bool // it decoded
}

// maxDigest bounds what is read as a digest.
const maxDigest = 16 << 20

// checkDigests reads every digest and head and checks the chains: each
// digest's previous exists (digest-missing) with the SHA-256 recorded
// (digest-modified); no two digests extend the same one, a chain has one
// first digest, and every digest but the head's latest is extended
// (chain-broken); each head's latest exists and matches; and with a public
// key, each digest's signature. Digests are read whole, whatever --from and
// --to say: a chain spans the archive.
func (r *run) checkDigests(ctx context.Context, keys []string, rep *Report) (map[string]*digestInfo, error) {
	var dkeys, heads []string
	for _, k := range keys {
		switch {
		case digest.IsDigestKey(r.opt.Prefix, k):
			dkeys = append(dkeys, k)
		case strings.HasPrefix(k, digest.HeadRoot(r.opt.Prefix)) && strings.HasSuffix(k, ".json"):
			heads = append(heads, k)
		}
	}
	infos := make([]*digestInfo, len(dkeys))
	var unsigned, unchecked atomic.Int64
	err := r.parallel(ctx, len(dkeys), func(i int) error {
		info, signed, checked, err := r.readDigest(ctx, dkeys[i])
		infos[i] = info
		if info != nil && !signed {
			unsigned.Add(1)
		} else if info != nil && !checked {
			unchecked.Add(1)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	rep.Digests, rep.Unsigned, rep.Unchecked = len(dkeys), int(unsigned.Load()), int(unchecked.Load())
	byKey := make(map[string]*digestInfo, len(infos))
	for _, d := range infos {
		if d != nil {
			byKey[d.key] = d
		}
	}
	extendedBy := map[string][]string{}
	firsts := map[string][]string{}
	missingIn := map[string]bool{}
	for _, d := range infos {
		if d == nil || !d.ok {
			continue
		}
		chain := digest.Chain(d.d.Account, d.d.Region)
		if d.d.Previous == nil {
			firsts[chain] = append(firsts[chain], d.key)
			continue
		}
		prev := d.d.Previous
		extendedBy[prev.Key] = append(extendedBy[prev.Key], d.key)
		r.checkLink(byKey, prev, d.key, chain, missingIn)
	}
	for prev, by := range extendedBy {
		if len(by) > 1 {
			sort.Strings(by)
			r.report(ChainBroken, prev, "extended by %d digests (%v): the chain forked", len(by), by)
		}
	}
	for chain, fs := range firsts {
		if len(fs) > 1 {
			sort.Strings(fs)
			for _, k := range fs[1:] {
				r.report(ChainBroken, k, "a second first digest of chain %s (the first is %s): it names no previous digest", chain, fs[0])
			}
		}
	}
	latest := map[string]string{}
	for _, hk := range heads {
		h, _, err := digest.ReadHead(ctx, r.api, r.opt.Bucket, hk)
		if errors.Is(err, digest.ErrBadHead) {
			r.report(DigestModified, hk, "the chain's head is not a head: %v", err)
			continue
		}
		if err != nil {
			return nil, err
		}
		if h == nil {
			continue
		}
		chain := digest.Chain(headChain(r.opt.Prefix, hk))
		latest[h.Latest.Key] = chain
		r.checkLink(byKey, &h.Latest, hk, chain, missingIn)
	}
	for _, d := range infos {
		if d == nil || !d.ok {
			continue
		}
		chain := digest.Chain(d.d.Account, d.d.Region)
		if len(extendedBy[d.key]) == 0 && latest[d.key] == "" && !missingIn[chain] {
			r.report(ChainBroken, d.key, "no digest extends it and the head of chain %s names another: it is off the chain", chain)
		}
	}
	return byKey, nil
}

// headChain is the account and region a head key names.
func headChain(prefix, key string) (string, string) {
	name := strings.TrimSuffix(strings.TrimPrefix(key, digest.HeadRoot(prefix)), ".json")
	account, region, _ := strings.Cut(name, "_")
	return account, region
}

// checkLink checks that the digest link names (from the digest or head at
// from, of chain) exists, is of the same chain, and has the SHA-256 recorded.
func (r *run) checkLink(byKey map[string]*digestInfo, link *digest.Link, from, chain string, missingIn map[string]bool) {
	d, ok := byKey[link.Key]
	switch {
	case !ok:
		missingIn[chain] = true
		r.report(DigestMissing, link.Key, "%s names it as the previous digest of chain %s; it is not in the bucket", from, chain)
	case d.sha256 != link.SHA256:
		r.report(DigestModified, link.Key, "SHA-256 %s; %s recorded %s", d.sha256, from, link.SHA256)
	case d.ok && digest.Chain(d.d.Account, d.d.Region) != chain:
		r.report(ChainBroken, from, "names %s of chain %s as its previous digest, in chain %s", link.Key, digest.Chain(d.d.Account, d.d.Region), chain)
	}
}

// readDigest hashes a digest as it streams and decodes it, and checks its
// signature when a public key is given.
func (r *run) readDigest(ctx context.Context, key string) (info *digestInfo, signed, checked bool, err error) {
	out, err := r.api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(r.opt.Bucket), Key: aws.String(key)})
	if err != nil {
		if digest.IsNotFound(err) {
			return nil, false, false, nil
		}
		return nil, false, false, fmt.Errorf("get digest s3://%s/%s: %w", r.opt.Bucket, key, err)
	}
	defer out.Body.Close()
	h := sha256.New()
	info = &digestInfo{key: key}
	dec := json.NewDecoder(io.TeeReader(io.LimitReader(out.Body, maxDigest), h))
	if derr := dec.Decode(&info.d); derr != nil {
		r.report(DigestModified, key, "not a digest: %v", derr)
	} else {
		info.ok = info.d.Version == digest.Version
		if !info.ok {
			r.report(DigestModified, key, "digest version %d; this build reads version %d", info.d.Version, digest.Version)
		}
	}
	if _, err := io.Copy(h, io.LimitReader(out.Body, maxDigest)); err != nil {
		return nil, false, false, fmt.Errorf("read digest s3://%s/%s: %w", r.opt.Bucket, key, err)
	}
	sum := h.Sum(nil)
	info.sha256 = hex.EncodeToString(sum)
	sig := out.Metadata[digest.MetaSignature]
	signed = sig != ""
	if r.opt.PublicKey == nil {
		return info, signed, false, nil
	}
	if !signed {
		r.report(SignatureInvalid, key, "the digest carries no signature")
		return info, false, true, nil
	}
	if err := checkSignature(r.opt.PublicKey, out.Metadata[digest.MetaAlgorithm], sum, sig); err != nil {
		r.report(SignatureInvalid, key, "signed by %s: %v", out.Metadata[digest.MetaKeyID], err)
	}
	return info, true, true, nil
}

// checkSignature verifies a base64 KMS signature of a SHA-256 sum.
func checkSignature(pub crypto.PublicKey, algorithm string, sum []byte, sig64 string) error {
	sig, err := base64.StdEncoding.DecodeString(sig64)
	if err != nil {
		return fmt.Errorf("signature is not base64: %w", err)
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if algorithm != "ECDSA_SHA_256" {
			return fmt.Errorf("algorithm %q for an ECDSA key; want ECDSA_SHA_256", algorithm)
		}
		if !ecdsa.VerifyASN1(k, sum, sig) {
			return errors.New("the signature does not verify with the public key")
		}
	case *rsa.PublicKey:
		switch algorithm {
		case "RSASSA_PKCS1_V1_5_SHA_256":
			err = rsa.VerifyPKCS1v15(k, crypto.SHA256, sum, sig)
		case "RSASSA_PSS_SHA_256":
			err = rsa.VerifyPSS(k, crypto.SHA256, sum, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		default:
			return fmt.Errorf("algorithm %q for an RSA key; want RSASSA_PKCS1_V1_5_SHA_256 or RSASSA_PSS_SHA_256", algorithm)
		}
		if err != nil {
			return errors.New("the signature does not verify with the public key")
		}
	default:
		return fmt.Errorf("public key of type %T", pub)
	}
	return nil
}

// ParsePublicKey reads a public key as GetPublicKey returns it (DER
// SubjectPublicKeyInfo) or PEM-armoured ("PUBLIC KEY").
func ParsePublicKey(b []byte) (crypto.PublicKey, error) {
	if blk, _ := pem.Decode(b); blk != nil {
		if blk.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("PEM block %q; want PUBLIC KEY", blk.Type)
		}
		b = blk.Bytes
	}
	k, err := x509.ParsePKIXPublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("not a SubjectPublicKeyInfo public key: %w", err)
	}
	switch k.(type) {
	case *ecdsa.PublicKey, *rsa.PublicKey:
		return k, nil
	}
	return nil, fmt.Errorf("public key of type %T; want ECDSA or RSA", k)
}

// checkRecorded checks each manifest against the digests: when any digest
// records its key, its current bytes must be ones a digest recorded
// (object-modified otherwise: a manifest rewritten outside a run, to match
// a replaced object for instance); a manifest written after the first
// digest that no digest records is digest-missing.
func (r *run) checkRecorded(manifests []*manifestInfo, ds map[string]*digestInfo) {
	recorded := map[string]map[string]string{} // manifest key -> sha -> digest
	var first time.Time
	for _, d := range ds {
		if !d.ok {
			continue
		}
		if first.IsZero() || d.d.WrittenAt.Before(first) {
			first = d.d.WrittenAt
		}
		for _, m := range d.d.Manifests {
			if recorded[m.Key] == nil {
				recorded[m.Key] = map[string]string{}
			}
			recorded[m.Key][m.SHA256] = d.key
		}
	}
	for _, m := range manifests {
		shas, ok := recorded[m.key]
		switch {
		case ok && shas[m.sha256] == "":
			r.report(ObjectModified, m.key, "the manifest's SHA-256 %s is none of the %d versions the digests recorded", m.sha256, len(shas))
		case !ok && !first.IsZero() && m.writtenAt.After(first):
			r.report(DigestMissing, m.key, "written at %s, after digests began (%s), and recorded by none", m.writtenAt.Format(time.RFC3339), first.Format(time.RFC3339))
		}
	}
}
