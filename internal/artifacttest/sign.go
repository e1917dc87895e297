package artifacttest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/internal/testenv"
	"github.com/gitfleet/gitfleet/source"
)

// Signers are an OpenPGP key (gpg) and two SSH keys (ssh-keygen), one
// trusted for files and one stranger, in a temporary home.
type Signers struct {
	dir            string
	GnupgHome      string
	PGPFingerprint string
	PGPPublic      string
	SSHKey         string
	AllowedSigners string // the SSH key, for namespace "file"
	StrangerKey    string
}

// NewSigners makes the keys with the real tools.
func NewSigners(t testing.TB) *Signers {
	t.Helper()
	for _, tool := range []string{"gpg", "ssh-keygen"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Skip(t, tool+" is needed for signature tests (Debian: gnupg, openssh-client)")
		}
	}
	dir := t.TempDir()
	s := &Signers{dir: dir, GnupgHome: filepath.Join(dir, "gnupg")}
	os.MkdirAll(s.GnupgHome, 0o700)
	s.gpg(t, nil, "--passphrase", "", "--quick-gen-key", "CI <ci@example.com>", "ed25519", "sign", "never")
	for _, line := range strings.Split(string(s.gpg(t, nil, "--with-colons", "--list-keys")), "\n") {
		if strings.HasPrefix(line, "fpr:") {
			s.PGPFingerprint = strings.Split(line, ":")[9]
			break
		}
	}
	s.PGPPublic = string(s.gpg(t, nil, "--armor", "--export", s.PGPFingerprint))
	s.SSHKey = filepath.Join(dir, "id_ed25519")
	s.StrangerKey = filepath.Join(dir, "stranger")
	for _, k := range []string{s.SSHKey, s.StrangerKey} {
		run(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ci", "-f", k)
	}
	pub, _ := os.ReadFile(s.SSHKey + ".pub")
	s.AllowedSigners = filepath.Join(dir, "allowed_signers")
	os.WriteFile(s.AllowedSigners, []byte(`ci@example.com namespaces="file" `+strings.TrimSpace(string(pub))+"\n"), 0o644)
	return s
}

func (s *Signers) gpg(t testing.TB, stdin []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("gpg", append([]string{"--batch", "--yes"}, args...)...)
	cmd.Env = append(os.Environ(), "GNUPGHOME="+s.GnupgHome)
	if stdin != nil {
		cmd.Stdin = strings.NewReader(string(stdin))
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gpg %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// SignPGP is an armored detached OpenPGP signature of data.
func (s *Signers) SignPGP(t testing.TB, data []byte) []byte {
	t.Helper()
	return s.gpg(t, data, "--armor", "--detach-sign")
}

// SignSSH is an SSH signature of data by key in namespace ns.
func (s *Signers) SignSSH(t testing.TB, data []byte, key, ns string) []byte {
	t.Helper()
	f := filepath.Join(s.dir, "to-sign")
	os.WriteFile(f, data, 0o644)
	os.Remove(f + ".sig")
	run(t, "ssh-keygen", "-q", "-Y", "sign", "-f", key, "-n", ns, f)
	sig, err := os.ReadFile(f + ".sig")
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// Verifier trusts the OpenPGP key and the SSH key (not the stranger).
func (s *Signers) Verifier(t testing.TB) *source.Verifier {
	t.Helper()
	signers, err := source.ParseAllowedSigners(s.AllowedSigners)
	if err != nil {
		t.Fatal(err)
	}
	return &source.Verifier{OpenPGPKeyRing: s.PGPPublic, SSHSigners: signers}
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}
