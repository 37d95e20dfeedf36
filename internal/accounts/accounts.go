// Package accounts is the table of the audited accounts: one Parquet file
// a day, <prefix>/accounts/dt=YYYY-MM-DD/accounts.parquet, with each
// account's name, email, status and OU path where they are known (the
// organization's, listed by the org run's Plan; or the function's own
// account, written by its scheduled run). See docs/ARCHITECTURE.md.
package accounts

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/session-audit/session-audit/internal/tablefile"
)

// Row is one account. The parquet tags are the columns of the Glue table
// "accounts" in template.yaml (a test keeps the two in step). What is not
// known (a fixed account list has no names) is null.
type Row struct {
	AccountID string `parquet:"account_id"`
	// Name and Email are the account's in AWS Organizations.
	Name  *string `parquet:"name,optional"`
	Email *string `parquet:"email,optional"`
	// Status is ACTIVE, SUSPENDED or PENDING_CLOSURE.
	Status *string `parquet:"status,optional"`
	// OUPath names the organizational units from the root down to the
	// account's parent, such as Root/Workloads/Prod.
	OUPath     *string   `parquet:"ou_path,optional"`
	CapturedAt time.Time `parquet:"captured_at,timestamp(millisecond)"`
}

// Key is the accounts file of day (UTC).
func Key(prefix string, day time.Time) string {
	return prefix + "/accounts/dt=" + day.UTC().Format(time.DateOnly) + "/accounts.parquet"
}

// Write writes rows, sorted by account and each once (the last given
// wins), with captured_at = at, as the day's accounts file (replacing an
// earlier one of the day), and returns its key.
func Write(ctx context.Context, api tablefile.PutAPI, bucket, prefix string, at time.Time, rows []Row) (string, error) {
	at = at.UTC().Truncate(time.Millisecond)
	byID := map[string]Row{}
	for _, r := range rows {
		r.CapturedAt = at
		byID[r.AccountID] = r
	}
	out := make([]Row, 0, len(byID))
	for _, r := range byID {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AccountID < out[j].AccountID })
	key := Key(prefix, at)
	if _, err := tablefile.Put(ctx, api, bucket, key, out); err != nil {
		return "", fmt.Errorf("accounts: %w", err)
	}
	return key, nil
}

// Text is s as a column value: nil when empty.
func Text(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
