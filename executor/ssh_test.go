package executor_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gitfleet/gitfleet/executor"
	"github.com/gitfleet/gitfleet/fleet"
	"github.com/gitfleet/gitfleet/internal/sshtest"
	"github.com/gitfleet/gitfleet/spec"
	sshtr "github.com/gitfleet/gitfleet/transport/ssh"
	"github.com/gitfleet/gitfleet/tree"
	"golang.org/x/crypto/ssh"
)

// sshFleet starts n sshd servers and an SSH transport that reaches them.
func sshFleet(t *testing.T, n int) (*sshtest.Fleet, *sshtr.SSH, []*spec.Server) {
	f := sshtest.Start(t, n, "web")
	key, err := os.ReadFile(f.Key)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	tr := &sshtr.SSH{User: f.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, KnownHosts: f.KnownHosts, ConnectTimeout: 5 * time.Second}
	t.Cleanup(func() { tr.Close() })
	var servers []*spec.Server
	for _, s := range f.Servers {
		servers = append(servers, &spec.Server{Name: s.Name, Host: s.Host, Port: s.Port})
	}
	return f, tr, servers
}

func bigTree(t *testing.T, version string, extra map[string]string) *tree.Tree {
	t.Helper()
	entries := []*tree.Entry{
		{Path: "VERSION", Kind: tree.File, Perm: 0o644, Data: []byte(version + "\n")},
		{Path: "bin/start", Kind: tree.File, Perm: 0o755, Data: []byte("#!/bin/sh\necho started\n")},
		{Path: "static", Kind: tree.Dir, Perm: 0o555},
		{Path: "static/app.js", Kind: tree.File, Perm: 0o444, Data: []byte(strings.Repeat("x", 10000))},
		{Path: "start", Kind: tree.Symlink, Perm: 0o777, Target: "bin/start"},
	}
	for p, c := range extra {
		entries = append(entries, &tree.Entry{Path: p, Kind: tree.File, Perm: 0o644, Data: []byte(c)})
	}
	tr, err := tree.New(entries)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func TestSSHStageActivateAndLinkUnchangedFiles(t *testing.T) {
	f, tr, servers := sshFleet(t, 2)
	ctx := context.Background()
	x := &executor.Executor{T: tr}
	app := &spec.App{Name: "web", DeployTo: "/srv/web", ActivateTimeout: 10 * time.Second, KeepReleases: 5,
		Activate: `echo "activated $GITFLEET_VERSION on $GITFLEET_SERVER in $(pwd)"; cp VERSION ../../running`,
		Health:   &spec.Health{Command: "cmp VERSION ../../running", Attempts: 2, Interval: 10 * time.Millisecond, Timeout: 5 * time.Second}}

	st := x.Observe(ctx, servers[0], []*spec.App{app})
	if st.Err != nil || st.Apps["web"].Current != "" || len(st.Apps["web"].Staged) != 0 {
		t.Fatalf("empty server: got %+v (%v)", st.Apps["web"], st.Err)
	}

	v1 := fleet.NewRelease("v1", bigTree(t, "v1", map[string]string{"old.txt": "old\n", "lib/a.txt": "a\n"}))
	req := func(rel fleet.Release, srv *spec.Server) fleet.Request {
		return fleet.Request{Environment: "prod", App: app, Server: srv, Release: rel, Revision: "r-" + rel.Version, Log: slog.New(slog.DiscardHandler)}
	}
	for _, srv := range servers {
		if err := x.Stage(ctx, req(v1, srv)); err != nil {
			t.Fatalf("stage v1 on %s: %v", srv.Name, err)
		}
		if err := x.Activate(ctx, req(v1, srv)); err != nil {
			t.Fatalf("activate v1 on %s: %v", srv.Name, err)
		}
	}
	full := tr.Sent()
	root := f.Servers[0].Root
	rel1 := filepath.Join(root, "web", "releases", v1.ID)
	if b, _ := os.ReadFile(filepath.Join(root, "web", "running")); string(b) != "v1\n" {
		t.Fatalf("running on %s is %q, want v1", servers[0].Name, b)
	}
	if fi, err := os.Stat(filepath.Join(rel1, "bin/start")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("bin/start mode %v (%v), want 0755", fi.Mode(), err)
	}
	if fi, err := os.Stat(filepath.Join(rel1, "static")); err != nil || fi.Mode().Perm() != 0o555 {
		t.Errorf("static mode %v (%v), want 0555", fi.Mode(), err)
	}
	if target, err := os.Readlink(filepath.Join(rel1, "start")); err != nil || target != "bin/start" {
		t.Errorf("symlink start -> %q (%v)", target, err)
	}
	if target, _ := os.Readlink(filepath.Join(root, "web", "current")); target != "releases/"+v1.ID {
		t.Errorf("current -> %q, want releases/%s", target, v1.ID)
	}

	// v2 changes VERSION, removes old.txt, turns the directory lib into a
	// file: everything else is hard-linked from v1.
	v2 := fleet.NewRelease("v2", bigTree(t, "v2", map[string]string{"lib": "now a file\n", "new.txt": "new\n"}))
	before := tr.Sent()
	if err := x.Stage(ctx, req(v2, servers[0])); err != nil {
		t.Fatalf("stage v2: %v", err)
	}
	sent := tr.Sent() - before
	rel2 := filepath.Join(root, "web", "releases", v2.ID)
	if inode(t, filepath.Join(rel1, "static/app.js")) != inode(t, filepath.Join(rel2, "static/app.js")) {
		t.Error("static/app.js was copied, want a hard link to v1's")
	}
	if inode(t, filepath.Join(rel1, "VERSION")) == inode(t, filepath.Join(rel2, "VERSION")) {
		t.Error("VERSION changed but is a link to v1's")
	}
	if b, _ := os.ReadFile(filepath.Join(rel1, "VERSION")); string(b) != "v1\n" {
		t.Errorf("v1's VERSION was changed through a link: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(rel2, "lib")); string(b) != "now a file\n" {
		t.Errorf("lib in v2 is %q, want the new file", b)
	}
	if _, err := os.Lstat(filepath.Join(rel2, "old.txt")); err == nil {
		t.Error("old.txt survived into v2")
	}
	got, err := tree.ReadDir(rel2, tree.Limits{})
	if err != nil || got.Digest() != v2.Tree.Digest() {
		t.Fatalf("v2 on the server differs from the tree sent (%v)", err)
	}
	if sent >= full/2/2 {
		t.Errorf("staging v2 sent %d bytes, a full v1 %d: unchanged files were sent again", sent, full/2)
	}
	if err := x.Activate(ctx, req(v2, servers[0])); err != nil {
		t.Fatalf("activate v2: %v", err)
	}
	if err := tr.Prune(ctx, servers[0], "/srv/web", []string{v2.ID}, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(rel1); err == nil {
		t.Error("prune kept v1")
	}
	if _, err := os.Stat(filepath.Join(root, "web", ".gitfleet", "manifests", v1.ID+".json")); err == nil {
		t.Error("prune kept v1's manifest")
	}

	// The transport last saw v1 as current (inspected before the switch)
	// and knows its manifest, but v1 is gone: the stage script refuses
	// that base, and v3 is built from v2, whole.
	v3 := fleet.NewRelease("v3", bigTree(t, "v3", map[string]string{"lib": "now a file\n", "new.txt": "newer\n"}))
	before = tr.Sent()
	if err := x.Stage(ctx, req(v3, servers[0])); err != nil {
		t.Fatalf("stage v3: %v", err)
	}
	got, err = tree.ReadDir(filepath.Join(root, "web", "releases", v3.ID), tree.Limits{})
	if err != nil || got.Digest() != v3.Tree.Digest() {
		t.Fatalf("v3 on the server differs from the tree sent (%v)", err)
	}
	if inode(t, filepath.Join(rel2, "static/app.js")) != inode(t, filepath.Join(root, "web", "releases", v3.ID, "static/app.js")) {
		t.Error("v3 was not built from v2")
	}
}

func TestSSHHostKeyRefused(t *testing.T) {
	f, tr, servers := sshFleet(t, 2)
	// Swap the two servers' keys in known_hosts.
	b, _ := os.ReadFile(f.KnownHosts)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	k0, k1 := strings.SplitN(lines[0], " ", 2), strings.SplitN(lines[1], " ", 2)
	os.WriteFile(f.KnownHosts, []byte(k0[0]+" "+k1[1]+"\n"), 0o600)
	ctx := context.Background()
	_, err := tr.Inspect(ctx, servers[0], []string{"/srv/web"})
	if err == nil || !strings.Contains(err.Error(), "has CHANGED") || !strings.Contains(err.Error(), f.KnownHosts) {
		t.Errorf("changed key: got %v, want a refusal saying CHANGED and naming known_hosts", err)
	}
	_, err = tr.Inspect(ctx, servers[1], []string{"/srv/web"})
	if err == nil || !strings.Contains(err.Error(), "is unknown") || !strings.Contains(err.Error(), "ssh-keyscan") {
		t.Errorf("unknown host: got %v, want a refusal saying how to add it", err)
	}
}

func TestSSHReconnectsAfterRestartAndKillsOnTimeout(t *testing.T) {
	f, tr, servers := sshFleet(t, 1)
	ctx := context.Background()
	if _, err := tr.Run(ctx, servers[0], "/", nil, "true"); err != nil {
		t.Fatal(err)
	}
	f.Servers[0].Stop()
	if _, err := tr.Run(ctx, servers[0], "/", nil, "true"); err == nil {
		t.Fatal("a command ran on a stopped server")
	}
	f.Servers[0].Start()
	out, err := tr.Run(ctx, servers[0], "/srv", []string{"GREETING=it's back"}, `echo "$GREETING in $(pwd)"; echo oops >&2; exit 3`)
	var ee *sshtr.ExitError
	if !errors.As(err, &ee) || ee.Code != 3 || !strings.Contains(string(out), "it's back in /srv") || !strings.Contains(string(out), "oops") {
		t.Fatalf("after restart: got %q, %v; want the output and exit status 3", out, err)
	}
	tctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = tr.Run(tctx, servers[0], "/srv", nil, "sleep 30")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timeout: got %v, want context.DeadlineExceeded", err)
	}
}
