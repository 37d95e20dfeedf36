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
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/session-audit/session-audit/internal/app"
	"github.com/session-audit/session-audit/internal/awsclients"
	appconfig "github.com/session-audit/session-audit/internal/config"
	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/export"
	"github.com/session-audit/session-audit/internal/handler"
	"github.com/session-audit/session-audit/internal/ssmfake"
	"github.com/session-audit/session-audit/internal/store"
	"github.com/session-audit/session-audit/internal/summary"
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
            (two weeks of synthetic sessions; files under --out)
  run       send one event through the handler (default: a scheduled run now)
  backfill  export every slot of [--start, --end), slot by slot; resumable:
            slots that already have a manifest are skipped unless --force
  lookup    look one session up by id (History, then Active); writes nothing
  emulate   start the SSM emulator and the S3 server on local ports and print
            the environment that points the function at them
  help      print this help

Without --local, run, backfill and lookup use real AWS through the SDK's
default chain (AWS_REGION, AWS_PROFILE, credentials, AWS_ENDPOINT_URL_*) and
the AUDIT_* variables (AUDIT_BUCKET is required). With --local they start
the emulators in-process and keep the bucket's objects under --out.

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

// Main runs the command line and returns the exit code: 0 on success, 1 when
// the work failed, 2 for a usage error.
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
	default:
		fmt.Fprintf(stderr, "session-audit: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "session-audit %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "session-audit %s: %v\n", args[0], err)
		return 1
	}
}

type usageError struct{ error }

type cmd struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	clock          func() time.Time
}

// now is the CLI's clock, in UTC.
func (c *cmd) now() time.Time { return c.clock().UTC() }

func (c *cmd) flags(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "Usage: session-audit %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

func (c *cmd) parse(fs *flag.FlagSet, args []string, positional int) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() != positional {
		fs.Usage()
		return usageError{fmt.Errorf("want %d argument(s), got %d", positional, fs.NArg())}
	}
	return nil
}

// progress is the logger of the CLI: one text line per slot on stderr.
func (c *cmd) progress() *slog.Logger {
	return slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// localFlags are the flags of the emulated environment.
type localFlags struct {
	local    *bool
	account  *string
	out      *string
	days     *int
	sessions *int
}

func addLocal(fs *flag.FlagSet, withSwitch bool) localFlags {
	lf := localFlags{
		out:      fs.String("out", "out", "folder the emulated S3 keeps its objects in (as <bucket>/<key>)"),
		days:     fs.Int("days", 14, "days of synthetic session history the SSM emulator is seeded with"),
		sessions: fs.Int("sessions", 20000, "number of synthetic sessions"),
	}
	if withSwitch {
		lf.local = fs.Bool("local", false, "use the built-in emulators instead of AWS")
		lf.account = fs.String("account", "", "account id written to the rows and keys (default: STS GetCallerIdentity; 123456789012 with --local)")
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

func (c *cmd) target(ctx context.Context, lf localFlags, local bool, env map[string]string) (*target, error) {
	getenv := c.getenv
	if local {
		if *lf.days < 1 || *lf.days > 30 || *lf.sessions < 0 {
			return nil, usageError{errors.New("--days must be 1 to 30 and --sessions not negative")}
		}
		now := c.now()
		fake := ssmfake.New(ssmfake.WithSessions(ssmfake.Generate(1, now.Add(-time.Duration(*lf.days)*24*time.Hour), now, *lf.sessions)))
		emu, err := emulators.Start(emulators.Options{Dir: *lf.out, Bucket: LocalBucket, SSM: fake})
		if err != nil {
			return nil, err
		}
		vars := emu.Env()
		for k, v := range env {
			vars[k] = v
		}
		getenv = func(k string) string {
			if v, ok := vars[k]; ok && (k == "AUDIT_BUCKET" || k == "AUDIT_S3_PATH_STYLE" || env[k] != "" || c.getenv(k) == "") {
				return v
			}
			return c.getenv(k)
		}
		cfg, err := appconfig.Load(getenv)
		if err != nil {
			emu.Close()
			return nil, fmt.Errorf("configuration: %w", err)
		}
		clients := emu.Clients()
		account := localAccount
		if lf.account != nil && *lf.account != "" {
			account = *lf.account
		}
		return &target{h: app.Wire(cfg, clients, c.progress(), c.clock), cfg: cfg, clients: clients, account: account, close: func() { emu.Close() }}, nil
	}
	cfg, err := appconfig.Load(getenv)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	clients, err := awsclients.New(ctx, getenv, cfg.PathStyle)
	if err != nil {
		return nil, err
	}
	account := ""
	if lf.account != nil {
		account = *lf.account
	}
	if account == "" {
		if account, err = callerAccount(ctx); err != nil {
			return nil, err
		}
	}
	return &target{h: app.Wire(cfg, clients, c.progress(), c.clock), cfg: cfg, clients: clients, account: account, close: func() {}}, nil
}

// callerAccount asks STS which account the CLI's credentials belong to; the
// Lambda function itself reads it from its ARN instead.
func callerAccount(ctx context.Context) (string, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return "", fmt.Errorf("load AWS configuration: %w", err)
	}
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", fmt.Errorf("get caller identity: %w", err)
	}
	return *out.Account, nil
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
	fs := c.flags("demo", "demo [--out DIR] [--days N] [--sessions N]")
	lf := addLocal(fs, false)
	if err := c.parse(fs, args, 0); err != nil {
		return err
	}
	bucketDir := emulators.BucketDir(*lf.out, LocalBucket)
	if err := os.RemoveAll(bucketDir); err != nil {
		return fmt.Errorf("clear %s: %w", bucketDir, err)
	}
	lookback := fmt.Sprintf("%dh", 24**lf.days)
	t, err := c.target(ctx, lf, true, map[string]string{"AUDIT_LOOKBACK": lookback, "AUDIT_SLOT": "24h"})
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
	s, err := summary.Read(filepath.Join(bucketDir, t.cfg.Prefix, "sessions"), 5)
	if err != nil {
		return err
	}
	s.Print(c.stdout)
	fmt.Fprintf(c.stdout, "\nManifests: %s\n", filepath.Join(bucketDir, t.cfg.Prefix, "manifests"))
	return nil
}

func (c *cmd) run(ctx context.Context, args []string) error {
	fs := c.flags("run", "run [--event FILE] [--local [--out DIR]]")
	eventFile := fs.String("event", "", "event JSON file (default: a scheduled run now; - reads standard input)")
	lf := addLocal(fs, true)
	if err := c.parse(fs, args, 0); err != nil {
		return err
	}
	event := []byte(fmt.Sprintf(`{"time":%q}`, c.now().Format(time.RFC3339)))
	if *eventFile != "" {
		var err error
		if *eventFile == "-" {
			event, err = io.ReadAll(os.Stdin)
		} else {
			event, err = os.ReadFile(*eventFile)
		}
		if err != nil {
			return fmt.Errorf("read event: %w", err)
		}
	}
	t, err := c.target(ctx, lf, *lf.local, nil)
	if err != nil {
		return err
	}
	defer t.close()
	return c.invoke(ctx, t, event)
}

func (c *cmd) backfill(ctx context.Context, args []string) error {
	fs := c.flags("backfill", "backfill --start TIME --end TIME [--force] [--local [--out DIR]]")
	startS := fs.String("start", "", "first slot's start, RFC 3339 on the slot grid (e.g. 2026-11-01T00:00:00Z)")
	endS := fs.String("end", "", "last slot's end, RFC 3339 on the slot grid, not after now")
	force := fs.Bool("force", false, "re-export slots that already have a manifest")
	lf := addLocal(fs, true)
	if err := c.parse(fs, args, 0); err != nil {
		return err
	}
	start, err1 := time.Parse(time.RFC3339, *startS)
	end, err2 := time.Parse(time.RFC3339, *endS)
	if err1 != nil || err2 != nil {
		return usageError{errors.New("--start and --end must be RFC 3339 times such as 2026-11-01T00:00:00Z")}
	}
	t, err := c.target(ctx, lf, *lf.local, nil)
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
	began := time.Now()
	for i, s := range slots {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("interrupted before slot %s; run the same command again to resume: %w", s, err)
		}
		if !*force {
			m, err := store.GetManifest(ctx, t.clients.S3, t.cfg.Bucket, keys.Manifest(s))
			if err != nil {
				return err
			}
			if m != nil {
				fmt.Fprintf(c.stderr, "slot %d/%d %s: already exported (%d rows), skipped\n", i+1, len(slots), s, m.Rows)
				continue
			}
		}
		fmt.Fprintf(c.stderr, "slot %d/%d %s (%s elapsed)\n", i+1, len(slots), s, time.Since(began).Round(time.Second))
		event := fmt.Sprintf(`{"start":%q,"end":%q}`, s.Start.Format(time.RFC3339), s.End.Format(time.RFC3339))
		if err := c.invoke(ctx, t, []byte(event)); err != nil {
			return fmt.Errorf("slot %s: %w; run the same command again to resume", s, err)
		}
	}
	return nil
}

func (c *cmd) lookup(ctx context.Context, args []string) error {
	fs := c.flags("lookup", "lookup [--local] SESSION_ID")
	lf := addLocal(fs, true)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return usageError{errors.New("want one SESSION_ID")}
	}
	t, err := c.target(ctx, lf, *lf.local, nil)
	if err != nil {
		return err
	}
	defer t.close()
	event, _ := json.Marshal(map[string]string{"sessionId": fs.Arg(0)})
	return c.invoke(ctx, t, event)
}

func (c *cmd) emulate(ctx context.Context, args []string) error {
	fs := c.flags("emulate", "emulate [--ssm-addr ADDR] [--s3-addr ADDR] [--out DIR] [--days N] [--sessions N]")
	ssmAddr := fs.String("ssm-addr", "127.0.0.1:4583", "listen address of the SSM emulator (0.0.0.0:4583 to reach it from sam local's container on Linux)")
	s3Addr := fs.String("s3-addr", "127.0.0.1:4572", "listen address of the S3 server")
	from := fs.String("from", "", "start of the synthetic history, RFC 3339 (default: --days before now)")
	latency := fs.Duration("latency", 0, "latency added to every DescribeSessions call (e.g. 20ms)")
	throttle := fs.Float64("throttle-rate", 0, "share of DescribeSessions calls answered with ThrottlingException (0 to 1)")
	rateLimit := fs.Float64("rate-limit", 0, "DescribeSessions calls a second let through, as SSM's account limit does; beyond it ThrottlingException (0: no limit)")
	burst := fs.Int("burst", 5, "calls let through at once on top of --rate-limit (its token bucket's size)")
	lf := addLocal(fs, false)
	if err := c.parse(fs, args, 0); err != nil {
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
	fake := ssmfake.New(ssmfake.WithSessions(ssmfake.Generate(1, start, end, *lf.sessions)),
		ssmfake.WithFaults(ssmfake.Faults{Latency: *latency, ThrottleRate: *throttle, Seed: 1}),
		ssmfake.WithRateLimit(ssmfake.RateLimit{Rate: *rateLimit, Burst: *burst}))
	var span callSpan
	emu, err := emulators.Start(emulators.Options{Dir: *lf.out, Bucket: LocalBucket, SSM: fake, SSMAddr: *ssmAddr, S3Addr: *s3Addr, SSMWrap: span.wrap})
	if err != nil {
		return err
	}
	defer emu.Close()
	env := emu.Env()
	fmt.Fprintf(c.stderr, "SSM emulator on %s (%d sessions from %s to %s), S3 on %s (bucket %s, files under %s)\n",
		emu.SSMURL, *lf.sessions, start.Format(time.RFC3339), end.Format(time.RFC3339), emu.S3URL, LocalBucket, *lf.out)
	fmt.Fprintln(c.stderr, "Point the function or the CLI at them with (Ctrl-C stops the emulators):")
	for _, k := range sortedKeys(env) {
		fmt.Fprintf(c.stdout, "export %s=%s\n", k, env[k])
	}
	fmt.Fprintf(c.stderr, "\nA backfill of the last whole day: {\"start\":%q,\"end\":%q}\n",
		now.Truncate(24*time.Hour).Add(-24*time.Hour).Format(time.RFC3339), now.Truncate(24*time.Hour).Format(time.RFC3339))
	<-ctx.Done()
	answered, throttled := 0, 0
	for _, call := range fake.Calls() {
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
