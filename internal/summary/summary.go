// Package summary reads the Parquet files of an export back from a folder
// and prints the short compliance report of the local demo: the period and
// why sessions are missing, sessions by status and per day, the busiest
// owners, the longest sessions, and the count of sessions by root or
// break-glass roles before a few of them.
package summary

import (
	"cmp"
	"encoding/json"
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
	"github.com/session-audit/session-audit/internal/findings"
	"github.com/session-audit/session-audit/internal/owner"
	"github.com/session-audit/session-audit/internal/store"
)

// Summary is what the report says.
type Summary struct {
	// Dir is the folder of the Parquet files; Files how many there are.
	Dir   string
	Files int
	// From and To bound the exported slots, from the manifests beside the
	// sessions folder (zero when there are none).
	From, To time.Time
	// Slots is the number of manifests; Pending the sessions they count as
	// still active when their slot was exported (not in the archive yet).
	Slots, Pending int
	// Sessions counts each session (account, region, id) once; Duplicates
	// is the rows beyond one per session (a stray copy of a file, or a day
	// exported on two slot lengths by an earlier version).
	Sessions   int
	Duplicates int
	ByStatus   []Count
	PerDay     []Count
	Owners     []Count
	// Longest are the longest sessions: longest first, then the most recent,
	// then by session id.
	Longest []archive.Row
	// Root are the sessions by root or break-glass owners (the findings'
	// default patterns), the most recent first.
	Root []archive.Row
}

// Count is a key and how many sessions it has.
type Count struct {
	Key string
	N   int
}

// Read loads every .parquet file below dir (a <prefix>/sessions folder) and
// the manifests of its sibling manifests folder.
func Read(dir string, top int) (Summary, error) {
	s := Summary{Dir: dir}
	privileged := findings.Defaults()
	perDay, owners, status := map[string]int{}, map[string]int{}, map[string]int{}
	// Each session once, from its latest export, as the report counts it.
	latest := map[string]archive.Row{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".parquet") {
			return err
		}
		s.Files++
		rows, err := readFile(path)
		if err != nil {
			return err
		}
		for _, r := range rows {
			k := r.AccountID + "/" + r.Region + "/" + r.SessionID
			if old, ok := latest[k]; ok {
				s.Duplicates++
				if !r.ExportedAt.After(old.ExportedAt) {
					continue
				}
			}
			latest[k] = r
		}
		return nil
	})
	if err != nil {
		return Summary{}, fmt.Errorf("read parquet under %s: %w", dir, err)
	}
	for _, r := range latest {
		s.Sessions++
		perDay[r.StartDate.UTC().Format(time.DateOnly)]++
		owners[r.Owner]++
		status[r.Status]++
		if privileged.Privileged(r.Owner) {
			s.Root = append(s.Root, r)
		}
		s.Longest = append(s.Longest, r)
	}
	slices.SortFunc(s.Longest, longestFirst)
	if len(s.Longest) > top {
		s.Longest = s.Longest[:top]
	}
	if err := s.readManifests(filepath.Join(filepath.Dir(dir), "manifests")); err != nil {
		return Summary{}, err
	}
	s.PerDay = counts(perDay, false)
	s.ByStatus = counts(status, true)
	s.Owners = counts(owners, true)
	if len(s.Owners) > top {
		s.Owners = s.Owners[:top]
	}
	slices.SortFunc(s.Root, func(a, b archive.Row) int {
		if c := b.StartDate.Compare(a.StartDate); c != 0 {
			return c
		}
		return strings.Compare(a.SessionID, b.SessionID)
	})
	return s, nil
}

// longestFirst orders by duration (longest first), then start (most
// recent first), then session id: no ties left to chance.
func longestFirst(a, b archive.Row) int {
	if c := cmp.Compare(dur(b), dur(a)); c != 0 {
		return c
	}
	if c := b.StartDate.Compare(a.StartDate); c != 0 {
		return c
	}
	return strings.Compare(a.SessionID, b.SessionID)
}

// readManifests takes the period and the pending count from the manifests.
func (s *Summary) readManifests(dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var m store.Manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("manifest %s: %w", path, err)
		}
		s.Slots++
		s.Pending += m.ActivePending
		if s.From.IsZero() || m.SlotStart.Before(s.From) {
			s.From = m.SlotStart.UTC()
		}
		if m.SlotEnd.After(s.To) {
			s.To = m.SlotEnd.UTC()
		}
		return nil
	})
}

// IsPrivileged reports whether an owner ARN is the account root or a
// break-glass role (the findings' default privileged-owner patterns).
func IsPrivileged(owner string) bool {
	return findings.Defaults().Privileged(owner)
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

// samples is how many privileged sessions Print lists.
const samples = 5

// Print writes the report as text: the period and what it holds, then
// counts, then a few samples.
func (s Summary) Print(w io.Writer) {
	if !s.From.IsZero() {
		fmt.Fprintf(w, "Period: %s to %s (%d slots with manifests)\n", s.From.Format(time.RFC3339), s.To.Format(time.RFC3339), s.Slots)
	}
	fmt.Fprintf(w, "%d sessions in %d Parquet files under %s\n", s.Sessions, s.Files, s.Dir)
	if s.Duplicates > 0 {
		fmt.Fprintf(w, "%d rows hold a session a second time (a copied file, or a day exported on two slot lengths): each session is counted once\n", s.Duplicates)
	}
	fmt.Fprintf(w, "Sessions the emulator was seeded with but are not here: those still active at the export\n"+
		"(%d, counted in the manifests as pending; the next scheduled run exports them) and those\n"+
		"that started outside the exported slots.\n", s.Pending)
	fmt.Fprintf(w, "\nSessions by status:\n")
	for _, c := range s.ByStatus {
		fmt.Fprintf(w, "  %6d  %s\n", c.N, c.Key)
	}
	fmt.Fprintf(w, "\nSessions per day (UTC):\n")
	for _, c := range s.PerDay {
		fmt.Fprintf(w, "  %s  %6d\n", c.Key, c.N)
	}
	fmt.Fprintf(w, "\nBusiest owners: most sessions first, ties by name\n")
	for _, c := range s.Owners {
		fmt.Fprintf(w, "  %6d  %s\n", c.N, owner.Label(c.Key))
	}
	fmt.Fprintf(w, "\nLongest sessions: ties by the most recent start, then by id\n")
	for _, r := range s.Longest {
		fmt.Fprintf(w, "  %9s  %s  %s on %s by %s\n", (time.Duration(dur(r)) * time.Second).String(), r.StartDate.Format(time.RFC3339), r.SessionID, r.Target, owner.Label(r.Owner))
	}
	fmt.Fprintf(w, "\nSessions by root or break-glass roles: %d", len(s.Root))
	if len(s.Root) > samples {
		fmt.Fprintf(w, " (the %d most recent below; every one in the report's privileged.csv)", samples)
	}
	fmt.Fprintln(w)
	for i, r := range s.Root {
		if i == samples {
			break
		}
		fmt.Fprintf(w, "  %s  %s on %s by %s (%s)\n", r.StartDate.Format(time.RFC3339), r.SessionID, r.Target, owner.Label(r.Owner), r.Status)
	}
}

// ReportHint names the full report; the demo prints it last.
const ReportHint = "The full audit report (HTML with charts, a CSV per finding): make report"
