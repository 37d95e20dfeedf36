// Package nodes takes the daily snapshot of a target's managed nodes: SSM
// DescribeInstanceInformation for every node the target's Session Manager
// can reach, EC2 DescribeInstances for the tags (and Name) of those that
// are EC2 instances, written as one Parquet file
// <prefix>/nodes/dt=YYYY-MM-DD/<account>_<region>.parquet (the table
// "nodes"; see docs/ARCHITECTURE.md). The exporter takes it after a
// scheduled run; a snapshot that fails is reported missing, and never
// fails the export of the sessions.
package nodes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"

	"github.com/session-audit/session-audit/internal/store"
	"github.com/session-audit/session-audit/internal/tablefile"
)

// Row is one managed node in the snapshot. The parquet tags are the
// columns of the Glue table "nodes" in template.yaml (a test keeps the two
// in step).
type Row struct {
	// NodeID is the managed node's id: i-… for an EC2 instance, mi-… for a
	// managed (hybrid) instance.
	NodeID string `parquet:"node_id"`
	// Name is the EC2 instance's Name tag; for a managed instance, the
	// name it was registered with. Null when it has none.
	Name         *string `parquet:"name,optional"`
	ComputerName *string `parquet:"computer_name,optional"`
	PlatformType *string `parquet:"platform_type,optional"`
	PlatformName *string `parquet:"platform_name,optional"`
	IPAddress    *string `parquet:"ip_address,optional"`
	// ResourceType is SSM's: EC2Instance or ManagedInstance.
	ResourceType string `parquet:"resource_type"`
	// Tags are the EC2 instance's tags; empty for other nodes.
	Tags       map[string]string `parquet:"tags"`
	AccountID  string            `parquet:"account_id"`
	Region     string            `parquet:"region"`
	CapturedAt time.Time         `parquet:"captured_at,timestamp(millisecond)"`
}

// SSMAPI is the SSM call that lists the managed nodes.
type SSMAPI interface {
	DescribeInstanceInformation(ctx context.Context, in *ssm.DescribeInstanceInformationInput, optFns ...func(*ssm.Options)) (*ssm.DescribeInstanceInformationOutput, error)
}

// EC2API is the EC2 call that reads the instances' tags.
type EC2API interface {
	DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
}

// Target is the account and region a snapshot reads, with the clients
// that reach them (the member role's credentials in org mode).
type Target struct {
	Account, Region string
	SSM             SSMAPI
	EC2             EC2API
}

// Status says whether the snapshot of a run was written.
type Status string

// The statuses of a snapshot.
const (
	// Written: the snapshot's file holds the target's nodes.
	Written Status = "written"
	// Missing: the snapshot failed (throttled past the retries, denied,
	// ...); Error says why. The sessions were exported all the same.
	Missing Status = "missing"
	// Off: snapshots are turned off (AUDIT_NODES=false).
	Off Status = "off"
)

// Result is the "nodes" of a scheduled run's response.
type Result struct {
	Status Status `json:"status"`
	// Object is the key written; "" unless written.
	Object string `json:"object,omitempty"`
	// Count is the number of nodes written.
	Count int `json:"count"`
	// SSMCalls and EC2Calls are the pages asked of each service.
	SSMCalls int `json:"ssmCalls"`
	EC2Calls int `json:"ec2Calls"`
	// Error says why the snapshot is missing.
	Error string `json:"error,omitempty"`
}

// PageSize is DescribeInstanceInformation's MaxResults: the most it takes.
const PageSize = 50

// IDsPerCall is how many instance ids one DescribeInstances call filters
// on: EC2 takes at most 200 values per filter.
const IDsPerCall = 200

// EC2PageSize is DescribeInstances' MaxResults: the most it takes.
const EC2PageSize = 1000

// Snapshotter takes snapshots and writes them to S3.
type Snapshotter struct {
	S3     tablefile.PutAPI
	Bucket string
	Prefix string
	// Now is the clock of captured_at and of the day; nil means time.Now.
	Now func() time.Time
	// Log gets a line per snapshot; nil means slog.Default().
	Log *slog.Logger
}

// Key is the snapshot's object of account and region on day (UTC).
func Key(prefix, account, region string, day time.Time) string {
	return prefix + "/nodes/dt=" + day.UTC().Format(time.DateOnly) + "/" + account + "_" + region + ".parquet"
}

// Take lists the target's nodes and writes the day's snapshot, replacing
// the one an earlier run of the day wrote. It never returns an error: a
// failure (throttled past the retries, denied, S3 refusing the write) is a
// Missing result that says why, and nothing is written.
func (s *Snapshotter) Take(ctx context.Context, tg Target) Result {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	log := s.Log
	if log == nil {
		log = slog.Default()
	}
	at := now().UTC().Truncate(time.Millisecond)
	var res Result
	rows, err := collect(ctx, tg, at, &res)
	if err == nil {
		if err = store.CheckRegion(tg.Region); err == nil {
			key := Key(s.Prefix, tg.Account, tg.Region, at)
			if _, err = tablefile.Put(ctx, s.S3, s.Bucket, key, rows); err == nil {
				res.Status, res.Object, res.Count = Written, key, len(rows)
				log.Info("node snapshot written", "account", tg.Account, "region", tg.Region, "object", key, "nodes", len(rows),
					"ssm_calls", res.SSMCalls, "ec2_calls", res.EC2Calls)
				return res
			}
		}
	}
	res.Status, res.Error = Missing, Reason(err)
	log.Warn("node snapshot missing; the sessions are exported all the same", "account", tg.Account, "region", tg.Region, "error", err.Error())
	return res
}

// Failed is the Missing result of a snapshot that could not start, such
// as one whose clients could not be had.
func Failed(err error) Result { return Result{Status: Missing, Error: Reason(err)} }

// Reason is the short form of a snapshot's failure for the response and
// the coverage record: the call and the AWS error code and message when
// there is one, else the error.
func Reason(err error) string {
	var op *smithy.OperationError
	var api smithy.APIError
	if errors.As(err, &op) && errors.As(err, &api) {
		return op.Service() + " " + op.Operation() + ": " + api.ErrorCode() + ": " + api.ErrorMessage()
	}
	return err.Error()
}

// collect lists the nodes with SSM, then the EC2 instances' tags.
func collect(ctx context.Context, tg Target, at time.Time, res *Result) ([]Row, error) {
	var rows []Row
	p := ssm.NewDescribeInstanceInformationPaginator(tg.SSM, &ssm.DescribeInstanceInformationInput{MaxResults: aws.Int32(PageSize)})
	seen := map[string]bool{}
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		res.SSMCalls++
		if err != nil {
			return nil, fmt.Errorf("list managed nodes: %w", err)
		}
		for _, ii := range out.InstanceInformationList {
			id := aws.ToString(ii.InstanceId)
			if id == "" || seen[id] {
				continue
			}
			seen[id] = true
			r := Row{
				NodeID: id, ComputerName: text(ii.ComputerName), PlatformType: text((*string)(&ii.PlatformType)),
				PlatformName: text(ii.PlatformName), IPAddress: text(ii.IPAddress), ResourceType: string(ii.ResourceType),
				Tags: map[string]string{}, AccountID: tg.Account, Region: tg.Region, CapturedAt: at,
			}
			if !isEC2(r) {
				// A managed instance's registered name; EC2 instances
				// are named by their Name tag below.
				r.Name = text(ii.Name)
			}
			rows = append(rows, r)
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].NodeID < rows[j].NodeID })
	var ids []string
	byID := map[string]*Row{}
	for i := range rows {
		if isEC2(rows[i]) {
			ids = append(ids, rows[i].NodeID)
			byID[rows[i].NodeID] = &rows[i]
		}
	}
	for start := 0; start < len(ids); start += IDsPerCall {
		chunk := ids[start:min(start+IDsPerCall, len(ids))]
		ep := ec2.NewDescribeInstancesPaginator(tg.EC2, &ec2.DescribeInstancesInput{
			Filters:    []ec2types.Filter{{Name: aws.String("instance-id"), Values: chunk}},
			MaxResults: aws.Int32(EC2PageSize),
		})
		for ep.HasMorePages() {
			out, err := ep.NextPage(ctx)
			res.EC2Calls++
			if err != nil {
				return nil, fmt.Errorf("read instance tags: %w", err)
			}
			for _, rv := range out.Reservations {
				for _, in := range rv.Instances {
					r := byID[aws.ToString(in.InstanceId)]
					if r == nil {
						continue
					}
					for _, t := range in.Tags {
						r.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
					}
					if n, ok := r.Tags["Name"]; ok && n != "" {
						r.Name = aws.String(n)
					}
				}
			}
		}
	}
	return rows, nil
}

// isEC2 says whether a node is an EC2 instance: SSM's resource type says
// so, and its id is an instance id (anything else has no EC2 call).
func isEC2(r Row) bool {
	return r.ResourceType == "EC2Instance" && strings.HasPrefix(r.NodeID, "i-")
}

// text is s, or nil when empty.
func text(s *string) *string {
	if s == nil || *s == "" {
		return nil
	}
	v := *s
	return &v
}
