package executor_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/executor"
	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/spec"
	"github.com/gitfleet/gitfleet/transport/local"
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
// reads them back, runs onChange, and records what was applied; a failing
// onChange leaves the record as it was.
func testConfigLane(t *testing.T, x *executor.Executor, srv *spec.Server, root string) {
	ctx := context.Background()
	env := configEnv(t)
	files := rendered(t, env, srv)
	var paths []string
	for _, f := range files {
		paths = append(paths, f.Path)
	}
	got, err := x.ObserveConfig(ctx, srv, "prod", paths)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if got.Files[p].Exists || !got.NoRecord[p] {
			t.Fatalf("%s before it was written: %+v, record: %v; want neither file nor record", p, got.Files[p], !got.NoRecord[p])
		}
	}
	err = x.ApplyConfig(ctx, fleet.ConfigRequest{Environment: "prod", Server: srv, Files: files, All: files, OnChange: env.Config.OnChange, Revision: "r1", Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	got, err = x.ObserveConfig(ctx, srv, "prod", paths)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		want := fleet.FileState{Exists: true, Digest: f.Digest, Mode: f.Mode}
		if g := got.Files[f.Path]; g != want {
			t.Errorf("%s on the server: %+v, want digest %s mode %o", f.Path, g, f.Digest, f.Mode)
		}
		if a, ok := got.Applied[f.Path]; !ok || a != want || got.NoRecord[f.Path] {
			t.Errorf("%s recorded as applied: %+v (%v), want %+v", f.Path, a, ok, want)
		}
	}
	rec := read(t, root, "etc/.gitfleet/environment-prod.json")
	if !strings.Contains(rec, `"format": 1`) || !strings.Contains(rec, `"revision": "r1"`) {
		t.Errorf("record: %s, want format 1 and the revision", rec)
	}
	if s := read(t, root, "etc/web/host.conf"); s != "host=127.0.0.11 env=prod level=info\n" {
		t.Errorf("host.conf: %q", s)
	}
	if s := read(t, root, "etc/web/env"); s != "DB=db.internal:5432\nLOG_LEVEL=info\n" {
		t.Errorf("env file: %q", s)
	}
	if s := read(t, root, "etc/web/reloaded"); !strings.Contains(s, "/srv/etc/web/app.conf") {
		t.Errorf("onChange did not run with the changed files: %q", s)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "etc/web"))
	for _, e := range entries {
		if strings.Contains(e.Name(), "tmp") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
	// A failing onChange is an error with its output, and the record
	// stays what it was.
	err = x.ApplyConfig(ctx, fleet.ConfigRequest{Environment: "prod", Server: srv, Files: files[:1], All: files, OnChange: "echo cannot reload >&2; exit 4", Revision: "r2", Log: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "cannot reload") {
		t.Errorf("failing onChange: %v", err)
	}
	if rec := read(t, root, "etc/.gitfleet/environment-prod.json"); !strings.Contains(rec, `"revision": "r1"`) {
		t.Errorf("record after a failed onChange: %s, want the one of r1", rec)
	}
	// A record of a newer format is not written over: it is an error.
	newer := filepath.Join(root, "etc/.gitfleet/environment-prod.json")
	if err := os.WriteFile(newer, []byte(`{"format": 7}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := x.ObserveConfig(ctx, srv, "prod", paths); err == nil || !strings.Contains(err.Error(), "format 7, newer than this gitfleet reads") {
		t.Errorf("newer record: %v, want it refused", err)
	}
}

// read is a file of the server below root, "" when it cannot be read.
func read(t *testing.T, root, p string) string {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(root, p))
	return string(b)
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
