package app_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/session-audit/session-audit/internal/app"
	"github.com/session-audit/session-audit/internal/ec2fake"
	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/nodes"
	"github.com/session-audit/session-audit/internal/outcome"
	"github.com/session-audit/session-audit/internal/ssmfake"
	"github.com/session-audit/session-audit/internal/stsfake"
)

// TestNodeSnapshotOfAMemberTarget builds the function as the Lambda does
// (app.New, the default chain) against the emulators: a scheduled run of a
// member target writes its sessions and its node snapshot, through the
// member role's credentials for SSM and EC2 alike; a snapshot EC2 refuses
// is reported missing while the sessions are exported all the same; a
// backfill takes none; AUDIT_NODES=false answers "off" and writes none.
func TestNodeSnapshotOfAMemberTarget(t *testing.T) {
	fake := ssmfake.New()
	start := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	end := start.Add(time.Minute)
	fake.Target(member, "eu-west-1").Put(types.Session{SessionId: aws.String("m-0"), Target: aws.String("i-0aaa"), StartDate: &start, EndDate: &end, Status: types.SessionStatusTerminated})
	ns := ssmfake.GenerateNodes(1, []string{"i-0aaa", "i-0bbb", "mi-0ccc"})
	fake.PutNodes(member, "eu-west-1", ns...)
	ec := ec2fake.New()
	for _, n := range ns[:2] {
		ec.Put(member, "eu-west-1", ec2fake.Instance{ID: n.ID, Tags: n.Tags})
	}
	sts := stsfake.New()
	sts.AllowRole(member, stsfake.Role{Name: memberRole})
	emu, err := emulators.Start(emulators.Options{Bucket: "audit-bucket", SSM: fake, STS: sts, EC2: ec})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	env := setEmulatorEnv(t, emu)
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	h, err := app.New(context.Background(), func(k string) string { return env[k] }, logger, io.Discard, func() time.Time { return fixedNow })
	if err != nil {
		t.Fatal(err)
	}
	scheduled := `{"time":"2026-11-26T00:05:00Z","account":"` + member + `","region":"eu-west-1"}`
	res, err := invoke(context.Background(), h, scheduled)
	if err != nil {
		t.Fatal(err)
	}
	key := "ssm-sessions/nodes/dt=2026-11-26/" + member + "_eu-west-1.parquet"
	if res.Status != outcome.Exported || res.Rows != 1 || res.Nodes == nil ||
		*res.Nodes != (nodes.Result{Status: nodes.Written, Object: key, Count: 3, SSMCalls: 1, EC2Calls: 1}) {
		t.Fatalf("response %+v nodes %+v", res, res.Nodes)
	}
	for _, c := range ec.Calls() {
		if c.Account != member || c.Region != "eu-west-1" || c.IDs != 2 {
			t.Errorf("EC2 call %+v: want the member's two instances, with its role's credentials", c)
		}
	}
	if n := len(sts.Calls()); n != 1 {
		t.Errorf("%d AssumeRole calls; the snapshot reuses the export's credentials", n)
	}

	// EC2 refuses the member role: the sessions are exported, the
	// snapshot is missing, and the day's snapshot stays as written.
	ec.SetFault(ec2fake.Fault{Code: ec2fake.UnauthorizedOperation})
	res, err = invoke(context.Background(), h, scheduled)
	if err != nil {
		t.Fatalf("a refused snapshot failed the run: %v", err)
	}
	if res.Status != outcome.Exported || res.Rows != 1 || res.Nodes == nil || res.Nodes.Status != nodes.Missing ||
		!strings.Contains(res.Nodes.Error, "EC2 DescribeInstances: UnauthorizedOperation") || res.Nodes.Object != "" {
		t.Fatalf("response %+v nodes %+v", res, res.Nodes)
	}
	ec.SetFault(ec2fake.Fault{})
	if keys := listKeys(t, emu, "ssm-sessions/nodes/"); len(keys) != 1 || keys[0] != key {
		t.Errorf("node objects %v", keys)
	}

	res, err = invoke(context.Background(), h, `{"start":"2026-11-25T00:00:00Z","end":"2026-11-26T00:00:00Z","account":"`+member+`","region":"eu-west-1"}`)
	if err != nil || res.Nodes != nil {
		t.Errorf("backfill: nodes %+v, %v; a backfill takes no snapshot", res.Nodes, err)
	}

	env["AUDIT_NODES"] = "false"
	off, err := app.New(context.Background(), func(k string) string { return env[k] }, logger, io.Discard, func() time.Time { return fixedNow.Add(24 * time.Hour) })
	if err != nil {
		t.Fatal(err)
	}
	before := len(fake.Calls())
	res, err = invoke(context.Background(), off, `{"time":"2026-11-27T00:05:00Z","account":"`+member+`","region":"eu-west-1"}`)
	if err != nil || res.Nodes == nil || *res.Nodes != (nodes.Result{Status: nodes.Off}) {
		t.Fatalf("AUDIT_NODES=false: %+v %v", res.Nodes, err)
	}
	for _, c := range fake.Calls()[before:] {
		if c.Operation == "AmazonSSM.DescribeInstanceInformation" {
			t.Error("AUDIT_NODES=false still listed the nodes")
		}
	}
	if keys := listKeys(t, emu, "ssm-sessions/nodes/"); len(keys) != 1 {
		t.Errorf("node objects %v after a run with snapshots off", keys)
	}
}

func listKeys(t *testing.T, emu *emulators.Emulators, prefix string) []string {
	t.Helper()
	out, err := emu.Clients().S3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(emu.Bucket), Prefix: aws.String(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}
