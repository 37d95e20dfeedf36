//go:build cgo

package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/session-audit/session-audit/internal/app"
	"github.com/session-audit/session-audit/internal/athenafake"
	"github.com/session-audit/session-audit/internal/auditreport"
	"github.com/session-audit/session-audit/internal/cloudtrail"
	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/findings"
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
// The bucket is AUDIT_BUCKET when set, as for the other --local commands;
// an archive with organization coverage records reports its coverage.
func (c *cmd) report(ctx context.Context, args []string) error {
	fs := c.flags("report", "report [--out DIR] [--kind weekly|monthly] [--from DATE --to DATE]")
	lf := addLocal(fs, false)
	kind := fs.String("kind", auditreport.Weekly, "weekly (the last whole week) or monthly (the last whole month) before now")
	fromS := fs.String("from", "", "custom period start (with --to): a `DATE` such as 2026-11-01 (00:00 UTC) or an RFC 3339 time such as 2026-11-01T12:00:00Z")
	toS := fs.String("to", "", "custom period end, not included (with --from): a `DATE` (00:00 UTC) or an RFC 3339 time")
	serve := fs.Bool("serve", false, "only serve the S3 and Athena emulators over --out, print their endpoints, and wait (for measuring the report apart from them)")
	exFile := fs.String("exceptions", "", "upload `FILE` to the local bucket as <prefix>/exceptions.yaml before the report (what aws s3 cp does for the deployed stack); docs/exceptions.example.yaml fits the demo")
	remote := fs.Bool("remote", false, "use the emulators at AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL_ATHENA (started by --serve) instead of starting them")
	if _, err := c.parse(fs, args, 0); err != nil {
		return err
	}
	if err := validLocal(lf); err != nil {
		return err
	}
	now := c.now()
	event, err := reportEvent(*kind, *fromS, *toS, now)
	if err != nil {
		return err
	}
	prefix, bucket := c.prefix(), c.localBucket()
	if *remote {
		return c.remoteReport(ctx, prefix, bucket, event)
	}
	bucketDir := emulators.BucketDir(*lf.out, bucket)
	if _, err := os.Stat(filepath.Join(bucketDir, prefix, "manifests")); err != nil {
		if entries, err := os.ReadDir(bucketDir); err == nil && len(entries) > 0 {
			return usageError{fmt.Errorf("%s holds no export under %s/manifests/: give the --out of an export (demo, backfill --local, org --local), or run demo --out %s --clean to replace what is there", bucketDir, prefix, *lf.out)}
		}
		fmt.Fprintf(c.stderr, "report: no export under %s yet: running the demo export first\n", bucketDir)
		demo := *c
		demo.stdout = io.Discard
		if err := demo.demo(ctx, []string{"--out", *lf.out, "--days", fmt.Sprint(*lf.days), "--sessions", fmt.Sprint(*lf.sessions)}); err != nil {
			return err
		}
	}
	// An organization run leaves coverage records: the report then has its
	// coverage section and the targets not covered.
	coverage := ""
	if _, err := os.Stat(filepath.Join(bucketDir, prefix, "coverage")); err == nil {
		coverage = athenafake.CoverageTable(prefix).Name
	}
	// The demo's emulated trail: the report reads it as CloudTrailLocation.
	tables := athenafake.Tables(prefix)
	trail := ""
	if _, err := os.Stat(filepath.Join(bucketDir, filepath.FromSlash(localTrailPrefix))); err == nil {
		trail = localTrailLocation(bucket)
		loc, err := cloudtrail.ParseLocation(trail)
		if err != nil {
			return err
		}
		tables = append(tables, athenafake.CloudTrailTable(loc))
	}
	cfg, err := c.reportConfig(prefix, bucket, coverage, trail)
	if err != nil {
		return err
	}
	if _, err := auditreport.Decode([]byte(event), cfg.ArchiveStart, now); err != nil {
		return usageError{err}
	}
	emu, err := emulators.Start(emulators.Options{Dir: *lf.out, Bucket: bucket})
	if err != nil {
		return err
	}
	defer emu.Close()
	s3c := emu.Clients().S3
	if *exFile != "" {
		body, err := os.ReadFile(*exFile)
		if err != nil {
			return usageError{fmt.Errorf("--exceptions: %w", err)}
		}
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(prefix + "/" + auditreport.ExceptionsKey), Body: bytes.NewReader(body)}); err != nil {
			return fmt.Errorf("--exceptions: upload %s: %w", *exFile, err)
		}
	}
	fake, err := athenafake.New(athenafake.Options{
		S3: s3c, Bucket: bucket, Database: localDatabase, WorkGroup: localWorkGroup,
		OutputLocation: "s3://" + bucket + "/athena-results/", Dir: filepath.Join(*lf.out, ".athena"),
		Tables: tables,
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

	out, err := c.makeReport(ctx, cfg, event, "http://"+ln.Addr().String(), s3c)
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

// reportEvent is the report function's event for the flags: the last
// whole week or month before now, or the custom period [--from, --to).
func reportEvent(kind, fromS, toS string, now time.Time) (string, error) {
	if fromS == "" && toS == "" {
		if kind != auditreport.Weekly && kind != auditreport.Monthly {
			return "", usageError{errors.New("--kind must be weekly or monthly")}
		}
		return fmt.Sprintf(`{"report":%q,"time":%q}`, kind, now.UTC().Format(time.RFC3339)), nil
	}
	if fromS == "" || toS == "" {
		return "", usageError{errors.New("--from and --to go together: a custom period needs both")}
	}
	from, err := reportTime("from", fromS)
	if err != nil {
		return "", err
	}
	to, err := reportTime("to", toS)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(`{"report":{"from":%q,"to":%q}}`, from.Format(time.RFC3339), to.Format(time.RFC3339)), nil
}

// reportTime reads --from or --to: a date (its 00:00 UTC) or an RFC 3339
// time in whole seconds (any offset, turned into UTC).
func reportTime(name, v string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil && t.Truncate(time.Second).Equal(t) {
		return t.UTC(), nil
	}
	return time.Time{}, usageError{fmt.Errorf("--%s %q: want a date such as 2026-11-01 (00:00 UTC) or an RFC 3339 time in whole seconds such as 2026-11-01T12:00:00Z", name, v)}
}

// remoteReport makes the report against emulators another process serves.
func (c *cmd) remoteReport(ctx context.Context, prefix, bucket, event string) error {
	s3URL, athenaURL := c.getenv("AWS_ENDPOINT_URL_S3"), c.getenv("AWS_ENDPOINT_URL_ATHENA")
	if s3URL == "" || athenaURL == "" {
		return usageError{errors.New("--remote needs AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL_ATHENA (from report --serve)")}
	}
	cfg, err := c.reportConfig(prefix, bucket, c.getenv("AUDIT_COVERAGE_TABLE"), "")
	if err != nil {
		return err
	}
	s3c := s3.New(s3.Options{
		Region: emulators.Region, BaseEndpoint: aws.String(s3URL), UsePathStyle: true, HTTPClient: ssmfake.HTTPClient(),
		Credentials:                credentials.NewStaticCredentialsProvider(emulators.AccessKey, emulators.SecretKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	out, err := c.makeReport(ctx, cfg, event, athenaURL, s3c)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, out.Location+"report.html")
	return nil
}

// reportConfig is the report function's configuration for the local
// archive: the emulators' workgroup and database, the coverage table when
// the archive has coverage records (empty for none), the demo's trail
// when it has one (empty: AUDIT_CLOUDTRAIL_LOCATION from the environment),
// with the demo's office and VPN as the allowed sources unless
// AUDIT_ALLOWED_SOURCE_CIDRS says otherwise, and the other variables
// (thresholds, AUDIT_ARCHIVE_START...) from the environment.
func (c *cmd) reportConfig(prefix, bucket, coverage, trail string) (auditreport.Config, error) {
	vars := map[string]string{
		"AUDIT_BUCKET": bucket, "AUDIT_PREFIX": prefix, "AUDIT_ATHENA_WORKGROUP": localWorkGroup,
		"AUDIT_GLUE_DATABASE": localDatabase, "AUDIT_REPORT_TOPIC": "", "AUDIT_SLOT": "24h",
		"AUDIT_COVERAGE_TABLE": coverage,
	}
	if trail != "" {
		vars[cloudtrail.EnvLocation] = trail
		if c.getenv(findings.EnvAllowedSourceCIDRs) == "" {
			vars[findings.EnvAllowedSourceCIDRs] = localAllowedCIDRs
		}
	}
	cfg, err := auditreport.ConfigFromEnv(func(k string) string {
		if v, ok := vars[k]; ok {
			return v
		}
		return c.getenv(k)
	})
	if err != nil {
		return auditreport.Config{}, &app.ConfigError{Err: err}
	}
	return cfg, nil
}

// makeReport runs the report function's code against the Athena endpoint
// and the S3 client, and says what it found on stderr.
func (c *cmd) makeReport(ctx context.Context, cfg auditreport.Config, event, athenaURL string, s3c auditreport.S3API) (*auditreport.Response, error) {
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
			fmt.Fprintf(c.stderr, "  %-16s %d\n", f, n)
		}
	}
	if len(out.DaysMissing) > 0 {
		fmt.Fprintf(c.stderr, "  days missing from the archive: %s\n", strings.Join(out.DaysMissing, ", "))
	}
	if out.Duplicates > 0 {
		fmt.Fprintf(c.stderr, "  %d sessions are in the table more than once (counted once; see the report's completeness and duplicates.csv)\n", out.Duplicates)
	}
	return out, nil
}
