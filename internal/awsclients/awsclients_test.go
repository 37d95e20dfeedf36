package awsclients_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"

	"github.com/session-audit/session-audit/internal/awsclients"
)

func TestCheckEndpoint(t *testing.T) {
	for _, ok := range []string{"https://ssm.eu-west-1.amazonaws.com", "http://127.0.0.1:4583", "http://localhost:4572", "http://[::1]:9000", "http://host.docker.internal:4583"} {
		if err := awsclients.CheckEndpoint("AWS_ENDPOINT_URL_SSM", ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"http://10.0.0.5:4583", "http://s3.example.com", "ftp://x", "not a url", "127.0.0.1:4583"} {
		err := awsclients.CheckEndpoint("AWS_ENDPOINT_URL_S3", bad)
		if err == nil || !strings.Contains(err.Error(), "AWS_ENDPOINT_URL_S3") {
			t.Errorf("%s: error %v, want one naming the variable", bad, err)
		}
	}
}

func TestNewRefusesPlainHTTPToANetworkHost(t *testing.T) {
	env := map[string]string{"AWS_ENDPOINT_URL_S3": "http://192.0.2.10:9000"}
	_, err := awsclients.New(context.Background(), func(k string) string { return env[k] }, false)
	if err == nil || !strings.Contains(err.Error(), "AWS_ENDPOINT_URL_S3") {
		t.Fatalf("error %v", err)
	}
}

func TestRetryerCountsThrottles(t *testing.T) {
	var n atomic.Int64
	r := awsclients.Retryer(&n)()
	if r.MaxAttempts() != awsclients.MaxAttempts {
		t.Errorf("max attempts %d", r.MaxAttempts())
	}
	throttle := &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
	if !r.IsErrorRetryable(throttle) || r.IsErrorRetryable(errors.New("plain")) {
		t.Error("throttles must be retryable, plain errors not")
	}
	r.IsErrorRetryable(&smithy.GenericAPIError{Code: "ValidationException"})
	if n.Load() != 1 {
		t.Errorf("counted %d throttles, want 1", n.Load())
	}
	var _ aws.RetryerV2 = r.(aws.RetryerV2)
}
