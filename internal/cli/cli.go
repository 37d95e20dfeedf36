// Package cli is the local command line: it sends events through the very
// handler the Lambda runs, against AWS through the SDK's default chain or
// against the built-in emulators, and starts those emulators for
// `sam local invoke`.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/session-audit/session-audit/internal/app"
	"github.com/session-audit/session-audit/internal/awsclients"
	appconfig "github.com/session-audit/session-audit/internal/config"
	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/export"
	"github.com/session-audit/session-audit/internal/handler"
	"github.com/session-audit/session-audit/internal/nodes"
	"github.com/session-audit/session-audit/internal/ssmfake"
	"github.com/session-audit/session-audit/internal/store"
	"github.com/session-audit/session-audit/internal/stsfake"
	"github.com/session-audit/session-audit/internal/summary"
	"github.com/session-audit/session-audit/internal/window"
)

// LocalBucket is the bucket the emulated S3 holds.
const LocalBucket = "session-audit-local"

// localAccount is the account of the emulated function ARN.
const localAccount = "123456789012"

const usage = `session-audit exports AWS Systems Manager Session Manager history to
Hive-partitioned Parquet on S3, for Athena.

Usage:
  session-audit <command> [flags]

Commands:
  demo      run the main job on the built-in emulators and print a report
            (two weeks of synthetic sessions; files under --out; --clean
            replaces an earlier demo's export there)
  run       send one event through the handler (default: a scheduled run now)
  backfill  export every slot of the last N days (--last N) or of
            [--start, --end), slot by slot; resumable: slots that already
            have a manifest are skipped unless --force
  lookup    look one session up by id (History, then Active); writes nothing;
            exit 1 when it is in neither
  report    the audit report of the local export (Athena emulator) in the
            bucket AUDIT_BUCKET names, else session-audit-local; prints its path
  org       one organization run (Plan, exports, Coverage) and its coverage table
            (with --local: under out/org unless --out says otherwise)
  exceptions check FILE
            validate an exceptions file before uploading it to
            <prefix>/exceptions.yaml (exit 1 when the report would not apply
            an entry, or could not read the file)
  verify    check the archive read-only: objects against manifests, a manifest
            for every slot, the digests' chain and signatures; one JSON line
            per problem (exit 3), 0 when verified, 1 when S3 could not be read
  emulate   start the SSM and STS emulators and the S3 server on local ports
            and print the environment that points the function at them
  help      print this help

Flags may come before or after a command's arguments.

Without --local, run, backfill and lookup use real AWS through the SDK's
default chain (AWS_REGION, AWS_PROFILE, credentials, AWS_ENDPOINT_URL_*) and
the AUDIT_* variables (AUDIT_BUCKET is required). run and backfill take the
account id from --account, else from STS GetCallerIdentity (honouring
AWS_ENDPOINT_URL_STS); lookup writes nothing and needs no account. With
--local they start the emulators in-process and keep the bucket's objects
under --out (the bucket is AUDIT_BUCKET when set, else session-audit-local).

Exit codes: 0 success, 1 the work failed, 2 a usage or configuration error;
verify exits 3 when it found problems.

Run 'session-audit <command> -h' for a command's flags.
`

// Env is what the command line runs with: its output streams, its
// environment and its clock.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// Now is the clock of every time-dependent decision: the default
	// scheduled time, the emulators' seeded history, the horizon checks.
	Now func() time.Time
}

// Main runs the command line and returns the exit code: 0 on success, 1
// when the work failed, 2 for a usage or configuration error (bad flags, a
// bad event file, a bad AUDIT_* or AWS_REGION value).
func Main(args []string, env Env) int {
	stdout, stderr := env.Stdout, env.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	c := &cmd{stdout: stdout, stderr: stderr, getenv: env.Getenv, clock: env.Now}
	var err error
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "demo":
		err = c.demo(ctx, args[1:])
	case "run":
		err = c.run(ctx, args[1:])
	case "backfill":
		err = c.backfill(ctx, args[1:])
	case "lookup":
		err = c.lookup(ctx, args[1:])
	case "emulate":
		err = c.emulate(ctx, args[1:])
	case "report":
		err = c.report(ctx, args[1:])
	case "org":
		err = c.org(ctx, args[1:])
	case "verify":
		err = c.verify(ctx, args[1:])
	case "exceptions":
		err = c.exceptionsCmd(ctx, args[1:])
	default:
		fmt.Fprintf(stderr, "session-audit: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	var ue usageError
	var ce *app.ConfigError
	var pf problemsFound
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &pf):
		return ExitProblems
	case errors.As(err, &ue), errors.As(err, &ce):
		fmt.Fprintf(stderr, "session-audit %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "session-audit %s: %v\n", args[0], err)
		return 1
	}
}

// usageError is a bad flag, argument or event file: exit code 2.
type usageError struct{ error }

type cmd struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	clock          func() time.Time
}

// now is the CLI's clock, in UTC.
func (c *cmd) now() time.Time { return c.clock().UTC() }

// flagSet is a command's flags. The flag package's own output is
// discarded: Main prints a parse error once, and -h prints the usage.
type flagSet struct {
	*flag.FlagSet
	synopsis string
	stderr   io.Writer
}

func (c *cmd) flags(name, synopsis string) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flagSet{FlagSet: fs, synopsis: synopsis, stderr: c.stderr}
}

// usage prints the command's synopsis and flags on stderr.
func (fs *flagSet) usage() {
	fmt.Fprintf(fs.stderr, "Usage: session-audit %s\n\nFlags:\n", fs.synopsis)
	fs.SetOutput(fs.stderr)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// parse parses flags before, between and after the arguments (as most
// command lines do; "--" ends the flags), and wants positional arguments.
// A bad flag is a usage error, printed once by Main with a pointer to -h.
func (c *cmd) parse(fs *flagSet, args []string, positional int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.usage()
				return nil, err
			}
			return nil, usageError{fmt.Errorf("%w (session-audit %s -h lists the flags)", err, fs.Name())}
		}
		rest := fs.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if len(pos) != positional {
		got := "none"
		if len(pos) > 0 {
			got = fmt.Sprintf("%d %q", len(pos), pos)
		}
		return nil, usageError{fmt.Errorf("want %d argument(s), got %s (usage: session-audit %s)", positional, got, fs.synopsis)}
	}
	return pos, nil
}

// logger is the logger of the CLI and of the SDK clients it builds: JSON
// lines on stderr, as the Lambda writes them (one per slot, plus the SDK's
// own warnings).
func (c *cmd) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// localFlags are the flags of the emulated environment.
type localFlags struct {
	local    *bool
	account  *string
	out      *string
	days     *int
	sessions *int
}

func addLocal(fs *flagSet, withSwitch bool) localFlags {
	lf := localFlags{
		out:      fs.String("out", "out", "folder the emulated S3 keeps its objects in (as <bucket>/<key>)"),
		days:     fs.Int("days", 14, "days of synthetic session history the SSM emulator is seeded with"),
		sessions: fs.Int("sessions", 20000, "number of synthetic sessions"),
	}
	if withSwitch {
		lf.local = fs.Bool("local", false, "use the built-in emulators instead of AWS")
		lf.account = fs.String("account", "", "account id written to the rows and keys (default: STS GetCallerIdentity for run and backfill, none for lookup, which makes no STS call; 123456789012 with --local)")
	}
	return lf
}

// target is a handler wired to AWS or to the emulators, and what is needed
// to reach its bucket.
type target struct {
	h       *handler.Handler
	cfg     appconfig.Config
	clients awsclients.Clients
	account string
	close   func()
}

// validLocal checks the flags of the emulated environment.
func validLocal(lf localFlags) error {
	if *lf.days < 1 || *lf.days > 30 || *lf.sessions < 0 {
		return usageError{errors.New("--days must be 1 to 30 and --sessions not negative")}
	}
	return nil
}

// localBucket is the emulated bucket: AUDIT_BUCKET when set (so --local
// honours it, under --out), else LocalBucket.
func (c *cmd) localBucket() string {
	if b := strings.TrimSpace(c.getenv("AUDIT_BUCKET")); b != "" {
		return b
	}
	return LocalBucket
}

// prefix is the key prefix of the local archive: AUDIT_PREFIX, else the
// default.
func (c *cmd) prefix() string {
	if p := strings.TrimSpace(c.getenv("AUDIT_PREFIX")); p != "" {
		return p
	}
	return "ssm-sessions"
}

// accountID is the form of an AWS account id.
var accountID = regexp.MustCompile(`^[0-9]{12}$`)

// needs says what a command needs of its target beyond the handler.
type needs struct {
	// account: the command writes rows and keys, so it needs the account
	// id (--account, else STS GetCallerIdentity; a lookup needs none).
	account bool
	// overrides replace AUDIT_* variables (the demo's slot and lookback).
	overrides map[string]string
	// beforeStart runs once every flag and variable is valid, before the
	// emulators open --out (the demo's --clean).
	beforeStart func() error
}

// target wires the handler through app.Load, the Lambda's own path: the
// AUDIT_* variables are validated first, then the clients are built (the
// SDK's default chain, or the emulators with --local), then AWS_REGION is
// checked. Configuration errors are *app.ConfigError (exit 2).
func (c *cmd) target(ctx context.Context, lf localFlags, local bool, n needs) (*target, error) {
	if lf.account != nil && *lf.account != "" && !accountID.MatchString(*lf.account) {
		return nil, usageError{fmt.Errorf("--account %q is not a 12-digit AWS account id", *lf.account)}
	}
	logger := c.logger()
	if !local {
		if len(n.overrides) > 0 {
			return nil, errors.New("internal error: overrides need --local")
		}
		cfg, clients, err := app.Load(ctx, c.getenv, app.DefaultClients(c.getenv, logger))
		if err != nil {
			return nil, err
		}
		if err := checkCredentials(ctx, clients.Base.Config); err != nil {
			return nil, err
		}
		account := ""
		if lf.account != nil {
			account = *lf.account
		}
		if account == "" && n.account {
			if account, err = callerAccount(ctx, clients.STS); err != nil {
				return nil, err
			}
		}
		return &target{h: app.Wire(cfg, clients, logger, c.clock), cfg: cfg, clients: clients, account: account, close: func() {}}, nil
	}
	if err := validLocal(lf); err != nil {
		return nil, err
	}
	if err := c.checkLocalRegion(); err != nil {
		return nil, err
	}
	bucket := c.localBucket()
	vars := map[string]string{"AUDIT_BUCKET": bucket, "AUDIT_S3_PATH_STYLE": "true"}
	maps.Copy(vars, n.overrides)
	getenv := func(k string) string {
		if v, ok := vars[k]; ok {
			return v
		}
		return c.getenv(k)
	}
	var emu *emulators.Emulators
	start := func(context.Context, bool) (awsclients.Clients, error) {
		if n.beforeStart != nil {
			if err := n.beforeStart(); err != nil {
				return awsclients.Clients{}, err
			}
		}
		// The synthetic history covers the --days whole UTC days before
		// today: every --local command of one day, with the same --days and
		// --sessions, sees the same sessions, so an id the demo printed is
		// there for lookup --local.
		today := c.now().Truncate(24 * time.Hour)
		sessions := ssmfake.Generate(1, today.AddDate(0, 0, -*lf.days), today, *lf.sessions)
		fake := ssmfake.New(ssmfake.WithSessions(sessions))
		var err error
		if emu, err = emulators.Start(emulators.Options{Dir: *lf.out, Bucket: bucket, SSM: fake}); err != nil {
			return awsclients.Clients{}, err
		}
		// The managed nodes the sessions ran on, named and tagged in EC2.
		emu.PutNodes(stsfake.LocalAccount, emulators.Region, ssmfake.NodesFor(1, sessions))
		return emu.Clients(), nil
	}
	cfg, clients, err := app.Load(ctx, getenv, start)
	if err != nil {
		if emu != nil {
			emu.Close()
		}
		return nil, err
	}
	account := localAccount
	if lf.account != nil && *lf.account != "" {
		account = *lf.account
	}
	fmt.Fprintf(c.stderr, "emulated SSM, EC2 and S3 (region %s); bucket %s kept under %s\n", clients.Region, bucket, emulators.BucketDir(*lf.out, bucket))
	return &target{h: app.Wire(cfg, clients, logger, c.clock), cfg: cfg, clients: clients, account: account, close: func() { emu.Close() }}, nil
}

// credentialWays is how the SDK's default chain finds credentials, in the
// order it tries them.
const credentialWays = `no AWS credentials; the SDK looks for them, in this order, in:
  - AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones);
  - the profile AWS_PROFILE names (else "default") in ~/.aws/credentials and ~/.aws/config,
    including an IAM Identity Center (SSO) profile after 'aws sso login --profile NAME';
  - a web identity token (AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN, as on EKS);
  - a container role (ECS, CodeBuild: AWS_CONTAINER_CREDENTIALS_*) or the EC2 instance role.
Or try it on the built-in emulators with --local. The SDK said`

// checkCredentials gets the credentials of the SDK's default chain once,
// before anything is called, so that none found is a configuration error
// naming the ways to supply them rather than the chain's last error.
func checkCredentials(ctx context.Context, cfg aws.Config) error {
	if cfg.Credentials == nil {
		return usageError{errors.New(credentialWays + ": no credentials provider")}
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return usageError{fmt.Errorf("%s: %w", credentialWays, err)}
	}
	return nil
}

// checkLocalRegion refuses with --local the AWS_REGION it would refuse
// without: the emulators answer in their own region, but a malformed
// variable is a mistake either way.
func (c *cmd) checkLocalRegion() error {
	if r := c.getenv("AWS_REGION"); r != "" {
		if err := store.CheckRegion(r); err != nil {
			return &app.ConfigError{Err: fmt.Errorf("AWS_REGION: %w", err)}
		}
	}
	return nil
}

// callerAccount asks STS which account the CLI's credentials belong to,
// with the client built from the same configuration as SSM and S3 (so
// AWS_ENDPOINT_URL_STS is honoured); the Lambda function itself reads it
// from its ARN instead.
func callerAccount(ctx context.Context, api interface {
	GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}) (string, error) {
	out, err := api.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", fmt.Errorf("get caller identity (or give --account): %w", err)
	}
	return aws.ToString(out.Account), nil
}

// invoke sends an event through the handler in a Lambda context naming the
// target's account, and prints the answer as the Lambda would return it.
func (c *cmd) invoke(ctx context.Context, t *target, event []byte) error {
	out, err := c.handle(ctx, t, event)
	if err != nil {
		return err
	}
	body, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	fmt.Fprintln(c.stdout, string(body))
	return nil
}

// handle sends an event through the handler in a Lambda context naming the
// target's account.
func (c *cmd) handle(ctx context.Context, t *target, event []byte) (any, error) {
	arn := fmt.Sprintf("arn:aws:lambda:%s:%s:function:session-audit-cli", t.clients.Region, t.account)
	lctx := lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: fmt.Sprintf("cli-%d", time.Now().UnixNano()), InvokedFunctionArn: arn})
	return t.h.Handle(lctx, event)
}

func (c *cmd) demo(ctx context.Context, args []string) error {
	fs := c.flags("demo", "demo [--out DIR] [--clean] [--days N] [--sessions N]")
	lf := addLocal(fs, false)
	clean := fs.Bool("clean", false, "replace the export an earlier demo left in --out (deletes that folder's bucket, nothing else)")
	if _, err := c.parse(fs, args, 0); err != nil {
		return err
	}
	// Every flag and variable is checked before anything is deleted, and
	// an earlier export is deleted only when --clean asks for it: the demo
	// reads back every file of its bucket, so it needs the bucket empty.
	if err := validLocal(lf); err != nil {
		return err
	}
	bucket := c.localBucket()
	bucketDir := emulators.BucketDir(*lf.out, bucket)
	if !*clean {
		if entries, err := os.ReadDir(bucketDir); err == nil && len(entries) > 0 {
			return usageError{fmt.Errorf("%s holds an earlier export; pass --clean to replace it, or --out to write elsewhere", bucketDir)}
		}
	}
	lookback := fmt.Sprintf("%dh", 24**lf.days)
	t, err := c.target(ctx, lf, true, needs{
		account:   true,
		overrides: map[string]string{"AUDIT_LOOKBACK": lookback, "AUDIT_SLOT": "24h"},
		beforeStart: func() error {
			if !*clean {
				return nil
			}
			if err := os.RemoveAll(bucketDir); err != nil {
				return fmt.Errorf("clear %s: %w", bucketDir, err)
			}
			return nil
		},
	})
	if err != nil {
		return err
	}
	defer t.close()
	began := time.Now()
	now := c.now()
	fmt.Fprintf(c.stderr, "demo: %d synthetic sessions over %d days in the SSM emulator; scheduled run at %s with a %s lookback\n",
		*lf.sessions, *lf.days, now.Format(time.RFC3339), lookback)
	event := fmt.Sprintf(`{"time":%q}`, now.Format(time.RFC3339))
	out, err := c.handle(ctx, t, []byte(event))
	if err != nil {
		return err
	}
	res, ok := out.(export.Result)
	if !ok {
		return fmt.Errorf("unexpected response %T", out)
	}
	fmt.Fprintf(c.stdout, "Scheduled run at %s: %d slots, %d sessions written in %s\n\n",
		now.Format(time.RFC3339), len(res.Slots), res.Rows, time.Since(began).Round(time.Millisecond))
	// The trail of the same sessions, for the report's CloudTrail context.
	today := now.Truncate(24 * time.Hour)
	from := today.AddDate(0, 0, -*lf.days)
	events, files, err := seedTrail(ctx, t.clients.S3, bucket, ssmfake.Generate(1, from, today, *lf.sessions), t.account, from, today)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "Emulated CloudTrail: %d Session Manager events (%d refused) in %d log files under %s\n\n", events, localDenied, files, localTrailLocation(bucket))
	s, err := summary.Read(filepath.Join(bucketDir, t.cfg.Prefix, "sessions"), 5)
	if err != nil {
		return err
	}
	s.Print(c.stdout)
	fmt.Fprintf(c.stdout, "\nManifests: %s\n", filepath.Join(bucketDir, t.cfg.Prefix, "manifests"))
	if n := res.Nodes; n != nil && n.Status == nodes.Written {
		fmt.Fprintf(c.stdout, "Managed nodes (names, platforms, EC2 tags): %d in %s\n", n.Count, filepath.Join(bucketDir, filepath.FromSlash(n.Object)))
	} else if n != nil {
		fmt.Fprintf(c.stdout, "Managed nodes: snapshot %s %s\n", n.Status, n.Error)
	}
	fmt.Fprintf(c.stdout, "\n%s\n", summary.ReportHint)
	return nil
}

// readEvent reads an event file ("-" is standard input) and decodes it, so
// that a bad file is a usage error before anything is loaded or called.
func readEvent(name string) ([]byte, handler.Request, error) {
	var body []byte
	var err error
	if name == "-" {
		body, err = io.ReadAll(os.Stdin)
	} else {
		body, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, handler.Request{}, usageError{fmt.Errorf("read event: %w", err)}
	}
	req, err := handler.Decode(body)
	if err != nil {
		return nil, handler.Request{}, usageError{fmt.Errorf("event %s: %w", name, err)}
	}
	return body, req, nil
}

// checkTimes refuses, as a usage error, an event whose times the export
// would refuse: a scheduled time before the History horizon, a backfill
// range off the grid, outside the horizon or after now.
func checkTimes(req handler.Request, grid window.Grid, now time.Time) error {
	switch req.Kind {
	case handler.KindScheduled:
		if horizon := now.Add(-window.HistoryHorizon); req.Time.Before(horizon) {
			return usageError{fmt.Errorf("scheduled time %s is before the 30-day History horizon (%s)", req.Time.UTC().Format(time.RFC3339), horizon.Format(time.RFC3339))}
		}
	case handler.KindBackfill:
		if _, err := grid.Range(req.Start, req.End, now); err != nil {
			return usageError{err}
		}
	}
	return nil
}

func (c *cmd) run(ctx context.Context, args []string) error {
	fs := c.flags("run", "run [--event FILE] [--account ID] [--local [--out DIR]]")
	eventFile := fs.String("event", "", "event JSON file (default: a scheduled run now; - reads standard input)")
	lf := addLocal(fs, true)
	if _, err := c.parse(fs, args, 0); err != nil {
		return err
	}
	event := []byte(fmt.Sprintf(`{"time":%q}`, c.now().Format(time.RFC3339)))
	req := handler.Request{Kind: handler.KindScheduled, Time: c.now()}
	if *eventFile != "" {
		var err error
		if event, req, err = readEvent(*eventFile); err != nil {
			return err
		}
	}
	t, err := c.target(ctx, lf, *lf.local, needs{account: req.Kind != handler.KindLookup})
	if err != nil {
		return err
	}
	defer t.close()
	if err := checkTimes(req, t.cfg.Grid, c.now()); err != nil {
		return err
	}
	return c.invoke(ctx, t, event)
}

func (c *cmd) backfill(ctx context.Context, args []string) error {
	fs := c.flags("backfill", "backfill (--last N | --start TIME --end TIME) [--force] [--account ID] [--local [--out DIR]]")
	startS := fs.String("start", "", "first slot's start, RFC 3339 on the slot grid (e.g. 2026-11-01T00:00:00Z)")
	endS := fs.String("end", "", "last slot's end, RFC 3339 on the slot grid, not after now")
	var last wholeDays
	fs.Var(&last, "last", "instead of --start/--end: the last `N` whole days, up to the start of today (UTC); 1 to 29")
	lastDays := (*int)(&last)
	force := fs.Bool("force", false, "re-export slots that already have a manifest")
	lf := addLocal(fs, true)
	if _, err := c.parse(fs, args, 0); err != nil {
		return err
	}
	var start, end time.Time
	switch {
	case *lastDays != 0 && (*startS != "" || *endS != ""):
		return usageError{errors.New("give --last, or --start and --end, not both")}
	case *lastDays != 0:
		if *lastDays < 1 || *lastDays > 29 {
			return usageError{fmt.Errorf("--last %d: want 1 to 29 days (SSM keeps 30 days of History)", *lastDays)}
		}
		end = c.now().Truncate(24 * time.Hour)
		start = end.AddDate(0, 0, -*lastDays)
	default:
		var err1, err2 error
		start, err1 = time.Parse(time.RFC3339, *startS)
		end, err2 = time.Parse(time.RFC3339, *endS)
		if err1 != nil || err2 != nil {
			return usageError{errors.New("--start and --end must be RFC 3339 times such as 2026-11-01T00:00:00Z (or give --last N)")}
		}
	}
	t, err := c.target(ctx, lf, *lf.local, needs{account: true})
	if err != nil {
		return err
	}
	defer t.close()
	slots, err := t.cfg.Grid.Range(start, end, c.now())
	if err != nil {
		return usageError{err}
	}
	keys, err := store.NewKeys(t.cfg.Prefix, t.account, t.clients.Region)
	if err != nil {
		return err
	}
	log := c.logger()
	// A day whose first export fixed another slot length is exported on
	// that length (docs/ARCHITECTURE.md, "Slot length per day"): skip a slot
	// when every slot of its day's length that it overlaps has a manifest,
	// and export each of those once.
	exp, ok := t.h.Export.(*export.Exporter)
	if !ok {
		return fmt.Errorf("backfill: the handler's exporter is a %T", t.h.Export)
	}
	st, err := exp.State(ctx, export.Target{Account: t.account})
	if err != nil {
		return err
	}
	done := map[time.Time]bool{}
	began := time.Now()
	for i, s := range slots {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("interrupted before slot %s; run the same command again to resume: %w", s, err)
		}
		n := fmt.Sprintf("%d/%d", i+1, len(slots))
		recorded, moved := window.OnRecordedDays([]window.Slot{s}, st.DayLength, c.now())
		for _, m := range moved {
			for _, r := range m.Later {
				log.Info("slot not exported: its day's recorded slot has not ended", "n", n, "slot", r.String(), "recordedSlot", m.Recorded.String())
			}
		}
		skip := true
		for _, r := range recorded {
			if done[r.Start] {
				continue
			}
			if *force {
				skip = false
				break
			}
			m, err := store.GetManifest(ctx, t.clients.S3, t.cfg.Bucket, keys.Manifest(r))
			if err != nil {
				return err
			}
			if m == nil {
				skip = false
				break
			}
			log.Info("slot already exported, skipped", "n", n, "slot", r.String(), "rows", m.Rows)
			done[r.Start] = true
		}
		if skip {
			continue
		}
		log.Info("backfill slot", "n", n, "slot", s.String(), "elapsed", time.Since(began).Round(time.Second).String())
		event := fmt.Sprintf(`{"start":%q,"end":%q}`, s.Start.Format(time.RFC3339), s.End.Format(time.RFC3339))
		if err := c.invoke(ctx, t, []byte(event)); err != nil {
			return fmt.Errorf("%w; run the same command again to resume", err)
		}
		for _, r := range recorded {
			done[r.Start] = true
		}
	}
	return nil
}

// wholeDays is a flag that counts whole days, given as a bare number.
type wholeDays int

func (d *wholeDays) String() string { return strconv.Itoa(int(*d)) }

func (d *wholeDays) Set(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil {
		return errors.New("want a whole number of days, such as --last 7")
	}
	*d = wholeDays(n)
	return nil
}

func (c *cmd) lookup(ctx context.Context, args []string) error {
	fs := c.flags("lookup", "lookup [--account ID] [--local [--out DIR]] SESSION_ID")
	lf := addLocal(fs, true)
	pos, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	id := pos[0]
	event, err := json.Marshal(map[string]string{"sessionId": id})
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	if _, err := handler.Decode(event); err != nil {
		return usageError{err}
	}
	// A lookup writes nothing, so it needs no account: no STS call, unless
	// the session is not found and the error names where it looked.
	t, err := c.target(ctx, lf, *lf.local, needs{})
	if err != nil {
		return err
	}
	defer t.close()
	out, err := c.handle(ctx, t, event)
	if err != nil {
		return err
	}
	res, ok := out.(handler.LookupResponse)
	if !ok {
		return fmt.Errorf("unexpected response %T", out)
	}
	if res.Status != "" {
		return fmt.Errorf("lookup %s in account %s, region %s: %s: %s", id, c.lookedIn(ctx, t, res.Account), res.Region, res.Status, res.Error)
	}
	if len(res.Sessions) == 0 {
		return fmt.Errorf("session %s not found in account %s, region %s: neither in History (the last 30 days) nor among the Active sessions",
			id, c.lookedIn(ctx, t, res.Account), res.Region)
	}
	body, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	fmt.Fprintln(c.stdout, string(body))
	return nil
}

// lookedIn names the account a lookup searched: the response's, else the
// one STS says the credentials belong to, else a description.
func (c *cmd) lookedIn(ctx context.Context, t *target, account string) string {
	if account != "" {
		return account
	}
	if t.clients.STS != nil {
		if a, err := callerAccount(ctx, t.clients.STS); err == nil {
			return a
		}
	}
	return "(the account of the current credentials)"
}

func (c *cmd) emulate(ctx context.Context, args []string) error {
	fs := c.flags("emulate", "emulate [--ssm-addr ADDR] [--s3-addr ADDR] [--sts-addr ADDR] [--out DIR] [--days N] [--sessions N]")
	ssmAddr := fs.String("ssm-addr", "127.0.0.1:4583", "listen address of the SSM emulator (0.0.0.0:4583 to reach it from sam local's container on Linux)")
	s3Addr := fs.String("s3-addr", "127.0.0.1:4572", "listen address of the S3 server")
	stsAddr := fs.String("sts-addr", "127.0.0.1:4592", "listen address of the STS emulator (GetCallerIdentity, AssumeRole), so that no command needs --account")
	ec2Addr := fs.String("ec2-addr", "127.0.0.1:4597", "listen address of the EC2 emulator (DescribeInstances: the managed nodes' tags)")
	from := fs.String("from", "", "start of the synthetic history, RFC 3339 (default: --days before now)")
	latency := fs.Duration("latency", 0, "latency added to every DescribeSessions call (e.g. 20ms)")
	throttle := fs.Float64("throttle-rate", 0, "share of DescribeSessions calls answered with ThrottlingException (0 to 1)")
	rateLimit := fs.Float64("rate-limit", 0, "DescribeSessions calls a second let through, as SSM's account limit does; beyond it ThrottlingException (0: no limit)")
	burst := fs.Int("burst", 5, "calls let through at once on top of --rate-limit (its token bucket's size)")
	lf := addLocal(fs, false)
	if _, err := c.parse(fs, args, 0); err != nil {
		return err
	}
	now := c.now()
	start := now.Add(-time.Duration(*lf.days) * 24 * time.Hour)
	end := now
	if *from != "" {
		t, err := time.Parse(time.RFC3339, *from)
		if err != nil {
			return usageError{fmt.Errorf("--from %q is not an RFC 3339 time", *from)}
		}
		start, end = t.UTC(), t.UTC().Add(time.Duration(*lf.days)*24*time.Hour)
	}
	if *throttle < 0 || *throttle > 1 || *latency < 0 {
		return usageError{errors.New("--throttle-rate must be 0 to 1 and --latency not negative")}
	}
	if *rateLimit < 0 || *burst < 1 {
		return usageError{errors.New("--rate-limit must not be negative and --burst at least 1")}
	}
	sessions := ssmfake.Generate(1, start, end, *lf.sessions)
	fake := ssmfake.New(ssmfake.WithSessions(sessions),
		ssmfake.WithFaults(ssmfake.Faults{Latency: *latency, ThrottleRate: *throttle, Seed: 1}),
		ssmfake.WithRateLimit(ssmfake.RateLimit{Rate: *rateLimit, Burst: *burst}))
	var span callSpan
	emu, err := emulators.Start(emulators.Options{Dir: *lf.out, Bucket: LocalBucket, SSM: fake, SSMAddr: *ssmAddr, S3Addr: *s3Addr, STSAddr: *stsAddr, EC2Addr: *ec2Addr, SSMWrap: span.wrap})
	if err != nil {
		return err
	}
	defer emu.Close()
	nodes := ssmfake.NodesFor(1, sessions)
	emu.PutNodes(stsfake.LocalAccount, emulators.Region, nodes)
	env := emu.Env()
	fmt.Fprintf(c.stderr, "SSM emulator on %s (%d sessions from %s to %s, %d managed nodes), S3 on %s (bucket %s, files under %s), STS on %s, EC2 on %s\n",
		emu.SSMURL, *lf.sessions, start.Format(time.RFC3339), end.Format(time.RFC3339), len(nodes), emu.S3URL, LocalBucket, *lf.out, emu.STSURL, emu.EC2URL)
	fmt.Fprintln(c.stderr, "Point the function or the CLI at them with (Ctrl-C stops the emulators):")
	for _, k := range sortedKeys(env) {
		fmt.Fprintf(c.stdout, "export %s=%s\n", k, env[k])
	}
	fmt.Fprintf(c.stderr, "\nA backfill of the last whole day: {\"start\":%q,\"end\":%q}\n",
		now.Truncate(24*time.Hour).Add(-24*time.Hour).Format(time.RFC3339), now.Truncate(24*time.Hour).Format(time.RFC3339))
	<-ctx.Done()
	answered, throttled := 0, 0
	for _, call := range fake.Calls() {
		if call.Operation != "AmazonSSM.DescribeSessions" {
			continue
		}
		switch call.ErrorCode {
		case "":
			answered++
		case "ThrottlingException":
			throttled++
		}
	}
	fmt.Fprintf(c.stderr, "SSM emulator: %d DescribeSessions calls answered, %d throttled, %.3f s from the first call's arrival to the last answer\n",
		answered, throttled, span.seconds())
	return nil
}

// callSpan records when the emulator's first call arrived and its last
// answer left.
type callSpan struct {
	mu          sync.Mutex
	first, last time.Time
}

func (s *callSpan) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		if s.first.IsZero() {
			s.first = time.Now()
		}
		s.mu.Unlock()
		h.ServeHTTP(w, r)
		s.mu.Lock()
		s.last = time.Now()
		s.mu.Unlock()
	})
}

func (s *callSpan) seconds() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last.Sub(s.first).Seconds()
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
