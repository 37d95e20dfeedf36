package stack_test

import (
	"fmt"
	"testing"
)

// ruleValue evaluates the parts of a template rule this template uses:
// Ref, Fn::Equals, Fn::Not, Fn::And, Fn::Contains.
func ruleValue(t *testing.T, v any, params map[string]string) any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		if l, ok := v.([]any); ok {
			out := make([]any, len(l))
			for i, x := range l {
				out[i] = ruleValue(t, x, params)
			}
			return out
		}
		return scalarString(v)
	}
	for fn, arg := range m {
		args := asList(arg)
		switch fn {
		case "Ref":
			return params[scalarString(arg)]
		case "Fn::Equals":
			return ruleValue(t, args[0], params) == ruleValue(t, args[1], params)
		case "Fn::Not":
			return !ruleValue(t, args[0], params).(bool)
		case "Fn::And":
			for _, a := range args {
				if !ruleValue(t, a, params).(bool) {
					return false
				}
			}
			return true
		case "Fn::Contains":
			want := ruleValue(t, args[1], params)
			for _, x := range ruleValue(t, args[0], params).([]any) {
				if x == want {
					return true
				}
			}
			return false
		}
		t.Fatalf("rule function %s", fn)
	}
	return nil
}

// refused says which rule, if any, refuses the parameters.
func refused(t *testing.T, tpl map[string]any, params map[string]string) string {
	t.Helper()
	all := map[string]string{}
	for name, def := range asMap(tpl["Parameters"]) {
		all[name] = scalarString(asMap(def)["Default"])
	}
	for k, v := range params {
		all[k] = v
	}
	for name, raw := range asMap(tpl["Rules"]) {
		rule := asMap(raw)
		if c, ok := rule["RuleCondition"]; ok && !ruleValue(t, c, all).(bool) {
			continue
		}
		for _, a := range asList(rule["Assertions"]) {
			if !ruleValue(t, asMap(a)["Assert"], all).(bool) {
				return name
			}
		}
	}
	return ""
}

// TestObjectLockParameters: ObjectLockMode creates the bucket with Object
// Lock and a default retention of ObjectLockDays; the template's rules
// refuse a lifecycle expiry (RetentionDays) shorter than the retention and
// Object Lock on an existing bucket, and accept the rest.
func TestObjectLockParameters(t *testing.T) {
	tpl := loadTemplate(t)
	for _, tc := range []struct {
		params  map[string]string
		refused bool
	}{
		{map[string]string{}, false},
		{map[string]string{"RetentionDays": "30"}, false}, // no Object Lock: any expiry
		{map[string]string{"ObjectLockMode": "GOVERNANCE", "ObjectLockDays": "365"}, false},
		{map[string]string{"ObjectLockMode": "COMPLIANCE", "ObjectLockDays": "365", "RetentionDays": "365"}, false},
		{map[string]string{"ObjectLockMode": "COMPLIANCE", "ObjectLockDays": "365", "RetentionDays": "2555"}, false},
		{map[string]string{"ObjectLockMode": "COMPLIANCE", "ObjectLockDays": "365", "RetentionDays": "180"}, true},
		{map[string]string{"ObjectLockMode": "GOVERNANCE", "ObjectLockDays": "2555", "RetentionDays": "1825"}, true},
		{map[string]string{"ObjectLockMode": "GOVERNANCE", "ObjectLockDays": "30", "RetentionDays": "45"}, true}, // not on the ladder
		{map[string]string{"ObjectLockMode": "GOVERNANCE", "ExistingBucketName": "their-bucket"}, true},
	} {
		if got := refused(t, tpl, tc.params); (got != "") != tc.refused {
			t.Errorf("%v: refused by %q; want refused=%v", tc.params, got, tc.refused)
		}
	}
	for _, mode := range []string{"GOVERNANCE", "COMPLIANCE"} {
		props := resolve(t, tpl, map[string]string{"ObjectLockMode": mode, "ObjectLockDays": "730"}).props(t, "AuditBucket")
		got := fmt.Sprint(props["ObjectLockEnabled"], props["ObjectLockConfiguration"])
		if want := fmt.Sprintf("true map[ObjectLockEnabled:Enabled Rule:map[DefaultRetention:map[Days:730 Mode:%s]]]", mode); got != want {
			t.Errorf("%s bucket: %s; want %s", mode, got, want)
		}
	}
	props := resolve(t, tpl, nil).props(t, "AuditBucket")
	if _, ok := props["ObjectLockConfiguration"]; ok {
		t.Errorf("Object Lock without ObjectLockMode: %v", props["ObjectLockConfiguration"])
	}
}
