package archive_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/session-audit/session-audit/internal/archive"
)

// oddTexts are strings that engines and encoders get wrong: quotes,
// separators, newlines, escapes, non-ASCII and long values (longer than
// the column index keeps, so their bounds are truncated).
var oddTexts = []string{
	`it's "quoted"`,
	"line one\nline two\r\nline three",
	"tab\tseparated,comma;semicolon|pipe",
	`back\slash \n not a newline`,
	"été à Zürich — naïve café",
	"日本語のセッション理由",
	"emoji 🔐🚀 and ZWJ 👩‍💻",
	"rtl עברית العربية",
	"combining e\u0301 vs é",
	"",
	" leading and trailing spaces ",
	"NUL\x00inside",
	"long " + string(bytes.Repeat([]byte("ÿ€x"), 200)),
	"\U0010FFFF max code point",
}

var (
	owners = []string{
		"arn:aws:iam::123456789012:user/alice",
		"arn:aws:iam::123456789012:user/bob",
		"arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/carol@example.com",
		"arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/dave@example.com",
		"arn:aws:sts::123456789012:assumed-role/ops-break-glass/erin",
	}
	statuses  = []string{"Terminated", "Terminated", "Terminated", "Failed", "Disconnected", "Connected"}
	documents = []string{"", "SSM-SessionManagerRunShell", "AWS-StartPortForwardingSession", "AWS-StartSSHSession"}
	baseStart = time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	exportAt  = time.Date(2026, 11, 25, 0, 5, 0, 123_000_000, time.UTC)
)

// sampleRows returns n deterministic rows shaped like real sessions: a
// few owners and documents, many targets, some running sessions without
// end, odd text now and then, and start times spread over one day.
func sampleRows(n int) []archive.Row {
	rows := make([]archive.Row, n)
	for i := range rows {
		rows[i] = sampleRow(i, n)
	}
	return rows
}

// sampleRow returns row i of n sample rows.
func sampleRow(i, n int) archive.Row {
	owner := owners[i%len(owners)]
	start := baseStart.Add(time.Duration(i) * (24 * time.Hour / time.Duration(max(n, 1)))).Truncate(time.Millisecond)
	r := archive.Row{
		SessionID:    fmt.Sprintf("%s-%017x", []string{"alice", "bob", "carol", "dave", "erin"}[i%len(owners)], uint64(i)*0x9E3779B97F4A7C15),
		Target:       fmt.Sprintf("i-%017x", i%4099),
		Status:       statuses[i%len(statuses)],
		StartDate:    start,
		DocumentName: documents[i%len(documents)],
		Owner:        owner,
		AccessType:   []string{"Standard", "JustInTime"}[i%7/6],
		AccountID:    "123456789012",
		Region:       "eu-west-3",
		ExportedAt:   exportAt,
	}
	if r.Status != "Connected" {
		end := start.Add(time.Duration(i%7200)*time.Second + time.Duration(i%1000)*time.Millisecond)
		d := int64(end.Sub(start) / time.Second)
		r.EndDate, r.DurationSeconds = &end, &d
	}
	if i%3 == 0 {
		r.S3OutputURL = fmt.Sprintf("s3://audit-logs/sessions/%s.log", r.SessionID)
	}
	if i%5 == 0 {
		r.CloudWatchOutputURL = "https://console.aws.amazon.com/cloudwatch/home?region=eu-west-3#logEventViewer:group=ssm"
	}
	if i%4 == 0 {
		r.MaxSessionDuration = "60"
	}
	if i%11 == 0 {
		r.Reason = oddTexts[i/11%len(oddTexts)]
	}
	if i%13 == 0 {
		r.Details = oddTexts[(i/13+3)%len(oddTexts)]
	}
	return r
}

// oddRows puts each odd text in the reason, details and owner of a row.
func oddRows() []archive.Row {
	rows := make([]archive.Row, len(oddTexts))
	for i, s := range oddTexts {
		rows[i] = sampleRow(i, len(oddTexts))
		rows[i].SessionID = fmt.Sprintf("odd-%02d", i)
		rows[i].Reason, rows[i].Details, rows[i].Owner = s, s, s
	}
	return rows
}

// writeFile writes rows with a archive.Writer, in batches of batch rows,
// and returns the file.
func writeFile(t testing.TB, rows []archive.Row, batch int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := archive.NewWriter(&buf)
	for len(rows) > 0 {
		n := min(batch, len(rows))
		if err := w.Write(rows[:n]); err != nil {
			t.Fatalf("Write: %v", err)
		}
		rows = rows[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return buf.Bytes()
}
