package findings

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Environment variables of the thresholds, read by the report function and
// set from the stack's parameters.
const (
	EnvBusinessHours    = "AUDIT_BUSINESS_HOURS"
	EnvTimeZone         = "AUDIT_TIME_ZONE"
	EnvAllowedDocuments = "AUDIT_ALLOWED_DOCUMENTS"
	EnvLongSession      = "AUDIT_LONG_SESSION"
	EnvPrivilegedOwners = "AUDIT_PRIVILEGED_OWNERS"
)

// Params are the thresholds the findings are judged by.
type Params struct {
	// BusinessStart and BusinessEnd are the business hours [start, end),
	// Monday to Friday, in TimeZone.
	BusinessStart, BusinessEnd int
	// TimeZone is an IANA zone name.
	TimeZone string
	// AllowedDocuments are the session documents on the allow-list. A
	// session without a document ran the default shell and is judged as
	// SSM-SessionManagerRunShell.
	AllowedDocuments []string
	// LongSession is the duration above which a session is long.
	LongSession time.Duration
	// LongSessionText is LongSession as written (4h, 90m, 1h30m: the
	// template's ReportLongSession), which the queries show; empty is
	// Words(LongSession).
	LongSessionText string
	// PrivilegedOwners are SQL LIKE patterns matched against the lowercased
	// owner ARN ("%" any text, "_" any one character).
	PrivilegedOwners []string
	// AllowedSourceCIDRs are the IPv4 networks sessions may come from;
	// empty turns the outside-sources finding off.
	AllowedSourceCIDRs []netip.Prefix
}

// Defaults are the thresholds the stack's parameters default to.
func Defaults() Params {
	return Params{
		BusinessStart: 8, BusinessEnd: 18, TimeZone: "UTC",
		AllowedDocuments: []string{DefaultShell, "AWS-StartPortForwardingSession", "AWS-StartSSHSession"},
		LongSession:      4 * time.Hour, LongSessionText: "4h",
		PrivilegedOwners: []string{"%:root", "%breakglass%", "%break_glass%"},
	}
}

// DefaultShell is the document a session without one ran.
const DefaultShell = "SSM-SessionManagerRunShell"

var (
	hoursRE    = regexp.MustCompile(`^([0-9]{1,2})-([0-9]{1,2})$`)
	longRE     = regexp.MustCompile(`^[0-9]+(h|m|h[0-9]+m)$`)
	documentRE = regexp.MustCompile(`^[A-Za-z0-9_.:/-]{3,128}$`)
	patternRE  = regexp.MustCompile(`^[a-z0-9%_:/.@+=,-]+$`)
)

// FromEnv reads the thresholds from the environment; an unset variable
// keeps its default, a malformed one is an error naming it.
func FromEnv(getenv func(string) string) (Params, error) {
	p := Defaults()
	if v := strings.TrimSpace(getenv(EnvBusinessHours)); v != "" {
		m := hoursRE.FindStringSubmatch(v)
		if m == nil {
			return Params{}, fmt.Errorf("%s=%q: want HH-HH, e.g. 08-18", EnvBusinessHours, v)
		}
		p.BusinessStart, _ = strconv.Atoi(m[1])
		p.BusinessEnd, _ = strconv.Atoi(m[2])
	}
	if v := strings.TrimSpace(getenv(EnvTimeZone)); v != "" {
		p.TimeZone = v
	}
	if v := strings.TrimSpace(getenv(EnvAllowedDocuments)); v != "" {
		p.AllowedDocuments = splitList(v)
	}
	if v := strings.TrimSpace(getenv(EnvLongSession)); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || !longRE.MatchString(v) {
			return Params{}, fmt.Errorf("%s=%q: want whole hours and minutes such as 4h, 90m or 1h30m", EnvLongSession, v)
		}
		p.LongSession, p.LongSessionText = d, v
	}
	if v := strings.TrimSpace(getenv(EnvPrivilegedOwners)); v != "" {
		p.PrivilegedOwners = splitList(strings.ToLower(v))
	}
	cidrs, err := ParseCIDRs(getenv(EnvAllowedSourceCIDRs))
	if err != nil {
		return Params{}, err
	}
	p.AllowedSourceCIDRs = cidrs
	return p, p.Validate()
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Validate checks the thresholds, naming the variable of a bad one.
func (p Params) Validate() error {
	if p.BusinessStart < 0 || p.BusinessStart > 23 || p.BusinessEnd < 1 || p.BusinessEnd > 24 || p.BusinessStart >= p.BusinessEnd {
		return fmt.Errorf("%s: business hours %02d-%02d: want start < end within 00-24", EnvBusinessHours, p.BusinessStart, p.BusinessEnd)
	}
	if p.TimeZone == "" || p.TimeZone == "Local" || strings.ContainsAny(p.TimeZone, "' ") {
		return fmt.Errorf("%s=%q: want an IANA time zone such as UTC or Europe/Berlin", EnvTimeZone, p.TimeZone)
	}
	if _, err := time.LoadLocation(p.TimeZone); err != nil {
		return fmt.Errorf("%s=%q: not an IANA time zone: %w", EnvTimeZone, p.TimeZone, err)
	}
	if len(p.AllowedDocuments) == 0 {
		return fmt.Errorf("%s: the allow-list is empty", EnvAllowedDocuments)
	}
	for _, d := range p.AllowedDocuments {
		if !documentRE.MatchString(d) {
			return fmt.Errorf("%s: %q is not a document name (letters, digits, _ . : / -)", EnvAllowedDocuments, d)
		}
	}
	if p.LongSession < time.Minute || p.LongSession%time.Minute != 0 {
		return fmt.Errorf("%s=%s: want whole minutes, at least 1m", EnvLongSession, p.LongSession)
	}
	if t := p.longText(); !longRE.MatchString(t) {
		return fmt.Errorf("%s=%q: want whole hours and minutes such as 4h, 90m or 1h30m", EnvLongSession, t)
	} else if d, err := time.ParseDuration(t); err != nil || d != p.LongSession {
		return fmt.Errorf("%s=%q: says %s, not %s", EnvLongSession, t, d, p.LongSession)
	}
	if len(p.PrivilegedOwners) == 0 {
		return fmt.Errorf("%s: no pattern", EnvPrivilegedOwners)
	}
	for _, s := range p.PrivilegedOwners {
		if !patternRE.MatchString(s) || strings.Trim(s, "%_") == "" {
			return fmt.Errorf("%s: %q is not a lowercase LIKE pattern of ARN characters with %% and _", EnvPrivilegedOwners, s)
		}
	}
	return nil
}

// longText is the long-session threshold as written.
func (p Params) longText() string {
	if p.LongSessionText != "" {
		return p.LongSessionText
	}
	return Words(p.LongSession)
}

// args are the thresholds as SQL text: rendered from Params for the
// report, or the template's Fn::Sub variables for its named queries
// (TemplateArgs). Lists are joined by the separators the template's
// Fn::Join uses, so that both give the same text.
type args struct {
	// start and end are the business hours, two digits each.
	start, end string
	timeZone   string
	// documents are the allow-list's items joined by documentSep.
	documents string
	// long is the long-session threshold as written; longSeconds the same
	// in seconds as SQL arithmetic (4h: 4*3600 + 0).
	long, longSeconds string
	// privileged are the LIKE patterns joined by privilegedSep.
	privileged string
	// params are the thresholds themselves, for the findings the template
	// does not save (the trail's source CIDRs); zero in TemplateArgs.
	params Params
}

// The separators of the lists in the queries.
const (
	documentSep   = "',\n        '"
	privilegedSep = "'\n       OR lower(owner) LIKE '"
)

// longSeconds turns a threshold written as 4h, 90m or 1h30m into SQL
// arithmetic in seconds, as the template's Fn::Split and Fn::Join do.
func longSeconds(text string) string {
	return strings.NewReplacer("h", "*3600 + ", "m", "*60 + ").Replace(text) + "0"
}

func (p Params) args() args {
	return args{
		start: fmt.Sprintf("%02d", p.BusinessStart), end: fmt.Sprintf("%02d", p.BusinessEnd),
		timeZone:  p.TimeZone,
		documents: strings.Join(p.AllowedDocuments, documentSep),
		long:      p.longText(), longSeconds: longSeconds(p.longText()),
		privileged: strings.Join(p.PrivilegedOwners, privilegedSep),
		params:     p,
	}
}

// Location is the time zone of the business hours and the heatmap.
func (p Params) Location() *time.Location {
	loc, err := time.LoadLocation(p.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// Privileged says whether an owner ARN matches one of the privileged-owner
// patterns, as the SQL's lower(owner) LIKE does: the same judgement for
// code that reads the Parquet files directly.
func (p Params) Privileged(owner string) bool {
	o := strings.ToLower(owner)
	for _, pat := range p.PrivilegedOwners {
		if like(pat, o) {
			return true
		}
	}
	return false
}

// like matches SQL LIKE without an escape character: % any text, _ any
// one character.
func like(pat, s string) bool {
	p, r := []rune(pat), []rune(s)
	// dp over positions: m[j] says whether p[:i] matches r[:j].
	m := make([]bool, len(r)+1)
	m[0] = true
	for _, c := range p {
		next := make([]bool, len(r)+1)
		switch c {
		case '%':
			seen := false
			for j := range m {
				seen = seen || m[j]
				next[j] = seen
			}
		default:
			for j := 1; j <= len(r); j++ {
				next[j] = m[j-1] && (c == '_' || c == r[j-1])
			}
		}
		m = next
	}
	return m[len(r)]
}
