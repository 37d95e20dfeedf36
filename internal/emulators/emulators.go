// Package emulators runs the project's local stand-ins for AWS on loopback
// ports: the SSM emulator (internal/ssmfake), the STS emulator
// (internal/stsfake), the EC2 emulator (internal/ec2fake) and an S3 server
// (gofakes3), in memory or
// keeping objects as files in a folder. The local CLI and the integration
// tests start them from here. Tests can put a real S3 server (MinIO,
// internal/miniotest) in place of gofakes3.
package emulators

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3afero"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/spf13/afero"

	"github.com/session-audit/session-audit/internal/awsclients"
	"github.com/session-audit/session-audit/internal/ec2fake"
	"github.com/session-audit/session-audit/internal/ssmfake"
	"github.com/session-audit/session-audit/internal/stsfake"
)

// Region, AccessKey and SecretKey are what the emulators are reached with.
const (
	Region    = "us-east-1"
	AccessKey = "AKIAEMULATOR"
	SecretKey = "emulator-secret"
)

// Options say where and how the emulators run.
type Options struct {
	// SSMAddr, S3Addr and STSAddr are the listen addresses; empty means a
	// free loopback port.
	SSMAddr, S3Addr, STSAddr, EC2Addr string
	// Dir keeps S3 objects as files under BucketDir(Dir, bucket); empty keeps
	// them in memory.
	Dir string
	// Bucket is created at start.
	Bucket string
	// SSM is the SSM emulator to serve; nil means an empty one.
	SSM *ssmfake.Server
	// S3Wrap, when set, wraps the S3 server's handler (fault injection).
	S3Wrap func(http.Handler) http.Handler
	// SSMWrap, when set, wraps the SSM emulator's handler.
	SSMWrap func(http.Handler) http.Handler
	// STS is the STS emulator to serve; nil means one with no roles.
	STS *stsfake.Server
	// STSWrap, when set, wraps the STS emulator's handler.
	STSWrap func(http.Handler) http.Handler
	// EC2 is the EC2 emulator to serve; nil means one with no instances.
	EC2 *ec2fake.Server
	// EC2Wrap, when set, wraps the EC2 emulator's handler.
	EC2Wrap func(http.Handler) http.Handler
	// MaxBackoff caps the clients' wait between retries; 0 means the
	// production policy's. Tests set a short one.
	MaxBackoff time.Duration
	// S3Upstream, when set, is a real S3 server (such as MinIO) used in
	// place of the in-process one: the bucket is created there, and S3Wrap,
	// if any, runs in a reverse proxy in front of it.
	S3Upstream *Upstream
}

// Upstream is an S3 endpoint and the credentials to reach it with.
type Upstream struct {
	URL                                string
	AccessKey, SecretKey, SessionToken string
}

// BucketDir is the folder that holds a bucket's objects when the emulators
// keep them under dir: each object is the file BucketDir/<key>.
func BucketDir(dir, bucket string) string {
	return filepath.Join(dir, "buckets", bucket)
}

// Emulators are the running servers.
type Emulators struct {
	SSM *ssmfake.Server
	STS *stsfake.Server
	EC2 *ec2fake.Server
	// Backend holds the in-process server's objects; nil with an S3Upstream.
	Backend  gofakes3.Backend
	SSMURL   string
	S3URL    string
	STSURL   string
	EC2URL   string
	Bucket   string
	servers  []*http.Server
	backoff  time.Duration
	upstream *Upstream
}

// Start starts both servers and creates the bucket.
func Start(opts Options) (*Emulators, error) {
	if opts.Bucket == "" {
		return nil, errors.New("emulators: no bucket named")
	}
	e := &Emulators{SSM: opts.SSM, STS: opts.STS, EC2: opts.EC2, Bucket: opts.Bucket, backoff: opts.MaxBackoff}
	if e.backoff <= 0 {
		e.backoff = awsclients.MaxBackoff
	}
	if e.SSM == nil {
		e.SSM = ssmfake.New()
	}
	if e.STS == nil {
		e.STS = stsfake.New()
	}
	if e.EC2 == nil {
		e.EC2 = ec2fake.New()
	}
	if opts.S3Upstream != nil {
		return e.startUpstream(opts)
	}
	if opts.Dir == "" {
		e.Backend = s3mem.New()
	} else {
		if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("emulators: %w", err)
		}
		fs := afero.NewBasePathFs(afero.NewOsFs(), opts.Dir)
		meta := afero.NewBasePathFs(afero.NewOsFs(), filepath.Join(opts.Dir, ".meta"))
		b, err := s3afero.MultiBucket(fs, s3afero.MultiWithMetaFs(meta))
		if err != nil {
			return nil, fmt.Errorf("emulators: s3 backend in %s: %w", opts.Dir, err)
		}
		e.Backend = b
	}
	if ok, _ := e.Backend.BucketExists(opts.Bucket); !ok {
		if err := e.Backend.CreateBucket(opts.Bucket); err != nil {
			return nil, fmt.Errorf("emulators: create bucket %s: %w", opts.Bucket, err)
		}
	}
	fake := gofakes3.New(e.Backend, gofakes3.WithLogger(gofakes3.DiscardLog()), gofakes3.WithTimeSkewLimit(0))
	var s3h http.Handler = fake.Server()
	if opts.S3Wrap != nil {
		s3h = opts.S3Wrap(s3h)
	}
	if err := e.serveEmulated(opts); err != nil {
		return nil, err
	}
	var err error
	if e.S3URL, err = e.serve(opts.S3Addr, s3h); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// serveEmulated serves the SSM and STS emulators.
func (e *Emulators) serveEmulated(opts Options) error {
	var ssmh http.Handler = e.SSM
	if opts.SSMWrap != nil {
		ssmh = opts.SSMWrap(ssmh)
	}
	var err error
	if e.SSMURL, err = e.serve(opts.SSMAddr, ssmh); err != nil {
		return err
	}
	var stsh http.Handler = e.STS
	if opts.STSWrap != nil {
		stsh = opts.STSWrap(stsh)
	}
	if e.STSURL, err = e.serve(opts.STSAddr, stsh); err != nil {
		e.Close()
		return err
	}
	var ec2h http.Handler = e.EC2
	if opts.EC2Wrap != nil {
		ec2h = opts.EC2Wrap(ec2h)
	}
	if e.EC2URL, err = e.serve(opts.EC2Addr, ec2h); err != nil {
		e.Close()
		return err
	}
	return nil
}

// startUpstream serves the SSM and STS emulators and uses the upstream S3
// server: directly, or through a reverse proxy running S3Wrap. The proxy
// keeps the Host header the client signed, so the server checks every
// signature.
func (e *Emulators) startUpstream(opts Options) (*Emulators, error) {
	up := *opts.S3Upstream
	target, err := url.Parse(up.URL)
	if err != nil || target.Host == "" {
		return nil, fmt.Errorf("emulators: S3 upstream %q is not an absolute URL", up.URL)
	}
	e.upstream = &up
	if err := e.serveEmulated(opts); err != nil {
		return nil, err
	}
	e.S3URL = up.URL
	if opts.S3Wrap != nil || opts.S3Addr != "" {
		proxy := httputil.NewSingleHostReverseProxy(target)
		// 502 without the default handler's log line: a request whose
		// client gave up (the deadline tests) is expected here.
		proxy.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprintf(w, "proxy to %s: %v", up.URL, err)
		}
		var h http.Handler = proxy
		if opts.S3Wrap != nil {
			h = opts.S3Wrap(h)
		}
		if e.S3URL, err = e.serve(opts.S3Addr, h); err != nil {
			e.Close()
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = e.Clients().S3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(opts.Bucket)})
	var owned *s3types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		e.Close()
		return nil, fmt.Errorf("emulators: create bucket %s at %s: %w", opts.Bucket, up.URL, err)
	}
	return e, nil
}

func (e *Emulators) serve(addr string, h http.Handler) (string, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("emulators: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	e.servers = append(e.servers, srv)
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	return "http://" + ln.Addr().String(), nil
}

// Close stops the servers.
func (e *Emulators) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var errs []error
	for _, s := range e.servers {
		if err := s.Shutdown(ctx); err != nil {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}

// Env is the environment that points the function (or the SDK's default
// chain) at the emulators.
func (e *Emulators) Env() map[string]string {
	if e.upstream != nil {
		// A real S3 server gets what AWS would: the SDK's default checksums.
		return map[string]string{
			"AWS_REGION":            Region,
			"AWS_ACCESS_KEY_ID":     e.upstream.AccessKey,
			"AWS_SECRET_ACCESS_KEY": e.upstream.SecretKey,
			"AWS_SESSION_TOKEN":     e.upstream.SessionToken,
			"AWS_ENDPOINT_URL_SSM":  e.SSMURL,
			"AWS_ENDPOINT_URL_S3":   e.S3URL,
			"AWS_ENDPOINT_URL_STS":  e.STSURL,
			"AWS_ENDPOINT_URL_EC2":  e.EC2URL,
			"AUDIT_BUCKET":          e.Bucket,
			"AUDIT_S3_PATH_STYLE":   "true",
		}
	}
	return map[string]string{
		"AWS_REGION":                       Region,
		"AWS_ACCESS_KEY_ID":                AccessKey,
		"AWS_SECRET_ACCESS_KEY":            SecretKey,
		"AWS_ENDPOINT_URL_SSM":             e.SSMURL,
		"AWS_ENDPOINT_URL_S3":              e.S3URL,
		"AWS_ENDPOINT_URL_STS":             e.STSURL,
		"AWS_ENDPOINT_URL_EC2":             e.EC2URL,
		"AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
		"AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
		"AUDIT_BUCKET":                     e.Bucket,
		"AUDIT_S3_PATH_STYLE":              "true",
	}
}

// Clients builds SDK clients for the emulators directly, without the
// default configuration chain (whose AWS_CA_BUNDLE, profiles and endpoints
// from the environment must not leak into tests).
//
// With an S3 upstream the S3 client uses its credentials and the SDK's
// default checksum behaviour (a CRC32 on every upload, as against AWS);
// against the in-process server checksums are sent only when required.
func (e *Emulators) Clients() awsclients.Clients {
	creds := credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, "")
	throttles := new(atomic.Int64)
	retryer := awsclients.RetryerWithBackoff(throttles, e.backoff)
	// The production HTTP client, with its workaround for the SDK's
	// closed-body race (see awsclients.ReadOnlyBodies).
	httpClient := awsclients.ReadOnlyBodies(awshttp.NewBuildableClient())
	base := awsclients.Base{
		Config: aws.Config{Region: Region, Credentials: creds, Retryer: retryer, HTTPClient: httpClient},
		SSM:    []func(*ssm.Options){func(o *ssm.Options) { o.BaseEndpoint = aws.String(e.SSMURL) }},
		STS:    []func(*sts.Options){func(o *sts.Options) { o.BaseEndpoint = aws.String(e.STSURL) }},
		EC2:    []func(*ec2.Options){func(o *ec2.Options) { o.BaseEndpoint = aws.String(e.EC2URL) }},
	}
	s3opts := s3.Options{
		Region: Region, Credentials: creds, BaseEndpoint: aws.String(e.S3URL), UsePathStyle: true,
		HTTPClient:                 httpClient,
		Retryer:                    retryer(),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	if e.upstream != nil {
		s3opts.Credentials = credentials.NewStaticCredentialsProvider(e.upstream.AccessKey, e.upstream.SecretKey, e.upstream.SessionToken)
		s3opts.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenSupported
		s3opts.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenSupported
	}
	return awsclients.Clients{
		Base: base,
		SSM: ssm.New(ssm.Options{
			Region: Region, Credentials: creds, BaseEndpoint: aws.String(e.SSMURL), Retryer: retryer(),
			HTTPClient: httpClient,
		}),
		S3:        s3.New(s3opts),
		Region:    Region,
		Throttles: throttles,
	}
}

// PutNodes gives account's managed nodes in region to the SSM emulator,
// and those that are EC2 instances, with their tags, to the EC2 emulator,
// as AWS holds them: one fleet seen by both services.
func (e *Emulators) PutNodes(account, region string, nodes []ssmfake.Node) {
	e.SSM.PutNodes(account, region, nodes...)
	for _, n := range nodes {
		if n.ResourceType == ssmfake.ResourceEC2Instance {
			e.EC2.Put(account, region, ec2fake.Instance{ID: n.ID, Tags: n.Tags})
		}
	}
}
