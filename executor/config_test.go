package executor_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/transport/local"

	"github.com/gitfleet/gitfleet/executor"
	"github.com/gitfleet/gitfleet/spec"
)

func rendered(t *testing.T, env *spec.Environment, srv *spec.Server) []spec.RenderedFile {
	t.Helper()
	files, err := env.RenderConfig(srv)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func configEnv(t *testing.T) *spec.Environment {
	t.Helper()
	d, err := spec.Load([]spec.File{{Path: "e.yaml", Data: []byte(`kind: Environment
name: prod
servers: [{name: web-1, address: 127.0.0.11}]
config:
  files:
    - {path: /srv/etc/web/app.conf, content: "workers=4\n", mode: "0600"}
    - {path: /srv/etc/web/host.conf, template: "host={{.Server.Host}} env={{.Environment}} level={{.Vars.LOG_LEVEL}}\n"}
  vars: {LOG_LEVEL: info, DB: "db.internal:5432"}
  envFile: /srv/etc/web/env
  onChange: 'echo "reloaded $GITFLEET_CHANGED_FILES" > srv/etc/web/reloaded'
`)}})
	if err != nil {
		t.Fatal(err)
	}
	return d.Environments[0]
}

// testConfigLane writes the managed files on a server over a transport,
// reads them back, and runs onChange.
func testConfigLane(t *testing.T, x *executor.Executor, srv *spec.Server, root string) {
	ctx := context.Background()
	env := configEnv(t)
	files := rendered(t, env, srv)
	var paths []string
	for _, f := range files {
		paths = append(paths, f.Path)
	}
	got, err := x.ObserveConfig(ctx, srv, paths)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if got[p].Exists {
			t.Fatalf("%s exists before it was written", p)
		}
	}
	err = x.ApplyConfig(ctx, fleet.ConfigRequest{Environment: "prod", Server: srv, Files: files, OnChange: env.Config.OnChange, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	got, err = x.ObserveConfig(ctx, srv, paths)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if g := got[f.Path]; !g.Exists || g.Digest != f.Digest || g.Mode != f.Mode {
			t.Errorf("%s on the server: %+v, want digest %s mode %o", f.Path, g, f.Digest, f.Mode)
		}
	}
	read := func(p string) string { b, _ := os.ReadFile(filepath.Join(root, p)); return string(b) }
	if s := read("etc/web/host.conf"); s != "host=127.0.0.11 env=prod level=info\n" {
		t.Errorf("host.conf: %q", s)
	}
	if s := read("etc/web/env"); s != "DB=db.internal:5432\nLOG_LEVEL=info\n" {
		t.Errorf("env file: %q", s)
	}
	if s := read("etc/web/reloaded"); !strings.Contains(s, "/srv/etc/web/app.conf") {
		t.Errorf("onChange did not run with the changed files: %q", s)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "etc/web"))
	for _, e := range entries {
		if strings.Contains(e.Name(), "tmp") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
	// A failing onChange is an error with its output.
	err = x.ApplyConfig(ctx, fleet.ConfigRequest{Environment: "prod", Server: srv, Files: files[:1], OnChange: "echo cannot reload >&2; exit 4", Log: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "cannot reload") {
		t.Errorf("failing onChange: %v", err)
	}
}

func TestConfigLaneLocal(t *testing.T) {
	root := t.TempDir()
	srv := &spec.Server{Name: "web-1", Host: "127.0.0.11"}
	testConfigLane(t, &executor.Executor{T: &local.Local{Root: root}, ConfigRoots: []string{"/srv/etc"}}, srv, filepath.Join(root, "web-1", "srv"))
}

func TestConfigLaneSSH(t *testing.T) {
	f, tr, servers := sshFleet(t, 1)
	servers[0].Host = "127.0.0.11"
	testConfigLane(t, &executor.Executor{T: tr, ConfigRoots: []string{"/srv/etc"}}, servers[0], f.Servers[0].Root)
}
