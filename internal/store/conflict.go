package store

// IsConflict says whether err is S3's answer to a conditional write that
// lost (412 PreconditionFailed, 409 ConditionalRequestConflict), for the
// other packages that write conditionally (internal/digest).
func IsConflict(err error) bool { return isConflict(err) }
