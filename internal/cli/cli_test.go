package cli_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/parquet-go/parquet-go"

	"github.com/session-audit/session-audit/internal/accounts"
	"github.com/session-audit/session-audit/internal/cli"
	"github.com/session-audit/session-audit/internal/nodes"
	"github.com/session-audit/session-audit/internal/ssmfake"
)

// testNow is the CLI's clock in these tests: the emulators' history and
// every scheduled time are relative to it, never to the wall clock.
var testNow = time.Date(2026, 11, 26, 6, 30, 0, 0, time.UTC)

func run(t *testing.T, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	return runAt(t, testNow, env, args...)
}

func runAt(t *testing.T, now time.Time, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	getenv := func(k string) string { return env[k] }
	if env != nil && env[processEnv] == "yes" {
		// The process environment: tests that run against AWS endpoints set
		// it, as the SDK's default chain reads it.
		getenv = os.Getenv
	}
	code := cli.Main(args, cli.Env{Stdout: &out, Stderr: &errb, Getenv: getenv, Now: func() time.Time { return now }})
	return out.String(), errb.String(), code
}

// TestDemo is `make run`: the report read back from the Parquet written.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	out, stderr, code := run(t, nil, "demo", "--out", dir, "--sessions", "3000")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"Scheduled run at", "Sessions per day (UTC):", "Busiest owners:", "Longest sessions:",
		"Sessions by root or break-glass roles:", "Period:", "Sessions by status:", "Manifests:", "Managed nodes (names, platforms, EC2 tags): ", "make report"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	m := regexp.MustCompile(`(\d+) sessions written`).FindStringSubmatch(out)
	n := regexp.MustCompile(`(\d+) sessions in (\d+) Parquet files`).FindStringSubmatch(out)
	if m == nil || n == nil || m[1] != n[1] || m[1] == "0" {
		t.Errorf("export wrote %v sessions, the report read back %v", m, n)
	}
	if !strings.Contains(stderr, `"msg":"slot written"`) {
		t.Errorf("no progress on stderr: %s", stderr)
	}
	checkJSONLogs(t, stderr)
	files, err := filepath.Glob(filepath.Join(dir, "buckets", cli.LocalBucket, "ssm-sessions", "sessions", "dt=*", "*.parquet"))
	if err != nil || len(files) < 13 {
		t.Errorf("%d parquet files under %s", len(files), dir)
	}
	// The scheduled run's node snapshot: every node a session ran on,
	// EC2 instances named by their Name tag, managed instances as such.
	snap := filepath.Join(dir, "buckets", cli.LocalBucket, "ssm-sessions", "nodes", "dt="+testNow.UTC().Format(time.DateOnly), "123456789012_us-east-1.parquet")
	rows, err := parquet.ReadFile[nodes.Row](snap)
	if err != nil {
		t.Fatalf("node snapshot: %v", err)
	}
	named, managed := 0, 0
	for _, r := range rows {
		if r.ResourceType == "EC2Instance" && r.Name != nil && *r.Name == r.Tags["Name"] && r.Tags["Team"] != "" {
			named++
		}
		if r.ResourceType == "ManagedInstance" && strings.HasPrefix(r.NodeID, "mi-") && len(r.Tags) == 0 {
			managed++
		}
	}
	if len(rows) == 0 || named+managed != len(rows) || managed == 0 {
		t.Errorf("node snapshot: %d nodes, %d named EC2 instances, %d managed instances", len(rows), named, managed)
	}
	accts, err := parquet.ReadFile[accounts.Row](filepath.Join(dir, "buckets", cli.LocalBucket, "ssm-sessions", "accounts", "dt="+testNow.UTC().Format(time.DateOnly), "accounts.parquet"))
	if err != nil || len(accts) != 1 || accts[0].AccountID != "123456789012" || accts[0].Name != nil {
		t.Errorf("accounts file of single-account mode: %+v %v", accts, err)
	}
}

func TestRunAndLookupLocal(t *testing.T) {
	dir := t.TempDir()
	ev := filepath.Join(dir, "ev.json")
	if err := os.WriteFile(ev, []byte(`{"time":"2020-01-01T00:00:00Z"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := run(t, nil, "run", "--local", "--out", dir, "--event", ev)
	if code != 2 || !strings.Contains(stderr, "History horizon") {
		t.Errorf("stale event: exit %d, %s; want 2 (a bad event file)", code, stderr)
	}
	out, stderr, code := run(t, nil, "run", "--local", "--out", dir)
	var res struct {
		Mode  string `json:"mode"`
		Slots []struct {
			Object string `json:"object"`
		} `json:"slots"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Mode != "scheduled" || len(res.Slots) != 2 {
		t.Fatalf("run --local: exit %d, %s %s", code, out, stderr)
	}
	out, stderr, code = run(t, nil, "lookup", "--local", "--out", dir, "nobody-0123456789abcdef0")
	if code != 1 || out != "" {
		t.Errorf("lookup of an id that does not exist: exit %d, stdout %q; want 1 and nothing", code, out)
	}
	for _, want := range []string{"nobody-0123456789abcdef0 not found", "account 123456789012", "region us-east-1", "History", "Active"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("lookup of an id that does not exist does not say %q:\n%s", want, stderr)
		}
	}
}

// TestLookupFlagsAfterTheID: flags may follow the session id, as in most
// command lines; "--" ends the flags.
func TestLookupFlagsAfterTheID(t *testing.T) {
	dir := t.TempDir()
	today := testNow.Truncate(24 * time.Hour)
	id := aws.ToString(ssmfake.Generate(1, today.AddDate(0, 0, -3), today, 50)[7].SessionId)
	for _, args := range [][]string{
		{"lookup", "--local", "--out", dir, "--days", "3", "--sessions", "50", id},
		{"lookup", id, "--local", "--out", dir, "--days", "3", "--sessions", "50"},
		{"lookup", "--local", "--out", dir, id, "--days", "3", "--sessions", "50"},
		{"lookup", "--local", "--out", dir, "--days", "3", "--sessions", "50", "--", id},
	} {
		out, stderr, code := run(t, nil, args...)
		if code != 0 || !strings.Contains(out, `"session_id": "`+id+`"`) {
			t.Errorf("%v: exit %d, %s %s; want the session", args, code, out, stderr)
		}
	}
	_, stderr, code := run(t, nil, "lookup", id, "--local", "--out", dir, "another-id")
	if code != 2 || !strings.Contains(stderr, "want 1 argument(s), got 2") {
		t.Errorf("two ids: exit %d, %s; want 2", code, stderr)
	}
}

func TestBackfillLocalIsResumable(t *testing.T) {
	// Each --local run seeds a fresh emulator, so "resumable" shows as
	// slots skipped because their manifests are already in --out.
	dir := t.TempDir()
	end := testNow.Truncate(24 * time.Hour)
	start := end.AddDate(0, 0, -2)
	args := []string{"backfill", "--local", "--out", dir, "--start", start.Format(time.RFC3339), "--end", end.Format(time.RFC3339)}
	_, stderr, code := run(t, nil, args...)
	if code != 0 || strings.Count(stderr, `"n":"2/2"`) != 1 || strings.Contains(stderr, "skipped") {
		t.Fatalf("first backfill: exit %d, %s", code, stderr)
	}
	_, stderr, code = run(t, nil, args...)
	if code != 0 || strings.Count(stderr, "already exported") != 2 {
		t.Errorf("second backfill should skip both slots: exit %d, %s", code, stderr)
	}
	_, _, code = run(t, nil, "backfill", "--local", "--out", dir, "--start", end.Format(time.RFC3339), "--end", start.Format(time.RFC3339))
	if code != 2 {
		t.Errorf("end before start: exit %d, want 2", code)
	}
}

// backfillOneDay backfills yesterday with the default 24h slot into a fresh
// --out, and returns the folder, the day's bounds and the command's args.
func backfillOneDay(t *testing.T) (string, time.Time, time.Time, []string) {
	t.Helper()
	dir := t.TempDir()
	end := testNow.Truncate(24 * time.Hour)
	start := end.AddDate(0, 0, -1)
	args := []string{"backfill", "--local", "--out", dir, "--start", start.Format(time.RFC3339), "--end", end.Format(time.RFC3339)}
	if _, stderr, code := run(t, nil, args...); code != 0 {
		t.Fatalf("24h backfill: exit %d, %s", code, stderr)
	}
	return dir, start, end, args
}

// TestBackfillKeepsEachDaysSlotLength: a day backfilled with 24h and then
// with AUDIT_SLOT=12h is skipped as exported (its 24h slot has a manifest),
// not exported again as two 12h slots; --force re-exports it once, on 24h.
func TestBackfillKeepsEachDaysSlotLength(t *testing.T) {
	dir, start, end, args := backfillOneDay(t)
	twelve := map[string]string{"AUDIT_SLOT": "12h", "AUDIT_LOOKBACK": "24h"}
	_, stderr, code := run(t, twelve, args...)
	if code != 0 || strings.Count(stderr, "already exported") != 1 || strings.Contains(stderr, "backfill slot") {
		t.Fatalf("12h backfill of a 24h day: exit %d; want its one 24h slot skipped:\n%s", code, stderr)
	}
	_, stderr, code = run(t, twelve, append(args, "--force")...)
	if code != 0 || strings.Count(stderr, `"backfill slot"`) != 1 || !strings.Contains(stderr, "day exported on the slot length its first export fixed") {
		t.Fatalf("forced 12h backfill of a 24h day: exit %d; want one export of the day on 24h, logged:\n%s", code, stderr)
	}
	files, err := filepath.Glob(filepath.Join(dir, "buckets", cli.LocalBucket, "ssm-sessions", "sessions", "dt=*", "*.parquet"))
	if err != nil || len(files) != 1 || !strings.HasSuffix(files[0], start.Format("20060102T150405Z")+"_"+end.Format("20060102T150405Z")+".parquet") {
		t.Errorf("objects %v; want the day's one 24h object", files)
	}
}

// TestBackfillWithoutAStateObject: without a state object (the first
// backfill after an upgrade, or after someone deleted it), the backfill
// still finds the day's recorded length from its manifests and skips it.
func TestBackfillWithoutAStateObject(t *testing.T) {
	dir, _, _, args := backfillOneDay(t)
	states, err := filepath.Glob(filepath.Join(dir, "buckets", cli.LocalBucket, "ssm-sessions", "state", "*"))
	if err != nil || len(states) != 1 {
		t.Fatalf("state files %v, %v", states, err)
	}
	if err := os.Remove(states[0]); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := run(t, map[string]string{"AUDIT_SLOT": "12h", "AUDIT_LOOKBACK": "24h"}, args...)
	if code != 0 || strings.Count(stderr, "already exported") != 1 || strings.Contains(stderr, `"backfill slot"`) {
		t.Fatalf("12h backfill of a 24h day without a state: exit %d; want the day skipped:\n%s", code, stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"frobnicate"}, {"lookup"}, {"run", "--no-such-flag"}, {"backfill", "--start", "x", "--end", "y"}} {
		_, stderr, code := run(t, nil, args...)
		if code != 2 || stderr == "" {
			t.Errorf("%v: exit %d, stderr %q; want 2 and a message", args, code, stderr)
		}
	}
	out, _, code := run(t, nil, "help")
	if code != 0 || !strings.Contains(out, "Commands:") {
		t.Errorf("help: exit %d", code)
	}
	// emulate starts the STS emulator too.
	if m := regexp.MustCompile(`(?m)^  emulate +(.*\n(?: {12}.*\n)*)`).FindStringSubmatch(out); m == nil || !strings.Contains(m[1], "SSM") || !strings.Contains(m[1], "S3") || !strings.Contains(m[1], "STS") {
		t.Errorf("help does not say emulate starts SSM, S3 and STS:\n%s", out)
	}
	// A bad flag value is said once, and says what the flag wants.
	_, stderr, code := run(t, nil, "backfill", "--local", "--last", "7d")
	if code != 2 || strings.Count(stderr, `"7d"`) != 1 || !strings.Contains(stderr, "whole number of days") {
		t.Errorf("--last 7d: exit %d, %q; want 2 and one error asking for whole days", code, stderr)
	}
	_, stderr, code = run(t, nil, "run", "--no-such-flag")
	if code != 2 || strings.Count(stderr, "no-such-flag") != 1 {
		t.Errorf("run --no-such-flag: exit %d, %q; want 2 and the error once", code, stderr)
	}
	_, stderr, code = run(t, nil, "run")
	if code != 2 || !strings.Contains(stderr, "AUDIT_BUCKET is required") {
		t.Errorf("run without AUDIT_BUCKET: exit %d, %s; want 2 (a configuration error)", code, stderr)
	}
}

// TestReadmeCommandsExist keeps the README honest: every `make` target it
// names exists, every CLI line (`bin/session-audit` or `go run
// ./cmd/session-audit`) uses a command and flags the CLI has, and `go run`
// is used only where the exit code does not matter (help, emulate).
func TestReadmeCommandsExist(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	makefile, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile("(?m)^make ([a-zA-Z-]+)").FindAllStringSubmatch(string(readme), -1) {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(m[1]) + `:`).Match(makefile) {
			t.Errorf("README runs `make %s`, which the Makefile lacks", m[1])
		}
	}
	if !regexp.MustCompile(`(?m)^cli:[^\n]*\n\t[^\n]*-o bin/session-audit `).Match(makefile) {
		t.Error("the Makefile's cli target does not build bin/session-audit")
	}
	for _, m := range regexp.MustCompile(`go run \./cmd/session-audit ([a-z]+)`).FindAllStringSubmatch(string(readme), -1) {
		if m[1] != "help" && m[1] != "emulate" {
			t.Errorf("README runs `go run ./cmd/session-audit %s`, whose exit code go run hides; use bin/session-audit", m[1])
		}
	}
	lines := regexp.MustCompile(`(?:go run \./cmd/session-audit|bin/session-audit) ([a-z]+)((?: [^\n|]*)?)`).FindAllStringSubmatch(string(readme), -1)
	if len(lines) < 8 {
		t.Fatalf("found only %d CLI lines in the README", len(lines))
	}
	for _, l := range lines {
		cmd := l[1]
		if cmd == "help" {
			continue
		}
		_, usage, code := run(t, nil, cmd, "-h")
		if code != 0 || !strings.Contains(usage, "Usage: session-audit "+cmd) {
			t.Errorf("README uses command %q: -h exits %d: %s", cmd, code, usage)
			continue
		}
		for _, f := range regexp.MustCompile(`--([a-z-]+)`).FindAllStringSubmatch(l[2], -1) {
			if !strings.Contains(usage, "  -"+f[1]) {
				t.Errorf("README uses %s --%s, which the command lacks", cmd, f[1])
			}
		}
	}
}

// checkJSONLogs fails unless every stderr line that is not the CLI's own
// narration or final error is a JSON log line.
func checkJSONLogs(t *testing.T, stderr string) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if line == "" || strings.HasPrefix(line, "session-audit ") || strings.HasPrefix(line, "demo: ") || strings.HasPrefix(line, "emulated SSM, EC2 and S3") {
			continue
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Errorf("stderr line is not JSON: %q", line)
		}
	}
}

// TestRunLinksNoDuckDB: `make run` builds the CLI without cgo, and that
// build links neither DuckDB nor the Athena emulator (only `make report`
// and `make test` need them); the cgo build does link them, for report.
func TestRunLinksNoDuckDB(t *testing.T) {
	makefile, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^run:\n\tCGO_ENABLED=0 \$\(GO\) run \./cmd/session-audit `).Match(makefile) {
		t.Error("the Makefile's run target does not build ./cmd/session-audit with CGO_ENABLED=0")
	}
	if !regexp.MustCompile(`(?m)^run-org:\n\tCGO_ENABLED=0 \$\(GO\) run \./cmd/session-audit org `).Match(makefile) {
		t.Error("the Makefile's run-org target does not build ./cmd/session-audit with CGO_ENABLED=0")
	}
	deps := func(cgo string) []string {
		t.Helper()
		cmd := exec.Command("go", "list", "-deps", "./cmd/session-audit")
		cmd.Dir = filepath.Join("..", "..")
		cmd.Env = append(os.Environ(), "CGO_ENABLED="+cgo)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("CGO_ENABLED=%s go list -deps: %v", cgo, err)
		}
		var heavy []string
		for _, p := range strings.Fields(string(out)) {
			if strings.Contains(p, "duckdb") || strings.HasSuffix(p, "/internal/athenafake") {
				heavy = append(heavy, p)
			}
		}
		return heavy
	}
	if heavy := deps("0"); len(heavy) > 0 {
		t.Errorf("the CLI built with CGO_ENABLED=0 (make run) links %v", heavy)
	}
	if heavy := deps("1"); !slices.Contains(heavy, "github.com/duckdb/duckdb-go/v2") {
		t.Errorf("the CLI built with cgo (make report) does not link DuckDB: %v", heavy)
	}
}
