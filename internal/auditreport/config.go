package auditreport

import (
	"fmt"
	"regexp"
	"time"

	"github.com/session-audit/session-audit/internal/cloudtrail"
	"github.com/session-audit/session-audit/internal/config"
	"github.com/session-audit/session-audit/internal/findings"
	"github.com/session-audit/session-audit/internal/store"
)

// Config is the report function's environment.
type Config struct {
	Bucket, Prefix string
	// WorkGroup and Database are the stack's Athena workgroup and Glue
	// database.
	WorkGroup, Database string
	// CoverageTable is the Glue table of the organization's coverage
	// records; empty when the stack has none.
	CoverageTable string
	// Topic is the SNS topic told of each report; empty for none.
	Topic string
	// Slot is the exporter's slot length, for the slots expected.
	Slot time.Duration
	// ArchiveStart is the first day the archive can hold (the Glue
	// projection's start).
	ArchiveStart time.Time
	Params       findings.Params
	PathStyle    bool
	// Trail is the CloudTrail trail read in place (its Glue table is
	// cloudtrail.TableName); the zero Location turns that context off.
	Trail cloudtrail.Location
}

var (
	nameRE  = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)
	topicRE = regexp.MustCompile(`^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]+$`)
)

// ConfigFromEnv reads and checks the environment; a bad value is an error
// naming its variable.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Bucket: getenv("AUDIT_BUCKET"), Prefix: getenv("AUDIT_PREFIX"),
		WorkGroup: getenv("AUDIT_ATHENA_WORKGROUP"), Database: getenv("AUDIT_GLUE_DATABASE"),
		CoverageTable: getenv("AUDIT_COVERAGE_TABLE"), Topic: getenv("AUDIT_REPORT_TOPIC"),
		Slot: 24 * time.Hour,
	}
	if c.Bucket == "" {
		return Config{}, fmt.Errorf("AUDIT_BUCKET is required")
	}
	if c.Prefix == "" {
		c.Prefix = "ssm-sessions"
	}
	if err := store.CheckPrefix(c.Prefix); err != nil {
		return Config{}, fmt.Errorf("AUDIT_PREFIX: %w", err)
	}
	if !nameRE.MatchString(c.WorkGroup) {
		return Config{}, fmt.Errorf("AUDIT_ATHENA_WORKGROUP=%q: want the workgroup's name", c.WorkGroup)
	}
	if !nameRE.MatchString(c.Database) {
		return Config{}, fmt.Errorf("AUDIT_GLUE_DATABASE=%q: want the Glue database's name", c.Database)
	}
	if c.CoverageTable != "" && !nameRE.MatchString(c.CoverageTable) {
		return Config{}, fmt.Errorf("AUDIT_COVERAGE_TABLE=%q: want a table name", c.CoverageTable)
	}
	if c.Topic != "" && !topicRE.MatchString(c.Topic) {
		return Config{}, fmt.Errorf("AUDIT_REPORT_TOPIC=%q: want an SNS topic ARN", c.Topic)
	}
	if v := getenv("AUDIT_SLOT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || (24*time.Hour)%d != 0 {
			return Config{}, fmt.Errorf("AUDIT_SLOT=%q: want a divisor of 24h", v)
		}
		c.Slot = d
	}
	c.ArchiveStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if v := getenv("AUDIT_ARCHIVE_START"); v != "" {
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return Config{}, fmt.Errorf("AUDIT_ARCHIVE_START=%q: want YYYY-MM-DD", v)
		}
		c.ArchiveStart = t
	}
	pathStyle, err := config.PathStyle(getenv)
	if err != nil {
		return Config{}, err
	}
	c.PathStyle = pathStyle
	p, err := findings.FromEnv(getenv)
	if err != nil {
		return Config{}, err
	}
	c.Params = p
	if c.Trail, err = cloudtrail.ParseLocation(getenv(cloudtrail.EnvLocation)); err != nil {
		return Config{}, err
	}
	if len(p.AllowedSourceCIDRs) > 0 && !c.Trail.On() {
		return Config{}, fmt.Errorf("%s is set but %s is empty: the source addresses come from the trail", findings.EnvAllowedSourceCIDRs, cloudtrail.EnvLocation)
	}
	return c, nil
}
