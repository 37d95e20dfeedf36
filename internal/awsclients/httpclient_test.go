package awsclients_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/middleware"

	"github.com/session-audit/session-audit/internal/awsclients"
	"github.com/session-audit/session-audit/internal/ssmfake"
)

// raceStage orders one request so that it meets the race of
// aws/aws-sdk-go-v2#2737 every time: the server has the whole body and has
// answered, the SDK has closed the request body, and only then does
// net/http make its last copy of the body.
type raceStage struct {
	closed     chan struct{} // the SDK closed the request body
	copied     chan error    // net/http's last copy of the body ended, with its error
	sawWriteTo atomic.Bool   // net/http was handed a body with WriteTo
}

// spyClient sits between ReadOnlyBodies and the SDK's own HTTP client and
// hands net/http a body that holds its last copy until the SDK has closed it.
type spyClient struct {
	next  aws.HTTPClient
	stage func() *raceStage
}

func (c spyClient) Do(r *http.Request) (*http.Response, error) {
	st := c.stage()
	b := &spyBody{r: r.Body, left: r.ContentLength, st: st}
	r2 := r.Clone(r.Context())
	if _, ok := r.Body.(io.WriterTo); ok {
		st.sawWriteTo.Store(true)
		r2.Body = spyWriterTo{b}
	} else {
		r2.Body = b
	}
	return c.next.Do(r2)
}

type spyBody struct {
	r    io.ReadCloser
	left int64
	st   *raceStage
	once sync.Once
}

// hold waits, once the whole body is out, until the SDK has closed it.
func (b *spyBody) hold() bool {
	if b.left > 0 {
		return false
	}
	<-b.st.closed
	return true
}

func (b *spyBody) Read(p []byte) (int, error) {
	last := b.hold()
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if last {
		b.done(err)
	}
	return n, err
}

func (b *spyBody) done(err error) {
	if err == io.EOF {
		err = nil // what io.Copy makes of Read's io.EOF
	}
	b.once.Do(func() { b.st.copied <- err })
}

func (b *spyBody) Close() error { return b.r.Close() }

type spyWriterTo struct{ *spyBody }

func (b spyWriterTo) WriteTo(w io.Writer) (int64, error) {
	last := b.hold()
	n, err := b.r.(io.WriterTo).WriteTo(w)
	b.left -= n
	if last {
		b.done(err)
	}
	return n, err
}

type trackedConn struct {
	net.Conn
	once   sync.Once
	closed chan struct{}
}

func (c *trackedConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// The default path (New) must not lose its connection to the race of
// aws/aws-sdk-go-v2#2737: two uploads whose last copy of the body comes
// after the response share one connection, and the SDK warns of nothing.
// Without ReadOnlyBodies, net/http copies the closed body through WriteTo,
// takes its io.EOF for a write error and closes the connection: the SDK
// then logs "failed to discard remaining HTTP response body ... use of
// closed network connection" and the next call dials again.
func TestDefaultPathSurvivesTheClosedBodyRace(t *testing.T) {
	t.Setenv("AWS_CA_BUNDLE", "")
	answer := bytes.Repeat([]byte("x"), 256<<10) // more than the client's read buffer
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("ETag", `"e"`)
		w.Header().Set("Content-Length", fmt.Sprint(len(answer)))
		_, _ = w.Write(answer)
	}))
	defer srv.Close()

	var cur atomic.Pointer[raceStage]
	connClosed := make(chan struct{})
	var dials atomic.Int32
	inner := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		d := &net.Dialer{}
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			dials.Add(1)
			return &trackedConn{Conn: c, closed: connClosed}, nil
		}
	})
	var warnings []string
	var mu sync.Mutex
	logger := logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		if c == logging.Warn {
			mu.Lock()
			warnings = append(warnings, fmt.Sprintf(format, v...))
			mu.Unlock()
		}
	})
	// After the transport returned (and the SDK closed the request body),
	// let net/http make its last copy, and wait for what it did with it.
	closedBody := middleware.DeserializeMiddlewareFunc("raceStage", func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
		out, md, err := next.HandleDeserialize(ctx, in)
		st := cur.Load()
		close(st.closed)
		select {
		case cerr := <-st.copied:
			if cerr != nil {
				// net/http closes the connection right after: let it.
				select {
				case <-connClosed:
				case <-time.After(5 * time.Second):
				}
			}
		case <-time.After(5 * time.Second):
			t.Error("net/http never made its last copy of the body")
		}
		return out, md, err
	})
	env := map[string]string{"AWS_ENDPOINT_URL_S3": srv.URL}
	clients, err := awsclients.New(context.Background(), func(k string) string { return env[k] }, true,
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")),
		config.WithBaseEndpoint(srv.URL),
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
		config.WithLogger(logger),
		config.WithHTTPClient(spyClient{next: inner, stage: func() *raceStage { return cur.Load() }}),
		config.WithAPIOptions([]func(*middleware.Stack) error{func(s *middleware.Stack) error {
			return s.Deserialize.Add(closedBody, middleware.After)
		}}),
	)
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("b"), 64<<10) // two full copy buffers: the last bytes go straight to the socket
	for i := range 2 {
		st := &raceStage{closed: make(chan struct{}), copied: make(chan error, 1)}
		cur.Store(st)
		_, err := clients.S3.PutObject(context.Background(), &s3.PutObjectInput{
			Bucket: aws.String("b"), Key: aws.String(fmt.Sprint("k", i)), Body: bytes.NewReader(body),
		}, func(o *s3.Options) { o.RetryMaxAttempts = 1 })
		if err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
		if st.sawWriteTo.Load() {
			t.Errorf("upload %d: net/http was handed a request body with WriteTo", i)
		}
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("%d connections dialled for two uploads, want 1 (the first was closed under its response)", n)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, w := range warnings {
		if strings.Contains(w, "closed network connection") || strings.Contains(w, "discard") {
			t.Errorf("SDK warning: %s", w)
		}
	}
}

// Without an HTTP client of its own, New wraps the one each SDK client
// builds (the defaults mode's), and calls go through.
func TestNewWrapsTheSDKsOwnHTTPClient(t *testing.T) {
	t.Setenv("AWS_CA_BUNDLE", "")
	srv := httptest.NewServer(ssmfake.New())
	defer srv.Close()
	env := map[string]string{"AWS_ENDPOINT_URL_SSM": srv.URL}
	clients, err := awsclients.New(context.Background(), func(k string) string { return env[k] }, false,
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")),
		config.WithBaseEndpoint(srv.URL),
	)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := clients.SSM.DescribeSessions(context.Background(), &ssm.DescribeSessionsInput{State: ssmtypes.SessionStateHistory}); err != nil {
		t.Fatal(err)
	}
	h := clients.SSM.Options().HTTPClient
	if awsclients.ReadOnlyBodies(h) != h {
		t.Errorf("the SSM client's HTTP client %T is not wrapped by ReadOnlyBodies", h)
	}
	if h := clients.S3.Options().HTTPClient; awsclients.ReadOnlyBodies(h) != h {
		t.Errorf("the S3 client's HTTP client %T is not wrapped by ReadOnlyBodies", h)
	}
}
