// Command session-audit-report is the report Lambda: weekly, monthly or on
// demand it runs the audit's findings in Athena and writes report.html,
// summary.json and one CSV per finding to S3 (internal/auditreport). This
// file only wires.
package main

import (
	"context"
	"log/slog"
	"os"
	"time"
	_ "time/tzdata" // AUDIT_TIME_ZONE on a runtime without a zoneinfo database

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/session-audit/session-audit/internal/auditreport"
	"github.com/session-audit/session-audit/internal/awsclients"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	cfg, err := auditreport.ConfigFromEnv(os.Getenv)
	if err != nil {
		logger.Error("configuration", "error", err.Error())
		os.Exit(1)
	}
	awsCfg, err := awsclients.LoadConfig(context.Background(), os.Getenv, []string{"S3", "ATHENA", "SNS"})
	if err != nil {
		logger.Error("aws configuration", "error", err.Error())
		os.Exit(1)
	}
	r := &auditreport.Reporter{
		Config: cfg,
		Athena: athena.NewFromConfig(awsCfg),
		S3:     s3.NewFromConfig(awsCfg, awsclients.S3BodyWorkaround, func(o *s3.Options) { o.UsePathStyle = cfg.PathStyle }),
		Now:    time.Now,
		Logger: logger,
	}
	if cfg.Topic != "" {
		r.SNS = sns.NewFromConfig(awsCfg)
	}
	lambda.Start(r.Handle)
}
