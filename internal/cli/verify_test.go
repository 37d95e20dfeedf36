package cli_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/session-audit/session-audit/internal/digest"
	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/export"
	"github.com/session-audit/session-audit/internal/kmstest"
	"github.com/session-audit/session-audit/internal/ssmfake"
	"github.com/session-audit/session-audit/internal/store"
	"github.com/session-audit/session-audit/internal/window"
)

// signedArchive is three days of one account exported by three runs (one
// backfill a day) into the emulated S3, each run's digest signed by a
// local-kms key: a chain of three digests.
type signedArchive struct {
	s3        *s3.Client
	kms       *kms.Client
	env       map[string]string
	pubFile   string
	keys      store.Keys
	days      []window.Slot
	digests   []string // oldest first
	bucket    string
	kmsServer *kmstest.Server
	keyID     string
}

func newSignedArchive(t *testing.T) *signedArchive {
	t.Helper()
	t.Setenv("AWS_CA_BUNDLE", "")
	ks := kmstest.Start(t)
	keyID := ks.SigningKey(t)
	first := testNow.Truncate(24*time.Hour).AddDate(0, 0, -3)
	fake := ssmfake.New(ssmfake.WithSessions(ssmfake.Generate(7, first, first.AddDate(0, 0, 3), 900)))
	emu, err := emulators.Start(emulators.Options{Bucket: "verify-test", SSM: fake})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	c := emu.Clients()
	a := &signedArchive{s3: c.S3, kms: ks.Client(), bucket: "verify-test", kmsServer: ks, keyID: keyID}
	a.keys, _ = store.NewKeys("ssm-sessions", "123456789012", emulators.Region)
	clock := testNow
	w := &digest.Writer{S3: c.S3, Bucket: a.bucket, Prefix: "ssm-sessions", Now: func() time.Time { return clock },
		Signer: &digest.Signer{API: a.kms, KeyID: keyID}}
	grid, _ := window.NewGrid(24 * time.Hour)
	exp := &export.Exporter{SSM: c.SSM, S3: c.S3, Bucket: a.bucket, Prefix: "ssm-sessions", Region: emulators.Region,
		Grid: grid, Streams: 2, Now: func() time.Time { return clock }, Digests: w,
		Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	ctx := context.Background()
	for i := range 3 {
		s := window.Slot{Start: first.AddDate(0, 0, i), End: first.AddDate(0, 0, i+1)}
		clock = testNow.Add(time.Duration(i) * time.Minute) // one digest key per run
		if _, err := exp.Backfill(ctx, export.Target{Account: a.keys.Account}, s.Start, s.End); err != nil {
			t.Fatal(err)
		}
		a.days = append(a.days, s)
	}
	for _, k := range listKeys(t, a.s3, a.bucket, "ssm-sessions/digests/dt=") {
		a.digests = append(a.digests, k)
	}
	if len(a.digests) != 3 {
		t.Fatalf("three runs wrote %d digests: %v", len(a.digests), a.digests)
	}
	pub, err := a.kms.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(keyID)})
	if err != nil {
		t.Fatal(err)
	}
	a.pubFile = filepath.Join(t.TempDir(), "digest-key.pem")
	if err := os.WriteFile(a.pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub.PublicKey}), 0o644); err != nil {
		t.Fatal(err)
	}
	// verify runs on the SDK's default chain, as an auditor's would.
	a.env = map[string]string{processEnv: "yes"}
	for k, v := range emu.Env() {
		t.Setenv(k, v)
	}
	t.Setenv("AUDIT_BUCKET", a.bucket)
	t.Setenv("AWS_ENDPOINT_URL_KMS", ks.URL)
	return a
}

func listKeys(t *testing.T, api *s3.Client, bucket, prefix string) []string {
	t.Helper()
	out, err := api.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}

func (a *signedArchive) get(t *testing.T, key string) ([]byte, map[string]string) {
	t.Helper()
	out, err := a.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &a.bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b, out.Metadata
}

func (a *signedArchive) put(t *testing.T, key string, body []byte, meta map[string]string) {
	t.Helper()
	_, err := a.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &a.bucket, Key: &key, Body: bytes.NewReader(body), Metadata: meta})
	if err != nil {
		t.Fatal(err)
	}
}

func (a *signedArchive) del(t *testing.T, key string) {
	t.Helper()
	if _, err := a.s3.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &a.bucket, Key: &key}); err != nil {
		t.Fatal(err)
	}
}

type problem struct{ Problem, Key, Detail string }

func problems(t *testing.T, stdout string) []problem {
	t.Helper()
	var ps []problem
	dec := json.NewDecoder(strings.NewReader(stdout))
	for dec.More() {
		var p problem
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("stdout is not JSON lines: %v\n%s", err, stdout)
		}
		if p.Detail == "" {
			t.Errorf("problem without detail: %+v", p)
		}
		ps = append(ps, p)
	}
	return ps
}

// TestVerifyTampering is the tamper table: each tampering of a signed
// archive is reported with its problem name and key, and exits 3; the
// untouched archive verifies (exit 0, nothing on stdout).
func TestVerifyTampering(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, a *signedArchive) (problem, key string)
	}{
		{"untouched", func(t *testing.T, a *signedArchive) (string, string) { return "", "" }},
		{"object replaced with another valid Parquet file", func(t *testing.T, a *signedArchive) (string, string) {
			other, _ := a.get(t, a.keys.Object(a.days[0]))
			a.put(t, a.keys.Object(a.days[1]), other, nil)
			return "object-modified", a.keys.Object(a.days[1])
		}},
		{"manifest deleted", func(t *testing.T, a *signedArchive) (string, string) {
			a.del(t, a.keys.Manifest(a.days[1]))
			return "manifest-missing", a.keys.Manifest(a.days[1])
		}},
		{"stray copy of an object", func(t *testing.T, a *signedArchive) (string, string) {
			body, _ := a.get(t, a.keys.Object(a.days[0]))
			stray := strings.TrimSuffix(a.keys.Object(a.days[0]), ".parquet") + "-copy.parquet"
			a.put(t, stray, body, nil)
			return "object-unlisted", stray
		}},
		{"digest edited", func(t *testing.T, a *signedArchive) (string, string) {
			body, meta := a.get(t, a.digests[1])
			edited := bytes.Replace(body, []byte(`"sha256": "`), []byte(`"sha256": "0`), 1)
			if bytes.Equal(edited, body) {
				t.Fatal("nothing to edit")
			}
			a.put(t, a.digests[1], edited, meta)
			return "digest-modified", a.digests[1]
		}},
		{"digest removed from the middle of the chain", func(t *testing.T, a *signedArchive) (string, string) {
			a.del(t, a.digests[1])
			return "digest-missing", a.digests[1]
		}},
		{"signature made with another key", func(t *testing.T, a *signedArchive) (string, string) {
			body, meta := a.get(t, a.digests[2])
			other := a.kmsServer.SigningKey(t)
			sum := sha256.Sum256(body)
			sig, err := a.kms.Sign(context.Background(), &kms.SignInput{KeyId: &other, Message: sum[:],
				MessageType: kmstypes.MessageTypeDigest, SigningAlgorithm: kmstypes.SigningAlgorithmSpecEcdsaSha256})
			if err != nil {
				t.Fatal(err)
			}
			meta[digest.MetaSignature] = base64.StdEncoding.EncodeToString(sig.Signature)
			meta[digest.MetaKeyID] = other
			a.put(t, a.digests[2], body, meta)
			return "signature-invalid", a.digests[2]
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newSignedArchive(t)
			want, key := tc.tamper(t, a)
			stdout, stderr, code := run(t, a.env, "verify", "--public-key", a.pubFile)
			ps := problems(t, stdout)
			if want == "" {
				if code != 0 || len(ps) != 0 {
					t.Fatalf("exit %d, problems %+v\n%s", code, ps, stderr)
				}
				if !strings.Contains(stderr, "3 digests") || !strings.Contains(stderr, "verified") {
					t.Errorf("summary: %s", stderr)
				}
				return
			}
			if code != 3 {
				t.Errorf("exit %d; want 3\n%s", code, stderr)
			}
			found := false
			for _, p := range ps {
				found = found || (p.Problem == want && p.Key == key)
			}
			if !found {
				t.Errorf("no %s for %s in %+v\n%s", want, key, ps, stderr)
			}
			t.Logf("%s -> %+v", tc.name, ps)
		})
	}
}

// TestVerifyKMSKey: the public key fetched with kms:GetPublicKey (through
// AWS_ENDPOINT_URL_KMS) checks the signatures as the file does; a key that
// did not sign them finds every digest's signature invalid.
func TestVerifyKMSKey(t *testing.T) {
	a := newSignedArchive(t)
	if stdout, stderr, code := run(t, a.env, "verify", "--kms-key", a.keyID); code != 0 || stdout != "" {
		t.Fatalf("exit %d, %s\n%s", code, stdout, stderr)
	}
	other := a.kmsServer.SigningKey(t)
	stdout, stderr, code := run(t, a.env, "verify", "--kms-key", other)
	ps := problems(t, stdout)
	if code != 3 || len(ps) != 3 {
		t.Fatalf("exit %d, %+v\n%s", code, ps, stderr)
	}
	for _, p := range ps {
		if p.Problem != "signature-invalid" {
			t.Errorf("%+v", p)
		}
	}
}

// TestVerifyExitCodes: an S3 error (a bucket that is not there) exits 1,
// "could not check"; bad flags exit 2; a range verifies its days only.
func TestVerifyExitCodes(t *testing.T) {
	a := newSignedArchive(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--from", "2026-11-23"}, 2, "both --from and --to"},
		{[]string{"--from", "2026-11-23", "--to", "23/11/2026"}, 2, "--to"},
		{[]string{"--from", "2026-11-24", "--to", "2026-11-24"}, 2, "not after"},
		{[]string{"--public-key", "/no/such/key.pem"}, 2, "--public-key"},
		{[]string{"extra"}, 2, "argument"},
		{[]string{"--from", a.days[1].Start.Format(time.DateOnly), "--to", a.days[2].Start.Format(time.DateOnly)}, 0, "1 slots expected"},
	} {
		_, stderr, code := run(t, a.env, append([]string{"verify"}, tc.args...)...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("verify %v: exit %d, %s; want %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
	t.Setenv("AUDIT_BUCKET", "no-such-bucket-here")
	stdout, stderr, code := run(t, a.env, "verify")
	if code != 1 || stdout != "" || !strings.Contains(stderr, "could not check") {
		t.Errorf("missing bucket: exit %d, %q, %s; want 1", code, stdout, stderr)
	}
}
