package reconcile

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/plan"
	"github.com/gitfleet/gitfleet/resolve"
	"github.com/gitfleet/gitfleet/source"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/prometheus/client_golang/prometheus"
)

// artifactFixture is a desired state whose App takes its versions from the
// tags of a Git repository served over smart HTTP.
type artifactFixture struct {
	t          *testing.T
	app        *gittest.Remote
	srv        *gittest.Server
	dir, fleet string
	first      string               // the commit tag v1 named first
	moved      string               // the commit it was moved to, once moved
	reg        *prometheus.Registry // of the last controller
	artifacts  *source.GitArtifacts // of the last controller
}

func newArtifactFixture(t *testing.T, servers string) *artifactFixture {
	root := t.TempDir()
	f := &artifactFixture{t: t, app: gittest.NewRemote(t, root, "app"), dir: t.TempDir(), fleet: t.TempDir()}
	f.app.Write(map[string]string{"dist/VERSION": "v1\n", "src/main.go": "package main\n"})
	f.first = f.app.Commit("v1")
	f.app.Run("tag", "-a", "v1", "-m", "v1")
	f.app.Push()
	f.srv = gittest.Serve(t, root, "", "")
	f.write("env.yaml", "kind: Environment\nname: prod\nservers: ["+servers+"]\n")
	f.write("app.yaml", "kind: App\nname: web\nartifact: {git: '"+f.srv.URL+"/app.git', path: dist}\ndeployTo: /srv/web\n")
	f.write("release.yaml", "kind: Release\napp: web\nenvironment: prod\nversion: v1\n")
	return f
}

func (f *artifactFixture) write(name, content string) {
	f.t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir, name), []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// controller is a daemon with its own state directory for artifacts.
func (f *artifactFixture) controller() *Controller {
	f.artifacts = &source.GitArtifacts{Dir: filepath.Join(f.t.TempDir(), "artifacts")}
	c, reg := newController(f.t, f.fleet, withArtifacts(f.artifacts))
	f.reg = reg
	c.Update(snapshot(f.t, f.dir))
	if c.Desired() == nil {
		f.t.Fatal("desired state with a Git artifact was rejected")
	}
	return c
}

// moveTag moves tag v1 to a commit with other content under dist/.
func (f *artifactFixture) moveTag() {
	f.app.Write(map[string]string{"dist/VERSION": "v1 but different\n"})
	f.moved = f.app.Commit("sneaky")
	f.app.Run("tag", "-f", "-a", "v1", "-m", "v1 again")
	f.app.Push()
}

func (f *artifactFixture) version(server string) string {
	b, err := os.ReadFile(filepath.Join(f.fleet, server, "srv", "web", "current", "VERSION"))
	if err != nil {
		return ""
	}
	return string(b)
}

// moves is gitfleet_artifact_tag_moved_total of the last controller.
func (f *artifactFixture) moves() float64 {
	mfs, _ := f.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "gitfleet_artifact_tag_moved_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return -1
}

func runPass(t *testing.T, c *Controller) PassResult {
	t.Helper()
	ctx := context.Background()
	return c.Pass(ctx, ctx, c.Desired())
}

// TestGitArtifactTagMovedIsNotRedeployed deploys an app whose versions are
// tags of a Git repository, then moves the tag to another commit: the
// servers keep the release of the first commit, which stays the desired
// one, and the plan names the move.
func TestGitArtifactTagMovedIsNotRedeployed(t *testing.T) {
	f := newArtifactFixture(t, "{name: a}, {name: b}")
	c := f.controller()
	d := c.Desired()
	if rel := d.Releases[d.Spec.Releases[0].Key()]; rel.Commit != f.first || rel.Tree.Get("VERSION") == nil || rel.Tree.Get("src") != nil {
		t.Fatalf("release from tag v1: commit %s (want %s), tree of dist/ only", rel.Commit, f.first)
	}
	if pr := runPass(t, c); len(pr.Results) != 1 || pr.Results[0].Outcome() != "success" {
		t.Fatalf("first rollout: %+v", pr.Results)
	}

	f.moveTag()
	c.Update(snapshot(t, f.dir)) // the artifact is resolved again
	d2 := c.Desired()
	if got := d2.Releases[d2.Spec.Releases[0].Key()].Commit; got != f.moved {
		t.Fatalf("moved tag resolves to %s, want %s", got, f.moved)
	}
	pr := runPass(t, c)
	if len(pr.Plan.Changes) != 0 {
		t.Fatalf("a moved tag was redeployed: %d changes", len(pr.Plan.Changes))
	}
	want := "tag v1 moved from commit " + f.first[:12] + " to " + f.moved[:12] + " after its first activation: pinned to " + f.first[:12]
	for _, s := range pr.Plan.Status[0].Servers {
		if s.State != plan.InSync || s.Held || f.version(s.Server) != "v1\n" || s.Reason != want {
			t.Errorf("%s: %s (held %v) on %q, reason %q; want in sync on the first content, reason %q", s.Server, s.State, s.Held, f.version(s.Server), s.Reason, want)
		}
	}
	if got := f.moves(); got != 1 {
		t.Errorf("gitfleet_artifact_tag_moved_total = %v, want 1", got)
	}
	runPass(t, c)
	if got := f.moves(); got != 1 {
		t.Errorf("after another pass gitfleet_artifact_tag_moved_total = %v, want still 1", got)
	}

	// A tag that does not exist is an error at the Release's version.
	f.write("release.yaml", "kind: Release\napp: web\nenvironment: prod\nversion: v7\n")
	_, err := resolve.Resolve(context.Background(), snapshot(t, f.dir).Snapshot, f.artifacts, spec.Options{})
	if err == nil || !strings.Contains(err.Error(), "release.yaml:4: web v7: artifact tag v7 not found in http://") {
		t.Fatalf("missing tag: got %v", err)
	}
}

// TestGitArtifactMovedTagPinnedForLaterServers moves the tag of a deployed
// version, then adds servers: each gets the content of the commit the
// version was first activated from, not the moved one, also from a daemon
// that starts afresh without its state directory (the pin is read from the
// servers' markers) and from another Environment releasing the version.
func TestGitArtifactMovedTagPinnedForLaterServers(t *testing.T) {
	f := newArtifactFixture(t, "{name: a}, {name: b}")
	c := f.controller()
	runPass(t, c)
	f.moveTag()

	f.write("env.yaml", "kind: Environment\nname: prod\nservers: [{name: a}, {name: b}, {name: c}]\n")
	c.Update(snapshot(t, f.dir))
	pr := runPass(t, c)
	if len(pr.Results) != 1 || pr.Results[0].Outcome() != "success" {
		t.Fatalf("rollout to the joining server: %+v", pr.Results)
	}
	if ch := pr.Plan.Changes[0]; len(ch.Servers) != 1 || !strings.Contains(ch.Servers[0].Reason, "not deployed; tag v1 moved") {
		t.Errorf("the step of the joining server does not name the pin: %+v", ch.Servers[0])
	}
	for _, s := range []string{"a", "b", "c"} {
		if got := f.version(s); got != "v1\n" {
			t.Errorf("%s runs %q, want the first content of v1", s, got)
		}
	}

	// A daemon with an empty state directory, and a server joining in
	// another Environment.
	f.write("env.yaml", "kind: Environment\nname: prod\nservers: [{name: a}, {name: b}, {name: c}, {name: d}]\n---\nkind: Environment\nname: staging\nservers: [{name: s1}]\n")
	f.write("release.yaml", "kind: Release\napp: web\nenvironment: prod\nversion: v1\n---\nkind: Release\napp: web\nenvironment: staging\nversion: v1\n")
	c2 := f.controller()
	if pr = runPass(t, c2); len(pr.Results) != 2 {
		t.Fatalf("got %d rollouts, want one per environment", len(pr.Results))
	}
	for _, s := range []string{"a", "b", "c", "d", "s1"} {
		if got := f.version(s); got != "v1\n" {
			t.Errorf("after a restart: %s runs %q, want the first content of v1", s, got)
		}
	}
	pr = runPass(t, c2)
	for _, st := range pr.Plan.Status {
		if len(pr.Plan.Changes) != 0 || st.Counts[plan.InSync] != len(st.Servers) {
			t.Errorf("%s: %v, want every server in sync", st.Environment, st.Counts)
		}
	}
}

// TestGitArtifactMovedTagUnreadableHoldsLaterServers: when the first commit
// of a moved tag is gone from the remote and from the daemon's repository,
// a joining server is held, not given the moved content, and the server on
// the first content keeps it.
func TestGitArtifactMovedTagUnreadableHoldsLaterServers(t *testing.T) {
	f := newArtifactFixture(t, "{name: a}")
	c := f.controller()
	runPass(t, c)
	// Rewrite history: the first commit is no longer reachable, and is
	// pruned from the remote.
	f.app.Run("checkout", "-q", "--orphan", "rewritten")
	f.app.Write(map[string]string{"dist/VERSION": "v1 rewritten\n"})
	f.moved = f.app.Commit("rewritten")
	f.app.Run("branch", "-f", "main", "rewritten")
	f.app.Run("checkout", "-q", "main")
	f.app.Run("tag", "-f", "-a", "v1", "-m", "v1 rewritten")
	f.app.Push()
	gittest.Git(t, f.app.Bare, "reflog", "expire", "--expire=now", "--all")
	gittest.Git(t, f.app.Bare, "gc", "-q", "--prune=now")

	f.write("env.yaml", "kind: Environment\nname: prod\nservers: [{name: a}, {name: b}]\n")
	c2 := f.controller() // a daemon without the first commit in its repository
	pr := runPass(t, c2)
	if len(pr.Plan.Changes) != 0 || f.version("b") != "" {
		t.Fatalf("the joining server got %q (%d changes), want it held", f.version("b"), len(pr.Plan.Changes))
	}
	want := map[string]string{"a": "tag v1 moved after deployment", "b": "cannot be read"}
	for _, s := range pr.Plan.Status[0].Servers {
		if !s.Held || !strings.Contains(s.Reason, want[s.Server]) || f.version("a") != "v1\n" {
			t.Errorf("%s: held=%v reason %q, want held: %s", s.Server, s.Held, s.Reason, want[s.Server])
		}
	}
}
