// Package archive is the file format of the audit archive: the Parquet row
// schema of one session and the streaming writer that encodes rows into
// Parquet files.
package archive

import (
	"encoding/json"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// Row is one Session Manager session as written to Parquet and answered by
// a lookup. The parquet tags are the contract in docs/ARCHITECTURE.md; the Glue table in
// template.yaml declares the same columns.
type Row struct {
	SessionID           string     `parquet:"session_id" json:"session_id"`
	Target              string     `parquet:"target,optional" json:"target"`
	Status              string     `parquet:"status,optional" json:"status"`
	StartDate           time.Time  `parquet:"start_date,optional,timestamp(millisecond)" json:"start_date"`
	EndDate             *time.Time `parquet:"end_date,optional,timestamp(millisecond)" json:"end_date"`
	DocumentName        string     `parquet:"document_name,optional" json:"document_name"`
	Owner               string     `parquet:"owner,optional" json:"owner"`
	Reason              string     `parquet:"reason,optional" json:"reason"`
	Details             string     `parquet:"details,optional" json:"details"`
	S3OutputURL         string     `parquet:"s3_output_url,optional" json:"s3_output_url"`
	CloudWatchOutputURL string     `parquet:"cloudwatch_output_url,optional" json:"cloudwatch_output_url"`
	MaxSessionDuration  string     `parquet:"max_session_duration,optional" json:"max_session_duration"`
	AccessType          string     `parquet:"access_type,optional" json:"access_type"`
	DurationSeconds     *int64     `parquet:"duration_seconds,optional" json:"duration_seconds"`
	AccountID           string     `parquet:"account_id,optional" json:"account_id"`
	Region              string     `parquet:"region,optional" json:"region"`
	ExportedAt          time.Time  `parquet:"exported_at,optional,timestamp(millisecond)" json:"exported_at"`
}

// Origin says where and when rows were exported: the columns that do not
// come from the session itself.
type Origin struct {
	AccountID  string
	Region     string
	ExportedAt time.Time
}

// FromSession converts one DescribeSessions entry into a Row. Times are
// truncated to milliseconds, the precision of the Parquet columns, and
// duration_seconds is EndDate - StartDate in whole seconds, truncated, or
// null while the session has no end (or when the service reports an end
// before the start, which no duration can describe).
func FromSession(s types.Session, o Origin) Row {
	r := Row{
		SessionID:          deref(s.SessionId),
		Target:             deref(s.Target),
		Status:             string(s.Status),
		DocumentName:       deref(s.DocumentName),
		Owner:              deref(s.Owner),
		Reason:             deref(s.Reason),
		Details:            deref(s.Details),
		MaxSessionDuration: deref(s.MaxSessionDuration),
		AccessType:         string(s.AccessType),
		AccountID:          o.AccountID,
		Region:             o.Region,
		ExportedAt:         o.ExportedAt.UTC().Truncate(time.Millisecond),
	}
	if s.OutputUrl != nil {
		r.S3OutputURL = deref(s.OutputUrl.S3OutputUrl)
		r.CloudWatchOutputURL = deref(s.OutputUrl.CloudWatchOutputUrl)
	}
	if s.StartDate != nil {
		r.StartDate = s.StartDate.UTC().Truncate(time.Millisecond)
	}
	if s.EndDate != nil {
		end := s.EndDate.UTC().Truncate(time.Millisecond)
		r.EndDate = &end
		if s.StartDate != nil && !end.Before(r.StartDate) {
			d := int64(end.Sub(r.StartDate) / time.Second) // from the stored values, so the columns agree
			r.DurationSeconds = &d
		}
	}
	return r
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// rowJSON is Row as JSON: the Parquet column names, and null wherever the
// Parquet column holds null (an empty optional string, a zero time).
type rowJSON struct {
	SessionID           string     `json:"session_id"`
	Target              *string    `json:"target"`
	Status              *string    `json:"status"`
	StartDate           *time.Time `json:"start_date"`
	EndDate             *time.Time `json:"end_date"`
	DocumentName        *string    `json:"document_name"`
	Owner               *string    `json:"owner"`
	Reason              *string    `json:"reason"`
	Details             *string    `json:"details"`
	S3OutputURL         *string    `json:"s3_output_url"`
	CloudWatchOutputURL *string    `json:"cloudwatch_output_url"`
	MaxSessionDuration  *string    `json:"max_session_duration"`
	AccessType          *string    `json:"access_type"`
	DurationSeconds     *int64     `json:"duration_seconds"`
	AccountID           *string    `json:"account_id"`
	Region              *string    `json:"region"`
	ExportedAt          *time.Time `json:"exported_at"`
}

// MarshalJSON writes the row as a lookup answers it: the Parquet column
// names, with null where the Parquet file holds null.
func (r Row) MarshalJSON() ([]byte, error) {
	str := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	tm := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	return json.Marshal(rowJSON{
		SessionID: r.SessionID, Target: str(r.Target), Status: str(r.Status), StartDate: tm(r.StartDate),
		EndDate: r.EndDate, DocumentName: str(r.DocumentName), Owner: str(r.Owner), Reason: str(r.Reason),
		Details: str(r.Details), S3OutputURL: str(r.S3OutputURL), CloudWatchOutputURL: str(r.CloudWatchOutputURL),
		MaxSessionDuration: str(r.MaxSessionDuration), AccessType: str(r.AccessType), DurationSeconds: r.DurationSeconds,
		AccountID: str(r.AccountID), Region: str(r.Region), ExportedAt: tm(r.ExportedAt),
	})
}
