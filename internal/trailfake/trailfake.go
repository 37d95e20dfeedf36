// Package trailfake writes CloudTrail log files for the local demo and the
// tests: the Session Manager events of a set of sessions (a StartSession
// for every one, a TerminateSession or ResumeSession for some) and denied
// attempts, in the trail's real layout (cloudtrail.ObjectKey) and shape
// (gzip JSON {"Records":[...]}).
package trailfake

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	randv2 "math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/session-audit/session-audit/internal/cloudtrail"
	"github.com/session-audit/session-audit/internal/owner"
)

// Record is one CloudTrail event as the trail writes it. Fields CloudTrail
// leaves out are omitted; responseElements is null on a failed call.
type Record struct {
	EventVersion                 string         `json:"eventVersion"`
	UserIdentity                 Identity       `json:"userIdentity"`
	EventTime                    string         `json:"eventTime"`
	EventSource                  string         `json:"eventSource"`
	EventName                    string         `json:"eventName"`
	AWSRegion                    string         `json:"awsRegion"`
	SourceIPAddress              string         `json:"sourceIPAddress"`
	UserAgent                    string         `json:"userAgent"`
	ErrorCode                    string         `json:"errorCode,omitempty"`
	ErrorMessage                 string         `json:"errorMessage,omitempty"`
	RequestParameters            map[string]any `json:"requestParameters"`
	ResponseElements             map[string]any `json:"responseElements"`
	RequestID                    string         `json:"requestID"`
	EventID                      string         `json:"eventID"`
	ReadOnly                     bool           `json:"readOnly"`
	EventType                    string         `json:"eventType"`
	ManagementEvent              bool           `json:"managementEvent"`
	RecipientAccountID           string         `json:"recipientAccountId"`
	EventCategory                string         `json:"eventCategory"`
	TLSDetails                   *TLSDetails    `json:"tlsDetails,omitempty"`
	SessionCredentialFromConsole string         `json:"sessionCredentialFromConsole,omitempty"`
}

// Identity is userIdentity.
type Identity struct {
	Type           string          `json:"type"`
	PrincipalID    string          `json:"principalId"`
	ARN            string          `json:"arn"`
	AccountID      string          `json:"accountId"`
	AccessKeyID    string          `json:"accessKeyId,omitempty"`
	UserName       string          `json:"userName,omitempty"`
	SessionContext *SessionContext `json:"sessionContext,omitempty"`
}

// SessionContext is userIdentity.sessionContext: absent for long-term
// access keys.
type SessionContext struct {
	SessionIssuer       *Issuer    `json:"sessionIssuer,omitempty"`
	WebIDFederationData *struct{}  `json:"webIdFederationData,omitempty"`
	Attributes          Attributes `json:"attributes"`
}

// Issuer is sessionContext.sessionIssuer: the role of a role session.
type Issuer struct {
	Type        string `json:"type"`
	PrincipalID string `json:"principalId"`
	ARN         string `json:"arn"`
	AccountID   string `json:"accountId"`
	UserName    string `json:"userName"`
}

// Attributes are sessionContext.attributes.
type Attributes struct {
	CreationDate     string `json:"creationDate"`
	MFAAuthenticated string `json:"mfaAuthenticated"`
}

// TLSDetails is tlsDetails.
type TLSDetails struct {
	TLSVersion               string `json:"tlsVersion"`
	CipherSuite              string `json:"cipherSuite"`
	ClientProvidedHostHeader string `json:"clientProvidedHostHeader"`
}

// User agents of the ways a session starts: the Session Manager console
// calls StartSession from AWS's side (aws-internal), the CLI with the
// Session Manager plugin, and SDK tools.
const (
	ConsoleAgent = "aws-internal/3 aws-sdk-java/1.12.772 Linux/5.10.226-193.880.amzn2int.x86_64 OpenJDK_64-Bit_Server_VM/25.422-b05 java/1.8.0_422 vendor/Oracle_Corporation cfg/retry-mode/standard"
	CLIAgent     = "aws-cli/2.22.12 md/awscrt#0.23.4 ua/2.0 os/linux#6.8.0-1019-aws md/arch#x86_64 lang/python#3.12.6 md/pyimpl#CPython exe/x86_64.ubuntu.24 cfg/retry-mode#standard md/installer#exe md/distrib#ubuntu.24 md/prompt#off md/command#ssm.start-session"
	SDKAgent     = "Boto3/1.35.81 md/Botocore#1.35.81 ua/2.0 os/linux#6.1.119-129.201.amzn2023.x86_64 md/arch#x86_64 lang/python#3.12.8 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.35.81"
)

// Options say what to generate.
type Options struct {
	Seed int64
	// Account and Region are the trail's account and region of every event.
	Account, Region string
	// Denied is how many refused StartSession attempts to add, spread over
	// [From, To).
	Denied   int
	From, To time.Time
}

// Generate returns the Session Manager events of the sessions and the
// denied attempts, by event time. Every session gets a StartSession at its
// start whose responseElements.sessionId is its id; about half of the
// ended ones a TerminateSession at their end; one in twenty a
// ResumeSession. Source addresses: most from the office 198.51.100.0/24 or
// the VPN 10.20.0.0/16, about one in twenty-five from elsewhere
// (203.0.113.0/24, 192.0.2.0/24 or 2001:db8::/32). About a third start in
// the console, most others with the CLI, a few with an SDK.
func Generate(sessions []types.Session, o Options) []Record {
	rng := randv2.New(randv2.NewPCG(uint64(o.Seed), 0x747261696c))
	var out []Record
	for _, s := range sessions {
		id, arn := aws.ToString(s.SessionId), aws.ToString(s.Owner)
		start := aws.ToTime(s.StartDate)
		c := pickClient(rng, arn)
		r := base(rng, o, arn, c, start, "StartSession")
		params := map[string]any{"target": aws.ToString(s.Target)}
		if s.DocumentName != nil {
			params["documentName"] = *s.DocumentName
		}
		if s.Reason != nil {
			params["reason"] = *s.Reason
		}
		r.RequestParameters = params
		r.ResponseElements = stream(o.Region, id)
		out = append(out, r)
		if s.EndDate != nil && s.Status == types.SessionStatusTerminated {
			end := aws.ToTime(s.EndDate)
			if rng.IntN(20) == 0 && end.Sub(start) > 2*time.Minute {
				r := base(rng, o, arn, c, start.Add(end.Sub(start)/2), "ResumeSession")
				r.RequestParameters = map[string]any{"sessionId": id}
				r.ResponseElements = stream(o.Region, id)
				out = append(out, r)
			}
			if rng.IntN(2) == 0 {
				r := base(rng, o, arn, c, end, "TerminateSession")
				r.RequestParameters = map[string]any{"sessionId": id}
				r.ResponseElements = map[string]any{"sessionId": id}
				out = append(out, r)
			}
		}
	}
	out = append(out, denied(rng, sessions, o)...)
	slices.SortStableFunc(out, func(a, b Record) int { return strings.Compare(a.EventTime, b.EventTime) })
	return out
}

// client is how and from where a principal connects.
type client struct {
	agent, ip string
	mfa       string // "", "true" or "false"; "" leaves sessionContext out
	console   bool
}

func pickClient(rng *randv2.Rand, arn string) client {
	var c client
	switch u := rng.IntN(100); {
	case u < 35:
		c.agent, c.console = ConsoleAgent, true
	case u < 94:
		c.agent = CLIAgent
	default:
		c.agent = SDKAgent
	}
	switch u := rng.IntN(100); {
	case u < 60:
		c.ip = fmt.Sprintf("198.51.100.%d", 1+rng.IntN(254))
	case u < 96:
		c.ip = fmt.Sprintf("10.20.%d.%d", rng.IntN(256), 1+rng.IntN(254))
	case u < 98:
		c.ip = fmt.Sprintf("203.0.113.%d", 1+rng.IntN(254))
	case u < 99:
		c.ip = fmt.Sprintf("192.0.2.%d", 1+rng.IntN(254))
	default:
		c.ip = fmt.Sprintf("2001:db8:%x::%x", rng.IntN(0xffff), 1+rng.IntN(0xfffe))
	}
	p := owner.Parse(arn)
	switch {
	case p.Kind == owner.KindUser && !c.console:
		c.mfa = "" // long-term access keys: no session context
	case p.Kind == owner.KindRoot || p.Role == "BreakGlass":
		c.mfa = "true"
	case p.Kind == owner.KindUser:
		c.mfa = map[bool]string{true: "true", false: "false"}[rng.IntN(10) < 7]
	default:
		c.mfa = "false"
	}
	return c
}

func base(rng *randv2.Rand, o Options, arn string, c client, at time.Time, name string) Record {
	r := Record{
		EventVersion: "1.09", UserIdentity: identity(rng, arn, c, at),
		EventTime: at.UTC().Format(time.RFC3339), EventSource: "ssm.amazonaws.com", EventName: name,
		AWSRegion: o.Region, SourceIPAddress: c.ip, UserAgent: c.agent,
		RequestID: uuid(rng), EventID: uuid(rng), EventType: "AwsApiCall", ManagementEvent: true,
		RecipientAccountID: o.Account, EventCategory: "Management",
	}
	if c.console {
		r.SessionCredentialFromConsole = "true"
	} else {
		r.TLSDetails = &TLSDetails{TLSVersion: "TLSv1.3", CipherSuite: "TLS_AES_128_GCM_SHA256", ClientProvidedHostHeader: "ssm." + o.Region + ".amazonaws.com"}
	}
	return r
}

func identity(rng *randv2.Rand, arn string, c client, at time.Time) Identity {
	p := owner.Parse(arn)
	id := Identity{ARN: arn, AccountID: p.Account, AccessKeyID: "ASIA" + upperID(rng, 16)}
	ctx := &SessionContext{Attributes: Attributes{CreationDate: at.Add(-37 * time.Minute).UTC().Format(time.RFC3339), MFAAuthenticated: c.mfa}}
	switch p.Kind {
	case owner.KindRoot:
		id.Type, id.PrincipalID = "Root", p.Account
	case owner.KindUser:
		id.Type, id.PrincipalID, id.UserName = "IAMUser", "AIDA"+upperID(rng, 17), p.Name
		if c.mfa == "" {
			id.AccessKeyID, ctx = "AKIA"+upperID(rng, 16), nil
		}
	case owner.KindSSO, owner.KindRole:
		role := strings.Split(arn, "/")[1]
		path := "/"
		if p.Kind == owner.KindSSO {
			path = "/aws-reserved/sso.amazonaws.com/"
		}
		roleID := "AROA" + upperID(rng, 17)
		id.Type, id.PrincipalID = "AssumedRole", roleID+":"+p.Name
		ctx.SessionIssuer = &Issuer{Type: "Role", PrincipalID: roleID, AccountID: p.Account, UserName: role,
			ARN: "arn:aws:iam::" + p.Account + ":role" + path + role}
		ctx.WebIDFederationData = &struct{}{}
	default:
		id.Type, id.PrincipalID = "Unknown", p.Name
	}
	id.SessionContext = ctx
	return id
}

func stream(region, id string) map[string]any {
	return map[string]any{
		"sessionId":  id,
		"tokenValue": "Value hidden due to security reasons.",
		"streamUrl":  "wss://ssmmessages." + region + ".amazonaws.com/v1/data-channel/" + id + "?role=publish_subscribe",
	}
}

// strangers are principals refused every time: they own no session.
var strangers = []string{
	"arn:aws:sts::%s:assumed-role/AWSReservedSSO_ReadOnlyAccess_9a8b7c6d5e4f3a2b/mallory@example.com",
	"arn:aws:sts::%s:assumed-role/ci-deploy/gh-actions-run-4411",
	"arn:aws:iam::%s:user/intern-2026",
}

// denied are refused StartSession calls: AccessDenied (no policy allows
// the target) or TargetNotConnected (the agent is offline), with
// responseElements null. They come as people do: about thirty principal
// and target pairs, a few tried again and again, the error the same for a
// pair.
func denied(rng *randv2.Rand, sessions []types.Session, o Options) []Record {
	if o.Denied <= 0 || len(sessions) == 0 || !o.To.After(o.From) {
		return nil
	}
	type pair struct {
		arn, target string
		offline     bool
	}
	pairs := make([]pair, 30)
	for i := range pairs {
		s := sessions[rng.IntN(len(sessions))]
		p := pair{arn: aws.ToString(s.Owner), target: aws.ToString(s.Target), offline: rng.IntN(4) == 0}
		if rng.IntN(3) == 0 {
			p.arn = fmt.Sprintf(strangers[rng.IntN(len(strangers))], o.Account)
		}
		pairs[i] = p
	}
	var out []Record
	span := o.To.Sub(o.From)
	for range o.Denied {
		u := rng.Float64()
		p := pairs[int(u*u*float64(len(pairs)))]
		at := o.From.Add(time.Duration(rng.Int64N(int64(span))) / time.Second * time.Second)
		r := base(rng, o, p.arn, pickClient(rng, p.arn), at, "StartSession")
		r.RequestParameters = map[string]any{"target": p.target}
		r.ResponseElements = nil
		if p.offline {
			r.ErrorCode, r.ErrorMessage = "TargetNotConnected", p.target+" is not connected."
		} else {
			r.ErrorCode = "AccessDenied"
			r.ErrorMessage = fmt.Sprintf("User: %s is not authorized to perform: ssm:StartSession on resource: arn:aws:ec2:%s:%s:instance/%s because no identity-based policy allows the ssm:StartSession action",
				p.arn, o.Region, o.Account, p.target)
		}
		out = append(out, r)
	}
	return out
}

func uuid(rng *randv2.Rand) string {
	a, b := rng.Uint64(), rng.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xfff, 0x8000|(b>>48)&0x3fff, b&0xffffffffffff)
}

func upperID(rng *randv2.Rand, n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

// File is one delivered log file.
type File struct {
	Key  string
	Body []byte // gzip of {"Records":[...]}
}

// Files groups the records as CloudTrail delivers them: one file per
// account, region and five minutes of event time, delivered five minutes
// after its window ends (so that the last minutes of a day land in the
// next day's folder, as in a real trail), under prefix (a location's
// Prefix, ending in AWSLogs/ or AWSLogs/o-…/).
func Files(prefix string, records []Record, seed int64) ([]File, error) {
	rng := randv2.New(randv2.NewPCG(uint64(seed), 0x66696c6573))
	type group struct {
		account, region string
		window          time.Time
	}
	byGroup := map[group][]Record{}
	var order []group
	for _, r := range records {
		t, err := time.Parse(time.RFC3339, r.EventTime)
		if err != nil {
			return nil, fmt.Errorf("record %s: eventTime %q: %w", r.EventID, r.EventTime, err)
		}
		g := group{r.RecipientAccountID, r.AWSRegion, t.Truncate(5 * time.Minute)}
		if _, ok := byGroup[g]; !ok {
			order = append(order, g)
		}
		byGroup[g] = append(byGroup[g], r)
	}
	var out []File
	for _, g := range order {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if err := json.NewEncoder(zw).Encode(map[string][]Record{"Records": byGroup[g]}); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
		delivered := g.window.Add(10 * time.Minute)
		out = append(out, File{Key: cloudtrail.ObjectKey(prefix, g.account, g.region, delivered, strings.ToLower(upperID(rng, 16))), Body: buf.Bytes()})
	}
	return out, nil
}
