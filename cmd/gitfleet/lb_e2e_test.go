package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/lbtest"
)

// lbFleet is a desired state, a local fleet and a real HAProxy in front of
// it: every server runs the version app on its own 127.0.0.4x address,
// started and restarted by the App's activate command.
type lbFleet struct {
	dir     string
	servers []string
	hosts   []string
	port    int
	h       *lbtest.HAProxy
}

const restartScript = `#!/bin/sh
# Restart the version app of this server on this release.
set -eu
run="$GITFLEET_DEPLOY_TO/../run"
pidf="$run/app.pid"
if [ -f "$pidf" ]; then
  pid=$(cat "$pidf")
  kill -TERM "$pid" 2>/dev/null || true
  i=0
  while [ -d "/proc/$pid" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null && [ $i -lt 200 ]; do
    sleep 0.02; i=$((i+1))
  done
fi
flags=""
[ -f unhealthy ] && flags="-unhealthy"
setsid %s -addr "$(cat "$run/host"):%d" -version "$(cat VERSION)" -pidfile "$pidf" $flags > "$run/app.log" 2>&1 < /dev/null &
`

// newLBFleet writes n servers (groups blue for the first half, green for
// the rest), versions v1 to v6 (v3 fails its health check), and the
// release of app web at v1 with the strategy given.
func newLBFleet(t *testing.T, n int, release string) *lbFleet {
	t.Helper()
	bin := lbtest.BuildApp(t)
	f := &lbFleet{dir: t.TempDir(), port: lbtest.FreePort(t)}
	var backends []lbtest.Backend
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("web-%d", i)
		host := fmt.Sprintf("127.0.0.%d", 40+i)
		f.servers = append(f.servers, name)
		f.hosts = append(f.hosts, host)
		backends = append(backends, lbtest.Backend{Name: name, Addr: fmt.Sprintf("%s:%d", host, f.port)})
		write(t, filepath.Join(f.dir, "fleet", name, "srv", "run", "host"), host)
	}
	f.h = lbtest.Start(t, backends)
	var env strings.Builder
	fmt.Fprintf(&env, "kind: Environment\nname: production\nloadBalancer: {type: haproxy, address: %s, backend: %s, timeout: 2s}\nservers:\n", f.h.Socket, f.h.Backend)
	for i, name := range f.servers {
		group := "blue"
		if i >= n/2 {
			group = "green"
		}
		fmt.Fprintf(&env, "  - {name: %s, address: %s, groups: [web, %s]}\n", name, f.hosts[i], group)
	}
	write(t, filepath.Join(f.dir, "desired", "environments.yaml"), env.String())
	write(t, filepath.Join(f.dir, "desired", "apps.yaml"), fmt.Sprintf(`kind: App
name: web
artifact: {path: artifacts/web}
deployTo: /srv/web
groups: [web]
activate: ./bin/restart
activateTimeout: 20s
health: {http: "http://{host}:%d/health", attempts: 40, interval: 50ms, timeout: 1s}
`, f.port))
	for _, v := range []string{"v1", "v2", "v3", "v4", "v5", "v6"} {
		art := filepath.Join(f.dir, "desired", "artifacts", "web", v)
		write(t, filepath.Join(art, "VERSION"), v+"\n")
		write(t, filepath.Join(art, "bin", "restart"), fmt.Sprintf(restartScript, bin, f.port))
		os.Chmod(filepath.Join(art, "bin", "restart"), 0o755)
		if v == "v3" {
			write(t, filepath.Join(art, "unhealthy"), "this version fails its health check\n")
		}
	}
	f.setRelease(t, "v1", release)
	write(t, filepath.Join(f.dir, "gitfleet.yaml"), `source:
  directory: {path: desired, debounce: 50ms}
transport:
  local: {root: fleet}
stateDir: state
resync: 1s
`)
	t.Cleanup(func() {
		// The apps run on their own: stop them.
		for _, name := range f.servers {
			if b, err := os.ReadFile(filepath.Join(f.dir, "fleet", name, "srv", "run", "app.pid")); err == nil {
				var pid int
				fmt.Sscan(string(b), &pid)
				if pid > 0 {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
	})
	return f
}

func (f *lbFleet) setRelease(t *testing.T, version, strategy string) {
	t.Helper()
	write(t, filepath.Join(f.dir, "desired", "release.yaml"), fmt.Sprintf("kind: Release\napp: web\nenvironment: production\nversion: %s\n%s\n", version, strategy))
}

func (f *lbFleet) config() string { return filepath.Join(f.dir, "gitfleet.yaml") }

// active is the version current points to on server i.
func (f *lbFleet) active(i int) string {
	target, err := os.Readlink(filepath.Join(f.dir, "fleet", f.servers[i], "srv", "web", "current"))
	if err != nil {
		return ""
	}
	v, _, _ := strings.Cut(strings.TrimPrefix(target, "releases/"), "-")
	return v
}

// lbStates is every server's administrative state and whether HAProxy
// finds it up, from HAProxy itself.
func (f *lbFleet) lbStates(t *testing.T) map[string]string {
	out := f.h.Command(t, "show servers state "+f.h.Backend)
	res := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		fs := strings.Fields(line)
		if len(fs) < 7 || strings.HasPrefix(line, "#") {
			continue
		}
		// srv_name, srv_op_state, srv_admin_state
		state := "ready"
		switch adm := fs[6]; {
		case adm == "0":
		case adm == "8" || adm == "16":
			state = "drain"
		default:
			state = "maint(" + adm + ")"
		}
		if fs[5] != "2" {
			state += ",down"
		}
		res[fs[3]] = state
	}
	return res
}

// onVersion says whether every server in idx runs version and is ready
// and up in HAProxy.
func (f *lbFleet) onVersion(t *testing.T, version string, idx ...int) bool {
	st := f.lbStates(t)
	for _, i := range idx {
		if f.active(i) != version || st[f.servers[i]] != "ready" {
			return false
		}
	}
	return true
}

func all(n int) []int {
	var idx []int
	for i := 0; i < n; i++ {
		idx = append(idx, i)
	}
	return idx
}

const rollingRelease = "strategy: rolling\nrolling: {batch: 1, maxUnavailable: 1, pause: 300ms, drainTimeout: 5s}"

// TestRollingUnderLoad: a rolling rollout from v1 to v2 while requests go
// through HAProxy: none fails.
func TestRollingUnderLoad(t *testing.T) {
	f := newLBFleet(t, 4, rollingRelease)
	d := startDaemon(t, f.config())
	d.bound = 60 * time.Second
	d.waitFor("every server on v1 and in HAProxy", func() bool { return f.onVersion(t, "v1", all(4)...) })

	load := lbtest.StartLoad(t, "http://"+f.h.Frontend+"/", 8, 200000, 2*time.Minute)
	d.waitFor("some traffic before the rollout", func() bool { return load.Total() >= 2000 })
	f.setRelease(t, "v2", rollingRelease)
	d.waitFor("every server on v2 and in HAProxy", func() bool { return f.onVersion(t, "v2", all(4)...) })
	d.waitFor("at least 10,000 requests", func() bool { return load.Total() >= 10000 })
	total, failed, errs, versions := load.Stop()
	t.Logf("rolling rollout under load: %d requests, %d failed, by version %v", total, failed, versions)
	if failed != 0 {
		t.Errorf("%d of %d requests failed during the rolling rollout, e.g. %v", failed, total, errs)
	}
	if versions["v1"] == 0 || versions["v2"] == 0 {
		t.Errorf("answers by version %v: want both v1 and v2", versions)
	}
	if !strings.Contains(d.logs.String(), `"msg":"rolling batch"`) {
		t.Error("no rolling batches in the logs")
	}
	d.stop()
}

const parallelRelease = "strategy: parallel\nparallel: {drainTimeout: 5s}"

// blue and green of a 4-server fleet.
var blue, green = []int{0, 1}, []int{2, 3}

// maint says whether the servers are in maintenance in HAProxy.
func (f *lbFleet) maint(t *testing.T, idx ...int) bool {
	st := f.lbStates(t)
	for _, i := range idx {
		if !strings.HasPrefix(st[f.servers[i]], "maint") {
			return false
		}
	}
	return true
}

// TestParallelUnderLoad: blue/green from v1 to v2 under load, then a
// rollback with `gitfleet rollback`: no request fails, the old group keeps
// the previous release, and the daemon does not switch again.
func TestParallelUnderLoad(t *testing.T) {
	f := newLBFleet(t, 4, parallelRelease)
	d := startDaemon(t, f.config())
	d.bound = 60 * time.Second
	// At first every server is ready in HAProxy (and down): a tie, so
	// the release goes to green and blue is taken out.
	live, idle := green, blue
	d.waitFor("green on v1 and live, blue out", func() bool {
		return f.onVersion(t, "v1", live...) && f.maint(t, idle...)
	})
	load := lbtest.StartLoad(t, "http://"+f.h.Frontend+"/", 8, 200000, 2*time.Minute)
	d.waitFor("some traffic before the rollout", func() bool { return load.Total() >= 3000 })
	f.setRelease(t, "v2", parallelRelease)
	live, idle = idle, live
	d.waitFor("blue on v2 and live, green out on v1", func() bool {
		return f.onVersion(t, "v2", live...) && f.maint(t, idle...) && f.active(idle[0]) == "v1" && f.active(idle[1]) == "v1"
	})
	d.waitFor("at least 10,000 requests", func() bool { return load.Total() >= 10000 })
	total, failed, errs, versions := load.Stop()
	t.Logf("parallel rollout under load: %d requests, %d failed, by version %v", total, failed, versions)
	if failed != 0 {
		t.Errorf("%d of %d requests failed during the parallel rollout, e.g. %v", failed, total, errs)
	}
	if versions["v1"] == 0 || versions["v2"] == 0 {
		t.Errorf("answers by version %v: want both v1 and v2", versions)
	}
	code, out, _ := run("plan", "--config", f.config())
	if code != 0 || !strings.Contains(out, "in sync on 4 of 4 servers") {
		t.Errorf("plan after the switch: exit %d, want in sync (the idle group keeps v1):\n%s", code, out)
	}

	// Switch back while green still holds v1, under load again.
	load = lbtest.StartLoad(t, "http://"+f.h.Frontend+"/", 8, 200000, 2*time.Minute)
	d.waitFor("traffic on v2", func() bool { return load.Total() >= 2000 })
	code, out, errOut := run("rollback", "--config", f.config(), "production", "web")
	if code != 0 {
		t.Fatalf("rollback: exit %d\n%s%s", code, out, errOut)
	}
	if !f.onVersion(t, "v1", idle...) || !f.maint(t, live...) {
		t.Fatalf("after rollback: HAProxy %v, want green live on v1 and blue out", f.lbStates(t))
	}
	time.Sleep(3 * time.Second) // three resyncs: the daemon must not switch again
	total, failed, errs, versions = load.Stop()
	t.Logf("rollback under load: %d requests, %d failed, by version %v", total, failed, versions)
	if failed != 0 {
		t.Errorf("%d of %d requests failed during the rollback, e.g. %v", failed, total, errs)
	}
	if !f.onVersion(t, "v1", idle...) || !f.maint(t, live...) || f.active(live[0]) != "v2" {
		t.Errorf("the daemon undid the rollback: HAProxy %v", f.lbStates(t))
	}
	code, out, _ = run("plan", "--config", f.config())
	if !strings.Contains(out, "rolled back") {
		t.Errorf("plan after the rollback: exit %d, want the release held as rolled back:\n%s", code, out)
	}

	// sync --retry lets the daemon switch to v2 again.
	code, out, errOut = run("sync", "--retry", "--config", f.config(), "--addr", d.addr, "production", "web")
	if code != 0 || !strings.Contains(out, "cleared on 2 servers") || !strings.Contains(out, "the daemon is reconciling now") {
		t.Fatalf("sync --retry: exit %d\n%s%s", code, out, errOut)
	}
	d.waitFor("blue on v2 and live again", func() bool { return f.onVersion(t, "v2", live...) && f.maint(t, idle...) })
	d.stop()
}

// TestRollingFailedHealthCheckRollsBack: v3 fails its health check. With
// batches of 2 and no failure budget, the first batch goes back to v2 and
// into HAProxy, no request fails, the rollout is reported failed and the
// release is held at this revision until sync --retry.
func TestRollingFailedHealthCheckRollsBack(t *testing.T) {
	const release = "strategy: rolling\nrolling: {batch: 2, maxUnavailable: 2, drainTimeout: 5s}"
	f := newLBFleet(t, 4, release)
	f.setRelease(t, "v2", release)
	// A short health check, so the failure comes quickly.
	apps := filepath.Join(f.dir, "desired", "apps.yaml")
	b, _ := os.ReadFile(apps)
	write(t, apps, strings.Replace(string(b), "attempts: 40", "attempts: 10", 1))
	d := startDaemon(t, f.config())
	d.bound = 60 * time.Second
	d.waitFor("every server on v2 and in HAProxy", func() bool { return f.onVersion(t, "v2", all(4)...) })

	load := lbtest.StartLoad(t, "http://"+f.h.Frontend+"/", 8, 200000, 2*time.Minute)
	d.waitFor("some traffic before the rollout", func() bool { return load.Total() >= 2000 })
	f.setRelease(t, "v3", release)
	d.waitFor("a failed rolling rollout", func() bool {
		return d.metric("gitfleet_deployments_total", `environment="production"`, `result="failure"`) >= 1
	})
	d.waitFor("every server back on v2 and in HAProxy", func() bool { return f.onVersion(t, "v2", all(4)...) })
	d.waitFor("at least 10,000 requests", func() bool { return load.Total() >= 10000 })
	time.Sleep(2 * time.Second) // two resyncs: no retry in a loop
	total, failed, errs, versions := load.Stop()
	t.Logf("failed rolling rollout under load: %d requests, %d failed, by version %v", total, failed, versions)
	if failed != 0 {
		t.Errorf("%d of %d requests failed, e.g. %v", failed, total, errs)
	}
	if versions["v3"] != 0 {
		t.Errorf("%d requests were answered by the unhealthy v3", versions["v3"])
	}
	n := 0
	for _, line := range strings.Split(d.logs.String(), "\n") {
		if strings.Contains(line, `"msg":"rolling batch"`) && strings.Contains(line, `"release":"v3-`) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d rolling batches started, want 1: the rollout stops after the failed batch and is not retried", n)
	}
	if !strings.Contains(d.logs.String(), "failure budget exceeded") {
		t.Error("the logs do not say the failure budget stopped the rollout")
	}
	code, out, _ := run("plan", "--config", f.config())
	if code != 0 || !strings.Contains(out, "rolling rollout failed at this revision") || !strings.Contains(out, "sync --retry production web") {
		t.Errorf("plan: exit %d, want the release held with the way out:\n%s", code, out)
	}
	d.stop()
}

// TestRollingSurvivesSIGKILL kills the daemon with SIGKILL at several
// points of a rolling rollout and starts it again: every time the rollout
// completes and no server stays drained or in maintenance.
func TestRollingSurvivesSIGKILL(t *testing.T) {
	const release = "strategy: rolling\nrolling: {batch: 1, drainTimeout: 5s}"
	f := newLBFleet(t, 3, release)
	apps := filepath.Join(f.dir, "desired", "apps.yaml")
	b, _ := os.ReadFile(apps)
	// A slow activation leaves room to be killed in the middle of it.
	write(t, apps, strings.Replace(string(b), "activate: ./bin/restart", "activate: sleep 0.3 && ./bin/restart", 1))
	d := startDaemon(t, f.config())
	d.bound = 60 * time.Second
	d.waitFor("every server on v1", func() bool { return f.onVersion(t, "v1", all(3)...) })
	d.stop()

	// Kill points: the n-th log line that matches, in the rollout to the
	// version.
	points := []struct {
		version, msg string
		nth          int
	}{
		{"v2", `"msg":"out of the load balancer"`, 1},   // drained, not yet activated
		{"v4", `"msg":"switched current"`, 2},           // second server switched, activate command running
		{"v5", `"msg":"activate command succeeded"`, 1}, // activated, not yet put back
		{"v6", `"msg":"back in the load balancer"`, 2},  // between batches
	}
	for _, p := range points {
		f.setRelease(t, p.version, release)
		d := startDaemon(t, f.config())
		d.bound = 60 * time.Second
		d.waitFor(fmt.Sprintf("%s #%d", p.msg, p.nth), func() bool { return strings.Count(d.logs.String(), p.msg) >= p.nth })
		d.cmd.Process.Signal(syscall.SIGKILL)
		<-d.done
		states := f.lbStates(t)
		t.Logf("killed at %s #%d: HAProxy %v, current %s %s %s", p.msg, p.nth, states, f.active(0), f.active(1), f.active(2))

		d = startDaemon(t, f.config())
		d.bound = 60 * time.Second
		d.waitFor("every server on "+p.version+" and ready in HAProxy", func() bool { return f.onVersion(t, p.version, all(3)...) })
		d.stop()
	}
}
