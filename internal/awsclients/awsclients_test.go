package awsclients_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/session-audit/session-audit/internal/awsclients"
	"github.com/session-audit/session-audit/internal/reach"
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
	if r.MaxAttempts() != awsclients.MaxThrottledAttempts {
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

// An unreachable endpoint gets UnreachableAttempts quick attempts, then a
// *reach.Error naming it; throttling and 5xx keep the long retries.
func TestRetryerGivesUpQuicklyOnAnUnreachableEndpoint(t *testing.T) {
	r := awsclients.Retryer(new(atomic.Int64))().(aws.RetryerV2)
	refused := &url.Error{Op: "Post", URL: "https://ssm.eu-west-1.amazonaws.com/", Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}
	var total time.Duration
	for attempt := 1; attempt < awsclients.UnreachableAttempts; attempt++ {
		if !r.IsErrorRetryable(refused) {
			t.Fatal("connection refused is not retried")
		}
		d, err := r.RetryDelay(attempt, refused)
		if err != nil {
			t.Fatalf("attempt %d: %v", attempt, err)
		}
		total += d
	}
	if total > 5*time.Second {
		t.Errorf("waits add up to %s, want at most 5s", total)
	}
	_, err := r.RetryDelay(awsclients.UnreachableAttempts, refused)
	var re *reach.Error
	if !errors.As(err, &re) || re.Endpoint != "https://ssm.eu-west-1.amazonaws.com" {
		t.Fatalf("after %d attempts: %v, want a reach.Error naming the endpoint", awsclients.UnreachableAttempts, err)
	}
	for _, e := range []error{
		&smithy.GenericAPIError{Code: "ThrottlingException"},
		&smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 500}}, Err: errors.New("internal")},
	} {
		if !r.IsErrorRetryable(e) {
			t.Errorf("%v is not retried", e)
		}
		if _, err := r.RetryDelay(awsclients.UnreachableAttempts, e); err != nil {
			t.Errorf("%v: attempt %d ends the call: %v", e, awsclients.UnreachableAttempts, err)
		}
	}
	// A first throttle is retried at once (the limiter paces it); a call
	// throttled again backs off, never beyond MaxBackoff.
	throttle := &smithy.GenericAPIError{Code: "ThrottlingException"}
	if d, _ := r.RetryDelay(1, throttle); d != 0 {
		t.Errorf("first throttle waits %s, want 0", d)
	}
	for attempt := 2; attempt < awsclients.MaxThrottledAttempts; attempt++ {
		if d, err := r.RetryDelay(attempt, throttle); err != nil || d < 0 || d > awsclients.MaxBackoff {
			t.Errorf("attempt %d waits %s (%v)", attempt, d, err)
		}
	}
	// Other retryable errors end after MaxAttempts.
	internal := &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 500}}, Err: errors.New("internal")}
	var mae *retry.MaxAttemptsError
	if _, err := r.RetryDelay(awsclients.MaxAttempts, internal); !errors.As(err, &mae) {
		t.Errorf("a 500 at attempt %d: %v, want a MaxAttemptsError", awsclients.MaxAttempts, err)
	}
}

// TestCheckEndpointsNamesTheVariable: the general variable and each named
// service's are checked, and only those.
func TestCheckEndpointsNamesTheVariable(t *testing.T) {
	for name, tc := range map[string]struct {
		env      map[string]string
		services []string
		want     string
	}{
		"general":         {map[string]string{"AWS_ENDPOINT_URL": "http://aws.example.com"}, nil, "AWS_ENDPOINT_URL"},
		"athena":          {map[string]string{"AWS_ENDPOINT_URL_ATHENA": "http://athena.example.com"}, []string{"S3", "ATHENA"}, "AWS_ENDPOINT_URL_ATHENA"},
		"loopback":        {map[string]string{"AWS_ENDPOINT_URL_ATHENA": "http://127.0.0.1:4599"}, []string{"ATHENA"}, ""},
		"another service": {map[string]string{"AWS_ENDPOINT_URL_SSM": "http://ssm.example.com"}, []string{"S3"}, ""},
	} {
		err := awsclients.CheckEndpoints(func(k string) string { return tc.env[k] }, tc.services...)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: error %v; want one naming %q", name, err, tc.want)
		}
	}
}
