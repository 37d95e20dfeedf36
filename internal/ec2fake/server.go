// Package ec2fake emulates the one EC2 operation the node snapshot calls,
// DescribeInstances, speaking the EC2 query protocol (a form-encoded POST
// with Action=DescribeInstances and Version, answered in XML with
// reservationSet/instancesSet/tagSet), so that the real SDK client can be
// pointed at it over HTTP.
//
// As the service, it pages: MaxResults is 5-1000 and cannot be combined
// with InstanceId.N; a page may carry a nextToken the next call must send
// back, and tokens are bound to the filters that issued them. The
// instance-id filter (Filter.N.Name=instance-id, Filter.N.Value.M) and
// InstanceId.N select instances; ids that are not served are simply not
// returned by the filter, and are InvalidInstanceID.NotFound with
// InstanceId.N, as in EC2. Instances are per account (of the request's
// credentials, see stsfake.IdentityOf) and region. RequestLimitExceeded
// and UnauthorizedOperation can be injected.
package ec2fake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/session-audit/session-audit/internal/stsfake"
)

// Error codes the emulator answers with.
const (
	// RequestLimitExceeded is EC2's throttling answer (HTTP 503).
	RequestLimitExceeded = "RequestLimitExceeded"
	// UnauthorizedOperation is EC2's answer to a caller without the
	// permission (HTTP 403).
	UnauthorizedOperation = "UnauthorizedOperation"
	codeInvalidParameter  = "InvalidParameterValue"
	codeInvalidCombo      = "InvalidParameterCombination"
	codeInvalidAction     = "InvalidAction"
	codeNotFound          = "InvalidInstanceID.NotFound"
	codeInvalidToken      = "InvalidNextToken"
)

// Limits of DescribeInstances, from the API reference.
const (
	minMaxResults = 5
	maxMaxResults = 1000
	// defaultPage is how many instances a call without MaxResults gets
	// (the service returns all of them; this bounds one answer).
	defaultPage = 1000
	// maxFilterValues is the number of values one filter may hold.
	maxFilterValues = 200
)

// Instance is one EC2 instance of the emulator.
type Instance struct {
	ID   string
	Tags map[string]string
	// State is the instance state name; empty means running.
	State string
}

// Fault makes DescribeInstances calls answer Code (RequestLimitExceeded
// or UnauthorizedOperation); Every makes every Nth call fail (0 or 1:
// every call). Account, when set, limits it to that account.
type Fault struct {
	Code    string
	Every   int
	Account string
}

// Call is one request received.
type Call struct {
	Account, Region string
	IDs             int // instance ids asked for, by filter or InstanceId.N
	MaxResults      int
	NextToken       bool
	Returned        int
	ErrorCode       string
}

// Server is an in-memory EC2 endpoint. It implements http.Handler and is
// safe for concurrent use.
type Server struct {
	secret []byte

	mu        sync.Mutex
	instances map[[2]string][]Instance // by account, region; sorted by ID
	fault     Fault
	n         int
	calls     []Call
}

// New returns a server holding no instances.
func New() *Server {
	return &Server{secret: []byte("ec2fake-token-secret"), instances: map[[2]string][]Instance{}}
}

// Put stores instances of account in region, replacing any with the same
// ID.
func (s *Server) Put(account, region string, is ...Instance) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := [2]string{account, region}
	byID := map[string]Instance{}
	for _, in := range s.instances[k] {
		byID[in.ID] = in
	}
	for _, in := range is {
		byID[in.ID] = in
	}
	out := make([]Instance, 0, len(byID))
	for _, in := range byID {
		out = append(out, in)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	s.instances[k] = out
}

// SetFault replaces the injected fault (the zero Fault injects none) and
// restarts its counting.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault, s.n = f, 0
}

// Calls returns the requests received, oldest first.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// apiError is an error answer.
type apiError struct {
	status        int
	code, message string
}

// ServeHTTP answers EC2 query requests. Signatures are not checked; the
// account is that of the credentials (stsfake.IdentityOf).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, signed := stsfake.IdentityOf(r)
	if !signed {
		id.Account = stsfake.LocalAccount
	}
	c := Call{Account: id.Account, Region: id.Region}
	body, aerr := s.serve(r, &c)
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	if aerr != nil {
		w.WriteHeader(aerr.status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>%s</RequestID></Response>`,
			escape(aerr.code), escape(aerr.message), requestID)
		return
	}
	_, _ = w.Write(body)
}

// requestID is the request id of every answer.
const requestID = "59dbff89-35bd-4eac-99ed-be587EXAMPLE"

func (s *Server) serve(r *http.Request, c *Call) ([]byte, *apiError) {
	if r.Method != http.MethodPost {
		return nil, &apiError{http.StatusBadRequest, codeInvalidAction, "only POST is served"}
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, &apiError{http.StatusBadRequest, codeInvalidParameter, "unreadable body"}
	}
	form, err := url.ParseQuery(string(raw))
	if err != nil {
		return nil, &apiError{http.StatusBadRequest, codeInvalidParameter, "malformed query body"}
	}
	if a := form.Get("Action"); a != "DescribeInstances" {
		return nil, &apiError{http.StatusBadRequest, codeInvalidAction, fmt.Sprintf("The action %s is not valid for this web service.", a)}
	}
	if form.Get("Version") == "" {
		return nil, &apiError{http.StatusBadRequest, "MissingParameter", "The request must contain the parameter Version"}
	}
	s.mu.Lock()
	f := s.fault
	injected := ""
	if f.Code != "" && (f.Account == "" || f.Account == c.Account) {
		s.n++
		if f.Every <= 1 || s.n%f.Every == 0 {
			injected = f.Code
		}
	}
	s.mu.Unlock()
	switch injected {
	case RequestLimitExceeded:
		c.ErrorCode = injected
		return nil, &apiError{http.StatusServiceUnavailable, injected, "Request limit exceeded."}
	case UnauthorizedOperation:
		c.ErrorCode = injected
		return nil, &apiError{http.StatusForbidden, injected, "You are not authorized to perform this operation. User: arn:aws:sts::" + c.Account + ":assumed-role/reader/session is not authorized to perform: ec2:DescribeInstances because no identity-based policy allows the ec2:DescribeInstances action"}
	}
	body, aerr := s.describe(form, c)
	if aerr != nil {
		c.ErrorCode = aerr.code
	}
	return body, aerr
}

// describe answers one DescribeInstances request.
func (s *Server) describe(form url.Values, c *Call) ([]byte, *apiError) {
	ids, byParam, aerr := requestedIDs(form)
	if aerr != nil {
		return nil, aerr
	}
	c.IDs = len(ids)
	size := defaultPage
	if v := form.Get("MaxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < minMaxResults || n > maxMaxResults {
			return nil, &apiError{http.StatusBadRequest, codeInvalidParameter, fmt.Sprintf("Value ( %s ) for parameter maxResults is invalid. Expecting a value between %d and %d.", v, minMaxResults, maxMaxResults)}
		}
		if byParam {
			return nil, &apiError{http.StatusBadRequest, codeInvalidCombo, "The parameter instancesSet cannot be used with the parameter maxResults"}
		}
		size, c.MaxResults = n, n
	}
	shape := shapeOf(ids)
	start := 0
	if tok := form.Get("NextToken"); tok != "" {
		c.NextToken = true
		n, ok := s.decodeToken(shape, tok)
		if !ok {
			return nil, &apiError{http.StatusBadRequest, codeInvalidToken, "The token '" + tok + "' is invalid."}
		}
		start = n
	}
	s.mu.Lock()
	all := s.instances[[2]string{c.Account, c.Region}]
	var match []Instance
	if ids == nil {
		match = all
	} else {
		want := map[string]bool{}
		for _, id := range ids {
			want[id] = true
		}
		for _, in := range all {
			if want[in.ID] {
				match = append(match, in)
				delete(want, in.ID)
			}
		}
		if byParam && len(want) > 0 {
			s.mu.Unlock()
			missing := make([]string, 0, len(want))
			for id := range want {
				missing = append(missing, id)
			}
			sort.Strings(missing)
			return nil, &apiError{http.StatusBadRequest, codeNotFound, fmt.Sprintf("The instance IDs '%s' do not exist", strings.Join(missing, ", "))}
		}
	}
	if start > len(match) {
		start = len(match)
	}
	end := min(start+size, len(match))
	page := append([]Instance(nil), match[start:end]...)
	s.mu.Unlock()
	next := ""
	if end < len(match) {
		next = s.encodeToken(shape, end)
	}
	c.Returned = len(page)
	return render(c.Account, page, next), nil
}

// requestedIDs reads the instance ids a request selects: its instance-id
// filters and InstanceId.N parameters (nil: every instance). byParam is
// true when InstanceId.N was used.
func requestedIDs(form url.Values) (ids []string, byParam bool, aerr *apiError) {
	var sets [][]string
	for i := 1; ; i++ {
		name, ok := form["Filter."+strconv.Itoa(i)+".Name"]
		if !ok {
			break
		}
		if name[0] != "instance-id" {
			return nil, false, &apiError{http.StatusBadRequest, codeInvalidParameter, fmt.Sprintf("The filter '%s' is not served by this emulator; only instance-id is", name[0])}
		}
		var vals []string
		for j := 1; ; j++ {
			v, ok := form["Filter."+strconv.Itoa(i)+".Value."+strconv.Itoa(j)]
			if !ok {
				break
			}
			vals = append(vals, v[0])
		}
		if len(vals) > maxFilterValues {
			return nil, false, &apiError{http.StatusBadRequest, "FilterLimitExceeded", fmt.Sprintf("The maximum number of filter values specified on a single call is %d", maxFilterValues)}
		}
		sets = append(sets, vals)
	}
	var direct []string
	for j := 1; ; j++ {
		v, ok := form["InstanceId."+strconv.Itoa(j)]
		if !ok {
			break
		}
		direct = append(direct, v[0])
	}
	if len(direct) > 0 {
		sets = append(sets, direct)
		byParam = true
	}
	if len(sets) == 0 {
		return nil, false, nil
	}
	// Several sets intersect (filters are ANDed).
	ids = sets[0]
	for _, set := range sets[1:] {
		in := map[string]bool{}
		for _, v := range set {
			in[v] = true
		}
		var kept []string
		for _, v := range ids {
			if in[v] {
				kept = append(kept, v)
			}
		}
		ids = kept
	}
	if ids == nil {
		ids = []string{}
	}
	return ids, byParam, nil
}

// shapeOf is what a token is bound to: the ids asked for.
func shapeOf(ids []string) string {
	if ids == nil {
		return "*"
	}
	s := append([]string(nil), ids...)
	sort.Strings(s)
	return strings.Join(s, ",")
}

func (s *Server) mac(shape string, offset int) []byte {
	m := hmac.New(sha256.New, s.secret)
	fmt.Fprintf(m, "%s\x00%d", shape, offset)
	return m.Sum(nil)[:12]
}

func (s *Server) encodeToken(shape string, offset int) string {
	b := strconv.AppendInt(nil, int64(offset), 10)
	b = append(b, '.')
	b = append(b, base64.RawURLEncoding.EncodeToString(s.mac(shape, offset))...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) decodeToken(shape, tok string) (int, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, false
	}
	num, sig, ok := strings.Cut(string(raw), ".")
	n, err := strconv.Atoi(num)
	if !ok || err != nil || n < 0 {
		return 0, false
	}
	want := base64.RawURLEncoding.EncodeToString(s.mac(shape, n))
	return n, hmac.Equal([]byte(sig), []byte(want))
}

// render writes the XML answer: one reservation per instance, as launches
// of one instance each.
func render(account string, page []Instance, next string) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>` + requestID + `</requestId><reservationSet>`)
	for _, in := range page {
		state := in.State
		if state == "" {
			state = "running"
		}
		b.WriteString(`<item><reservationId>r-` + strings.TrimPrefix(in.ID, "i-") + `</reservationId><ownerId>` + escape(account) + `</ownerId><groupSet/><instancesSet><item>`)
		b.WriteString(`<instanceId>` + escape(in.ID) + `</instanceId><instanceState><code>16</code><name>` + escape(state) + `</name></instanceState>`)
		keys := make([]string, 0, len(in.Tags))
		for k := range in.Tags {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if len(keys) > 0 {
			b.WriteString(`<tagSet>`)
			for _, k := range keys {
				b.WriteString(`<item><key>` + escape(k) + `</key><value>` + escape(in.Tags[k]) + `</value></item>`)
			}
			b.WriteString(`</tagSet>`)
		}
		b.WriteString(`</item></instancesSet></item>`)
	}
	b.WriteString(`</reservationSet>`)
	if next != "" {
		b.WriteString(`<nextToken>` + escape(next) + `</nextToken>`)
	}
	b.WriteString(`</DescribeInstancesResponse>`)
	return []byte(b.String())
}

func escape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
