// Package ssmfake emulates the AWS Systems Manager DescribeSessions API
// (and DescribeInstanceInformation over generated managed nodes, nodes.go),
// speaking the AWS JSON 1.1 protocol, so that the real SDK client can be
// pointed at it over HTTP.
//
// The emulator follows the service as far as it is known: sessions are
// served newest StartDate first (ties by SessionId); the InvokedAfter and
// InvokedBefore filters are inclusive and select a contiguous range; a page
// takes the next MaxResults sessions of that range (20 when MaxResults is
// absent) and only then drops those failing the Target, Owner, Status,
// SessionId and AccessType filters, so a page can be short or empty and
// still carry a NextToken. Tokens are opaque, bound to the server that
// issued them and to the request's State and filters, and keep their
// position by session key, so paging stays exact while sessions are added.
//
// Faults (latency, throttling, internal errors, short pages) can be
// switched on deterministically to exercise retries and paging.
package ssmfake

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	randv2 "math/rand/v2"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/session-audit/session-audit/internal/stsfake"
)

// targetDescribeSessions is the X-Amz-Target of the one operation served.
const targetDescribeSessions = "AmazonSSM.DescribeSessions"

// Server is an in-memory SSM DescribeSessions endpoint. It implements
// http.Handler and is safe for concurrent use.
type Server struct {
	secret []byte

	mu       sync.RWMutex
	st       store                // the local account's sessions, every region without its own
	targets  map[targetKey]*store // accounts and regions with their own sessions
	disabled map[targetKey]bool   // regions not enabled for an account
	denied   map[string]bool      // accounts whose role may not DescribeSessions
	nodes    map[targetKey][]Node // managed nodes by account and region (nodes.go)

	fmu      sync.Mutex // guards everything below
	faults   Faults
	n        int // calls since the faults were set
	throttle *randv2.Rand
	short    *randv2.Rand
	seq      uint64
	calls    []callRecord
	bucket   *tokenBucket // the RateLimit (ratelimit.go); nil: none
	// nodeFault is answered to every DescribeInstanceInformation call.
	nodeFault string
}

// Option configures a Server built by New.
type Option func(*Server)

// WithFaults sets the faults the server starts with; see SetFaults.
func WithFaults(f Faults) Option {
	return func(s *Server) { s.SetFaults(f) }
}

// WithSessions stores the sessions the server starts with; see Put.
func WithSessions(ss []types.Session) Option {
	return func(s *Server) { s.Put(ss...) }
}

// New returns a server holding no sessions and injecting no faults, then
// applies opts.
func New(opts ...Option) *Server {
	s := &Server{secret: make([]byte, 32)}
	if _, err := rand.Read(s.secret); err != nil {
		// crypto/rand does not fail on supported platforms; a fixed
		// secret still keeps tokens bound to their request shape.
		copy(s.secret, "ssmfake")
	}
	s.SetFaults(Faults{})
	for _, o := range opts {
		o(s)
	}
	return s
}

// Faults are failures and delays the server injects into DescribeSessions
// calls. Counting and random draws restart whenever the faults are set, so
// a sequence of calls meets the same faults on every run.
type Faults struct {
	// Latency is added to every call; the wait ends early when the
	// request's context is cancelled, and the call then gets no answer.
	Latency time.Duration
	// ThrottleEvery makes every Nth call answer ThrottlingException
	// (HTTP 400); 0 never does.
	ThrottleEvery int
	// ThrottleRate is the probability that a call answers
	// ThrottlingException, drawn from Seed.
	ThrottleRate float64
	// FailEvery makes every Nth call answer InternalServerError (HTTP 500);
	// 0 never does. Throttling wins when both apply to one call.
	FailEvery int
	// ShortPages makes about half the pages, chosen from Seed, examine
	// fewer sessions than MaxResults (possibly none) while still carrying a
	// NextToken when more remain.
	ShortPages bool
	// Seed seeds ThrottleRate and ShortPages.
	Seed int64
}

// SetFaults replaces the injected faults and restarts their counting.
func (s *Server) SetFaults(f Faults) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.faults = f
	s.n = 0
	s.throttle = randv2.New(randv2.NewPCG(uint64(f.Seed), 0x7468726f74746c65))
	s.short = randv2.New(randv2.NewPCG(uint64(f.Seed), 0x73686f7274706773))
}

// Put stores sessions, replacing any stored session with the same
// SessionId; a session can so move from Active to History. Active holds
// the statuses Connected, Connecting, Disconnected and Terminating, History
// Terminated and Failed (any other status: History once it has an EndDate).
// Times are kept at the service's millisecond precision. Sessions without a
// SessionId are ignored; a session without StartDate is served last and
// never matches a time filter. Put copies what it keeps.
func (s *Server) Put(sessions ...types.Session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.put(sessions)
}

// Delete removes the sessions with the given ids, for example to simulate
// the 30-day expiry of History. Unknown ids are ignored.
func (s *Server) Delete(ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.delete(ids)
}

// Sessions returns a copy of the sessions of state ("Active" or "History")
// in the order they are served; any other state has none.
func (s *Server) Sessions(state string) []types.Session {
	var i int
	switch state {
	case "Active":
		i = stateActive
	case "History":
		i = stateHistory
	default:
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return sessionsOf(&s.st, i)
}

func sessionsOf(st *store, i int) []types.Session {
	out := make([]types.Session, len(st.lists[i]))
	for j, r := range st.lists[i] {
		out[j] = r.session()
	}
	return out
}

// Call is one request the server received, as recorded for tests.
type Call struct {
	// Operation is the request's X-Amz-Target header.
	Operation string
	// Account and Region are the target the request asked for: the
	// account of its credentials (see stsfake.IdentityOf) and the region
	// of its signature ("" when unsigned).
	Account string
	Region  string
	// State, MaxResults (0 when absent) and NextToken are as requested.
	State      string
	MaxResults int32
	NextToken  string
	// Filters maps each requested filter key to its value; nil without
	// filters.
	Filters map[string]string
	// Sessions are the sessions answered, as they were when answered.
	Sessions []types.Session
	// ReturnedNextToken is the NextToken answered; "" on the last page.
	ReturnedNextToken string
	// ErrorCode is the error answered ("" when the call succeeded);
	// "RequestCanceled" when the client went away during injected latency
	// and got no answer.
	ErrorCode string
	// HTTPStatus is the status answered; 0 when there was no answer.
	HTTPStatus int
}

// callRecord keeps a call's sessions as records, which are immutable, and
// converts them only when Calls is asked.
type callRecord struct {
	call Call
	recs []*record
}

// Calls returns the calls received since the server started or
// ResetCalls, oldest first.
func (s *Server) Calls() []Call {
	s.fmu.Lock()
	recs := append([]callRecord(nil), s.calls...)
	s.fmu.Unlock()
	out := make([]Call, len(recs))
	for i, cr := range recs {
		c := cr.call
		c.Filters = maps.Clone(c.Filters)
		if cr.recs != nil {
			c.Sessions = make([]types.Session, len(cr.recs))
			for j, r := range cr.recs {
				c.Sessions[j] = r.session()
			}
		}
		out[i] = c
	}
	return out
}

// ResetCalls forgets the recorded calls. It does not restart the counting
// of faults; SetFaults does.
func (s *Server) ResetCalls() {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.calls = nil
}

// faultDecision is what the faults do to one call.
type faultDecision struct {
	latency   time.Duration
	throttled bool
	failed    bool
	short     bool
	shortDraw uint64
	seq       uint64
}

func (s *Server) decideFaults() faultDecision {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.n++
	s.seq++
	f := s.faults
	d := faultDecision{latency: f.Latency, seq: s.seq, short: f.ShortPages}
	if f.ThrottleRate > 0 && s.throttle.Float64() < f.ThrottleRate {
		d.throttled = true
	}
	if f.ThrottleEvery > 0 && s.n%f.ThrottleEvery == 0 {
		d.throttled = true
	}
	if s.bucket != nil && !d.throttled && !s.bucket.take() {
		d.throttled = true
	}
	if f.FailEvery > 0 && s.n%f.FailEvery == 0 {
		d.failed = true
	}
	if f.ShortPages {
		d.shortDraw = s.short.Uint64()
	}
	return d
}

// ServeHTTP answers AWS JSON 1.1 requests for AmazonSSM.DescribeSessions
// and AmazonSSM.DescribeInstanceInformation (nodes.go).
// Signatures are not checked.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cr := callRecord{call: Call{Operation: r.Header.Get("X-Amz-Target")}}
	if cr.call.Operation == targetDescribeInstanceInformation && r.Method == http.MethodPost {
		body, aerr := s.serveNodes(r, &cr.call)
		if aerr != nil {
			cr.call.ErrorCode, cr.call.HTTPStatus = aerr.code, aerr.status
			w.Header().Set("X-Amzn-ErrorType", aerr.code)
			s.write(w, aerr.status, appendError(nil, aerr))
		} else {
			cr.call.HTTPStatus = http.StatusOK
			s.write(w, http.StatusOK, body)
		}
		s.record(cr)
		return
	}
	page, token, aerr := s.serve(r, &cr.call)
	switch {
	case aerr != nil && aerr.code == codeClientCanceled:
		cr.call.ErrorCode = aerr.code
		s.record(cr)
		return
	case aerr != nil:
		cr.call.ErrorCode = aerr.code
		cr.call.HTTPStatus = aerr.status
		w.Header().Set("X-Amzn-ErrorType", aerr.code)
		s.write(w, aerr.status, appendError(nil, aerr))
	default:
		cr.recs = page
		if cr.recs == nil {
			cr.recs = []*record{}
		}
		cr.call.ReturnedNextToken = token
		cr.call.HTTPStatus = http.StatusOK
		s.write(w, http.StatusOK, appendResponse(make([]byte, 0, 512*len(page)+64), page, token))
	}
	s.record(cr)
}

func (s *Server) record(cr callRecord) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.calls = append(s.calls, cr)
}

func (s *Server) write(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.1")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Amzn-Requestid", s.requestID())
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// requestID returns a fresh request id shaped like the service's UUIDs.
func (s *Server) requestID() string {
	var b [16]byte
	copy(b[:8], s.secret)
	binary.BigEndian.PutUint64(b[8:], uint64(time.Now().UnixNano()))
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// serve handles one request, filling c with what it asked.
func (s *Server) serve(r *http.Request, c *Call) ([]*record, string, *apiError) {
	if r.Method != http.MethodPost || c.Operation != targetDescribeSessions {
		return nil, "", &apiError{status: http.StatusBadRequest, code: codeUnknownOp,
			message: fmt.Sprintf("Operation %q is not supported by this endpoint; only POST with X-Amz-Target %s is.", c.Operation, targetDescribeSessions)}
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil ||
		(mt != "application/x-amz-json-1.1" && mt != "application/x-amz-json-1.0") {
		return nil, "", &apiError{status: http.StatusBadRequest, code: codeUnknownOp,
			message: "Content-Type must be application/x-amz-json-1.1."}
	}

	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return nil, "", validationError("The request body could not be read: %v", err)
	}
	if len(body) > maxBodyBytes {
		return nil, "", validationError("The request body is larger than %d bytes.", maxBodyBytes)
	}
	id, signed := stsfake.IdentityOf(r)
	if !signed {
		id.Account = stsfake.LocalAccount
	}
	c.Account, c.Region = id.Account, id.Region
	// The body is read first: only then does net/http notice a client
	// that goes away during the latency below.
	d := s.decideFaults()
	if d.latency > 0 {
		t := time.NewTimer(d.latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return nil, "", &apiError{code: codeClientCanceled, message: "the client went away"}
		}
	}
	if aerr := s.refuse(id); aerr != nil {
		return nil, "", aerr
	}
	if d.throttled {
		return nil, "", &apiError{status: http.StatusBadRequest, code: codeThrottling, message: "Rate exceeded"}
	}
	if d.failed {
		return nil, "", &apiError{status: http.StatusInternalServerError, code: codeInternal, message: "An internal error occurred. Try again later."}
	}

	req, aerr := decodeRequest(body)
	c.State, c.MaxResults, c.NextToken = req.state, req.maxResults, req.nextToken
	if len(req.filters) > 0 {
		c.Filters = make(map[string]string, len(req.filters))
		for _, f := range req.filters {
			c.Filters[f.key] = f.value
		}
	}
	if aerr != nil {
		return nil, "", aerr
	}
	q, aerr := validate(req)
	if aerr != nil {
		return nil, "", aerr
	}
	cur := cursor{fromStart: true}
	if req.nextToken != "" {
		var ok bool
		if cur, ok = decodeToken(s.secret, q.shape, req.nextToken); !ok {
			return nil, "", &apiError{status: http.StatusBadRequest, code: codeInvalidToken,
				message: "The nextToken is not valid for this request."}
		}
	}
	page, next := s.page(c.Account, c.Region, &q, cur, d)
	return page, next, nil
}

// page cuts the page of q that starts after cur in the sessions of
// (account, region).
func (s *Server) page(account, region string, q *query, cur cursor, d faultDecision) ([]*record, string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	l := s.storeFor(account, region).lists[q.state]

	// The time filters select the contiguous range l[lo:hi].
	lo, hi := 0, len(l)
	if q.hasBefore {
		lo = sort.Search(len(l), func(i int) bool { return l[i].start <= q.before })
	}
	if q.hasAfter {
		hi = sort.Search(len(l), func(i int) bool { return l[i].start < q.after })
	} else if q.hasBefore {
		hi = sort.Search(len(l), func(i int) bool { return l[i].start == noStart })
	}
	pos := lo
	if !cur.fromStart {
		key := record{start: cur.start, id: cur.id}
		pos = max(pos, sort.Search(len(l), func(i int) bool { return before(&key, l[i]) }))
	}
	pos = min(pos, hi) // an inverted range (lo > hi) is empty

	n := q.maxResults
	if d.short && d.shortDraw&1 == 1 {
		n = int((d.shortDraw >> 1) % uint64(q.maxResults))
	}
	end := min(pos+n, hi)

	var out []*record
	for _, r := range l[pos:end] {
		if q.matches(r) {
			out = append(out, r)
		}
	}
	if end >= hi {
		return out, ""
	}
	next := cur
	if end > pos {
		last := l[end-1]
		next = cursor{start: last.start, id: last.id}
	}
	return out, encodeToken(s.secret, q.shape, next, d.seq)
}
