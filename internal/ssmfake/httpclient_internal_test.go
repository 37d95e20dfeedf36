package ssmfake

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

type recordingTransport struct{ got *http.Request }

func (t *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.got = r
	return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
}

// The transport must see request bodies without WriteTo, so that net/http
// reads them with Read, which ends cleanly on the SDK's early close.
func TestReadOnlyBodiesHideWriteTo(t *testing.T) {
	inner := &recordingTransport{}
	body := io.NopCloser(bytes.NewReader([]byte(`{}`)))
	if _, ok := body.(io.WriterTo); !ok {
		t.Fatal("test body lacks WriteTo")
	}
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/", body)
	if _, err := (readOnlyBodies{inner}).RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	if _, ok := inner.got.Body.(io.WriterTo); ok {
		t.Error("the transport saw a body with WriteTo")
	}
	if req.Body != body {
		t.Error("RoundTrip modified the caller's request")
	}
	if b, _ := io.ReadAll(inner.got.Body); string(b) != "{}" {
		t.Errorf("body %q", b)
	}
	if _, ok := HTTPClient().Transport.(readOnlyBodies); !ok {
		t.Error("HTTPClient does not use readOnlyBodies")
	}
}
