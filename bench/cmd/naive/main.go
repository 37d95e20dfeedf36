// Command naive runs the benchmarks' baseline export (package bench/naive)
// as its own process, configured like the function: the SDK's default
// chain (AWS_REGION, credentials, AWS_ENDPOINT_URL_SSM/S3) and AUDIT_BUCKET,
// AUDIT_PREFIX, AUDIT_SLOT and AUDIT_S3_PATH_STYLE. bench/function.sh runs
// it beside the function, under /usr/bin/time, for peak RSS and CPU time.
//
//	naive [run] --account 123456789012 --event backfill.json
//
// (A leading "run" is accepted, so it takes the function's command line.)
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/session-audit/session-audit/bench/naive"
	"github.com/session-audit/session-audit/internal/archive"
	"github.com/session-audit/session-audit/internal/store"
	"github.com/session-audit/session-audit/internal/window"
)

func main() {
	account := flag.String("account", "123456789012", "account id of the rows and keys")
	eventFile := flag.String("event", "", `backfill event file: {"start": "...Z", "end": "...Z"}`)
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "run" {
		args = args[1:]
	}
	flag.CommandLine.Parse(args) //nolint:errcheck // ExitOnError
	if err := run(*account, *eventFile); err != nil {
		fmt.Fprintln(os.Stderr, "naive:", err)
		os.Exit(1)
	}
}

func run(account, eventFile string) error {
	body, err := os.ReadFile(eventFile)
	if err != nil {
		return err
	}
	var ev struct{ Start, End time.Time }
	if err := json.Unmarshal(body, &ev); err != nil {
		return fmt.Errorf("event: %w", err)
	}
	slotLen := 24 * time.Hour
	if v := os.Getenv("AUDIT_SLOT"); v != "" {
		if slotLen, err = time.ParseDuration(v); err != nil {
			return fmt.Errorf("AUDIT_SLOT: %w", err)
		}
	}
	grid, err := window.NewGrid(slotLen)
	if err != nil {
		return err
	}
	slots, err := grid.Range(ev.Start, ev.End, time.Now())
	if err != nil {
		return err
	}
	prefix := os.Getenv("AUDIT_PREFIX")
	if prefix == "" {
		prefix = "ssm-sessions"
	}
	pathStyle, _ := strconv.ParseBool(os.Getenv("AUDIT_S3_PATH_STYLE"))
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return err
	}
	keys, err := store.NewKeys(prefix, account, cfg.Region)
	if err != nil {
		return err
	}
	sc := ssm.NewFromConfig(cfg)
	oc := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = pathStyle })
	origin := archive.Origin{AccountID: account, Region: cfg.Region, ExportedAt: time.Now()}
	var results []naive.Result
	for _, s := range slots {
		r, err := naive.Export(ctx, sc, oc, os.Getenv("AUDIT_BUCKET"), keys.Object(s), s, origin)
		if err != nil {
			return fmt.Errorf("slot %s: %w", s, err)
		}
		results = append(results, r)
	}
	out, _ := json.MarshalIndent(results, "", "  ")
	fmt.Println(string(out))
	return nil
}
