// Package reach tells a call that could not reach its endpoint at all
// (connection refused, DNS failure, TLS failure) from one the endpoint
// answered or dropped, and names that endpoint in the error that stops a
// run. Such a failure says nothing about one slot: every later call would
// meet it too, so the retry policy gives it only a few quick attempts and
// the export stops at the first slot that meets it.
package reach

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
)

// Error is a call that could not reach its endpoint in Attempts attempts.
type Error struct {
	// Endpoint is the scheme and host of the URL called, such as
	// https://ssm.eu-west-1.amazonaws.com or http://127.0.0.1:4583.
	Endpoint string
	Attempts int
	Err      error
}

// Error names the endpoint first: that is what the user has to fix.
func (e *Error) Error() string {
	return fmt.Sprintf("endpoint %s unreachable (%d attempts): %v", e.Endpoint, e.Attempts, e.Err)
}

// Unwrap returns the last attempt's error.
func (e *Error) Unwrap() error { return e.Err }

// Unreachable reports whether err is a failure to reach an endpoint:
// connection refused, host or network unreachable, a DNS failure, or a TLS
// failure (a certificate that does not verify, a server that does not speak
// TLS, a handshake alert). A call the endpoint answered, throttled or
// dropped half-way (reset, EOF, timeout while reading) is not one.
func Unreachable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return true
	}
	// net/http turns the TLS record error of a plain-HTTP server into a
	// message of its own.
	if strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return true
	}
	var (
		verify    *tls.CertificateVerificationError
		header    tls.RecordHeaderError
		alert     tls.AlertError
		authority x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
	)
	return errors.As(err, &verify) || errors.As(err, &header) || errors.As(err, &alert) ||
		errors.As(err, &authority) || errors.As(err, &hostname) || errors.As(err, &invalid)
}

// Endpoint returns the scheme and host of the URL err failed to call, or ""
// when err does not carry one.
func Endpoint(err error) string {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return ""
	}
	u, perr := url.Parse(ue.URL)
	if perr != nil || u.Host == "" {
		return ue.URL
	}
	return u.Scheme + "://" + u.Host
}
