package orgplan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/session-audit/session-audit/internal/accounts"
	"github.com/session-audit/session-audit/internal/handler"
	"github.com/session-audit/session-audit/internal/window"
)

// Item is one exporter event of the run: a target (account and region)
// with either the scheduled time or one chunk of a backfill. Its JSON is
// exactly the event the exporter decodes.
type Item struct {
	Account string `json:"account"`
	Region  string `json:"region"`
	Time    string `json:"time,omitempty"`
	Start   string `json:"start,omitempty"`
	End     string `json:"end,omitempty"`
}

// Output is what Plan returns to the state machine: where the items are,
// how many, and the run they belong to. It stays small whatever the size
// of the organization.
type Output struct {
	Bucket  string `json:"bucket"`
	Key     string `json:"key"`
	Count   int    `json:"count"`
	Targets int    `json:"targets"`
	RunID   string `json:"runId"`
	RunTime string `json:"runTime"`
	Mode    string `json:"mode"`
	// Accounts is the key of the day's accounts file (package accounts).
	Accounts string `json:"accounts"`
	// AccountsError says why the accounts file holds ids only, when the
	// organization's names and OUs could not be listed.
	AccountsError string `json:"accountsError,omitempty"`
}

// Describer is a Source that also describes the accounts (name, email,
// status, OU path) for the accounts table: Organization does, a fixed
// list knows ids only.
type Describer interface {
	Describe(ctx context.Context) ([]accounts.Row, error)
}

// PutAPI is the S3 call that stores the items file.
type PutAPI interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// Planner plans organization runs.
type Planner struct {
	Source   Source
	Exclude  []string // accounts never audited
	Regions  []string // every target region; at least one
	Grid     window.Grid
	Lookback time.Duration // a backfill item spans at most this much (ChunkSlots)
	Bucket   string
	Prefix   string
	S3       PutAPI
	Now      func() time.Time
}

// runIDRE is a Step Functions execution name (1-80 characters of letters,
// digits, - and _), the run id.
var runIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

// CheckRunID validates a run id.
func CheckRunID(id string) error {
	if !runIDRE.MatchString(id) {
		return fmt.Errorf("run id %q is not 1-80 letters, digits, - or _ (a Step Functions execution name)", id)
	}
	return nil
}

// ItemsKey is the key of a run's items file: the key the state machine's
// ItemReader reads.
func ItemsKey(prefix, runID string) string { return prefix + "/runs/" + runID + "/items.json" }

// RunsPrefix is where the state machine's ResultWriter writes (it adds
// "<map run id>/manifest.json" and the result files).
func RunsPrefix(prefix string) string { return prefix + "/runs" }

// ChunkSlots is the number of slots one backfill item holds: as many as a
// scheduled run re-exports (Lookback / slot length, at least 1). The stack
// sizes the exporter's timeout and memory for a scheduled run, which also
// re-exports slots still holding active sessions, so an item of a
// backfill asks no more of one invocation than a normal day does.
func (p *Planner) ChunkSlots() int {
	n := int(p.Lookback / p.Grid.Length())
	if n < 1 {
		n = 1
	}
	return n
}

// Plan validates the state machine input (a scheduled {"time"} or a
// backfill {"start","end"}), lists the targets, and writes the items file
// ItemsKey(prefix, runID). startedAt is the execution's start, the run time
// of a backfill. Nothing is written when anything fails.
func (p *Planner) Plan(ctx context.Context, runID string, startedAt time.Time, input json.RawMessage) (Output, error) {
	if err := CheckRunID(runID); err != nil {
		return Output{}, err
	}
	if len(p.Regions) == 0 {
		return Output{}, errors.New("no regions to audit (AUDIT_REGIONS is empty)")
	}
	req, err := handler.Decode(input)
	if err != nil {
		return Output{}, fmt.Errorf("state machine input: %w", err)
	}
	if err := checkNoTarget(input); err != nil {
		return Output{}, err
	}
	now := p.Now().UTC()
	out := Output{Bucket: p.Bucket, Key: ItemsKey(p.Prefix, runID), RunID: runID}
	var events []Item // account and region left blank
	switch req.Kind {
	case handler.KindScheduled:
		t := req.Time.UTC()
		out.Mode, out.RunTime = string(handler.KindScheduled), t.Format(time.RFC3339)
		events = []Item{{Time: t.Format(time.RFC3339)}}
	case handler.KindBackfill:
		slots, err := p.Grid.Range(req.Start, req.End, now)
		if err != nil {
			return Output{}, fmt.Errorf("state machine input: backfill: %w", err)
		}
		out.Mode, out.RunTime = string(handler.KindBackfill), startedAt.UTC().Format(time.RFC3339)
		n := p.ChunkSlots()
		for i := 0; i < len(slots); i += n {
			last := slots[min(i+n, len(slots))-1]
			events = append(events, Item{Start: slots[i].Start.Format(time.RFC3339), End: last.End.Format(time.RFC3339)})
		}
	default:
		return Output{}, fmt.Errorf("state machine input: a %s event cannot start an organization run; send {\"time\": ...} or {\"start\": ..., \"end\": ...}", req.Kind)
	}
	accounts, err := p.Source.Accounts(ctx)
	if err != nil {
		return Output{}, fmt.Errorf("list accounts: %w", err)
	}
	excluded := map[string]bool{}
	for _, a := range p.Exclude {
		excluded[a] = true
	}
	items := make([]Item, 0, len(accounts)*len(p.Regions)*len(events))
	for _, a := range accounts {
		if excluded[a] {
			continue
		}
		for _, r := range p.Regions {
			out.Targets++
			for _, e := range events {
				e.Account, e.Region = a, r
				items = append(items, e)
			}
		}
	}
	if len(items) == 0 {
		return Output{}, fmt.Errorf("no account left to audit: %d listed, all excluded", len(accounts))
	}
	if out.Accounts, out.AccountsError, err = p.writeAccounts(ctx, accounts); err != nil {
		return Output{}, err
	}
	body, err := json.Marshal(items)
	if err != nil {
		return Output{}, fmt.Errorf("encode items: %w", err)
	}
	out.Count = len(items)
	if _, err := p.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket:      aws.String(p.Bucket),
		Key:         aws.String(out.Key),
		Body:        bytes.NewReader(body),
		ContentType: aws.String("application/json"),
	}); err != nil {
		return Output{}, fmt.Errorf("write items s3://%s/%s: %w", p.Bucket, out.Key, err)
	}
	return out, nil
}

// writeAccounts writes the day's accounts file: every account listed, with
// what the Source knows of it. A Describer that fails leaves ids only, and
// its error is returned as the second value, not as a failure of the plan.
func (p *Planner) writeAccounts(ctx context.Context, listed []string) (key, describeErr string, err error) {
	rows := make([]accounts.Row, 0, len(listed))
	for _, id := range listed {
		rows = append(rows, accounts.Row{AccountID: id})
	}
	if d, ok := p.Source.(Describer); ok {
		described, err := d.Describe(ctx)
		if err != nil {
			describeErr = err.Error()
		}
		rows = append(rows, described...) // described wins over the bare id
	}
	key, err = accounts.Write(ctx, p.S3, p.Bucket, p.Prefix, p.Now(), rows)
	return key, describeErr, err
}

// checkNoTarget refuses an input naming a target: the run's targets come
// from the plan, never from its input.
func checkNoTarget(input json.RawMessage) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(input, &fields); err != nil {
		return fmt.Errorf("state machine input: %w", err)
	}
	for _, k := range []string{"account", "region"} {
		if _, ok := fields[k]; ok {
			if _, envelope := fields["detail-type"]; envelope {
				continue // an EventBridge rule envelope's own account and region
			}
			return fmt.Errorf("state machine input: %q is not accepted: an organization run's targets come from its plan", k)
		}
	}
	return nil
}
