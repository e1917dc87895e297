package discovery_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/discovery"
	"github.com/gitfleet/gitfleet/spec"
)

// The discovery package copies spec's unexported rules for server names,
// addresses and groups, and for one machine named twice. These tests ask
// spec itself (spec.Load) and compare.

// specProblems loads one Environment with one server and returns spec's
// errors.
func specProblems(t *testing.T, name, address, group string) string {
	t.Helper()
	doc := "kind: Environment\nname: e\nservers:\n  - name: " + strconv.Quote(name) + "\n    address: " + strconv.Quote(address) + "\n"
	if group != "" {
		doc += "    groups: [" + strconv.Quote(group) + "]\n"
	}
	_, err := spec.Load([]spec.File{{Path: "e.yaml", Data: []byte(doc)}})
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestServerNameRuleIsSpecs(t *testing.T) {
	for _, name := range []string{
		"web-1", "web-1.example.com", "a", "1", "10.0.0.11", "fd00-0-0-0-0-0-0-11", strings.Repeat("a", 253), strings.Repeat("a", 254),
		"Web-1", "web_1", "-web", "web-", ".web", "web.", "a..b", "web/1", "wéb", "web 1", "",
	} {
		p := specProblems(t, name, "10.0.0.1", "")
		specOK := !strings.Contains(p, "invalid server name") && !strings.Contains(p, "server has no name")
		if got := discovery.ValidServerName(name); got != specOK {
			t.Errorf("server name %q: discovery says valid=%v, spec %v", name, got, specOK)
		}
	}
}

func TestAddressRuleIsSpecs(t *testing.T) {
	for _, addr := range []string{
		"", "10.0.0.1", "10.0.0.1:22", "10.0.0.1:0", "10.0.0.1:65535", "10.0.0.1:65536", "host:", ":22", "[::1]:22", "::1", "[::1]",
		"fd00::1", "web-1.example.com:2222", "web_1.example.com", "-bad.example.com", "a b", "user@host", "host/x", "[]", "[]:22",
		"1.2.3.4:22:33", "host:abc", strings.Repeat("a.", 130) + "com", "WEB.example.com", "db1.example.com.",
	} {
		specOK := !strings.Contains(specProblems(t, "web-1", addr, ""), "invalid address")
		_, _, got := discovery.SplitAddress(addr)
		if got != specOK {
			t.Errorf("address %q: discovery says valid=%v, spec %v", addr, got, specOK)
		}
	}
}

func TestGroupRuleIsSpecs(t *testing.T) {
	for _, g := range []string{"web", "blue", "a", strings.Repeat("a", 63), strings.Repeat("a", 64), "Web", "web-", "-web", "web.1", "web_1", "wéb"} {
		specOK := !strings.Contains(specProblems(t, "web-1", "10.0.0.1", g), "invalid group name")
		if got := discovery.ValidGroupName(g); got != specOK {
			t.Errorf("group %q: discovery says valid=%v, spec %v", g, got, specOK)
		}
	}
}

// TestOneMachineRuleIsSpecs puts server a-1 in Environment a and b-1 in
// Environment b, at two addresses, with releases of web (/srv/web) and api
// (/srv/api), and compares spec's verdict on two static servers with
// discovery's on a static a-1 and a discovered b-1.
func TestOneMachineRuleIsSpecs(t *testing.T) {
	for _, tc := range []struct {
		name             string
		addrA, addrB     string
		relsA, relsB     []string
		portA            int // the Environment's ssh.port
		managedA, manage bool
	}{
		{name: "same address, same app", addrA: "10.0.0.1:22", addrB: "10.0.0.1", relsA: []string{"web"}, relsB: []string{"web"}},
		{name: "other port", addrA: "10.0.0.1", addrB: "10.0.0.1:2222", relsA: []string{"web"}, relsB: []string{"web"}},
		{name: "IPv6 written two ways", addrA: "[2001:db8::1]:22", addrB: "2001:0db8:0:0:0:0:0:1", relsA: []string{"web"}, relsB: []string{"web"}},
		{name: "host name case", addrA: "DB1.example.com", addrB: "db1.example.com:22", relsA: []string{"web"}, relsB: []string{"web"}},
		{name: "disjoint apps", addrA: "10.0.0.1", addrB: "10.0.0.1", relsA: []string{"web"}, relsB: []string{"api"}},
		{name: "no releases", addrA: "10.0.0.1", addrB: "10.0.0.1"},
		{name: "same managed file", addrA: "10.0.0.1", addrB: "10.0.0.1", relsA: []string{"web"}, relsB: []string{"api"}, managedA: true, manage: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			specSays := specMachine(t, tc.addrA, tc.addrB, tc.relsA, tc.relsB, tc.managedA, tc.manage)
			discoverySays := discoveryMachine(t, tc.addrA, tc.addrB, tc.relsA, tc.relsB, tc.managedA, tc.manage)
			if specSays != discoverySays {
				t.Errorf("one machine twice: spec says conflict=%v, discovery %v", specSays, discoverySays)
			}
		})
	}
}

const managed = "config: {files: [{path: /etc/fleet/agent.conf, content: x}]}\n"

func specMachine(t *testing.T, addrA, addrB string, relsA, relsB []string, managedA, managedB bool) bool {
	env := func(name, server, addr string, m bool) string {
		doc := "kind: Environment\nname: " + name + "\nservers:\n  - {name: " + server + ", address: '" + addr + "'}\n"
		if m {
			doc += managed
		}
		return doc
	}
	apps := "kind: App\nname: web\nartifact: {path: artifacts/web}\ndeployTo: /srv/web\n---\nkind: App\nname: api\nartifact: {path: artifacts/api}\ndeployTo: /srv/api\n"
	var rels strings.Builder
	for env, apps := range map[string][]string{"a": relsA, "b": relsB} {
		for _, app := range apps {
			rels.WriteString("---\nkind: Release\napp: " + app + "\nenvironment: " + env + "\nversion: v1\n")
		}
	}
	_, err := spec.Load([]spec.File{
		{Path: "a.yaml", Data: []byte(env("a", "a-1", addrA, managedA))}, {Path: "b.yaml", Data: []byte(env("b", "b-1", addrB, managedB))},
		{Path: "apps.yaml", Data: []byte(apps)}, {Path: "r.yaml", Data: []byte(rels.String())},
	})
	if err != nil && !strings.Contains(err.Error(), "is the machine") {
		t.Fatalf("spec: %v", err)
	}
	return err != nil
}

func discoveryMachine(t *testing.T, addrA, addrB string, relsA, relsB []string, managedA, managedB bool) bool {
	claims := func(rels []string, m bool) []discovery.Claim {
		var out []discovery.Claim
		for _, app := range rels {
			out = append(out, discovery.Claim{Path: "/srv/" + app, What: "deployTo of app " + strconv.Quote(app)})
		}
		if m {
			out = append(out, discovery.Claim{Path: "/etc/fleet/agent.conf", What: "a managed file"})
		}
		return out
	}
	host, port, _ := discovery.SplitAddress(addrA)
	path := filepath.Join(t.TempDir(), "b.json")
	os.WriteFile(path, []byte(`[{"name": "b-1", "address": "`+addrB+`"}]`), 0o644)
	m := discovery.NewManager(discovery.Options{})
	defer m.Close()
	err := m.Update([]discovery.Environment{
		{Name: "a", DefaultPort: 22, Static: []discovery.Static{{Name: "a-1", Address: addrA, Host: host, Port: port, Pos: "a.yaml:4"}}, Claims: claims(relsA, managedA)},
		{Name: "b", DefaultPort: 22, Claims: claims(relsB, managedB), Discovery: &discovery.Config{File: &discovery.FileConfig{Path: path}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		v, _ := m.View("b")
		if len(v.Servers) == 1 {
			return false
		}
		for _, r := range v.Rejected {
			if strings.Contains(r.Reason, "is the machine") {
				return true
			}
			t.Fatalf("discovery: %s", r.Error())
		}
		select {
		case <-m.Changes():
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatal("discovery: no verdict on b-1 after 5s")
	return false
}
