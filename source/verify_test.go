package source

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/internal/gittest"
	"github.com/gitfleet/gitfleet/internal/testenv"
)

// signers makes an OpenPGP key (gpg) and an SSH key (ssh-keygen) in a
// temporary home, and returns what a Verifier needs for each, plus a second
// SSH key that is not trusted.
type signers struct {
	gnupgHome, pgpFingerprint, pgpPublic string
	sshKey, sshPublic, allowedSigners    string
	strangerKey                          string
}

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Skip(t, tool+" is needed for signature tests")
		}
	}
}

func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func newSigners(t *testing.T) *signers {
	need(t, "gpg", "ssh-keygen", "git")
	dir := t.TempDir()
	s := &signers{gnupgHome: filepath.Join(dir, "gnupg")}
	os.MkdirAll(s.gnupgHome, 0o700)
	env := []string{"GNUPGHOME=" + s.gnupgHome}
	run(t, env, "gpg", "--batch", "--passphrase", "", "--quick-gen-key", "Ada <ada@example.com>", "ed25519", "sign", "never")
	for _, line := range strings.Split(run(t, env, "gpg", "--batch", "--with-colons", "--list-keys"), "\n") {
		if strings.HasPrefix(line, "fpr:") {
			s.pgpFingerprint = strings.Split(line, ":")[9]
			break
		}
	}
	s.pgpPublic = run(t, env, "gpg", "--batch", "--armor", "--export", s.pgpFingerprint)

	s.sshKey = filepath.Join(dir, "id_ed25519")
	run(t, nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ada", "-f", s.sshKey)
	pub, _ := os.ReadFile(s.sshKey + ".pub")
	s.sshPublic = strings.TrimSpace(string(pub))
	s.allowedSigners = filepath.Join(dir, "allowed_signers")
	os.WriteFile(s.allowedSigners, []byte("# team\nada@example.com namespaces=\"git\" "+s.sshPublic+"\n"), 0o644)

	s.strangerKey = filepath.Join(dir, "stranger")
	run(t, nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", s.strangerKey)
	return s
}

// signingRemote is a remote whose work clone signs with git's own tools.
func signingRemote(t *testing.T, s *signers) *gittest.Remote {
	r := gittest.NewRemote(t, t.TempDir(), "fleet")
	t.Setenv("GNUPGHOME", s.gnupgHome)
	return r
}

func (s *signers) commitPGP(r *gittest.Remote, msg string) string {
	r.Run("config", "gpg.format", "openpgp")
	r.Run("config", "user.signingkey", s.pgpFingerprint)
	return r.Commit(msg, "-S")
}

func (s *signers) commitSSH(r *gittest.Remote, msg, key string) string {
	r.Run("config", "gpg.format", "ssh")
	r.Run("config", "user.signingkey", key)
	return r.Commit(msg, "-S")
}

func TestVerifySignedCommits(t *testing.T) {
	s := newSigners(t)
	r := signingRemote(t, s)
	pgpOnly := &Verifier{Mode: VerifyHead, OpenPGPKeyRing: s.pgpPublic}
	allowed, err := ParseAllowedSigners(s.allowedSigners)
	if err != nil {
		t.Fatal(err)
	}
	both := &Verifier{Mode: VerifyHead, OpenPGPKeyRing: s.pgpPublic, SSHSigners: allowed}

	tests := []struct {
		name    string
		commit  func() string
		v       *Verifier
		wantErr string // "" for a good signature
	}{
		{"openpgp, trusted key", func() string { return s.commitPGP(r, "pgp") }, pgpOnly, ""},
		{"ssh, allowed signer", func() string { return s.commitSSH(r, "ssh", s.sshKey) }, both, ""},
		{"unsigned", func() string { r.Run("config", "--unset", "user.signingkey"); return r.Commit("unsigned") }, both, "is not signed"},
		{"ssh, key not allowed", func() string { return s.commitSSH(r, "stranger", s.strangerKey) }, both, "a key not in the allowed signers"},
		{"ssh signature, no ssh signers configured", func() string { return s.commitSSH(r, "ssh2", s.sshKey) }, pgpOnly, "no SSH allowed signers are configured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.commit()
			r.Push()
			g, m := newGit(t, r.FileURL(), GitRef{Branch: "main"})
			g.Verify = tt.v
			snap, err := g.Snapshot(context.Background())
			if tt.wantErr == "" {
				if err != nil || snap.Revision != want {
					t.Fatalf("got %v, want %s verified", err, want)
				}
				return
			}
			var pe *PollError
			if err == nil || !errors.As(err, &pe) || pe.Reason != ReasonVerify || !errors.Is(err, ErrVerify) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want a verify error saying %q", err, tt.wantErr)
			}
			if len(m.fetches) != 1 || m.fetches[0] != ReasonVerify {
				t.Errorf("metrics got %v, want one verify failure", m.fetches)
			}
		})
	}
}

func TestVerifyTamperedSSHSignature(t *testing.T) {
	s := newSigners(t)
	r := signingRemote(t, s)
	c := s.commitSSH(r, "signed", s.sshKey)
	r.Push()
	g, _ := newGit(t, r.FileURL(), GitRef{Branch: "main"})
	if _, err := g.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	commit, err := g.repo.r.CommitObject(plumbingHash(c))
	if err != nil {
		t.Fatal(err)
	}
	allowed, _ := ParseAllowedSigners(s.allowedSigners)
	v := &Verifier{SSHSigners: allowed}
	if _, err := v.verifyCommit(commit); err != nil {
		t.Fatalf("untouched commit: %v", err)
	}
	commit.Message = "signed, then changed"
	if _, err := v.verifyCommit(commit); err == nil || !strings.Contains(err.Error(), "bad SSH signature") {
		t.Fatalf("a changed message verified: %v", err)
	}
}

func TestVerifySignedTags(t *testing.T) {
	s := newSigners(t)
	r := signingRemote(t, s)
	r.Run("config", "gpg.format", "ssh")
	r.Run("config", "user.signingkey", s.sshKey)
	r.Commit("one")
	r.Run("tag", "-s", "v1.0.0", "-m", "signed release")
	r.Commit("two")
	r.Run("tag", "v1.1.0") // lightweight
	r.Commit("three")
	r.Run("tag", "-a", "v1.2.0", "-m", "annotated, unsigned")
	r.Push()
	allowed, _ := ParseAllowedSigners(s.allowedSigners)
	for _, tt := range []struct {
		tag, wantErr string
	}{
		{"v1.0.0", ""},
		{"v1.1.0", "not at an annotated tag"},
		{"v1.2.0", "tag v1.2.0 is not signed"},
	} {
		g, _ := newGit(t, r.FileURL(), GitRef{Tag: tt.tag})
		g.Verify = &Verifier{Mode: VerifyTag, SSHSigners: allowed}
		_, err := g.Snapshot(context.Background())
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("tag %s: got %v, want %q", tt.tag, err, tt.wantErr)
		}
	}
}

func TestParseAllowedSigners(t *testing.T) {
	dir := t.TempDir()
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGr+ZbTFRAFzqvI2r0+Qj3s2kHn4bnq5eqB6W1GDRhA8"
	tests := []struct {
		name, content, wantErr string
		want                   int
	}{
		{"plain", "a@x " + key + "\n", "", 1},
		{"options and comment", "# c\n\na@x,b@x namespaces=\"git,file\",valid-after=20240101 " + key + " comment\n", "", 1},
		{"cert authority refused", "a@x cert-authority " + key + "\n", "cert-authority is not supported", 0},
		{"bad key", "a@x ssh-ed25519 AAAA\n", ":1: ", 0},
		{"too short", "a@x\n", "want principals", 0},
	}
	for _, tt := range tests {
		f := filepath.Join(dir, tt.name)
		os.WriteFile(f, []byte(tt.content), 0o644)
		got, err := ParseAllowedSigners(f)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: got %v, want error %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil || len(got) != tt.want {
			t.Errorf("%s: got %d signers, %v; want %d", tt.name, len(got), err, tt.want)
		}
	}
}
