//go:build cgo

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/session-audit/session-audit/internal/athenafake"
	"github.com/session-audit/session-audit/internal/auditreport"
	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/ssmfake"
)

// Local names of the Athena emulator's workgroup and Glue database.
const (
	localWorkGroup = "session-audit-local"
	localDatabase  = "session_audit"
)

// report makes the audit report of the local export (running the demo
// export first when --out has none) through the Athena emulator and the
// very code the report function runs, and prints the path of report.html.
func (c *cmd) report(ctx context.Context, args []string) error {
	fs := c.flags("report", "report [--out DIR] [--kind weekly|monthly] [--from TIME --to TIME]")
	lf := addLocal(fs, false)
	kind := fs.String("kind", auditreport.Weekly, "weekly (the last whole week) or monthly (the last whole month) before now")
	fromS := fs.String("from", "", "custom period start, RFC 3339 UTC (with --to)")
	toS := fs.String("to", "", "custom period end, RFC 3339 UTC (with --from)")
	serve := fs.Bool("serve", false, "only serve the S3 and Athena emulators over --out, print their endpoints, and wait (for measuring the report apart from them)")
	remote := fs.Bool("remote", false, "use the emulators at AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL_ATHENA (started by --serve) instead of starting them")
	if err := c.parse(fs, args, 0); err != nil {
		return err
	}
	now := c.now()
	event := fmt.Sprintf(`{"report":%q,"time":%q}`, *kind, now.UTC().Format(time.RFC3339))
	switch {
	case *fromS != "" || *toS != "":
		event = fmt.Sprintf(`{"report":{"from":%q,"to":%q}}`, *fromS, *toS)
	case *kind != auditreport.Weekly && *kind != auditreport.Monthly:
		return usageError{errors.New("--kind must be weekly or monthly")}
	}
	prefix := c.getenv("AUDIT_PREFIX")
	if prefix == "" {
		prefix = "ssm-sessions"
	}
	bucketDir := emulators.BucketDir(*lf.out, LocalBucket)
	if *remote {
		return c.remoteReport(ctx, prefix, event)
	}
	if _, err := os.Stat(filepath.Join(bucketDir, prefix, "manifests")); err != nil {
		fmt.Fprintf(c.stderr, "report: no export under %s yet: running the demo export first\n", *lf.out)
		demo := *c
		demo.stdout = io.Discard
		if err := demo.demo(ctx, []string{"--out", *lf.out, "--days", fmt.Sprint(*lf.days), "--sessions", fmt.Sprint(*lf.sessions)}); err != nil {
			return err
		}
	}
	emu, err := emulators.Start(emulators.Options{Dir: *lf.out, Bucket: LocalBucket})
	if err != nil {
		return err
	}
	defer emu.Close()
	s3c := emu.Clients().S3
	fake, err := athenafake.New(athenafake.Options{
		S3: s3c, Bucket: LocalBucket, Database: localDatabase, WorkGroup: localWorkGroup,
		OutputLocation: "s3://" + LocalBucket + "/athena-results/", Dir: filepath.Join(*lf.out, ".athena"),
		Tables: []athenafake.Table{athenafake.SessionsTable(prefix), athenafake.CoverageTable(prefix), athenafake.NodesTable(prefix), athenafake.AccountsTable(prefix)},
		Now:    c.now,
	})
	if err != nil {
		return err
	}
	defer fake.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: fake, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	defer srv.Close()
	if *serve {
		fmt.Fprintf(c.stdout, "AWS_ENDPOINT_URL_S3=%s\nAWS_ENDPOINT_URL_ATHENA=http://%s\n", emu.S3URL, ln.Addr())
		<-ctx.Done()
		return nil
	}

	out, err := c.makeReport(ctx, prefix, event, "http://"+ln.Addr().String(), s3c)
	if err != nil {
		return err
	}
	folder := auditreport.Request{Kind: out.Kind}
	folder.From, _ = time.Parse(time.RFC3339, out.From)
	folder.To, _ = time.Parse(time.RFC3339, out.To)
	page, err := filepath.Abs(filepath.Join(bucketDir, filepath.FromSlash(folder.Folder(prefix)), "report.html"))
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, page)
	return nil
}

// remoteReport makes the report against emulators another process serves.
func (c *cmd) remoteReport(ctx context.Context, prefix, event string) error {
	s3URL, athenaURL := c.getenv("AWS_ENDPOINT_URL_S3"), c.getenv("AWS_ENDPOINT_URL_ATHENA")
	if s3URL == "" || athenaURL == "" {
		return usageError{errors.New("--remote needs AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL_ATHENA (from report --serve)")}
	}
	s3c := s3.New(s3.Options{
		Region: emulators.Region, BaseEndpoint: aws.String(s3URL), UsePathStyle: true, HTTPClient: ssmfake.HTTPClient(),
		Credentials:                credentials.NewStaticCredentialsProvider(emulators.AccessKey, emulators.SecretKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	out, err := c.makeReport(ctx, prefix, event, athenaURL, s3c)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, out.Location+"report.html")
	return nil
}

// makeReport runs the report function's code against the Athena endpoint
// and the S3 client, and says what it found on stderr.
func (c *cmd) makeReport(ctx context.Context, prefix, event, athenaURL string, s3c auditreport.S3API) (*auditreport.Response, error) {
	vars := map[string]string{
		"AUDIT_BUCKET": LocalBucket, "AUDIT_PREFIX": prefix, "AUDIT_ATHENA_WORKGROUP": localWorkGroup,
		"AUDIT_GLUE_DATABASE": localDatabase, "AUDIT_REPORT_TOPIC": "", "AUDIT_SLOT": "24h",
	}
	cfg, err := auditreport.ConfigFromEnv(func(k string) string {
		if v, ok := vars[k]; ok {
			return v
		}
		return c.getenv(k)
	})
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	r := &auditreport.Reporter{
		Config: cfg,
		Athena: athena.New(athena.Options{
			Region: emulators.Region, BaseEndpoint: aws.String(athenaURL),
			Credentials: credentials.NewStaticCredentialsProvider(emulators.AccessKey, emulators.SecretKey, ""),
			HTTPClient:  ssmfake.HTTPClient(),
		}),
		S3: s3c, Now: c.now, Poll: 20 * time.Millisecond,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	}
	began := time.Now()
	out, err := r.Handle(ctx, []byte(event))
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(c.stderr, "report: %s %s to %s, %d sessions, %d Athena queries in %s\n", out.Kind, out.From, out.To, out.Sessions, len(out.Queries), time.Since(began).Round(time.Millisecond))
	for _, f := range auditreport.FindingIDs() {
		if n, ok := out.Findings[f]; ok {
			fmt.Fprintf(c.stderr, "  %-14s %d\n", f, n)
		}
	}
	return out, nil
}
