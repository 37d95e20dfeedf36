// Command session-audit is the local command line of the session audit
// trail: see `session-audit help`.
package main

import (
	"os"

	"github.com/session-audit/session-audit/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}
