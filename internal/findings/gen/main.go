// Command gen writes the named queries of template.yaml from
// internal/findings (`make queries`): the text between the markers
// findings.BeginMarker and findings.EndMarker is replaced, the rest of the
// file is kept byte for byte. With -check it writes nothing and exits 1
// when the file is not what it would write.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/session-audit/session-audit/internal/findings"
)

func main() {
	path := flag.String("template", "template.yaml", "the SAM template to update")
	check := flag.Bool("check", false, "only check that the template is up to date")
	flag.Parse()
	if err := run(*path, *check); err != nil {
		fmt.Fprintln(os.Stderr, "queries:", err)
		os.Exit(1)
	}
}

func run(path string, check bool) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	updated, err := findings.Splice(old)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	n := len(findings.NamedQueries())
	switch {
	case bytes.Equal(old, updated):
		fmt.Printf("%s: %d named queries, up to date\n", path, n)
		return nil
	case check:
		return fmt.Errorf("%s: the named queries differ from internal/findings: run make queries", path)
	}
	// A temporary file beside it, then a rename: never a half-written
	// template.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".template-*.yaml")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(updated); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if st, err := os.Stat(path); err == nil {
		os.Chmod(tmp.Name(), st.Mode().Perm()) //nolint:errcheck // best effort
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	fmt.Printf("%s: %d named queries written\n", path, n)
	return nil
}
