package reconcile

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/plan"
)

// TestEnvironmentLaneGoesFirst: one commit changes the environment's
// config and bumps the version. The plan holds the environment lane first
// and the files waiting for it; the files activate only once the config is
// on every server, and the activate command sees the new config.
func TestEnvironmentLaneGoesFirst(t *testing.T) {
	dir, fleet := t.TempDir(), t.TempDir()
	repo(t, dir, "v1")
	c, _ := newController(t, fleet)
	ctx := context.Background()
	c.Update(snapshot(t, dir))
	c.Pass(ctx, ctx, c.Desired())
	if running(t, fleet, "a") != "v1" {
		t.Fatal("v1 not deployed")
	}

	// One commit: config and version. The app's activate command records
	// the config it finds.
	os.WriteFile(filepath.Join(dir, "env.yaml"), []byte(`kind: Environment
name: prod
servers: [{name: a}, {name: b}, {name: c}]
config:
  files: [{path: /srv/etc/web.conf, template: "server={{.Server.Name}}\n"}]
  vars: {MODE: fast}
  envFile: /srv/etc/web.env
`), 0o644)
	os.WriteFile(filepath.Join(dir, "app.yaml"), []byte("kind: App\nname: web\nartifact: {path: artifacts/web}\ndeployTo: /srv/web\n"+
		"activate: cp VERSION ../../running && cat ../../../etc/web.env > ../../seen-config\n"), 0o644)
	repo2 := func() {
		os.WriteFile(filepath.Join(dir, "release.yaml"), []byte("kind: Release\napp: web\nenvironment: prod\nversion: v2\n"), 0o644)
	}
	repo2()
	c.Update(snapshot(t, dir))

	p := preview(c)
	if len(p.Changes) != 2 || p.Changes[0].Lane != plan.LaneEnvironment || p.Changes[1].Lane != plan.LaneFiles {
		t.Fatalf("plan: %d changes, want the environment lane then the files", len(p.Changes))
	}
	if w := p.Changes[1].Wait; w == nil || !w.Order || !strings.Contains(w.Why, "environment lane of prod goes first") {
		t.Fatalf("files change: wait %+v, want it to wait for the environment lane", w)
	}
	var b strings.Builder
	p.WriteText(&b)
	if !strings.Contains(b.String(), "prod environment config") || !strings.Contains(b.String(), "write /srv/etc/web.conf, /srv/etc/web.env") {
		t.Errorf("plan text:\n%s", b.String())
	}

	// First pass: config everywhere, v2 staged but not active.
	pr := c.Pass(ctx, ctx, c.Desired())
	if len(pr.Results) != 2 || pr.Results[0].Change.Lane != plan.LaneEnvironment || pr.Results[0].Failed() != 0 || !pr.Results[1].Waiting {
		t.Fatalf("first pass: results %+v", pr.Results)
	}
	for _, s := range []string{"a", "b", "c"} {
		conf, _ := os.ReadFile(filepath.Join(fleet, s, "srv", "etc", "web.conf"))
		if string(conf) != "server="+s+"\n" || running(t, fleet, s) != "v1" {
			t.Errorf("%s after the first pass: web.conf %q, running %s; want the config and still v1", s, conf, running(t, fleet, s))
		}
	}
	// Second pass (the daemon triggers it at once): v2 activates and sees
	// the config.
	pr = c.Pass(ctx, ctx, c.Desired())
	for _, s := range []string{"a", "b", "c"} {
		seen, _ := os.ReadFile(filepath.Join(fleet, s, "srv", "web", "seen-config"))
		if running(t, fleet, s) != "v2" || string(seen) != "MODE=fast\n" {
			t.Errorf("%s after the second pass: running %s, config seen %q", s, running(t, fleet, s), seen)
		}
	}
	if p := preview(c); len(p.Changes) != 0 {
		t.Errorf("after convergence: %d changes", len(p.Changes))
	}

	// A managed file outside the roots is rejected, with its line.
	os.WriteFile(filepath.Join(dir, "env.yaml"), []byte("kind: Environment\nname: prod\nservers: [{name: a}]\nconfig:\n  files: [{path: /etc/passwd, content: x}]\n"), 0o644)
	good := c.Desired()
	c.Update(snapshot(t, dir))
	if c.Desired() != good {
		t.Error("a managed file outside the roots was accepted")
	}
}

// TestEnvironmentDriftAlertOnly: with onDrift alert, a managed file edited
// on a server is reported, not rewritten; a new desired config is still
// applied.
func TestEnvironmentDriftAlertOnly(t *testing.T) {
	dir, fleet := t.TempDir(), t.TempDir()
	repo(t, dir, "v1")
	env := func(content string) {
		os.WriteFile(filepath.Join(dir, "env.yaml"), []byte("kind: Environment\nname: prod\nonDrift: alert\nservers: [{name: a}, {name: b}, {name: c}]\n"+
			"config:\n  files: [{path: /srv/etc/web.conf, content: \""+content+"\\n\"}]\n"), 0o644)
	}
	env("x=1")
	c, reg := newController(t, fleet)
	ctx := context.Background()
	c.Update(snapshot(t, dir))
	c.Pass(ctx, ctx, c.Desired())
	conf := filepath.Join(fleet, "b", "srv", "etc", "web.conf")
	if b, _ := os.ReadFile(conf); string(b) != "x=1\n" {
		t.Fatalf("config not applied: %q", b)
	}
	os.WriteFile(conf, []byte("x=2 by hand\n"), 0o644)
	pr := c.Pass(ctx, ctx, c.Desired())
	for _, ch := range pr.Plan.Changes {
		if ch.Lane == plan.LaneEnvironment {
			t.Fatalf("onDrift alert planned a config change: %+v", ch)
		}
	}
	if len(pr.Plan.ConfigDrift) != 1 || pr.Plan.ConfigDrift[0].Server != "b" || driftSeries(reg, "environment") != 1 {
		t.Errorf("config drift %+v, metric %v; want b reported", pr.Plan.ConfigDrift, driftSeries(reg, "environment"))
	}
	if b, _ := os.ReadFile(conf); string(b) != "x=2 by hand\n" {
		t.Errorf("onDrift alert rewrote the file: %q", b)
	}
	env("x=3")
	c.Update(snapshot(t, dir))
	c.Pass(ctx, ctx, c.Desired())
	if b, _ := os.ReadFile(conf); string(b) != "x=3\n" {
		t.Errorf("a new desired config was not applied: %q", b)
	}
}
