package discovery

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rejectedWith waits until env's view has a rejection containing want,
// and returns it.
func rejectedWith(t *testing.T, m *Manager, env, want string) Rejection {
	t.Helper()
	var found Rejection
	waitView(t, m, env, 5*time.Second, "a rejection with "+want, func(v View) bool {
		for _, r := range v.Rejected {
			if strings.Contains(r.Error(), want) {
				found = r
				return true
			}
		}
		return false
	})
	return found
}

func TestDuplicatesOfStaticAndOtherEnvironmentsAreRejectedWithBothPositions(t *testing.T) {
	dir := t.TempDir()
	pa, pb := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	writeFile(t, pa, "- {name: web-1, address: 10.0.0.1}\n- {name: db-1, address: 10.0.9.1}\n- {name: api-1, address: 10.0.9.2}\n")
	writeFile(t, pb, "- {name: web-2, address: 10.0.0.2}\n")
	m := startManager(t, Options{})
	update(t, m,
		fileEnv("a", pa, "100%", Static{Name: "db-1", Host: "10.0.1.1", Pos: "envs/a.yaml:5"}),
		fileEnv("b", pb, "100%", Static{Name: "api-1", Host: "10.0.1.2", Pos: "envs/b.yaml:7"}))
	waitView(t, m, "a", 5*time.Second, "a's servers", hasNames("db-1,web-1"))
	writeFile(t, pb, "- {name: web-2, address: 10.0.0.2}\n- {name: web-1, address: 10.0.0.21}\n")
	waitView(t, m, "b", 5*time.Second, "b's servers", func(v View) bool { return names(v) == "api-1,web-2" && len(v.Rejected) == 1 })

	for _, tc := range []struct{ env, want string }{
		{"a", "file " + pa + `:2 [1]: server "db-1" is already server "db-1" of environment "a" (static, envs/a.yaml:5)`},
		{"a", "file " + pa + `:3 [2]: server "api-1" is already server "api-1" of environment "b" (static, envs/b.yaml:7)`},
		{"b", "file " + pb + `:2 [1]: server "web-1" is already server "web-1" of environment "a" (discovered, file ` + pa + `:1 [0])`},
	} {
		r := rejectedWith(t, m, tc.env, tc.want)
		if r.Error() != tc.want {
			t.Errorf("rejection in %s:\n got %s\nwant %s", tc.env, r.Error(), tc.want)
		}
	}

	// The entry in force keeps its name: b's web-2 is not taken by a newer
	// entry of a, although a comes first.
	writeFile(t, pa, "- {name: web-1, address: 10.0.0.1}\n- {name: web-2, address: 10.0.0.22}\n")
	rejectedWith(t, m, "a", `server "web-2" is already server "web-2" of environment "b" (discovered`)
	// When a lets web-1 go, b's entry of that name is taken.
	writeFile(t, pa, "- {name: web-3, address: 10.0.0.3}\n")
	v := waitView(t, m, "b", 5*time.Second, "web-1 in b", hasNames("api-1,web-1,web-2"))
	if s := v.Servers[1]; s.Address != "10.0.0.21" {
		t.Errorf("b's web-1 at %s, want 10.0.0.21", s.Address)
	}
	checkIndex(t, m)
}

func TestOneMachineTwiceIsAllowedOnlyWhenWhatTheyWriteIsDisjoint(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "b.yaml")
	writeFile(t, path, "- {name: b-1, address: '10.0.0.1', groups: [web]}\n- {name: b-2, address: '10.0.0.1:2222', groups: [web]}\n- {name: b-3, address: '[::ffff:10.0.0.3]:22', groups: [api]}\n")
	a := Environment{Name: "a", DefaultPort: 22,
		Static: []Static{{Name: "a-1", Host: "10.0.0.1", Port: 22, Pos: "a.yaml:4", Groups: []string{"web"}}, {Name: "a-3", Host: "10.0.0.3", Pos: "a.yaml:5", Groups: []string{"web"}}},
		Claims: []Claim{{Path: "/srv/web", What: `deployTo of app "web"`, Groups: []string{"web"}}, {Path: "/etc/web/app.conf", What: "a managed file"}}}
	b := fileEnv("b", path, "100%")
	b.Claims = []Claim{{Path: "/srv/web", What: `deployTo of app "web"`, Groups: []string{"web"}}, {Path: "/srv/api", What: `deployTo of app "api"`, Groups: []string{"api"}}}
	m := startManager(t, Options{})
	update(t, m, a, b)
	v := waitView(t, m, "b", 5*time.Second, "b-2 and b-3", hasNames("b-2,b-3"))
	want := "file " + path + `:1 [0]: server "b-1" of environment "b" is the machine 10.0.0.1:22 of server "a-1" of environment "a" (static, a.yaml:4), and both write /srv/web: deployTo of app "web" there and deployTo of app "web" here; one machine can be two servers only if what they write is disjoint`
	if len(v.Rejected) != 1 || v.Rejected[0].Error() != want {
		t.Errorf("rejections %s\nwant %s", describe(v), want)
	}

	// Without the app in a, b-1 writes nothing a writes there.
	a.Claims = []Claim{{Path: "/etc/web/app.conf", What: "a managed file"}}
	update(t, m, a, b)
	waitView(t, m, "b", 5*time.Second, "b-1 allowed", hasNames("b-1,b-2,b-3"))

	// The local transport does not compare addresses.
	m2 := startManager(t, Options{LocalTransport: true})
	a.Claims = []Claim{{Path: "/srv", What: "a managed directory"}}
	update(t, m2, a, b)
	waitView(t, m2, "b", 5*time.Second, "every server", hasNames("b-1,b-2,b-3"))
}

func TestADiscoveredNameMayNotBeAStaticServersLoadBalancerName(t *testing.T) {
	path := filepath.Join(t.TempDir(), "servers.yaml")
	writeFile(t, path, "- {name: web-9}\n- {name: web-2}\n")
	m := startManager(t, Options{})
	update(t, m, fileEnv("a", path, "", Static{Name: "web-1", LBName: "web-9", Host: "10.0.0.1", Pos: "a.yaml:4"}))
	waitView(t, m, "a", 5*time.Second, "web-1 and web-2", hasNames("web-1,web-2"))
	rejectedWith(t, m, "a", `server "web-9" is the load balancer's name of static server "web-1"`)
}

func TestTwoSourcesOfOneEnvironmentAreMerged(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "servers.yaml")
	writeFile(t, path, "- {name: web-1}\n- {name: web-2}\n")
	inv := script(t, dir, "inv", `echo '[{"name": "web-3"}, {"name": "web-2", "address": "10.0.0.99"}]'`+"\n")
	m := startManager(t, Options{})
	env := fileEnv("a", path, "")
	update(t, m, env)
	waitView(t, m, "a", 5*time.Second, "web-1 and web-2", hasNames("web-1,web-2"))
	env.Discovery.Command = &CommandConfig{Run: Argv{inv}}
	update(t, m, env)
	v := waitView(t, m, "a", 5*time.Second, "web-1..3", hasNames("web-1,web-2,web-3"))
	r := rejectedWith(t, m, "a", `command `+inv+` [1]: server "web-2" is already server "web-2" of environment "a" (discovered, file `+path+`:2 [1])`)
	if r.Name != "web-2" || len(v.Sources) != 2 {
		t.Errorf("rejection %+v, sources %+v", r, v.Sources)
	}
}
