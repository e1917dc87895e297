package reconcile

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/source"
)

// TestGitArtifactTagMovedIsHeld deploys an app whose versions are tags of a
// Git repository, then moves the tag to another commit: the plan holds the
// servers and names the move instead of redeploying.
func TestGitArtifactTagMovedIsHeld(t *testing.T) {
	app := gittest.NewRemote(t, t.TempDir(), "app")
	app.Write(map[string]string{"dist/VERSION": "v1\n", "src/main.go": "package main\n"})
	first := app.Commit("v1")
	app.Run("tag", "-a", "v1", "-m", "v1")
	app.Push()

	dir, fleet := t.TempDir(), t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("env.yaml", "kind: Environment\nname: prod\nservers: [{name: a}, {name: b}]\n")
	write("app.yaml", "kind: App\nname: web\nartifact: {git: '"+app.FileURL()+"', path: dist}\ndeployTo: /srv/web\n")
	write("release.yaml", "kind: Release\napp: web\nenvironment: prod\nversion: v1\n")

	c, _ := newController(t, fleet)
	c.Artifacts = &source.GitArtifacts{Dir: filepath.Join(t.TempDir(), "artifacts")}
	c.Update(snapshot(t, dir))
	d := c.Desired()
	if d == nil {
		t.Fatal("desired state with a Git artifact was rejected")
	}
	if rel := d.Releases[d.Spec.Releases[0].Key()]; rel.Commit != first || rel.Tree.Get("VERSION") == nil || rel.Tree.Get("src") != nil {
		t.Fatalf("release from tag v1: commit %s (want %s), tree of dist/ only", rel.Commit, first)
	}
	ctx := context.Background()
	if pr := c.Pass(ctx, ctx, d); len(pr.Results) != 1 || pr.Results[0].Outcome() != "success" {
		t.Fatalf("first rollout: %+v", pr.Results)
	}

	// Move the tag to a commit with other content.
	app.Write(map[string]string{"dist/VERSION": "v1 but different\n"})
	moved := app.Commit("sneaky")
	app.Run("tag", "-f", "-a", "v1", "-m", "v1 again")
	app.Push()
	c.Update(snapshot(t, dir)) // the artifact is resolved again
	d2 := c.Desired()
	if got := d2.Releases[d2.Spec.Releases[0].Key()].Commit; got != moved {
		t.Fatalf("moved tag resolves to %s, want %s", got, moved)
	}
	pr := c.Pass(ctx, ctx, d2)
	if len(pr.Plan.Changes) != 0 {
		t.Fatalf("a moved tag was redeployed: %d changes", len(pr.Plan.Changes))
	}
	for _, s := range pr.Plan.Status[0].Servers {
		if !s.Held || !strings.Contains(s.Reason, "tag v1 moved after deployment") {
			t.Errorf("%s: held=%v reason %q, want held for a moved tag", s.Server, s.Held, s.Reason)
		}
	}

	// A tag that does not exist is an error at the Release's version.
	write("release.yaml", "kind: Release\napp: web\nenvironment: prod\nversion: v7\n")
	_, err := Resolve(ctx, snapshot(t, dir).Snapshot, c.Artifacts)
	if err == nil || !strings.Contains(err.Error(), "release.yaml:4: web v7: artifact tag v7 not found in file://") {
		t.Fatalf("missing tag: got %v", err)
	}
}
