package cloudtrail

import (
	"fmt"
	"strings"
	"time"
)

// TableName is the Glue table over the trail.
const TableName = "cloudtrail"

// Kind is a column's type.
type Kind int

// The kinds of column.
const (
	// String is a JSON string (or number or boolean), read as text.
	String Kind = iota
	// JSONText is a JSON object kept as its text (requestParameters,
	// responseElements...): a string column Athena reads with
	// json_extract_scalar.
	JSONText
	// Struct is a JSON object with known fields.
	Struct
	// Array is a JSON array of Elem.
	Array
	// Map is a JSON object of strings.
	Map
)

// Field is one field of a CloudTrail record: its JSON key as CloudTrail
// writes it, and its type. Its Glue column name is the key in lowercase.
type Field struct {
	JSON   string
	Kind   Kind
	Fields []Field // Struct, or Array of Struct
}

// Name is the Glue (and Athena) name of the field.
func (f Field) Name() string { return strings.ToLower(f.JSON) }

func str(names ...string) []Field {
	out := make([]Field, len(names))
	for i, n := range names {
		out[i] = Field{JSON: n}
	}
	return out
}

func object(name string, fields ...Field) Field {
	return Field{JSON: name, Kind: Struct, Fields: fields}
}

// Columns are the table's columns, in order: those of Athena's documented
// CloudTrail table ("Create the table for CloudTrail logs in Athena using
// partition projection"), with each record field's JSON key.
var Columns = []Field{
	{JSON: "eventVersion"},
	object("userIdentity", append(str("type", "principalId", "arn", "accountId", "invokedBy", "accessKeyId", "userName"),
		object("onBehalfOf", str("userId", "identityStoreArn")...),
		object("sessionContext",
			object("attributes", str("mfaAuthenticated", "creationDate")...),
			object("sessionIssuer", str("type", "principalId", "arn", "accountId", "userName")...),
			Field{JSON: "ec2RoleDelivery"},
			object("webIdFederationData", Field{JSON: "federatedProvider"}, Field{JSON: "attributes", Kind: Map}),
		))...),
	{JSON: "eventTime"}, {JSON: "eventSource"}, {JSON: "eventName"}, {JSON: "awsRegion"},
	{JSON: "sourceIPAddress"}, {JSON: "userAgent"}, {JSON: "errorCode"}, {JSON: "errorMessage"},
	{JSON: "requestParameters", Kind: JSONText}, {JSON: "responseElements", Kind: JSONText},
	{JSON: "additionalEventData", Kind: JSONText},
	{JSON: "requestID"}, {JSON: "eventID"}, {JSON: "readOnly"},
	{JSON: "resources", Kind: Array, Fields: str("ARN", "accountId", "type")},
	{JSON: "eventType"}, {JSON: "apiVersion"}, {JSON: "recipientAccountId"},
	{JSON: "serviceEventDetails", Kind: JSONText},
	{JSON: "sharedEventID"}, {JSON: "vpcEndpointId"}, {JSON: "vpcEndpointAccountId"}, {JSON: "eventCategory"},
	object("addendum", str("reason", "updatedFields", "originalRequestID", "originalEventID")...),
	{JSON: "sessionCredentialFromConsole"},
	{JSON: "edgeDeviceDetails", Kind: JSONText},
	object("tlsDetails", str("tlsVersion", "cipherSuite", "clientProvidedHostHeader")...),
}

// Partitions are the table's partition keys, computed by projection from
// the object keys <location><account>/CloudTrail/<region>/<yyyy/MM/dd>/.
var Partitions = []string{"account", "region", "timestamp"}

// GlueType is the field's type as Glue writes it: string,
// struct<a:string,...>, array<struct<...>>, map<string,string>.
func (f Field) GlueType() string {
	switch f.Kind {
	case Struct:
		return "struct<" + glueFields(f.Fields) + ">"
	case Array:
		return "array<struct<" + glueFields(f.Fields) + ">>"
	case Map:
		return "map<string,string>"
	}
	return "string"
}

func glueFields(fs []Field) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = f.Name() + ":" + f.GlueType()
	}
	return strings.Join(parts, ",")
}

// Day is the timestamp partition's value for a UTC day: yyyy/MM/dd.
func Day(t time.Time) string { return t.UTC().Format("2006/01/02") }

// ObjectKey is where CloudTrail delivers a log file: under the location's
// prefix, <account>/CloudTrail/<region>/YYYY/MM/DD/
// <account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<unique>.json.gz, dated by
// its delivery time.
func ObjectKey(prefix, account, region string, delivered time.Time, unique string) string {
	d := delivered.UTC()
	return fmt.Sprintf("%s%s/CloudTrail/%s/%s/%s_CloudTrail_%s_%s_%s.json.gz",
		prefix, account, region, d.Format("2006/01/02"), account, region, d.Format("20060102T1504Z"), unique)
}
