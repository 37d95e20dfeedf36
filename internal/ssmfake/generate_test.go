package ssmfake_test

import (
	"context"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/session-audit/session-audit/internal/ssmfake"
)

var (
	targetPattern = regexp.MustCompile(`^(i|mi)-0[0-9a-f]{16}$`)
	ownerPattern  = regexp.MustCompile(`^arn:aws:(iam::123456789012:(user/[a-z-]+|root)|sts::123456789012:assumed-role/(AWSReservedSSO_[A-Za-z]+_[0-9a-f]{16}/[a-z]+@example\.com|BreakGlass/[a-z-]+))$`)
)

func TestGenerateIsDeterministic(t *testing.T) {
	start, end := t0.Add(-24*time.Hour), t0
	a := ssmfake.Generate(42, start, end, 500)
	b := ssmfake.Generate(42, start, end, 500)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different sessions")
	}
	if c := ssmfake.Generate(43, start, end, 500); reflect.DeepEqual(a, c) {
		t.Fatal("different seeds, same sessions")
	}
	if ssmfake.Generate(1, start, end, 0) != nil || ssmfake.Generate(1, start, end, -3) != nil {
		t.Error("no sessions asked, some given")
	}
	for _, s := range ssmfake.Generate(1, end, start, 20) {
		if !s.StartDate.Equal(end) {
			t.Fatalf("empty span: StartDate %v, want %v", s.StartDate, end)
		}
	}
}

func TestGenerateIsRealistic(t *testing.T) {
	start, end := t0.Add(-7*24*time.Hour), t0
	ss := ssmfake.Generate(7, start, end, 20000)
	ids := map[string]bool{}
	targets := map[string]bool{}
	count := map[string]int{}
	for _, s := range ss {
		id := aws.ToString(s.SessionId)
		if ids[id] {
			t.Fatalf("duplicate id %s", id)
		}
		ids[id] = true
		if !idPattern.MatchString(id) {
			t.Fatalf("session id %q", id)
		}
		owner := aws.ToString(s.Owner)
		if !ownerPattern.MatchString(owner) {
			t.Fatalf("owner %q", owner)
		}
		name := owner[strings.LastIndex(owner, "/")+1:]
		if strings.HasSuffix(owner, ":root") {
			name = "root"
		}
		if !strings.HasPrefix(id, name+"-") {
			t.Fatalf("session id %s not named after owner %s", id, owner)
		}
		if !targetPattern.MatchString(aws.ToString(s.Target)) {
			t.Fatalf("target %q", aws.ToString(s.Target))
		}
		targets[aws.ToString(s.Target)] = true
		st := *s.StartDate
		if st.Before(start) || !st.Before(end) || st.Nanosecond()%int(time.Millisecond) != 0 || st.Location() != time.UTC {
			t.Fatalf("StartDate %v", st)
		}
		switch s.Status {
		case types.SessionStatusTerminated:
			if s.EndDate == nil || s.EndDate.Before(st) || !s.EndDate.Before(end) || s.EndDate.Nanosecond()%int(time.Millisecond) != 0 {
				t.Fatalf("terminated %s: %v to %v", id, st, s.EndDate)
			}
			if s.EndDate.Sub(st) > 12*time.Hour {
				t.Fatalf("session of %v", s.EndDate.Sub(st))
			}
		case types.SessionStatusFailed:
			if s.EndDate != nil && !s.EndDate.Equal(st) {
				t.Fatalf("failed %s ends %v", id, s.EndDate)
			}
			if s.EndDate == nil {
				count["failed without end"]++
			}
		case types.SessionStatusConnected, types.SessionStatusDisconnected, types.SessionStatusConnecting, types.SessionStatusTerminating:
			if s.EndDate != nil || end.Sub(st) > 12*time.Hour {
				t.Fatalf("active %s started %v ago", id, end.Sub(st))
			}
		default:
			t.Fatalf("status %q", s.Status)
		}
		count[string(s.Status)]++
		count["doc "+aws.ToString(s.DocumentName)]++
		count["access "+string(s.AccessType)]++
		if s.MaxSessionDuration != nil {
			count["max "+*s.MaxSessionDuration]++
		}
		if r := aws.ToString(s.Reason); r != "" {
			count["reason"]++
			if strings.Contains(r, "\n") {
				count["reason newline"]++
			}
			if strings.Contains(r, `"`) {
				count["reason quote"]++
			}
			if !isASCII(r) {
				count["reason non-ASCII"]++
			}
		}
		if s.Details != nil {
			count["details"]++
		}
		if s.OutputUrl != nil {
			if s.OutputUrl.S3OutputUrl != nil {
				count["s3"]++
			}
			if s.OutputUrl.CloudWatchOutputUrl != nil {
				count["cw"]++
			}
		}
		if strings.HasSuffix(owner, ":root") {
			count["root"]++
		}
		if strings.Contains(owner, "BreakGlass") {
			count["breakglass"]++
		}
		if strings.HasPrefix(aws.ToString(s.Target), "mi-") {
			count["managed"]++
		}
		if h := st.Hour(); st.Weekday() != time.Saturday && st.Weekday() != time.Sunday && h >= 8 && h < 18 {
			count["office hours"]++
		}
	}
	if len(targets) < 100 || len(targets) > 200 {
		t.Errorf("%d targets", len(targets))
	}
	for _, k := range []string{"Terminated", "Failed", "Connected", "failed without end", "doc ",
		"doc SSM-SessionManagerRunShell", "doc AWS-StartPortForwardingSession", "doc AWS-StartSSHSession",
		"doc AWS-StartInteractiveCommand", "doc AWS-StartPortForwardingSessionToRemoteHost",
		"access Standard", "access JustInTime", "max 60", "reason", "reason newline", "reason quote",
		"reason non-ASCII", "details", "s3", "cw", "root", "breakglass", "managed"} {
		if count[k] == 0 {
			t.Errorf("no %q among %d sessions", k, len(ss))
		}
	}
	if count["Terminated"] < len(ss)*9/10 {
		t.Errorf("only %d of %d Terminated", count["Terminated"], len(ss))
	}
	if count["Connected"] > len(ss)/50 {
		t.Errorf("%d of %d still Connected", count["Connected"], len(ss))
	}
	if count["access Standard"] < count["access JustInTime"]*5 {
		t.Errorf("access types %d/%d", count["access Standard"], count["access JustInTime"])
	}
	// 50 of 168 hours are weekday office hours; they get most sessions.
	if count["office hours"] < len(ss)/2 {
		t.Errorf("%d of %d in office hours", count["office hours"], len(ss))
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// Generated sessions survive the wire: the SDK reads back exactly what
// was generated.
func TestGeneratedSessionsRoundTrip(t *testing.T) {
	gen := ssmfake.Generate(9, t0.Add(-48*time.Hour), t0, 3000)
	srv := ssmfake.New(ssmfake.WithSessions(gen))
	c := serve(t, srv)
	byID := map[string]types.Session{}
	for _, s := range gen {
		byID[aws.ToString(s.SessionId)] = s
	}
	n := 0
	for _, state := range []types.SessionState{"History", "Active"} {
		res, err := pageAll(context.Background(), c, ssm.DescribeSessionsInput{State: state, MaxResults: aws.Int32(200)}, 100)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(res.sessions, srv.Sessions(string(state))) {
			t.Fatalf("%s: the SDK read other sessions than Sessions holds", state)
		}
		for _, s := range res.sessions {
			if g := byID[aws.ToString(s.SessionId)]; !reflect.DeepEqual(s, g) {
				t.Fatalf("read\n%s\ngenerated\n%s", dump([]types.Session{s}), dump([]types.Session{g}))
			}
			n++
		}
	}
	if n != len(gen) {
		t.Fatalf("read %d sessions, generated %d", n, len(gen))
	}
}
