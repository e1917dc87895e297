package reconcile

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// envFixture is environment prod (a, b, c) with onDrift as given and one
// managed file of the content given.
func envFixture(t *testing.T, dir, onDrift, content string) {
	t.Helper()
	writeFile(t, filepath.Join(dir, "env.yaml"), "kind: Environment\nname: prod\nonDrift: "+onDrift+"\nservers: [{name: a}, {name: b}, {name: c}]\n"+
		"config:\n  files: [{path: /srv/etc/web.conf, content: \""+content+"\\n\"}]\n  onChange: 'echo reload >> srv/etc/reloads'\n")
}

// TestEnvironmentDriftSurvivesARestart: with onDrift alert, a managed file
// edited by hand is drift for a restarted daemon too (the record on the
// server says what was applied): nothing is written, onChange does not
// run, and the drift is reported.
func TestEnvironmentDriftSurvivesARestart(t *testing.T) {
	dir, fleet := t.TempDir(), t.TempDir()
	repo(t, dir, "v1")
	envFixture(t, dir, "alert", "x=1")
	c, _ := newController(t, fleet)
	ctx := context.Background()
	c.Update(snapshot(t, dir))
	c.Pass(ctx, ctx, c.Desired())
	conf := filepath.Join(fleet, "b", "srv", "etc", "web.conf")
	if b, _ := os.ReadFile(conf); string(b) != "x=1\n" {
		t.Fatalf("config not applied: %q", b)
	}
	os.WriteFile(conf, []byte("x=2 by hand\n"), 0o644)

	restarted, reg := newController(t, fleet)
	restarted.Update(snapshot(t, dir))
	pr := restarted.Pass(ctx, ctx, restarted.Desired())
	for _, ch := range pr.Plan.Changes {
		if ch.Lane == plan.LaneEnvironment {
			t.Fatalf("a restarted daemon planned a config change under onDrift alert: %+v", ch.Servers)
		}
	}
	if b, _ := os.ReadFile(conf); string(b) != "x=2 by hand\n" {
		t.Errorf("a restarted daemon wrote over the drifted file: %q", b)
	}
	if len(pr.Plan.ConfigDrift) != 1 || pr.Plan.ConfigDrift[0].Server != "b" || driftSeries(reg, "environment") != 1 {
		t.Errorf("config drift %+v, metric %v; want b reported", pr.Plan.ConfigDrift, driftSeries(reg, "environment"))
	}
	if b, _ := os.ReadFile(filepath.Join(fleet, "b", "srv", "etc", "reloads")); string(b) != "reload\n" {
		t.Errorf("onChange ran again on b: %q", b)
	}
}

// TestEnvironmentLaneRecordsAnUpgradedFleet: a fleet whose managed files
// are as desired but were applied by a gitfleet that kept no records gets
// its records, and nothing else: no file is written, onChange does not run.
func TestEnvironmentLaneRecordsAnUpgradedFleet(t *testing.T) {
	dir, fleet := t.TempDir(), t.TempDir()
	repo(t, dir, "v1")
	envFixture(t, dir, "alert", "x=1")
	for _, s := range []string{"a", "b", "c"} {
		writeFile(t, filepath.Join(fleet, s, "srv", "etc", "web.conf"), "x=1\n")
	}
	c, _ := newController(t, fleet)
	ctx := context.Background()
	c.Update(snapshot(t, dir))
	p := preview(c)
	var env *plan.Change
	for _, ch := range p.Changes {
		if ch.Lane == plan.LaneEnvironment {
			env = ch
		}
	}
	if env == nil || len(env.Servers) != 3 || len(env.Servers[0].Files) != 0 || !strings.Contains(env.Servers[0].Reason, "record what is applied") {
		t.Fatalf("plan of an upgraded fleet: %+v, want a record on every server and nothing written", env)
	}
	c.Pass(ctx, ctx, c.Desired())
	for _, s := range []string{"a", "b", "c"} {
		if _, err := os.Stat(filepath.Join(fleet, s, "srv", "etc", "reloads")); err == nil {
			t.Errorf("%s: onChange ran for a record only", s)
		}
		if b, _ := os.ReadFile(filepath.Join(fleet, s, "srv", "etc", ".gitfleet", "environment-prod.json")); !strings.Contains(string(b), `"/srv/etc/web.conf"`) {
			t.Errorf("%s: record %q", s, b)
		}
	}
	for _, ch := range preview(c).Changes {
		if ch.Lane == plan.LaneEnvironment {
			t.Errorf("after the records: %+v, want nothing left for the environment lane", ch.Servers)
		}
	}
}

// TestPlanIsWhatTheNextPassDoes: `gitfleet plan` (the steps of a pass up to
// its plan, on a controller of its own) plans exactly what the next pass
// of a daemon then carries out: the same changes, drift and standing, for
// a fleet with a new version and a managed file drifted under onDrift
// alert (which a daemon that kept its memory would have overwritten once
// after a restart).
func TestPlanIsWhatTheNextPassDoes(t *testing.T) {
	dir, fleet := t.TempDir(), t.TempDir()
	repo(t, dir, "v1")
	envFixture(t, dir, "alert", "x=1")
	c, _ := newController(t, fleet)
	ctx := context.Background()
	c.Update(snapshot(t, dir))
	c.Pass(ctx, ctx, c.Desired())
	// Drift of the config on b; a new version for everyone.
	os.WriteFile(filepath.Join(fleet, "b", "srv", "etc", "web.conf"), []byte("x=2 by hand\n"), 0o644)
	repo(t, dir, "v2")
	envFixture(t, dir, "alert", "x=1")

	cli, _ := newController(t, fleet) // what `gitfleet plan` builds
	if err := cli.Accept(snapshot(t, dir).Snapshot); err != nil {
		t.Fatal(err)
	}
	planned := cli.Preview(ctx, cli.Desired())

	daemon, _ := newController(t, fleet) // the next daemon's pass
	daemon.Update(snapshot(t, dir))
	pr := daemon.Pass(ctx, ctx, daemon.Desired())
	if len(planned.Changes) == 0 || len(planned.ConfigDrift) != 1 {
		t.Fatalf("plan: %d changes, %d config drifts; want the new version and the drift of b", len(planned.Changes), len(planned.ConfigDrift))
	}
	want, got := planJSON(t, planned), planJSON(t, pr.Plan)
	if want != got {
		t.Errorf("the pass did other than the plan said:\nplan %s\npass %s", want, got)
	}
}

// planJSON is a plan as JSON, without the time it was made at.
func planJSON(t *testing.T, p *plan.Plan) string {
	t.Helper()
	cp := *p
	cp.Time = time.Time{}
	b, err := json.Marshal(&cp)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
