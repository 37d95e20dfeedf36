package nodes_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/session-audit/session-audit/internal/awsclients"
	"github.com/session-audit/session-audit/internal/ec2fake"
	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/nodes"
	"github.com/session-audit/session-audit/internal/parquetcheck"
	"github.com/session-audit/session-audit/internal/ssmfake"
	"github.com/session-audit/session-audit/internal/stsfake"
)

var (
	captured = time.Date(2026, 11, 26, 6, 30, 0, 123_000_000, time.UTC)
	t0       = time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
)

const region = emulators.Region

// fixture is the emulators with the managed nodes of generated sessions'
// targets and extra more instances (the local account's, in the
// emulators' region) and their EC2 instances, all but the first EC2
// instance (terminated since: no tags).
type fixture struct {
	emu   *emulators.Emulators
	nodes []ssmfake.Node
	gone  string
	snap  *nodes.Snapshotter
	ssm   *ssm.Client
	ec2   *ec2.Client
}

func start(t *testing.T, sessions, extra int) *fixture {
	t.Helper()
	ns := ssmfake.NodesFor(3, ssmfake.Generate(3, t0.AddDate(0, 0, -5), t0, sessions))
	// More instances than the sessions reach, so EC2 gets several calls.
	var more []string
	for i := range extra {
		more = append(more, fmt.Sprintf("i-0%016x", 0xe000+i))
	}
	ns = append(ns, ssmfake.GenerateNodes(3, more)...)
	fake := ssmfake.New()
	fake.PutNodes(stsfake.LocalAccount, region, ns...)
	ec := ec2fake.New()
	f := &fixture{nodes: ns}
	for _, n := range ns {
		if n.ResourceType != ssmfake.ResourceEC2Instance {
			continue
		}
		if f.gone == "" {
			f.gone = n.ID
			continue
		}
		ec.Put(stsfake.LocalAccount, region, ec2fake.Instance{ID: n.ID, Tags: n.Tags})
	}
	emu, err := emulators.Start(emulators.Options{Bucket: "audit", SSM: fake, EC2: ec, MaxBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	f.emu = emu
	c := emu.Clients()
	// Three attempts, so that a test can throttle past the retries in a
	// second; the policy (and its rate limiter) is the production one.
	f.ssm = ssm.NewFromConfig(c.Base.Config, append(c.Base.SSM, func(o *ssm.Options) { o.RetryMaxAttempts = 3 })...)
	f.ec2 = ec2.NewFromConfig(c.Base.Config, append(c.Base.EC2, func(o *ec2.Options) { o.RetryMaxAttempts = 3 })...)
	f.snap = &nodes.Snapshotter{S3: c.S3, Bucket: "audit", Prefix: "ssm-sessions", Now: func() time.Time { return captured }, Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	return f
}

func (f *fixture) take(t *testing.T) nodes.Result {
	t.Helper()
	return f.snap.Take(context.Background(), nodes.Target{Account: stsfake.LocalAccount, Region: region, SSM: f.ssm, EC2: f.ec2})
}

// download copies every object under prefix/nodes/ to dir, keeping the
// keys' paths, and returns the keys.
func (f *fixture) download(t *testing.T, dir string) []string {
	t.Helper()
	s3c := f.emu.Clients().S3
	out, err := s3c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("audit"), Prefix: aws.String("ssm-sessions/nodes/")})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		obj, err := s3c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("audit"), Key: o.Key})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		p := filepath.Join(dir, filepath.FromSlash(*o.Key))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := parquetcheck.VerifyPageIndex(bytes.NewReader(b), int64(len(b))); err != nil {
			t.Errorf("%s: %v", *o.Key, err)
		}
		keys = append(keys, *o.Key)
	}
	return keys
}

// TestSnapshotReadBackWithDuckDB: every node of the SSM emulator lands
// once, each column as the emulators hold it (read back by DuckDB with
// hive partitioning), EC2 asked only for EC2 instances, and managed
// instances recorded as what they are.
func TestSnapshotReadBackWithDuckDB(t *testing.T) {
	f := start(t, 3000, 300)
	res := f.take(t)
	key := "ssm-sessions/nodes/dt=2026-11-26/" + stsfake.LocalAccount + "_" + region + ".parquet"
	if res.Status != nodes.Written || res.Object != key || res.Count != len(f.nodes) || res.Error != "" {
		t.Fatalf("result %+v; want %d nodes written to %s", res, len(f.nodes), key)
	}
	var ec2IDs, managed int
	for _, n := range f.nodes {
		if n.ResourceType == ssmfake.ResourceEC2Instance {
			ec2IDs++
		} else {
			managed++
		}
	}
	if managed == 0 || ec2IDs < 200 {
		t.Fatalf("fixture: %d managed, %d EC2 nodes; want both, EC2 over one call's 200 ids", managed, ec2IDs)
	}
	if want := (len(f.nodes) + nodes.PageSize - 1) / nodes.PageSize; res.SSMCalls != want {
		t.Errorf("%d SSM calls, want %d", res.SSMCalls, want)
	}
	if want := (ec2IDs + nodes.IDsPerCall - 1) / nodes.IDsPerCall; res.EC2Calls != want {
		t.Errorf("%d EC2 calls, want %d", res.EC2Calls, want)
	}
	asked := 0
	for _, c := range f.emu.EC2.Calls() {
		asked += c.IDs
	}
	if asked != ec2IDs {
		t.Errorf("EC2 was asked for %d ids; %d nodes are EC2 instances (managed instances get no EC2 call)", asked, ec2IDs)
	}

	dir := t.TempDir()
	if keys := f.download(t, dir); len(keys) != 1 || keys[0] != key {
		t.Fatalf("objects %v", keys)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`SET TimeZone = 'UTC'`); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(`SELECT node_id, name, computer_name, platform_type, platform_name, ip_address, resource_type,
		CAST(to_json(tags) AS VARCHAR), account_id, region, strftime(captured_at, '%Y-%m-%dT%H:%M:%S.%g'), dt
		FROM read_parquet('` + filepath.ToSlash(dir) + `/ssm-sessions/nodes/*/*.parquet', hive_partitioning = true, hive_types = {'dt': VARCHAR}) ORDER BY node_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	byID := map[string]ssmfake.Node{}
	for _, n := range f.nodes {
		byID[n.ID] = n
	}
	got := 0
	for rows.Next() {
		var id, rtype, tagsJSON, account, reg, at, dt string
		var name, computer, ptype, pname, ip sql.NullString
		if err := rows.Scan(&id, &name, &computer, &ptype, &pname, &ip, &rtype, &tagsJSON, &account, &reg, &at, &dt); err != nil {
			t.Fatal(err)
		}
		got++
		n, ok := byID[id]
		if !ok {
			t.Fatalf("node %s is not the emulator's", id)
		}
		delete(byID, id)
		var tags map[string]string
		if err := json.Unmarshal([]byte(tagsJSON), &tags); err != nil {
			t.Fatalf("%s: tags %s: %v", id, tagsJSON, err)
		}
		wantName, wantTags := n.Tags["Name"], n.Tags
		switch {
		case n.ResourceType == ssmfake.ResourceManagedInstance:
			wantName, wantTags = n.Name, nil
		case id == f.gone:
			wantName, wantTags = "", nil
		}
		if name.String != wantName || name.Valid != (wantName != "") {
			t.Errorf("%s: name %v, want %q", id, name, wantName)
		}
		if len(tags) != len(wantTags) {
			t.Errorf("%s: tags %v, want %v", id, tags, wantTags)
		}
		for k, v := range wantTags {
			if tags[k] != v {
				t.Errorf("%s: tag %s=%q, want %q", id, k, tags[k], v)
			}
		}
		if computer.String != n.ComputerName || ptype.String != n.PlatformType || pname.String != n.PlatformName || ip.String != n.IPAddress || rtype != n.ResourceType {
			t.Errorf("%s: %v %v %v %v %s; emulator %+v", id, computer, ptype, pname, ip, rtype, n)
		}
		if account != stsfake.LocalAccount || reg != region || at != "2026-11-26T06:30:00.123" || dt != "2026-11-26" {
			t.Errorf("%s: account %s region %s captured_at %s dt %s", id, account, reg, at, dt)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if got != len(f.nodes) || len(byID) != 0 {
		t.Errorf("%d rows for %d nodes; missing %d", got, len(f.nodes), len(byID))
	}
}

// TestSnapshotMissingWritesNothing: a snapshot throttled past the retries
// (SSM or EC2) or denied is Missing, says why, and leaves the day's
// earlier snapshot as it was.
func TestSnapshotMissingWritesNothing(t *testing.T) {
	f := start(t, 300, 0)
	first := f.take(t)
	if first.Status != nodes.Written {
		t.Fatalf("first snapshot %+v", first)
	}
	dir := t.TempDir()
	f.download(t, dir)
	before, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(first.Object)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, want string
		set, reset func()
	}{
		{"ssm throttled", "SSM DescribeInstanceInformation: ThrottlingException",
			func() { f.emu.SSM.SetNodeFault("ThrottlingException") }, func() { f.emu.SSM.SetNodeFault("") }},
		{"ssm denied", "SSM DescribeInstanceInformation: AccessDeniedException",
			func() { f.emu.SSM.SetNodeFault("AccessDeniedException") }, func() { f.emu.SSM.SetNodeFault("") }},
		{"ec2 throttled", "EC2 DescribeInstances: RequestLimitExceeded",
			func() { f.emu.EC2.SetFault(ec2fake.Fault{Code: ec2fake.RequestLimitExceeded}) }, func() { f.emu.EC2.SetFault(ec2fake.Fault{}) }},
		{"ec2 denied", "EC2 DescribeInstances: UnauthorizedOperation",
			func() { f.emu.EC2.SetFault(ec2fake.Fault{Code: ec2fake.UnauthorizedOperation}) }, func() { f.emu.EC2.SetFault(ec2fake.Fault{}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.set()
			defer tc.reset()
			res := f.take(t)
			if res.Status != nodes.Missing || res.Object != "" || res.Count != 0 || !strings.HasPrefix(res.Error, tc.want) {
				t.Fatalf("result %+v; want missing with %q", res, tc.want)
			}
			after := t.TempDir()
			keys := f.download(t, after)
			sort.Strings(keys)
			if len(keys) != 1 || keys[0] != first.Object {
				t.Fatalf("objects %v", keys)
			}
			now, _ := os.ReadFile(filepath.Join(after, filepath.FromSlash(first.Object)))
			if !bytes.Equal(now, before) {
				t.Error("the day's earlier snapshot changed")
			}
		})
	}
	if n := f.emu.SSM.Calls(); len(n) == 0 {
		t.Fatal("no SSM call recorded")
	}
	var throttled int
	for _, c := range f.emu.SSM.Calls() {
		if c.ErrorCode == "ThrottlingException" {
			throttled++
		}
	}
	if throttled != 3 {
		t.Errorf("%d throttled SSM calls; the client tries 3 times", throttled)
	}
}

// TestKey: the snapshot's key is the table's location for the UTC day.
func TestKey(t *testing.T) {
	at := time.Date(2026, 11, 26, 23, 30, 0, 0, time.FixedZone("x", -2*3600))
	if k := nodes.Key("p/q", "111122223333", "eu-west-1", at); k != "p/q/nodes/dt=2026-11-27/111122223333_eu-west-1.parquet" {
		t.Errorf("key %s", k)
	}
}

// objectSize is the size of the object at key in the emulators' bucket.
func objectSize(c awsclients.Clients, key string) (int64, error) {
	out, err := c.S3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("audit"), Key: aws.String(key)})
	if err != nil {
		return 0, err
	}
	return aws.ToInt64(out.ContentLength), nil
}
