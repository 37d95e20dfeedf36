package emulators_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/stsfake"
)

// TestEnvReachesSTS checks that the environment Env prints sends the SDK's
// default chain (as the CLI's GetCallerIdentity uses it) to the STS
// emulator, which answers the local account for the emulators'
// credentials: local runs need no --account.
func TestEnvReachesSTS(t *testing.T) {
	emu, err := emulators.Start(emulators.Options{Bucket: "b"})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	env := emu.Env()
	if env["AWS_ENDPOINT_URL_STS"] != emu.STSURL || emu.STSURL == "" {
		t.Fatalf("Env() AWS_ENDPOINT_URL_STS = %q; the STS emulator is at %q", env["AWS_ENDPOINT_URL_STS"], emu.STSURL)
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	dir := t.TempDir()
	t.Setenv("AWS_CA_BUNDLE", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))

	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Account) != stsfake.LocalAccount {
		t.Errorf("GetCallerIdentity account = %q, want %s", aws.ToString(out.Account), stsfake.LocalAccount)
	}
	if calls := emu.STS.Calls(); len(calls) != 1 || calls[0].Action != "GetCallerIdentity" {
		t.Errorf("STS emulator calls = %+v; want the one GetCallerIdentity", calls)
	}
}
