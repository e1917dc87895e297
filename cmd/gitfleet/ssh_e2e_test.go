package main

import (
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/internal/sshtest"
)

// sshQuickstart runs the quickstart against five real sshd servers: prod-1
// to prod-3 and staging-1, staging-2 are the fleet's servers 1..5.
func sshQuickstart(t *testing.T, resync string) (qs string, f *sshtest.Fleet) {
	t.Helper()
	f = sshtest.Start(t, 5, "srv")
	qs = quickstart(t)
	var env strings.Builder
	names := []string{"prod-1", "prod-2", "prod-3", "staging-1", "staging-2"}
	addr := func(i int) string { return f.Servers[i].Addr() }
	fmt.Fprintf(&env, "kind: Environment\nname: production\nssh: {user: %s}\nservers:\n", f.User)
	for i := 0; i < 3; i++ {
		fmt.Fprintf(&env, "  - {name: %s, address: '%s', groups: [web]}\n", names[i], addr(i))
	}
	fmt.Fprintf(&env, "---\nkind: Environment\nname: staging\nssh: {user: %s}\nservers:\n", f.User)
	for i := 3; i < 5; i++ {
		fmt.Fprintf(&env, "  - {name: %s, address: '%s', groups: [web]}\n", names[i], addr(i))
	}
	write(t, filepath.Join(qs, "desired", "environments.yaml"), env.String())
	write(t, filepath.Join(qs, "gitfleet.yaml"), `source:
  directory: {path: desired, debounce: 100ms}
transport:
  type: ssh
  ssh:
    keyFile: `+f.Key+`
    knownHosts: `+f.KnownHosts+`
    connectTimeout: 2s
stateDir: state
resync: `+resync+`
`)
	return qs, f
}

// sshActive is the version current points to on a server of the fleet.
func sshActive(f *sshtest.Fleet, i int) string {
	target, err := os.Readlink(filepath.Join(f.Servers[i].Root, "hello", "current"))
	if err != nil {
		return ""
	}
	if m := releaseRE.FindStringSubmatch(target); m != nil {
		return m[1]
	}
	return "?" + target
}

func sshRunning(f *sshtest.Fleet, i int) string {
	b, _ := os.ReadFile(filepath.Join(f.Servers[i].Root, "hello", "running"))
	return strings.TrimSpace(string(b))
}

func TestSSHQuickstartEndToEnd(t *testing.T) {
	qs, f := sshQuickstart(t, "1m")
	d := startDaemon(t, filepath.Join(qs, "gitfleet.yaml"))
	on := func(version string, servers ...int) func() bool {
		return func() bool {
			for _, i := range servers {
				if sshActive(f, i) != version || sshRunning(f, i) != version {
					return false
				}
			}
			return true
		}
	}
	d.waitFor("production on v1.0.0 and staging on v1.1.0 over SSH", func() bool {
		return on("v1.0.0", 0, 1, 2)() && on("v1.1.0", 3, 4)() &&
			d.metric("gitfleet_servers", `environment="production"`, `state="in_sync"`) == 3
	})
	rel := filepath.Join(qs, "desired", "releases", "production.yaml")
	b, _ := os.ReadFile(rel)
	write(t, rel, strings.Replace(string(b), "version: v1.0.0", "version: v1.1.0", 1))
	d.waitFor("production on v1.1.0", func() bool {
		return on("v1.1.0", 0, 1, 2)() && d.metric("gitfleet_servers", `environment="production"`, `state="in_sync"`) == 3
	})
	d.stop()
}

// TestSSHServerDownDuringRollout stops one server's sshd while a rollout is
// under way: the others complete, that one is reported, and it converges
// once it is back.
func TestSSHServerDownDuringRollout(t *testing.T) {
	qs, f := sshQuickstart(t, "2s")
	app := filepath.Join(qs, "desired", "apps", "hello.yaml")
	b, _ := os.ReadFile(app)
	write(t, app, strings.Replace(string(b), "activate: ./bin/activate", "activate: sleep 0.5 && ./bin/activate", 1))
	rel := filepath.Join(qs, "desired", "releases", "production.yaml")
	b, _ = os.ReadFile(rel)
	write(t, rel, strings.Replace(string(b), "parallelism: 2", "parallelism: 1", 1))
	d := startDaemon(t, filepath.Join(qs, "gitfleet.yaml"))
	d.waitFor("production on v1.0.0", func() bool {
		return sshActive(f, 0) == "v1.0.0" && sshActive(f, 1) == "v1.0.0" && sshActive(f, 2) == "v1.0.0"
	})

	b, _ = os.ReadFile(rel)
	write(t, rel, strings.Replace(string(b), "version: v1.0.0", "version: v1.1.0", 1))
	d.waitFor("the first production activation", func() bool {
		return strings.Contains(d.logs.String(), `"msg":"switched current","environment":"production","app":"hello","revision"`) &&
			strings.Contains(d.logs.String(), `"release":"v1.1.0-`)
	})
	f.Servers[2].Stop() // prod-3
	d.waitFor("prod-1 and prod-2 on v1.1.0 and prod-3 reported", func() bool {
		return sshActive(f, 0) == "v1.1.0" && sshActive(f, 1) == "v1.1.0" &&
			d.metric("gitfleet_server_steps_total", `environment="production"`, `step="activate"`, `result="failure"`) >= 1
	})
	if v := sshActive(f, 2); v != "v1.0.0" {
		t.Errorf("prod-3 is on %q while its sshd is down, want v1.0.0", v)
	}
	if !strings.Contains(d.logs.String(), `"server":"prod-3"`) || !strings.Contains(d.logs.String(), "connection refused") {
		t.Error("the logs do not report prod-3 with its reason")
	}
	d.waitFor("prod-3 reported unreachable", func() bool {
		return d.metric("gitfleet_servers", `environment="production"`, `state="unreachable"`) == 1
	})
	f.Servers[2].Start()
	d.waitFor("prod-3 converged once back", func() bool {
		return sshActive(f, 2) == "v1.1.0" && sshRunning(f, 2) == "v1.1.0" &&
			d.metric("gitfleet_servers", `environment="production"`, `state="in_sync"`) == 3
	})
	d.stop()
}

// TestSSHChangedHostKeyRefused gives one server a host key that
// known_hosts does not list for it: that server is refused with a message
// that says what to do, the others are deployed.
func TestSSHChangedHostKeyRefused(t *testing.T) {
	qs, f := sshQuickstart(t, "1m")
	kh, _ := os.ReadFile(f.KnownHosts)
	lines := strings.Split(strings.TrimSpace(string(kh)), "\n")
	// prod-1's line gets prod-2's key.
	lines[0] = strings.SplitN(lines[0], " ", 2)[0] + " " + strings.SplitN(lines[1], " ", 2)[1]
	os.WriteFile(f.KnownHosts, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
	d := startDaemon(t, filepath.Join(qs, "gitfleet.yaml"))
	// Staging too must be in sync, or plan would still see its changes.
	d.waitFor("prod-2, prod-3 and staging deployed, prod-1 unreachable", func() bool {
		return sshActive(f, 1) == "v1.0.0" && sshActive(f, 2) == "v1.0.0" &&
			d.metric("gitfleet_servers", `environment="production"`, `state="unreachable"`) == 1 &&
			d.metric("gitfleet_servers", `environment="production"`, `state="in_sync"`) == 2 &&
			d.metric("gitfleet_servers", `environment="staging"`, `state="in_sync"`) == 2
	})
	if sshActive(f, 0) != "" {
		t.Error("prod-1 was deployed despite a changed host key")
	}
	if !strings.Contains(d.logs.String(), "has CHANGED") {
		t.Error("the logs do not say that prod-1's host key changed")
	}
	code, out, _ := run("plan", "--config", filepath.Join(qs, "gitfleet.yaml"))
	if code != 0 || !strings.Contains(out, "prod-1") || !strings.Contains(out, "has CHANGED") {
		t.Errorf("plan: exit %d, want the changed key reported for prod-1:\n%s", code, out)
	}
	d.stop()
}

// TestSSHFullDiskDuringStaging gives prod-2 a disk too small for the next
// release: staging there fails with the reason in the log, the metrics and
// the plan, prod-2 stays whole on the release it had and keeps no partial
// upload, the others go ahead; once space is freed it converges.
func TestSSHFullDiskDuringStaging(t *testing.T) {
	qs, f := sshQuickstart(t, "2s")
	f.Servers[1].LimitDisk(512 << 10) // prod-2
	d := startDaemon(t, filepath.Join(qs, "gitfleet.yaml"))
	d.waitFor("production on v1.0.0", func() bool {
		return sshActive(f, 0) == "v1.0.0" && sshActive(f, 1) == "v1.0.0" && sshActive(f, 2) == "v1.0.0"
	})

	// v1.2.0 is v1.1.0 with 1 MiB of data that does not compress.
	arts := filepath.Join(qs, "desired", "artifacts", "hello")
	if out, err := exec.Command("cp", "-a", filepath.Join(arts, "v1.1.0"), filepath.Join(arts, "v1.2.0")).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	write(t, filepath.Join(arts, "v1.2.0", "VERSION"), "v1.2.0\n")
	big := make([]byte, 1<<20)
	rand.Read(big)
	if err := os.WriteFile(filepath.Join(arts, "v1.2.0", "public", "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	rel := filepath.Join(qs, "desired", "releases", "production.yaml")
	b, _ := os.ReadFile(rel)
	write(t, rel, strings.Replace(string(b), "version: v1.0.0", "version: v1.2.0", 1))

	d.waitFor("prod-1 and prod-3 on v1.2.0, prod-2's staging failed", func() bool {
		return sshActive(f, 0) == "v1.2.0" && sshActive(f, 2) == "v1.2.0" &&
			d.metric("gitfleet_server_steps_total", `environment="production"`, `step="stage"`, `result="failure"`) >= 1
	})
	if v, r := sshActive(f, 1), sshRunning(f, 1); v != "v1.0.0" || r != "v1.0.0" {
		t.Errorf("prod-2 is on %q running %q, want v1.0.0 whole", v, r)
	}
	entries, _ := os.ReadDir(filepath.Join(f.Servers[1].Root, "hello", "releases"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") || strings.HasPrefix(e.Name(), "v1.2.0") {
			t.Errorf("prod-2 kept %s from the failed upload", e.Name())
		}
	}
	if !strings.Contains(d.logs.String(), `"server":"prod-2"`) || !strings.Contains(d.logs.String(), "No space left on device") {
		t.Error("the logs do not report prod-2's full disk")
	}
	code, out, _ := run("plan", "--config", filepath.Join(qs, "gitfleet.yaml"))
	if code != 2 || !regexp.MustCompile(`prod-2 .*last attempt failed at stage .*No space left on device`).MatchString(out) {
		t.Errorf("plan: exit %d, want prod-2 pending with its full disk as the reason:\n%s", code, out)
	}

	t.Logf("plan with prod-2 full:\n%s", out)
	f.Servers[1].LimitDisk(16 << 20)
	d.waitFor("prod-2 converged once space was freed", func() bool {
		return sshActive(f, 1) == "v1.2.0" && sshRunning(f, 1) == "v1.2.0" &&
			d.metric("gitfleet_servers", `environment="production"`, `state="in_sync"`) == 3
	})
	d.stop()
	if b, err := os.ReadFile(filepath.Join(qs, "state", "failures.json")); err != nil || strings.Contains(string(b), "prod-2") {
		t.Errorf("the record of failed steps still holds prod-2 after it converged: %s (%v)", b, err)
	}
}

// TestSSHAuthFailureAndFailingActivate: staging-1 refuses the daemon's key
// (a login user it does not have) and the activate command fails on
// prod-3. Each is reported for its server with its reason in the plan,
// the log and the metrics; prod-3 is back on its previous release and the
// other servers are deployed.
func TestSSHAuthFailureAndFailingActivate(t *testing.T) {
	qs, f := sshQuickstart(t, "1m")
	envs := filepath.Join(qs, "desired", "environments.yaml")
	b, _ := os.ReadFile(envs)
	write(t, envs, strings.Replace(string(b), "{name: staging-1, ", "{name: staging-1, user: nobody-here, ", 1))
	app := filepath.Join(qs, "desired", "apps", "hello.yaml")
	b, _ = os.ReadFile(app)
	write(t, app, strings.Replace(string(b), "activate: ./bin/activate",
		`activate: 'if [ "$GITFLEET_SERVER" = prod-3 ] && [ "$GITFLEET_VERSION" = v1.1.0 ]; then echo "port 8080 in use" >&2; exit 7; fi; ./bin/activate'`, 1))
	d := startDaemon(t, filepath.Join(qs, "gitfleet.yaml"))
	d.waitFor("production on v1.0.0, staging-2 on v1.1.0", func() bool {
		return sshActive(f, 0) == "v1.0.0" && sshActive(f, 1) == "v1.0.0" && sshActive(f, 2) == "v1.0.0" && sshActive(f, 4) == "v1.1.0"
	})
	rel := filepath.Join(qs, "desired", "releases", "production.yaml")
	b, _ = os.ReadFile(rel)
	write(t, rel, strings.Replace(string(b), "version: v1.0.0", "version: v1.1.0", 1))
	d.waitFor("prod-1 and prod-2 on v1.1.0, prod-3's activation failed", func() bool {
		return sshActive(f, 0) == "v1.1.0" && sshActive(f, 1) == "v1.1.0" &&
			d.metric("gitfleet_server_steps_total", `environment="production"`, `step="activate"`, `result="failure"`) == 1
	})
	if v, r := sshActive(f, 2), sshRunning(f, 2); v != "v1.0.0" || r != "v1.0.0" {
		t.Errorf("prod-3 is on %q running %q, want v1.0.0", v, r)
	}
	if sshActive(f, 3) != "" {
		t.Error("staging-1 was deployed although it refuses the key")
	}
	if n := d.metric("gitfleet_servers", `environment="staging"`, `state="unreachable"`); n != 1 {
		t.Errorf("staging unreachable servers: %v, want 1", n)
	}
	logs := d.logs.String()
	if !strings.Contains(logs, "unable to authenticate") || !strings.Contains(logs, "port 8080 in use") || !strings.Contains(logs, "exit status 7") {
		t.Error("the logs do not give the reasons: authentication for staging-1, the activate command's output and status for prod-3")
	}
	code, out, _ := run("plan", "--config", filepath.Join(qs, "gitfleet.yaml"))
	if code != 0 || !regexp.MustCompile(`staging-1\s+unreachable: .*unable to authenticate`).MatchString(out) ||
		!regexp.MustCompile(`prod-3\s+held: .*exit status 7`).MatchString(out) {
		t.Errorf("plan: exit %d, want staging-1 unreachable and prod-3 held, with reasons:\n%s", code, out)
	}
	t.Logf("plan:\n%s", out)
	d.stop()
}
