// Package exceptions reads the audit's exceptions file
// (<prefix>/exceptions.yaml): reviewed patterns of sessions that a finding
// lists but that are expected (an on-call rota, a change window). A report
// shows the rows an entry matches as expected, with the entry's ticket; an
// entry that is malformed or expired is listed and never applied. The file
// is versioned in the bucket, so its history is the review trail.
//
// The format (docs/ARCHITECTURE.md, "Exceptions"):
//
//	version: 1
//	exceptions:
//	  - finding: after-hours           # a finding id of the report
//	    owner: "*:assumed-role/OnCall/*" # glob patterns; * any run, ? one character
//	    target: "i-0abc*"              # default * (any)
//	    document: "*"                  # "" or omitted: any; the default shell is SSM-SessionManagerRunShell
//	    days: [Sat, Sun]               # optional: weekdays of the session's start, in the report's time zone
//	    hours: "00-08"                 # optional: HH-HH of the session's start, in the report's time zone
//	    ticket: CHG-1234               # a ticket, a reason, or both
//	    reason: weekend on-call rota
//	    approvedBy: alice@example.com  # required
//	    expires: 2027-01-31            # required: last day (UTC) the entry covers
package exceptions

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Version is the format version this build reads.
const Version = 1

// maxSize bounds what is read as an exceptions file.
const maxSize = 1 << 20

// DefaultDocument is the document of a session that names none: Session
// Manager's default shell.
const DefaultDocument = "SSM-SessionManagerRunShell"

// File is a parsed exceptions file.
type File struct {
	Entries []Entry
}

// Entry is one expected pattern of one finding. An entry with Problems is
// never applied.
type Entry struct {
	// Line is the entry's line in the file.
	Line       int
	Finding    string
	Owner      string
	Target     string
	Document   string
	Days       []time.Weekday
	Hours      *Hours
	Ticket     string
	Reason     string
	ApprovedBy string
	// Expires is the first instant the entry no longer covers: midnight
	// (UTC) after its last day.
	Expires time.Time
	// Problems says why the entry is not applied; empty for a valid entry.
	Problems []string

	owner, target, document *regexp.Regexp
}

// Hours is a range of whole hours [From, To) of a day; From > To wraps
// midnight (22-06).
type Hours struct{ From, To int }

// Contains reports whether hour h (0-23) is in the range.
func (h Hours) Contains(hour int) bool {
	if h.From <= h.To {
		return hour >= h.From && hour < h.To
	}
	return hour >= h.From || hour < h.To
}

// String formats the range as HH-HH.
func (h Hours) String() string { return fmt.Sprintf("%02d-%02d", h.From, h.To) }

// Valid reports whether the entry can be applied.
func (e Entry) Valid() bool { return len(e.Problems) == 0 }

// Label is what a matched row shows: the ticket, else the reason.
func (e Entry) Label() string {
	if e.Ticket != "" {
		return e.Ticket
	}
	return e.Reason
}

// Row is what an entry is matched against: one session of one finding.
type Row struct {
	Finding  string
	Owner    string
	Target   string
	Document string
	Start    time.Time
}

// Matches reports whether the valid entry covers row, with days and hours
// read in loc. An invalid entry matches nothing.
func (e Entry) Matches(r Row, loc *time.Location) bool {
	if !e.Valid() || r.Finding != e.Finding || !r.Start.Before(e.Expires) {
		return false
	}
	doc := r.Document
	if doc == "" {
		doc = DefaultDocument
	}
	if !e.owner.MatchString(r.Owner) || !e.target.MatchString(r.Target) || !e.document.MatchString(doc) {
		return false
	}
	local := r.Start.In(loc)
	if len(e.Days) > 0 {
		found := false
		for _, d := range e.Days {
			found = found || local.Weekday() == d
		}
		if !found {
			return false
		}
	}
	return e.Hours == nil || e.Hours.Contains(local.Hour())
}

// Match returns the first valid entry of f that covers r, or nil.
func (f *File) Match(r Row, loc *time.Location) *Entry {
	if f == nil {
		return nil
	}
	for i := range f.Entries {
		if f.Entries[i].Matches(r, loc) {
			return &f.Entries[i]
		}
	}
	return nil
}

// Invalid returns the entries that are not applied because they are
// malformed.
func (f *File) Invalid() []Entry {
	var out []Entry
	if f == nil {
		return out
	}
	for _, e := range f.Entries {
		if !e.Valid() {
			out = append(out, e)
		}
	}
	return out
}

// ExpiredBy returns the valid entries that stop covering sessions before t
// (expired before a period's end, or inside it).
func (f *File) ExpiredBy(t time.Time) []Entry {
	var out []Entry
	if f == nil {
		return out
	}
	for _, e := range f.Entries {
		if e.Valid() && e.Expires.Before(t) {
			out = append(out, e)
		}
	}
	return out
}

// SyntaxError is a file that cannot be read as an exceptions file at all:
// it is not YAML, not the format's structure, or another version. It names
// the line.
type SyntaxError struct {
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string {
	if e.Line == 0 {
		return "exceptions file: " + e.Msg
	}
	return fmt.Sprintf("exceptions file line %d: %s", e.Line, e.Msg)
}

// rawFile and rawEntry are the file as YAML decodes it.
type rawFile struct {
	Version    int         `yaml:"version"`
	Exceptions []yaml.Node `yaml:"exceptions"`
}

type rawEntry struct {
	Finding    string   `yaml:"finding"`
	Owner      string   `yaml:"owner"`
	Target     string   `yaml:"target"`
	Document   string   `yaml:"document"`
	Days       []string `yaml:"days"`
	Hours      string   `yaml:"hours"`
	Ticket     string   `yaml:"ticket"`
	Reason     string   `yaml:"reason"`
	ApprovedBy string   `yaml:"approvedBy"`
	Expires    string   `yaml:"expires"`
}

var lineRE = regexp.MustCompile(`line (\d+)`)

// yamlError turns a YAML decoding error into a SyntaxError with its line.
func yamlError(err error, fallback int) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := fallback
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = strings.TrimSpace(lineRE.ReplaceAllString(msg, ""))
		msg = strings.TrimPrefix(strings.TrimPrefix(msg, "unmarshal errors:\n"), ": ")
	}
	return &SyntaxError{Line: line, Msg: strings.TrimSpace(msg)}
}

// Parse reads an exceptions file. known lists the finding ids an entry may
// name. A file that is not the format fails with a *SyntaxError naming its
// line; an entry that is the format but cannot be applied (an unknown
// finding, no approver, no expiry, a pattern that matches everything, ...)
// is returned with its Problems.
func Parse(r io.Reader, known []string) (*File, error) {
	body, err := io.ReadAll(io.LimitReader(r, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read exceptions file: %w", err)
	}
	if len(body) > maxSize {
		return nil, &SyntaxError{Msg: fmt.Sprintf("larger than %d bytes", maxSize)}
	}
	var raw rawFile
	dec := yaml.NewDecoder(bytes.NewReader(body))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return &File{}, nil // an empty file: no exceptions
		}
		return nil, yamlError(err, 0)
	}
	if raw.Version != Version {
		return nil, &SyntaxError{Line: 1, Msg: fmt.Sprintf("version is %d; this build reads version %d (write \"version: %d\")", raw.Version, Version, Version)}
	}
	f := &File{}
	for _, node := range raw.Exceptions {
		var re rawEntry
		if node.Kind != yaml.MappingNode {
			return nil, &SyntaxError{Line: node.Line, Msg: "an exception is a mapping of finding, owner, target, document, days, hours, ticket, reason, approvedBy, expires"}
		}
		// Unknown keys are a syntax error: a misspelt "expires" must not
		// leave an entry that never expires.
		for i := 0; i+1 < len(node.Content); i += 2 {
			switch k := node.Content[i]; k.Value {
			case "finding", "owner", "target", "document", "days", "hours", "ticket", "reason", "approvedBy", "expires":
			default:
				return nil, &SyntaxError{Line: k.Line, Msg: fmt.Sprintf("unknown field %q; want finding, owner, target, document, days, hours, ticket, reason, approvedBy, expires", k.Value)}
			}
		}
		if err := node.Decode(&re); err != nil {
			return nil, yamlError(err, node.Line)
		}
		f.Entries = append(f.Entries, entry(re, node.Line, known))
	}
	return f, nil
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// entry checks one decoded entry and compiles its patterns.
func entry(re rawEntry, line int, known []string) Entry {
	e := Entry{Line: line, Finding: re.Finding, Owner: orAny(re.Owner), Target: orAny(re.Target), Document: orAny(re.Document),
		Ticket: strings.TrimSpace(re.Ticket), Reason: strings.TrimSpace(re.Reason), ApprovedBy: strings.TrimSpace(re.ApprovedBy)}
	problem := func(format string, args ...any) { e.Problems = append(e.Problems, fmt.Sprintf(format, args...)) }
	switch {
	case re.Finding == "":
		problem("no finding")
	case !contains(known, re.Finding):
		problem("unknown finding %q (one of %s)", re.Finding, strings.Join(known, ", "))
	}
	e.owner, e.target, e.document = glob(e.Owner), glob(e.Target), glob(e.Document)
	for _, d := range re.Days {
		wd, ok := weekdays[strings.ToLower(strings.TrimSpace(d))[:min(3, len(strings.TrimSpace(d)))]]
		if !ok {
			problem("day %q is not a weekday (Mon, Tue, ... Sun)", d)
			continue
		}
		e.Days = append(e.Days, wd)
	}
	if re.Hours != "" {
		h, err := parseHours(re.Hours)
		if err != nil {
			problem("%v", err)
		} else {
			e.Hours = &h
		}
	}
	if e.Owner == "*" && e.Target == "*" && e.Document == "*" && len(e.Days) == 0 && e.Hours == nil {
		problem("matches every session of the finding; name an owner, target, document, days or hours")
	}
	if e.Ticket == "" && e.Reason == "" {
		problem("no ticket or reason")
	}
	if e.ApprovedBy == "" {
		problem("no approvedBy")
	}
	if re.Expires == "" {
		problem("no expires date")
	} else if d, err := time.Parse(time.DateOnly, strings.TrimSpace(re.Expires)); err != nil {
		problem("expires %q is not a date YYYY-MM-DD", re.Expires)
	} else {
		e.Expires = d.AddDate(0, 0, 1)
	}
	return e
}

func orAny(p string) string {
	if p = strings.TrimSpace(p); p == "" {
		return "*"
	}
	return p
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// glob compiles a pattern: * any run of characters (slashes included), ?
// one character, everything else literal, case-insensitive, whole value.
func glob(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("(?is)^")
	for _, r := range p {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// parseHours reads HH-HH, each 00-24, not equal.
func parseHours(s string) (Hours, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	from, err1 := strconv.Atoi(a)
	to, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || len(a) != 2 || len(b) != 2 || from < 0 || from > 23 || to < 0 || to > 24 || from == to {
		return Hours{}, fmt.Errorf("hours %q is not HH-HH (00-23, then 01-24, e.g. 18-08 across midnight)", s)
	}
	return Hours{From: from, To: to}, nil
}
