package cli

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/session-audit/session-audit/internal/emulators"
	"github.com/session-audit/session-audit/internal/trailfake"
)

// The demo's organization trail, in the local bucket: what
// CloudTrailLocation would name in AWS.
const (
	localTrailPrefix = "cloudtrail/AWSLogs/o-a1b2c3d4e5/"
	// localAllowedCIDRs are the demo's office and VPN networks: the
	// generated trail's other addresses are outside them.
	localAllowedCIDRs = "198.51.100.0/24,10.0.0.0/8"
	// localDenied is how many refused session attempts the demo's trail has.
	localDenied = 600
)

// localTrailLocation is the local report's AUDIT_CLOUDTRAIL_LOCATION.
func localTrailLocation(bucket string) string { return "s3://" + bucket + "/" + localTrailPrefix }

// seedTrail writes the CloudTrail log files of the demo's sessions (a
// StartSession each, some Resume and Terminate events, and refused
// attempts) into the local bucket, as an organization trail delivers them.
func seedTrail(ctx context.Context, api interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}, bucket string, sessions []types.Session, account string, from, to time.Time) (int, int, error) {
	recs := trailfake.Generate(sessions, trailfake.Options{Seed: 1, Account: account, Region: emulators.Region, Denied: localDenied, From: from, To: to})
	files, err := trailfake.Files(localTrailPrefix, recs, 1)
	if err != nil {
		return 0, 0, err
	}
	for _, f := range files {
		if _, err := api.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(f.Key), Body: bytes.NewReader(f.Body)}); err != nil {
			return 0, 0, fmt.Errorf("write the emulated trail: %w", err)
		}
	}
	return len(recs), len(files), nil
}
