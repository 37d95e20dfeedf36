// Command session-audit is the Lambda function: it wires the configuration,
// the SDK clients and the handler, and starts the Lambda runtime loop.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/session-audit/session-audit/internal/app"
)

func main() {
	logger := lambdacontext.NewLogger()
	slog.SetDefault(logger)
	app.TuneMemory(os.Getenv)
	h, err := app.New(context.Background(), os.Getenv, logger, os.Stdout, time.Now)
	if err != nil {
		logger.Error("session-audit cannot start", "error", err.Error())
		fmt.Fprintln(os.Stderr, "session-audit:", err)
		os.Exit(1)
	}
	lambda.Start(h) // *handler.Handler is a lambda.Handler: it sees the raw payload
}
