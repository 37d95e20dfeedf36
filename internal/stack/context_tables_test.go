package stack_test

import (
	"slices"
	"testing"
	"time"

	"github.com/session-audit/session-audit/internal/accounts"
	"github.com/session-audit/session-audit/internal/athenafake"
	"github.com/session-audit/session-audit/internal/nodes"
)

// TestContextTablesMatchTheirRows: the Glue tables nodes and accounts
// declare exactly the Parquet columns their writers write (nodes.Row,
// accounts.Row), in order, with the types the Athena emulator serves them
// with (derived from the same schemas: one source of truth), partitioned
// by dt with projection over the keys the code writes.
func TestContextTablesMatchTheirRows(t *testing.T) {
	s := resolve(t, loadTemplate(t), defaults)
	day := time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		resource string
		table    athenafake.Table
		key      string
	}{
		{"NodesTable", athenafake.NodesTable("ssm-sessions"), nodes.Key("ssm-sessions", "111122223333", "eu-west-1", day)},
		{"AccountsTable", athenafake.AccountsTable("ssm-sessions"), accounts.Key("ssm-sessions", day)},
	} {
		ti := asMap(s.props(t, tc.resource)["TableInput"])
		if ti["Name"] != tc.table.Name {
			t.Errorf("%s: name %v, want %s", tc.resource, ti["Name"], tc.table.Name)
		}
		sd := asMap(ti["StorageDescriptor"])
		var got, want []string
		for _, c := range asList(sd["Columns"]) {
			got = append(got, scalarString(asMap(c)["Name"])+" "+scalarString(asMap(c)["Type"]))
		}
		for _, c := range tc.table.Columns {
			want = append(want, c.Name+" "+c.Type)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s columns\n got %v\nwant %v", tc.resource, got, want)
		}
		params := asMap(ti["Parameters"])
		loc := "s3://{{AuditBucket}}/" + tc.table.Prefix + "dt=${dt}/"
		if params["projection.enabled"] != "true" || params["projection.dt.type"] != "date" || params["storage.location.template"] != loc {
			t.Errorf("%s: projection %v; want dt projected at %s", tc.resource, params, loc)
		}
		if want := tc.table.Prefix + "dt=2026-11-25/"; len(tc.key) <= len(want) || tc.key[:len(want)] != want {
			t.Errorf("%s: the code writes %s, outside %s", tc.resource, tc.key, want)
		}
		pk := asList(ti["PartitionKeys"])
		if len(pk) != 1 || asMap(pk[0])["Name"] != "dt" {
			t.Errorf("%s: partition keys %v", tc.resource, pk)
		}
	}
}
