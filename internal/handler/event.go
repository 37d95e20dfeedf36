// Package handler turns a Lambda event into one request (a scheduled run, a
// backfill or a lookup), runs it and shapes the response.
package handler

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Kind names the three requests an event can carry.
type Kind string

// The request kinds, as the response's "mode" spells them.
const (
	KindScheduled Kind = "scheduled"
	KindBackfill  Kind = "backfill"
	KindLookup    Kind = "lookup"
)

// Request is a decoded event.
type Request struct {
	Kind      Kind
	Time      time.Time // scheduled: the scheduled time
	Start     time.Time // backfill
	End       time.Time // backfill
	SessionID string    // lookup
	// Account and Region name the target of any kind: both set, or both
	// empty for the function's own account and region.
	Account string
	Region  string
}

// envelopeKeys are the fields of an EventBridge event besides "time"; a
// scheduled event may carry them and nothing else.
var envelopeKeys = map[string]bool{
	"version": true, "id": true, "detail-type": true, "source": true,
	"account": true, "region": true, "resources": true, "detail": true,
}

// targetKeys are the optional fields that name the target of any event.
var targetKeys = []string{"account", "region"}

var (
	// accountRE is an AWS account id.
	accountRE = regexp.MustCompile(`^[0-9]{12}$`)
	// regionRE is a region name such as eu-west-1 or us-gov-east-1.
	regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z0-9]+)+-[0-9]+$`)
)

// sessionIDRE is the SessionId pattern of the SSM API (1 to 96 characters).
var sessionIDRE = regexp.MustCompile(`^(\w|-|\.|@)+$`)

// maxEventSize bounds the events decoded; real ones are under 2 KiB.
const maxEventSize = 64 << 10

// Decode reads an event: an EventBridge "Scheduled Event" or Scheduler input
// with "time", a backfill {"start","end"} or a lookup {"sessionId"}, each
// optionally with "account" and "region" naming another target (a rule's
// envelope carries its own account and region: the function's). Any other
// shape is an error that says what is wrong.
func Decode(raw []byte) (Request, error) {
	if len(raw) > maxEventSize {
		return Request{}, fmt.Errorf("event is %d bytes; at most %d are accepted", len(raw), maxEventSize)
	}
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&fields); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return Request{}, fmt.Errorf("event is a JSON %s; want a JSON object", typeErr.Value)
		}
		return Request{}, fmt.Errorf("event is not valid JSON: %w", err)
	}
	if dec.More() {
		return Request{}, errors.New("event has data after its JSON object")
	}
	if fields == nil {
		return Request{}, errors.New("event is null; want a JSON object")
	}
	_, hasTime := fields["time"]
	_, hasStart := fields["start"]
	_, hasEnd := fields["end"]
	_, hasID := fields["sessionId"]
	kinds := 0
	for _, has := range []bool{hasTime, hasStart || hasEnd, hasID} {
		if has {
			kinds++
		}
	}
	switch {
	case kinds == 0:
		return Request{}, fmt.Errorf("event has none of \"time\" (scheduled run), \"start\"/\"end\" (backfill) or \"sessionId\" (lookup); it has %s", keyList(fields))
	case kinds > 1:
		return Request{}, fmt.Errorf("event mixes %s; send exactly one of \"time\", \"start\"/\"end\" or \"sessionId\"", keyList(fields))
	case hasTime:
		return decodeScheduled(fields)
	case hasID:
		if err := onlyKeys(fields, append([]string{"sessionId"}, targetKeys...)...); err != nil {
			return Request{}, err
		}
		id, err := stringField(fields, "sessionId")
		if err != nil {
			return Request{}, err
		}
		if id == "" {
			return Request{}, errors.New("event field \"sessionId\" is empty")
		}
		if len(id) > 96 || !sessionIDRE.MatchString(id) {
			return Request{}, fmt.Errorf("event field \"sessionId\" %q is not a session id (1-96 letters, digits and _-.@)", id)
		}
		return withTarget(fields, Request{Kind: KindLookup, SessionID: id})
	default:
		if err := onlyKeys(fields, append([]string{"start", "end"}, targetKeys...)...); err != nil {
			return Request{}, err
		}
		if !hasStart || !hasEnd {
			return Request{}, errors.New("backfill event needs both \"start\" and \"end\"")
		}
		start, err := timeField(fields, "start")
		if err != nil {
			return Request{}, err
		}
		end, err := timeField(fields, "end")
		if err != nil {
			return Request{}, err
		}
		if !end.After(start) {
			return Request{}, fmt.Errorf("backfill event \"end\" %s is not after \"start\" %s", end.Format(time.RFC3339), start.Format(time.RFC3339))
		}
		return withTarget(fields, Request{Kind: KindBackfill, Start: start, End: end})
	}
}

// withTarget sets the target of req from the event's "account" and
// "region": both or neither, a 12-digit account id and a region name.
func withTarget(fields map[string]json.RawMessage, req Request) (Request, error) {
	_, hasAccount := fields["account"]
	_, hasRegion := fields["region"]
	switch {
	case !hasAccount && !hasRegion:
		return req, nil
	case !hasRegion:
		return Request{}, errors.New("event has \"account\" without \"region\"; send both or neither")
	case !hasAccount:
		return Request{}, errors.New("event has \"region\" without \"account\"; send both or neither")
	}
	account, err := stringField(fields, "account")
	if err != nil {
		return Request{}, err
	}
	if !accountRE.MatchString(account) {
		return Request{}, fmt.Errorf("event field \"account\" is %q; want a 12-digit AWS account id", truncate(account))
	}
	region, err := stringField(fields, "region")
	if err != nil {
		return Request{}, err
	}
	if len(region) > 32 || !regionRE.MatchString(region) {
		return Request{}, fmt.Errorf("event field \"region\" is %q; want an AWS region name such as eu-west-1", truncate(region))
	}
	req.Account, req.Region = account, region
	return req, nil
}

// isEnvelope reports whether a scheduled event is an EventBridge rule's
// event rather than a Scheduler input: it carries envelope fields beside
// "time", "account" and "region".
func isEnvelope(fields map[string]json.RawMessage) bool {
	for k := range fields {
		if envelopeKeys[k] && k != "account" && k != "region" {
			return true
		}
	}
	return false
}

func decodeScheduled(fields map[string]json.RawMessage) (Request, error) {
	for k := range fields {
		if k != "time" && !envelopeKeys[k] {
			return Request{}, fmt.Errorf("scheduled event has unexpected field %q; want \"time\", optionally with \"account\" and \"region\" (EventBridge Scheduler), or an EventBridge \"Scheduled Event\"", k)
		}
	}
	if raw, ok := fields["detail-type"]; ok {
		var dt string
		if err := json.Unmarshal(raw, &dt); err != nil || dt != "Scheduled Event" {
			return Request{}, fmt.Errorf("event \"detail-type\" is %s; only \"Scheduled Event\" starts a scheduled run", string(raw))
		}
	}
	t, err := timeField(fields, "time")
	if err != nil {
		return Request{}, err
	}
	req := Request{Kind: KindScheduled, Time: t}
	if isEnvelope(fields) {
		// A rule's envelope names the rule's own account and region, which
		// are the function's (a rule invokes functions of its own account
		// and region only): the target is the function's own.
		return req, nil
	}
	return withTarget(fields, req)
}

func onlyKeys(fields map[string]json.RawMessage, allowed ...string) error {
	for k := range fields {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			return fmt.Errorf("event has unexpected field %q beside %s", k, strings.Join(quote(allowed), " and "))
		}
	}
	return nil
}

func stringField(fields map[string]json.RawMessage, name string) (string, error) {
	var s string
	raw := bytes.TrimSpace(fields[name])
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", fmt.Errorf("event field %q is %s; want a string", name, truncate(string(fields[name])))
	}
	return s, nil
}

func timeField(fields map[string]json.RawMessage, name string) (time.Time, error) {
	s, err := stringField(fields, name)
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("event field %q is %q; want an RFC 3339 time such as 2026-11-24T00:00:00Z", name, truncate(s))
	}
	if t.Year() < 2000 || t.Year() > 9999 {
		return time.Time{}, fmt.Errorf("event field %q is %q; want a time between the years 2000 and 9999", name, s)
	}
	return t.UTC(), nil
}

func keyList(fields map[string]json.RawMessage) string {
	if len(fields) == 0 {
		return "no fields"
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return "fields " + strings.Join(quote(keys), ", ")
}

func quote(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", truncate(s))
	}
	return out
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
