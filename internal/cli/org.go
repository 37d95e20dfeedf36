package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/session-audit/session-audit/internal/app"
	appconfig "github.com/session-audit/session-audit/internal/config"
	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/localmap"
	"github.com/session-audit/session-audit/internal/orgconfig"
	"github.com/session-audit/session-audit/internal/orgfake"
	"github.com/session-audit/session-audit/internal/orgfunc"
	"github.com/session-audit/session-audit/internal/orgrun"
	"github.com/session-audit/session-audit/internal/ssmfake"
	"github.com/session-audit/session-audit/internal/stsfake"
)

// The emulated organization of `org --local`: the local account and three
// members in three regions; one member has no reader role (denied) and one
// has not enabled an opt-in region (region-disabled).
const (
	localMgmtAccount   = "999999999999"
	localOrgListRole   = "session-audit-org-list"
	localMemberRole    = "session-audit-reader"
	localNoRoleAccount = "333333333333"
	localDisabledAcct  = "222222222222"
	localDisabledReg   = "ap-southeast-2"
	localWorkloadsOU   = "ou-wkld-00000001"
	localProdOU        = "ou-wkld-00000002"
)

var (
	localOrgAccounts = []string{localAccount, "111111111111", localDisabledAcct, localNoRoleAccount}
	localOrgRegions  = []string{"us-east-1", "eu-west-1", localDisabledReg}
	// localAccountNames name localOrgAccounts in the emulated organization
	// (the first, the audit account, under the root; the rest under
	// Root/Workloads/Prod).
	localAccountNames = []string{"security-audit", "prod-payments", "prod-web", "prod-legacy"}
)

// org runs one organization run: Plan, the exports with bounded
// concurrency, Coverage; then prints the coverage table.
func (c *cmd) org(ctx context.Context, args []string) error {
	fs := c.flags("org", "org [--event FILE] [--concurrency N] [--local [--out DIR] [--days N] [--sessions N]]")
	eventFile := fs.String("event", "", "state machine input JSON file: {\"time\"} or {\"start\",\"end\"} (default: a scheduled run now)")
	concurrency := fs.Int("concurrency", 4, "targets exported at once")
	lf := addLocal(fs, true)
	// An organization's archive is not the demo's: with --local it has its
	// own default folder, so that `make run` and `make run-org` never
	// write into one bucket.
	*lf.out = localOrgOut
	fs.Lookup("out").DefValue = localOrgOut
	if _, err := c.parse(fs, args, 0); err != nil {
		return err
	}
	if *concurrency < 1 || *concurrency > 256 {
		return usageError{errors.New("--concurrency must be 1 to 256")}
	}
	now := c.now()
	input := []byte(fmt.Sprintf(`{"time":%q}`, now.Format(time.RFC3339)))
	if *eventFile != "" {
		var err error
		if input, err = os.ReadFile(*eventFile); err != nil {
			return usageError{err}
		}
	}
	var (
		r       *orgrun.Runner
		where   string
		cleanup = func() {}
		err     error
	)
	if *lf.local {
		r, where, cleanup, err = c.localOrg(lf)
	} else {
		r, err = c.awsOrg(ctx, lf)
	}
	defer cleanup()
	if err != nil {
		return err
	}
	r.Concurrency = *concurrency
	runID := "cli-" + now.Format("20060102T150405Z")
	fmt.Fprintf(c.stderr, "org: run %s, input %s\n", runID, strings.TrimSpace(string(input)))
	res, runErr := r.Run(ctx, runID, input)
	if res.Records == nil && runErr != nil {
		return runErr
	}
	counts := map[string]int{}
	for _, rec := range res.Records {
		counts[rec.Status]++
	}
	fmt.Fprintf(c.stdout, "Organization run %s at %s: %d targets: %d exported, %d denied, %d region-disabled, %d failed\n\n",
		runID, res.Plan.RunTime, len(res.Records), counts["exported"], counts["denied"], counts["region-disabled"], counts["failed"])
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tREGION\tSTATUS\tSLOTS\tROWS\tERROR")
	for _, rec := range res.Records {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", rec.AccountID, rec.Region, rec.Status, rec.Slots, rec.Rows, rec.Error)
	}
	tw.Flush()
	if where != "" {
		fmt.Fprintf(c.stdout, "\nCoverage: %s\n", filepath.Join(where, filepath.FromSlash(res.Coverage.Key)))
		// The period of the slots a scheduled run exports (the default 48h
		// lookback) up to the run, whose coverage records it then holds.
		to := now.Truncate(time.Second)
		fmt.Fprintf(c.stdout, "Its report, with this run's coverage: session-audit report --out %s --from %s --to %s\n",
			*lf.out, to.Truncate(24*time.Hour).AddDate(0, 0, -2).Format(time.DateOnly), to.Format(time.RFC3339))
	} else {
		fmt.Fprintf(c.stdout, "\nCoverage: s3://%s/%s\n", r.Bucket, res.Coverage.Key)
	}
	return runErr
}

// localOrg starts the emulators of an organization (SSM, STS, S3 and
// Organizations) and wires both functions to them with real SDK clients.
func (c *cmd) localOrg(lf localFlags) (*orgrun.Runner, string, func(), error) {
	if err := validLocal(lf); err != nil {
		return nil, "", func() {}, err
	}
	if err := c.checkLocalRegion(); err != nil {
		return nil, "", func() {}, err
	}
	bucket := c.localBucket()
	bucketDir := emulators.BucketDir(*lf.out, bucket)
	if err := notSingleAccount(bucketDir, c.prefix()); err != nil {
		return nil, "", func() {}, err
	}
	// The history covers the --days whole UTC days before today, as for
	// the other --local commands: a second run on the same day sees the
	// same sessions.
	today := c.now().Truncate(24 * time.Hour)
	fake := ssmfake.New()
	type fleet struct {
		account, region string
		nodes           []ssmfake.Node
	}
	var fleets []fleet
	perTarget := max(*lf.sessions/(len(localOrgAccounts)*len(localOrgRegions)), 1)
	seed := int64(1)
	for _, a := range localOrgAccounts {
		for _, reg := range localOrgRegions {
			ss := ssmfake.Generate(seed, today.AddDate(0, 0, -*lf.days), today, perTarget)
			fake.Target(a, reg).Put(ss...)
			fleets = append(fleets, fleet{a, reg, ssmfake.NodesFor(seed, ss)})
			seed++
		}
	}
	fake.DisableRegion(localDisabledAcct, localDisabledReg)
	stsEmu := stsfake.New()
	stsEmu.AllowRole(localMgmtAccount, stsfake.Role{Name: localOrgListRole})
	for _, a := range localOrgAccounts[1:] {
		if a != localNoRoleAccount {
			stsEmu.AllowRole(a, stsfake.Role{Name: localMemberRole})
		}
	}
	org := orgfake.New(orgfake.WithManagementAccount(localMgmtAccount))
	org.AddNamedOU(localWorkloadsOU, "Workloads", "")
	org.AddNamedOU(localProdOU, "Prod", localWorkloadsOU)
	for i, a := range localOrgAccounts {
		acct := orgfake.Account{ID: a, Name: localAccountNames[i%len(localAccountNames)]}
		if i > 0 {
			acct.Parent = localProdOU
		}
		org.Add(acct)
	}
	emu, err := emulators.Start(emulators.Options{Dir: *lf.out, Bucket: bucket, SSM: fake, STS: stsEmu})
	if err != nil {
		return nil, "", func() {}, err
	}
	for _, f := range fleets {
		emu.PutNodes(f.account, f.region, f.nodes)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		emu.Close()
		return nil, "", func() {}, fmt.Errorf("organizations emulator: %w", err)
	}
	orgSrv := &http.Server{Handler: org, ReadHeaderTimeout: 10 * time.Second}
	go orgSrv.Serve(ln) //nolint:errcheck // ends with Close
	cleanup := func() { orgSrv.Close(); emu.Close() }

	env := emu.Env()
	vars := map[string]string{
		"AUDIT_BUCKET": bucket, "AUDIT_S3_PATH_STYLE": "true", "AUDIT_MEMBER_ROLE": localMemberRole, "AUDIT_PREFIX": c.prefix(),
		"AUDIT_REGIONS":      strings.Join(localOrgRegions, ","),
		"AUDIT_ORG_ROLE_ARN": "arn:aws:iam::" + localMgmtAccount + ":role/" + localOrgListRole,
	}
	getenv := func(k string) string { return vars[k] }
	// As in the stack's org mode: the exporter writes no digest; Coverage
	// writes the run's one.
	cfg, err := appconfig.Load(func(k string) string {
		if k == "AUDIT_DIGESTS" {
			return "off"
		}
		return vars[k]
	})
	if err != nil {
		cleanup()
		return nil, "", func() {}, fmt.Errorf("configuration: %w", err)
	}
	ocfg, err := orgconfig.Load(getenv)
	if err != nil {
		cleanup()
		return nil, "", func() {}, fmt.Errorf("configuration: %w", err)
	}
	clients := emu.Clients()
	base := aws.Config{Region: env["AWS_REGION"], Credentials: credentials.NewStaticCredentialsProvider(emulators.AccessKey, emulators.SecretKey, ""),
		HTTPClient: ssmfake.HTTPClient()}
	stsClient := sts.NewFromConfig(base, func(o *sts.Options) { o.BaseEndpoint = aws.String(emu.STSURL) })
	orgClient := orgfunc.OrganizationsClient(base, stsClient, ocfg.OrgRoleARN, func(o *organizations.Options) {
		o.BaseEndpoint = aws.String("http://" + ln.Addr().String())
	})
	quiet := c.logger()
	h := orgfunc.Wire(ocfg, clients.S3, orgClient, quiet, io.Discard, "session-audit-org-cli", c.clock)
	h.UseDigests(ocfg, clients.S3, nil, localAccount, env["AWS_REGION"], c.clock)
	exporter := app.Wire(cfg, clients, quiet, c.clock)
	fmt.Fprintf(c.stderr, "org: emulated organization of %d accounts x %d regions (%s has no reader role, %s/%s is not enabled); objects under %s\n",
		len(localOrgAccounts), len(localOrgRegions), localNoRoleAccount, localDisabledAcct, localDisabledReg, *lf.out)
	return &orgrun.Runner{
		Org: h, Export: exportInvoke(exporter, localAccount, env["AWS_REGION"]), S3: clients.S3,
		Bucket: bucket, Prefix: cfg.Prefix, Account: localAccount, Region: env["AWS_REGION"], Now: c.clock,
	}, bucketDir, cleanup, nil
}

// localOrgOut is the default --out of org --local.
const localOrgOut = "out/org"

// notSingleAccount refuses to add an organization run to an archive that
// a single-account export (demo, run, backfill) wrote: its one target would
// then hold two exports of different histories.
func notSingleAccount(bucketDir, prefix string) error {
	manifests, err := os.ReadDir(filepath.Join(bucketDir, prefix, "manifests"))
	if err != nil || len(manifests) == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(bucketDir, prefix, "coverage")); err == nil {
		return nil
	}
	return usageError{fmt.Errorf("%s holds a single-account export (demo, run or backfill) and no organization run: an organization run there would mix two archives; give org --local its own --out (its default is %s)", bucketDir, localOrgOut)}
}

// awsOrg wires both functions to AWS through the SDK's default chain and
// the AUDIT_* variables of both (AUDIT_REGIONS, AUDIT_ORG_ROLE_ARN or
// AUDIT_ACCOUNTS, AUDIT_MEMBER_ROLE...).
func (c *cmd) awsOrg(ctx context.Context, lf localFlags) (*orgrun.Runner, error) {
	log := c.logger()
	h, err := orgfunc.New(ctx, c.getenv, log, io.Discard, c.clock)
	if err != nil {
		return nil, err
	}
	cfg, clients, err := app.Load(ctx, c.getenv, app.DefaultClients(c.getenv, log))
	if err != nil {
		return nil, err
	}
	if err := checkCredentials(ctx, clients.Base.Config); err != nil {
		return nil, err
	}
	exporter := app.Wire(cfg, clients, log, c.clock)
	account := *lf.account
	if account == "" {
		if account, err = callerAccount(ctx, clients.STS); err != nil {
			return nil, err
		}
	}
	return &orgrun.Runner{
		Org: h, Export: exportInvoke(exporter, account, clients.Region), S3: clients.S3,
		Bucket: cfg.Bucket, Prefix: cfg.Prefix, Account: account, Region: clients.Region, Now: c.clock,
	}, nil
}

// lambdaHandler is the exporter as the Lambda runtime calls it.
type lambdaHandler interface {
	Invoke(ctx context.Context, payload []byte) ([]byte, error)
}

// exportInvoke hands a child's {"event": ...} to the exporter in a Lambda
// context naming the central account, as the Map's Task does.
func exportInvoke(h lambdaHandler, account, region string) localmap.Invoke {
	arn := fmt.Sprintf("arn:aws:lambda:%s:%s:function:session-audit-cli", region, account)
	return func(ctx context.Context, input []byte) ([]byte, error) {
		event, err := localmap.Event(input)
		if err != nil {
			return nil, err
		}
		lctx := lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: fmt.Sprintf("cli-%d", time.Now().UnixNano()), InvokedFunctionArn: arn})
		return h.Invoke(lctx, event)
	}
}
