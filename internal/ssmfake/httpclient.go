package ssmfake

import (
	"io"
	"net/http"
)

// HTTPClient returns an HTTP client for AWS SDK clients of local servers
// such as this one (for example ssm.Options.HTTPClient).
//
// It works around a race in smithy-go that fast local servers hit often:
// the SDK closes a request's body as soon as the response arrives, and its
// body wrapper's WriteTo then returns io.EOF as an error. net/http makes one
// last read of a body after sending it (to detect excess bytes) and uses
// WriteTo for it; when that read comes after the response, the transport
// takes the EOF for a write error and closes the connection under the
// response being read, and the call fails with "deserialization failed ...
// use of closed network connection" (aws/aws-sdk-go-v2#1825, #2737). The
// client returned here hides WriteTo from net/http, whose Read path treats
// io.EOF as the normal end of the body.
func HTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	return &http.Client{Transport: readOnlyBodies{t}}
}

// readOnlyBodies hands request bodies to its transport without any method
// beyond io.ReadCloser.
type readOnlyBodies struct{ next http.RoundTripper }

func (t readOnlyBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return t.next.RoundTrip(r)
	}
	r2 := r.Clone(r.Context())
	r2.Body = readCloser{r.Body}
	return t.next.RoundTrip(r2)
}

type readCloser struct{ io.ReadCloser }
