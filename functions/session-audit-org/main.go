// Command session-audit-org is the org function: the Plan and Coverage
// steps of the organization state machine. It wires the configuration, the
// SDK clients and the handler, and starts the Lambda runtime loop.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/session-audit/session-audit/internal/orgfunc"
)

func main() {
	logger := lambdacontext.NewLogger()
	slog.SetDefault(logger)
	h, err := orgfunc.New(context.Background(), os.Getenv, logger, os.Stdout, time.Now)
	if err != nil {
		logger.Error("session-audit-org cannot start", "error", err.Error())
		fmt.Fprintln(os.Stderr, "session-audit-org:", err)
		os.Exit(1)
	}
	lambda.Start(h)
}
