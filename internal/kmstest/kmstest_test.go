package kmstest_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/session-audit/session-audit/internal/kmstest"
)

// TestAsymmetricSigning: through the real SDK client, local-kms creates
// ECC_NIST_P256 and RSA_2048 SIGN_VERIFY keys, signs a SHA-256 digest, and
// hands out a public key (DER SubjectPublicKeyInfo) that verifies the
// signature offline with Go's crypto, and refuses another message.
func TestAsymmetricSigning(t *testing.T) {
	s := kmstest.Start(t)
	ctx := context.Background()
	c := s.Client()
	for _, tc := range []struct {
		spec types.KeySpec
		alg  types.SigningAlgorithmSpec
	}{
		{types.KeySpecEccNistP256, types.SigningAlgorithmSpecEcdsaSha256},
		{types.KeySpecRsa2048, types.SigningAlgorithmSpecRsassaPkcs1V15Sha256},
	} {
		t.Run(string(tc.spec), func(t *testing.T) {
			key, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: tc.spec, KeyUsage: types.KeyUsageTypeSignVerify})
			if err != nil {
				t.Fatal(err)
			}
			id := key.KeyMetadata.KeyId
			msg := sha256.Sum256([]byte("digest body"))
			sig, err := c.Sign(ctx, &kms.SignInput{KeyId: id, Message: msg[:], MessageType: types.MessageTypeDigest, SigningAlgorithm: tc.alg})
			if err != nil {
				t.Fatal(err)
			}
			pub, err := c.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: id})
			if err != nil {
				t.Fatal(err)
			}
			if pub.KeyUsage != types.KeyUsageTypeSignVerify {
				t.Errorf("public key usage %q", pub.KeyUsage)
			}
			pk, err := x509.ParsePKIXPublicKey(pub.PublicKey)
			if err != nil {
				t.Fatalf("public key is not DER SubjectPublicKeyInfo: %v", err)
			}
			other := sha256.Sum256([]byte("another body"))
			switch k := pk.(type) {
			case *ecdsa.PublicKey:
				if !ecdsa.VerifyASN1(k, msg[:], sig.Signature) {
					t.Error("ECDSA signature does not verify offline")
				}
				if ecdsa.VerifyASN1(k, other[:], sig.Signature) {
					t.Error("ECDSA signature verifies another message")
				}
			case *rsa.PublicKey:
				if err := rsa.VerifyPKCS1v15(k, crypto.SHA256, msg[:], sig.Signature); err != nil {
					t.Errorf("RSA signature does not verify offline: %v", err)
				}
				if rsa.VerifyPKCS1v15(k, crypto.SHA256, other[:], sig.Signature) == nil {
					t.Error("RSA signature verifies another message")
				}
			default:
				t.Fatalf("public key of type %T", pk)
			}
			// KMS's own Verify agrees.
			v, err := c.Verify(ctx, &kms.VerifyInput{KeyId: id, Message: msg[:], MessageType: types.MessageTypeDigest, Signature: sig.Signature, SigningAlgorithm: tc.alg})
			if err != nil || !v.SignatureValid {
				t.Errorf("kms Verify: %v, %v", v, err)
			}
			if aws.ToString(sig.KeyId) == "" {
				t.Error("Sign answered no key id")
			}
		})
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(s.PID, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("pid %d still exists after Stop: %v", s.PID, err)
	}
}
