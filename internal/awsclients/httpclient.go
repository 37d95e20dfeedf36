package awsclients

import (
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// ReadOnlyBodies wraps the HTTP client of every SDK client the function
// builds (New, and the emulators' clients) to work around a race between
// smithy-go and net/http (aws/aws-sdk-go-v2#2737, #1825).
//
// smithy-go wraps each request body in a reader whose WriteTo returns io.EOF
// once the body is closed, and it closes the body as soon as the response's
// headers arrive. After sending a body of known length, net/http's write
// loop makes one more copy of it (to detect excess bytes), through WriteTo
// when the body has it. When a server answers before that copy (a large body
// such as an S3 part, whose last bytes go straight to the socket), the copy
// meets the closed body, io.EOF comes back as a write error, and the
// transport closes the connection under the response being read: the SDK
// then logs "failed to discard remaining HTTP response body ... use of
// closed network connection", or fails to decode the body, and retries after
// a back-off (the stalls of 1-2 s seen on `backfill --force`).
//
// The wrapper hands net/http bodies with Read and Close only: io.Copy then
// uses Read, which reports a closed body as the normal end of the body.
func ReadOnlyBodies(next aws.HTTPClient) aws.HTTPClient {
	if next == nil {
		next = awshttp.NewBuildableClient()
	}
	if _, ok := next.(readOnlyBodies); ok {
		return next
	}
	return readOnlyBodies{next}
}

// readOnlyBodies is the HTTP client of ReadOnlyBodies.
type readOnlyBodies struct{ next aws.HTTPClient }

// Do sends r with its body (and the body GetBody makes for a resend)
// stripped of every method but Read and Close. r itself is not modified.
func (c readOnlyBodies) Do(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return c.next.Do(r)
	}
	r2 := r.Clone(r.Context())
	r2.Body = readCloser{r.Body}
	if get := r.GetBody; get != nil {
		r2.GetBody = func() (io.ReadCloser, error) {
			b, err := get()
			if err != nil || b == nil || b == http.NoBody {
				return b, err
			}
			return readCloser{b}, nil
		}
	}
	return c.next.Do(r2)
}

// readCloser hides every method of its body but Read and Close.
type readCloser struct{ io.ReadCloser }
