package ssmfake

import (
	"math"
	randv2 "math/rand/v2"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// generatedAccount is the account of every generated ARN.
const generatedAccount = "123456789012"

// owner is a principal that starts sessions: its ARN and the prefix SSM
// gives its session ids (the user or role session name).
type owner struct {
	arn, prefix string
}

var (
	iamUsers = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
		"ivan", "judy", "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent",
		"victor", "walter", "deploy-bot", "ci-runner"}
	ssoPermissionSets = []string{
		"AWSReservedSSO_AdministratorAccess_abcdef0123456789",
		"AWSReservedSSO_PowerUserAccess_0f1e2d3c4b5a6978",
		"AWSReservedSSO_ReadOnlyAccess_9a8b7c6d5e4f3a2b",
		"AWSReservedSSO_SSMSessionOperator_5c4d3e2f1a0b9c8d",
	}
	ssoUsers       = []string{"bob", "carol", "dave", "erin", "grace", "heidi", "ivan", "judy", "olivia", "peggy", "sybil", "walter"}
	breakGlassUser = []string{"oncall-alice", "oncall-trent", "oncall-victor"}

	documentNames = []string{
		"SSM-SessionManagerRunShell",
		"AWS-StartPortForwardingSession",
		"AWS-StartSSHSession",
		"AWS-StartInteractiveCommand",
		"AWS-StartPortForwardingSessionToRemoteHost",
	}
	// documentWeights are cumulative percentages: none, then documentNames.
	documentWeights = []int{45, 75, 85, 92, 96, 100}

	reasons = []string{
		"Investigating high CPU on web-01",
		"INC-20417: restart nginx after config push",
		`Deploy hotfix "v2.3.1" to prod`,
		"Rotate TLS certificate\nChange ticket CHG-3321",
		"Überprüfung der Protokolle – Störung #42",
		"修复数据库连接问题",
		"Debug 🚀 \"quoted\" path C:\\temp\\logs",
		"Patch window\tweekly\tmaintenance",
		"'single quotes', <angle brackets> & ampersands",
		"Check disk usage",
	}
	details = []string{
		`{"ticket":"CHG-1234","approver":"carol"}`,
		"JIT request req-0a1b2c3d approved by security",
		"break-glass: pager incident P-778",
	}
	maxDurations = []string{"60", "60", "60", "120", "480"}
)

// pools holds the values generated sessions share: a session points at a
// pool's strings instead of owning copies.
type pools struct {
	owners     []owner // IAM users, then SSO roles, then break-glass, then root
	nIAM, nSSO int
	nBreak     int
	targets    []string
	docs       []string
	reasons    []string
	details    []string
	maxDur     []string
}

func newPools(rng *randv2.Rand) *pools {
	p := &pools{
		docs:    append([]string(nil), documentNames...),
		reasons: append([]string(nil), reasons...),
		details: append([]string(nil), details...),
		maxDur:  append([]string(nil), maxDurations...),
	}
	for _, u := range iamUsers {
		p.owners = append(p.owners, owner{"arn:aws:iam::" + generatedAccount + ":user/" + u, u})
	}
	p.nIAM = len(p.owners)
	for i, u := range ssoUsers {
		email := u + "@example.com"
		// Most people hold one permission set, a few two.
		for j, ps := range ssoPermissionSets {
			if (i+j)%4 == 0 || (j == 0 && i%3 == 0) {
				p.owners = append(p.owners, owner{"arn:aws:sts::" + generatedAccount + ":assumed-role/" + ps + "/" + email, email})
			}
		}
	}
	p.nSSO = len(p.owners) - p.nIAM
	for _, u := range breakGlassUser {
		p.owners = append(p.owners, owner{"arn:aws:sts::" + generatedAccount + ":assumed-role/BreakGlass/" + u, u})
	}
	p.nBreak = len(p.owners) - p.nIAM - p.nSSO
	p.owners = append(p.owners, owner{"arn:aws:iam::" + generatedAccount + ":root", "root"})

	const nTargets = 200
	p.targets = make([]string, nTargets)
	for i := range p.targets {
		prefix := "i-0"
		if i%7 == 6 {
			prefix = "mi-0" // about one in seven is a hybrid managed node
		}
		p.targets[i] = prefix + hex16(rng.Uint64())
	}
	return p
}

// pickOwner returns the index of a session's owner: SSO roles most, IAM
// users next, break-glass rarely, root very rarely; within a group a few
// principals are much busier than the rest.
func (p *pools) pickOwner(rng *randv2.Rand) int {
	skew := func(n int) int { u := rng.Float64(); return int(u * u * float64(n)) }
	switch u := rng.Float64(); {
	case u < 0.55:
		return p.nIAM + skew(p.nSSO)
	case u < 0.955:
		return skew(p.nIAM)
	case u < 0.998:
		return p.nIAM + p.nSSO + skew(p.nBreak)
	default:
		return len(p.owners) - 1
	}
}

// hex16 formats v as 16 lowercase hex digits.
func hex16(v uint64) string {
	var b [16]byte
	appendHex16(b[:0], v)
	return string(b[:])
}

func appendHex16(b []byte, v uint64) []byte {
	const digits = "0123456789abcdef"
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, digits[(v>>uint(shift))&0xf])
	}
	return b
}

// mix64 is the SplitMix64 finalizer, a bijection on uint64: distinct
// inputs give distinct session id suffixes.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// activityWeight is the relative chance that a session starts at ms
// (Unix milliseconds, UTC): weekday office hours are busiest.
func activityWeight(ms int64) float64 {
	const hour, day = int64(time.Hour / time.Millisecond), int64(24 * time.Hour / time.Millisecond)
	days := floorDiv(ms, day)
	h := floorDiv(ms-days*day, hour)
	weekday := (days + 4) % 7 // 1970-01-01 was a Thursday; 0 is Sunday
	if weekday < 0 {
		weekday += 7
	}
	switch {
	case weekday == 0 || weekday == 6:
		return 0.15
	case h >= 8 && h < 18:
		return 1
	}
	return 0.3
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// Generate returns n sessions with StartDate spread over [start, end),
// deterministic for a seed. They look like what SSM returns for a busy
// account: session ids of the owner's name and 17 hex digits; about 200
// EC2 and hybrid targets; IAM users, SSO roles, a BreakGlass role and
// rarely root as owners; mostly shell sessions plus port forwarding, SSH
// and interactive commands; log-normal durations from seconds to hours;
// some Failed sessions (no EndDate, or EndDate equal to StartDate);
// occasional reasons (with quotes, newlines and non-ASCII text), details,
// output URLs, MaxSessionDuration and JustInTime access. Sessions that
// would still run at end are Active (mostly Connected) without EndDate;
// all others are History. Times have millisecond precision. If end is not
// after start, every session starts at start.
//
// Sessions share the pooled values they point to (owners, targets,
// documents, reasons...): treat what the pointers reach as read-only.
func Generate(seed int64, start, end time.Time, n int) []types.Session {
	if n <= 0 {
		return nil
	}
	rng := randv2.New(randv2.NewPCG(uint64(seed), 0x67656e6572617465))
	p := newPools(rng)
	startMs, endMs := start.UnixMilli(), end.UnixMilli()
	span := endMs - startMs
	idSalt := mix64(uint64(seed) ^ 0x5e5510d5)

	out := make([]types.Session, n)
	times := make([]time.Time, 2*n)
	idEnds := make([]int, n)
	outputs := make([]uint8, n) // bit 0: S3 URL, bit 1: CloudWatch URL
	idBuf := make([]byte, 0, n*24)
	nOutputs := 0
	var statuses = [...]types.SessionStatus{
		types.SessionStatusTerminated, types.SessionStatusFailed,
		types.SessionStatusConnected, types.SessionStatusDisconnected,
		types.SessionStatusConnecting, types.SessionStatusTerminating,
	}
	var access = [...]types.AccessType{types.AccessTypeStandard, types.AccessTypeJustintime}

	for i := range out {
		s := &out[i]
		o := p.pickOwner(rng)
		s.Owner = &p.owners[o].arn
		// Each owner favours its own corner of the fleet.
		u := rng.Float64()
		t := (o*37 + int(u*u*u*float64(len(p.targets)))) % len(p.targets)
		s.Target = &p.targets[t]

		idBuf = append(idBuf, p.owners[o].prefix...)
		idBuf = append(idBuf, '-', '0')
		idBuf = appendHex16(idBuf, mix64(idSalt+uint64(i)))
		idEnds[i] = len(idBuf)

		// StartDate: weighted towards weekday office hours.
		ms := startMs
		if span > 0 {
			for try := 0; try < 16; try++ {
				ms = startMs + rng.Int64N(span)
				if rng.Float64() < activityWeight(ms) {
					break
				}
			}
		}
		times[2*i] = time.UnixMilli(ms).UTC()
		s.StartDate = &times[2*i]

		d := rng.IntN(100)
		doc := 0
		for doc < len(documentWeights) && d >= documentWeights[doc] {
			doc++
		}
		median := 240.0 // seconds
		if doc > 0 {
			s.DocumentName = &p.docs[doc-1]
			if doc == 2 || doc == 3 || doc == 5 {
				median = 1200 // tunnels stay open longer
			}
		}
		dur := median * math.Exp(1.5*rng.NormFloat64())
		dur = min(max(dur, 1), 12*3600)
		if rng.IntN(100) < 8 {
			m := rng.IntN(len(p.maxDur))
			s.MaxSessionDuration = &p.maxDur[m]
			limit, _ := strconv.Atoi(p.maxDur[m])
			dur = min(dur, float64(limit*60))
		}
		durMs := int64(dur * 1000)

		switch f := rng.IntN(1000); {
		case f < 30:
			s.Status = statuses[1] // Failed
			if f < 15 {
				times[2*i+1] = times[2*i]
				s.EndDate = &times[2*i+1]
			}
		case ms+durMs >= endMs:
			// Still running at end.
			switch a := rng.IntN(100); {
			case a < 85:
				s.Status = statuses[2]
			case a < 95:
				s.Status = statuses[3]
			case a < 98:
				s.Status = statuses[4]
			default:
				s.Status = statuses[5]
			}
		default:
			s.Status = statuses[0]
			times[2*i+1] = time.UnixMilli(ms + durMs).UTC()
			s.EndDate = &times[2*i+1]
		}

		if rng.IntN(100) < 12 {
			s.Reason = &p.reasons[rng.IntN(len(p.reasons))]
		}
		if rng.IntN(100) < 4 {
			s.Details = &p.details[rng.IntN(len(p.details))]
		}
		if rng.IntN(100) < 25 {
			outputs[i] = uint8(1 + rng.IntN(3))
			nOutputs++
		}
		s.AccessType = access[0]
		if rng.IntN(100) < 5 {
			s.AccessType = access[1]
		}
	}

	// Session ids share one allocation; output URLs embed them.
	all := string(idBuf)
	ids := make([]string, n)
	urls := make([]types.SessionManagerOutputUrl, 0, nOutputs)
	from := 0
	for i := range out {
		ids[i] = all[from:idEnds[i]]
		from = idEnds[i]
		out[i].SessionId = &ids[i]
		if outputs[i] == 0 {
			continue
		}
		var u types.SessionManagerOutputUrl
		if outputs[i]&1 != 0 {
			v := "https://ssm-session-logs-" + generatedAccount + ".s3.us-east-1.amazonaws.com/sessions/" + ids[i] + ".log"
			u.S3OutputUrl = &v
		}
		if outputs[i]&2 != 0 {
			v := "https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#logEventViewer:group=/aws/ssm/session-logs;stream=" + ids[i]
			u.CloudWatchOutputUrl = &v
		}
		urls = append(urls, u)
		out[i].OutputUrl = &urls[len(urls)-1]
	}
	return out
}
