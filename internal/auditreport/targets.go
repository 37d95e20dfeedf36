package auditreport

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/session-audit/session-audit/internal/findings"
)

// Names of the per-target query and of the optional name lookups.
const (
	qPerTarget = "sessions-by-account-and-region"
	qAccounts  = "account-names"
	qNodes     = "machine-names"
)

// contextDays is how far before and after a period the names of accounts
// and machines are looked up (the latest snapshot wins): a node snapshot
// is daily, an account's name rarely changes, and a report made the day
// after a period may find only that day's snapshot.
const contextDays = 31

// TargetRow is one account and region of the report.
type TargetRow struct {
	AccountID string `json:"accountId"`
	// AccountName is the account's name in the accounts table; empty
	// when unknown.
	AccountName string `json:"accountName,omitempty"`
	Region      string `json:"region"`
	Sessions    int64  `json:"sessions"`
	// Findings is the rows per finding; Rows their sum, ToReview the rows
	// no exception covers.
	Findings map[string]int `json:"findings"`
	Rows     int            `json:"findingRows"`
	ToReview int            `json:"toReview"`
	// Runs and Exported count the coverage records of the period;
	// LastStatus and LastRun are the latest one's (empty without
	// coverage records).
	Runs       int64  `json:"runs"`
	Exported   int64  `json:"exported"`
	LastStatus string `json:"lastStatus,omitempty"`
	LastRun    string `json:"lastRun,omitempty"`
}

// Key is account/region.
func (t TargetRow) Key() string { return t.AccountID + "/" + t.Region }

// machine is a managed node's names from the nodes table.
type machine struct {
	Name, ComputerName, ResourceType string
}

// perTargetQuery counts the period's sessions per account and region,
// each once.
func perTargetQuery(w findings.Window) named {
	return named{name: qPerTarget, keep: -1, sql: fmt.Sprintf(`%s
SELECT account_id, region, count(*) AS sessions
FROM %s
WHERE %s
GROUP BY account_id, region
ORDER BY account_id, region`, findings.Once(w), findings.OnceTable, findings.OnceFirst)}
}

// nameQueries look up account and machine names: each is optional (a
// stack or an archive without the table just shows ids).
func nameQueries(w findings.Window) []named {
	first := w.From.UTC().AddDate(0, 0, -contextDays).Format(time.DateOnly)
	last := w.To.UTC().Add(-time.Millisecond).AddDate(0, 0, contextDays).Format(time.DateOnly)
	return []named{
		{name: qAccounts, keep: -1, sql: fmt.Sprintf(`SELECT account_id, max_by(name, captured_at) AS name
FROM accounts
WHERE dt BETWEEN '%s' AND '%s'
GROUP BY account_id
ORDER BY account_id`, first, last)},
		{name: qNodes, keep: -1, sql: fmt.Sprintf(`SELECT node_id, max_by(name, captured_at) AS name,
       max_by(computer_name, captured_at) AS computer_name,
       max_by(resource_type, captured_at) AS resource_type
FROM nodes
WHERE dt BETWEEN '%s' AND '%s'
GROUP BY node_id
ORDER BY node_id`, first, last)},
	}
}

// runNames runs the name lookups one by one; a query that fails (no such
// table) leaves its names out and is logged, never failing the report.
func (r *Reporter) runNames(ctx context.Context, run *runner, w findings.Window) (accounts map[string]string, nodes map[string]machine, results []Result) {
	accounts, nodes = map[string]string{}, map[string]machine{}
	for _, q := range nameQueries(w) {
		res, err := run.runAll(ctx, []named{q})
		if err != nil {
			var qe *QueryError
			if r.Logger != nil {
				r.Logger.Warn("names left out", "query", q.name, "error", err.Error(), "failed", errors.As(err, &qe))
			}
			continue
		}
		results = append(results, res...)
		rs := res[0]
		for _, row := range rs.Rows {
			if len(row) == 0 {
				continue
			}
			switch q.name {
			case qAccounts:
				if n := str(row[1]); n != "" {
					accounts[str(row[0])] = n
				}
			case qNodes:
				nodes[str(row[0])] = machine{Name: str(row[1]), ComputerName: str(row[2]), ResourceType: str(row[3])}
			}
		}
	}
	return accounts, nodes, results
}

// fillTargets builds the per account and region table.
func (s *Summary) fillTargets(accounts map[string]string, excepted map[string]map[string]int) error {
	byKey := map[string]*TargetRow{}
	get := func(account, region string) *TargetRow {
		k := account + "/" + region
		if t, ok := byKey[k]; ok {
			return t
		}
		t := &TargetRow{AccountID: account, Region: region, AccountName: accounts[account], Findings: map[string]int{}}
		byKey[k] = t
		return t
	}
	if res, ok := s.results[qPerTarget]; ok {
		for _, row := range res.Rows {
			n, err := num(res, row, 2)
			if err != nil {
				return err
			}
			get(str(row[0]), str(row[1])).Sessions = n
		}
	}
	for _, t := range s.Complete.Targets {
		a, r, _ := strings.Cut(t, "/")
		get(a, r)
	}
	if cov, ok := s.results[qCoverage]; ok {
		ia, _ := cov.column("account_id")
		ir, _ := cov.column("region")
		runs, _ := cov.column("runs")
		exp, _ := cov.column("exported")
		ls, err1 := cov.column("last_status")
		lr, err2 := cov.column("last_run")
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		for _, row := range cov.Rows {
			t := get(str(row[ia]), str(row[ir]))
			var err error
			if t.Runs, err = num(cov, row, runs); err != nil {
				return err
			}
			if t.Exported, err = num(cov, row, exp); err != nil {
				return err
			}
			t.LastStatus, t.LastRun = str(row[ls]), isoZ(str(row[lr]))
		}
	}
	for _, f := range s.Findings {
		for k, n := range f.PerTarget {
			a, r, _ := strings.Cut(k, "/")
			if a == "" {
				continue
			}
			t := get(a, r)
			t.Findings[f.ID] += n
			t.Rows += n
			t.ToReview += n - excepted[f.ID][k]
		}
	}
	s.Targets = []TargetRow{}
	for _, t := range byKey {
		s.Targets = append(s.Targets, *t)
	}
	slices.SortFunc(s.Targets, func(a, b TargetRow) int { return strings.Compare(a.Key(), b.Key()) })
	return nil
}

// TargetsCSV is the per account and region table as a CSV file.
const TargetsCSV = "targets.csv"

// targetsCSV writes the table: every line, the page shows the first.
func targetsCSV(ts []TargetRow, ids []string) ([]byte, error) {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	head := []string{"account_id", "account_name", "region", "sessions", "finding_rows", "to_review"}
	for _, id := range ids {
		head = append(head, "rows_"+strings.ReplaceAll(id, "-", "_"))
	}
	head = append(head, "coverage_runs", "coverage_exported", "last_status", "last_run")
	if err := w.Write(head); err != nil {
		return nil, err
	}
	for _, t := range ts {
		rec := []string{t.AccountID, t.AccountName, t.Region, strconv.FormatInt(t.Sessions, 10), strconv.Itoa(t.Rows), strconv.Itoa(t.ToReview)}
		for _, id := range ids {
			rec = append(rec, strconv.Itoa(t.Findings[id]))
		}
		rec = append(rec, strconv.FormatInt(t.Runs, 10), strconv.FormatInt(t.Exported, 10), t.LastStatus, t.LastRun)
		if err := w.Write(rec); err != nil {
			return nil, err
		}
	}
	w.Flush()
	return b.Bytes(), w.Error()
}
