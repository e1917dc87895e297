package reconcile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/resolve"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/tree"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// repo writes a desired-state directory: environment "prod" (a, b, c),
// app "web" with versions v1 and v2, released at version.
func repo(t *testing.T, dir, version string) {
	t.Helper()
	files := map[string]string{
		"env.yaml":                 "kind: Environment\nname: prod\nservers: [{name: a}, {name: b}, {name: c}]\n",
		"app.yaml":                 "kind: App\nname: web\nartifact: {path: artifacts/web}\ndeployTo: /srv/web\nactivate: cp VERSION ../../running\nhealth: {command: 'cmp VERSION ../../running', attempts: 2, interval: 10ms}\n",
		"release.yaml":             "kind: Release\napp: web\nenvironment: prod\nversion: " + version + "\n",
		"artifacts/web/v1/VERSION": "v1\n",
		"artifacts/web/v2/VERSION": "v2\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func snapshot(t *testing.T, dir string) source.Update {
	t.Helper()
	s, err := (&source.Dir{Path: dir}).Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return source.Update{Snapshot: s}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func running(t testing.TB, fleet, server string) string {
	b, err := os.ReadFile(filepath.Join(fleet, server, "srv", "web", "running"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func TestPassConvergesAndKeepsLastGoodState(t *testing.T) {
	dir, fleet := t.TempDir(), t.TempDir()
	repo(t, dir, "v1")
	c, reg := newController(t, fleet)
	ctx := context.Background()

	c.Update(snapshot(t, dir))
	pr := c.Pass(ctx, ctx, c.Desired())
	if len(pr.Results) != 1 || pr.Results[0].Outcome() != "success" {
		t.Fatalf("first pass: got %d results, want one successful rollout", len(pr.Results))
	}
	for _, s := range []string{"a", "b", "c"} {
		if got := running(t, fleet, s); got != "v1" {
			t.Errorf("%s runs %q, want v1", s, got)
		}
	}
	if got := testutil.ToFloat64(metricServers(reg, "in_sync")); got != 3 {
		t.Errorf("gitfleet_servers{state=in_sync} = %v, want 3", got)
	}

	// A bad edit: the last good state stays in force.
	good := c.Desired()
	if err := os.WriteFile(filepath.Join(dir, "release.yaml"), []byte("kind: Release\napp: web\nenvironment: prod\nversion: v2\nreplicas: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.Update(snapshot(t, dir))
	if c.Desired() != good {
		t.Fatal("an invalid desired state replaced the last good one")
	}
	if got := testutil.ToFloat64(gather(reg, "gitfleet_desired_state_valid")); got != 0 {
		t.Errorf("gitfleet_desired_state_valid = %v, want 0 after a bad edit", got)
	}
	if pr := c.Pass(ctx, ctx, c.Desired()); len(pr.Plan.Changes) != 0 {
		t.Fatalf("pass on the last good state planned %d changes, want 0", len(pr.Plan.Changes))
	}

	// Fixed: v2 rolls out.
	repo(t, dir, "v2")
	c.Update(snapshot(t, dir))
	if pr := c.Pass(ctx, ctx, c.Desired()); len(pr.Results) != 1 || pr.Results[0].Outcome() != "success" {
		t.Fatalf("v2 pass: want one successful rollout, got %+v", pr.Results)
	}
	for _, s := range []string{"a", "b", "c"} {
		if got := running(t, fleet, s); got != "v2" {
			t.Errorf("%s runs %q, want v2", s, got)
		}
	}
	if pr := c.Pass(ctx, ctx, c.Desired()); len(pr.Plan.Changes) != 0 {
		t.Errorf("a pass after convergence planned %d changes, want 0", len(pr.Plan.Changes))
	}
}

func TestRunReactsToUpdatesAndStops(t *testing.T) {
	dir, fleet := t.TempDir(), t.TempDir()
	repo(t, dir, "v1")
	c, _ := newController(t, fleet)
	stop, stopNow := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		c.Run(context.Background(), stop)
		close(done)
	}()
	waitFor := func(version string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if running(t, fleet, "a") == version && running(t, fleet, "b") == version && running(t, fleet, "c") == version {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("fleet did not reach %s within 10s", version)
	}
	c.Update(snapshot(t, dir))
	waitFor("v1")
	repo(t, dir, "v2")
	c.Update(snapshot(t, dir))
	waitFor("v2")
	stopNow()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after stop")
	}
}

func TestResolveRejectsUnsafeArtifact(t *testing.T) {
	dir := t.TempDir()
	repo(t, dir, "v1")
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "artifacts/web/v1/passwd")); err != nil {
		t.Fatal(err)
	}
	_, err := resolve.Resolve(context.Background(), snapshot(t, dir).Snapshot, nil, spec.Options{})
	if err == nil || !strings.Contains(err.Error(), "release.yaml:4: web v1: artifact artifacts/web/v1/passwd: symlink to absolute path /etc/passwd") {
		t.Fatalf("got %v, want an error at release.yaml:4 naming the symlink", err)
	}
	_, err = resolve.Resolve(context.Background(), mustTree(t, dir, "release.yaml", "kind: Release\napp: web\nenvironment: prod\nversion: v9\n"), nil, spec.Options{})
	if err == nil || !strings.Contains(err.Error(), "release.yaml:4: web v9: artifact artifacts/web/v9: no such directory") {
		t.Fatalf("got %v, want a missing-artifact error at release.yaml:4", err)
	}
}

func mustTree(t *testing.T, dir, file, content string) *source.Snapshot {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	tr, err := tree.ReadDir(dir, tree.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return &source.Snapshot{Revision: tr.Digest(), Tree: tr}
}

func metricServers(reg *prometheus.Registry, state string) prometheus.Collector {
	return gatherLabels(reg, "gitfleet_servers", map[string]string{"environment": "prod", "app": "web", "state": state})
}

func gather(reg *prometheus.Registry, name string) prometheus.Collector {
	return gatherLabels(reg, name, nil)
}

// gatherLabels turns one sample of the registry into a constant collector
// for testutil.ToFloat64.
func gatherLabels(reg *prometheus.Registry, name string, labels map[string]string) prometheus.Collector {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			v := m.GetGauge().GetValue()
			return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "x", Help: "x"}, func() float64 { return v })
		}
	}
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "missing", Help: "x"}, func() float64 { return -1 })
}

// flakyArtifacts fails until it has been asked fail times.
type flakyArtifacts struct {
	mu    sync.Mutex
	fail  int
	calls int
}

func (f *flakyArtifacts) Artifact(context.Context, string, string, string) (*tree.Tree, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls <= f.fail {
		return nil, "", errors.New("connection refused")
	}
	t, err := tree.New([]*tree.Entry{{Path: "VERSION", Kind: tree.File, Perm: 0o644, Data: []byte("v1\n")}})
	return t, "0123456789012345678901234567890123456789", err
}

// TestRejectedSnapshotIsRetriedAtResync checks that a desired state
// rejected because a Git artifact could not be fetched is tried again at
// the next resync, without a new revision.
func TestRejectedSnapshotIsRetriedAtResync(t *testing.T) {
	dir, fleet := t.TempDir(), t.TempDir()
	repo(t, dir, "v1")
	if err := os.WriteFile(filepath.Join(dir, "app.yaml"), []byte("kind: App\nname: web\nartifact: {git: 'https://git.example.com/web.git'}\ndeployTo: /srv/web\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, _ := newController(t, fleet, withResync(50*time.Millisecond), withArtifacts(&flakyArtifacts{fail: 2}))
	c.Update(snapshot(t, dir))
	if c.Desired() != nil {
		t.Fatal("accepted although the artifact fetch failed")
	}
	stop, stopNow := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(context.Background(), stop); close(done) }()
	// The pass under way finishes before the fleet directory goes.
	defer func() { stopNow(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for c.Desired() == nil {
		if time.Now().After(deadline) {
			t.Fatal("the rejected snapshot was not retried at resync")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// counter is a counter of reg with the given label, -1 when absent.
func counter(reg *prometheus.Registry, name, label, value string) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return -1
}

// TestErrorsTypedByWhatARetryDoes: an artifact remote that is down is no
// problem of the desired state (gitfleet_desired_state_valid stays 1) and
// is tried again with a backoff; a desired state with a syntax error is
// invalid (0) and is not tried again at every resync: only when an input
// changes (Sync) or at the stall cap.
func TestErrorsTypedByWhatARetryDoes(t *testing.T) {
	dir, fleet := t.TempDir(), t.TempDir()
	repo(t, dir, "v1")
	flaky := &flakyArtifacts{fail: 1000}
	c, reg := newController(t, fleet, withResync(20*time.Millisecond), withArtifacts(flaky))
	c.Update(snapshot(t, dir))
	if c.Desired() == nil {
		t.Fatal("the first desired state was rejected")
	}
	if v := testutil.ToFloat64(gather(reg, "gitfleet_desired_state_valid")); v != 1 {
		t.Fatalf("valid = %v after a good state, want 1", v)
	}

	// The app moves to a Git artifact whose remote is down.
	writeFile(t, filepath.Join(dir, "app.yaml"), "kind: App\nname: web\nartifact: {git: 'https://git.example.com/web.git'}\ndeployTo: /srv/web\n")
	c.Update(snapshot(t, dir))
	if v := testutil.ToFloat64(gather(reg, "gitfleet_desired_state_valid")); v != 1 {
		t.Errorf("valid = %v with an artifact remote down, want 1: the desired state is not invalid", v)
	}
	if n := counter(reg, "gitfleet_source_errors_total", "reason", "artifact"); n != 1 {
		t.Errorf("source_errors_total{artifact} = %v, want 1", n)
	}
	stop, stopNow := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(context.Background(), stop); close(done) }()
	waitFor(t, "the artifact fetched again", func() bool { return counter(reg, "gitfleet_source_errors_total", "reason", "artifact") >= 2 })
	stopNow()
	<-done

	// A syntax error: invalid, and not tried again at resync.
	writeFile(t, filepath.Join(dir, "release.yaml"), "kind: Release\napp: web\nenvironment: prod\nversion: v1\nreplicas: 3\n")
	c.Update(snapshot(t, dir))
	if v := testutil.ToFloat64(gather(reg, "gitfleet_desired_state_valid")); v != 0 {
		t.Errorf("valid = %v with a syntax error, want 0", v)
	}
	stop, stopNow = context.WithCancel(context.Background())
	done = make(chan struct{})
	go func() { c.Run(context.Background(), stop); close(done) }()
	time.Sleep(300 * time.Millisecond) // 15 resyncs
	if n := counter(reg, "gitfleet_source_errors_total", "reason", "invalid"); n != 1 {
		t.Errorf("source_errors_total{invalid} = %v after 15 resyncs, want 1: a bad spec is not retried until an input changes", n)
	}
	c.Update(snapshot(t, dir)) // the same revision again: not resolved again
	c.Sync()                   // an input changed: tried again
	waitFor(t, "the retry after Sync", func() bool { return counter(reg, "gitfleet_source_errors_total", "reason", "invalid") == 2 })
	stopNow()
	<-done
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
