// Command session-audit is the local command line of the session audit
// trail: see `session-audit help`.
package main

import (
	"os"
	"time"

	"github.com/session-audit/session-audit/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], cli.Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Now: time.Now}))
}
