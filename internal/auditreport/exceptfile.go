package auditreport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/session-audit/session-audit/internal/exceptions"
	"github.com/session-audit/session-audit/internal/findings"
)

// ExceptionsKey is the exceptions file's key under the prefix.
const ExceptionsKey = "exceptions.yaml"

// ExceptionsInfo is, in summary.json, the exceptions file the report
// applied: which version, and what became of its entries.
type ExceptionsInfo struct {
	// Key is the object's key; Found false when there is none (no
	// exceptions).
	Key       string `json:"key"`
	Found     bool   `json:"found"`
	VersionID string `json:"versionId,omitempty"`
	ETag      string `json:"etag,omitempty"`
	// Entries is every entry of the file.
	Entries []ExceptionEntry `json:"entries"`
}

// ExceptionEntry is one entry of the file as the report judged it.
type ExceptionEntry struct {
	Line       int      `json:"line"`
	Finding    string   `json:"finding"`
	Owner      string   `json:"owner"`
	Target     string   `json:"target"`
	Document   string   `json:"document"`
	Days       string   `json:"days,omitempty"`
	Hours      string   `json:"hours,omitempty"`
	Label      string   `json:"ticket"`
	ApprovedBy string   `json:"approvedBy"`
	Expires    string   `json:"expires"`
	Problems   []string `json:"problems,omitempty"`
	// State is "applied", "invalid" (never applied), "expired" (before
	// the period) or "expires" (inside the period: applied to the sessions
	// that started before its end).
	State string `json:"state"`
	// Rows is how many finding rows it covers in this report.
	Rows int `json:"rows"`
}

// GetAPI reads one object.
type GetAPI interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// readExceptions reads <prefix>/exceptions.yaml: a missing object is no
// exceptions; a malformed file is an error naming its line.
func readExceptions(ctx context.Context, api GetAPI, bucket, prefix string, from, to time.Time) (*exceptions.File, ExceptionsInfo, error) {
	key := prefix + "/" + ExceptionsKey
	info := ExceptionsInfo{Key: key, Entries: []ExceptionEntry{}}
	out, err := api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		var nsk *types.NoSuchKey
		var api smithy.APIError
		if errors.As(err, &nsk) || (errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound")) {
			return nil, info, nil
		}
		return nil, info, fmt.Errorf("read s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	info.Found, info.VersionID, info.ETag = true, aws.ToString(out.VersionId), aws.ToString(out.ETag)
	f, err := exceptions.Parse(io.Reader(out.Body), findings.IDs())
	if err != nil {
		return nil, info, fmt.Errorf("s3://%s/%s: %w", bucket, key, err)
	}
	for _, e := range f.Entries {
		x := ExceptionEntry{Line: e.Line, Finding: e.Finding, Owner: e.Owner, Target: e.Target, Document: e.Document,
			Label: e.Label(), ApprovedBy: e.ApprovedBy, Problems: e.Problems, State: "applied"}
		if !e.Expires.IsZero() {
			x.Expires = e.Expires.Add(-24 * time.Hour).Format(time.DateOnly)
		}
		for i, d := range e.Days {
			if i > 0 {
				x.Days += ", "
			}
			x.Days += d.String()[:3]
		}
		if e.Hours != nil {
			x.Hours = e.Hours.String()
		}
		switch {
		case !e.Valid():
			x.State = "invalid"
		case !e.Expires.After(from):
			x.State = "expired"
		case e.Expires.Before(to):
			x.State = "expires"
		}
		info.Entries = append(info.Entries, x)
	}
	return f, info, nil
}
