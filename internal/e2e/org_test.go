package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/session-audit/session-audit/internal/app"
	"github.com/session-audit/session-audit/internal/archive"
	"github.com/session-audit/session-audit/internal/config"
	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/export"
	"github.com/session-audit/session-audit/internal/outcome"
	"github.com/session-audit/session-audit/internal/ssmfake"
	"github.com/session-audit/session-audit/internal/stsfake"
)

// The organization of the org tests: the function's own account and four
// members with the member role, in three regions; one more account without
// the role, one whose role lacks ssm:DescribeSessions, and one opt-in
// region a member has not enabled.
const (
	memberRole  = "audit/session-reader"
	externalID  = "org-external-1"
	noRole      = "555555555555"
	noSSMPolicy = "666666666666"
	disabledAcc = "444444444444"
	disabledReg = "ap-southeast-2"
)

var (
	orgAccounts = []string{account, "111111111111", "222222222222", "333333333333", disabledAcc}
	orgRegions  = []string{"us-east-1", "eu-west-1", disabledReg}
)

// orgTarget is one account and region.
type orgTarget struct{ account, region string }

func (tg orgTarget) String() string { return tg.account + "/" + tg.region }

// orgEnv is one warm function wired to the emulators of an organization.
type orgEnv struct {
	*testEnv
	sts   *stsfake.Server
	ssm   *ssmfake.Server
	lists *listRecorder
}

// listRecorder records the prefixes of the ListObjectsV2 requests S3 gets.
type listRecorder struct {
	mu       sync.Mutex
	prefixes []string
}

func (l *listRecorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "2" {
			l.mu.Lock()
			l.prefixes = append(l.prefixes, r.URL.Query().Get("prefix"))
			l.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

func (l *listRecorder) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.prefixes
	l.prefixes = nil
	return p
}

// newOrgEnv starts the emulators with sessions in [from, to) for every
// target of orgAccounts x orgRegions and for the two refusing accounts,
// and wires one function (AUDIT_MEMBER_ROLE set unless env says otherwise).
func newOrgEnv(t *testing.T, now, from, to time.Time, env map[string]string) *orgEnv {
	t.Helper()
	t.Setenv("AWS_CA_BUNDLE", "")
	fake := ssmfake.New()
	seed := int64(1)
	for _, a := range append(append([]string{}, orgAccounts...), noRole, noSSMPolicy) {
		for _, r := range orgRegions {
			fake.Target(a, r).Put(ssmfake.Generate(seed, from, to, 40)...)
			seed++
		}
	}
	fake.DisableRegion(disabledAcc, disabledReg)
	fake.DenyAccount(noSSMPolicy)
	sts := stsfake.New()
	for _, a := range append(orgAccounts[1:], noSSMPolicy) {
		sts.AllowRole(a, stsfake.Role{Name: memberRole, ExternalID: externalID})
	}
	lists := &listRecorder{}
	emu, err := emulators.Start(emulators.Options{Bucket: bucket, SSM: fake, STS: sts, S3Wrap: lists.wrap, MaxBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	vars := map[string]string{"AUDIT_BUCKET": bucket, "AUDIT_MEMBER_ROLE": memberRole, "AUDIT_MEMBER_EXTERNAL_ID": externalID}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	te := &testEnv{t: t, emu: emu, now: now, cfg: cfg}
	te.h = app.Wire(cfg, emu.Clients(), slog.New(slog.NewJSONHandler(io.Discard, nil)), func() time.Time { return te.now })
	return &orgEnv{testEnv: te, sts: sts, ssm: fake, lists: lists}
}

// invokeTarget sends a scheduled event at at for tg.
func (oe *orgEnv) invokeTarget(at time.Time, tg orgTarget) (export.Result, error) {
	return oe.invoke(fmt.Sprintf(`{"time":%q,"account":%q,"region":%q}`, at.Format(time.RFC3339), tg.account, tg.region))
}

// expectedOf returns the History sessions of tg whose StartDate lies in
// [from, to), as rows of tg, ordered like readRows.
func (oe *orgEnv) expectedOf(tg orgTarget, from, to time.Time) []archive.Row {
	var out []archive.Row
	for _, s := range oe.ssm.Target(tg.account, tg.region).Sessions("History") {
		if s.StartDate.Before(from) || !s.StartDate.Before(to) {
			continue
		}
		out = append(out, archive.FromSession(s, archive.Origin{AccountID: tg.account, Region: tg.region}))
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].StartDate.Equal(out[j].StartDate) {
			return out[i].StartDate.Before(out[j].StartDate)
		}
		return out[i].SessionID < out[j].SessionID
	})
	return out
}

// successfulAssumes counts the answered AssumeRole calls per account.
func successfulAssumes(s *stsfake.Server) map[string]int {
	n := map[string]int{}
	for _, c := range s.Calls() {
		if c.Action == "AssumeRole" && c.ErrorCode == "" {
			n[c.Account]++
		}
	}
	return n
}

// TestOrganization exports 5 accounts x 3 regions (and two refusing
// accounts) with per-target events sent to one warm function, twice a day
// apart, and reads the archive back with DuckDB.
func TestOrganization(t *testing.T) {
	now := ts("2026-11-26T06:30:00Z")
	from, to := ts("2026-11-22T00:00:00Z"), ts("2026-11-26T06:00:00Z")
	oe := newOrgEnv(t, now, from, to, nil)

	// One session of a member target is still running in the first run:
	// its slot is reopened from that target's manifest the next day.
	late := orgTarget{"111111111111", "eu-west-1"}
	lateStart := ts("2026-11-24T10:00:00Z")
	running := types.Session{SessionId: aws.String("late-0123456789abcdef0"), Target: aws.String("i-0late"),
		Status: types.SessionStatusConnected, StartDate: &lateStart, Owner: aws.String("arn:aws:iam::111111111111:user/late")}
	oe.ssm.Target(late.account, late.region).Put(running)

	// STS throttles the first two AssumeRole calls: the SDK retries them.
	oe.sts.Throttle(2)

	var targets []orgTarget
	for _, a := range append(append([]string{}, orgAccounts...), noRole, noSSMPolicy) {
		for _, r := range orgRegions {
			targets = append(targets, orgTarget{a, r})
		}
	}
	wantStatus := func(tg orgTarget) outcome.Status {
		switch {
		case tg.account == noRole || tg.account == noSSMPolicy:
			return outcome.Denied
		case tg == orgTarget{disabledAcc, disabledReg}:
			return outcome.RegionDisabled
		}
		return outcome.Exported
	}

	run := func(at time.Time) map[orgTarget]export.Result {
		got := map[orgTarget]export.Result{}
		for _, tg := range targets {
			res, err := oe.invokeTarget(at, tg)
			if err != nil {
				t.Fatalf("target %s: %v", tg, err)
			}
			if res.Account != tg.account || res.Region != tg.region || res.Status != wantStatus(tg) {
				t.Errorf("target %s answered account %q region %q status %q; want status %q", tg, res.Account, res.Region, res.Status, wantStatus(tg))
			}
			if res.Status != outcome.Exported && (len(res.Slots) != 0 || res.Rows != 0 || res.Error == "") {
				t.Errorf("refused target %s answered %+v; want no slots and the AWS answer", tg, res)
			}
			for _, s := range res.Slots {
				if !strings.Contains(s.Manifest, "/"+tg.account+"_"+tg.region+"_") {
					t.Errorf("target %s reports manifest %s of another target", tg, s.Manifest)
				}
			}
			got[tg] = res
		}
		return got
	}

	first := run(ts("2026-11-26T00:05:00Z"))
	if res := first[late]; len(res.Slots) != 2 || res.Slots[0].ActivePending != 1 {
		t.Fatalf("late target's first run: %+v; want 2 slots, the first with 1 active session", res)
	}
	if codes := oe.sts.Calls(); len(codes) < 3 || codes[0].ErrorCode != "Throttling" || codes[1].ErrorCode != "Throttling" || codes[2].ErrorCode != "" {
		t.Errorf("STS calls %+v: want two throttled AssumeRole calls retried into a third that succeeds", codes)
	}
	if got := first[orgTarget{noRole, "us-east-1"}].Error; !strings.Contains(got, "AccessDenied") {
		t.Errorf("the account without the role reports %q; want STS's AccessDenied", got)
	}
	if got := first[orgTarget{noSSMPolicy, "us-east-1"}].Error; !strings.Contains(got, "AccessDeniedException") {
		t.Errorf("the account whose role lacks ssm:DescribeSessions reports %q; want SSM's AccessDeniedException", got)
	}

	// The session ends; a day later the next run exports the new day and
	// reopens the late target's slot, listing only that target's manifests.
	ended := lateStart.Add(time.Hour)
	running.Status, running.EndDate = types.SessionStatusTerminated, &ended
	oe.ssm.Target(late.account, late.region).Put(running)
	oe.now = ts("2026-11-27T06:30:00Z")
	oe.lists.take()
	second := run(ts("2026-11-27T00:05:00Z"))
	prefixes := oe.lists.take()
	if res := second[late]; len(res.Slots) != 3 || !res.Slots[2].Start.Equal(ts("2026-11-24T00:00:00Z")) {
		t.Errorf("late target's second run: %+v; want 11-25, 11-26 and the reopened 11-24", res)
	}

	// The second scheduled run of an exported target reads its state
	// object and lists nothing; a target that SSM refused has no state (a
	// refused target gets nothing written), so its run lists its own
	// manifests, one prefix per day of the History horizon, and nothing
	// else.
	perTarget := map[string]int{}
	for _, p := range prefixes {
		day, name, ok := strings.Cut(strings.TrimPrefix(p, "ssm-sessions/manifests/"), "/")
		if !ok || !strings.HasPrefix(day, "dt=") || !strings.HasSuffix(name, "_") || strings.Count(name, "_") != 2 {
			t.Errorf("ListObjectsV2 prefix %q is not one target's manifests of one day", p)
			continue
		}
		perTarget[strings.TrimSuffix(name, "_")]++
	}
	for tg := range second {
		// 2026-10-28 (the horizon) to 2026-11-27 for a target without a
		// state; a target whose role STS refuses reads nothing.
		want := 0
		if st := wantStatus(tg); st != outcome.Exported && tg.account != noRole {
			want = 31
		}
		if n := perTarget[tg.account+"_"+tg.region]; n != want {
			t.Errorf("target %s: %d listings of its manifests, want %d", tg, n, want)
		}
	}
	// Each exported target has its state object; no refused one has.
	for tg := range second {
		key := "ssm-sessions/state/" + tg.account + "_" + tg.region + ".json"
		if has := slices.Contains(oe.allObjects(), key); has != (wantStatus(tg) == outcome.Exported) {
			t.Errorf("target %s (%s): state object present = %v", tg, wantStatus(tg), has)
		}
	}

	// AssumeRole once per member account for the whole warm function; never
	// for the function's own account, although a role is configured.
	assumes := successfulAssumes(oe.sts)
	for _, a := range append(orgAccounts[1:], noSSMPolicy) {
		if assumes[a] != 1 {
			t.Errorf("account %s: %d successful AssumeRole calls over two runs of 3 regions; want 1", a, assumes[a])
		}
	}
	for _, c := range oe.sts.Calls() {
		if c.Account == account {
			t.Errorf("AssumeRole for the function's own account: %+v", c)
		}
		if c.Action == "AssumeRole" && (c.Session != "session-audit" || c.External != externalID ||
			c.RoleARN != "arn:aws:iam::"+c.Account+":role/"+memberRole) {
			t.Errorf("AssumeRole %+v: want role %s, session name session-audit, external id %s", c, memberRole, externalID)
		}
	}

	// What landed in S3, read back by DuckDB: every History session of
	// every exported target once, in its target's rows; nothing of the
	// refused targets.
	dir := oe.download()
	for _, key := range oe.objects() {
		for _, bad := range []string{noRole, noSSMPolicy, disabledAcc + "_" + disabledReg} {
			if strings.Contains(key, bad) {
				t.Errorf("object %s of a refused target", key)
			}
		}
	}
	rows := readRows(t, duck(t, dir))
	byTarget := map[orgTarget][]dbRow{}
	for _, r := range rows {
		tg := orgTarget{r.AccountID, r.Region}
		byTarget[tg] = append(byTarget[tg], r)
	}
	total := 0
	for _, tg := range targets {
		if wantStatus(tg) != outcome.Exported {
			if len(byTarget[tg]) != 0 {
				t.Errorf("refused target %s has %d rows", tg, len(byTarget[tg]))
			}
			continue
		}
		want := oe.expectedOf(tg, ts("2026-11-24T00:00:00Z"), ts("2026-11-27T00:00:00Z"))
		if len(want) == 0 {
			t.Fatalf("target %s has no sessions to export; the test data is wrong", tg)
		}
		t.Run(tg.String(), func(t *testing.T) { compareRows(t, byTarget[tg], want) })
		total += len(want)
	}
	if len(rows) != total {
		t.Errorf("%d rows in the archive; the exported targets have %d sessions", len(rows), total)
	}
}

// TestOrganizationNeedsMemberRole sends an event naming another account to
// a function without AUDIT_MEMBER_ROLE: a clear error, nothing written, no
// STS call.
func TestOrganizationNeedsMemberRole(t *testing.T) {
	now := ts("2026-11-26T06:30:00Z")
	oe := newOrgEnv(t, now, ts("2026-11-24T00:00:00Z"), ts("2026-11-26T00:00:00Z"), map[string]string{"AUDIT_MEMBER_ROLE": "", "AUDIT_MEMBER_EXTERNAL_ID": ""})
	_, err := oe.invokeTarget(ts("2026-11-26T00:05:00Z"), orgTarget{"111111111111", "eu-west-1"})
	if err == nil || !strings.Contains(err.Error(), "AUDIT_MEMBER_ROLE") || !strings.Contains(err.Error(), "111111111111") {
		t.Fatalf("error = %v; want one naming AUDIT_MEMBER_ROLE and the account", err)
	}
	if keys := oe.allObjects(); len(keys) != 0 {
		t.Errorf("objects written: %v", keys)
	}
	if calls := oe.sts.Calls(); len(calls) != 0 {
		t.Errorf("STS calls: %+v", calls)
	}
	// The function's own account in another region needs no role.
	res, err := oe.invokeTarget(ts("2026-11-26T00:05:00Z"), orgTarget{account, "eu-west-1"})
	if err != nil || res.Status != outcome.Exported || res.Rows == 0 {
		t.Fatalf("own account in eu-west-1: %+v, %v", res, err)
	}
}

// TestOrganizationSingleAccountResponse checks that an event without
// account and region exports the function's own account and region and
// says so in the response.
func TestOrganizationSingleAccountResponse(t *testing.T) {
	now := ts("2026-11-26T06:30:00Z")
	oe := newOrgEnv(t, now, ts("2026-11-24T00:00:00Z"), ts("2026-11-26T00:00:00Z"), nil)
	out, err := oe.h.Handle(lambdaCtx(), json.RawMessage(`{"time":"2026-11-26T00:05:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	res := out.(export.Result)
	if res.Account != account || res.Region != emulators.Region || res.Status != outcome.Exported || len(res.Slots) != 2 {
		t.Fatalf("response %+v", res)
	}
	rows := readRows(t, duck(t, oe.download()))
	compareRows(t, rows, oe.expectedOf(orgTarget{account, emulators.Region}, ts("2026-11-24T00:00:00Z"), ts("2026-11-26T00:00:00Z")))
	if n := len(oe.sts.Calls()); n != 0 {
		t.Errorf("%d STS calls in single-account mode", n)
	}
}

// TestOrganizationLookupAndBackfill sends the other two kinds of event to
// targets: a lookup finds a member's session in its region and answers it
// as that target's row; a backfill of a refused target answers its status
// and writes nothing.
func TestOrganizationLookupAndBackfill(t *testing.T) {
	now := ts("2026-11-26T06:30:00Z")
	oe := newOrgEnv(t, now, ts("2026-11-24T00:00:00Z"), ts("2026-11-26T00:00:00Z"), nil)
	var emf bytes.Buffer
	oe.exp().Metrics = &emf
	tg := orgTarget{"222222222222", "eu-west-1"}
	want := oe.ssm.Target(tg.account, tg.region).Sessions("History")[0]
	out, err := oe.h.Handle(lambdaCtx(), json.RawMessage(fmt.Sprintf(`{"sessionId":%q,"account":%q,"region":%q}`, aws.ToString(want.SessionId), tg.account, tg.region)))
	if err != nil {
		t.Fatal(err)
	}
	body := mustJSON(t, out)
	var res struct {
		Mode     string        `json:"mode"`
		Sessions []archive.Row `json:"sessions"`
		Account  string        `json:"account"`
		Region   string        `json:"region"`
		Status   string        `json:"status"`
	}
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatal(err)
	}
	if res.Mode != "lookup" || len(res.Sessions) != 1 || res.Sessions[0].SessionID != aws.ToString(want.SessionId) ||
		res.Sessions[0].AccountID != tg.account || res.Sessions[0].Region != tg.region || res.Account != tg.account || res.Region != tg.region || res.Status != "" {
		t.Errorf("lookup answered %s", body)
	}
	// The same id is not a session of the member's other region.
	out, err = oe.h.Handle(lambdaCtx(), json.RawMessage(fmt.Sprintf(`{"sessionId":%q,"account":%q,"region":"us-east-1"}`, aws.ToString(want.SessionId), tg.account)))
	if err != nil || !strings.Contains(mustJSON(t, out), `"sessions":[]`) {
		t.Errorf("lookup in another region: %s, %v", mustJSON(t, out), err)
	}
	out, err = oe.h.Handle(lambdaCtx(), json.RawMessage(`{"sessionId":"a-1","account":"`+noRole+`","region":"us-east-1"}`))
	if err != nil || !strings.Contains(mustJSON(t, out), `"status":"denied"`) {
		t.Errorf("lookup in an account without the role: %s, %v", mustJSON(t, out), err)
	}

	for _, refused := range []struct {
		tg   orgTarget
		want outcome.Status
	}{{orgTarget{noRole, "eu-west-1"}, outcome.Denied}, {orgTarget{noSSMPolicy, "eu-west-1"}, outcome.Denied}, {orgTarget{disabledAcc, disabledReg}, outcome.RegionDisabled}} {
		res, err := oe.invoke(fmt.Sprintf(`{"start":"2026-11-20T00:00:00Z","end":"2026-11-26T00:00:00Z","account":%q,"region":%q}`, refused.tg.account, refused.tg.region))
		if err != nil || res.Status != refused.want || res.Mode != "backfill" || len(res.Slots) != 0 {
			t.Errorf("backfill of %s: %+v, %v; want status %s", refused.tg, res, err, refused.want)
		}
	}
	// The EMF lines of the targets SSM refused: their status, and no failed
	// slots for the alarms (STS's refusal never reaches the export).
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(emf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("EMF line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 2 || lines[0]["Account"] != noSSMPolicy || lines[0]["Status"] != "denied" ||
		lines[1]["Account"] != disabledAcc || lines[1]["Region"] != disabledReg || lines[1]["Status"] != "region-disabled" ||
		lines[0]["SlotsFailed"] != 0.0 || lines[1]["SlotsFailed"] != 0.0 {
		t.Errorf("EMF lines %v", lines)
	}
	// One SSM call for the refusing targets, not one per slot of the six.
	perTarget := map[string]int{}
	for _, c := range oe.ssm.Calls() {
		perTarget[c.Account+"/"+c.Region]++
	}
	if n := perTarget[noSSMPolicy+"/eu-west-1"]; n != 1 {
		t.Errorf("%d DescribeSessions calls for the account whose role refuses them; want 1", n)
	}
	if keys := oe.allObjects(); len(keys) != 0 {
		t.Errorf("objects written: %v", keys)
	}
}
