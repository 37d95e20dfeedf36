package app_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/session-audit/session-audit/internal/app"
	"github.com/session-audit/session-audit/internal/awsclients"
)

func TestNewNamesTheBadVariable(t *testing.T) {
	t.Setenv("AWS_CA_BUNDLE", "")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, "AUDIT_BUCKET"},
		{map[string]string{"AUDIT_BUCKET": "b-1", "AUDIT_SLOT": "5h"}, "AUDIT_SLOT"},
		{map[string]string{"AUDIT_BUCKET": "b-1", "AWS_REGION": "Mars/1"}, "AWS_REGION"},
		{map[string]string{"AUDIT_BUCKET": "b-1", "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": "http://192.0.2.1"}, "AWS_ENDPOINT_URL_S3"},
	} {
		for k, v := range tt.env {
			t.Setenv(k, v)
		}
		_, err := app.New(context.Background(), func(k string) string { return tt.env[k] }, logger, io.Discard, time.Now)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: error %v, want one naming %s", tt.env, err, tt.want)
		}
	}
	t.Setenv("AWS_REGION", "eu-west-1") // the SDK reads the process environment
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	h, err := app.New(context.Background(), func(k string) string {
		return map[string]string{"AUDIT_BUCKET": "b-1", "AWS_REGION": "eu-west-1"}[k]
	}, logger, io.Discard, time.Now)
	if err != nil || h.Region != "eu-west-1" {
		t.Fatalf("valid environment: %v", err)
	}
}

// TestLoadValidatesBeforeBuildingClients: Load is the one path of the
// Lambda and the CLI; a bad AUDIT_* variable stops it before any client is
// built (the CLI's --local would start emulators, the demo clear a folder),
// and a bad region from the clients is named as AWS_REGION.
func TestLoadValidatesBeforeBuildingClients(t *testing.T) {
	built := 0
	clients := func(region string) app.ClientsFunc {
		return func(context.Context, bool) (awsclients.Clients, error) {
			built++
			return awsclients.Clients{Region: region}, nil
		}
	}
	_, _, err := app.Load(context.Background(), func(k string) string { return map[string]string{"AUDIT_BUCKET": "b-1", "AUDIT_LOOKBACK": "5h"}[k] }, clients("us-east-1"))
	var ce *app.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "AUDIT_LOOKBACK") || built != 0 {
		t.Errorf("bad AUDIT_LOOKBACK: %v, clients built %d times; want a ConfigError naming it and none", err, built)
	}
	_, _, err = app.Load(context.Background(), func(k string) string { return map[string]string{"AUDIT_BUCKET": "b-1"}[k] }, clients("US_EAST"))
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "AWS_REGION") {
		t.Errorf("region US_EAST: %v; want a ConfigError naming AWS_REGION", err)
	}
	cfg, c, err := app.Load(context.Background(), func(k string) string { return map[string]string{"AUDIT_BUCKET": "b-1"}[k] }, clients("eu-west-1"))
	if err != nil || cfg.Bucket != "b-1" || c.Region != "eu-west-1" {
		t.Errorf("valid: %+v %+v %v", cfg, c, err)
	}
}
