package ssmfake

import (
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/session-audit/session-audit/internal/stsfake"
)

// targetKey names one account and region.
type targetKey struct{ account, region string }

// noSessions serves the accounts and regions that have none.
var noSessions = &store{}

// Target is one account and region of the emulator with sessions of its
// own. A request is served the sessions of the account of its credentials
// (stsfake.IdentityOf: the account encoded in keys the STS emulator
// issued, stsfake.LocalAccount for any other) in the region of its
// signature. The Server's own Put, Delete and Sessions hold the local
// account's sessions, served in every region that has no Target of its
// own; another account has no sessions but those of its Targets.
type Target struct {
	s   *Server
	key targetKey
}

// Target returns the sessions of account in region, creating them empty
// on first use.
func (s *Server) Target(account, region string) *Target {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := targetKey{account, region}
	if s.targets == nil {
		s.targets = map[targetKey]*store{}
	}
	if s.targets[k] == nil {
		s.targets[k] = &store{}
	}
	return &Target{s: s, key: k}
}

// Put stores sessions of the target; see Server.Put.
func (t *Target) Put(sessions ...types.Session) {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	t.s.targets[t.key].put(sessions)
}

// Delete removes sessions of the target; see Server.Delete.
func (t *Target) Delete(ids ...string) {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	t.s.targets[t.key].delete(ids)
}

// Sessions returns the sessions of the target in state; see
// Server.Sessions.
func (t *Target) Sessions(state string) []types.Session {
	i, ok := stateIndex(state)
	if !ok {
		return nil
	}
	t.s.mu.RLock()
	defer t.s.mu.RUnlock()
	return sessionsOf(t.s.targets[t.key], i)
}

// DisableRegion makes region answer account's requests with
// UnrecognizedClientException, as SSM answers valid credentials in an
// opt-in region the account has not enabled.
func (s *Server) DisableRegion(account, region string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.disabled == nil {
		s.disabled = map[targetKey]bool{}
	}
	s.disabled[targetKey{account, region}] = true
}

// DenyAccount makes every region answer account's requests with
// AccessDeniedException, as SSM answers a role without
// ssm:DescribeSessions.
func (s *Server) DenyAccount(account string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.denied == nil {
		s.denied = map[string]bool{}
	}
	s.denied[account] = true
}

// refuse answers the error of a request from id that the account or
// region refuses, or nil.
func (s *Server) refuse(id stsfake.Identity) *apiError {
	s.mu.RLock()
	defer s.mu.RUnlock()
	switch {
	case s.disabled[targetKey{id.Account, id.Region}]:
		return &apiError{status: http.StatusBadRequest, code: codeUnrecognizedClient, message: "The security token included in the request is invalid."}
	case s.denied[id.Account]:
		return &apiError{status: http.StatusBadRequest, code: codeAccessDenied,
			message: fmt.Sprintf("User: arn:aws:sts::%s:assumed-role/reader/session is not authorized to perform: ssm:DescribeSessions on resource: arn:aws:ssm:%s:%s:* because no identity-based policy allows the ssm:DescribeSessions action", id.Account, id.Region, id.Account)}
	}
	return nil
}

// storeFor returns the sessions served to account in region; s.mu is
// held.
func (s *Server) storeFor(account, region string) *store {
	if st := s.targets[targetKey{account, region}]; st != nil {
		return st
	}
	if account == stsfake.LocalAccount {
		return &s.st
	}
	return noSessions
}

// stateIndex maps a State to its list.
func stateIndex(state string) (int, bool) {
	switch state {
	case "Active":
		return stateActive, true
	case "History":
		return stateHistory, true
	}
	return 0, false
}
