package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/session-audit/session-audit/internal/exceptions"
	"github.com/session-audit/session-audit/internal/findings"
)

// exceptionsCmd runs `exceptions check FILE`: it validates an exceptions
// file before it is uploaded to <prefix>/exceptions.yaml, printing each
// problem as FILE:LINE: ..., and fails (exit 1) when the file cannot be
// read as one or holds an entry the report would not apply. Entries that
// have expired are listed, not failed: the report lists them too.
func (c *cmd) exceptionsCmd(_ context.Context, args []string) error {
	fs := c.flags("exceptions", "exceptions check FILE")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.usage()
			return err
		}
		return usageError{err}
	}
	if fs.NArg() != 2 || fs.Arg(0) != "check" {
		fs.usage()
		return usageError{errors.New("want: exceptions check FILE")}
	}
	path := fs.Arg(1)
	f, err := os.Open(path)
	if err != nil {
		return usageError{err}
	}
	defer f.Close()
	file, err := exceptions.Parse(f, findings.IDs())
	var se *exceptions.SyntaxError
	if errors.As(err, &se) {
		fmt.Fprintf(c.stdout, "%s:%d: %s\n", path, se.Line, se.Msg)
		return fmt.Errorf("%s is not an exceptions file: the report would fail on it", path)
	}
	if err != nil {
		return err
	}
	today := c.now().UTC().Truncate(24 * time.Hour)
	invalid, expired := file.Invalid(), file.ExpiredBy(today)
	for _, e := range invalid {
		for _, p := range e.Problems {
			fmt.Fprintf(c.stdout, "%s:%d: %s (never applied)\n", path, e.Line, p)
		}
	}
	for _, e := range expired {
		fmt.Fprintf(c.stdout, "%s:%d: expired on %s (covers sessions before then only)\n", path, e.Line, e.Expires.AddDate(0, 0, -1).Format(time.DateOnly))
	}
	fmt.Fprintf(c.stderr, "%s: %d entries: %d valid, %d invalid, %d expired\n", path, len(file.Entries), len(file.Entries)-len(invalid), len(invalid), len(expired))
	if len(invalid) > 0 {
		return fmt.Errorf("%d invalid entries in %s", len(invalid), path)
	}
	return nil
}
