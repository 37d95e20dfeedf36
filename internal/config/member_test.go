package config_test

import (
	"strings"
	"testing"
)

func TestMemberRole(t *testing.T) {
	c, err := load(map[string]string{"AUDIT_BUCKET": "b-1", "AUDIT_MEMBER_ROLE": "audit/session-reader", "AUDIT_MEMBER_EXTERNAL_ID": "org:ext-1"})
	if err != nil {
		t.Fatal(err)
	}
	if c.MemberRole != "audit/session-reader" || c.MemberExternalID != "org:ext-1" {
		t.Errorf("config = %+v", c)
	}
	c, err = load(map[string]string{"AUDIT_BUCKET": "b-1"})
	if err != nil || c.MemberRole != "" || c.MemberExternalID != "" {
		t.Errorf("without member role: %+v, %v", c, err)
	}
}

func TestBadMemberValuesNameTheVariable(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"AUDIT_MEMBER_ROLE": "arn:aws:iam::111122223333:role/reader"}, "AUDIT_MEMBER_ROLE"},
		{map[string]string{"AUDIT_MEMBER_ROLE": "reader role"}, "AUDIT_MEMBER_ROLE"},
		{map[string]string{"AUDIT_MEMBER_ROLE": strings.Repeat("r", 65)}, "AUDIT_MEMBER_ROLE"},
		{map[string]string{"AUDIT_MEMBER_ROLE": "/reader"}, "AUDIT_MEMBER_ROLE"},
		{map[string]string{"AUDIT_MEMBER_EXTERNAL_ID": "ext-1"}, "AUDIT_MEMBER_EXTERNAL_ID is set but AUDIT_MEMBER_ROLE is not"},
		{map[string]string{"AUDIT_MEMBER_ROLE": "reader", "AUDIT_MEMBER_EXTERNAL_ID": "x"}, "AUDIT_MEMBER_EXTERNAL_ID"},
		{map[string]string{"AUDIT_MEMBER_ROLE": "reader", "AUDIT_MEMBER_EXTERNAL_ID": "has space"}, "AUDIT_MEMBER_EXTERNAL_ID"},
		{map[string]string{"AUDIT_MEMBER_ROLE": "reader", "AUDIT_MEMBER_EXTERNAL_ID": strings.Repeat("x", 1225)}, "AUDIT_MEMBER_EXTERNAL_ID"},
	} {
		env := map[string]string{"AUDIT_BUCKET": "bucket"}
		for k, v := range tt.env {
			env[k] = v
		}
		_, err := load(env)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: error %v, want it to name %s", tt.env, err, tt.want)
		}
	}
}
