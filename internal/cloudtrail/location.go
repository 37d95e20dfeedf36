// Package cloudtrail describes an existing CloudTrail trail's logs as the
// session audit reads them in place: where they are (the stack parameter
// CloudTrailLocation, AUDIT_CLOUDTRAIL_LOCATION to the report function),
// the Glue table over them (Athena's documented CloudTrail table, with
// partition projection by account, region and day), and the layout of
// their objects. The template, the report function and the Athena
// emulator all take the table's columns from here.
package cloudtrail

import (
	"fmt"
	"regexp"
	"strings"
)

// EnvLocation is the report function's variable for the trail's location.
const EnvLocation = "AUDIT_CLOUDTRAIL_LOCATION"

// LocationPattern is the stack parameter's AllowedPattern: empty, or the S3
// URI of the folder that holds the accounts' folders: an account trail's
// s3://bucket[/prefix]/AWSLogs/ or an organization trail's
// s3://bucket[/prefix]/AWSLogs/o-xxxxxxxxxx/, with the closing slash.
const LocationPattern = `^$|^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/([A-Za-z0-9!_.=+-]+/)*AWSLogs/(o-[a-z0-9]{10,32}/)?$`

var locationRE = regexp.MustCompile(LocationPattern)

// Location is where a trail's logs are.
type Location struct {
	// URI is the location as given.
	URI string
	// Bucket is the trail's bucket.
	Bucket string
	// Prefix is the key prefix of the accounts' folders, ending in
	// "AWSLogs/" or "AWSLogs/o-…/".
	Prefix string
	// Org is the organization id of an organization trail; empty for an
	// account trail.
	Org string
}

// ParseLocation checks a CloudTrailLocation. Empty is no trail (the zero
// Location, no error); anything else must match LocationPattern, and the
// error names the variable.
func ParseLocation(v string) (Location, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return Location{}, nil
	}
	if !locationRE.MatchString(v) || strings.Contains(v, "..") {
		return Location{}, fmt.Errorf("%s=%q: want the S3 URI of the trail's AWSLogs/ folder, s3://bucket/[prefix/]AWSLogs/ or, for an organization trail, s3://bucket/[prefix/]AWSLogs/o-xxxxxxxxxx/ (with the closing slash)", EnvLocation, v)
	}
	rest := strings.TrimPrefix(v, "s3://")
	bucket, prefix, _ := strings.Cut(rest, "/")
	l := Location{URI: v, Bucket: bucket, Prefix: prefix}
	if i := strings.LastIndex(prefix, "AWSLogs/o-"); i >= 0 {
		l.Org = strings.TrimSuffix(prefix[i+len("AWSLogs/"):], "/")
	}
	return l, nil
}

// On says whether a trail is configured.
func (l Location) On() bool { return l.URI != "" }
