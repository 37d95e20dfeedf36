package e2e

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// faultProxy sits in front of the SSM emulator or the S3 server and
// applies rules to the requests that match them, so each fault is a
// deterministic table row: the nth matching request, or a probability
// drawn from a fixed seed.
type faultProxy struct {
	mu     sync.Mutex
	rules  []*rule
	rng    *rand.Rand
	counts map[string]int // requests seen per operation
	hits   map[string]int // faults applied per rule name
}

// rule says which requests a fault applies to and what it does.
type rule struct {
	name  string
	op    string                 // operation name ("" = any)
	match func(body []byte) bool // optional extra condition on the request body
	nth   []int                  // 1-based indexes among matching requests; empty = every one
	prob  float64                // if > 0, apply with this probability instead
	times int                    // apply at most this often (0 = no limit)
	do    func(w http.ResponseWriter, r *http.Request, next http.Handler)
	seen  int
	hits  int
}

func newFaultProxy(seed uint64, rules ...*rule) *faultProxy {
	return &faultProxy{rules: rules, rng: rand.New(rand.NewPCG(seed, seed)), counts: map[string]int{}, hits: map[string]int{}}
}

func (p *faultProxy) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		op := operation(r)
		p.mu.Lock()
		p.counts[op]++
		var chosen *rule
		for _, ru := range p.rules {
			if (ru.op != "" && ru.op != op) || (ru.match != nil && !ru.match(body)) {
				continue
			}
			ru.seen++
			apply := len(ru.nth) == 0
			for _, n := range ru.nth {
				apply = apply || n == ru.seen
			}
			if ru.prob > 0 {
				apply = p.rng.Float64() < ru.prob
			}
			if ru.times > 0 && ru.hits >= ru.times {
				apply = false
			}
			if apply && chosen == nil {
				ru.hits++
				p.hits[ru.name]++
				chosen = ru
			}
		}
		p.mu.Unlock()
		if chosen == nil {
			next.ServeHTTP(w, r)
			return
		}
		chosen.do(w, r, next)
	})
}

// setRules replaces the rules.
func (p *faultProxy) setRules(rules ...*rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = rules
}

func (p *faultProxy) hitsOf(name string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hits[name]
}

// operation names a request as the SDK calls it.
func operation(r *http.Request) string {
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		return t[strings.LastIndex(t, ".")+1:]
	}
	q := r.URL.Query()
	_, uploads := q["uploads"]
	switch {
	case r.Method == http.MethodPost && uploads:
		return "CreateMultipartUpload"
	case r.Method == http.MethodPost && q.Has("uploadId"):
		return "CompleteMultipartUpload"
	case r.Method == http.MethodPut && q.Has("partNumber"):
		return "UploadPart"
	case r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/"):
		return "PutObject:manifest"
	case r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/state/"):
		return "PutObject:state"
	case r.Method == http.MethodPut:
		return "PutObject"
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		return "AbortMultipartUpload"
	case r.Method == http.MethodHead:
		return "HeadObject"
	case r.Method == http.MethodGet && q.Get("list-type") == "2":
		return "ListObjectsV2"
	case r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/state/"):
		return "GetObject:state"
	case r.Method == http.MethodGet:
		return "GetObject"
	}
	return r.Method
}

// Actions.

func ssmError(status int, code string) func(http.ResponseWriter, *http.Request, http.Handler) {
	return func(w http.ResponseWriter, _ *http.Request, _ http.Handler) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-ErrorType", code)
		w.WriteHeader(status)
		io.WriteString(w, `{"__type":"`+code+`","message":"injected `+code+`"}`)
	}
}

func s3Error(status int, code string) func(http.ResponseWriter, *http.Request, http.Handler) {
	return func(w http.ResponseWriter, _ *http.Request, _ http.Handler) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>`+code+`</Code><Message>injected</Message><RequestId>r</RequestId></Error>`)
	}
}

// reset closes the connection without an answer.
func reset(w http.ResponseWriter, _ *http.Request, _ http.Handler) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

func delay(d time.Duration) func(http.ResponseWriter, *http.Request, http.Handler) {
	return func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		select {
		case <-time.After(d):
			next.ServeHTTP(w, r)
		case <-r.Context().Done():
		}
	}
}

// respond answers with a fixed SSM body.
func respond(body string) func(http.ResponseWriter, *http.Request, http.Handler) {
	return func(w http.ResponseWriter, _ *http.Request, _ http.Handler) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		io.WriteString(w, body)
	}
}

// rewrite passes the request on and changes the answer's body.
func rewrite(f func([]byte) []byte) func(http.ResponseWriter, *http.Request, http.Handler) {
	return func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		w.Write(f(rec.Body.Bytes()))
	}
}

// hold blocks the request until release is closed, then passes it on.
func hold(arrived chan<- struct{}, release <-chan struct{}) func(http.ResponseWriter, *http.Request, http.Handler) {
	return func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		arrived <- struct{}{}
		<-release
		next.ServeHTTP(w, r)
	}
}
