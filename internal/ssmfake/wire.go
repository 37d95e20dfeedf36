package ssmfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits of the DescribeSessions request, from the API reference.
const (
	minMaxResults     = 1
	maxMaxResults     = 200
	defaultMaxResults = 20 // the API leaves the default unspecified
	maxFilters        = 6
	maxFilterValueLen = 400
	maxBodyBytes      = 1 << 20
	maxTokenLen       = 4096
)

// Error codes the emulator answers with.
const (
	codeValidation     = "ValidationException"
	codeInvalidKey     = "InvalidFilterKey"
	codeInvalidToken   = "InvalidNextToken"
	codeThrottling     = "ThrottlingException"
	codeInternal       = "InternalServerError"
	codeUnknownOp      = "UnknownOperationException"
	codeClientCanceled = "RequestCanceled" // recorded only: the client went away

	codeUnrecognizedClient = "UnrecognizedClientException"
	codeAccessDenied       = "AccessDeniedException"
)

// apiError is an error answer of the service.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func validationError(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: codeValidation, message: fmt.Sprintf(format, args...)}
}

// Filter keys, as they appear on the wire.
const (
	keyInvokedAfter  = "InvokedAfter"
	keyInvokedBefore = "InvokedBefore"
	keyTarget        = "Target"
	keyOwner         = "Owner"
	keyStatus        = "Status"
	keySessionID     = "SessionId"
	keyAccessType    = "AccessType"
)

// filterKeys lists the valid keys in the order the token's request shape
// uses.
var filterKeys = [...]string{keyInvokedAfter, keyInvokedBefore, keyTarget, keyOwner, keyStatus, keySessionID, keyAccessType}

// rawFilter is one member of the request's Filters, as sent.
type rawFilter struct{ key, value string }

// request is a decoded DescribeSessions request.
type request struct {
	state      string
	hasState   bool
	maxResults int32
	hasMax     bool
	nextToken  string
	hasToken   bool
	filters    []rawFilter
}

// query is a validated request: the time range and the equality filters.
type query struct {
	state         int
	after, before int64 // inclusive bounds in Unix ms, when hasAfter / hasBefore
	hasAfter      bool
	hasBefore     bool
	eq            [len(filterKeys)]*string // by index in filterKeys; time keys unused
	maxResults    int
	shape         []byte // canonical State and filters, bound into tokens
}

// decodeRequest decodes the JSON body. Members are matched by their exact
// wire names and unknown members are ignored, as the service does.
func decodeRequest(body []byte) (request, *apiError) {
	var req request
	var members map[string]json.RawMessage
	if len(bytes.TrimSpace(body)) > 0 { // an empty body is an empty input
		if err := json.Unmarshal(body, &members); err != nil {
			return req, validationError("Start of structure or map found where not expected, or the request body is not valid JSON: %v", err)
		}
	}
	var state, token *string
	var maxResults *int32
	var filters *[]map[string]json.RawMessage
	for _, m := range []struct {
		name string
		dst  any
	}{{"State", &state}, {"MaxResults", &maxResults}, {"NextToken", &token}, {"Filters", &filters}} {
		raw, ok := members[m.name]
		if !ok {
			continue
		}
		if err := json.Unmarshal(raw, m.dst); err != nil {
			return req, validationError("Unable to parse member %s: %v", m.name, err)
		}
	}
	if state != nil {
		req.state, req.hasState = *state, true
	}
	if maxResults != nil {
		req.maxResults, req.hasMax = *maxResults, true
	}
	if token != nil {
		req.nextToken, req.hasToken = *token, true
	}
	var problems []string
	if filters != nil {
		if n := len(*filters); n < 1 || n > maxFilters {
			bound := "greater than or equal to 1"
			if n > maxFilters {
				bound = "less than or equal to " + strconv.Itoa(maxFilters)
			}
			problems = append(problems, fmt.Sprintf("Value at 'filters' failed to satisfy constraint: Member must have length %s", bound))
		}
		req.filters = make([]rawFilter, 0, len(*filters))
		for i, f := range *filters {
			var key, value *string
			if err := decodeMember(f, "key", &key); err != nil {
				return req, validationError("Unable to parse member Filters[%d].key: %v", i, err)
			}
			if err := decodeMember(f, "value", &value); err != nil {
				return req, validationError("Unable to parse member Filters[%d].value: %v", i, err)
			}
			at := fmt.Sprintf("'filters.%d.member", i+1)
			if key == nil {
				problems = append(problems, "Value null at "+at+".key' failed to satisfy constraint: Member must not be null")
			}
			if value == nil {
				problems = append(problems, "Value null at "+at+".value' failed to satisfy constraint: Member must not be null")
			} else if n := utf8.RuneCountInString(*value); n < 1 {
				problems = append(problems, fmt.Sprintf("Value '%s' at %s.value' failed to satisfy constraint: Member must have length greater than or equal to 1", *value, at))
			} else if n > maxFilterValueLen {
				problems = append(problems, fmt.Sprintf("Value at %s.value' failed to satisfy constraint: Member must have length less than or equal to %d", at, maxFilterValueLen))
			}
			var rf rawFilter
			if key != nil {
				rf.key = *key
			}
			if value != nil {
				rf.value = *value
			}
			req.filters = append(req.filters, rf)
		}
	}
	if !req.hasState {
		problems = append([]string{"Value null at 'state' failed to satisfy constraint: Member must not be null"}, problems...)
	} else if req.state != "Active" && req.state != "History" {
		problems = append([]string{fmt.Sprintf("Value '%s' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [Active, History]", req.state)}, problems...)
	}
	if req.hasMax && req.maxResults < minMaxResults {
		problems = append(problems, fmt.Sprintf("Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to %d", req.maxResults, minMaxResults))
	} else if req.hasMax && req.maxResults > maxMaxResults {
		problems = append(problems, fmt.Sprintf("Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to %d", req.maxResults, maxMaxResults))
	}
	if len(problems) > 0 {
		noun := "error"
		if len(problems) > 1 {
			noun = "errors"
		}
		return req, validationError("%d validation %s detected: %s", len(problems), noun, strings.Join(problems, "; "))
	}
	return req, nil
}

// decodeMember decodes the member name of a JSON object into dst, leaving
// dst alone when the member is absent or null.
func decodeMember(obj map[string]json.RawMessage, name string, dst any) error {
	raw, ok := obj[name]
	if !ok {
		return nil
	}
	return json.Unmarshal(raw, dst)
}

// validate turns a decoded request into a query: filter keys must be known
// (InvalidFilterKey) and given once, and time values must be RFC 3339.
func validate(req request) (query, *apiError) {
	q := query{maxResults: defaultMaxResults, state: stateActive}
	if req.state == "History" {
		q.state = stateHistory
	}
	if req.hasMax {
		q.maxResults = int(req.maxResults)
	}
	var given [len(filterKeys)]*string
	for _, f := range req.filters {
		k := -1
		for i, name := range filterKeys {
			if f.key == name {
				k = i
				break
			}
		}
		if k < 0 {
			return q, &apiError{status: http.StatusBadRequest, code: codeInvalidKey,
				message: fmt.Sprintf("The filter key %q is not valid. Valid filter keys are: %s.", f.key, strings.Join(filterKeys[:], ", "))}
		}
		if given[k] != nil {
			return q, validationError("The filter key %s is given more than once.", f.key)
		}
		v := f.value
		given[k] = &v
		switch f.key {
		case keyInvokedAfter, keyInvokedBefore:
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return q, validationError("The value %q of filter %s is not a valid timestamp; use the ISO 8601 format, for example 2018-08-29T00:00:00Z.", v, f.key)
			}
			ms := t.UnixMilli() // floor
			if f.key == keyInvokedAfter {
				if t.Nanosecond()%int(time.Millisecond) != 0 {
					ms++ // StartDate >= t, at millisecond precision
				}
				q.after, q.hasAfter = ms, true
			} else {
				q.before, q.hasBefore = ms, true
			}
		default:
			q.eq[k] = &v
		}
	}
	// The shape binds a token to the State and filters it was issued for.
	shape := []byte(req.state)
	shape = append(shape, 0)
	for _, v := range given {
		if v == nil {
			shape = append(shape, 0)
			continue
		}
		shape = append(shape, 1)
		shape = strconv.AppendInt(shape, int64(len(*v)), 10)
		shape = append(shape, ':')
		shape = append(shape, *v...)
	}
	q.shape = shape
	return q, nil
}

// matches applies the equality filters, which the service applies after
// MaxResults has cut the page.
func (q *query) matches(r *record) bool {
	for i, v := range q.eq {
		if v == nil {
			continue
		}
		var got string
		switch filterKeys[i] {
		case keyTarget:
			got = r.target
		case keyOwner:
			got = r.owner
		case keyStatus:
			got = r.status
		case keySessionID:
			got = r.id
		case keyAccessType:
			got = r.access
		}
		if got != *v {
			return false
		}
	}
	return true
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD, as encoding/json does.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		// Copy a run of bytes that need no escaping in one append.
		j := i
		for j < len(s) && s[j] >= 0x20 && s[j] < utf8.RuneSelf && s[j] != '"' && s[j] != '\\' {
			j++
		}
		b = append(b, s[i:j]...)
		if i = j; i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// appendEpoch appends Unix milliseconds as epoch seconds with a three-digit
// fraction, the service's timestamp format (a JSON number).
func appendEpoch(b []byte, ms int64) []byte {
	u := uint64(ms)
	if ms < 0 {
		b = append(b, '-')
		u = -u
	}
	b = strconv.AppendUint(b, u/1000, 10)
	frac := u % 1000
	return append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
}

// appendSession appends the JSON object of one session, members in
// alphabetical order and absent members omitted.
func appendSession(b []byte, r *record) []byte {
	b = append(b, '{')
	first := true
	member := func(name string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, '"', ':')
	}
	str := func(bit uint16, name, v string) {
		if bit == 0 || r.has&bit != 0 {
			member(name)
			b = appendJSONString(b, v)
		}
	}
	if r.access != "" {
		str(0, "AccessType", r.access)
	}
	str(hasDetails, "Details", r.details)
	str(hasDocument, "DocumentName", r.document)
	if r.has&hasEnd != 0 {
		member("EndDate")
		b = appendEpoch(b, r.end)
	}
	str(hasMaxDuration, "MaxSessionDuration", r.maxDuration)
	if r.has&hasOutputURL != 0 {
		member("OutputUrl")
		b = append(b, '{')
		if r.has&hasCW != 0 {
			b = append(b, `"CloudWatchOutputUrl":`...)
			b = appendJSONString(b, r.cw)
		}
		if r.has&hasS3 != 0 {
			if r.has&hasCW != 0 {
				b = append(b, ',')
			}
			b = append(b, `"S3OutputUrl":`...)
			b = appendJSONString(b, r.s3)
		}
		b = append(b, '}')
	}
	str(hasOwner, "Owner", r.owner)
	str(hasReason, "Reason", r.reason)
	str(0, "SessionId", r.id)
	if r.start != noStart {
		member("StartDate")
		b = appendEpoch(b, r.start)
	}
	if r.status != "" {
		str(0, "Status", r.status)
	}
	str(hasTarget, "Target", r.target)
	return append(b, '}')
}

// appendResponse appends the body of a successful answer.
func appendResponse(b []byte, page []*record, nextToken string) []byte {
	b = append(b, `{`...)
	if nextToken != "" {
		b = append(b, `"NextToken":`...)
		b = appendJSONString(b, nextToken)
		b = append(b, ',')
	}
	b = append(b, `"Sessions":[`...)
	for i, r := range page {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendSession(b, r)
	}
	return append(b, ']', '}')
}

// appendError appends the body of an error answer.
func appendError(b []byte, e *apiError) []byte {
	b = append(b, `{"__type":`...)
	b = appendJSONString(b, e.code)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, e.message)
	return append(b, '}')
}
