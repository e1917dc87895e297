package main

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Writes stay inside their root (docs/security.md): a server where a
// symbolic link would take a write out of its root is refused that write,
// with the path and the reason, and the other servers of the same pass get
// theirs.

// withManagedFile gives the staging environment a managed file in
// /srv/etc/hello, and gitfleet.yaml the root /srv/etc.
func withManagedFile(t *testing.T, qs string) {
	t.Helper()
	envs := filepath.Join(qs, "desired", "environments.yaml")
	b, err := os.ReadFile(envs)
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(string(b), "\n---\n")
	found := false
	for i, doc := range docs {
		if strings.Contains(doc, "name: staging\n") {
			docs[i] = strings.TrimRight(doc, "\n") + "\nconfig:\n  files: [{path: /srv/etc/hello/app.conf, content: \"greeting=hi\\n\"}]\n"
			found = true
		}
	}
	if !found {
		t.Fatalf("no staging environment in %s", envs)
	}
	s := strings.Join(docs, "\n---\n")
	write(t, envs, s)
	cfg := filepath.Join(qs, "gitfleet.yaml")
	b, err = os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	write(t, cfg, string(b)+"environmentFiles:\n  roots: [/srv/etc]\n")
}

// outsideDir makes an empty directory outside every server, writable by
// uid, and a check that it stays empty.
func outsideDir(t *testing.T, parent, name string, uid, gid int) (string, func()) {
	dir := filepath.Join(parent, "outside-"+name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chown(dir, uid, gid)
	return dir, func() {
		t.Helper()
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			t.Errorf("%s was written outside its root: %s", name, filepath.Join(dir, e.Name()))
		}
	}
}

func symlink(t *testing.T, target, p string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

// TestSSHWritesOutsideTheirRootRefused: prod-1's deployTo and the managed
// files' directory of staging-1 are symbolic links to directories outside
// them. Both are refused, with the path and the reason in the log; prod-2
// and prod-3 get the release, staging-2 its managed file, in the same pass.
func TestSSHWritesOutsideTheirRootRefused(t *testing.T) {
	qs, f := sshQuickstart(t, "2s")
	withManagedFile(t, qs)
	u, err := user.Lookup(f.User)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	prod1, prod1Empty := outsideDir(t, f.Dir, "prod-1", uid, gid)
	symlink(t, prod1, filepath.Join(f.Servers[0].Root, "hello"))
	staging1, staging1Empty := outsideDir(t, f.Dir, "staging-1", uid, gid)
	etc := filepath.Join(f.Servers[3].Root, "etc")
	symlink(t, staging1, filepath.Join(etc, "hello"))
	os.Chown(etc, uid, gid)

	d := startDaemon(t, filepath.Join(qs, "gitfleet.yaml"))
	conf := filepath.Join(f.Servers[4].Root, "etc", "hello", "app.conf")
	d.waitFor("prod-2 and prod-3 on v1.0.0, staging-2's managed file written, both refusals logged and counted", func() bool {
		b, _ := os.ReadFile(conf)
		logs := d.logs.String()
		return sshActive(f, 1) == "v1.0.0" && sshActive(f, 2) == "v1.0.0" && string(b) == "greeting=hi\n" &&
			strings.Contains(logs, "refused: its root /srv/hello is a symbolic link") &&
			strings.Contains(logs, "/srv/etc/hello/app.conf: refused: /srv/etc/hello is a symbolic link that does not resolve inside /srv/etc") &&
			d.metric("gitfleet_server_steps_total", `environment="production"`, `step="stage"`, `result="failure"`) >= 1
	})
	if !strings.Contains(d.logs.String(), `"server":"prod-1"`) || !strings.Contains(d.logs.String(), "stage hello v1.0.0 on prod-1: /srv/hello/releases/v1.0.0-") {
		t.Error("the logs do not name prod-1 with the release path it refused")
	}
	d.stop()
	prod1Empty()
	staging1Empty()
	if _, err := os.Lstat(filepath.Join(staging1, "app.conf")); err == nil {
		t.Error("staging-1's managed file went through the link")
	}
}

// TestLocalWritesOutsideTheirRootRefused is the same on the local
// transport: prod-1's deployTo is a link out of its server directory.
func TestLocalWritesOutsideTheirRootRefused(t *testing.T) {
	qs := quickstart(t)
	withManagedFile(t, qs)
	fleet := filepath.Join(qs, "state", "fleet")
	prod1, prod1Empty := outsideDir(t, t.TempDir(), "prod-1", 0, 0)
	symlink(t, prod1, filepath.Join(fleet, "prod-1", "srv", "hello"))
	staging1, staging1Empty := outsideDir(t, t.TempDir(), "staging-1", 0, 0)
	symlink(t, staging1, filepath.Join(fleet, "staging-1", "srv", "etc", "hello"))

	d := startDaemon(t, filepath.Join(qs, "gitfleet.yaml"))
	conf := filepath.Join(fleet, "staging-2", "srv", "etc", "hello", "app.conf")
	d.waitFor("prod-2 and prod-3 on v1.0.0, staging-2's managed file written, both refusals logged", func() bool {
		b, _ := os.ReadFile(conf)
		logs := d.logs.String()
		return active(qs, "prod-2") == "v1.0.0" && active(qs, "prod-3") == "v1.0.0" && string(b) == "greeting=hi\n" &&
			strings.Contains(logs, "stage hello v1.0.0 on prod-1: /srv/hello/releases/v1.0.0-") &&
			strings.Contains(logs, "refused: its root /srv/hello is a symbolic link") &&
			strings.Contains(logs, "/srv/etc/hello/app.conf: refused: /srv/etc/hello is a symbolic link that does not resolve inside /srv/etc")
	})
	d.stop()
	prod1Empty()
	staging1Empty()
}

// TestValidateRefusesControlCharactersInArtifacts: a file name with a
// newline in an artifact is refused where the desired state is read, with
// the Release's file:line and the name escaped, instead of being deployed
// and then read as drift at every check.
func TestValidateRefusesControlCharactersInArtifacts(t *testing.T) {
	qs := quickstart(t)
	write(t, filepath.Join(qs, "desired", "artifacts", "hello", "v1.0.0", "public", "bad\nname.html"), "x")
	code, _, errs := run("validate", filepath.Join(qs, "desired"))
	want := `releases/production.yaml:5: hello v1.0.0: artifact artifacts/hello/v1.0.0/public/bad\nname.html: name holds the control character U+000A`
	if code == 0 || !strings.Contains(errs, want) {
		t.Errorf("validate: exit %d, want the name refused:\n%s", code, errs)
	}
}
