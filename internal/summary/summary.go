// Package summary reads the Parquet files of an export back from a folder
// and prints the short compliance report of the local demo: sessions per
// day, the busiest owners, the longest sessions, sessions by root or
// break-glass roles, and where the files are.
package summary

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/session-audit/session-audit/internal/archive"
)

// Summary is what the report says.
type Summary struct {
	Files    []string
	Sessions int
	PerDay   []Count
	Owners   []Count
	Longest  []archive.Row
	Root     []archive.Row // root or break-glass owners
}

// Count is a key and how many sessions it has.
type Count struct {
	Key string
	N   int
}

// Read loads every .parquet file below dir.
func Read(dir string, top int) (Summary, error) {
	var s Summary
	perDay, owners := map[string]int{}, map[string]int{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".parquet") {
			return err
		}
		s.Files = append(s.Files, path)
		rows, err := readFile(path)
		if err != nil {
			return err
		}
		for _, r := range rows {
			s.Sessions++
			perDay[r.StartDate.Format(time.DateOnly)]++
			owners[r.Owner]++
			if IsPrivileged(r.Owner) {
				s.Root = append(s.Root, r)
			}
			s.Longest = append(s.Longest, r)
			slices.SortFunc(s.Longest, func(a, b archive.Row) int { return cmp.Compare(dur(b), dur(a)) })
			if len(s.Longest) > top {
				s.Longest = s.Longest[:top]
			}
		}
		return nil
	})
	if err != nil {
		return Summary{}, fmt.Errorf("read parquet under %s: %w", dir, err)
	}
	s.PerDay = counts(perDay, false)
	s.Owners = counts(owners, true)
	if len(s.Owners) > top {
		s.Owners = s.Owners[:top]
	}
	slices.SortFunc(s.Root, func(a, b archive.Row) int { return a.StartDate.Compare(b.StartDate) })
	return s, nil
}

// IsPrivileged reports whether an owner ARN is the account root or a
// break-glass role, the sessions auditors ask about first.
func IsPrivileged(owner string) bool {
	o := strings.ToLower(owner)
	return strings.HasSuffix(o, ":root") || strings.Contains(o, "breakglass") || strings.Contains(o, "break-glass")
}

func dur(r archive.Row) int64 {
	if r.DurationSeconds == nil {
		return -1
	}
	return *r.DurationSeconds
}

func readFile(path string) ([]archive.Row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	pf, err := parquet.OpenFile(f, info.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	rd := parquet.NewGenericReader[archive.Row](pf)
	defer rd.Close()
	out := make([]archive.Row, 0, pf.NumRows())
	buf := make([]archive.Row, 1024)
	for {
		n, err := rd.Read(buf)
		out = append(out, buf[:n]...)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
}

func counts(m map[string]int, byCount bool) []Count {
	out := make([]Count, 0, len(m))
	for k, n := range m {
		out = append(out, Count{k, n})
	}
	slices.SortFunc(out, func(a, b Count) int {
		if byCount && a.N != b.N {
			return cmp.Compare(b.N, a.N)
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out
}

// Print writes the report as text.
func (s Summary) Print(w io.Writer) {
	fmt.Fprintf(w, "%d sessions in %d Parquet files\n\nSessions per day (UTC):\n", s.Sessions, len(s.Files))
	for _, c := range s.PerDay {
		fmt.Fprintf(w, "  %s  %6d\n", c.Key, c.N)
	}
	fmt.Fprintf(w, "\nBusiest owners:\n")
	for _, c := range s.Owners {
		fmt.Fprintf(w, "  %6d  %s\n", c.N, c.Key)
	}
	fmt.Fprintf(w, "\nLongest sessions:\n")
	for _, r := range s.Longest {
		fmt.Fprintf(w, "  %9s  %s  %s on %s by %s\n", (time.Duration(dur(r)) * time.Second).String(), r.StartDate.Format(time.RFC3339), r.SessionID, r.Target, r.Owner)
	}
	fmt.Fprintf(w, "\nSessions by root or break-glass roles: %d\n", len(s.Root))
	for i, r := range s.Root {
		if i == 10 {
			fmt.Fprintf(w, "  ... and %d more\n", len(s.Root)-10)
			break
		}
		fmt.Fprintf(w, "  %s  %s on %s by %s (%s)\n", r.StartDate.Format(time.RFC3339), r.SessionID, r.Target, r.Owner, r.Status)
	}
	fmt.Fprintf(w, "\nFiles:\n")
	for _, f := range s.Files {
		fmt.Fprintf(w, "  %s\n", f)
	}
}
