// Package stsfake emulates the AWS Security Token Service operations the
// project calls, AssumeRole and GetCallerIdentity, speaking the real
// awsQuery protocol (a form-encoded POST answered with XML, errors in the
// service's ErrorResponse shape), so that the real SDK sts client and
// stscreds.AssumeRoleProvider can be pointed at it over HTTP.
//
// The credentials it issues name their account in the access key id (see
// AccountOfKey), so the SSM emulator knows whose sessions a request asks
// for; any other credentials belong to LocalAccount. AssumeRole succeeds
// only for roles configured with AllowRole, with their external id, and
// answers AccessDenied otherwise, as STS does when the role is missing or
// does not trust the caller. Throttling can be injected, and the two ways
// a region refuses: STS deactivated in a region for an account
// (DeactivateRegion: AssumeRole answers RegionDisabledException) and an
// opt-in region the account has not enabled (DisableRegion: every request
// signed with the account's credentials answers InvalidClientTokenId).
package stsfake

import (
	"crypto/rand"
	"encoding/xml"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// xmlns is the namespace of every STS answer.
const xmlns = "https://sts.amazonaws.com/doc/2011-06-15/"

// apiVersion is the only Version accepted.
const apiVersion = "2011-06-15"

// DefaultMaxSessionDuration is a role's MaxSessionDuration unless
// AllowRole says otherwise: one hour, as IAM's default.
const DefaultMaxSessionDuration = time.Hour

// Role is a role that AssumeRole may assume in an account.
type Role struct {
	// Name is the role name with its path, as after "role/" in its ARN.
	Name string
	// ExternalID, when set, must be sent with AssumeRole.
	ExternalID string
	// MaxSessionDuration bounds DurationSeconds; 0 means one hour.
	MaxSessionDuration time.Duration
}

// Call is one request the server received.
type Call struct {
	Action    string
	Account   string // AssumeRole: the account of the role asked for
	RoleARN   string
	Session   string // RoleSessionName
	External  string // ExternalId
	Caller    string // the caller's account
	ErrorCode string // "" when the call succeeded
}

// issued is what the server remembers of credentials it issued.
type issued struct {
	account, role, session string
}

// Server is an in-memory STS endpoint. It implements http.Handler and is
// safe for concurrent use.
type Server struct {
	now func() time.Time

	mu       sync.Mutex
	roles    map[string]Role // by account
	keys     map[string]issued
	calls    []Call
	throttle int // AssumeRole calls still to throttle
	// inactive: (account, region) where STS is deactivated for the
	// account; disabled: opt-in regions the account has not enabled.
	inactive, disabled map[[2]string]bool
}

// Option configures a Server built by New.
type Option func(*Server)

// WithClock sets the clock that stamps the credentials' expiration;
// time.Now by default. The SDK's credentials cache compares it with the
// wall clock, so tests with a fixed clock keep the default.
func WithClock(now func() time.Time) Option {
	return func(s *Server) { s.now = now }
}

// New returns a server with no roles.
func New(opts ...Option) *Server {
	s := &Server{now: time.Now, roles: map[string]Role{}, keys: map[string]issued{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// AllowRole lets AssumeRole assume role in account; any other role of the
// account, and every role of an account without one, is denied.
func (s *Server) AllowRole(account string, role Role) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.roles[account] = role
}

// RemoveRole forgets the role of account: AssumeRole is denied again.
func (s *Server) RemoveRole(account string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.roles, account)
}

// Throttle makes the next n AssumeRole calls answer Throttling (HTTP 400).
func (s *Server) Throttle(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle = n
}

// DeactivateRegion deactivates STS in region for account, as its
// administrator can in IAM's account settings: AssumeRole of a role of
// account at region's endpoint answers RegionDisabledException (HTTP 403).
func (s *Server) DeactivateRegion(account, region string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inactive == nil {
		s.inactive = map[[2]string]bool{}
	}
	s.inactive[[2]string{account, region}] = true
}

// DisableRegion makes region an opt-in region that account has not
// enabled: every request signed there with account's credentials answers
// InvalidClientTokenId (HTTP 403), the query protocol's form of the
// UnrecognizedClientException that SSM's JSON protocol answers.
func (s *Server) DisableRegion(account, region string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.disabled == nil {
		s.disabled = map[[2]string]bool{}
	}
	s.disabled[[2]string{account, region}] = true
}

// Calls returns the calls received, oldest first.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// AssumeRoleCalls counts the AssumeRole calls for roles of account,
// answered or not.
func (s *Server) AssumeRoleCalls(account string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c.Action == "AssumeRole" && c.Account == account {
			n++
		}
	}
	return n
}

// apiError is an error answer.
type apiError struct {
	status  int
	typ     string // Sender or Receiver
	code    string
	message string
}

var (
	roleARNRE     = regexp.MustCompile(`^arn:aws[a-z-]*:iam::([0-9]{12}):role/(.+)$`)
	sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	externalIDRE  = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
)

// ServeHTTP answers awsQuery requests for AssumeRole and
// GetCallerIdentity.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	form, aerr := readForm(r)
	call := Call{Action: form.Get("Action")}
	id, signed := IdentityOf(r)
	if signed {
		call.Caller = id.Account
	}
	var body any
	if aerr == nil {
		switch {
		case !signed:
			aerr = &apiError{http.StatusForbidden, "Sender", "MissingAuthenticationToken", "Request is missing Authentication Token"}
		case s.regionDisabled(id):
			aerr = &apiError{http.StatusForbidden, "Sender", "InvalidClientTokenId", "The security token included in the request is invalid."}
		case call.Action == "AssumeRole":
			body, aerr = s.assumeRole(form, id.Region, &call)
		case call.Action == "GetCallerIdentity":
			body = s.callerIdentity(id)
		default:
			aerr = &apiError{http.StatusBadRequest, "Sender", "InvalidAction", fmt.Sprintf("Could not find operation %s for version %s", call.Action, apiVersion)}
		}
	}
	if aerr != nil {
		call.ErrorCode = aerr.code
	}
	s.mu.Lock()
	s.calls = append(s.calls, call)
	s.mu.Unlock()
	reqID := requestID()
	if aerr != nil {
		s.write(w, aerr.status, errorResponse{Xmlns: xmlns, Error: errorBody{Type: aerr.typ, Code: aerr.code, Message: aerr.message}, RequestID: reqID})
		return
	}
	switch b := body.(type) {
	case *assumeRoleResponse:
		b.Metadata.RequestID = reqID
	case *callerIdentityResponse:
		b.Metadata.RequestID = reqID
	}
	s.write(w, http.StatusOK, body)
}

// readForm reads the form-encoded body of an awsQuery request.
func readForm(r *http.Request) (url.Values, *apiError) {
	if r.Method != http.MethodPost {
		return nil, &apiError{http.StatusBadRequest, "Sender", "InvalidAction", "Only POST requests are supported"}
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, &apiError{http.StatusBadRequest, "Sender", "InvalidParameterValue", "Content-Type must be application/x-www-form-urlencoded"}
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, &apiError{http.StatusBadRequest, "Sender", "MalformedInput", "the request body could not be read"}
	}
	form, err := url.ParseQuery(string(raw))
	if err != nil {
		return nil, &apiError{http.StatusBadRequest, "Sender", "MalformedInput", "the request body is not form-encoded"}
	}
	if v := form.Get("Version"); v != apiVersion {
		return form, &apiError{http.StatusBadRequest, "Sender", "InvalidParameterValue", fmt.Sprintf("Version %q is not %s", v, apiVersion)}
	}
	return form, nil
}

// regionDisabled reports whether id signed in a region its account has not
// enabled.
func (s *Server) regionDisabled(id Identity) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.disabled[[2]string{id.Account, id.Region}]
}

// assumeRole answers AssumeRole at the endpoint of region (the request's
// signing region).
func (s *Server) assumeRole(form url.Values, region string, call *Call) (any, *apiError) {
	call.RoleARN, call.Session, call.External = form.Get("RoleArn"), form.Get("RoleSessionName"), form.Get("ExternalId")
	m := roleARNRE.FindStringSubmatch(call.RoleARN)
	if m != nil {
		call.Account = m[1]
	}
	s.mu.Lock()
	throttled := s.throttle > 0
	if throttled {
		s.throttle--
	}
	role, hasRole := s.roles[call.Account]
	inactive := s.inactive[[2]string{call.Account, region}]
	s.mu.Unlock()
	if throttled {
		return nil, &apiError{http.StatusBadRequest, "Sender", "Throttling", "Rate exceeded"}
	}
	if inactive {
		return nil, &apiError{http.StatusForbidden, "Sender", "RegionDisabledException",
			fmt.Sprintf("STS is not activated in this region for account:%s. Your account administrator can activate STS in this region using the IAM Console.", call.Account)}
	}
	switch {
	case m == nil:
		return nil, validation("1 validation error detected: Value '%s' at 'roleArn' failed to satisfy constraint: Member must be a role ARN", call.RoleARN)
	case !sessionNameRE.MatchString(call.Session):
		return nil, validation("1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]{2,64}", call.Session)
	case call.External != "" && (len(call.External) < 2 || len(call.External) > 1224 || !externalIDRE.MatchString(call.External)):
		return nil, validation("1 validation error detected: Value at 'externalId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@:\\/-]{2,1224}")
	}
	duration := time.Hour
	if v := form.Get("DurationSeconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 900 || n > 43200 {
			return nil, validation("1 validation error detected: Value '%s' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200", v)
		}
		duration = time.Duration(n) * time.Second
	}
	denied := &apiError{http.StatusForbidden, "Sender", "AccessDenied",
		fmt.Sprintf("User: arn:aws:sts::%s:assumed-role/session-audit/%s is not authorized to perform: sts:AssumeRole on resource: %s", call.Caller, call.Session, call.RoleARN)}
	if !hasRole || role.Name != m[2] || role.ExternalID != call.External {
		return nil, denied
	}
	maxDur := role.MaxSessionDuration
	if maxDur == 0 {
		maxDur = DefaultMaxSessionDuration
	}
	if duration > maxDur {
		return nil, validation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}
	key := newKey(call.Account)
	s.mu.Lock()
	s.keys[key] = issued{account: call.Account, role: role.Name, session: call.Session}
	s.mu.Unlock()
	roleID := "AROA" + strings.ToUpper(randomChars(17))
	res := &assumeRoleResponse{Xmlns: xmlns}
	res.Result.User.Arn = fmt.Sprintf("arn:%s:sts::%s:assumed-role/%s/%s", partitionOf(call.RoleARN), call.Account, lastSegment(role.Name), call.Session)
	res.Result.User.ID = roleID + ":" + call.Session
	res.Result.Credentials = credentials{
		AccessKeyID: key, SecretAccessKey: randomChars(40), SessionToken: "FwoGZXIvYXdzE" + randomChars(120),
		Expiration: s.now().UTC().Add(duration).Format(time.RFC3339),
	}
	return res, nil
}

func (s *Server) callerIdentity(id Identity) any {
	res := &callerIdentityResponse{Xmlns: xmlns}
	res.Result.Account = id.Account
	res.Result.UserID = id.AccessKeyID
	res.Result.Arn = "arn:aws:iam::" + id.Account + ":user/emulator"
	s.mu.Lock()
	k, ok := s.keys[id.AccessKeyID]
	s.mu.Unlock()
	if ok {
		res.Result.Arn = fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", k.account, lastSegment(k.role), k.session)
		res.Result.UserID = "AROA" + k.account + ":" + k.session
	}
	return res
}

func validation(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "Sender", "ValidationError", fmt.Sprintf(format, args...)}
}

func (s *Server) write(w http.ResponseWriter, status int, body any) {
	out, err := xml.Marshal(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

// The XML shapes of the answers, as STS sends them.
type (
	responseMetadata struct {
		RequestID string `xml:"RequestId"`
	}
	credentials struct {
		AccessKeyID     string `xml:"AccessKeyId"`
		SecretAccessKey string `xml:"SecretAccessKey"`
		SessionToken    string `xml:"SessionToken"`
		Expiration      string `xml:"Expiration"`
	}
	assumeRoleResponse struct {
		XMLName xml.Name `xml:"AssumeRoleResponse"`
		Xmlns   string   `xml:"xmlns,attr"`
		Result  struct {
			User struct {
				Arn string `xml:"Arn"`
				ID  string `xml:"AssumedRoleId"`
			} `xml:"AssumedRoleUser"`
			Credentials credentials `xml:"Credentials"`
		} `xml:"AssumeRoleResult"`
		Metadata responseMetadata `xml:"ResponseMetadata"`
	}
	callerIdentityResponse struct {
		XMLName xml.Name `xml:"GetCallerIdentityResponse"`
		Xmlns   string   `xml:"xmlns,attr"`
		Result  struct {
			Arn     string `xml:"Arn"`
			UserID  string `xml:"UserId"`
			Account string `xml:"Account"`
		} `xml:"GetCallerIdentityResult"`
		Metadata responseMetadata `xml:"ResponseMetadata"`
	}
	errorBody struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	errorResponse struct {
		XMLName   xml.Name  `xml:"ErrorResponse"`
		Xmlns     string    `xml:"xmlns,attr"`
		Error     errorBody `xml:"Error"`
		RequestID string    `xml:"RequestId"`
	}
)

// newKey issues an access key id that names account (see AccountOfKey).
func newKey(account string) string {
	return keyPrefix + account + randomChars(4)
}

// base32Chars are the characters of AWS access key ids.
const base32Chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

func randomChars(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = base32Chars[int(b[i])%len(base32Chars)]
	}
	return string(b)
}

func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func partitionOf(arn string) string {
	p, _, _ := strings.Cut(strings.TrimPrefix(arn, "arn:"), ":")
	return p
}

func lastSegment(name string) string {
	return name[strings.LastIndex(name, "/")+1:]
}
