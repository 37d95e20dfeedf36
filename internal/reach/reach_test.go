package reach_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"

	"github.com/session-audit/session-audit/internal/reach"
)

// get calls url with a plain client that trusts no private CA.
func get(url string) error {
	resp, err := (&http.Client{Transport: &http.Transport{}}).Get(url)
	if err == nil {
		resp.Body.Close()
	}
	return err
}

func TestUnreachableFailures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String()
	ln.Close()
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	selfSigned := httptest.NewTLSServer(http.NotFoundHandler())
	defer selfSigned.Close()

	for name, url := range map[string]string{
		"connection refused":     refused + "/",
		"DNS failure":            "http://no-such-host.invalid/",
		"TLS to a plain server":  "https://" + plain.Listener.Addr().String() + "/",
		"unknown certificate CA": selfSigned.URL + "/",
	} {
		err := get(url)
		if !reach.Unreachable(err) {
			t.Errorf("%s: %v is not classified unreachable", name, err)
		}
	}
	if got := reach.Endpoint(get(refused + "/x?y=1")); got != refused {
		t.Errorf("Endpoint %q, want %q", got, refused)
	}
}

func TestReachedFailures(t *testing.T) {
	// The server was reached: it answered, or dropped the call half-way.
	hijack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _, _ := w.(http.Hijacker).Hijack()
		c.Close()
	}))
	defer hijack.Close()
	for name, err := range map[string]error{
		"dropped":   get(hijack.URL),
		"EOF":       io.ErrUnexpectedEOF,
		"reset":     &net.OpError{Op: "read", Err: syscall.ECONNRESET},
		"cancelled": context.Canceled,
		"nil":       nil,
	} {
		if reach.Unreachable(err) {
			t.Errorf("%s: %v classified unreachable", name, err)
		}
	}
}

func TestErrorNamesTheEndpoint(t *testing.T) {
	cause := fmt.Errorf("call: %w", syscall.ECONNREFUSED)
	err := fmt.Errorf("slot: %w", &reach.Error{Endpoint: "https://ssm.eu-west-1.amazonaws.com", Attempts: 3, Err: cause})
	want := "slot: endpoint https://ssm.eu-west-1.amazonaws.com unreachable (3 attempts): call: connection refused"
	if err.Error() != want {
		t.Errorf("got %q\nwant %q", err, want)
	}
	var re *reach.Error
	if !errors.As(err, &re) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Error("the error does not unwrap to its cause")
	}
}
