package outcome_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/session-audit/session-audit/internal/outcome"
)

func TestRefused(t *testing.T) {
	api := func(code string) error {
		return fmt.Errorf("slot 2026-11-24: operation error SSM: DescribeSessions: %w", &smithy.GenericAPIError{Code: code, Message: "m"})
	}
	for _, tt := range []struct {
		err     error
		want    outcome.Status
		refused bool
	}{
		{api("AccessDenied"), outcome.Denied, true},
		{api("AccessDeniedException"), outcome.Denied, true},
		{api("UnrecognizedClientException"), outcome.RegionDisabled, true},
		{api("InvalidClientTokenId"), outcome.RegionDisabled, true},
		{api("ThrottlingException"), "", false},
		{api("InternalServerError"), "", false},
		{context.DeadlineExceeded, "", false},
		{errors.Join(errors.New("other"), api("AccessDeniedException")), outcome.Denied, true},
		{nil, "", false},
	} {
		got, refused := outcome.Refused(tt.err)
		if got != tt.want || refused != tt.refused {
			t.Errorf("Refused(%v) = %q, %v; want %q, %v", tt.err, got, refused, tt.want, tt.refused)
		}
	}
	if got := outcome.Message(api("AccessDenied")); got != "AccessDenied: m" {
		t.Errorf("Message = %q", got)
	}
}
