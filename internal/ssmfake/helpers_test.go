package ssmfake_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/session-audit/session-audit/internal/ssmfake"
)

// t0 is the reference "now" of the tests' data.
var t0 = time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)

// serve starts srv on a local HTTP port and returns an SDK client for it.
func serve(tb testing.TB, srv *ssmfake.Server, optFns ...func(*ssm.Options)) *ssm.Client {
	tb.Helper()
	hs := httptest.NewServer(srv)
	tb.Cleanup(hs.Close)
	return newClient(hs.URL, optFns...)
}

// newClient returns the real SDK client for the server at url. Its HTTP
// client avoids the SDK's request-body race with fast local servers; see
// ssmfake.HTTPClient.
func newClient(url string, optFns ...func(*ssm.Options)) *ssm.Client {
	return ssm.New(ssm.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		RetryMaxAttempts: 1,
		HTTPClient:       ssmfake.HTTPClient(),
	}, optFns...)
}

// pageResult is every page of one listing.
type pageResult struct {
	sessions []types.Session
	pages    []*ssm.DescribeSessionsOutput
}

func (p pageResult) ids() []string {
	out := make([]string, len(p.sessions))
	for i, s := range p.sessions {
		out[i] = aws.ToString(s.SessionId)
	}
	return out
}

// pageAll follows NextToken to the end, failing after maxPages pages.
func pageAll(ctx context.Context, c *ssm.Client, in ssm.DescribeSessionsInput, maxPages int) (pageResult, error) {
	var res pageResult
	for {
		if len(res.pages) >= maxPages {
			return res, errors.New("too many pages")
		}
		out, err := c.DescribeSessions(ctx, &in)
		if err != nil {
			return res, err
		}
		res.pages = append(res.pages, out)
		res.sessions = append(res.sessions, out.Sessions...)
		if out.NextToken == nil {
			return res, nil
		}
		in.NextToken = out.NextToken
	}
}

// want lists the ids the service should return for state and filters,
// computed naively from Sessions.
func want(srv *ssmfake.Server, state string, filters []types.SessionFilter) []string {
	var out []string
	for _, s := range srv.Sessions(state) {
		if matchesNaive(s, filters) {
			out = append(out, aws.ToString(s.SessionId))
		}
	}
	return out
}

func matchesNaive(s types.Session, filters []types.SessionFilter) bool {
	for _, f := range filters {
		v := aws.ToString(f.Value)
		switch f.Key {
		case types.SessionFilterKeyInvokedAfter, types.SessionFilterKeyInvokedBefore:
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				panic(err)
			}
			if s.StartDate == nil {
				return false
			}
			if f.Key == types.SessionFilterKeyInvokedAfter && s.StartDate.Before(t) {
				return false
			}
			if f.Key == types.SessionFilterKeyInvokedBefore && s.StartDate.After(t) {
				return false
			}
		case types.SessionFilterKeyTargetId:
			if aws.ToString(s.Target) != v {
				return false
			}
		case types.SessionFilterKeyOwner:
			if aws.ToString(s.Owner) != v {
				return false
			}
		case types.SessionFilterKeyStatus:
			if string(s.Status) != v {
				return false
			}
		case types.SessionFilterKeySessionId:
			if aws.ToString(s.SessionId) != v {
				return false
			}
		case types.SessionFilterKeyAccessType:
			if string(s.AccessType) != v {
				return false
			}
		}
	}
	return true
}

func filter(key types.SessionFilterKey, value string) types.SessionFilter {
	return types.SessionFilter{Key: key, Value: aws.String(value)}
}

func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// session builds a minimal session.
func session(id string, start time.Time, status types.SessionStatus) types.Session {
	s := types.Session{SessionId: aws.String(id), StartDate: aws.Time(start), Status: status,
		Target: aws.String("i-0123456789abcdef0"), Owner: aws.String("arn:aws:iam::123456789012:user/alice")}
	if status == types.SessionStatusTerminated {
		s.EndDate = aws.Time(start.Add(time.Minute))
	}
	return s
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
