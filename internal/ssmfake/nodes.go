package ssmfake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/session-audit/session-audit/internal/stsfake"
)

// targetDescribeInstanceInformation is the X-Amz-Target of the managed
// nodes' listing.
const targetDescribeInstanceInformation = "AmazonSSM.DescribeInstanceInformation"

// Limits of DescribeInstanceInformation, from the API reference: MaxResults
// is 5-50. The default page size is not documented; 10 is what the
// service answers without one.
const (
	minNodeResults     = 5
	maxNodeResults     = 50
	defaultNodeResults = 10
)

// Resource types of managed nodes, as InstanceInformation.ResourceType
// spells them.
const (
	ResourceEC2Instance     = "EC2Instance"
	ResourceManagedInstance = "ManagedInstance"
)

// Node is one managed node as DescribeInstanceInformation describes it.
// Tags are the node's EC2 tags (an EC2 instance's, with its Name tag),
// which SSM does not answer: the demo serves them from internal/ec2fake.
type Node struct {
	ID              string
	Name            string // InstanceInformation.Name: set for managed instances (their activation's name)
	ComputerName    string
	PlatformType    string // Linux, Windows or MacOS
	PlatformName    string
	PlatformVersion string
	IPAddress       string
	ResourceType    string // ResourceEC2Instance or ResourceManagedInstance
	Tags            map[string]string
}

// PutNodes stores the managed nodes of account in region, replacing any
// with the same ID. The local account's nodes put with region "" are
// served in every region that has none of its own, like its sessions.
func (s *Server) PutNodes(account, region string, nodes ...Node) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nodes == nil {
		s.nodes = map[targetKey][]Node{}
	}
	k := targetKey{account, region}
	byID := map[string]Node{}
	for _, n := range s.nodes[k] {
		byID[n.ID] = n
	}
	for _, n := range nodes {
		byID[n.ID] = n
	}
	out := make([]Node, 0, len(byID))
	for _, n := range byID {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	s.nodes[k] = out
}

// Nodes returns the managed nodes served to account in region.
func (s *Server) Nodes(account, region string) []Node {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]Node(nil), s.nodesFor(account, region)...)
}

// nodesFor returns the nodes served to account in region; s.mu is held.
func (s *Server) nodesFor(account, region string) []Node {
	if ns, ok := s.nodes[targetKey{account, region}]; ok {
		return ns
	}
	if account == stsfake.LocalAccount {
		return s.nodes[targetKey{account, ""}]
	}
	return nil
}

// SetNodeFault makes every DescribeInstanceInformation call answer code
// (ThrottlingException or AccessDeniedException); "" serves them again.
// DescribeSessions is not affected.
func (s *Server) SetNodeFault(code string) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.nodeFault = code
}

// serveNodes answers DescribeInstanceInformation: the account's nodes by
// id, MaxResults at a time, with an opaque NextToken bound to the account
// and region. Filters are refused: the snapshot sends none.
func (s *Server) serveNodes(r *http.Request, c *Call) ([]byte, *apiError) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil || len(body) > maxBodyBytes {
		return nil, validationError("The request body could not be read.")
	}
	id, signed := stsfake.IdentityOf(r)
	if !signed {
		id.Account = stsfake.LocalAccount
	}
	c.Account, c.Region = id.Account, id.Region
	if aerr := s.refuse(id); aerr != nil {
		if aerr.code == codeAccessDenied {
			aerr.message = strings.ReplaceAll(aerr.message, "ssm:DescribeSessions", "ssm:DescribeInstanceInformation")
		}
		return nil, aerr
	}
	s.fmu.Lock()
	fault := s.nodeFault
	s.fmu.Unlock()
	switch fault {
	case codeThrottling:
		return nil, &apiError{status: http.StatusBadRequest, code: codeThrottling, message: "Rate exceeded"}
	case codeAccessDenied:
		return nil, &apiError{status: http.StatusBadRequest, code: codeAccessDenied,
			message: fmt.Sprintf("User: arn:aws:sts::%s:assumed-role/reader/session is not authorized to perform: ssm:DescribeInstanceInformation", id.Account)}
	}
	var req struct {
		MaxResults                    *int32          `json:"MaxResults"`
		NextToken                     *string         `json:"NextToken"`
		Filters                       json.RawMessage `json:"Filters"`
		InstanceInformationFilterList json.RawMessage `json:"InstanceInformationFilterList"`
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, validationError("The request body is not valid JSON: %v", err)
		}
	}
	if len(req.Filters) > 0 || len(req.InstanceInformationFilterList) > 0 {
		return nil, validationError("Filters are not served by this emulator.")
	}
	size := defaultNodeResults
	if req.MaxResults != nil {
		c.MaxResults = *req.MaxResults
		if *req.MaxResults < minNodeResults || *req.MaxResults > maxNodeResults {
			return nil, validationError("1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value between %d and %d", *req.MaxResults, minNodeResults, maxNodeResults)
		}
		size = int(*req.MaxResults)
	}
	scope := id.Account + "/" + id.Region
	start := 0
	if req.NextToken != nil {
		c.NextToken = *req.NextToken
		n, ok := s.nodeOffset(scope, *req.NextToken)
		if !ok {
			return nil, &apiError{status: http.StatusBadRequest, code: codeInvalidToken, message: "The specified token isn't valid."}
		}
		start = n
	}
	s.mu.RLock()
	all := s.nodesFor(id.Account, id.Region)
	start = min(start, len(all))
	end := min(start+size, len(all))
	page := append([]Node(nil), all[start:end]...)
	more := end < len(all)
	s.mu.RUnlock()
	out := struct {
		List      []map[string]any `json:"InstanceInformationList"`
		NextToken string           `json:"NextToken,omitempty"`
	}{List: make([]map[string]any, 0, len(page))}
	if more {
		out.NextToken = s.nodeToken(scope, end)
		c.ReturnedNextToken = out.NextToken
	}
	registered := float64(time.Date(2026, 1, 5, 9, 30, 0, 0, time.UTC).Unix())
	for _, n := range page {
		m := map[string]any{
			"InstanceId": n.ID, "PingStatus": "Online", "LastPingDateTime": registered,
			"AgentVersion": "3.3.1142.0", "IsLatestVersion": false,
			"PlatformType": n.PlatformType, "PlatformName": n.PlatformName, "PlatformVersion": n.PlatformVersion,
			"ResourceType": n.ResourceType, "IPAddress": n.IPAddress, "ComputerName": n.ComputerName,
			"AssociationStatus": "Success",
		}
		if n.ResourceType == ResourceManagedInstance {
			m["Name"] = n.Name
			m["ActivationId"] = "4d8f3a2b-0000-4000-8000-" + fmt.Sprintf("%012x", len(n.ID))
			m["IamRole"] = "SSMServiceRole"
			m["RegistrationDate"] = registered
			m["SourceType"] = "AWS::SSM::ManagedInstance"
		} else {
			m["SourceType"] = "AWS::EC2::Instance"
		}
		m["SourceId"] = n.ID
		out.List = append(out.List, m)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, &apiError{status: http.StatusInternalServerError, code: codeInternal, message: err.Error()}
	}
	return b, nil
}

func (s *Server) nodeMAC(scope string, offset int) string {
	m := hmac.New(sha256.New, s.secret)
	fmt.Fprintf(m, "nodes\x00%s\x00%d", scope, offset)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:12])
}

func (s *Server) nodeToken(scope string, offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(offset) + "." + s.nodeMAC(scope, offset)))
}

func (s *Server) nodeOffset(scope, tok string) (int, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, false
	}
	num, mac, ok := strings.Cut(string(raw), ".")
	n, err := strconv.Atoi(num)
	if !ok || err != nil || n < 0 {
		return 0, false
	}
	return n, hmac.Equal([]byte(mac), []byte(s.nodeMAC(scope, n)))
}

var (
	roles     = []string{"web", "api", "db", "cache", "worker", "bastion", "batch", "kafka"}
	envs      = []string{"prod", "prod", "staging", "dev"}
	teams     = []string{"payments", "platform", "data", "identity"}
	linuxOSes = [][2]string{{"Amazon Linux", "2023"}, {"Ubuntu", "22.04"}, {"Red Hat Enterprise Linux", "9.4"}}
)

// NodesFor generates, deterministically from seed, one managed node for
// every distinct session target that is an instance (i-…, an EC2 instance
// with Name, Environment, Team and CostCenter tags) or a managed instance
// (mi-…, a hybrid node with an activation name and no EC2 tags). Other
// targets (ECS tasks) are not managed nodes and get none.
func NodesFor(seed int64, sessions []types.Session) []Node {
	seen := map[string]bool{}
	var ids []string
	for _, s := range sessions {
		if s.Target == nil || seen[*s.Target] {
			continue
		}
		t := *s.Target
		seen[t] = true
		if strings.HasPrefix(t, "i-") || strings.HasPrefix(t, "mi-") {
			ids = append(ids, t)
		}
	}
	return GenerateNodes(seed, ids)
}

// GenerateNodes generates the managed nodes of ids, deterministically from
// seed and each id; see NodesFor.
func GenerateNodes(seed int64, ids []string) []Node {
	out := make([]Node, 0, len(ids))
	perRole := map[string]int{}
	sorted := append([]string(nil), ids...)
	sort.Strings(sorted)
	for _, id := range sorted {
		h := mix64(uint64(seed) ^ fnv64(id))
		ip := fmt.Sprintf("10.%d.%d.%d", h>>8&0xff, h>>16&0xff, h>>24&0xfe+1)
		role := roles[h%uint64(len(roles))]
		perRole[role]++
		name := fmt.Sprintf("%s-%02d", role, perRole[role])
		n := Node{ID: id, IPAddress: ip}
		if strings.HasPrefix(id, "mi-") {
			n.ResourceType = ResourceManagedInstance
			n.Name = "onprem-" + name
			n.PlatformType, n.PlatformName, n.PlatformVersion = "Linux", "Ubuntu", "20.04"
			n.ComputerName = n.Name + ".corp.example.com"
			out = append(out, n)
			continue
		}
		n.ResourceType = ResourceEC2Instance
		env := envs[h>>32%uint64(len(envs))]
		if h>>40%5 == 0 {
			n.PlatformType, n.PlatformName, n.PlatformVersion = "Windows", "Microsoft Windows Server 2022 Datacenter", "10.0.20348"
			n.ComputerName = "EC2AMAZ-" + strings.ToUpper(fmt.Sprintf("%07x", h>>36&0xfffffff))
		} else {
			osv := linuxOSes[h>>44%uint64(len(linuxOSes))]
			n.PlatformType, n.PlatformName, n.PlatformVersion = "Linux", osv[0], osv[1]
			n.ComputerName = "ip-" + strings.ReplaceAll(ip, ".", "-") + ".ec2.internal"
		}
		n.Tags = map[string]string{
			"Name":        env + "-" + name,
			"Environment": env,
			"Team":        teams[h>>48%uint64(len(teams))],
			"CostCenter":  fmt.Sprintf("CC-%04d", h>>52%10000),
		}
		out = append(out, n)
	}
	return out
}

// fnv64 is FNV-1a of s.
func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
