package lambdarun

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/session-audit/session-audit/internal/awsclients"
	"github.com/session-audit/session-audit/internal/cli"
	"github.com/session-audit/session-audit/internal/config"
	"github.com/session-audit/session-audit/internal/emulators"
)

// logicalID is the function's logical id in template.yaml, which
// `sam local invoke --env-vars` keys its variables by.
const logicalID = "SessionAuditFunction"

// TestEnvJSON keeps events/env.json, the file for
//
//	sam local invoke SessionAuditFunction --env-vars events/env.json
//
// in step with the emulators: it sets exactly what emulators.Env() sets,
// less the region and credentials (sam local passes the developer's own),
// with the endpoints where `session-audit emulate` listens by default
// (127.0.0.1:4583 for SSM, 127.0.0.1:4572 for S3, 127.0.0.1:4592 for STS),
// seen from sam's container as host.docker.internal.
func TestEnvJSON(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(eventsDir(t), "env.json"))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	var file map[string]map[string]string
	if err := dec.Decode(&file); err != nil {
		t.Fatalf("events/env.json is not {\"LogicalId\": {\"NAME\": \"value\"}}: %v", err)
	}
	if dec.More() {
		t.Fatal("events/env.json has data after its JSON object")
	}
	if ids := slices.Sorted(maps.Keys(file)); !slices.Equal(ids, []string{logicalID}) {
		t.Fatalf("events/env.json names %v; want only %s", ids, logicalID)
	}
	vars := file[logicalID]

	emu := (&emulators.Emulators{Bucket: cli.LocalBucket, SSMURL: "http://127.0.0.1:4583", S3URL: "http://127.0.0.1:4572", STSURL: "http://127.0.0.1:4592", EC2URL: "http://127.0.0.1:4597"}).Env()
	for _, k := range []string{"AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} {
		delete(emu, k)
	}
	if got, want := slices.Sorted(maps.Keys(vars)), slices.Sorted(maps.Keys(emu)); !slices.Equal(got, want) {
		t.Errorf("events/env.json sets %v;\nemulators.Env() less region and credentials sets %v", got, want)
	}

	want := map[string]string{
		"AWS_ENDPOINT_URL_SSM": "http://host.docker.internal:4583",
		"AWS_ENDPOINT_URL_S3":  "http://host.docker.internal:4572",
		"AWS_ENDPOINT_URL_STS": "http://host.docker.internal:4592",
		"AWS_ENDPOINT_URL_EC2": "http://host.docker.internal:4597",
	}
	for k, v := range emu {
		if _, ok := want[k]; !ok {
			want[k] = v // the same value as the emulators' own environment
		}
	}
	for k, v := range want {
		if vars[k] != v {
			t.Errorf("events/env.json %s = %q; want %q", k, vars[k], v)
		}
	}
	for _, k := range []string{"AWS_ENDPOINT_URL_SSM", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_EC2"} {
		if err := awsclients.CheckEndpoint(k, vars[k]); err != nil {
			t.Errorf("the function would refuse events/env.json's endpoint: %v", err)
		}
	}
	if _, err := config.Load(func(k string) string { return vars[k] }); err != nil {
		t.Errorf("the function would refuse events/env.json: %v", err)
	}

	// The logical id is the one sam builds (Makefile) and, once it exists,
	// the one template.yaml declares.
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(mk, []byte("build-"+logicalID+":")) {
		t.Errorf("the Makefile has no build-%s target for sam build", logicalID)
	}
	tpl, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		t.Logf("no template.yaml yet: the logical id is checked against the Makefile only")
		return
	case err != nil:
		t.Fatal(err)
	}
	block, ok := resourceBlock(string(tpl), logicalID)
	if !ok {
		t.Fatalf("template.yaml declares no resource %s", logicalID)
	}
	// sam local invoke --env-vars overrides only the variables the template
	// declares for the function; any other is silently dropped.
	for k := range vars {
		if !declares(block, k) {
			t.Errorf("template.yaml does not declare %s under %s's Environment.Variables, so sam local would ignore it in events/env.json", k, logicalID)
		}
	}
}

// resourceBlock is the text of one resource of a SAM template: from its
// "  <id>:" line to the next line indented by two spaces or less.
func resourceBlock(tpl, id string) (string, bool) {
	lines := strings.Split(tpl, "\n")
	for i, l := range lines {
		if strings.TrimRight(l, " \r") != "  "+id+":" {
			continue
		}
		end := i + 1
		for ; end < len(lines); end++ {
			l := lines[end]
			if strings.TrimSpace(l) != "" && !strings.HasPrefix(strings.TrimSpace(l), "#") && len(l)-len(strings.TrimLeft(l, " ")) <= 2 {
				break
			}
		}
		return strings.Join(lines[i:end], "\n"), true
	}
	return "", false
}

// declares reports whether the resource block has a "<name>:" key after its
// "Variables:" line.
func declares(block, name string) bool {
	_, vars, ok := strings.Cut(block, "Variables:")
	if !ok {
		return false
	}
	for l := range strings.Lines(vars) {
		if strings.HasPrefix(strings.TrimSpace(l), name+":") {
			return true
		}
	}
	return false
}
