package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/internal/testenv"
)

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binary != "" {
		os.RemoveAll(filepath.Dir(binary))
	}
	os.Exit(code)
}

// gitfleetBinary builds the real daemon once per test run.
func gitfleetBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gitfleet-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "gitfleet")
		out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

// daemon is a running `gitfleet run`.
type daemon struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string
	// url is http://addr, or https://addr for a daemon with api.tls;
	// client reaches it.
	url    string
	client *http.Client
	logs   *syncBuffer
	done   chan error
	// bound is how long waitFor waits (default 20s).
	bound time.Duration
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startDaemon runs the binary; wrap, if given, is prepended to the command
// line (to run it in another mount namespace, say).
func startDaemon(t *testing.T, config string, wrap ...string) *daemon {
	t.Helper()
	return startDaemonWith(t, config, nil, wrap...)
}

// startDaemonWith runs the binary; with roots, the daemon serves HTTPS
// (api.tls of config) with a certificate those roots trust.
func startDaemonWith(t *testing.T, config string, roots *x509.CertPool, wrap ...string) *daemon {
	t.Helper()
	d := &daemon{t: t, addr: freeAddr(t), logs: &syncBuffer{}, done: make(chan error, 1), client: &http.Client{Timeout: 10 * time.Second}}
	d.url = "http://" + d.addr
	if roots != nil {
		d.url = "https://" + d.addr
		d.client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	}
	args := append(wrap, gitfleetBinary(t), "run", "--config", config, "--listen", d.addr, "--log-format", "json")
	d.cmd = exec.Command(args[0], args[1:]...)
	d.cmd.Stdout, d.cmd.Stderr = d.logs, d.logs
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			d.cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() {
			t.Logf("daemon logs:\n%s", d.logs.String())
		}
	})
	d.waitFor("/healthz to answer", func() bool {
		resp, err := d.client.Get(d.url + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return d
}

// waitFor polls cond for up to 20 seconds.
func (d *daemon) waitFor(what string, cond func() bool) {
	d.t.Helper()
	bound := d.bound
	if bound == 0 {
		bound = 20 * time.Second
	}
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) {
		select {
		case err := <-d.done:
			d.t.Fatalf("daemon exited (%v) while waiting for %s", err, what)
		default:
		}
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.t.Fatalf("timed out after %s waiting for %s", bound, what)
}

// metric returns the value of the first sample whose line starts with
// name{...} containing every label given, or -1.
func (d *daemon) metric(name string, labels ...string) float64 {
	resp, err := d.client.Get(d.url + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
next:
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(line, l) {
				continue next
			}
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err == nil {
			return v
		}
	}
	return -1
}

// stop sends SIGTERM and waits for a clean exit.
func (d *daemon) stop() {
	d.t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		if err != nil {
			d.t.Fatalf("daemon exited with %v after SIGTERM, want exit 0", err)
		}
	case <-time.After(20 * time.Second):
		d.t.Fatal("daemon did not exit within 20s of SIGTERM")
	}
}

var releaseRE = regexp.MustCompile(`^releases/(v[0-9.]+)-[0-9a-f]{12}$`)

// active returns the version current points to on a quickstart server.
func active(qs, server string) string {
	target, err := os.Readlink(filepath.Join(qs, "state", "fleet", server, "srv", "hello", "current"))
	if err != nil {
		return ""
	}
	if m := releaseRE.FindStringSubmatch(target); m != nil {
		return m[1]
	}
	return "?" + target
}

func runningVersion(qs, server string) string {
	b, _ := os.ReadFile(filepath.Join(qs, "state", "fleet", server, "srv", "hello", "running"))
	return strings.TrimSpace(string(b))
}

var production = []string{"prod-1", "prod-2", "prod-3"}

func TestQuickstartEndToEnd(t *testing.T) {
	qs := quickstart(t)
	d := startDaemon(t, filepath.Join(qs, "gitfleet.yaml"))
	converged := func(version string) func() bool {
		return func() bool {
			for _, s := range production {
				if active(qs, s) != version || runningVersion(qs, s) != version {
					return false
				}
			}
			return d.metric("gitfleet_servers", `environment="production"`, `state="in_sync"`) == 3
		}
	}
	d.waitFor("production on v1.0.0", converged("v1.0.0"))
	d.waitFor("staging on v1.1.0", func() bool {
		return active(qs, "staging-1") == "v1.1.0" && active(qs, "staging-2") == "v1.1.0" &&
			d.metric("gitfleet_servers", `environment="staging"`, `state="in_sync"`) == 2
	})
	firstRevision := revisionLabel(d)

	// A bad edit keeps the last good state in force and says why.
	rel := filepath.Join(qs, "desired", "releases", "production.yaml")
	good, err := os.ReadFile(rel)
	if err != nil {
		t.Fatal(err)
	}
	write(t, rel, strings.Replace(string(good), "version: v1.0.0", "version: v1.1.0\nreplicas: 3", 1))
	d.waitFor("the bad edit to be rejected", func() bool {
		return d.metric("gitfleet_desired_state_valid") == 0 && d.metric("gitfleet_source_errors_total", `reason="invalid"`) >= 1
	})
	if !strings.Contains(d.logs.String(), `releases/production.yaml:6`) || !strings.Contains(d.logs.String(), `unknown field \"replicas\"`) {
		t.Errorf("logs do not name the bad line (releases/production.yaml:6, replicas)")
	}
	for _, s := range production {
		if v := active(qs, s); v != "v1.0.0" {
			t.Fatalf("%s switched to %s on a rejected desired state", s, v)
		}
	}

	// The real change: promote v1.1.0 to production.
	write(t, rel, strings.Replace(string(good), "version: v1.0.0", "version: v1.1.0", 1))
	d.waitFor("production on v1.1.0", converged("v1.1.0"))
	if d.metric("gitfleet_desired_state_valid") != 1 {
		t.Error("gitfleet_desired_state_valid is not 1 after the fix")
	}
	if rev := revisionLabel(d); rev == "" || rev == firstRevision {
		t.Errorf("desired revision label %q did not change from %q", rev, firstRevision)
	}
	if got := d.metric("gitfleet_deployments_total", `environment="production"`, `result="success"`); got < 2 {
		t.Errorf("gitfleet_deployments_total{production,success} = %v, want at least 2", got)
	}
	// The previous release stays staged for a switch back.
	entries, _ := os.ReadDir(filepath.Join(qs, "state", "fleet", "prod-1", "srv", "hello", "releases"))
	if len(entries) != 2 {
		t.Errorf("prod-1 holds %d releases, want 2 (v1.0.0 and v1.1.0)", len(entries))
	}
	checkRolloutLogs(t, d.logs.String())
	d.stop()
}

// checkRolloutLogs checks that every rollout line carries environment, app,
// revision and (for server steps) server.
func checkRolloutLogs(t *testing.T, logs string) {
	t.Helper()
	perServer := map[string]bool{"staged": true, "activated": true, "switched current": true, "health check passed": true, "activate command succeeded": true}
	seen := 0
	for _, line := range strings.Split(logs, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		msg, _ := rec["msg"].(string)
		if !perServer[msg] && msg != "rollout started" && msg != "rollout finished" {
			continue
		}
		seen++
		for _, k := range []string{"environment", "app", "revision"} {
			if rec[k] == nil || rec[k] == "" {
				t.Errorf("log line %q lacks %s", line, k)
			}
		}
		if perServer[msg] && (rec["server"] == nil || rec["server"] == "") {
			t.Errorf("log line %q lacks server", line)
		}
	}
	if seen < 10 {
		t.Errorf("saw %d rollout log lines, want many", seen)
	}
}

func revisionLabel(d *daemon) string {
	resp, err := d.client.Get(d.url + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`gitfleet_desired_revision_info\{[^}]*revision="([0-9a-f]+)"`).FindSubmatch(b)
	if m == nil {
		return ""
	}
	return string(m[1])
}

// TestUnwritableFleet runs the daemon against a fleet directory it cannot
// write: every server's stage fails with an error naming it, the daemon keeps
// running, and the fleet is left as it was.
func TestUnwritableFleet(t *testing.T) {
	qs := quickstart(t)
	fleet := filepath.Join(qs, "state", "fleet")
	if err := os.MkdirAll(fleet, 0o755); err != nil {
		t.Fatal(err)
	}
	var wrap []string
	if os.Geteuid() == 0 {
		// root writes through permissions: make the fleet a read-only
		// mount in a mount namespace of the daemon's own.
		if _, err := exec.LookPath("unshare"); err != nil {
			skipOrFail(t, "unshare is needed to make a read-only fleet as root")
		}
		wrap = []string{"unshare", "--mount", "--propagation", "private", "sh", "-c", `mount --bind -o ro "$0" "$0" && shift && exec "$@"`, fleet, "--"}
		if out, err := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", `mount --bind -o ro "$0" "$0"`, fleet).CombinedOutput(); err != nil {
			skipOrFail(t, fmt.Sprintf("cannot make a read-only bind mount here: %v %s", err, out))
		}
	} else {
		if err := os.Chmod(fleet, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(fleet, 0o755) })
	}
	d := startDaemon(t, filepath.Join(qs, "gitfleet.yaml"), wrap...)
	d.waitFor("stage failures on all five servers", func() bool {
		return d.metric("gitfleet_server_steps_total", `step="stage"`, `result="failure"`, `environment="production"`) == 3 &&
			d.metric("gitfleet_server_steps_total", `step="stage"`, `result="failure"`, `environment="staging"`) == 2
	})
	logs := d.logs.String()
	for _, s := range append(production, "staging-1", "staging-2") {
		if !strings.Contains(logs, "on "+s+": mkdir "+filepath.Join(fleet, s)) {
			t.Errorf("no stage error naming server %s and its path in the logs", s)
		}
	}
	if got := d.metric("gitfleet_deployments_total", `environment="production"`, `result="failure"`); got != 1 {
		t.Errorf("gitfleet_deployments_total{production,failure} = %v, want 1", got)
	}
	d.stop()
	entries, err := os.ReadDir(fleet)
	if err != nil || len(entries) != 0 {
		t.Errorf("fleet directory changed: %d entries (%v)", len(entries), err)
	}
}

// skipOrFail skips on a developer machine that lacks what a test needs,
// and fails in CI, where everything must run.
func skipOrFail(t *testing.T, why string) {
	t.Helper()
	testenv.Skip(t, why)
}

// TestSIGTERMFinishesStepUnderWay stops the daemon while a slow activation
// is under way: that activation completes, no other server step starts, and
// the daemon exits 0. Every server is on a whole release or none.
func TestSIGTERMFinishesStepUnderWay(t *testing.T) {
	qs := quickstart(t)
	app := filepath.Join(qs, "desired", "apps", "hello.yaml")
	b, err := os.ReadFile(app)
	if err != nil {
		t.Fatal(err)
	}
	write(t, app, strings.Replace(string(b), "activate: ./bin/activate", "activate: sleep 1 && ./bin/activate", 1))
	for _, env := range []string{"production", "staging"} {
		rel := filepath.Join(qs, "desired", "releases", env+".yaml")
		b, err := os.ReadFile(rel)
		if err != nil {
			t.Fatal(err)
		}
		write(t, rel, strings.Replace(string(b), "parallelism: 2", "parallelism: 1", 1))
	}
	d := startDaemon(t, filepath.Join(qs, "gitfleet.yaml"))
	d.waitFor("the first production activation to start", func() bool {
		return strings.Contains(d.logs.String(), `"msg":"switched current","environment":"production"`)
	})
	d.stop()

	activated := 0
	for _, s := range production {
		v := active(qs, s)
		if v == "" {
			continue
		}
		activated++
		if v != "v1.0.0" || runningVersion(qs, s) != "v1.0.0" {
			t.Errorf("%s: current %q, running %q: the activation under way did not finish", s, v, runningVersion(qs, s))
		}
		state, err := os.ReadFile(filepath.Join(qs, "state", "fleet", s, "srv", "hello", ".gitfleet", "state.json"))
		if err != nil || strings.Contains(string(state), `"pending"`) || !strings.Contains(string(state), `"release": "v1.0.0-`) {
			t.Errorf("%s: state.json does not record a finished activation: %s (%v)", s, state, err)
		}
	}
	if activated != 1 {
		t.Errorf("%d production servers were activated, want exactly the 1 under way at SIGTERM (parallelism 1)", activated)
	}
	if !strings.Contains(d.logs.String(), `"result":"stopped"`) {
		t.Error("no rollout was reported as stopped")
	}
}
