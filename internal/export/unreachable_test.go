package export_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/johannesboyne/gofakes3"

	"github.com/session-audit/session-audit/internal/awsclients"
	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/export"
	"github.com/session-audit/session-audit/internal/reach"
	"github.com/session-audit/session-audit/internal/window"
)

// countingClient counts the HTTP requests it sends.
type countingClient struct {
	next aws.HTTPClient
	n    *atomic.Int32
}

func (c countingClient) Do(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.Do(r)
}

// closedPort returns the URL of a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	return url
}

// With the SSM endpoint refusing connections, a backfill of three slots
// makes UnreachableAttempts calls, stops at the first slot, reports every
// slot unwritten and names the endpoint; it writes nothing.
func TestBackfillStopsAtAnUnreachableEndpoint(t *testing.T) {
	now := time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)
	emu, err := emulators.Start(emulators.Options{Bucket: "unreachable"})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	endpoint := closedPort(t)
	var requests atomic.Int32
	var throttles atomic.Int64
	ssmClient := ssm.New(ssm.Options{
		Region: emulators.Region, BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(emulators.AccessKey, emulators.SecretKey, ""),
		Retryer:     awsclients.Retryer(&throttles)(),
		HTTPClient:  countingClient{next: awsclients.ReadOnlyBodies(awshttp.NewBuildableClient()), n: &requests},
	})
	grid, err := window.NewGrid(24 * time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	exp := &export.Exporter{
		SSM: ssmClient, S3: emu.Clients().S3, Bucket: "unreachable", Prefix: "p", Region: emulators.Region,
		Grid: grid, Streams: 4, Now: func() time.Time { return now },
		Log: slog.New(slog.DiscardHandler),
	}
	start := time.Date(2026, 11, 17, 0, 0, 0, 0, time.UTC)
	res, err := exp.Backfill(context.Background(), export.Target{Account: "123456789012"}, start, start.Add(72*time.Hour))

	var se *export.SlotsError
	if !errors.As(err, &se) {
		t.Fatalf("error %v, want a *export.SlotsError", err)
	}
	if len(se.Unwritten) != 3 || len(res.Slots) != 0 {
		t.Errorf("%d slots unwritten and %d written, want 3 and 0", len(se.Unwritten), len(res.Slots))
	}
	var re *reach.Error
	if !errors.As(err, &re) {
		t.Fatalf("error %v does not wrap a *reach.Error", err)
	}
	if re.Endpoint != endpoint || re.Attempts != awsclients.UnreachableAttempts {
		t.Errorf("reach.Error for %q after %d attempts, want %q after %d", re.Endpoint, re.Attempts, endpoint, awsclients.UnreachableAttempts)
	}
	if !strings.Contains(err.Error(), "endpoint "+endpoint+" unreachable") {
		t.Errorf("error %q does not name the endpoint", err)
	}
	// Only the first slot's first call was tried: no other slot was started.
	if n := requests.Load(); n != awsclients.UnreachableAttempts {
		t.Errorf("%d requests sent, want %d (one call of the first slot)", n, awsclients.UnreachableAttempts)
	}
	if n := strings.Count(err.Error(), "unreachable ("); n != 1 {
		t.Errorf("the error holds %d unreachable causes, want 1: %s", n, err)
	}
	objs, err := emu.Backend.ListBucket("unreachable", nil, gofakes3.ListBucketPage{})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs.Contents) != 0 {
		t.Errorf("%d objects written", len(objs.Contents))
	}
}
