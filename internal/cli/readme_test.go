package cli_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// readmeCommands are the runnable `bin/session-audit` lines of the README's
// sh blocks, in order, without comments, leading variable assignments or a
// leading `make cli &&`.
func readmeCommands(t *testing.T) []string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var cmds []string
	for _, block := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(string(readme), -1) {
		for _, line := range strings.Split(block[1], "\n") {
			if i := strings.Index(line, " #"); i >= 0 {
				line = line[:i]
			}
			fields := strings.Fields(line)
			for len(fields) > 0 && regexp.MustCompile(`^[A-Z_]+=`).MatchString(fields[0]) {
				fields = fields[1:]
			}
			if len(fields) > 3 && fields[0] == "make" && fields[1] == "cli" && fields[2] == "&&" {
				fields = fields[3:] // `make cli && bin/session-audit ...`: the CLI is built here already
			}
			if len(fields) > 1 && fields[0] == "bin/session-audit" {
				cmds = append(cmds, strings.Join(fields[1:], " "))
			}
		}
	}
	return cmds
}

// TestReadmeExamplesOnAnyDay runs every `bin/session-audit` command of the
// README, in order, through the CLI on two dates (a mid-morning and a
// midnight at a month's turn): the commands meant for the emulators as
// they are, those meant for AWS with --local added. SESSION_ID is an id
// the demo printed, as the README says. None may hold a fixed date.
func TestReadmeExamplesOnAnyDay(t *testing.T) {
	cmds := readmeCommands(t)
	if len(cmds) < 6 {
		t.Fatalf("found only %d bin/session-audit commands in the README", len(cmds))
	}
	date := regexp.MustCompile(`\d{4}-\d{2}-\d{2}`)
	for _, c := range cmds {
		if date.MatchString(c) {
			t.Errorf("README command %q holds a fixed date: it fails once that date leaves the 30-day horizon", c)
		}
	}
	idRE := regexp.MustCompile(`(?m)^Longest sessions:[^\n]*\n\s+\S+\s+\S+\s+(\S+) on `)
	for _, now := range []time.Time{
		time.Date(2026, 11, 26, 6, 30, 0, 0, time.UTC),
		time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC),
	} {
		t.Run(now.Format(time.RFC3339), func(t *testing.T) {
			dir := t.TempDir()
			id := ""
			for _, c := range cmds {
				args := strings.Fields(c)
				if args[0] == "emulate" {
					continue // serves until interrupted; TestReadmeCommandsExist checks its flags
				}
				for i, a := range args {
					if i > 0 && args[i-1] == "--out" && (a == "out" || strings.HasPrefix(a, "out/")) {
						args[i] = filepath.Join(dir, a)
					}
					if strings.HasPrefix(a, "docs/") {
						args[i] = filepath.Join("..", "..", a) // the repository's files, from this package
					}
				}
				if args[0] == "exceptions" {
					// Reads a file, nothing else: no --local, no sessions.
					if out, stderr, code := runAt(t, now, nil, args...); code != 0 {
						t.Fatalf("README command %q: exit %d\n%s\n%s", c, code, out, stderr)
					}
					continue
				}
				// demo and report run on the emulators only: they have no --local.
				if args[0] != "demo" && args[0] != "report" && !strings.Contains(c, "--local") {
					args = append(args[:1], append([]string{"--local", "--out", dir}, args[1:]...)...)
				}
				if args[0] != "lookup" {
					args = append(args[:1], append([]string{"--sessions", "2000"}, args[1:]...)...)
				} else {
					args = append([]string{"lookup", "--sessions", "2000"}, args[1:]...)
				}
				for i, a := range args {
					if a == "SESSION_ID" {
						if id == "" {
							t.Fatalf("%q: no demo ran before it to print an id", c)
						}
						args[i] = id
					}
				}
				out, stderr, code := runAt(t, now, nil, args...)
				if args[0] == "report" && code == 1 && strings.Contains(stderr, "needs cgo") {
					continue // the report's Athena emulator runs on DuckDB
				}
				if code != 0 {
					t.Fatalf("README command %q (run as %v): exit %d\n%s\n%s", c, args, code, out, stderr)
				}
				switch args[0] {
				case "demo":
					m := idRE.FindStringSubmatch(out)
					if m == nil {
						t.Fatalf("the demo printed no session id under Longest sessions:\n%s", out)
					}
					id = m[1]
				case "lookup":
					if !strings.Contains(out, `"session_id": "`+id+`"`) {
						t.Errorf("lookup of the demo's %s found nothing:\n%s", id, out)
					}
				}
			}
		})
	}
}

// TestDocsCiteTheirOwnDesignDocument: the code, the template and the
// README cite docs/ARCHITECTURE.md, which is in the repository, never a
// design document users do not have; and that document covers the
// contracts and the decisions.
func TestDocsCiteTheirOwnDesignDocument(t *testing.T) {
	root := filepath.Join("..", "..")
	arch, err := os.ReadFile(filepath.Join(root, "docs", "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, section := range []string{"## Data flow", "## Events (input)", "## Response (output)", "## Configuration (environment)",
		"## S3 layout", "## Manifests", "## Parquet schema", "## Organizations", "**Coverage layout.**", "**The per-target exporter.**"} {
		if !strings.Contains(string(arch), section) {
			t.Errorf("docs/ARCHITECTURE.md lacks %q", section)
		}
	}
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != root || d.Name() == "out" || d.Name() == "bin" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !(strings.HasSuffix(path, ".go") || strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".md")) {
			return nil
		}
		body, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if regexp.MustCompile(`\bDESIGN` + `\.md\b`).Match(body) {
			t.Errorf("%s cites DESIGN"+".md, which the repository does not have; cite docs/ARCHITECTURE.md", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
