package orgplan_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/session-audit/session-audit/internal/orgfake"
	"github.com/session-audit/session-audit/internal/orgplan"
)

// BenchmarkPlan5000x4 is the Plan of an organization of 5,000 ACTIVE
// accounts in 4 regions: ListAccounts paged 20 accounts a call by the
// emulator over HTTP (250 calls), the items file written to the in-process
// S3 server. BENCHMARKS.md has the numbers and the command.
func BenchmarkPlan5000x4(b *testing.B) {
	org := orgfake.New(orgfake.WithPageSize(20))
	for i := range 5000 {
		org.Add(orgfake.Account{ID: fmt.Sprintf("%012d", 100000000000+i)})
	}
	c := s3Client(b)
	p := planner(b, orgplan.Organization{API: orgClient(b, org)}, c)
	p.Regions = []string{"us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2"}
	input := json.RawMessage(`{"time":"2026-11-25T00:15:00Z"}`)
	b.ResetTimer()
	var out orgplan.Output
	for i := range b.N {
		var err error
		if out, err = p.Plan(context.Background(), fmt.Sprintf("bench-%d", i), now, input); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	head, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("audit"), Key: aws.String(out.Key)})
	if err != nil {
		b.Fatal(err)
	}
	if out.Count != 20000 {
		b.Fatalf("%d items, want 20000", out.Count)
	}
	b.ReportMetric(float64(aws.ToInt64(head.ContentLength)), "items-bytes")
	b.ReportMetric(float64(org.Calls()["ListAccounts"])/float64(b.N), "ListAccounts/op")
}
