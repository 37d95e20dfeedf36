// Package outcome classifies how the export of one target (an account and
// a region) ended: exported, or refused by AWS because the member role is
// missing or wrong (denied) or the region is not enabled for the account
// (region-disabled). Refusals are answers, not failures: an organization
// always has accounts without the role yet and opt-in regions left off, and
// one of them must not fail the run of the others.
package outcome

import (
	"errors"

	"github.com/aws/smithy-go"
)

// Status is the "status" of a target in the exporter's response.
type Status string

// The statuses of a target that did not fail.
const (
	// Exported: the slots were written (or kept).
	Exported Status = "exported"
	// Denied: AssumeRole or DescribeSessions answered AccessDenied.
	Denied Status = "denied"
	// RegionDisabled: SSM did not recognize valid credentials, as it
	// answers in an opt-in region the account has not enabled.
	RegionDisabled Status = "region-disabled"
)

// deniedCodes are the error codes of STS (AccessDenied) and SSM
// (AccessDeniedException) that refuse the caller.
var deniedCodes = map[string]bool{"AccessDenied": true, "AccessDeniedException": true}

// disabledCodes are the error codes of a region that refuses the account:
// a service's answer to valid credentials in an opt-in region the account
// has not enabled (UnrecognizedClientException in the JSON protocols, such
// as SSM's; InvalidClientTokenId in the query protocol, such as STS's), and
// STS's answer to AssumeRole of a role whose account has deactivated STS
// in the endpoint's region (RegionDisabledException).
var disabledCodes = map[string]bool{"UnrecognizedClientException": true, "InvalidClientTokenId": true, "RegionDisabledException": true}

// roleRefusals are the codes with which AssumeRole refuses for the member
// account: its role is missing or does not trust the caller, or it has
// deactivated STS in the endpoint's region. InvalidClientTokenId is not
// one there: the endpoint is in the caller's own region, so it means STS
// did not accept the caller's own credentials, a fault of the run.
var roleRefusals = map[string]Status{"AccessDenied": Denied, "RegionDisabledException": RegionDisabled}

// Refused reports whether err holds an AWS answer that refuses the target,
// and which status it means. Anything else (throttling past the retries,
// 5xx, a deadline, a network error) is not a refusal.
func Refused(err error) (Status, bool) {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return "", false
	}
	switch code := api.ErrorCode(); {
	case deniedCodes[code]:
		return Denied, true
	case disabledCodes[code]:
		return RegionDisabled, true
	}
	return "", false
}

// RefusedRole reports whether err, a failed AssumeRole of a member
// account's role, holds that account's refusal, and which status it means.
func RefusedRole(err error) (Status, bool) {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return "", false
	}
	st, ok := roleRefusals[api.ErrorCode()]
	return st, ok
}

// Message is the AWS message of the refusal in err, for the response and
// the logs; "" when err holds none.
func Message(err error) string {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return ""
	}
	return api.ErrorCode() + ": " + api.ErrorMessage()
}
