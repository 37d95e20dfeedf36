// Package orgfake emulates the AWS Organizations operations the org
// function calls (ListAccounts, ListChildren, ListAccountsForParent, and
// for the accounts table ListRoots, ListOrganizationalUnitsForParent,
// ListParents and DescribeOrganizationalUnit),
// speaking the AWS JSON 1.1 protocol (X-Amz-Target
// AWSOrganizationsV20161128.*), so that the real SDK client can be pointed
// at it over HTTP.
//
// Like the service it pages: MaxResults is 1-20 (the page size when it is
// absent is configurable, 20 by default), and a page may come with a
// NextToken that the next call must send back. Tokens are opaque and bound
// to the operation and parent that issued them. AccessDenied,
// AWSOrganizationsNotInUseException and TooManyRequestsException can be
// injected to exercise the caller's error paths.
package orgfake

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/session-audit/session-audit/internal/stsfake"
)

// targetPrefix is the X-Amz-Target namespace of the service.
const targetPrefix = "AWSOrganizationsV20161128."

// Account statuses (the service's AccountStatus / AccountState values).
const (
	Active         = "ACTIVE"
	Suspended      = "SUSPENDED"
	PendingClosure = "PENDING_CLOSURE"
)

// Error codes the emulator can inject.
const (
	AccessDenied      = "AccessDeniedException"
	NotInUse          = "AWSOrganizationsNotInUseException"
	TooManyRequests   = "TooManyRequestsException"
	codeInvalidInput  = "InvalidInputException"
	codeParentMissing = "ParentNotFoundException"
	codeUnknownOp     = "UnknownOperationException"
)

// maxResults is the largest MaxResults the service accepts for these
// operations.
const maxResults = 20

// Account is one member account of the emulated organization.
type Account struct {
	ID     string
	Name   string // empty: "account-<ID>"
	Email  string // empty: "<ID>@example.com"
	Status string // Active, Suspended or PendingClosure; empty means Active
	Parent string // the OU (or root) holding it; empty means the root
}

// Fault makes calls answer an error: Code is one of AccessDenied, NotInUse
// or TooManyRequests; Every makes every Nth call fail (1: all of them);
// Operation, when set, limits the fault to that operation (for example
// "ListChildren").
type Fault struct {
	Code      string
	Every     int
	Operation string
}

// Server is an in-memory Organizations endpoint. It implements
// http.Handler and is safe for concurrent use.
type Server struct {
	root       string
	pageSize   int
	management string // when set, only its credentials may list

	mu       sync.Mutex
	accounts []Account           // sorted by ID
	ous      map[string][]string // parent -> child OUs, in insertion order
	ouNames  map[string]string   // OU -> name
	ouParent map[string]string   // OU -> parent
	fault    Fault
	n        int
	calls    map[string]int
}

// Option configures a Server built by New.
type Option func(*Server)

// WithPageSize sets the page size used when a request carries no
// MaxResults (default 20; the service documents none).
func WithPageSize(n int) Option {
	return func(s *Server) {
		if n > 0 {
			s.pageSize = n
		}
	}
}

// WithManagementAccount makes the organization answer only requests
// signed with credentials of account (as internal/stsfake issues them for
// an assumed role there); any other caller gets AccessDeniedException, as
// from a member account without delegated administration.
func WithManagementAccount(account string) Option {
	return func(s *Server) { s.management = account }
}

// WithAccounts adds accounts; see Add.
func WithAccounts(as ...Account) Option { return func(s *Server) { s.Add(as...) } }

// New returns an organization whose root is "r-root0", holding no account.
func New(opts ...Option) *Server {
	s := &Server{root: "r-root0", pageSize: maxResults, ous: map[string][]string{}, ouNames: map[string]string{}, ouParent: map[string]string{}, calls: map[string]int{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Root is the id of the organization's root.
func (s *Server) Root() string { return s.root }

// AddOU creates the organizational unit id under parent (the root when
// empty).
func (s *Server) AddOU(id, parent string) { s.AddNamedOU(id, "", parent) }

// AddNamedOU creates the organizational unit id named name (empty: its
// id) under parent (the root when empty).
func (s *Server) AddNamedOU(id, name, parent string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if parent == "" {
		parent = s.root
	}
	if name == "" {
		name = id
	}
	s.ous[parent] = append(s.ous[parent], id)
	s.ouNames[id], s.ouParent[id] = name, parent
}

// OUPath is the path of names from the root ("Root") to parent, as the
// accounts table records it.
func (s *Server) OUPath(parent string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	path := ""
	for id := parent; id != "" && id != s.root; id = s.ouParent[id] {
		path = "/" + s.ouNames[id] + path
	}
	return "Root" + path
}

// Add stores accounts, replacing any with the same ID.
func (s *Server) Add(as ...Account) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range as {
		if a.Status == "" {
			a.Status = Active
		}
		if a.Parent == "" {
			a.Parent = s.root
		}
		i := sort.Search(len(s.accounts), func(i int) bool { return s.accounts[i].ID >= a.ID })
		if i < len(s.accounts) && s.accounts[i].ID == a.ID {
			s.accounts[i] = a
			continue
		}
		s.accounts = append(s.accounts, Account{})
		copy(s.accounts[i+1:], s.accounts[i:])
		s.accounts[i] = a
	}
}

// SetFault replaces the injected fault (the zero Fault injects none) and
// restarts its counting.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault, s.n = f, 0
}

// Calls returns how many requests each operation received.
func (s *Server) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.calls))
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

// apiError is an error answer of the service.
type apiError struct {
	code, message string
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, &apiError{codeInvalidInput, "only POST is served"})
		return
	}
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, targetPrefix)
	if !ok {
		writeError(w, &apiError{codeUnknownOp, fmt.Sprintf("unknown target %q", target)})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeError(w, &apiError{codeInvalidInput, "unreadable body"})
		return
	}
	var req struct {
		ParentID   *string `json:"ParentId"`
		ChildID    *string `json:"ChildId"`
		OUID       *string `json:"OrganizationalUnitId"`
		ChildType  *string `json:"ChildType"`
		MaxResults *int    `json:"MaxResults"`
		NextToken  *string `json:"NextToken"`
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			writeError(w, &apiError{codeInvalidInput, "malformed JSON body"})
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[op]++
	if s.management != "" {
		if id, ok := stsfake.IdentityOf(r); !ok || id.Account != s.management {
			writeError(w, &apiError{AccessDenied, "You don't have permissions to access this resource."})
			return
		}
	}
	if e := s.injected(op); e != nil {
		writeError(w, e)
		return
	}
	size := s.pageSize
	if req.MaxResults != nil {
		if *req.MaxResults < 1 || *req.MaxResults > maxResults {
			writeError(w, &apiError{codeInvalidInput, fmt.Sprintf("MaxResults must be between 1 and %d", maxResults)})
			return
		}
		size = *req.MaxResults
	}
	parent := deref(req.ParentID)
	var out any
	var apiErr *apiError
	switch op {
	case "ListAccounts":
		ids := make([]string, 0, len(s.accounts))
		for _, a := range s.accounts {
			ids = append(ids, a.ID)
		}
		var page []string
		var next string
		page, next, apiErr = paginate(op, "", ids, req.NextToken, size)
		out = map[string]any{"Accounts": s.describe(page), "NextToken": omitEmpty(next)}
	case "ListAccountsForParent":
		if apiErr = s.checkParent(parent); apiErr == nil {
			var ids []string
			for _, a := range s.accounts {
				if a.Parent == parent {
					ids = append(ids, a.ID)
				}
			}
			var page []string
			var next string
			page, next, apiErr = paginate(op, parent, ids, req.NextToken, size)
			out = map[string]any{"Accounts": s.describe(page), "NextToken": omitEmpty(next)}
		}
	case "ListChildren":
		ct := deref(req.ChildType)
		if ct != "ACCOUNT" && ct != "ORGANIZATIONAL_UNIT" {
			apiErr = &apiError{codeInvalidInput, "ChildType must be ACCOUNT or ORGANIZATIONAL_UNIT"}
			break
		}
		if apiErr = s.checkParent(parent); apiErr != nil {
			break
		}
		var ids []string
		if ct == "ORGANIZATIONAL_UNIT" {
			ids = s.ous[parent]
		} else {
			for _, a := range s.accounts {
				if a.Parent == parent {
					ids = append(ids, a.ID)
				}
			}
		}
		var page []string
		var next string
		page, next, apiErr = paginate(op+ct, parent, ids, req.NextToken, size)
		children := make([]map[string]string, 0, len(page))
		for _, id := range page {
			children = append(children, map[string]string{"Id": id, "Type": ct})
		}
		out = map[string]any{"Children": children, "NextToken": omitEmpty(next)}
	case "ListRoots":
		out = map[string]any{"Roots": []map[string]any{{"Id": s.root, "Arn": "arn:aws:organizations::000000000000:root/o-emulated/" + s.root, "Name": "Root", "PolicyTypes": []any{}}}}
	case "ListOrganizationalUnitsForParent":
		if apiErr = s.checkParent(parent); apiErr == nil {
			var page []string
			var next string
			page, next, apiErr = paginate(op, parent, s.ous[parent], req.NextToken, size)
			units := make([]map[string]string, 0, len(page))
			for _, id := range page {
				units = append(units, s.ou(id))
			}
			out = map[string]any{"OrganizationalUnits": units, "NextToken": omitEmpty(next)}
		}
	case "ListParents":
		child := deref(req.ChildID)
		parentOf := ""
		if p, ok := s.ouParent[child]; ok {
			parentOf = p
		}
		for _, a := range s.accounts {
			if a.ID == child {
				parentOf = a.Parent
			}
		}
		if parentOf == "" {
			apiErr = &apiError{"ChildNotFoundException", "We can't find an organizational unit (OU) or AWS account with the ChildId that you specified."}
			break
		}
		typ := "ORGANIZATIONAL_UNIT"
		if parentOf == s.root {
			typ = "ROOT"
		}
		out = map[string]any{"Parents": []map[string]string{{"Id": parentOf, "Type": typ}}}
	case "DescribeOrganizationalUnit":
		id := deref(req.OUID)
		if _, ok := s.ouNames[id]; !ok {
			apiErr = &apiError{"OrganizationalUnitNotFoundException", "We can't find an OU with the OrganizationalUnitId that you specified."}
			break
		}
		out = map[string]any{"OrganizationalUnit": s.ou(id)}
	default:
		apiErr = &apiError{codeUnknownOp, "operation " + op + " is not emulated"}
	}
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

// injected answers the configured fault for this call, if it applies.
func (s *Server) injected(op string) *apiError {
	f := s.fault
	if f.Code == "" || (f.Operation != "" && f.Operation != op) {
		return nil
	}
	s.n++
	if f.Every > 1 && s.n%f.Every != 0 {
		return nil
	}
	msg := map[string]string{
		AccessDenied:    "You don't have permissions to access this resource.",
		NotInUse:        "Your account is not a member of an organization.",
		TooManyRequests: "AWS Organizations can't complete your request because another request is already in progress.",
	}[f.Code]
	return &apiError{f.Code, msg}
}

func (s *Server) checkParent(id string) *apiError {
	if id == "" {
		return &apiError{codeInvalidInput, "ParentId is required"}
	}
	if id == s.root {
		return nil
	}
	for _, kids := range s.ous {
		for _, k := range kids {
			if k == id {
				return nil
			}
		}
	}
	return &apiError{codeParentMissing, "We can't find a root or OU with the ParentId that you specified."}
}

// ou renders an organizational unit as the service does.
func (s *Server) ou(id string) map[string]string {
	return map[string]string{"Id": id, "Arn": "arn:aws:organizations::000000000000:ou/o-emulated/" + id, "Name": s.ouNames[id]}
}

// describe renders accounts as the service does, JoinedTimestamp in epoch
// seconds.
func (s *Server) describe(ids []string) []map[string]any {
	out := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		i := sort.Search(len(s.accounts), func(i int) bool { return s.accounts[i].ID >= id })
		a := s.accounts[i]
		name := a.Name
		if name == "" {
			name = "account-" + a.ID
		}
		email := a.Email
		if email == "" {
			email = a.ID + "@example.com"
		}
		out = append(out, map[string]any{
			"Id":              a.ID,
			"Arn":             "arn:aws:organizations::000000000000:account/o-emulated/" + a.ID,
			"Email":           email,
			"Name":            name,
			"Status":          a.Status,
			"State":           a.Status,
			"JoinedMethod":    "CREATED",
			"JoinedTimestamp": float64(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix()),
		})
	}
	return out
}

// paginate cuts ids at the position a token names. A token encodes the
// operation, the parent and the offset; one minted for another listing is
// refused as the service refuses it.
func paginate(op, parent string, ids []string, token *string, size int) ([]string, string, *apiError) {
	start := 0
	if token != nil {
		raw, err := base64.RawURLEncoding.DecodeString(*token)
		parts := strings.SplitN(string(raw), "\x00", 3)
		if err != nil || len(parts) != 3 || parts[0] != op || parts[1] != parent {
			return nil, "", &apiError{codeInvalidInput, "the NextToken is not valid for this request"}
		}
		n, err := strconv.Atoi(parts[2])
		if err != nil || n < 0 || n > len(ids) {
			return nil, "", &apiError{codeInvalidInput, "the NextToken is not valid for this request"}
		}
		start = n
	}
	end := min(start+size, len(ids))
	next := ""
	if end < len(ids) {
		next = base64.RawURLEncoding.EncodeToString([]byte(op + "\x00" + parent + "\x00" + strconv.Itoa(end)))
	}
	return ids[start:end], next, nil
}

func writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", e.code)
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": e.code, "Message": e.message})
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func omitEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
