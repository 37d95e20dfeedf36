package e2e

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/session-audit/session-audit/internal/ssmfake"
	"github.com/session-audit/session-audit/internal/store"
)

// The fault scenario: three daily slots of generated sessions, exported by
// a backfill; objects are several parts long (small parts for the test).
const (
	faultBackfill = `{"start":"2026-11-22T00:00:00Z","end":"2026-11-25T00:00:00Z"}`
	faultPartSize = 16 << 10
)

var faultFrom, faultTo = ts("2026-11-22T00:00:00Z"), ts("2026-11-25T00:00:00Z")

func faultSessions() []types.Session {
	return ssmfake.Generate(42, faultFrom.Add(-6*time.Hour), faultTo.Add(6*time.Hour), 3000)
}

// faultScenario is the fault scenario's sessions and part size on b. A
// server that holds parts to S3's minimum gets parts of that minimum, and
// the sessions of the middle day (paddedDay) padded with incompressible
// details, so that its object is still two parts long; the other days stay
// small, written with one PutObject each.
func faultScenario(b s3Backend) ([]types.Session, int) {
	if b = b.resolve(); b.minPartSize == 0 {
		return faultSessions(), faultPartSize
	}
	return padDetails(faultSessions(), paddedDetailsSize), b.minPartSize
}

// paddedDay is the slot whose sessions padDetails pads (a Monday, with
// about 1200 sessions).
var paddedDay = faultFrom.Add(24 * time.Hour)

// paddedDetailsSize is the Details size of padded sessions: enough for the
// padded day to need two parts of 5 MiB, and no more (the MinIO tests
// write it many times).
const paddedDetailsSize = 5 << 10

// padDetails gives the sessions of paddedDay Details of n random hex
// characters (the same on every run; neither Snappy nor a dictionary
// shrinks them).
func padDetails(ss []types.Session, n int) []types.Session {
	rng := rand.New(rand.NewPCG(5, 5))
	raw := make([]byte, n/2)
	for i := range ss {
		if ss[i].StartDate.Before(paddedDay) || !ss[i].StartDate.Before(paddedDay.Add(24*time.Hour)) {
			continue
		}
		for j := range raw {
			raw[j] = byte(rng.Uint32())
		}
		ss[i].Details = aws.String(hex.EncodeToString(raw))
	}
	return ss
}

func isPage(n int) func([]byte) bool {
	return func(body []byte) bool { return bytes.Contains(body, []byte(`"NextToken"`)) == (n > 1) }
}

// openUploads counts multipart uploads left in the bucket.
func (te *testEnv) openUploads() int {
	te.t.Helper()
	out, err := te.emu.Clients().S3.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		te.t.Fatal(err)
	}
	return len(out.Uploads)
}

// snapshot is every object of the bucket, key to bytes.
func (te *testEnv) snapshot() map[string]string {
	snap := map[string]string{}
	for _, k := range te.objects() {
		snap[k] = string(te.get(k))
	}
	return snap
}

// checkExact reads the bucket back with DuckDB: every session of the
// scenario's slots exactly once, manifests consistent with objects.
func (te *testEnv) checkExact() {
	te.t.Helper()
	got := readRows(te.t, duck(te.t, te.download()))
	compareRows(te.t, got, expected(te.emu.SSM, faultFrom, faultTo))
	if n := te.openUploads(); n != 0 {
		te.t.Errorf("%d multipart uploads left open", n)
	}
}

// TestFaultsRecovered: each fault is retried or worked around, and the
// export ends complete and exact.
func TestFaultsRecovered(t *testing.T) {
	tests := []struct {
		name    string
		ssm, s3 []*rule
		check   func(t *testing.T, te *testEnv, p *faultProxy)
	}{
		{name: "SSM throttling for a long stretch", ssm: []*rule{{name: "throttle", op: "DescribeSessions", nth: seq(2, 7), do: ssmError(400, "ThrottlingException")}}},
		{name: "SSM throttling at random, 30%", ssm: []*rule{{name: "throttle", op: "DescribeSessions", prob: 0.3, times: 6, do: ssmError(400, "ThrottlingException")}},
			check: func(t *testing.T, te *testEnv, p *faultProxy) {
				if te.emu.Clients().Throttles == nil || p.hitsOf("throttle") == 0 {
					t.Error("no throttle was injected")
				}
			}},
		{name: "SSM 500s", ssm: []*rule{{name: "500", op: "DescribeSessions", nth: []int{1, 3, 4, 7}, do: ssmError(500, "InternalServerError")}}},
		{name: "SSM connection resets", ssm: []*rule{{name: "reset", op: "DescribeSessions", nth: []int{2, 5, 6}, do: reset}}},
		{name: "SSM slow answers", ssm: []*rule{{name: "slow", op: "DescribeSessions", nth: []int{1, 2, 3}, do: delay(300 * time.Millisecond)}}},
		{name: "SSM InvalidNextToken mid-slot restarts the slot", ssm: []*rule{{name: "badtoken", op: "DescribeSessions", match: isPage(2), nth: []int{1, 4}, do: ssmError(400, "InvalidNextToken")}},
			check: func(t *testing.T, te *testEnv, p *faultProxy) {
				var m store.Manifest
				restarts := 0
				for _, k := range te.objects() {
					if strings.HasSuffix(k, ".json") {
						if err := json.Unmarshal(te.get(k), &m); err != nil {
							t.Fatalf("manifest %s: %v", k, err)
						}
						restarts += m.APICalls.Restarts
					}
				}
				if restarts != p.hitsOf("badtoken") || restarts == 0 {
					t.Errorf("manifests record %d restarts; %d tokens were refused", restarts, p.hitsOf("badtoken"))
				}
			}},
		{name: "sessions outside the requested bounds are clipped", ssm: []*rule{{name: "outside", op: "DescribeSessions", nth: []int{3}, do: rewrite(func(b []byte) []byte {
			extra := `{"SessionId":"intruder-early","StartDate":1000000000,"Status":"Terminated"},{"SessionId":"intruder-late","StartDate":4000000000,"Status":"Terminated"},`
			return bytes.Replace(b, []byte(`"Sessions":[`), []byte(`"Sessions":[`+extra), 1)
		})}}},
		{name: "S3 503 SlowDown on parts and puts", s3: []*rule{
			{name: "slowdown-part", op: "UploadPart", nth: []int{1, 2, 5}, do: s3Error(503, "SlowDown")},
			{name: "slowdown-put", op: "PutObject:manifest", nth: []int{1}, do: s3Error(503, "SlowDown")},
		}},
		{name: "S3 500s on create and complete", s3: []*rule{
			{name: "500-create", op: "CreateMultipartUpload", nth: []int{1}, do: s3Error(500, "InternalError")},
			{name: "500-complete", op: "CompleteMultipartUpload", nth: []int{2}, do: s3Error(500, "InternalError")},
		}},
		{name: "S3 connection resets", s3: []*rule{
			{name: "reset-part", op: "UploadPart", nth: []int{3}, do: reset},
			{name: "reset-get", op: "GetObject", nth: []int{1}, do: reset},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // the retries' waits dominate, not the CPU
			ssmP, s3P := newFaultProxy(7, tt.ssm...), newFaultProxy(7, tt.s3...)
			te := newEnvWith(t, now, envOptions{sessions: faultSessions(), ssmWrap: ssmP.wrap, s3Wrap: s3P.wrap, partSize: faultPartSize})
			res, err := te.invoke(faultBackfill)
			if err != nil {
				t.Fatalf("export failed: %v", err)
			}
			for _, r := range append(tt.ssm, tt.s3...) {
				if r.hits == 0 {
					t.Errorf("fault %s was never injected", r.name)
				}
			}
			if len(res.Slots) != 3 {
				t.Fatalf("%d slots", len(res.Slots))
			}
			te.checkExact()
			if tt.check != nil {
				tt.check(t, te, ssmP)
			}
		})
	}
}

// TestFaultsReported: faults that cannot be worked around fail the slot
// with an error naming it, and leave the previous object and manifest
// exactly as they were, with no multipart upload left open.
func TestFaultsReported(t *testing.T) {
	tests := []struct {
		name     string
		ssm, s3  []*rule
		want     string
		deadline time.Duration // of the failing run; throttles never fail fast
	}{
		{name: "SSM malformed page", ssm: []*rule{{name: "garbage", op: "DescribeSessions", match: func(b []byte) bool { return bytes.Contains(b, []byte(`"State":"History"`)) }, do: respond(`{"Sessions":[{"SessionId":`)}},
			want: "2026-11-22T00:00:00Z/2026-11-23T00:00:00Z"},
		{name: "SSM repeated NextToken", ssm: []*rule{
			{name: "loop", op: "DescribeSessions", match: func(b []byte) bool { return bytes.Contains(b, []byte(`"State":"History"`)) }, do: respond(`{"Sessions":[],"NextToken":"LOOP"}`)},
		}, want: "repeated NextToken"},
		{name: "SSM throttling that never ends", ssm: []*rule{{name: "throttle", op: "DescribeSessions", do: ssmError(400, "ThrottlingException")}},
			want: "deadline exceeded", deadline: 6 * time.Second},
		{name: "SSM validation error", ssm: []*rule{{name: "invalid", op: "DescribeSessions", do: ssmError(400, "ValidationException")}},
			want: "ValidationException"},
		{name: "S3 part upload fails for good", s3: []*rule{{name: "part", op: "UploadPart", do: s3Error(500, "InternalError")}},
			want: "upload part"},
		{name: "S3 complete fails for good", s3: []*rule{{name: "complete", op: "CompleteMultipartUpload", do: s3Error(503, "SlowDown")}},
			want: "complete multipart upload", deadline: 6 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ssmP, s3P := newFaultProxy(9), newFaultProxy(9)
			te := newEnvWith(t, now, envOptions{sessions: faultSessions(), ssmWrap: ssmP.wrap, s3Wrap: s3P.wrap, partSize: faultPartSize})
			te.mustInvoke(faultBackfill)
			before := te.snapshot()
			// New sessions make a rerun write different objects, if it could.
			te.emu.SSM.Put(ssmfake.Generate(43, faultFrom, faultTo, 300)...)
			te.now = now.Add(time.Hour)
			ssmP.setRules(tt.ssm...)
			s3P.setRules(tt.s3...)
			ctx, cancel := lambdaCtx(), context.CancelFunc(func() {})
			if tt.deadline > 0 {
				ctx, cancel = context.WithTimeout(ctx, tt.deadline)
			}
			_, err := te.h.Handle(ctx, json.RawMessage(faultBackfill))
			cancel()
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "not written") {
				t.Fatalf("error %v; want one naming the unwritten slots and %q", err, tt.want)
			}
			after := te.snapshot()
			if len(after) != len(before) {
				t.Fatalf("bucket went from %d to %d objects", len(before), len(after))
			}
			for k, v := range before {
				if after[k] != v {
					t.Errorf("%s changed although its slot failed", k)
				}
			}
			if n := te.openUploads(); n != 0 {
				t.Errorf("%d multipart uploads left open", n)
			}
			// Without the fault the next run catches up.
			ssmP.setRules()
			s3P.setRules()
			te.mustInvoke(faultBackfill)
			te.checkExact()
		})
	}
}

// TestManifestWriteFailsThenRerunRepairs: the object is written but its
// manifest is not (the crash window between the two): the run reports the
// slot, and the next run leaves a manifest describing the current object.
func TestManifestWriteFailsThenRerunRepairs(t *testing.T) {
	manifestWriteFailsThenRerunRepairs(t, s3Backend{})
}

func manifestWriteFailsThenRerunRepairs(t *testing.T, b s3Backend) {
	s3P := newFaultProxy(1, &rule{name: "manifest", op: "PutObject:manifest", do: reset})
	sessions, partSize := faultScenario(b)
	te := newEnvWith(t, now, envOptions{sessions: sessions, s3Wrap: s3P.wrap, partSize: partSize, s3: b})
	_, err := te.invoke(faultBackfill)
	if err == nil || !strings.Contains(err.Error(), "put manifest") || !strings.Contains(err.Error(), "3 slot(s) not written") {
		t.Fatalf("error %v", err)
	}
	s3P.setRules()
	te.mustInvoke(faultBackfill)
	te.checkExact()
}

// TestConcurrentExportsOfOneSlot: EventBridge delivers at least once, so
// two invocations may export the same slots at once. Whatever the
// interleaving, each manifest ends describing the object current at its key
// and every session is there once.
func TestConcurrentExportsOfOneSlot(t *testing.T) { concurrentExportsOfOneSlot(t, s3Backend{}) }

func concurrentExportsOfOneSlot(t *testing.T, b s3Backend) {
	t.Run("free-running", func(t *testing.T) {
		ssmP := newFaultProxy(3, &rule{name: "jitter", op: "DescribeSessions", prob: 0.5, do: delay(15 * time.Millisecond)})
		sessions, partSize := faultScenario(b)
		te := newEnvWith(t, now, envOptions{sessions: sessions, ssmWrap: ssmP.wrap, partSize: partSize, s3: b})
		for round := range 3 {
			te.emu.SSM.Put(ssmfake.Generate(uint64ToInt(100+round), faultFrom, faultTo, 50)...)
			for _, err := range te.invokeAll(faultBackfill, faultBackfill, faultBackfill) {
				if err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
			}
			te.checkExact()
		}
	})
	t.Run("second export finishes while the first waits to write its manifest", func(t *testing.T) {
		arrived, release := make(chan struct{}, 1), make(chan struct{})
		s3P := newFaultProxy(1, &rule{name: "hold", op: "PutObject:manifest", nth: []int{1}, do: hold(arrived, release)})
		sessions, partSize := faultScenario(b)
		te := newEnvWith(t, now, envOptions{sessions: sessions, s3Wrap: s3P.wrap, partSize: partSize, s3: b})
		first := make(chan error, 1)
		go func() {
			_, err := te.invoke(`{"start":"2026-11-22T00:00:00Z","end":"2026-11-23T00:00:00Z"}`)
			first <- err
		}()
		<-arrived // the first export's object is uploaded; its manifest write waits
		te.emu.SSM.Put(ssmfake.Generate(77, faultFrom, faultFrom.Add(24*time.Hour), 40)...)
		second := te.mustInvoke(`{"start":"2026-11-22T00:00:00Z","end":"2026-11-23T00:00:00Z"}`)
		close(release)
		if err := <-first; err != nil {
			t.Fatal(err)
		}
		var m store.Manifest
		if err := json.Unmarshal(te.get(second.Slots[0].Manifest), &m); err != nil {
			t.Fatalf("manifest %s: %v", second.Slots[0].Manifest, err)
		}
		if m.Rows != second.Slots[0].Rows {
			t.Errorf("manifest has %d rows; the export whose object is current wrote %d", m.Rows, second.Slots[0].Rows)
		}
		got := readRows(t, duck(t, te.download())) // checks manifest against object
		compareRows(t, got, expected(te.emu.SSM, faultFrom, faultFrom.Add(24*time.Hour)))
	})
}

func uint64ToInt(v int) int64 { return int64(v) }

// TestDeadline: the function starts no slot it cannot finish, cancels the
// one in flight cleanly, and names the slots it did not write.
func TestDeadline(t *testing.T) {
	t.Run("stops before a slot it has no time for", func(t *testing.T) {
		ssmP := newFaultProxy(1, &rule{name: "slow", op: "DescribeSessions", do: delay(400 * time.Millisecond)})
		te := newEnvWith(t, now, envOptions{sessions: faultSessions(), ssmWrap: ssmP.wrap, partSize: faultPartSize})
		ctx, cancel := context.WithTimeout(lambdaCtx(), 4600*time.Millisecond)
		defer cancel()
		_, err := te.h.Handle(ctx, json.RawMessage(faultBackfill))
		if err == nil || !strings.Contains(err.Error(), "2 slot(s) not written: invocation deadline") ||
			!strings.Contains(err.Error(), "not started: 2026-11-23T00:00:00Z/2026-11-24T00:00:00Z, 2026-11-24T00:00:00Z/2026-11-25T00:00:00Z") {
			t.Fatalf("error %v", err)
		}
		for _, s := range []string{"2026-11-23T00:00:00Z/2026-11-24T00:00:00Z", "2026-11-24T00:00:00Z/2026-11-25T00:00:00Z"} {
			if n := strings.Count(err.Error(), s); n != 1 {
				t.Errorf("the error names slot %s %d times, want once: %v", s, n, err)
			}
		}
		var manifests int
		for _, k := range te.objects() {
			if strings.Contains(k, "/manifests/") {
				manifests++
			}
		}
		if manifests != 1 || te.openUploads() != 0 {
			t.Errorf("%d manifests, %d open uploads; want the first slot only", manifests, te.openUploads())
		}
		te.download()
	})
	t.Run("cancels the slot in flight without leaving parts", func(t *testing.T) { deadlineDuringUpload(t, s3Backend{}) })
}

// deadlineDuringUpload: the deadline strikes while a part is on its way;
// the upload is aborted and nothing is left. The parts are small on every
// server: S3 accepts them and refuses only a completion with them, which
// never comes.
func deadlineDuringUpload(t *testing.T, b s3Backend) {
	arrived, release := make(chan struct{}, 8), make(chan struct{})
	defer close(release)
	s3P := newFaultProxy(1, &rule{name: "stall", op: "UploadPart", nth: []int{2}, do: hold(arrived, release)})
	te := newEnvWith(t, now, envOptions{sessions: faultSessions(), s3Wrap: s3P.wrap, partSize: faultPartSize, s3: b})
	ctx, cancel := context.WithTimeout(lambdaCtx(), 4100*time.Millisecond)
	defer cancel()
	_, err := te.h.Handle(ctx, json.RawMessage(faultBackfill))
	if err == nil || !strings.Contains(err.Error(), "3 slot(s) not written") {
		t.Fatalf("error %v", err)
	}
	if s3P.hitsOf("stall") == 0 {
		t.Error("no part was on its way when the deadline struck")
	}
	if keys := te.objects(); len(keys) != 0 {
		t.Errorf("a cancelled run left %v", keys)
	}
	// What it left is its claim: the next scheduled run exports the slots.
	if st := te.state(); len(st.Open) != 3 {
		t.Errorf("state open %+v; want the three slots the run claimed", st.Open)
	}
	if n := te.openUploads(); n != 0 {
		t.Errorf("%d multipart uploads left open after the deadline", n)
	}
}

// TestVersionedBucketManifestRecordsVersion: with versioning on, the
// manifest names the exact version of its object.
func TestVersionedBucketManifestRecordsVersion(t *testing.T) {
	versionedBucketManifestRecordsVersion(t, s3Backend{})
}

func versionedBucketManifestRecordsVersion(t *testing.T, b s3Backend) {
	sessions, partSize := faultScenario(b)
	te := newEnvWith(t, now, envOptions{sessions: sessions, partSize: partSize, s3: b})
	c := te.emu.Clients().S3
	if _, err := c.PutBucketVersioning(context.Background(), &s3.PutBucketVersioningInput{Bucket: aws.String(bucket),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	// A rerun with more sessions writes a new version of every object; each
	// manifest names the version current after its run.
	seen := map[string]bool{}
	for run := range 2 {
		if run == 1 {
			te.emu.SSM.Put(ssmfake.Generate(44, faultFrom, faultTo, 30)...)
			te.now = now.Add(time.Hour)
		}
		res := te.mustInvoke(faultBackfill)
		for _, s := range res.Slots {
			var m store.Manifest
			if err := json.Unmarshal(te.get(s.Manifest), &m); err != nil {
				t.Fatalf("manifest %s: %v", s.Manifest, err)
			}
			head, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(s.Object)})
			if err != nil {
				t.Fatal(err)
			}
			if m.Object.VersionID == "" || m.Object.VersionID != aws.ToString(head.VersionId) || seen[m.Object.VersionID] {
				t.Errorf("run %d: manifest version %q, current version %q (a version of an earlier run: %v)",
					run+1, m.Object.VersionID, aws.ToString(head.VersionId), seen[m.Object.VersionID])
			}
			seen[m.Object.VersionID] = true
			// The part size is the test's: on a real S3 the padded day's
			// object is multipart (ETag "<md5>-<parts>"), on gofakes3 every
			// object is.
			if (b.resolve().minPartSize == 0 || s.Start.Equal(paddedDay)) && partsOf(m.Object.ETag) < 2 {
				t.Errorf("object %s has ETag %s; want several parts", s.Object, m.Object.ETag)
			}
		}
	}
	te.download() // manifests still describe their objects
}

// TestTextRoundTripsAndOddSessions: text from SSM comes back byte for byte;
// an EndDate before its StartDate is kept with a null duration.
func TestTextRoundTripsAndOddSessions(t *testing.T) {
	odd := []string{`quote " and \ backslash`, "new\nline\ttab\r", "ünïcødé 会话 🚀", strings.Repeat("long-", 3000), "nul\x00byte"}
	var ss []types.Session
	for i, text := range odd {
		s := session(fmt.Sprintf("odd-%d", i), fmt.Sprintf("2026-11-22T0%d:00:00Z", i), fmt.Sprintf("2026-11-22T0%d:30:00Z", i), types.SessionStatusTerminated)
		s.Reason, s.Details, s.Owner = aws.String(text), aws.String(text+"!"), aws.String("arn:aws:iam::123456789012:user/"+text)
		ss = append(ss, s)
	}
	backwards := session("backwards", "2026-11-22T10:00:00Z", "2026-11-22T09:00:00Z", types.SessionStatusTerminated)
	ss = append(ss, backwards)
	var logs bytes.Buffer
	te := newEnvWith(t, now, envOptions{sessions: ss, logs: &logs})
	te.mustInvoke(`{"start":"2026-11-22T00:00:00Z","end":"2026-11-23T00:00:00Z"}`)
	got := readRows(t, duck(t, te.download()))
	compareRows(t, got, expected(te.emu.SSM, faultFrom, faultFrom.Add(24*time.Hour)))
	for _, r := range got {
		if r.SessionID == "backwards" && (r.DurationSeconds != nil || r.EndDate == nil) {
			t.Errorf("backwards session: end %v duration %v; want the end kept and a null duration", r.EndDate, r.DurationSeconds)
		}
	}
	if logs.Len() == 0 || bytes.Contains(logs.Bytes(), []byte("emulator-secret")) || bytes.Contains(logs.Bytes(), []byte("quote")) {
		t.Errorf("logs are empty or carry secrets or session text: %s", logs.String())
	}
}

// partsOf is the part count of a multipart ETag ("<md5>-<parts>"), 0 for
// an object written in one request.
func partsOf(etag string) int {
	_, n, ok := strings.Cut(strings.Trim(etag, `"`), "-")
	if !ok {
		return 0
	}
	parts, _ := strconv.Atoi(n)
	return parts
}

func seq(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}
