package cloudtrail_test

import (
	"strings"
	"testing"
	"time"

	"github.com/session-audit/session-audit/internal/cloudtrail"
)

func TestParseLocation(t *testing.T) {
	for _, tc := range []struct {
		in, bucket, prefix, org string
	}{
		{"", "", "", ""},
		{"s3://my-trail-bucket/AWSLogs/", "my-trail-bucket", "AWSLogs/", ""},
		{"s3://org-log-archive/AWSLogs/o-a1b2c3d4e5/", "org-log-archive", "AWSLogs/o-a1b2c3d4e5/", "o-a1b2c3d4e5"},
		{"s3://org.log.archive/trails/main/AWSLogs/o-exampleorgid12/", "org.log.archive", "trails/main/AWSLogs/o-exampleorgid12/", "o-exampleorgid12"},
	} {
		l, err := cloudtrail.ParseLocation(tc.in)
		if err != nil || l.Bucket != tc.bucket || l.Prefix != tc.prefix || l.Org != tc.org || l.On() != (tc.in != "") {
			t.Errorf("ParseLocation(%q) = %+v, %v", tc.in, l, err)
		}
	}
	for _, bad := range []string{
		"my-trail-bucket/AWSLogs/",                          // no scheme
		"s3://my-trail-bucket/AWSLogs",                      // no closing slash
		"s3://my-trail-bucket/",                             // not the AWSLogs folder
		"s3://my-trail-bucket/AWSLogs/123456789012/",        // an account's folder, not the trail's
		"s3://my-trail-bucket/AWSLogs/o-abc/",               // organization id too short
		"s3://My_Bucket/AWSLogs/",                           // not a bucket name
		"s3://my-trail-bucket/a/../AWSLogs/",                // dot segments
		"https://my-trail-bucket.s3.amazonaws.com/AWSLogs/", // not an S3 URI
		"s3://my-trail-bucket/AWSLogs/o-a1b2c3d4e5/extra/",
	} {
		if _, err := cloudtrail.ParseLocation(bad); err == nil || !strings.Contains(err.Error(), cloudtrail.EnvLocation) {
			t.Errorf("ParseLocation(%q): error %v, want one naming %s", bad, err, cloudtrail.EnvLocation)
		}
	}
}

func TestObjectKey(t *testing.T) {
	got := cloudtrail.ObjectKey("AWSLogs/o-a1b2c3d4e5/", "111122223333", "eu-west-1", time.Date(2026, 11, 23, 23, 55, 0, 0, time.FixedZone("x", 3600)), "0a1b2c3d4e5f6a7b")
	if want := "AWSLogs/o-a1b2c3d4e5/111122223333/CloudTrail/eu-west-1/2026/11/23/111122223333_CloudTrail_eu-west-1_20261123T2255Z_0a1b2c3d4e5f6a7b.json.gz"; got != want {
		t.Errorf("ObjectKey = %s, want %s", got, want)
	}
}
