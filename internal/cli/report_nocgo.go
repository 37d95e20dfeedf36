//go:build !cgo

package cli

import (
	"context"
	"errors"
)

// report needs the Athena emulator, which runs on DuckDB through cgo.
func (c *cmd) report(context.Context, []string) error {
	return errors.New("the report command runs the Athena emulator on DuckDB, which needs cgo: build with CGO_ENABLED=1 and a C compiler")
}
