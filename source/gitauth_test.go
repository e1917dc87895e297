package source

import (
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func hostKey(t *testing.T) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestHostKeyChecking(t *testing.T) {
	known, other := hostKey(t), hostKey(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "known_hosts")
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2222}
	host := "[git.example.com]:2222"
	line := knownhosts.Line([]string{knownhosts.Normalize(host)}, known)
	if err := os.WriteFile(file, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	h, err := hostKeyHelper(file, false, "git.example.com:2222")
	if err != nil {
		t.Fatal(err)
	}
	if len(h.HostKeyAlgorithms) == 0 || h.HostKeyAlgorithms[0] != ssh.KeyAlgoED25519 {
		t.Errorf("host key algorithms %v, want the known key's type first", h.HostKeyAlgorithms)
	}
	if err := h.HostKeyCallback(host, addr, known); err != nil {
		t.Errorf("known key refused: %v", err)
	}
	if err := h.HostKeyCallback(host, addr, other); err == nil || !strings.Contains(err.Error(), "CHANGED") || !strings.Contains(err.Error(), file) {
		t.Errorf("changed key: got %v, want an error saying CHANGED and naming %s", err, file)
	}
	if err := h.HostKeyCallback("[new.example.com]:22", addr, other); err == nil || !strings.Contains(err.Error(), "is not in") {
		t.Errorf("unknown host: got %v, want an error saying it is not in known_hosts", err)
	}

	// Trust on first use adds an unknown host, once; a changed key is
	// still refused.
	tofu, err := hostKeyHelper(file, true, "new.example.com:22")
	if err != nil {
		t.Fatal(err)
	}
	if err := tofu.HostKeyCallback("new.example.com:22", addr, other); err != nil {
		t.Fatalf("trust on first use refused a new host: %v", err)
	}
	b, _ := os.ReadFile(file)
	if !strings.Contains(string(b), "new.example.com") {
		t.Errorf("known_hosts was not extended:\n%s", b)
	}
	again, _ := hostKeyHelper(file, true, "new.example.com:22")
	if err := again.HostKeyCallback("new.example.com:22", addr, known); err == nil || !strings.Contains(err.Error(), "CHANGED") {
		t.Errorf("trust on first use accepted a changed key: %v", err)
	}
}

func TestGitAuthNeverShowsSecrets(t *testing.T) {
	a := &GitAuth{Username: "deploy", Password: "p4ss", BearerToken: "t0ken", SSHPassphrase: "phr4se"}
	for _, s := range []string{a.String(), redactErr(errFor("p4ss t0ken phr4se"), "https://h/x", a.secrets()...).Error()} {
		for _, secret := range []string{"p4ss", "t0ken", "phr4se"} {
			if strings.Contains(s, secret) {
				t.Errorf("%q shows a secret", s)
			}
		}
	}
}

type errFor string

func (e errFor) Error() string { return string(e) }
