package source

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestVerifyFileChecksDetachedSignatures(t *testing.T) {
	s := newSigners(t)
	dir := t.TempDir()
	sums := filepath.Join(dir, "SHA256SUMS")
	data := []byte(strings.Repeat("ab", 32) + "  web.tar.gz\n")
	os.WriteFile(sums, data, 0o644)
	env := []string{"GNUPGHOME=" + s.gnupgHome}
	run(t, env, "gpg", "--batch", "--yes", "--armor", "--detach-sign", "-o", sums+".asc", sums)
	run(t, env, "gpg", "--batch", "--yes", "--detach-sign", "-o", sums+".gpg", sums)
	run(t, nil, "ssh-keygen", "-q", "-Y", "sign", "-f", s.sshKey, "-n", "file", sums)
	gitSig := filepath.Join(dir, "git-ns")
	os.WriteFile(gitSig, data, 0o644)
	run(t, nil, "ssh-keygen", "-q", "-Y", "sign", "-f", s.sshKey, "-n", "git", gitSig)
	strangerSig := filepath.Join(dir, "stranger")
	os.WriteFile(strangerSig, data, 0o644)
	run(t, nil, "ssh-keygen", "-q", "-Y", "sign", "-f", s.strangerKey, "-n", "file", strangerSig)

	fileSigners := filepath.Join(dir, "allowed_file")
	os.WriteFile(fileSigners, []byte("ada@example.com namespaces=\"file\" "+s.sshPublic+"\n"), 0o644)
	forFiles, err := ParseAllowedSigners(fileSigners)
	if err != nil {
		t.Fatal(err)
	}
	gitOnly, err := ParseAllowedSigners(s.allowedSigners) // namespaces="git"
	if err != nil {
		t.Fatal(err)
	}
	read := func(p string) []byte { b, _ := os.ReadFile(p); return b }
	now := time.Now()
	pgp := &Verifier{OpenPGPKeyRing: s.pgpPublic}
	sshv := &Verifier{SSHSigners: forFiles}
	for _, tc := range []struct {
		name string
		v    *Verifier
		data []byte
		sig  []byte
		want string // who, or the error's text
		ok   bool
	}{
		{"armored OpenPGP", pgp, data, read(sums + ".asc"), "openpgp:" + s.pgpFingerprint, true},
		{"binary OpenPGP", pgp, data, read(sums + ".gpg"), "openpgp:" + s.pgpFingerprint, true},
		{"OpenPGP over other content", pgp, append([]byte("0"), data[1:]...), read(sums + ".asc"), "OpenPGP signature", false},
		{"OpenPGP without keys", sshv, data, read(sums + ".asc"), "no OpenPGP keys are configured", false},
		{"SSH", sshv, data, read(sums + ".sig"), "ssh:ada@example.com", true},
		{"SSH over other content", sshv, append([]byte("0"), data[1:]...), read(sums + ".sig"), "bad SSH signature", false},
		{"SSH in the git namespace", sshv, data, read(gitSig + ".sig"), `namespace "git", not file`, false},
		{"SSH signer allowed for git only", &Verifier{SSHSigners: gitOnly}, data, read(sums + ".sig"), "allowed only for other namespaces than file", false},
		{"SSH stranger", sshv, data, read(strangerSig + ".sig"), "a key not in the allowed signers", false},
		{"not a signature", sshv, data, []byte("hello"), "unsupported signature", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			who, err := tc.v.VerifyFile("SHA256SUMS", tc.data, tc.sig, FileNamespace, now)
			switch {
			case tc.ok && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.ok && who != tc.want:
				t.Fatalf("signer %q, want %q", who, tc.want)
			case !tc.ok && err == nil:
				t.Fatalf("accepted (signer %s), want %q", who, tc.want)
			case !tc.ok && (!strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrVerify)):
				t.Fatalf("error %q, want ErrVerify containing %q", err, tc.want)
			}
		})
	}
}
