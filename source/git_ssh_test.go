package source

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/internal/sshtest"
)

// TestGitOverSSH follows a branch of a repository served by a real sshd
// (git-upload-pack over an exec channel), with the key and known_hosts of
// the test; a host key that is not the one known is refused.
func TestGitOverSSH(t *testing.T) {
	f := sshtest.Start(t, 1, "git")
	s := f.Servers[0]
	r := gittest.NewRemote(t, s.Root, "fleet") // /srv/fleet.git on the server
	// The repository belongs to the login user, as on a real server: git
	// refuses to serve (or push into) one of another owner.
	chown := func(owner string) {
		if out, err := exec.Command("chown", "-R", owner, r.Bare).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v: %s", err, out)
		}
	}
	push := func() {
		chown("root:")
		r.Push()
		chown(f.User + ":")
	}
	r.Write(map[string]string{"env.yaml": "a: 1\n"})
	c1 := r.Commit("first")
	push()
	key, err := os.ReadFile(f.Key)
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("ssh://%s@%s:%d/srv/fleet.git", f.User, s.Host, s.Port)
	g, _ := newGit(t, url, GitRef{Branch: "main"})
	g.Auth = &GitAuth{SSHUser: f.User, SSHKey: key, KnownHosts: f.KnownHosts}
	if snap := pollGit(t, g); snap.Revision != c1 || content(t, snap, "env.yaml") != "a: 1\n" {
		t.Fatalf("got %s %q, want %s", snap.Revision, content(t, snap, "env.yaml"), c1)
	}
	r.Write(map[string]string{"env.yaml": "a: 2\n"})
	c2 := r.Commit("second")
	push()
	if snap := pollGit(t, g); snap.Revision != c2 || content(t, snap, "env.yaml") != "a: 2\n" {
		t.Fatalf("after a push: got %s %q, want %s", snap.Revision, content(t, snap, "env.yaml"), c2)
	}

	// known_hosts names another key for the server.
	other := sshtest.Start(t, 1, "other")
	b, _ := os.ReadFile(other.KnownHosts)
	fields := strings.Fields(string(b))
	wrong := fmt.Sprintf("[%s]:%d %s %s\n", s.Host, s.Port, fields[1], fields[2])
	kh := t.TempDir() + "/known_hosts"
	os.WriteFile(kh, []byte(wrong), 0o600)
	g2, _ := newGit(t, url, GitRef{Branch: "main"})
	g2.Auth = &GitAuth{SSHUser: f.User, SSHKey: key, KnownHosts: kh}
	_, err = g2.Snapshot(context.Background())
	if err == nil || !strings.Contains(err.Error(), "CHANGED") || !strings.Contains(err.Error(), kh) {
		t.Errorf("changed host key: got %v, want a refusal naming %s", err, kh)
	}
}
