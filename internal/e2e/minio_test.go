package e2e

import (
	"testing"

	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/miniotest"
)

// onMinIO runs a test against its own MinIO server (internal/miniotest), a
// real S3 implementation: it checks signatures, per-part checksums, part
// sizes and conditional writes, and keeps versions. The SDK sends it what
// it sends AWS, checksums included.
var onMinIO = s3Backend{upstream: startMinIO, minPartSize: 5 << 20}

func startMinIO(t *testing.T) *emulators.Upstream {
	s := miniotest.Start(t)
	return &emulators.Upstream{URL: s.URL, AccessKey: miniotest.RootUser, SecretKey: miniotest.RootPassword}
}

// The core scenarios, each on a MinIO server of its own, in parallel (much
// of their time is spent waiting for servers to start). CI runs them; a
// machine without the binary skips them, naming `make minio`.

func TestMinIOBackfill(t *testing.T) {
	t.Parallel()
	backfillManyDays(t, onMinIO)
}

func TestMinIORerun(t *testing.T) {
	t.Parallel()
	t.Run("overwrites", func(t *testing.T) { slotBoundariesAndReruns(t, onMinIO) })
	t.Run("with fewer sessions keeps the archive", func(t *testing.T) { rerunWithFewerSessions(t, onMinIO) })
}

func TestMinIOLateSession(t *testing.T) {
	t.Parallel()
	scheduledRunAtDayBoundaries(t, onMinIO)
}

func TestMinIOLongSessionReopened(t *testing.T) {
	t.Parallel()
	scheduledRunReopensSlots(t, onMinIO)
}

func TestMinIOConcurrentExportsOfOneSlot(t *testing.T) {
	t.Parallel()
	concurrentExportsOfOneSlot(t, onMinIO)
}

func TestMinIOManifestCrashWindow(t *testing.T) {
	t.Parallel()
	manifestWriteFailsThenRerunRepairs(t, onMinIO)
}

func TestMinIODeadlineDuringUpload(t *testing.T) {
	t.Parallel()
	deadlineDuringUpload(t, onMinIO)
}

func TestMinIOVersionedBucket(t *testing.T) {
	t.Parallel()
	versionedBucketManifestRecordsVersion(t, onMinIO)
}
