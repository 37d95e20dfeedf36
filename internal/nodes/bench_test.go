package nodes_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/session-audit/session-audit/internal/awsclients"
	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/nodes"
	"github.com/session-audit/session-audit/internal/ssmfake"
	"github.com/session-audit/session-audit/internal/stsfake"
)

// BenchmarkSnapshot10k is one target's snapshot of 10,000 managed nodes
// (one in seven a managed instance, the rest EC2 instances with four tags
// each) through the production clients (retry policy and rate limiter)
// against the SSM and EC2 emulators over HTTP, each call answered after
// BENCH_LATENCY (default 20 ms, about an SSM call's round trip from a
// Lambda in the same region), into the in-process S3. It reports the
// calls of each service and the file's size.
func BenchmarkSnapshot10k(b *testing.B) {
	latency := 20 * time.Millisecond
	if v := os.Getenv("BENCH_LATENCY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("BENCH_LATENCY %q: %v", v, err)
		}
		latency = d
	}
	delay := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(latency)
			next.ServeHTTP(w, r)
		})
	}
	emu, err := emulators.Start(emulators.Options{Bucket: "audit", SSMWrap: delay, EC2Wrap: delay})
	if err != nil {
		b.Fatal(err)
	}
	defer emu.Close()
	ids := make([]string, 10000)
	for i := range ids {
		prefix := "i-0"
		if i%7 == 6 {
			prefix = "mi-0"
		}
		ids[i] = fmt.Sprintf("%s%016x", prefix, uint64(i)*0x9E3779B97F4A7C15)
	}
	emu.PutNodes(stsfake.LocalAccount, emulators.Region, ssmfake.GenerateNodes(1, ids))
	c := emu.Clients()
	targets := awsclients.NewTargets(c.Base, c.SSM, c.Region, "", "")
	self := awsclients.Self{Partition: "aws", Account: stsfake.LocalAccount, Function: "bench"}
	ssmc, err := targets.SSM(context.Background(), self, stsfake.LocalAccount, emulators.Region)
	if err != nil {
		b.Fatal(err)
	}
	ec2c, err := targets.EC2(context.Background(), self, stsfake.LocalAccount, emulators.Region)
	if err != nil {
		b.Fatal(err)
	}
	snap := &nodes.Snapshotter{S3: c.S3, Bucket: "audit", Prefix: "ssm-sessions", Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	var res nodes.Result
	for b.Loop() {
		res = snap.Take(context.Background(), nodes.Target{Account: stsfake.LocalAccount, Region: emulators.Region, SSM: ssmc, EC2: ec2c})
		if res.Status != nodes.Written || res.Count != len(ids) {
			b.Fatalf("%+v", res)
		}
	}
	b.ReportMetric(float64(res.SSMCalls), "ssm-calls/op")
	b.ReportMetric(float64(res.EC2Calls), "ec2-calls/op")
	size, err := objectSize(c, res.Object)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(size), "file-bytes")
}

var (
	_ nodes.SSMAPI = (*ssm.Client)(nil)
	_ nodes.EC2API = (*ec2.Client)(nil)
)
