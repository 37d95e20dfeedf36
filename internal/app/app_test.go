package app_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/session-audit/session-audit/internal/app"
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
