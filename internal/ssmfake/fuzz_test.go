package ssmfake_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/session-audit/session-audit/internal/ssmfake"
)

// FuzzDescribeSessionsRequest feeds arbitrary bodies to the handler: it
// must never panic, and must answer either 200 with a valid response or a
// 4xx/5xx JSON error naming its __type.
func FuzzDescribeSessionsRequest(f *testing.F) {
	srv := ssmfake.New(ssmfake.WithSessions(ssmfake.Generate(3, t0.Add(-24*time.Hour), t0, 300)))
	call := func(body []byte) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Header.Set("X-Amz-Target", "AmazonSSM.DescribeSessions")
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return rec
	}
	// A real token, so that mutations reach token decoding.
	first := call([]byte(`{"State":"History","MaxResults":5,"Filters":[{"key":"InvokedAfter","value":"2026-11-23T06:00:00Z"}]}`))
	var page struct{ NextToken string }
	_ = json.Unmarshal(first.Body.Bytes(), &page)

	for _, seed := range []string{
		``,
		`{}`,
		`null`,
		`{"State":"History"}`,
		`{"State":"Active","MaxResults":200}`,
		`{"State":"History","MaxResults":0}`,
		`{"State":"History","MaxResults":99999999999}`,
		`{"State":"History","Filters":[]}`,
		`{"State":"History","Filters":[null]}`,
		`{"State":"History","Filters":[{"key":"Owner","value":"arn:aws:iam::123456789012:user/alice"},{"key":"Status","value":"Terminated"}]}`,
		`{"State":"History","Filters":[{"key":"InvokedBefore","value":"2026-11-23T12:00:00.5+01:00"},{"key":"InvokedAfter","value":"2026-11-23T00:00:00Z"}]}`,
		`{"State":"History","Filters":[{"key":"Bogus","value":"x"}]}`,
		`{"State":"History","Filters":[{"key":"InvokedAfter","value":"soon"}]}`,
		`{"State":"History","NextToken":"garbage"}`,
		fmt.Sprintf(`{"State":"History","MaxResults":5,"Filters":[{"key":"InvokedAfter","value":"2026-11-23T06:00:00Z"}],"NextToken":%q}`, page.NextToken),
		`{"State":"History","MaxResults":5,"Filters":[{"key":"InvokedAfter","value":"2026-11-23T06:00:00Z"}],"NextToken":"AQ"}`,
		"{\"State\":\"History\",\"Filters\":[{\"key\":\"Owner\",\"value\":\"\xff\xfe\"}]}",
		`[1,2,3]`,
		`{"State":{"nested":true}}`,
	} {
		f.Add([]byte(seed))
	}

	f.Fuzz(func(t *testing.T, body []byte) {
		defer srv.ResetCalls() // keep long fuzzing runs flat in memory
		rec := call(body)
		res := rec.Result()
		out := rec.Body.Bytes()
		if !json.Valid(out) {
			t.Fatalf("status %d, body not JSON: %q", res.StatusCode, out)
		}
		if res.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
			t.Fatalf("Content-Type %q", res.Header.Get("Content-Type"))
		}
		switch {
		case res.StatusCode == http.StatusOK:
			var ok struct {
				Sessions  *[]map[string]any
				NextToken *string
			}
			if err := json.Unmarshal(out, &ok); err != nil || ok.Sessions == nil {
				t.Fatalf("200 without Sessions: %s (%v)", out, err)
			}
			if ok.NextToken != nil && *ok.NextToken == "" {
				t.Fatalf("empty NextToken: %s", out)
			}
			for _, s := range *ok.Sessions {
				if _, ok := s["SessionId"].(string); !ok {
					t.Fatalf("session without SessionId: %s", out)
				}
			}
		case res.StatusCode >= 400 && res.StatusCode < 600:
			var e struct {
				Type    string `json:"__type"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(out, &e); err != nil || e.Type == "" {
				t.Fatalf("error %d without __type: %s (%v)", res.StatusCode, out, err)
			}
			if res.Header.Get("X-Amzn-ErrorType") != e.Type {
				t.Fatalf("X-Amzn-ErrorType %q, __type %q", res.Header.Get("X-Amzn-ErrorType"), e.Type)
			}
		default:
			t.Fatalf("status %d: %s", res.StatusCode, out)
		}
	})
}
