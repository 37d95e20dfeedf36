package findings

import (
	"fmt"
	"strings"
)

// Guide is what the report says of a finding at the head of its section:
// one sentence that defines it, including what it leaves out, and one on
// what a reviewer should do.
type Guide struct {
	Defines, Review string
}

// Guide says the finding in words for the thresholds p.
func (f Finding) Guide(p Params) Guide {
	switch f.ID {
	case "privileged":
		return Guide{
			Defines: fmt.Sprintf("Sessions whose owner matches a privileged pattern (%s, lowercase SQL LIKE), whatever their status, Failed ones included.", strings.Join(p.PrivilegedOwners, ", ")),
			Review:  "Check each against the break-glass procedure: a ticket or incident that called for it, and a transcript of what was done.",
		}
	case "failed":
		return Guide{
			Defines: "Sessions Session Manager reports as Failed: they never opened a shell, so no other finding about what ran (no transcript, active at the end) lists them.",
			Review:  "Look for repeats by one owner or on one target: a misconfigured agent or role, or someone trying targets they may not use.",
		}
	case "long":
		return Guide{
			Defines: fmt.Sprintf("Sessions that ended after running longer than %s; a session still open at the period's end has no duration yet and is listed under active sessions instead.", Words(p.LongSession)),
			Review:  "Ask the owner what took that long and check the transcript; a tunnel (port forwarding) held open all day is the usual case.",
		}
	case "after-hours":
		return Guide{
			Defines: fmt.Sprintf("Sessions started outside %02d:00-%02d:00 Monday to Friday in %s, whatever their status, Failed ones included; public holidays are not known and count as working days.", p.BusinessStart, p.BusinessEnd, p.TimeZone),
			Review:  "Tie each to an on-call shift, incident or change window; add the recurring ones to exceptions.yaml so that only the unexplained remain.",
		}
	case "documents":
		return Guide{
			Defines: fmt.Sprintf("Sessions that ran a document not on the allow-list (%s), whatever their status; a session without a document ran the default shell (%s) and is judged as such.", strings.Join(p.AllowedDocuments, ", "), DefaultShell),
			Review:  "Check what the document does and who may run it; allow it (AUDIT_ALLOWED_DOCUMENTS) or remove it from the owner's permissions.",
		}
	case "no-transcript":
		return Guide{
			Defines: "Sessions with neither an S3 nor a CloudWatch transcript; Failed sessions are left out (they never ran).",
			Review:  "Find why logging was off for the target or the document (Session Manager preferences, the agent's version) and turn it on; what ran in these sessions is not recorded.",
		}
	case "active-at-end":
		return Guide{
			Defines: "Sessions that started in the period and had not ended at its end (no end, or an end after it); Failed sessions are left out (they never ran).",
			Review:  "Confirm that each was closed afterwards (the next report, or the console); one left open for days is a standing access path.",
		}
	case "not-covered":
		return Guide{
			Defines: "Accounts and regions whose export runs in the period were not all exported (denied, failed), from the organization's coverage records; sessions there may be missing from every other finding.",
			Review:  "Fix the cause named in last_error (the member role, a region not enabled) and re-export the period for those targets.",
		}
	case "denied":
		return Guide{
			Defines: "Session Manager calls that the service refused (CloudTrail events with an errorCode), grouped by caller, target and error; the session history never lists them.",
			Review:  "Many attempts by one caller, or on targets nobody should reach, call for a word with the caller; a steady trickle is often a stale script.",
		}
	case "outside-sources":
		return Guide{
			Defines: "Sessions started or resumed from a source address outside the allowed CIDRs (every IPv6 address counts as outside); calls made by an AWS service are not judged.",
			Review:  "Check that the caller was travelling or on an approved network; otherwise treat the credentials as possibly stolen.",
		}
	case "clients":
		return Guide{
			Defines: "Successful StartSession calls by how they were made: the console, the AWS CLI, or another SDK or tool (from the user agent).",
			Review:  "A rise in sdk sessions means tools are opening sessions; make sure each is known and its credentials are scoped.",
		}
	}
	return Guide{Defines: f.Title + ".", Review: "Review each row."}
}
